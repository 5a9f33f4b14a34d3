//! Domain errors mapped to problem documents, each with a stable code.

use actix_web::http::StatusCode;
use auth::AuthError;
use catalog::CatalogError;
use users::UserError;

use crate::problem::{Problem, internal};

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::EmailTaken => Problem::conflict("email-taken", "This email is already registered")
                .detail("an account with this email exists; log in or reset the password"),
            AuthError::InvalidEmail => Problem::invalid_field("email", "must be a valid email address"),
            AuthError::WeakPassword(v) => Problem::invalid_field("password", v.to_string()),
            AuthError::InvalidCredentials => {
                Problem::new(StatusCode::UNAUTHORIZED, "invalid-credentials", "The email or password is wrong")
            }
            AuthError::WrongCurrentPassword => Problem::invalid_field("current_password", "is wrong"),
            AuthError::AccountDisabled => {
                Problem::new(StatusCode::FORBIDDEN, "account-disabled", "This account is disabled")
            }
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
            AuthError::RateLimited { retry_after_secs } => Problem::too_many_requests(retry_after_secs),
            AuthError::Storage(msg) => storage(msg),
        }
    }
}

impl From<UserError> for Problem {
    fn from(e: UserError) -> Self {
        match e {
            UserError::NotFound => Problem::not_found(),
            UserError::AddressLimit(max) => Problem::conflict("address-limit", "Too many addresses")
                .detail(format!("a user keeps at most {max} addresses")),
            UserError::SelfChange => Problem::conflict("self-change", "You cannot change your own role or status"),
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

impl From<CatalogError> for Problem {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::NotFound => Problem::not_found(),
            CatalogError::SlugTaken => Problem::conflict("slug-taken", "This slug is already in use"),
            CatalogError::SkuTaken => Problem::conflict("sku-taken", "This SKU is already in use"),
            CatalogError::UnknownParent => Problem::invalid_field("parent_id", "no such category"),
            CatalogError::UnknownCategory => Problem::invalid_field("category_id", "no such category"),
            CatalogError::CategoryCycle => Problem::conflict("category-cycle", "A category cannot move under itself")
                .detail("the new parent is the category itself or one of its descendants"),
            CatalogError::CategoryNotEmpty => Problem::conflict("category-not-empty", "The category is not empty")
                .detail("move or delete its sub-categories and products first"),
            CatalogError::VersionMismatch => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "The resource changed since you read it",
            )
            .detail("fetch it again and re-apply your change"),
            CatalogError::LastVariant => Problem::conflict("last-variant", "A product keeps at least one variant"),
            CatalogError::InsufficientStock { available } => {
                Problem::conflict("insufficient-stock", "Not enough stock").detail(format!("{available} available"))
            }
            CatalogError::Invalid { field: field @ ("category" | "sort"), message } => {
                Problem::invalid_parameter(field, message)
            }
            CatalogError::Invalid { field, message } => Problem::invalid_field(field, message),
            CatalogError::Storage(msg) => storage(msg),
        }
    }
}
