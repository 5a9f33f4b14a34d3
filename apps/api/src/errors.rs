//! Domain errors mapped to problem documents, each with a stable code.

use actix_web::http::StatusCode;
use auth::AuthError;
use users::UserError;

use crate::problem::{Problem, internal};

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::EmailTaken => {
                Problem::conflict("email-taken", "This email is already registered")
                    .detail("an account with this email exists; log in or reset the password")
            }
            AuthError::InvalidEmail => {
                Problem::invalid_field("email", "must be a valid email address")
            }
            AuthError::WeakPassword(v) => Problem::invalid_field("password", v.to_string()),
            AuthError::InvalidCredentials => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-credentials",
                "The email or password is wrong",
            ),
            AuthError::WrongCurrentPassword => {
                Problem::invalid_field("current_password", "is wrong")
            }
            AuthError::AccountDisabled => Problem::new(
                StatusCode::FORBIDDEN,
                "account-disabled",
                "This account is disabled",
            ),
            AuthError::InvalidRefreshToken => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-refresh-token",
                "The refresh token is invalid, expired or revoked",
            ),
            AuthError::RefreshTokenReused => Problem::new(
                StatusCode::UNAUTHORIZED,
                "refresh-token-reused",
                "This refresh token was already used; the session has been revoked",
            ),
            AuthError::Token(_) => Problem::unauthorized("the access token is invalid"),
            AuthError::RateLimited { retry_after_secs } => {
                Problem::too_many_requests(retry_after_secs)
            }
            AuthError::Storage(msg) => storage(msg),
        }
    }
}

impl From<UserError> for Problem {
    fn from(e: UserError) -> Self {
        match e {
            UserError::NotFound => Problem::not_found(),
            UserError::AddressLimit(max) => {
                Problem::conflict("address-limit", "Too many addresses")
                    .detail(format!("a user keeps at most {max} addresses"))
            }
            UserError::SelfChange => {
                Problem::conflict("self-change", "You cannot change your own role or status")
            }
            UserError::Storage(msg) => storage(msg),
        }
    }
}

/// Storage failures: a database that is down is a 503 (retryable); anything else is a 500.
/// Neither leaks the message.
pub fn storage(msg: String) -> Problem {
    if msg.contains("database unavailable") {
        tracing::warn!(error = %msg, "database unavailable");
        Problem::unavailable()
    } else {
        internal(msg)
    }
}
