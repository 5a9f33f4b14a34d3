//! Checkout and the customer's orders.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use orders::{
    CheckoutOutcome, CheckoutRequest, IdempotencyKey, KeyError, Order, OrderFilter, PayAgain, Return, ReturnRequest,
    TimelineEntry,
};
use primitives::Page;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::extract::{ValidJson, ValidQuery};
use crate::openapi::{CheckoutConflictProblem, IllegalTransitionProblem, PaymentDeclinedProblem};
use crate::pagination::PageParams;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

pub(crate) fn idempotency_key(req: &HttpRequest) -> Result<String, Problem> {
    match IdempotencyKey::parse(req.headers().get(IDEMPOTENCY_KEY).map(|v| v.as_bytes())) {
        Ok(key) => Ok(key.as_str().to_owned()),
        Err(KeyError::Missing) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "idempotency-key-required",
            "An Idempotency-Key header is required",
        )
        .detail("send a unique key (for example a UUID) per checkout attempt, and the same key when retrying it")
        .field("Idempotency-Key", "required")),
        Err(e @ KeyError::Invalid) => Err(Problem::invalid_parameter("Idempotency-Key", e.to_string())),
    }
}

/// The HTTP form of a checkout outcome (the same for the first answer and every replay).
pub fn outcome_response(outcome: CheckoutOutcome) -> HttpResponse {
    match outcome {
        CheckoutOutcome::Placed { order } => {
            let status = if OrderStatusExt::is_pending(&order) { StatusCode::ACCEPTED } else { StatusCode::CREATED };
            HttpResponse::build(status)
                .insert_header((header::LOCATION, format!("/api/v1/orders/{}", order.id)))
                .json(order)
        }
        CheckoutOutcome::Declined { order, reason } => actix_web::ResponseError::error_response(
            &Problem::new(StatusCode::PAYMENT_REQUIRED, "payment-declined", "The payment was declined")
                .detail(format!("order {} was not paid ({reason}); its items are back in stock", order.id))
                .extension("order_id", serde_json::json!(order.id))
                .extension("reason", serde_json::json!(reason)),
        ),
        CheckoutOutcome::Refused { refusal } => actix_web::ResponseError::error_response(&Problem::from(refusal)),
    }
}

struct OrderStatusExt;

impl OrderStatusExt {
    fn is_pending(order: &Order) -> bool {
        orders::OrderService::is_pending(order)
    }
}

/// Place an order from my cart
///
/// Places an order from the caller's cart and pays for it; where configured, only accounts with
/// a verified email address may (403 `email-not-verified`). Requires `Idempotency-Key`: retrying with the same key
/// and body returns the first answer and does the work once; the same key with another body is
/// 422 `idempotency-key-reused`; while the first request runs, 409 `idempotency-in-progress`.
/// 201: paid. 202: placed, payment outcome pending (settled by webhook or expiry). 402: declined
/// (the order stays as `payment_failed` for audit, its stock returned, and the cart is as it
/// was, codes included: check out again with another card and a new key). 409: cart empty or lines unavailable
/// (nothing written; `lines` says which). Promotions are decided again: a code held on the cart
/// that no longer applies refuses the checkout with its problem code and `promotion_code`
/// (409 `promotion-limit-reached`; 422 `promotion-expired`, `promotion-not-applicable`, ...),
/// nothing written.
#[utoipa::path(
    tag = "checkout",
    operation_id = "placeOrder",
    security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "Unique per checkout attempt; reuse it to retry", min_length = 1, max_length = 255)),
    request_body = CheckoutRequest,
    responses(
        (status = 201, description = "Placed and paid", body = Order,
            headers(("Location" = String, description = "The new order, `/api/v1/orders/{id}`"))),
        (status = 202, description = "Placed; payment pending", body = Order,
            headers(("Location" = String, description = "The new order, `/api/v1/orders/{id}`"))),
        (status = 400, description = "Missing or invalid Idempotency-Key (`idempotency-key-required`, `invalid-parameter`)", body = Problem),
        (status = 402, description = "Payment declined (`payment-declined`)", body = PaymentDeclinedProblem),
        (status = 403, description = "Email address not verified, where that is required (`email-not-verified`)", body = Problem),
        (status = 409, description = "Cart empty, lines unavailable, currencies mixed, a held promotion code used up (`promotion-limit-reached`), or the same key in flight", body = CheckoutConflictProblem,
            headers(("Retry-After" = u32, description = "With `idempotency-in-progress`: seconds to wait before retrying"))),
        (status = 422, description = "Invalid fields, the key was used with another body (`idempotency-key-reused`), or a held promotion code does not apply (`promotion-expired`, `promotion-not-applicable`, ...)", body = Problem)
    )
)]
#[post("/checkout")]
pub async fn checkout(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    ValidJson(body): ValidJson<CheckoutRequest>,
) -> ApiResult<HttpResponse> {
    let key = idempotency_key(&req)?;
    let outcome = state.orders.checkout(user.id(), &key, &body).await?;
    let mut res = outcome_response(outcome);
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// List my orders
///
/// The caller's orders in every status, newest first, each with its lines and totals.
/// Keyset-paginated.
#[utoipa::path(
    tag = "orders",
    operation_id = "listMyOrders",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, description = "A page of the caller's orders", body = Page<Order>))
)]
#[get("/orders")]
pub async fn list_orders(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidQuery(page): ValidQuery<PageParams>,
) -> ApiResult<web::Json<Page<Order>>> {
    let filter = OrderFilter { user_id: Some(user.id()), status: None, capture_failed: None, page: page.request()? };
    Ok(web::Json(state.orders.list(&filter).await?))
}

