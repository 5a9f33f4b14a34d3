//! `/api/v1/me`: the caller's profile, password and addresses. Everything here is scoped to the
//! authenticated user; another user's address id answers 404.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use users::{Address, AddressInput, AddressPatch, ProfilePatch, User};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::extract::ValidJson;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[garde(length(max = 1024))]
    #[schema(max_length = 1024)]
    pub current_password: String,
    #[garde(length(max = 1024))]
    #[schema(max_length = 1024)]
    pub new_password: String,
}

/// The caller's profile.
#[utoipa::path(tag = "me", security(("bearer" = [])), responses((status = 200, body = User)))]
#[get("/me")]
pub async fn get_me(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<User>> {
    Ok(web::Json(state.users.get(user.id()).await?))
}

/// Change the caller's profile.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = ProfilePatch,
    responses((status = 200, body = User))
)]
#[patch("/me")]
pub async fn patch_me(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<ProfilePatch>,
) -> ApiResult<web::Json<User>> {
    Ok(web::Json(state.users.update_profile(user.id(), body).await?))
}

/// Change the password. Requires the current one; ends every other session.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses((status = 204))
)]
#[post("/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<PasswordChange>,
) -> ApiResult<HttpResponse> {
    state.auth.change_password(&user.0, &body.current_password, &body.new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's addresses, oldest first.
#[utoipa::path(tag = "me", security(("bearer" = [])), responses((status = 200, body = Vec<Address>)))]
#[get("/me/addresses")]
pub async fn list_addresses(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<Vec<Address>>> {
    Ok(web::Json(state.users.addresses(user.id()).await?))
}

/// Add an address (at most 20). Setting a default flag moves it from the previous default.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = AddressInput,
    responses(
        (status = 201, body = Address),
        (status = 409, description = "Address limit reached", body = Problem)
    )
)]
#[post("/me/addresses")]
pub async fn create_address(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<AddressInput>,
) -> ApiResult<HttpResponse> {
    let a = state.users.add_address(user.id(), body).await?;
    Ok(HttpResponse::Created().insert_header(("location", format!("/api/v1/me/addresses/{}", a.id))).json(a))
}

/// One of the caller's addresses.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Address))
)]
#[get("/me/addresses/{id}")]
pub async fn get_address(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Address>> {
    Ok(web::Json(state.users.address(user.id(), *id).await?))
}

/// Change some fields of one of the caller's addresses.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = AddressPatch,
    responses((status = 200, body = Address))
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

/// Delete one of the caller's addresses.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204))
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
