//! Shipping methods: the public list (`/api/v1/shipping-methods`) and their administration
//! (`/api/v1/admin/shipping-methods`, permission `ManageOrders`).

use actix_web::http::header::LOCATION;
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

/// List shipping methods
///
/// The active shipping methods with their flat prices, optionally only those that ship to
/// `country`. Price a cart with one through `GET /api/v1/cart?shipping_method=...&country=...`.
#[utoipa::path(
    tag = "cart",
    operation_id = "listShippingMethods",
    security(()),
    params(ShippingParams),
    responses((status = 200, description = "The active shipping methods", body = Vec<ShippingMethod>))
)]
#[get("/shipping-methods")]
pub async fn shipping_methods(
    state: web::Data<AppState>,
    ValidQuery(p): ValidQuery<ShippingParams>,
) -> ApiResult<web::Json<Vec<ShippingMethod>>> {
    Ok(web::Json(state.shipping.for_country(p.country.as_deref()).await?))
}

/// List all shipping methods
///
/// Every shipping method, active or not, with its price and the countries it ships to.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminListShippingMethods",
    security(("bearer" = [])),
    responses((status = 200, description = "Every shipping method", body = Vec<ShippingMethod>))
)]
#[get("/admin/shipping-methods")]
pub async fn list_shipping(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageOrders>,
) -> ApiResult<web::Json<Vec<ShippingMethod>>> {
    Ok(web::Json(state.shipping.all().await?))
}

/// Create a shipping method
///
/// Adds a shipping method with a flat price and the countries it ships to (an empty list ships
/// everywhere).
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminCreateShippingMethod",
    security(("bearer" = [])),
    request_body = NewShippingMethod,
    responses((status = 201, description = "Shipping method created", body = ShippingMethod,
        headers(("Location" = String, description = "The new method, `/api/v1/admin/shipping-methods/{id}`"))))
)]
#[post("/admin/shipping-methods")]
pub async fn create_shipping(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageOrders>,
    ValidJson(body): ValidJson<NewShippingMethod>,
) -> ApiResult<HttpResponse> {
    let method = state.shipping.create(body).await?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/api/v1/admin/shipping-methods/{}", method.id)))
        .json(method))
}

/// Update a shipping method
///
/// Changes the fields sent: name, price, countries, activity. Orders already placed keep the
/// method's name and the price they were charged.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminUpdateShippingMethod",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Shipping method id")),
    request_body = ShippingMethodPatch,
    responses((status = 200, description = "The method as changed", body = ShippingMethod))
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

/// Delete a shipping method
///
/// Deletes a shipping method; past orders keep its name and the price they were charged. To stop
/// offering it but keep it, set it inactive instead.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminDeleteShippingMethod",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Shipping method id")),
    responses((status = 204, description = "Shipping method deleted"))
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
