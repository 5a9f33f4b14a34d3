//! `POST /api/v1/webhooks/payments`: signed events from the payment provider.

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, post, web};
use orders::webhook::{SignatureError, WebhookEvent, interpret, verify};

use crate::openapi::IllegalTransitionProblem;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

pub const SIGNATURE: &str = "shop-signature";

/// The acknowledgement of a webhook event.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WebhookReceipt {
    /// Always `true`.
    pub received: bool,
    /// `true` when the event's type is not one the shop acts on.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignored: bool,
}

/// Receive a payment event
///
/// The payment provider's events (`payment.succeeded`, `payment.failed`) settle pending orders.
/// Not authenticated by a bearer token but signed: HMAC-SHA256 in `Shop-Signature:
/// t=<unix>,v1=<hex>` over `"<t>.<body>"`; forged, malformed or stale signatures are 401
/// `invalid-signature`. An event id seen before is acknowledged without effect; event types
/// not acted on are acknowledged as `ignored`.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "receivePaymentEvent",
    security(()),
    request_body(content = WebhookEvent, content_type = "application/json"),
    params(("Shop-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256>")),
    responses(
        (status = 200, description = "Processed, already processed, or ignored", body = WebhookReceipt),
        (status = 401, description = "Bad or stale signature (`invalid-signature`)", body = Problem),
        (status = 404, description = "Unknown order", body = Problem),
        (status = 409, description = "The order cannot take this event (`illegal-transition`)", body = IllegalTransitionProblem)
    )
)]
#[post("/webhooks/payments")]
pub async fn payments(state: web::Data<AppState>, req: HttpRequest, body: Bytes) -> ApiResult<HttpResponse> {
    let cfg = &state.config.payments;
    let header = req.headers().get(SIGNATURE).and_then(|v| v.to_str().ok()).unwrap_or("");
    verify(cfg.webhook_secret.as_bytes(), header, &body, chrono::Utc::now().timestamp(), cfg.webhook_tolerance_secs)
        .map_err(|e| {
            let detail = match e {
                SignatureError::Malformed => "missing or malformed Shop-Signature header",
                SignatureError::Stale => "signature timestamp outside the accepted window",
                SignatureError::Mismatch => "signature does not match",
            };
            Problem::new(StatusCode::UNAUTHORIZED, "invalid-signature", "The webhook signature is invalid")
                .detail(detail)
        })?;
    let event: WebhookEvent = crate::extract::parse_json(&body)?;
    match interpret(&event).map_err(|e| Problem::invalid_field("data", e.to_string()))? {
        Some(notice) => {
            state.orders.payment_event(notice).await?;
            Ok(HttpResponse::Ok().json(WebhookReceipt { received: true, ignored: false }))
        }
        // Events we do not act on are acknowledged so the provider stops resending them.
        None => Ok(HttpResponse::Ok().json(WebhookReceipt { received: true, ignored: true })),
    }
}
