use chrono::{DateTime, Utc};
use primitives::{CursorTime, Money, PageRequest};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use users::AddressInput;
use uuid::Uuid;

use crate::OrderStatus;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderLine {
    pub line_no: i32,
    pub variant_id: Option<Uuid>,
    pub product_id: Option<Uuid>,
    pub sku: String,
    pub name: String,
    /// The variant's option values when ordered, such as `{"size": "M"}` (any JSON values).
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::HashMap<String, serde_json::Value>))]
    pub options: Map<String, Value>,
    pub unit_price: Money,
    pub quantity: i32,
    /// Before discounts.
    pub line_total: Money,
    /// The line's share of the promotions' discounts.
    pub discount: Money,
    /// Units refunded so far (pending and succeeded refunds).
    pub refunded_quantity: i32,
    /// Units put back in stock (by a cancellation, a decline or a refund): never more than once.
    pub restocked_quantity: i32,
    /// Units in returns not rejected or withdrawn.
    pub returned_quantity: i32,
    /// Units handed to a carrier, in the order's shipments.
    pub shipped_quantity: i32,
}

/// A promotion applied to an order, as it was at checkout (refunds and returns use this).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderPromotion {
    pub promotion_id: Uuid,
    pub name: String,
    pub code: Option<String>,
    /// Lines and shipping together.
    pub amount: Money,
    /// Its part of `amount` taken off the shipping.
    pub shipping: Money,
    /// Its part of each line, in `line_no` order.
    pub lines: Vec<Money>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Order {
    pub id: Uuid,
    pub user_id: Uuid,
    pub status: OrderStatus,
    /// The lines before discounts.
    pub subtotal: Money,
    pub shipping: Money,
    /// What the promotions took off, lines and shipping together.
    pub discount: Money,
    /// On the discounted lines and shipping.
    pub tax: Money,
    /// `subtotal + shipping - discount + tax`.
    pub total: Money,
    /// Refunded so far: pending and succeeded refunds (never more than `captured`).
    pub refunded: Money,
    /// `none`, `partially_refunded` or `refunded`, from `refunded` against `captured`.
    pub refund_state: crate::RefundState,
    /// When the payment is taken: at checkout (`automatic`) or per shipment (`on_shipment`).
    pub capture_mode: crate::CaptureMode,
    /// Taken from the customer so far (the total once charged at checkout; per shipment
    /// otherwise).
    pub captured: Money,
    /// `none`, `partially_captured` or `captured`, from `captured` against `total`.
    pub capture_state: crate::CaptureState,
    /// A shipment's capture was refused by the provider: an admin has to act (retry it, or
    /// settle with the customer).
    pub capture_failed: bool,
    /// Every shipment, in order.
    pub shipments: Vec<crate::Shipment>,
    pub shipping_refunded: bool,
    /// Every refund, oldest first.
    pub refunds: Vec<crate::Refund>,
    /// Every return, oldest first.
    pub returns: Vec<crate::Return>,
    /// The promotions applied, in the order they were applied.
    pub promotions: Vec<OrderPromotion>,
    pub shipping_address: AddressInput,
    pub shipping_method: String,
    pub lines: Vec<OrderLine>,
    /// Of the latest shipment.
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// With status `requires_action`: what the client needs for the customer's authentication.
    pub payment_action: Option<crate::PaymentAction>,
    /// Unpaid orders are cancelled (and restocked) after this.
    pub expires_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub refunded_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub payment_id: Option<String>,
}

pub(crate) fn valid_token(value: &str, _: &()) -> garde::Result {
    if value.bytes().all(|b| b.is_ascii_graphic()) { Ok(()) } else { Err(garde::Error::new("must be printable ASCII")) }
}

/// `POST /checkout` body.
#[derive(Debug, Clone, Serialize, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    #[garde(dive)]
    pub shipping_address: AddressInput,
    #[garde(skip)]
    pub shipping_method_id: Uuid,
    /// The payment method token from the payment provider's client library (sandbox:
    /// `tok_visa` approves, `tok_declined` declines, `tok_timeout` never answers,
    /// `tok_3ds_success` / `tok_3ds_fail` / `tok_3ds_abandon` need 3-D Secure).
    #[garde(length(min = 1, max = 255), custom(valid_token))]
    #[cfg_attr(feature = "openapi", schema(example = "tok_visa", min_length = 1, max_length = 255))]
    pub payment_token: String,
}