/// Get one of my orders
///
/// One of the caller's orders with its lines, totals, shipping and when each step happened;
/// another user's order id is 404, as an unknown one.
#[utoipa::path(
    tag = "orders",
    operation_id = "getMyOrder",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, description = "The order", body = Order))
)]
#[get("/orders/{id}")]
pub async fn get_order(state: web::Data<AppState>, user: AuthUser, id: web::Path<Uuid>) -> ApiResult<web::Json<Order>> {
    Ok(web::Json(state.orders.order_for(user.id(), *id).await?))
}

/// Cancel one of my orders
///
/// Cancels one of the caller's orders before it ships: its items return to stock, and a paid
/// order is refunded. Once shipped (or already closed) it is 409 `illegal-transition`, naming
/// the order's status in `order_status`.
#[utoipa::path(
    tag = "orders",
    operation_id = "cancelMyOrder",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order, cancelled", body = Order),
        (status = 409, description = "Already shipped or closed (`illegal-transition`)", body = IllegalTransitionProblem)
    )
)]
#[post("/orders/{id}/cancel")]
pub async fn cancel_order(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Order>> {
    Ok(web::Json(state.orders.cancel_own(user.id(), *id).await?))
}

/// Confirm the payment of one of my orders
///
/// Called by the client once the customer finished authenticating (3-D Secure): the payment
/// provider is asked where the payment stands (what the client says is never trusted) and the
/// order is settled as it says: `paid`, or `payment_failed` (stock returned, the cart as it was).
/// Whichever of this call and the provider's webhook comes first settles the order; the other
/// changes nothing. An order not waiting for its payment is answered as it is.
#[utoipa::path(
    tag = "orders",
    operation_id = "confirmMyOrderPayment",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order as the provider's answer left it (still `requires_action` when the customer has not authenticated yet)", body = Order),
        (status = 502, description = "The provider refused the question (`payment-provider-error`)", body = Problem),
        (status = 503, description = "The provider did not answer (`payment-provider-unavailable`); retry", body = Problem,
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying")))
    )
)]
#[post("/orders/{id}/payment/confirm")]
pub async fn confirm_payment(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Order>> {
    Ok(web::Json(state.orders.confirm_payment(user.id(), *id).await?))
}

/// Pay one of my orders again
///
/// Pays an order still waiting for its customer's authentication (`requires_action`: an
/// abandoned 3-D Secure) with another payment method, until the order expires. The earlier
/// payment is cancelled at the provider first, so both can never be charged; if it completed
/// meanwhile, the order is answered paid. Answers as checkout does: 201 paid, 202 waiting
/// (again `requires_action` with its `payment_action`), 402 declined. An order not waiting for
/// payment, expired, or whose first attempt got no answer from the provider (it may still
/// complete: its webhook or the expiry settles it) is 409 `illegal-transition`.
#[utoipa::path(
    tag = "orders",
    operation_id = "payMyOrderAgain",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    request_body = PayAgain,
    responses(
        (status = 201, description = "Paid", body = Order,
            headers(("Location" = String, description = "The order, `/api/v1/orders/{id}`"))),
        (status = 202, description = "Waiting for the payment (authentication, or an unknown outcome)", body = Order,
            headers(("Location" = String, description = "The order, `/api/v1/orders/{id}`"))),
        (status = 402, description = "Payment declined (`payment-declined`)", body = PaymentDeclinedProblem),
        (status = 409, description = "Not waiting for an authentication, or expired (`illegal-transition`)", body = IllegalTransitionProblem),
        (status = 503, description = "The earlier payment could not be cancelled (`payment-provider-unavailable`); retry", body = Problem,
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying")))
    )
)]
#[post("/orders/{id}/payment")]
pub async fn pay_again(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<PayAgain>,
) -> ApiResult<HttpResponse> {
    let outcome = state.orders.pay_again(user.id(), *id, &body.payment_token).await?;
    let mut res = outcome_response(outcome);
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Return units of one of my orders
///
/// Asks the merchant to take back units of a delivered order (lines and quantities, and why),
/// within `orders.return_window_days` of delivery. A unit is in one open return at most and
/// never once refunded. The merchant approves or rejects it, receives the parcel (the units go
/// back to stock) and refunds them at their price in the order. 409 `order-not-returnable` (not
/// delivered), `return-window-closed`, `return-exceeds-line` (with `returnable_quantity`).
#[utoipa::path(
    tag = "orders",
    operation_id = "requestMyOrderReturn",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    request_body = ReturnRequest,
    responses(
        (status = 201, description = "The return, requested", body = Return,
            headers(("Location" = String, description = "The order, `/api/v1/orders/{id}`, which lists its returns"))),
        (status = 409, description = "Not delivered, past the window, or more units than can be returned", body = Problem),
        (status = 422, description = "Invalid fields, or a line the order does not have", body = Problem)
    )
)]
#[post("/orders/{id}/returns")]
pub async fn request_return(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<ReturnRequest>,
) -> ApiResult<HttpResponse> {
    let ret = state.orders.request_return(user.id(), *id, &body).await?;
    Ok(HttpResponse::Created().insert_header((header::LOCATION, format!("/api/v1/orders/{}", ret.order_id))).json(ret))
}

