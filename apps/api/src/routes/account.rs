//! The account lifecycle: password reset, email verification, email change (`/auth/...` for the
//! links mailed, `/me/...` for the signed-in asks), the data export and erasure.
//! Tokens travel in bodies, never in URLs the server logs.

use accounts::AccountExport;
use actix_web::{HttpResponse, delete, get, post, web};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{AuthUser, Authorized, ClientIp, perm};
use crate::errors::new_password_problem;
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
    /// The current password, asked again.
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

/// Request a password-reset link
///
/// Always 202, after the same work, whether the address has an account or not, so the answer
/// tells nothing about it; the link (valid 30 minutes, only the latest one works) is mailed if
/// the address belongs to an account that may sign in. Limited per client address (429) and,
/// silently, per account address (no further mail, the same answer).
#[utoipa::path(
    tag = "auth",
    operation_id = "requestPasswordReset",
    security(()),
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Accepted; a link is mailed if the address has an account"),
        (status = 429, description = "Too many requests from this client address (`rate-limited`)", body = Problem),
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

/// Set a new password from a reset link
///
/// Spends the reset link's token and sets the new password (same policy as at registration).
/// Every session of the account ends at once and the holder is told by mail. Unknown, used,
/// replaced and expired tokens get the same answer, 400 `invalid-account-token`.
#[utoipa::path(
    tag = "auth",
    operation_id = "confirmPasswordReset",
    security(()),
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
    state.auth.confirm_password_reset(&body.token, &body.new_password).await.map_err(new_password_problem)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Verify an email address
///
/// Confirms the account's email address with the token of the link mailed at registration or
/// on request (only the latest link works). Unknown, used, replaced and expired tokens are 400
/// `invalid-account-token`.
#[utoipa::path(
    tag = "auth",
    operation_id = "verifyEmail",
    security(()),
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

/// Confirm an email change
///
/// Moves the account to the new address with the token of the link mailed to it (which also
/// verifies the address), and tells the old address by mail. If another account took the
/// address meanwhile it is 409 `email-taken`; unknown, used, replaced and expired tokens are 400
/// `invalid-account-token`.
#[utoipa::path(
    tag = "auth",
    operation_id = "confirmEmailChange",
    security(()),
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

/// Resend my verification email
///
/// Mails a new verification link to the caller's address; the previous link stops working. An
/// address already verified is 409 `email-already-verified`. Limited per account (429).
#[utoipa::path(
    tag = "me",
    operation_id = "resendMyVerificationEmail",
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

/// Request a change of my email address
///
/// Checks the current password and mails a link to the new address; nothing changes until it
/// is followed (`POST /api/v1/auth/email-change/confirm`). An address held by another account
/// gets no mail and the same answer, so the caller learns nothing about it. A wrong password, an
/// invalid address or the current one is 422; limited per account (429).
#[utoipa::path(
    tag = "me",
    operation_id = "requestMyEmailChange",
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

/// Export my account data
///
/// Everything held about the caller, as one JSON document: profile, addresses, orders with
/// their lines, reviews, sessions and consents. Sent as a download (`Content-Disposition:
/// attachment`) and never cached.
#[utoipa::path(
    tag = "me",
    operation_id = "exportMyAccount",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller's data", body = AccountExport, headers(
        ("Content-Disposition" = String, description = "`attachment; filename=\"account-export.json\"`"),
        ("Cache-Control" = String, description = "`no-store`")
    )))
)]
#[get("/me/export")]
pub async fn export_account(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let export = state.accounts.export(user.id()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .insert_header((actix_web::http::header::CONTENT_DISPOSITION, "attachment; filename=\"account-export.json\""))
        .json(export))
}

/// Erase my account
///
/// Erases the caller's account after checking the password (wrong: 422): sessions end,
/// addresses, carts and tokens are deleted, orders are kept with the person's data replaced,
/// reviews kept anonymously or removed (as configured). The address can be registered again at
/// once. Cannot be undone.
#[utoipa::path(
    tag = "me",
    operation_id = "eraseMyAccount",
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

/// Erase a user's account
///
/// Erases a customer's or staff member's account as `DELETE /api/v1/me` does; the `user.erased`
/// event names the admin who did it. An admin account is 409 `admin-account`: change its role
/// first.
#[utoipa::path(
    tag = "admin",
    operation_id = "adminEraseUser",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
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
