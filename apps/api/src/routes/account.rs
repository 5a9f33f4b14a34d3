//! The account lifecycle: password reset, email verification, email change (`/auth/...` for the
//! links mailed, `/me/...` for the signed-in asks), the data export and erasure.
//! Tokens travel in bodies, never in URLs the server logs.

use accounts::AccountExport;
use actix_web::{HttpResponse, delete, get, post, web};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{AuthUser, Authorized, ClientIp, perm};
use crate::extract::ValidJson;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    #[garde(length(chars, min = 1, max = 254))]
    #[schema(example = "ada@example.com", min_length = 1, max_length = 254)]
    pub email: String,
}

#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirmation {
    /// The token from the mailed link.
    #[garde(length(min = 1, max = 128))]
    #[schema(min_length = 1, max_length = 128)]
    pub token: String,
    /// Same policy as at registration.
    #[garde(length(max = 1024))]
    #[schema(max_length = 1024)]
    pub new_password: String,
}

/// A token from a mailed link.
#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountTokenBody {
    #[garde(length(min = 1, max = 128))]
    #[schema(min_length = 1, max_length = 128)]
    pub token: String,
}

#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChangeRequest {
    #[garde(length(max = 1024))]
    #[schema(max_length = 1024)]
    pub current_password: String,
    #[garde(length(chars, min = 3, max = 254))]
    #[schema(example = "ada@example.org", min_length = 3, max_length = 254)]
    pub new_email: String,
}

#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    /// The current password, asked again: erasure cannot be undone.
    #[garde(length(max = 1024))]
    #[schema(max_length = 1024)]
    pub password: String,
}

/// Ask for a password-reset link. Always 202, after the same work, whether the address has an
/// account or not; the link (valid 30 minutes, the latest one only) is mailed if it does.
#[utoipa::path(
    tag = "auth",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Accepted; a link is mailed if the address has an account"),
        (status = 429, description = "Too many requests from this address", body = Problem),
    )
)]
#[post("/auth/password-reset")]
pub async fn request_password_reset(
    state: web::Data<AppState>,
    ip: ClientIp,
    ValidJson(body): ValidJson<PasswordResetRequest>,
) -> ApiResult<HttpResponse> {
    state.auth.request_password_reset(&body.email, &ip.0).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Set a new password with a reset link's token. Every session of the account ends at once.
#[utoipa::path(
    tag = "auth",
    request_body = PasswordResetConfirmation,
    responses(
        (status = 204, description = "Password set; every session ended"),
        (status = 400, description = "Unknown, used, replaced or expired token (`invalid-account-token`)", body = Problem),
        (status = 422, description = "The new password fails the policy", body = Problem),
    )
)]
#[post("/auth/password-reset/confirm")]
pub async fn confirm_password_reset(
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<PasswordResetConfirmation>,
) -> ApiResult<HttpResponse> {
    state.auth.confirm_password_reset(&body.token, &body.new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Confirm the account's email address with the token of the mailed link.
#[utoipa::path(
    tag = "auth",
    request_body = AccountTokenBody,
    responses(
        (status = 204, description = "Address verified"),
        (status = 400, description = "Unknown, used, replaced or expired token (`invalid-account-token`)", body = Problem),
    )
)]
#[post("/auth/verify-email")]
pub async fn verify_email(
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<AccountTokenBody>,
) -> ApiResult<HttpResponse> {
    state.auth.verify_email(&body.token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Move the account to the new address with the token mailed to it; the old address is told.
#[utoipa::path(
    tag = "auth",
    request_body = AccountTokenBody,
    responses(
        (status = 204, description = "Address changed (and verified)"),
        (status = 400, description = "Unknown, used, replaced or expired token (`invalid-account-token`)", body = Problem),
        (status = 409, description = "Another account holds the address by now (`email-taken`)", body = Problem),
    )
)]
#[post("/auth/email-change/confirm")]
pub async fn confirm_email_change(
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<AccountTokenBody>,
) -> ApiResult<HttpResponse> {
    state.auth.confirm_email_change(&body.token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Mail a new verification link to the caller's address (the previous link stops working).
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "A link is mailed"),
        (status = 409, description = "Already verified (`email-already-verified`)", body = Problem),
        (status = 429, description = "Too many links asked for", body = Problem),
    )
)]
#[post("/me/verification-email")]
pub async fn resend_verification(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    state.auth.resend_verification(&user.0).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Ask to change the caller's email address: a link goes to the new address, and nothing
/// changes until it is followed. An address held by another account gets no mail (the answer
/// is the same).
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = EmailChangeRequest,
    responses(
        (status = 202, description = "A link is mailed to the new address if it is free"),
        (status = 422, description = "Wrong current password, invalid or unchanged address", body = Problem),
        (status = 429, description = "Too many links asked for", body = Problem),
    )
)]
#[post("/me/email")]
pub async fn request_email_change(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<EmailChangeRequest>,
) -> ApiResult<HttpResponse> {
    state.auth.request_email_change(&user.0, &body.current_password, &body.new_email).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Everything held about the caller, as one JSON document: profile, addresses, orders with
/// their lines, reviews, sessions and consents.
#[utoipa::path(tag = "me", security(("bearer" = [])), responses((status = 200, body = AccountExport)))]
#[get("/me/export")]
pub async fn export_account(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let export = state.accounts.export(user.id()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .insert_header((actix_web::http::header::CONTENT_DISPOSITION, "attachment; filename=\"account-export.json\""))
        .json(export))
}

/// Erase the caller's account: sessions end, addresses, carts and tokens are deleted, orders
/// are kept with the person's data replaced, reviews kept anonymously or removed (as
/// configured). The address can be registered again at once. Cannot be undone.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = ErasureRequest,
    responses(
        (status = 204, description = "Account erased"),
        (status = 422, description = "Wrong password", body = Problem),
    )
)]
#[delete("/me")]
pub async fn erase_account(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<ErasureRequest>,
) -> ApiResult<HttpResponse> {
    state.accounts.erase_own(&user.0, &body.password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Erase a customer's or staff member's account (as `DELETE /me` does; `user.erased` in the
/// outbox names the admin). Admin accounts are demoted first.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Account erased"),
        (status = 409, description = "An admin account (`admin-account`)", body = Problem),
    )
)]
#[delete("/admin/users/{id}")]
pub async fn erase_user(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageUsers>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state.accounts.erase_by_admin(admin.id(), *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
