//! Credentials: argon2id password hashes, API token secrets, and the
//! [`ApiAuth`] extractor that guards the JSON API.

use crate::access::Access;
use crate::error::ApiError;
use crate::state::AppState;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use lookout_model::{ApiToken, TokenScope};
use sha2::{Digest, Sha256};

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes),
/// returning a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt_bytes = [0u8; 16];
    rand::fill(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a PHC string; `false` for a malformed hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Prefix of every API token secret, so leaked tokens are easy to grep for.
pub const TOKEN_PREFIX: &str = "lkt_";

/// A fresh API token secret and its SHA-256 (what storage keeps).
pub fn new_token_secret() -> (String, String) {
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let hash = token_hash(&secret);
    (secret, hash)
}

/// Lowercase hex SHA-256 of a token secret.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A request authenticated by `Authorization: Bearer <token>`. Read-only
/// tokens are refused on methods other than GET and HEAD. `access` is what
/// handlers ask before touching a project (see [`crate::access`]).
#[derive(Debug, Clone)]
pub struct ApiAuth {
    /// The token that authenticated the request.
    pub token: ApiToken,
    /// Its owner's rights, capped by its scope.
    pub access: Access,
}

impl FromRequestParts<AppState> for ApiAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "missing Authorization header: send `Authorization: Bearer <token>` (create one with `lookout token create`)".into(),
                )
            })?;
        let secret = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized("Authorization must use the Bearer scheme".into())
            })?;
        let token = state
            .store()
            .authenticate_api_token(&token_hash(secret), chrono::Utc::now())
            .await?
            .ok_or_else(|| ApiError::Unauthorized("invalid or revoked API token".into()))?;
        let read_only = matches!(parts.method, Method::GET | Method::HEAD);
        if token.scope == TokenScope::Read && !read_only {
            return Err(ApiError::Forbidden(
                "this token is read-only; this request needs a read-write token".into(),
            ));
        }
        let user = match token.user_id {
            Some(uid) => Some(state.store().get_user(uid).await?.ok_or_else(|| {
                ApiError::Unauthorized("the owner of this API token no longer exists".into())
            })?),
            None => None,
        };
        let access = Access {
            user,
            can_write: token.scope == TokenScope::ReadWrite,
        };
        Ok(ApiAuth { token, access })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip_uses_argon2id() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn token_secrets_are_unique_and_hashed() {
        let (a, ha) = new_token_secret();
        let (b, _) = new_token_secret();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(ha, token_hash(&a));
        assert_eq!(ha.len(), 64);
    }
}
