//! `/api/v1/admin` orders (permission `ManageOrders`).

use actix_web::{get, post, web};
use orders::{Event, Order, OrderFilter, OrderStatus, Shipment};
use primitives::Page;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::{Authorized, perm};
use crate::extract::ValidJson;
use crate::openapi::IllegalTransitionProblem;
use crate::pagination::{PageParams, Paged};
use crate::problem::ApiResult;
use crate::state::AppState;

#[derive(Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AdminOrderParams {
    /// Only orders in this status.
    #[garde(skip)]
    #[param(inline)]
    pub status: Option<OrderStatus>,
    /// Only this customer's orders.
    #[garde(skip)]
    pub user_id: Option<Uuid>,
}

/// List orders
///
/// Every customer's orders, newest first, optionally narrowed to a status and a customer.
/// Keyset-paginated.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminListOrders",
    security(("bearer" = [])),
    params(AdminOrderParams, PageParams),
    responses((status = 200, description = "A page of orders", body = Page<Order>))
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

/// Get an order
///
/// Any customer's order by id: its lines, totals, shipping address and method, carrier and
/// tracking number, and when each step happened.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminGetOrder",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, description = "The order", body = Order))
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

/// Ship an order
///
/// Hands a paid order to a carrier, recording the carrier and tracking number. An order in any
/// other status is 409 `illegal-transition`, naming its status in `order_status`.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminShipOrder",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    request_body = Shipment,
    responses(
        (status = 200, description = "The order, shipped", body = Order),
        (status = 409, description = "Not paid (`illegal-transition`)", body = IllegalTransitionProblem)
    )
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

/// Mark an order delivered
///
/// Records that a shipped order reached the customer. An order in any other status is 409
/// `illegal-transition`, naming its status in `order_status`.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminDeliverOrder",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order, delivered", body = Order),
        (status = 409, description = "Not shipped (`illegal-transition`)", body = IllegalTransitionProblem)
    )
)]
#[post("/admin/orders/{id}/deliver")]
pub async fn deliver(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Order>> {
    act(&state, &user, *id, Event::Deliver, None).await
}

/// Cancel an order
///
/// Cancels an order that has not shipped: its items return to stock, and a paid order is
/// refunded. A shipped, delivered or already closed order is 409 `illegal-transition`, naming its
/// status in `order_status`.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminCancelOrder",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order, cancelled", body = Order),
        (status = 409, description = "Already shipped or closed (`illegal-transition`)", body = IllegalTransitionProblem)
    )
)]
#[post("/admin/orders/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Order>> {
    act(&state, &user, *id, Event::Cancel, None).await
}

/// Refund an order
///
/// Refunds a paid, shipped or delivered order; its items return to stock only if it had not
/// shipped. An order in any other status is 409 `illegal-transition`, naming its status in
/// `order_status`.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminRefundOrder",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order, refunded", body = Order),
        (status = 409, description = "Not paid, shipped or delivered (`illegal-transition`)", body = IllegalTransitionProblem)
    )
)]
#[post("/admin/orders/{id}/refund")]
pub async fn refund(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Order>> {
    act(&state, &user, *id, Event::Refund, None).await
}
