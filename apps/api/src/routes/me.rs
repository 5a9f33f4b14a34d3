//! `/api/v1/me`: the caller's profile, password and addresses. Everything here is scoped to the
//! authenticated user; another user's address id answers 404.

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use users::{Address, AddressInput, AddressPatch, ProfilePatch, User};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::errors::new_password_problem;
use crate::extract::ValidJson;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[garde(length(max = 1024))]
    #[schema(max_length = 1024)]
    pub current_password: String,
    /// Same policy as at registration.
    #[garde(length(max = 1024))]
    #[schema(max_length = 1024)]
    pub new_password: String,
}

/// Get my profile
///
/// The signed-in user's account: email address (and whether it is verified), display name,
/// role and dates.
#[utoipa::path(
    tag = "me",
    operation_id = "getMyProfile",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller's profile", body = User))
)]
#[get("/me")]
pub async fn get_me(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<User>> {
    Ok(web::Json(state.users.get(user.id()).await?))
}

/// Update my profile
///
/// Changes the caller's display name (trimmed; the name reviews show). An empty body changes
/// nothing. The email address changes through `POST /api/v1/me/email`.
#[utoipa::path(
    tag = "me",
    operation_id = "updateMyProfile",
    security(("bearer" = [])),
    request_body = ProfilePatch,
    responses((status = 200, description = "The profile as changed", body = User))
)]
#[patch("/me")]
pub async fn patch_me(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<ProfilePatch>,
) -> ApiResult<web::Json<User>> {
    Ok(web::Json(state.users.update_profile(user.id(), body).await?))
}

/// Change my password
///
/// Sets a new password after checking the current one (wrong: 422 naming `current_password`);
/// the new one follows the registration policy. Every other session of the account ends; this
/// one goes on.
#[utoipa::path(
    tag = "me",
    operation_id = "changeMyPassword",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses((status = 204, description = "Password changed; the other sessions ended"))
)]
#[post("/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<PasswordChange>,
) -> ApiResult<HttpResponse> {
    state
        .auth
        .change_password(&user.0, &body.current_password, &body.new_password)
        .await
        .map_err(new_password_problem)?;
    Ok(HttpResponse::NoContent().finish())
}

/// List my addresses
///
/// Every address of the caller's address book (at most 20), oldest first, with the default
/// shipping and billing flags.
#[utoipa::path(
    tag = "me",
    operation_id = "listMyAddresses",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller's addresses", body = Vec<Address>))
)]
#[get("/me/addresses")]
pub async fn list_addresses(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<Vec<Address>>> {
    Ok(web::Json(state.users.addresses(user.id()).await?))
}

/// Add an address to my address book
///
/// Adds an address; a user keeps at most 20 (409 `address-limit`). Setting a default flag
/// (`is_default_shipping`, `is_default_billing`) moves it from the previous default.
#[utoipa::path(
    tag = "me",
    operation_id = "createMyAddress",
    security(("bearer" = [])),
    request_body = AddressInput,
    responses(
        (status = 201, description = "Address added", body = Address,
            headers(("Location" = String, description = "The new address, `/api/v1/me/addresses/{id}`"))),
        (status = 409, description = "Address limit reached (`address-limit`)", body = Problem)
    )
)]
#[post("/me/addresses")]
pub async fn create_address(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<AddressInput>,
) -> ApiResult<HttpResponse> {
    let a = state.users.add_address(user.id(), body).await?;
    Ok(HttpResponse::Created().insert_header((LOCATION, format!("/api/v1/me/addresses/{}", a.id))).json(a))
}

/// Get one of my addresses
///
/// One address of the caller's address book; another user's address id is 404, as an unknown
/// one.
#[utoipa::path(
    tag = "me",
    operation_id = "getMyAddress",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Address id")),
    responses((status = 200, description = "The address", body = Address))
)]
#[get("/me/addresses/{id}")]
pub async fn get_address(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Address>> {
    Ok(web::Json(state.users.address(user.id(), *id).await?))
}

/// Update one of my addresses
///
/// Changes the fields sent of one of the caller's addresses; absent fields stay as they are.
/// Setting a default flag moves it from the previous default. Another user's address id is 404.
#[utoipa::path(
    tag = "me",
    operation_id = "updateMyAddress",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Address id")),
    request_body = AddressPatch,
    responses((status = 200, description = "The address as changed", body = Address))
)]
#[patch("/me/addresses/{id}")]
pub async fn update_address(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<AddressPatch>,
) -> ApiResult<web::Json<Address>> {
    Ok(web::Json(state.users.update_address(user.id(), *id, body).await?))
}

/// Delete one of my addresses
///
/// Removes an address from the caller's address book; orders keep the address they were shipped
/// to. Another user's address id is 404.
#[utoipa::path(
    tag = "me",
    operation_id = "deleteMyAddress",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Address id")),
    responses((status = 204, description = "Address deleted"))
)]
#[delete("/me/addresses/{id}")]
pub async fn delete_address(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state.users.delete_address(user.id(), *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
