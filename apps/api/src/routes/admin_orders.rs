//! `/api/v1/admin` orders (permission `ManageOrders`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use orders::{
    Event, Order, OrderFilter, OrderStatus, ReceiveReturn, Refund, RefundRequest, RejectReturn, Return, ReturnEvent,
    ReturnStep, Shipment, ShipmentRequest,
};
use primitives::Page;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::{Authorized, perm};
use crate::extract::ValidJson;
use crate::openapi::{IllegalTransitionProblem, RefundConflictProblem, ShipmentConflictProblem};
use crate::pagination::{PageParams, Paged};
use crate::problem::{ApiResult, Problem};
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
    /// `true`: only orders flagged for an admin (a shipment's capture the provider refused).
    #[garde(skip)]
    pub capture_failed: Option<bool>,
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
    let filter =
        OrderFilter { user_id: p.user_id, status: p.status, capture_failed: p.capture_failed, page: page.request()? };
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
    shipment: Option<ShipmentRequest>,
) -> ApiResult<web::Json<Order>> {
    Ok(web::Json(state.orders.admin_event(user.id(), id, event, shipment).await?))
}

/// Ship an order
///
/// Hands every unit left to ship of a paid or partly shipped order to a carrier as one
/// shipment (or the units in `lines`), recording the carrier and tracking number; the order is
/// `shipped` once nothing is left to ship, `partially_shipped` before. An order captured at
/// shipment captures the shipment's value. An order in any other status is 409
/// `illegal-transition`, naming its status in `order_status`. See `adminCreateShipment` for the
/// shipment itself.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminShipOrder",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    request_body = ShipmentRequest,
    responses(
        (status = 200, description = "The order, shipped (or partly)", body = Order),
        (status = 409, description = "Not paid, nothing left to ship (`illegal-transition`), or more units than are left (`shipment-exceeds-line`)", body = ShipmentConflictProblem),
        (status = 422, description = "A line the order does not have", body = Problem)
    )
)]
#[post("/admin/orders/{id}/ship")]
pub async fn ship(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<ShipmentRequest>,
) -> ApiResult<web::Json<Order>> {
    act(&state, &user, *id, Event::Ship, Some(body)).await
}

/// Create a shipment
///
/// Records a parcel of chosen units (`lines`; empty: every unit left to ship) of a paid or
/// partly shipped order with its carrier and tracking number. The order is `partially_shipped`
/// until every unit has shipped, then `shipped`. The customer is told by email (and text) per
/// shipment. With `payments.capture = on_shipment` the shipment captures the value of its units
/// (the first one with the shipping; the last one is final): `capture_status` is `captured`,
/// `pending` when the provider did not answer (retried with the same provider key), or
/// `failed` when it refused (the order is flagged `capture_failed`; see
/// `adminRetryShipmentCapture`). An optional `Idempotency-Key` makes a retry return the same
/// shipment (the same key with another body is 422 `idempotency-key-reused`).
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminCreateShipment",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Unique per shipment; reuse it to retry", min_length = 1, max_length = 255)
    ),
    request_body = ShipmentRequest,
    responses(
        (status = 201, description = "The shipment (also for a retry with the same key)", body = Shipment,
            headers(("Location" = String, description = "The order, `/api/v1/admin/orders/{id}`"))),
        (status = 400, description = "Invalid Idempotency-Key (`invalid-parameter`)", body = Problem),
        (status = 409, description = "Not paid, nothing left to ship (`illegal-transition`), or more units than are left (`shipment-exceeds-line`)", body = ShipmentConflictProblem),
        (status = 422, description = "A line the order does not have, or the key was used with another body (`idempotency-key-reused`)", body = Problem)
    )
)]
#[post("/admin/orders/{id}/shipments")]
pub async fn create_shipment(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
    req: HttpRequest,
    ValidJson(body): ValidJson<ShipmentRequest>,
) -> ApiResult<HttpResponse> {
    let key = match req.headers().get(crate::routes::orders::IDEMPOTENCY_KEY) {
        Some(_) => Some(crate::routes::orders::idempotency_key(&req)?),
        None => None,
    };
    let made = state.orders.create_shipment(Some(user.id()), *id, key.as_deref(), body).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/admin/orders/{}", made.order_id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(made))
}

