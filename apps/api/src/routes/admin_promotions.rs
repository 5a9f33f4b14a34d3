//! `/api/v1/admin/promotions` and `/api/v1/admin/customer-groups` (permission
//! `ManagePromotions`: staff and admins). The rules are in docs/promotions.md.

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, delete, get, post, put, web};
use primitives::Page;
use promotions::{
    CustomerGroup, GroupMember, Promotion, PromotionFilter, PromotionInput, PromotionKind, PromotionStatus, UsageReport,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Authorized, perm};
use crate::extract::{ValidJson, ValidQuery};
use crate::pagination::{PageParams, Paged};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

#[derive(Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PromotionListParams {
    /// Only promotions in this status.
    #[garde(skip)]
    #[param(inline)]
    pub status: Option<PromotionStatus>,
    /// Only code-based or only automatic promotions.
    #[garde(skip)]
    #[param(inline)]
    pub kind: Option<PromotionKind>,
    /// Case-insensitive substring of the name or code.
    #[garde(inner(length(max = 100)))]
    #[param(max_length = 100)]
    pub q: Option<String>,
}

/// Create a promotion
///
/// A code-based promotion (with `code`) or an automatic one (without), in `draft` unless
/// `status` says `active` or `paused`. Conditions, action, cap and limits are described in
/// docs/promotions.md; a promotion naming an amount needs `conditions.currency`. A code another
/// promotion has is 409 `promotion-code-taken`; an unknown `conditions.customer_group` is 422.
#[utoipa::path(
    tag = "admin-promotions",
    operation_id = "adminCreatePromotion",
    security(("bearer" = [])),
    request_body = PromotionInput,
    responses(
        (status = 201, description = "Promotion created", body = Promotion,
            headers(("Location" = String, description = "The new promotion, `/api/v1/admin/promotions/{id}`"))),
        (status = 409, description = "Another promotion has this code (`promotion-code-taken`)", body = Problem)
    )
)]
#[post("/admin/promotions")]
pub async fn create_promotion(
    state: web::Data<AppState>,
    _: Authorized<perm::ManagePromotions>,
    ValidJson(body): ValidJson<PromotionInput>,
) -> ApiResult<HttpResponse> {
    let promotion = state.promotions.create(body).await?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/api/v1/admin/promotions/{}", promotion.id)))
        .json(promotion))
}

/// List promotions
///
/// Every promotion, newest first, optionally narrowed by status, kind and a substring of the
/// name or code. Keyset-paginated.
#[utoipa::path(
    tag = "admin-promotions",
    operation_id = "adminListPromotions",
    security(("bearer" = [])),
    params(PromotionListParams, PageParams),
    responses((status = 200, description = "A page of promotions", body = Page<Promotion>))
)]
#[get("/admin/promotions")]
pub async fn list_promotions(
    state: web::Data<AppState>,
    _: Authorized<perm::ManagePromotions>,
    Paged(params, page): Paged<PromotionListParams>,
) -> ApiResult<web::Json<Page<Promotion>>> {
    let filter = PromotionFilter { status: params.status, kind: params.kind, q: params.q, page: page.request()? };
    Ok(web::Json(state.promotions.list(&filter).await?))
}

/// Get a promotion
///
/// One promotion by id, with its conditions, action, cap and limits.
#[utoipa::path(
    tag = "admin-promotions",
    operation_id = "adminGetPromotion",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Promotion id")),
    responses((status = 200, description = "The promotion", body = Promotion))
)]
#[get("/admin/promotions/{id}")]
pub async fn get_promotion(
    state: web::Data<AppState>,
    _: Authorized<perm::ManagePromotions>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Promotion>> {
    Ok(web::Json(state.promotions.get(*id).await?))
}

/// Replace a promotion
///
/// Replaces the whole definition (as on create; the id and the redemptions counted stay).
/// Carts see the change at once; orders placed keep what they were given. An archived promotion
/// is 409 `promotion-archived`; a `usage_limit` below the redemptions already counted is 422.
#[utoipa::path(
    tag = "admin-promotions",
    operation_id = "adminReplacePromotion",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Promotion id")),
    request_body = PromotionInput,
    responses(
        (status = 200, description = "The promotion as replaced", body = Promotion),
        (status = 409, description = "Archived (`promotion-archived`), or the code is taken (`promotion-code-taken`)", body = Problem)
    )
)]
#[put("/admin/promotions/{id}")]
pub async fn replace_promotion(
    state: web::Data<AppState>,
    _: Authorized<perm::ManagePromotions>,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<PromotionInput>,
) -> ApiResult<web::Json<Promotion>> {
    Ok(web::Json(state.promotions.replace(*id, body).await?))
}

/// Archive a promotion
///
/// Ends a promotion for good: it stops applying at once (carts holding its code see it
/// refused), and it can no longer be changed; its redemptions and usage report stay.
/// Idempotent.
#[utoipa::path(
    tag = "admin-promotions",
    operation_id = "adminArchivePromotion",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Promotion id")),
    responses((status = 200, description = "The archived promotion", body = Promotion))
)]
#[post("/admin/promotions/{id}/archive")]
pub async fn archive_promotion(
    state: web::Data<AppState>,
    _: Authorized<perm::ManagePromotions>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Promotion>> {
    Ok(web::Json(state.promotions.archive(*id).await?))
}

/// Get a promotion's usage
///
/// What a promotion did so far: live redemptions (orders placed with it that were neither
/// cancelled nor failed), released ones, distinct customers, the discount given per currency,
/// and the newest orders.
#[utoipa::path(
    tag = "admin-promotions",
    operation_id = "adminGetPromotionUsage",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Promotion id")),
    responses((status = 200, description = "The usage report", body = UsageReport))
)]
#[get("/admin/promotions/{id}/usage")]
pub async fn promotion_usage(
    state: web::Data<AppState>,
    _: Authorized<perm::ManagePromotions>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<UsageReport>> {
    Ok(web::Json(state.promotions.report(*id).await?))
}

#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupName {
    /// 1 to 100 characters, unique.
    #[garde(length(chars, min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100, example = "Wholesale")]
    pub name: String,
}

