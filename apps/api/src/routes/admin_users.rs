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
    /// Only users with this role.
    #[garde(skip)]
    #[param(inline)]
    pub role: Option<Role>,
}

#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// The new role.
    #[garde(skip)]
    pub role: Role,
}

/// List users
///
/// Every account, newest first, optionally narrowed to a role and to those whose email or name
/// contains `q` (case-insensitive). Keyset-paginated.
#[utoipa::path(
    tag = "admin",
    operation_id = "adminListUsers",
    security(("bearer" = [])),
    params(UserListParams, PageParams),
    responses((status = 200, description = "A page of users", body = Page<User>))
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

/// Get a user
///
/// One account by id, with its role, whether it is disabled and whether its email address is
/// verified.
#[utoipa::path(
    tag = "admin",
    operation_id = "adminGetUser",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "The user", body = User))
)]
#[get("/admin/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageUsers>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<User>> {
    Ok(web::Json(state.users.get(*id).await?))
}

/// Set a user's role
///
/// Makes a user a customer, staff member or admin. It takes effect on the user's next request,
/// on every instance. Changing one's own role is 409 `self-change`.
#[utoipa::path(
    tag = "admin",
    operation_id = "adminSetUserRole",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = RoleChange,
    responses(
        (status = 200, description = "The user with the new role", body = User),
        (status = 409, description = "One's own role (`self-change`)", body = Problem)
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

/// Disable a user
///
/// Disables an account: it can no longer sign in or refresh, and its sessions end at once.
/// Disabling one's own account is 409 `self-change`.
#[utoipa::path(
    tag = "admin",
    operation_id = "adminDisableUser",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user, disabled", body = User),
        (status = 409, description = "One's own account (`self-change`)", body = Problem)
    )
)]
#[post("/admin/users/{id}/disable")]
pub async fn disable_user(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageUsers>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<User>> {
    Ok(web::Json(state.users.set_disabled(user.id(), *id, true).await?))
}

/// Enable a user
///
/// Enables a disabled account: it can sign in again (its ended sessions stay ended). Enabling
/// one's own account is 409 `self-change`.
#[utoipa::path(
    tag = "admin",
    operation_id = "adminEnableUser",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user, enabled", body = User),
        (status = 409, description = "One's own account (`self-change`)", body = Problem)
    )
)]
#[post("/admin/users/{id}/enable")]
pub async fn enable_user(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageUsers>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<User>> {
    Ok(web::Json(state.users.set_disabled(user.id(), *id, false).await?))
}