/// `POST /orders/{id}/payment` body.
#[derive(Debug, Clone, Serialize, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PayAgain {
    /// Another payment method token (sandbox tokens as at checkout).
    #[garde(length(min = 1, max = 255), custom(valid_token))]
    #[cfg_attr(feature = "openapi", schema(example = "tok_visa", min_length = 1, max_length = 255))]
    pub payment_token: String,
}

/// Filters of the admin order list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub user_id: Option<Uuid>,
    pub status: Option<OrderStatus>,
    /// Only orders flagged for an admin (a capture refused).
    pub capture_failed: Option<bool>,
    /// Newest first; the key is (created_at, id) of the last order of the previous page.
    pub page: PageRequest<OrderKey>,
}

/// Where a page of orders starts: after the order with this (created_at, id).
pub type OrderKey = (CursorTime, Uuid);

/// A status change of an order, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    pub actor: Option<Uuid>,
    pub at: DateTime<Utc>,
}

/// One thing that happened to an order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineEntry {
    /// Placed, paid, sent to authentication, shipped, delivered, cancelled, refunded, ...
    Status { at: DateTime<Utc>, from: Option<OrderStatus>, to: OrderStatus },
    /// A refund recorded (its current status); `settled_at` once the provider answered.
    Refund {
        at: DateTime<Utc>,
        refund_id: Uuid,
        amount: Money,
        status: crate::RefundStatus,
        settled_at: Option<DateTime<Utc>>,
    },
    /// A return asked for (its current status, as of `updated_at`).
    Return { at: DateTime<Utc>, return_id: Uuid, status: crate::ReturnStatus, updated_at: DateTime<Utc> },
    /// A parcel handed to a carrier, with its capture's status.
    Shipment {
        at: DateTime<Utc>,
        shipment_id: Uuid,
        number: i32,
        carrier: String,
        tracking_number: String,
        capture: Money,
        capture_status: crate::CaptureStatus,
    },
    /// A parcel delivered.
    ShipmentDelivered { at: DateTime<Utc>, shipment_id: Uuid, number: i32 },
}

impl TimelineEntry {
    fn at(&self) -> DateTime<Utc> {
        match self {
            TimelineEntry::Status { at, .. }
            | TimelineEntry::Refund { at, .. }
            | TimelineEntry::Return { at, .. }
            | TimelineEntry::Shipment { at, .. }
            | TimelineEntry::ShipmentDelivered { at, .. } => *at,
        }
    }
}

/// The order's timeline, oldest first: its status changes, shipments and their deliveries,
/// refunds and returns (ties keep that order).
pub fn timeline(order: &Order, history: &[StatusChange]) -> Vec<TimelineEntry> {
    let mut out: Vec<TimelineEntry> =
        history.iter().map(|h| TimelineEntry::Status { at: h.at, from: h.from, to: h.to }).collect();
    for s in &order.shipments {
        out.push(TimelineEntry::Shipment {
            at: s.created_at,
            shipment_id: s.id,
            number: s.number,
            carrier: s.carrier.clone(),
            tracking_number: s.tracking_number.clone(),
            capture: s.capture,
            capture_status: s.capture_status,
        });
        if let Some(at) = s.delivered_at {
            out.push(TimelineEntry::ShipmentDelivered { at, shipment_id: s.id, number: s.number });
        }
    }
    out.extend(order.refunds.iter().map(|r| TimelineEntry::Refund {
        at: r.created_at,
        refund_id: r.id,
        amount: r.amount,
        status: r.status,
        settled_at: r.settled_at,
    }));
    out.extend(order.returns.iter().map(|r| TimelineEntry::Return {
        at: r.created_at,
        return_id: r.id,
        status: r.status,
        updated_at: r.updated_at,
    }));
    out.sort_by_key(TimelineEntry::at);
    out
}