/// Mark a shipment delivered
///
/// Records that one parcel reached the customer; the order is `delivered` with its last parcel
/// once it has shipped whole. A repeat changes nothing. A parcel of an order that is not
/// (partly) shipped is 409 `illegal-transition`; an unknown parcel is 404.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminDeliverShipment",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Order id"),
        ("shipment_id" = Uuid, Path, description = "Shipment id")
    ),
    responses(
        (status = 200, description = "The order, with the shipment delivered", body = Order),
        (status = 409, description = "The order is not shipped (`illegal-transition`)", body = IllegalTransitionProblem)
    )
)]
#[post("/admin/orders/{id}/shipments/{shipment_id}/deliver")]
pub async fn deliver_shipment(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<web::Json<Order>> {
    let (id, shipment) = *path;
    Ok(web::Json(state.orders.deliver(Some(user.id()), id, Some(shipment)).await?))
}

/// Retry a shipment's capture
///
/// Asks the provider again for a capture it refused (`capture_status` `failed`), with the same
/// provider key; the order stays flagged `capture_failed` while any capture of it is failed.
/// A capture in any other status is 409 `capture-not-failed`.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminRetryShipmentCapture",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Order id"),
        ("shipment_id" = Uuid, Path, description = "Shipment id")
    ),
    responses(
        (status = 200, description = "The shipment, its capture retried", body = Shipment),
        (status = 409, description = "The capture is not failed (`capture-not-failed`)", body = Problem)
    )
)]
#[post("/admin/orders/{id}/shipments/{shipment_id}/capture")]
pub async fn retry_capture(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageOrders>,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<web::Json<Shipment>> {
    let (id, shipment) = *path;
    Ok(web::Json(state.orders.retry_capture(id, shipment).await?))
}

/// Mark an order delivered
///
/// Records that a shipped order reached the customer: every parcel not delivered yet. A partly
/// shipped order or one in any other status is 409 `illegal-transition`, naming its status in
/// `order_status`; see `adminDeliverShipment` for one parcel.
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
/// refunded (or, captured at shipment, its authorisation released). Of a partly shipped order it
/// cancels the unshipped rest: those units return to stock and are refunded (or released), and
/// the order is `shipped`. A shipped, delivered or already closed order is 409
/// `illegal-transition`, naming its status in `order_status`.
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

/// Refund the rest of an order
///
/// Refunds everything not refunded yet of what was captured of a paid, partly shipped, shipped or
/// delivered order (every unit left, the shipping, the money left) and moves it to `refunded`;
/// the units that never shipped return to stock, and never twice. An order captured at shipment
/// with units left to ship is refused: cancel the rest first. An order in any other status is 409
/// `illegal-transition`, naming its status in `order_status`. For part of an order, see
/// `adminCreateRefund`.
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

/// Refund part of an order
///
/// Refunds an amount (`amount_minor`: a goodwill gesture), or chosen units of the order's lines
/// and/or its shipping: each unit at its discounted price with its share of the tax, by the
/// rounding rule in docs/orders.md (every unit refunded sums to exactly the total). Several
/// refunds may follow each other, never more in all than was paid; the one that completes the
/// total moves the order to `refunded`. `restock` puts a line's units back in stock (ledger
/// reason `refund`; a unit is restocked once at most). Requires `Idempotency-Key`: a retry with
/// it returns the same refund and never pays twice (the same key with another body is 422
/// `idempotency-key-reused`). The refund is `succeeded` once the provider confirms it;
/// `pending` when it did not answer (paid out later with the same provider key), `failed` when
/// it refused (its amount counts as not refunded again).
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminCreateRefund",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Order id"),
        ("Idempotency-Key" = String, Header, description = "Unique per refund; reuse it to retry", min_length = 1, max_length = 255)
    ),
    request_body = RefundRequest,
    responses(
        (status = 201, description = "The refund (also for a retry with the same key)", body = Refund,
            headers(("Location" = String, description = "The order, `/api/v1/admin/orders/{id}`"))),
        (status = 400, description = "Missing or invalid Idempotency-Key (`idempotency-key-required`, `invalid-parameter`)", body = Problem),
        (status = 409, description = "Not refundable in its state, more than is left, or a line's units or the shipping refunded already", body = RefundConflictProblem),
        (status = 422, description = "Invalid fields (an amount and lines together, an unknown line), or the key was used with another body (`idempotency-key-reused`)", body = Problem)
    )
)]
#[post("/admin/orders/{id}/refunds")]
pub async fn create_refund(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
    req: HttpRequest,
    ValidJson(body): ValidJson<RefundRequest>,
) -> ApiResult<HttpResponse> {
    let key = crate::routes::orders::idempotency_key(&req)?;
    let made = state.orders.refund(user.id(), *id, &key, body).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/admin/orders/{}", made.order_id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(made))
}