/// Withdraw a return of mine
///
/// Withdraws a return of the caller's that is requested or approved (not yet received); its
/// units may be asked back again. Otherwise 409 `illegal-return-transition`.
#[utoipa::path(
    tag = "orders",
    operation_id = "withdrawMyOrderReturn",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id"), ("return_id" = Uuid, Path, description = "Return id")),
    responses(
        (status = 200, description = "The return, withdrawn", body = Return),
        (status = 409, description = "Received, refunded or closed already (`illegal-return-transition`)", body = Problem)
    )
)]
#[post("/orders/{id}/returns/{return_id}/withdraw")]
pub async fn withdraw_return(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<web::Json<Return>> {
    let (order, ret) = path.into_inner();
    Ok(web::Json(state.orders.withdraw_return(user.id(), order, ret).await?))
}

/// The timeline of one of my orders
///
/// Everything that happened to one of the caller's orders, oldest first: each status change
/// (placed, sent to authentication, paid, shipped, delivered, cancelled, refunded), each
/// refund with its amount and status, each return with its status.
#[utoipa::path(
    tag = "orders",
    operation_id = "getMyOrderTimeline",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, description = "The timeline, oldest first", body = Vec<TimelineEntry>))
)]
#[get("/orders/{id}/timeline")]
pub async fn timeline(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Vec<TimelineEntry>>> {
    Ok(web::Json(state.orders.timeline(Some(user.id()), *id).await?))
}
