//! [`Posted`]: a form posted by a logged-in user, its CSRF token already
//! checked, and [`Pairs`], a form as its raw pairs. A handler that takes a
//! `Posted` cannot forget the check: a missing or
//! stale token answers the "form expired" page (403) before the handler
//! runs, and no login redirects to the login page.

use super::common::{csrf_ok, forbidden_csrf};
use super::session::Viewer;
use crate::state::AppState;
use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// A form with the session's CSRF token in it.
pub trait CsrfToken {
    /// The token as posted.
    fn csrf_token(&self) -> &str;
}

/// Implements [`CsrfToken`] for forms whose token is the `csrf_token` field.
macro_rules! csrf_token_field {
    ($($form:ty),* $(,)?) => {
        $(impl $crate::ui::posted::CsrfToken for $form {
            fn csrf_token(&self) -> &str {
                &self.csrf_token
            }
        })*
    };
}
pub(crate) use csrf_token_field;

/// The viewer and their form, the token checked.
#[derive(Debug)]
pub struct Posted<T> {
    /// Who posted it.
    pub viewer: Viewer,
    /// What they posted.
    pub form: T,
}

impl<T> FromRequest<AppState> for Posted<T>
where
    T: DeserializeOwned + CsrfToken + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Form(form) = Form::<T>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !csrf_ok(&viewer, form.csrf_token()) {
            return Err(forbidden_csrf());
        }
        Ok(Posted { viewer, form })
    }
}

/// A submitted form as its raw pairs (repeated names allowed).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Pairs(pub Vec<(String, String)>);

impl CsrfToken for Pairs {
    fn csrf_token(&self) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == "csrf_token")
            .map_or("", |(_, v)| v.as_str())
    }
}

impl Pairs {
    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether a checkbox was ticked.
    pub fn on(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}
