//! Browser sessions: the session cookie, the [`Viewer`] extractor that
//! guards every page, CSRF tokens, and login rate limiting.

use crate::auth::token_hash;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use lookout_model::{User, WebSession};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "lookout_session";
/// The anonymous CSRF cookie (login and setup forms).
pub const CSRF_COOKIE: &str = "lookout_csrf";
/// How long a session lasts.
pub const SESSION_DAYS: i64 = 14;

/// Reads one cookie from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value with the attributes Lookout always uses.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> String {
    let secure = if state.config().public_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}

/// A random URL-safe secret.
pub fn random_secret() -> String {
    let mut b = [0u8; 24];
    rand::fill(&mut b);
    hex::encode(b)
}

/// The logged-in user of a page request. Without a valid session the page
/// redirects to the login (or, before any user exists, to the setup page).
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Who is looking.
    pub user: User,
    /// Their session.
    pub session: WebSession,
}

impl Viewer {
    /// What this user may do (see [`crate::access`]).
    pub fn access(&self) -> crate::access::Access {
        crate::access::Access::session(self.user.clone())
    }
}

/// Where an anonymous visitor is sent instead of the page.
#[derive(Debug)]
pub struct LoginRedirect(String);

impl IntoResponse for LoginRedirect {
    fn into_response(self) -> Response {
        Redirect::to(&self.0).into_response()
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = LoginRedirect;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, LoginRedirect> {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let to_login = || LoginRedirect(format!("/login?next={}", urlencode(&next)));
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            if state.store().count_users().await.unwrap_or(1) == 0 {
                return Err(LoginRedirect("/setup".into()));
            }
            return Err(to_login());
        };
        match state
            .store()
            .find_session(&token_hash(secret), chrono::Utc::now())
            .await
        {
            Ok(Some((session, user))) => Ok(Viewer { user, session }),
            _ => Err(to_login()),
        }
    }
}

/// Percent-encodes a value for a query string.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Only same-site paths are allowed as `next`, so the login cannot be
/// turned into an open redirect.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/projects".to_string(),
    }
}

/// Failed logins per IP and per account in a sliding window.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

/// Failures allowed per key within [`LOGIN_WINDOW`].
pub const LOGIN_MAX_FAILURES: usize = 10;
/// The rate-limit window.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(300);

impl LoginLimiter {
    /// Seconds to wait if any of `keys` is over the limit.
    pub fn blocked(&self, keys: &[String]) -> Option<u64> {
        let mut f = self.failures.lock();
        let now = Instant::now();
        let mut wait = None;
        for k in keys {
            if let Some(v) = f.get_mut(k) {
                v.retain(|t| now.duration_since(*t) < LOGIN_WINDOW);
                if v.len() >= LOGIN_MAX_FAILURES {
                    let oldest = v[0];
                    let secs = (LOGIN_WINDOW - now.duration_since(oldest)).as_secs().max(1);
                    wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
                }
            }
        }
        wait
    }
    /// Records a failure for each key.
    pub fn fail(&self, keys: &[String]) {
        let mut f = self.failures.lock();
        if f.len() > 100_000 {
            f.clear(); // bounded memory under a flood
        }
        for k in keys {
            f.entry(k.clone()).or_default().push(Instant::now());
        }
    }
    /// Clears an account's failures after a successful login.
    pub fn succeed(&self, keys: &[String]) {
        let mut f = self.failures.lock();
        for k in keys {
            f.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_stay_on_site() {
        assert_eq!(safe_next(Some("/issues/3")), "/issues/3");
        assert_eq!(safe_next(Some("//evil.example")), "/projects");
        assert_eq!(safe_next(Some("https://evil.example")), "/projects");
        assert_eq!(safe_next(Some("/\\evil")), "/projects");
        assert_eq!(safe_next(None), "/projects");
    }

    #[test]
    fn limiter_blocks_after_too_many_failures() {
        let l = LoginLimiter::default();
        let keys = vec!["ip:1.2.3.4".to_string()];
        for _ in 0..LOGIN_MAX_FAILURES {
            assert!(l.blocked(&keys).is_none());
            l.fail(&keys);
        }
        assert!(l.blocked(&keys).unwrap() > 0);
        l.succeed(&keys);
        assert!(l.blocked(&keys).is_none());
    }

    #[test]
    fn cookies_are_parsed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; lookout_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "nope"), None);
    }
}
