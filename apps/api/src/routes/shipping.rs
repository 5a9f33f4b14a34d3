//! Shipping methods: the public list (`/api/v1/shipping-methods`) and their administration
//! (`/api/v1/admin/shipping-methods`, permission `ManageOrders`).

use actix_web::{HttpResponse, delete, get, patch, post, web};
use cart::{NewShippingMethod, ShippingMethod, ShippingMethodPatch};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::{Authorized, perm};
use crate::extract::{ValidJson, ValidQuery};
use crate::problem::ApiResult;
use crate::state::AppState;

#[derive(Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShippingParams {
    /// Only methods shipping to this country (ISO 3166-1 alpha-2).
    #[garde(inner(length(min = 2, max = 2)))]
    #[param(min_length = 2, max_length = 2)]
    pub country: Option<String>,
}

/// Active shipping methods.
#[utoipa::path(tag = "cart", params(ShippingParams), responses((status = 200, body = Vec<ShippingMethod>)))]
#[get("/shipping-methods")]
pub async fn shipping_methods(
    state: web::Data<AppState>,
    ValidQuery(p): ValidQuery<ShippingParams>,
) -> ApiResult<web::Json<Vec<ShippingMethod>>> {
    Ok(web::Json(state.shipping.for_country(p.country.as_deref()).await?))
}

/// Every shipping method, active or not.
#[utoipa::path(
    tag = "admin-orders",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<ShippingMethod>))
)]
#[get("/admin/shipping-methods")]
pub async fn list_shipping(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageOrders>,
) -> ApiResult<web::Json<Vec<ShippingMethod>>> {
    Ok(web::Json(state.shipping.all().await?))
}

/// Create a shipping method (flat price, list of countries; empty = everywhere).
#[utoipa::path(
    tag = "admin-orders",
    security(("bearer" = [])),
    request_body = NewShippingMethod,
    responses((status = 201, body = ShippingMethod))
)]
#[post("/admin/shipping-methods")]
pub async fn create_shipping(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageOrders>,
    ValidJson(body): ValidJson<NewShippingMethod>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(state.shipping.create(body).await?))
}

/// Change a shipping method.
#[utoipa::path(
    tag = "admin-orders",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = ShippingMethodPatch,
    responses((status = 200, body = ShippingMethod))
)]
#[patch("/admin/shipping-methods/{id}")]
pub async fn update_shipping(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<ShippingMethodPatch>,
) -> ApiResult<web::Json<ShippingMethod>> {
    Ok(web::Json(state.shipping.update(*id, body).await?))
}

/// Delete a shipping method (past orders keep its name).
#[utoipa::path(
    tag = "admin-orders",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204))
)]
#[delete("/admin/shipping-methods/{id}")]
pub async fn delete_shipping(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state.shipping.delete(*id).await?;
    Ok(HttpResponse::NoContent().finish())
}
