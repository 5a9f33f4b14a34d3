//! `/api/v1/admin` orders (permission `ManageOrders`).

use actix_web::{get, post, web};
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
    responses((status = 200, body = Page<Order>))
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
    responses((status = 200, body = Order))
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
    responses((status = 200, body = Order), (status = 409, description = "Illegal transition", body = Problem))
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
    responses((status = 200, body = Order), (status = 409, body = Problem))
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
    responses((status = 200, body = Order), (status = 409, body = Problem))
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
    responses((status = 200, body = Order), (status = 409, body = Problem))
)]
#[post("/admin/orders/{id}/refund")]
pub async fn refund(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Order>> {
    act(&state, &user, *id, Event::Refund, None).await
}
