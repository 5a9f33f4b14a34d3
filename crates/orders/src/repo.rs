use cart::{LineIssue, ShippingMethod};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::state::{Effects, Event, IllegalTransition};
use crate::{Order, OrderFilter};

/// Why a checkout was refused (stored with the idempotency key, so replays see the same answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum CheckoutRefusal {
    #[error("the cart is empty")]
    CartEmpty,
    #[error("some lines cannot be bought as they are")]
    LinesUnavailable { lines: Vec<UnavailableLine> },
    #[error("no such shipping method")]
    UnknownShippingMethod,
    #[error("the shipping method does not ship to {country}")]
    NotShippable { country: String },
    #[error("the cart and the shipping method use different currencies")]
    CurrencyMismatch,
    /// A code entered on the cart does not apply (any more): re-evaluated under the checkout's
    /// locks, it is expired, no longer applicable, or its usage limit was reached meanwhile.
    #[error("the promotion code {promotion_code} does not apply")]
    Promotion { promotion_code: String, refusal: promotions::Refusal },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnavailableLine {
    pub sku: String,
    pub issue: LineIssue,
    pub available_quantity: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Refused(#[from] CheckoutRefusal),
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error(transparent)]
    Refund(#[from] crate::RefundRefusal),
    #[error(transparent)]
    Shipment(#[from] crate::ShipmentRefusal),
    #[error(transparent)]
    Return(#[from] crate::ReturnRefusal),
    #[error(transparent)]
    IllegalReturn(#[from] crate::IllegalReturnTransition),
    /// The payment provider could not be asked.
    #[error(transparent)]
    Payment(#[from] crate::PaymentError),
    /// An idempotency key used before for another request.
    #[error("this idempotency key was used for a different request")]
    KeyReused,
    #[error(transparent)]
    Storage(#[from] primitives::StorageError),
}

/// What checkout hands the repository: everything decided before the transaction.
#[derive(Debug, Clone)]
pub struct PlaceOrder {
    pub user_id: Uuid,
    pub idempotency_key: String,
    pub shipping_address: Value,
    pub shipping_method: ShippingMethod,
    pub tax_rate_bp: i64,
    pub expires_at: DateTime<Utc>,
    /// A sale that takes a variant's stock to this or below emits `inventory.low_stock`.
    pub low_stock_threshold: i32,
    /// When the payment is taken (`payments.capture`), kept on the order.
    pub capture_mode: crate::CaptureMode,
}

/// Data that travels with a transition.
#[derive(Debug, Clone, Default)]
pub struct TransitionData {
    pub actor: Option<Uuid>,
    pub note: Option<String>,
    pub payment_id: Option<String>,
    pub payment_error: Option<String>,
    /// With `ActionRequired`: what the client needs for the customer's authentication.
    pub payment_action: Option<crate::PaymentAction>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// Only apply if the order belongs to this user (customer actions).
    pub owner: Option<Uuid>,
    /// A webhook event id: recorded in the same transaction; a repeat is a no-op, and so is an
    /// event whose `payment_id` is not the order's payment (an earlier one, cancelled when the
    /// order was paid again).
    pub webhook_event: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub enum Applied {
    Done {
        order: Box<Order>,
        effects: Effects,
        restocked_products: Vec<Uuid>,
    },
    /// The webhook event was processed before.
    Duplicate,
}

/// A shipment to record.
#[derive(Debug, Clone)]
pub struct ShipCall {
    /// The caller's idempotency key, when given: a second call with it returns the first
    /// shipment.
    pub key: Option<String>,
    pub request_hash: Vec<u8>,
    pub req: crate::ShipmentRequest,
    pub actor: Option<Uuid>,
}

#[derive(Debug, Clone)]
pub struct ShipOutcome {
    pub shipment: crate::Shipment,
    /// False for a replay of the key.
    pub fresh: bool,
}

/// A recorded capture the provider has not confirmed: captured with its own key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureDue {
    pub shipment_id: Uuid,
    pub order_id: Uuid,
    pub payment_id: String,
    pub amount: primitives::Money,
    pub provider_key: String,
    pub final_capture: bool,
}

/// What a refund covers.
#[derive(Debug, Clone)]
pub enum RefundAsk {
    /// The admin's request, planned by [`crate::refund::plan`].
    Request(crate::RefundRequest),
    /// Everything left ([`crate::refund::plan_rest`]), the order moving to `refunded`; units
    /// restocked if it never shipped.
    Rest,
}

#[derive(Debug, Clone)]
pub struct RefundCall {
    /// The caller's idempotency key: a second call with it returns the first refund.
    pub key: String,
    pub request_hash: Vec<u8>,
    pub ask: RefundAsk,
    pub actor: Option<Uuid>,
}

#[derive(Debug, Clone)]
pub struct RefundOutcome {
    pub refund: crate::Refund,
    /// False for a replay of the key.
    pub fresh: bool,
    pub restocked_products: Vec<Uuid>,
    /// It restocked the last unshipped units of a partly shipped order, which moved to
    /// `shipped` ([`crate::fulfilment::rest_closed`]).
    pub closed_rest: bool,
}

/// A recorded refund the provider has not confirmed: paid out with its own key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayOut {
    pub refund_id: Uuid,
    pub order_id: Uuid,
    pub payment_id: String,
    pub amount: primitives::Money,
    pub provider_key: String,
}

/// What comes with a step of a return.
#[derive(Debug, Clone, Default)]
pub struct ReturnStep {
    pub actor: Option<Uuid>,
    /// Only if the return's order belongs to this user (the customer withdrawing).
    pub owner: Option<Uuid>,
    /// Only if the return is of this order.
    pub order: Option<Uuid>,
    /// With `Reject`.
    pub note: Option<String>,
    /// With `Receive`: lines not put back in stock.
    pub no_restock: Vec<i32>,
}

#[derive(Debug, Clone)]
pub struct ReturnOutcome {
    pub ret: crate::Return,
    pub restocked_products: Vec<Uuid>,
    /// With `Refund`: the refund recorded (paid out after the commit).
    pub refund: Option<crate::Refund>,
}

/// Outcome of claiming an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// First use: do the work.
    Fresh,
    /// Done before: here is the stored outcome.
    Replay(Value),
    /// A request with this key is still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
    /// An earlier attempt committed this order but did not finish (crash): answer from it.
    Recovered(Uuid),
}

/// Storage of orders. `place` is the checkout transaction: it locks the cart, locks the variants
/// in id order (no deadlocks between checkouts), re-prices, decrements stock under the lock,
/// writes ledger rows, the order and its lines, empties the cart and ties the idempotency key to
/// the order — all or nothing — and writes the `order.placed` (and any `inventory.low_stock`)
/// outbox event in the same transaction. `apply` runs one state-machine transition under a row lock,
/// restocking in the same transaction when the transition says so, and writing the
/// transition's outbox event (see [`crate::events::transitioned`]) in it too.
#[async_trait::async_trait]
pub trait OrderRepo: Send + Sync + 'static {
    async fn place(&self, p: &PlaceOrder) -> Result<Order, OrderError>;
    async fn get(&self, id: Uuid) -> Result<Option<Order>, OrderError>;
    /// Up to `f.page.fetch()` orders after the page's key, newest first.
    async fn list(&self, f: &OrderFilter) -> Result<Vec<Order>, OrderError>;
    async fn apply(&self, id: Uuid, event: Event, data: TransitionData) -> Result<Applied, OrderError>;
    /// Pending orders past their payment deadline.
    async fn due_for_expiry(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Uuid>, OrderError>;
    /// Records a refund under the order's row lock, as planned by the domain: the refund row
    /// (pending), the units refunded and restocked (ledger reason `refund`), the order's refunded
    /// sum, and the move to `refunded` when it completes. A key used before returns its refund.
    async fn refund(&self, id: Uuid, call: RefundCall) -> Result<RefundOutcome, OrderError>;
    /// Pending refunds (of one order, or of any order when older than `older_than_secs`).
    async fn pay_outs(&self, order: Option<Uuid>, older_than_secs: i64, limit: i64) -> Result<Vec<PayOut>, OrderError>;
    /// Settles a pending refund once: `Ok(provider refund id)` or `Err(why it failed)`, which
    /// gives its amount and units back to what is left to refund. A settled refund is left alone.
    async fn settle_refund(&self, refund: Uuid, result: Result<String, String>) -> Result<(), OrderError>;
    async fn order_id_by_payment(&self, payment_id: &str) -> Result<Option<Uuid>, OrderError>;
    /// Records a shipment under the order's row lock, as planned by
    /// [`crate::fulfilment::plan_shipment`]: the shipment (its capture pending when the order is
    /// captured at shipment), the units shipped on the lines (a CHECK as backstop), the move to
    /// `partially_shipped` or `shipped`, and `order.shipment_created` in the same transaction.
    async fn ship(&self, id: Uuid, call: ShipCall) -> Result<ShipOutcome, OrderError>;
    /// Marks shipments delivered (`shipment`: one; `None`: every one not delivered yet), and the
    /// order `delivered` when it has shipped and every shipment is delivered
    /// ([`crate::fulfilment::plan_delivery`]); the order, and how many shipments this delivered.
    async fn deliver(
        &self,
        id: Uuid,
        shipment: Option<Uuid>,
        actor: Option<Uuid>,
    ) -> Result<(crate::Order, usize), OrderError>;
    /// Pending captures (of one order, or of any order when older than `older_than_secs`), in
    /// shipment order.
    async fn captures_due(
        &self,
        order: Option<Uuid>,
        older_than_secs: i64,
        limit: i64,
    ) -> Result<Vec<CaptureDue>, OrderError>;
    /// Settles a pending capture once: `Ok` adds it to what the order captured; `Err(why)`
    /// fails it and flags the order (`capture_failed`, `order.capture_failed`).
    async fn settle_capture(&self, shipment: Uuid, result: Result<(), String>) -> Result<(), OrderError>;
    /// Puts a failed capture of the order back to pending (an admin's retry); the shipment.
    async fn retry_capture(&self, order: Uuid, shipment: Uuid) -> Result<crate::Shipment, OrderError>;
    /// A customer's return of units of their delivered order, decided by
    /// [`crate::returns::plan_return`] under the order's row lock (the units counted as returned
    /// on the lines, a CHECK as backstop).
    async fn request_return(
        &self,
        order: Uuid,
        owner: Uuid,
        req: &crate::ReturnRequest,
        window_days: i64,
    ) -> Result<crate::Return, OrderError>;
    /// One step of a return's state machine under the order's and the return's row locks:
    /// receiving restocks (ledger reason `return`), refunding records a refund of its units (key
    /// `return-<id>`) through the refund plan, rejecting or withdrawing releases its units.
    async fn return_step(
        &self,
        id: Uuid,
        event: crate::ReturnEvent,
        step: ReturnStep,
    ) -> Result<ReturnOutcome, OrderError>;
    /// The order's status changes, oldest first.
    async fn history(&self, id: Uuid) -> Result<Vec<crate::StatusChange>, OrderError>;
    /// Counts one more payment attempt of the owner's order while it waits for payment and has
    /// not expired; its number (each attempt has its own provider key), `None` otherwise.
    async fn next_payment_attempt(&self, id: Uuid, owner: Uuid) -> Result<Option<i32>, OrderError>;
    /// Whether the customer's address is verified (the checkout policy).
    async fn email_verified(&self, user: Uuid) -> Result<bool, OrderError>;

    async fn claim_key(&self, user: Uuid, key: &str, request_hash: &[u8], ttl_secs: i64) -> Result<Claim, OrderError>;
    async fn complete_key(&self, user: Uuid, key: &str, outcome: &Value) -> Result<(), OrderError>;
    /// Ends a failed attempt: the key is forgotten when it placed no order; otherwise it is
    /// marked ended, so the next claim recovers the order at once ([`Claim::Recovered`]).
    async fn release_key(&self, user: Uuid, key: &str) -> Result<(), OrderError>;
    async fn purge_expired_keys(&self) -> Result<u64, OrderError>;
}