async fn return_step(
    state: &AppState,
    user: &Authorized<perm::ManageOrders>,
    id: Uuid,
    event: ReturnEvent,
    step: ReturnStep,
) -> ApiResult<web::Json<Return>> {
    Ok(web::Json(state.orders.return_step(user.id(), id, event, step).await?))
}

/// Approve a return
///
/// Accepts a requested return: the customer sends the parcel. Otherwise 409
/// `illegal-return-transition`, naming the return's status in `return_status`.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminApproveReturn",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Return id")),
    responses(
        (status = 200, description = "The return, approved", body = Return),
        (status = 409, description = "Not requested (`illegal-return-transition`)", body = Problem)
    )
)]
#[post("/admin/returns/{id}/approve")]
pub async fn approve_return(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Return>> {
    return_step(&state, &user, *id, ReturnEvent::Approve, ReturnStep::default()).await
}

/// Reject a return
///
/// Refuses a requested return with a note for the customer; its units may be asked back again.
/// Otherwise 409 `illegal-return-transition`.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminRejectReturn",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Return id")),
    request_body = RejectReturn,
    responses(
        (status = 200, description = "The return, rejected", body = Return),
        (status = 409, description = "Not requested (`illegal-return-transition`)", body = Problem)
    )
)]
#[post("/admin/returns/{id}/reject")]
pub async fn reject_return(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<RejectReturn>,
) -> ApiResult<web::Json<Return>> {
    let step = ReturnStep { note: Some(body.note), ..Default::default() };
    return_step(&state, &user, *id, ReturnEvent::Reject, step).await
}

/// Receive a return
///
/// Records that an approved return's parcel arrived: its units go back to stock (ledger reason
/// `return`), except the lines in `no_restock` (received damaged); a unit is restocked once at
/// most. Otherwise 409 `illegal-return-transition`.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminReceiveReturn",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Return id")),
    request_body = ReceiveReturn,
    responses(
        (status = 200, description = "The return, received", body = Return),
        (status = 409, description = "Not approved (`illegal-return-transition`)", body = Problem)
    )
)]
#[post("/admin/returns/{id}/receive")]
pub async fn receive_return(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<ReceiveReturn>,
) -> ApiResult<web::Json<Return>> {
    let step = ReturnStep { no_restock: body.no_restock.iter().map(|l| l.line_no).collect(), ..Default::default() };
    return_step(&state, &user, *id, ReturnEvent::Receive, step).await
}

/// Refund a return
///
/// Refunds a received return's units at their price in the order (discounts and tax as in
/// `adminCreateRefund`), through the refund path: once, with its own provider key; the order
/// shows the refund and moves to `refunded` when that completes its total. Otherwise 409
/// `illegal-return-transition`, or `refund-exceeds-payment` when nothing is left to refund.
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminRefundReturn",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Return id")),
    responses(
        (status = 200, description = "The return, refunded (`refund_id` names the refund)", body = Return),
        (status = 409, description = "Not received (`illegal-return-transition`), or nothing left to refund", body = Problem)
    )
)]
#[post("/admin/returns/{id}/refund")]
pub async fn refund_return(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Return>> {
    return_step(&state, &user, *id, ReturnEvent::Refund, ReturnStep::default()).await
}

/// The timeline of an order
///
/// Everything that happened to any customer's order, oldest first: status changes, refunds,
/// returns (as `getMyOrderTimeline`).
#[utoipa::path(
    tag = "admin-orders",
    operation_id = "adminGetOrderTimeline",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, description = "The timeline, oldest first", body = Vec<orders::TimelineEntry>))
)]
#[get("/admin/orders/{id}/timeline")]
pub async fn timeline(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageOrders>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Vec<orders::TimelineEntry>>> {
    Ok(web::Json(state.orders.timeline(None, *id).await?))
}
