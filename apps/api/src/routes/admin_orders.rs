//! `/api/v1/admin` orders and shipping methods (permission `ManageOrders`).

use actix_web::{HttpResponse, delete, get, patch, post, web};
use cart::{NewShippingMethod, ShippingMethod, ShippingMethodPatch};
use orders::{Event, Order, OrderFilter, OrderStatus, Shipment};
use primitives::Page;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::{Authorized, perm};
use crate::extract::ValidJson;
use crate::pagination::{PageParams, Paged};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

#[derive(Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AdminOrderParams {
    #[garde(skip)]
    #[param(inline)]
    pub status: Option<OrderStatus>,
    #[garde(skip)]
    pub user_id: Option<Uuid>,
}

/// All orders, newest first, filtered by status and customer.
#[utoipa::path(
    tag = "admin-orders",
    security(("bearer" = [])),
    params(AdminOrderParams, PageParams),
    responses((status = 200, body = Page<Order>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem))
)]
#[get("/admin/orders")]
pub async fn list_orders(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageOrders>,
    Paged(p, page): Paged<AdminOrderParams>,
) -> ApiResult<web::Json<Page<Order>>> {
    let filter = OrderFilter { user_id: p.user_id, status: p.status, page: page.request()? };
    Ok(web::Json(state.orders.list(&filter).await?))
}

/// Any order.
#[utoipa::path(
    tag = "admin-orders",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Order), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
#[get("/admin/orders/{id}")]
pub async fn get_order(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Order>> {
    Ok(web::Json(state.orders.get(*id).await?))
}

async fn act(
    state: &AppState,
    user: &Authorized<perm::ManageOrders>,
    id: Uuid,
    event: Event,
    shipment: Option<Shipment>,
) -> ApiResult<web::Json<Order>> {
    Ok(web::Json(state.orders.admin_event(user.id(), id, event, shipment).await?))
}

/// Hand a paid order to a carrier.
#[utoipa::path(
    tag = "admin-orders",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = Shipment,
    responses((status = 200, body = Order), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, description = "Illegal transition", body = Problem), (status = 422, body = Problem))
)]
#[post("/admin/orders/{id}/ship")]
pub async fn ship(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<Shipment>,
) -> ApiResult<web::Json<Order>> {
    act(&state, &user, *id, Event::Ship, Some(body)).await
}

/// Mark a shipped order delivered.
#[utoipa::path(
    tag = "admin-orders",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Order), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[post("/admin/orders/{id}/deliver")]
pub async fn deliver(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Order>> {
    act(&state, &user, *id, Event::Deliver, None).await
}

/// Cancel an order that has not shipped (restock; refund if paid).
#[utoipa::path(
    tag = "admin-orders",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Order), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[post("/admin/orders/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Order>> {
    act(&state, &user, *id, Event::Cancel, None).await
}

/// Refund a paid, shipped or delivered order (restock only if it had not shipped).
#[utoipa::path(
    tag = "admin-orders",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Order), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[post("/admin/orders/{id}/refund")]
pub async fn refund(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Order>> {
    act(&state, &user, *id, Event::Refund, None).await
}

/// Every shipping method, active or not.
#[utoipa::path(
    tag = "admin-orders",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<ShippingMethod>), (status = 401, body = Problem), (status = 403, body = Problem))
)]
#[get("/admin/shipping-methods")]
pub async fn list_shipping(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageOrders>,
) -> ApiResult<web::Json<Vec<ShippingMethod>>> {
    Ok(web::Json(state.carts.all_shipping_methods().await?))
}

/// Create a shipping method (flat price, list of countries; empty = everywhere).
#[utoipa::path(
    tag = "admin-orders",
    security(("bearer" = [])),
    request_body = NewShippingMethod,
    responses((status = 201, body = ShippingMethod), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem))
)]
#[post("/admin/shipping-methods")]
pub async fn create_shipping(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageOrders>,
    ValidJson(body): ValidJson<NewShippingMethod>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(state.carts.create_shipping_method(body).await?))
}

/// Change a shipping method.
#[utoipa::path(
    tag = "admin-orders",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = ShippingMethodPatch,
    responses((status = 200, body = ShippingMethod), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem))
)]
#[patch("/admin/shipping-methods/{id}")]
pub async fn update_shipping(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<ShippingMethodPatch>,
) -> ApiResult<web::Json<ShippingMethod>> {
    Ok(web::Json(state.carts.update_shipping_method(*id, body).await?))
}

/// Delete a shipping method (past orders keep its name).
#[utoipa::path(
    tag = "admin-orders",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
#[delete("/admin/shipping-methods/{id}")]
pub async fn delete_shipping(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state.carts.delete_shipping_method(*id).await?;
    Ok(HttpResponse::NoContent().finish())
}
