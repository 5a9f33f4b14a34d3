//! `/api/v1/admin/users`: account administration (permission `ManageUsers`, i.e. admins).

use actix_web::{get, post, put, web};
use primitives::Page;
use serde::Deserialize;
use users::{Role, User, UserListQuery};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Authorized, perm};
use crate::extract::ValidJson;
use crate::pagination::{PageParams, Paged};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

#[derive(Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// Case-insensitive substring of the email or name.
    #[garde(inner(length(max = 100)))]
    #[param(max_length = 100)]
    pub q: Option<String>,
    #[garde(skip)]
    #[param(inline)]
    pub role: Option<Role>,
}

#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    #[garde(skip)]
    pub role: Role,
}

/// List and search users, newest first.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(UserListParams, PageParams),
    responses((status = 200, body = Page<User>))
)]
#[get("/admin/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageUsers>,
    Paged(params, page): Paged<UserListParams>,
) -> ApiResult<web::Json<Page<User>>> {
    let query = UserListQuery { q: params.q, role: params.role, page: page.request()? };
    Ok(web::Json(state.users.list(&query).await?))
}

/// One user.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = User))
)]
#[get("/admin/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageUsers>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<User>> {
    Ok(web::Json(state.users.get(*id).await?))
}

/// Change a user's role (not one's own). Takes effect on the user's next request, on every instance.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = RoleChange,
    responses(
        (status = 200, body = User), (status = 409, body = Problem)
    )
)]
#[put("/admin/users/{id}/role")]
pub async fn set_role(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageUsers>,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<RoleChange>,
) -> ApiResult<web::Json<User>> {
    Ok(web::Json(state.users.set_role(user.id(), *id, body.role).await?))
}

/// Disable an account: it can no longer log in or refresh; its sessions end.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = User), (status = 409, body = Problem))
)]
#[post("/admin/users/{id}/disable")]
pub async fn disable_user(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageUsers>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<User>> {
    Ok(web::Json(state.users.set_disabled(user.id(), *id, true).await?))
}

/// Enable a disabled account.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = User), (status = 409, body = Problem))
)]
#[post("/admin/users/{id}/enable")]
pub async fn enable_user(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageUsers>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<User>> {
    Ok(web::Json(state.users.set_disabled(user.id(), *id, false).await?))
}