/// Create a customer group
///
/// A named set of customers that promotions can target (`conditions.customer_group`). A name
/// another group has is 409 `group-name-taken`.
#[utoipa::path(
    tag = "admin-promotions",
    operation_id = "adminCreateCustomerGroup",
    security(("bearer" = [])),
    request_body = GroupName,
    responses(
        (status = 201, description = "Group created", body = CustomerGroup,
            headers(("Location" = String, description = "The group's members, `/api/v1/admin/customer-groups/{id}/members`"))),
        (status = 409, description = "The name is taken (`group-name-taken`)", body = Problem)
    )
)]
#[post("/admin/customer-groups")]
pub async fn create_group(
    state: web::Data<AppState>,
    _: Authorized<perm::ManagePromotions>,
    ValidJson(body): ValidJson<GroupName>,
) -> ApiResult<HttpResponse> {
    let group = state.promotions.create_group(&body.name).await?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/api/v1/admin/customer-groups/{}/members", group.id)))
        .json(group))
}

/// List customer groups
///
/// Every customer group by name, with its member count. Keyset-paginated.
#[utoipa::path(
    tag = "admin-promotions",
    operation_id = "adminListCustomerGroups",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, description = "A page of groups", body = Page<CustomerGroup>))
)]
#[get("/admin/customer-groups")]
pub async fn list_groups(
    state: web::Data<AppState>,
    _: Authorized<perm::ManagePromotions>,
    ValidQuery(page): ValidQuery<PageParams>,
) -> ApiResult<web::Json<Page<CustomerGroup>>> {
    Ok(web::Json(state.promotions.list_groups(&page.request()?).await?))
}

/// Rename a customer group
///
/// Gives a group a new name (promotions name groups by id, so they are unaffected).
#[utoipa::path(
    tag = "admin-promotions",
    operation_id = "adminRenameCustomerGroup",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Group id")),
    request_body = GroupName,
    responses(
        (status = 200, description = "The renamed group", body = CustomerGroup),
        (status = 409, description = "The name is taken (`group-name-taken`)", body = Problem)
    )
)]
#[put("/admin/customer-groups/{id}")]
pub async fn rename_group(
    state: web::Data<AppState>,
    _: Authorized<perm::ManagePromotions>,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<GroupName>,
) -> ApiResult<web::Json<CustomerGroup>> {
    Ok(web::Json(state.promotions.rename_group(*id, &body.name).await?))
}

/// Delete a customer group
///
/// Deletes a group and its memberships. While a promotion that is not archived names it, it is
/// 409 `group-in-use`.
#[utoipa::path(
    tag = "admin-promotions",
    operation_id = "adminDeleteCustomerGroup",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Group id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "A promotion uses the group (`group-in-use`)", body = Problem)
    )
)]
#[delete("/admin/customer-groups/{id}")]
pub async fn delete_group(
    state: web::Data<AppState>,
    _: Authorized<perm::ManagePromotions>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state.promotions.delete_group(*id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List a customer group's members
///
/// The group's members by user id, with their email address. Keyset-paginated.
#[utoipa::path(
    tag = "admin-promotions",
    operation_id = "adminListCustomerGroupMembers",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Group id"), PageParams),
    responses((status = 200, description = "A page of members", body = Page<GroupMember>))
)]
#[get("/admin/customer-groups/{id}/members")]
pub async fn list_members(
    state: web::Data<AppState>,
    _: Authorized<perm::ManagePromotions>,
    id: web::Path<Uuid>,
    ValidQuery(page): ValidQuery<PageParams>,
) -> ApiResult<web::Json<Page<GroupMember>>> {
    Ok(web::Json(state.promotions.members(*id, &page.request()?).await?))
}

/// Add a customer to a group
///
/// Makes the user a member (already one: no change, the membership as it was). An unknown
/// group or user is 404.
#[utoipa::path(
    tag = "admin-promotions",
    operation_id = "adminAddCustomerGroupMember",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Group id"), ("user_id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "The membership", body = GroupMember))
)]
#[put("/admin/customer-groups/{id}/members/{user_id}")]
pub async fn add_member(
    state: web::Data<AppState>,
    _: Authorized<perm::ManagePromotions>,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<web::Json<GroupMember>> {
    let (group, user) = path.into_inner();
    Ok(web::Json(state.promotions.add_member(group, user).await?))
}

/// Remove a customer from a group
///
/// Ends the user's membership; not a member is 404.
#[utoipa::path(
    tag = "admin-promotions",
    operation_id = "adminRemoveCustomerGroupMember",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Group id"), ("user_id" = Uuid, Path, description = "User id")),
    responses((status = 204, description = "The user is no longer a member"))
)]
#[delete("/admin/customer-groups/{id}/members/{user_id}")]
pub async fn remove_member(
    state: web::Data<AppState>,
    _: Authorized<perm::ManagePromotions>,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (group, user) = path.into_inner();
    state.promotions.remove_member(group, user).await?;
    Ok(HttpResponse::NoContent().finish())
}
