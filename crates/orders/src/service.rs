use std::sync::Arc;
use std::time::Duration;

use cart::ShippingRepo;
use chrono::Utc;
use primitives::{CursorTime, Page, StorageError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::payment::{Authorization, AuthorizeRequest, PaymentError, PaymentGateway, PaymentState};
use crate::repo::{
    Applied, CheckoutRefusal, Claim, OrderError, OrderRepo, PlaceOrder, RefundAsk, RefundCall, ReturnStep, ShipCall,
    TransitionData,
};
use crate::state::Event;
use crate::webhook::{PaymentNotice, PaymentRef};
use crate::{
    CheckoutRequest, Order, OrderFilter, OrderStatus, Refund, RefundRequest, RefundStatus, Return, ReturnEvent,
    ReturnRequest, Shipment, ShipmentRequest,
};

#[derive(Debug, Clone, Copy)]
pub struct CheckoutConfig {
    /// An unpaid order is cancelled and restocked after this long.
    pub pending_ttl_secs: i64,
    /// Idempotency keys are remembered this long.
    pub idempotency_ttl_secs: i64,
    /// A sale that leaves a variant with this many or fewer emits `inventory.low_stock`.
    pub low_stock_threshold: i32,
    /// Only accounts with a verified address may check out (`auth.require_verified_email_for_checkout`).
    pub require_verified_email: bool,
    /// Days after delivery a return may be asked for (`orders.return_window_days`).
    pub return_window_days: i64,
    /// When payments are taken (`payments.capture`): at checkout, or per shipment.
    pub capture: crate::CaptureMode,
}

/// The recorded answer of a checkout (what a replay with the same key returns).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CheckoutOutcome {
    /// The order exists: `paid`, or `pending_payment` when the provider did not answer.
    Placed { order: Box<Order> },
    /// The order exists with status `payment_failed`; its stock was returned.
    Declined { order: Box<Order>, reason: String },
    /// Nothing was written.
    Refused { refusal: CheckoutRefusal },
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("this idempotency key was used for a different request")]
    KeyMismatch,
    #[error("a request with this idempotency key is still in progress")]
    InProgress,
    #[error("the account's email address is not verified")]
    EmailNotVerified,
    #[error(transparent)]
    Order(#[from] OrderError),
}

/// Something the outside world should hear about a transition (metrics, cache invalidation).
/// The stock notifications are awaited before the request is answered.
#[async_trait::async_trait]
pub trait OrderObserver: Send + Sync + 'static {
    async fn stock_returned(&self, products: &[Uuid]);
    async fn stock_taken(&self, products: &[Uuid]);
    fn payment_finished(&self, approved: Option<bool>, seconds: f64);
    fn order_created(&self);
    fn checkout_failed(&self, reason: &str);
    /// A refund paid out (`succeeded`), refused by the provider (`failed`), or left for a retry
    /// (`retry`), with its amount in minor units.
    fn refund_finished(&self, outcome: &str, amount_minor: i64);
    /// A return was asked for (`requested`) or took a step (`approved`, `received`, ...).
    fn return_step(&self, step: &str);
    /// A shipment was created (`created`) or delivered (`delivered`).
    fn shipment_step(&self, step: &str);
    /// A shipment's capture: `captured`, refused (`failed`), or left for a retry (`retry`),
    /// with its amount in minor units.
    fn capture_finished(&self, outcome: &str, amount_minor: i64);
}

/// Checkout and everything after it. Assembled by the wiring from its ports, field by field.
pub struct OrderService {
    pub orders: Arc<dyn OrderRepo>,
    pub shipping: Arc<dyn ShippingRepo>,
    pub tax: cart::TaxRates,
    pub gateway: Arc<dyn PaymentGateway>,
    pub observer: Arc<dyn OrderObserver>,
    pub cfg: CheckoutConfig,
}

impl OrderService {
    /// Checkout, exactly once per idempotency key.
    pub async fn checkout(
        &self,
        user: Uuid,
        key: &str,
        req: &CheckoutRequest,
    ) -> Result<CheckoutOutcome, CheckoutError> {
        if self.cfg.require_verified_email && !self.orders.email_verified(user).await? {
            return Err(CheckoutError::EmailNotVerified);
        }
        let hash = Sha256::digest(serde_json::to_vec(req).unwrap_or_default()).to_vec();
        match self.orders.claim_key(user, key, &hash, self.cfg.idempotency_ttl_secs).await? {
            Claim::Fresh => {}
            Claim::Replay(outcome) => {
                return serde_json::from_value(outcome)
                    .map_err(|e| CheckoutError::Order(OrderError::Storage(StorageError::other(e))));
            }
            Claim::InProgress => return Err(CheckoutError::InProgress),
            Claim::Mismatch => return Err(CheckoutError::KeyMismatch),
            Claim::Recovered(order_id) => {
                let order = self.orders.get(order_id).await?.ok_or(OrderError::NotFound)?;
                return Ok(CheckoutOutcome::Placed { order: Box::new(order) });
            }
        }
        let repo = Arc::clone(&self.orders);
        let key_owned = key.to_owned();
        match self.checkout_once(user, key, req).await {
            Ok(outcome) => {
                let value = serde_json::to_value(&outcome).unwrap_or_default();
                if let Err(e) = self.orders.complete_key(user, key, &value).await {
                    tracing::warn!(error = %e, "could not record the checkout outcome; retrying in the background");
                    tokio::spawn(retry_storage("record the checkout outcome", move || {
                        let (repo, key, value) = (Arc::clone(&repo), key_owned.clone(), value.clone());
                        async move { repo.complete_key(user, &key, &value).await }
                    }));
                }
                Ok(outcome)
            }
            Err(e) => {
                // A storage failure: free the key so a retry goes ahead (no order was placed) or gets
                // the order back (one was). The database may be what failed, so this is retried in
                // the background rather than leaving the key held until it counts as crashed.
                tokio::spawn(retry_storage("release the idempotency key", move || {
                    let (repo, key) = (Arc::clone(&repo), key_owned.clone());
                    async move { repo.release_key(user, &key).await }
                }));
                Err(e.into())
            }
        }
    }

    async fn checkout_once(&self, user: Uuid, key: &str, req: &CheckoutRequest) -> Result<CheckoutOutcome, OrderError> {
        let refuse = |refusal: CheckoutRefusal| {
            self.observer.checkout_failed(refusal_reason(&refusal));
            Ok(CheckoutOutcome::Refused { refusal })
        };
        let method = match self.shipping.get(req.shipping_method_id).await? {
            Some(m) if m.active => m,
            _ => return refuse(CheckoutRefusal::UnknownShippingMethod),
        };
        let country = req.shipping_address.country.clone();
        if !method.ships_to(&country) {
            return refuse(CheckoutRefusal::NotShippable { country });
        }
        let place = PlaceOrder {
            user_id: user,
            idempotency_key: key.to_owned(),
            shipping_address: serde_json::to_value(&req.shipping_address).unwrap_or_default(),
            tax_rate_bp: self.tax.rate(&req.shipping_address.country),
            shipping_method: method,
            expires_at: Utc::now() + chrono::Duration::seconds(self.cfg.pending_ttl_secs),
            low_stock_threshold: self.cfg.low_stock_threshold,
            capture_mode: self.cfg.capture,
        };
        let order = match self.orders.place(&place).await {
            Ok(o) => o,
            Err(OrderError::Refused(refusal)) => return refuse(refusal),
            Err(e) => return Err(e),
        };
        self.observer.order_created();
        self.observer.stock_taken(&order.lines.iter().filter_map(|l| l.product_id).collect::<Vec<_>>()).await;

        self.authorize(order, &req.payment_token, 1).await
    }

    /// Authorises the payment of a placed order with `token` (attempt `attempt`, each with its
    /// own provider key) and moves the order as the provider answers.
    async fn authorize(&self, order: Order, token: &str, attempt: i32) -> Result<CheckoutOutcome, OrderError> {
        let started = std::time::Instant::now();
        let idempotency_key =
            if attempt <= 1 { format!("authorize-{}", order.id) } else { format!("authorize-{}-{attempt}", order.id) };
        let auth = self
            .gateway
            .authorize(&AuthorizeRequest {
                order_id: order.id,
                amount: order.total,
                payment_token: token.to_owned(),
                idempotency_key,
                // Charged now, or only authorised and captured per shipment.
                capture: order.capture_mode == crate::CaptureMode::Automatic,
            })
            .await;
        let seconds = started.elapsed().as_secs_f64();
        match auth {
            Ok(Authorization::Approved { payment_id }) => {
                self.observer.payment_finished(Some(true), seconds);
                let data = TransitionData { payment_id: Some(payment_id), ..Default::default() };
                let order = self.transition(order.id, Event::PaymentSucceeded, data).await?;
                Ok(CheckoutOutcome::Placed { order: Box::new(order) })
            }
            Ok(Authorization::ActionRequired { payment_id, action }) => {
                self.observer.payment_finished(None, seconds);
                let data =
                    TransitionData { payment_id: Some(payment_id), payment_action: Some(action), ..Default::default() };
                let order = self.transition(order.id, Event::ActionRequired, data).await?;
                Ok(CheckoutOutcome::Placed { order: Box::new(order) })
            }
            Ok(Authorization::Declined { reason }) => {
                self.observer.payment_finished(Some(false), seconds);
                self.observer.checkout_failed("payment_declined");
                let data = TransitionData { payment_error: Some(reason.clone()), ..Default::default() };
                let order = self.transition(order.id, Event::PaymentFailed, data).await?;
                Ok(CheckoutOutcome::Declined { order: Box::new(order), reason })
            }
            Err(e) => {
                // Unknown outcome: the order stays pending; a webhook settles it, or the expiry
                // job cancels it and returns the stock.
                self.observer.payment_finished(None, seconds);
                self.observer.checkout_failed(match e {
                    PaymentError::Timeout => "payment_timeout",
                    PaymentError::Unavailable(_) => "payment_unavailable",
                    PaymentError::Rejected(_) => "payment_rejected",
                });
                tracing::warn!(order_id = %order.id, error = %e, "payment outcome unknown; order left pending");
                Ok(CheckoutOutcome::Placed { order: Box::new(order) })
            }
        }
    }

    /// The customer's client says the authentication is done: the provider is asked (the
    /// client is never trusted) and the order settled as it says. Whichever of this and the
    /// provider's webhook comes first settles the order; the other changes nothing.
    pub async fn confirm_payment(&self, user: Uuid, id: Uuid) -> Result<Order, OrderError> {
        let order = self.order_for(user, id).await?;
        if !matches!(order.status, OrderStatus::PendingPayment | OrderStatus::RequiresAction) {
            return Ok(order);
        }
        let Some(payment_id) = order.payment_id.clone() else { return Ok(order) };
        let (event, data) = match self.gateway.retrieve(&payment_id).await? {
            PaymentState::Succeeded => {
                (Event::PaymentSucceeded, TransitionData { payment_id: Some(payment_id), ..Default::default() })
            }
            PaymentState::Failed { reason } => {
                (Event::PaymentFailed, TransitionData { payment_error: Some(reason), ..Default::default() })
            }
            PaymentState::Canceled => {
                (Event::PaymentFailed, TransitionData { payment_error: Some("canceled".into()), ..Default::default() })
            }
            PaymentState::RequiresAction | PaymentState::Processing => return Ok(order),
        };
        match self.transition(id, event, data).await {
            Ok(order) => Ok(order),
            // Settled meanwhile (the webhook, another confirm): the order as it is.
            Err(OrderError::Illegal(_)) => self.order_for(user, id).await,
            Err(e) => Err(e),
        }
    }

    /// Pays a waiting order (an abandoned authentication) with another payment method until it
    /// expires. The earlier payment is cancelled at the provider first, so the two can never
    /// both be charged; if it completed meanwhile, the order is settled from it instead. An
    /// order whose first attempt has no known payment (the provider did not answer) is refused:
    /// that attempt may still complete, and only its webhook or the expiry settles it.
    pub async fn pay_again(&self, user: Uuid, id: Uuid, token: &str) -> Result<CheckoutOutcome, OrderError> {
        let order = self.order_for(user, id).await?;
        if order.payment_id.is_none() {
            return Err(OrderError::Illegal(crate::state::IllegalTransition {
                from: order.status,
                event: Event::PaymentSucceeded,
            }));
        }
        let Some(attempt) = self.orders.next_payment_attempt(id, user).await? else {
            return Err(OrderError::Illegal(crate::state::IllegalTransition {
                from: order.status,
                event: Event::PaymentSucceeded,
            }));
        };
        if let Some(previous) = order.payment_id.as_deref()
            && let Err(e) = self.gateway.cancel(previous, &format!("cancel-{previous}")).await
        {
            tracing::info!(order_id = %id, error = %e, "the earlier payment could not be cancelled; asking where it stands");
            let settled = self.confirm_payment(user, id).await?;
            if !matches!(settled.status, OrderStatus::PendingPayment | OrderStatus::RequiresAction) {
                return Ok(CheckoutOutcome::Placed { order: Box::new(settled) });
            }
            return Err(OrderError::Payment(e));
        }
        let order = self.order_for(user, id).await?;
        self.authorize(order, token, attempt).await
    }

    /// Applies a transition and reports its stock effects.
    async fn transition(&self, id: Uuid, event: Event, data: TransitionData) -> Result<Order, OrderError> {
        match event {
            Event::Refund => return self.refund_rest(id, data.actor).await,
            Event::Ship | Event::ShipPart => {
                let req = ShipmentRequest {
                    carrier: data.carrier.unwrap_or_default(),
                    tracking_number: data.tracking_number.unwrap_or_default(),
                    lines: vec![],
                };
                self.create_shipment(data.actor, id, None, req).await?;
                return self.get(id).await;
            }
            Event::Deliver => return self.deliver(data.actor, id, None).await,
            _ => {}
        }
        match self.orders.apply(id, event, data).await? {
            Applied::Done { order, effects, restocked_products } => {
                if effects.restock {
                    self.observer.stock_returned(&restocked_products).await;
                }
                if effects.refund_payment {
                    self.pay_out(Some(id)).await;
                }
                if effects.cancel_payment {
                    self.cancel_abandoned(&order).await;
                }
                if effects.release_authorization {
                    self.release_rest(&order).await;
                }
                // The order as the transition's transaction left it, unless work after the
                // commit (a pay-out, a cancellation at the provider, captures) changed it since:
                // a payment approved at checkout reads nothing more.
                if effects.refund_payment || effects.cancel_payment || effects.release_authorization {
                    return Ok(self.orders.get(id).await?.unwrap_or(*order));
                }
                Ok(*order)
            }
            Applied::Duplicate => self.orders.get(id).await?.ok_or(OrderError::NotFound),
        }
    }

    /// Cancels at the provider the payment of an order that ended while it waited for the
    /// customer's authentication, so it cannot complete later.
    async fn cancel_abandoned(&self, order: &Order) {
        let Some(payment_id) = order.payment_id.as_deref() else { return };
        if let Err(e) = self.gateway.cancel(payment_id, &format!("cancel-{payment_id}")).await {
            tracing::error!(order_id = %order.id, payment_id, error = %e,
                "could not cancel the payment of an abandoned order: if it completes, refund it");
        }
    }

    /// Releases at the provider what an order captured at shipment holds and will not capture
    /// (it was cancelled, or its rest was): what shipped is captured first; while a capture is
    /// still unanswered nothing is released (releasing would void it), and the authorisation
    /// lapses at the provider instead.
    async fn release_rest(&self, order: &Order) {
        if !crate::fulfilment::holds_authorization(order) {
            return;
        }
        self.capture(Some(order.id)).await;
        let now = match self.orders.get(order.id).await {
            Ok(Some(o)) => o,
            Ok(None) => return,
            Err(e) => {
                return tracing::warn!(order_id = %order.id, error = %e, "could not read the order to release its authorisation");
            }
        };
        if now.shipments.iter().any(|s| s.capture_status == crate::CaptureStatus::Pending) {
            tracing::warn!(order_id = %order.id, "a capture is unanswered: the rest of the authorisation is left to lapse");
            return;
        }
        let Some(payment_id) = order.payment_id.as_deref() else { return };
        if let Err(e) = self.gateway.cancel(payment_id, &format!("release-{payment_id}")).await {
            // The authorisation lapses at the provider by itself (Stripe: after 7 days).
            tracing::warn!(order_id = %order.id, payment_id, error = %e, "could not release the uncaptured authorisation");
        }
    }

    // ---- shipments ----------------------------------------------------------------------------

    /// Ships chosen units of a paid or partly shipped order (every unit left when `lines` is
    /// empty), exactly once per key when one is given; captures the shipment's value when the
    /// order is captured at shipment. The shipment as it stands afterwards (its capture
    /// `pending` when the provider did not answer: the sweeper retries it with the same key).
    pub async fn create_shipment(
        &self,
        actor: Option<Uuid>,
        id: Uuid,
        key: Option<&str>,
        req: ShipmentRequest,
    ) -> Result<Shipment, OrderError> {
        let request_hash = Sha256::digest(serde_json::to_vec(&req).unwrap_or_default()).to_vec();
        let call = ShipCall { key: key.map(str::to_owned), request_hash, req, actor };
        let out = self.orders.ship(id, call).await?;
        if out.fresh {
            self.observer.shipment_step("created");
        }
        if out.shipment.capture_status == crate::CaptureStatus::Pending {
            self.capture(Some(id)).await;
        }
        self.shipment_of(id, out.shipment.id).await
    }

    async fn shipment_of(&self, order: Uuid, shipment: Uuid) -> Result<Shipment, OrderError> {
        self.get(order).await?.shipments.into_iter().find(|s| s.id == shipment).ok_or(OrderError::NotFound)
    }

    /// Marks a shipment delivered (`None`: every one), and the order once all are.
    pub async fn deliver(&self, actor: Option<Uuid>, id: Uuid, shipment: Option<Uuid>) -> Result<Order, OrderError> {
        let (order, delivered) = self.orders.deliver(id, shipment, actor).await?;
        for _ in 0..delivered {
            self.observer.shipment_step("delivered");
        }
        Ok(order)
    }

    /// An admin's retry of a capture the provider refused.
    pub async fn retry_capture(&self, id: Uuid, shipment: Uuid) -> Result<Shipment, OrderError> {
        self.orders.retry_capture(id, shipment).await?;
        self.capture(Some(id)).await;
        self.shipment_of(id, shipment).await
    }

    /// Captures the pending shipments of one order (or, with `None`, those of any order pending
    /// for half a minute), in shipment order, each with its own key: a retry never captures
    /// twice. The provider's refusal fails the capture and flags the order; no answer leaves it
    /// pending, and the order's later captures wait behind it.
    async fn capture(&self, order: Option<Uuid>) {
        let due = match self.orders.captures_due(order, if order.is_some() { 0 } else { 30 }, 20).await {
            Ok(d) => d,
            Err(e) => return tracing::warn!(error = %e, "could not read the pending captures"),
        };
        let mut waiting: Vec<Uuid> = Vec::new();
        for c in due {
            if waiting.contains(&c.order_id) {
                continue;
            }
            let settled = match self.gateway.capture(&c.payment_id, c.amount, c.final_capture, &c.provider_key).await {
                Ok(()) => Ok(()),
                Err(PaymentError::Rejected(why)) => Err(why),
                Err(e) => {
                    tracing::warn!(order_id = %c.order_id, shipment_id = %c.shipment_id, error = %e, "capture not confirmed; will retry");
                    self.observer.capture_finished("retry", c.amount.amount_minor);
                    waiting.push(c.order_id);
                    continue;
                }
            };
            if let Err(why) = &settled {
                tracing::error!(order_id = %c.order_id, shipment_id = %c.shipment_id, reason = why.as_str(),
                    "the provider refused a capture: the order is flagged for an admin");
            }
            self.observer.capture_finished(if settled.is_ok() { "captured" } else { "failed" }, c.amount.amount_minor);
            if let Err(e) = self.orders.settle_capture(c.shipment_id, settled).await {
                tracing::warn!(shipment_id = %c.shipment_id, error = %e, "could not record the capture's outcome; will retry");
                waiting.push(c.order_id);
            }
        }
    }

    /// Refunds everything left of an order (the order moves to `refunded`; its units go back to
    /// stock if it never shipped).
    async fn refund_rest(&self, id: Uuid, actor: Option<Uuid>) -> Result<Order, OrderError> {
        let call = RefundCall {
            key: format!("rest-{}", Uuid::now_v7()),
            request_hash: Vec::new(),
            ask: RefundAsk::Rest,
            actor,
        };
        self.record_refund(id, call).await?;
        self.orders.get(id).await?.ok_or(OrderError::NotFound)
    }

    /// Records a refund and pays it out; the refund as it stands afterwards (`pending` when the
    /// provider did not answer: the sweeper, or a retry with the same key, pays it later).
    async fn record_refund(&self, id: Uuid, call: RefundCall) -> Result<Refund, OrderError> {
        let out = self.orders.refund(id, call).await?;
        if !out.restocked_products.is_empty() {
            self.observer.stock_returned(&out.restocked_products).await;
        }
        if out.refund.status == RefundStatus::Pending {
            self.pay_out(Some(id)).await;
        }
        let mut order = self.orders.get(id).await?.ok_or(OrderError::NotFound)?;
        if out.closed_rest {
            // The refund restocked the last unshipped units: nothing more is captured.
            self.release_rest(&order).await;
            order = self.orders.get(id).await?.ok_or(OrderError::NotFound)?;
        }
        Ok(order.refunds.into_iter().find(|r| r.id == out.refund.id).unwrap_or(out.refund))
    }

    /// Admin refund of an amount or of chosen lines (and the shipping), exactly once per key.
    pub async fn refund(&self, actor: Uuid, id: Uuid, key: &str, req: RefundRequest) -> Result<Refund, OrderError> {
        let request_hash = Sha256::digest(serde_json::to_vec(&req).unwrap_or_default()).to_vec();
        let call = RefundCall { key: key.to_owned(), request_hash, ask: RefundAsk::Request(req), actor: Some(actor) };
        self.record_refund(id, call).await
    }

    /// Pays out the pending refunds of one order (or, with `None`, those of any order pending
    /// for half a minute), each with its own key: a retry is never paid twice. The provider's
    /// refusal fails the refund; no answer leaves it pending.
    async fn pay_out(&self, order: Option<Uuid>) {
        let due = match self.orders.pay_outs(order, if order.is_some() { 0 } else { 30 }, 20).await {
            Ok(d) => d,
            Err(e) => return tracing::warn!(error = %e, "could not read the pending refunds"),
        };
        for p in due {
            let result = self.gateway.refund(&p.payment_id, p.amount, &p.provider_key).await;
            let settled = match result {
                Ok(provider_id) => Ok(provider_id),
                Err(PaymentError::Rejected(why)) => Err(why),
                Err(e) => {
                    tracing::warn!(order_id = %p.order_id, refund_id = %p.refund_id, error = %e, "refund not confirmed; will retry");
                    self.observer.refund_finished("retry", p.amount.amount_minor);
                    continue;
                }
            };
            self.observer.refund_finished(if settled.is_ok() { "succeeded" } else { "failed" }, p.amount.amount_minor);
            if let Err(e) = self.orders.settle_refund(p.refund_id, settled).await {
                tracing::warn!(refund_id = %p.refund_id, error = %e, "could not record the refund's outcome; will retry");
            }
        }
    }

    /// The timeline of the user's own order (`None`: any order, for the admin view).
    pub async fn timeline(&self, user: Option<Uuid>, id: Uuid) -> Result<Vec<crate::TimelineEntry>, OrderError> {
        let order = match user {
            Some(u) => self.order_for(u, id).await?,
            None => self.get(id).await?,
        };
        Ok(crate::timeline(&order, &self.orders.history(id).await?))
    }

    // ---- returns ------------------------------------------------------------------------------

    /// A customer asks units of their delivered order back.
    pub async fn request_return(&self, user: Uuid, order: Uuid, req: &ReturnRequest) -> Result<Return, OrderError> {
        let ret = self.orders.request_return(order, user, req, self.cfg.return_window_days).await?;
        self.observer.return_step("requested");
        Ok(ret)
    }

    /// The customer withdraws a return of theirs before it is received.
    pub async fn withdraw_return(&self, user: Uuid, order: Uuid, id: Uuid) -> Result<Return, OrderError> {
        let step = ReturnStep { actor: Some(user), owner: Some(user), order: Some(order), ..Default::default() };
        Ok(self.orders.return_step(id, ReturnEvent::Withdraw, step).await?.ret)
    }

    /// The merchant's step of a return: approve, reject (with a note), receive (restocking all
    /// but `no_restock`), refund (its units, at their price in the order, paid out at once).
    pub async fn return_step(
        &self,
        actor: Uuid,
        id: Uuid,
        event: ReturnEvent,
        step: ReturnStep,
    ) -> Result<Return, OrderError> {
        let out = self.orders.return_step(id, event, ReturnStep { actor: Some(actor), owner: None, ..step }).await?;
        if !out.restocked_products.is_empty() {
            self.observer.stock_returned(&out.restocked_products).await;
        }
        self.observer.return_step(event.verb());
        if out.refund.is_some() {
            self.pay_out(Some(out.ret.order_id)).await;
        }
        Ok(out.ret)
    }

    // ---- customer -----------------------------------------------------------------------------

    /// The user's own order; another user's order is `NotFound`.
    pub async fn order_for(&self, user: Uuid, id: Uuid) -> Result<Order, OrderError> {
        self.orders.get(id).await?.filter(|o| o.user_id == user).ok_or(OrderError::NotFound)
    }

    pub async fn list(&self, f: &OrderFilter) -> Result<Page<Order>, OrderError> {
        let rows = self.orders.list(f).await?;
        Ok(Page::cut(rows, f.page.limit, |o| (CursorTime(o.created_at), o.id)))
    }

    /// Customer cancellation (before shipping): restock, and refund if paid.
    pub async fn cancel_own(&self, user: Uuid, id: Uuid) -> Result<Order, OrderError> {
        let data = TransitionData { actor: Some(user), owner: Some(user), ..Default::default() };
        self.transition(id, Event::Cancel, data).await
    }

    // ---- admin ----------------------------------------------------------------------------------

    pub async fn get(&self, id: Uuid) -> Result<Order, OrderError> {
        self.orders.get(id).await?.ok_or(OrderError::NotFound)
    }

    pub async fn admin_event(
        &self,
        actor: Uuid,
        id: Uuid,
        event: Event,
        shipment: Option<ShipmentRequest>,
    ) -> Result<Order, OrderError> {
        if let (Event::Ship | Event::ShipPart, Some(req)) = (event, shipment.clone()) {
            self.create_shipment(Some(actor), id, None, req).await?;
            return self.get(id).await;
        }
        let (carrier, tracking_number) =
            shipment.map(|s| (Some(s.carrier), Some(s.tracking_number))).unwrap_or_default();
        let data = TransitionData { actor: Some(actor), carrier, tracking_number, ..Default::default() };
        self.transition(id, event, data).await
    }

    // ---- payment provider ---------------------------------------------------------------------

    /// A verified webhook: applied once per event id.
    pub async fn payment_event(&self, notice: PaymentNotice) -> Result<(), OrderError> {
        let PaymentNotice { event_id, kind, target, payment_id, approved, reason } = notice;
        let order_id = match &target {
            PaymentRef::Order(id) => *id,
            PaymentRef::Payment(pid) => self.orders.order_id_by_payment(pid).await?.ok_or(OrderError::NotFound)?,
        };
        // An event about an earlier payment of an order paid again since (that payment was
        // cancelled) is acknowledged and changes nothing: `apply` compares under the row lock.
        let data = TransitionData {
            webhook_event: Some((event_id, kind)),
            payment_error: reason,
            payment_id,
            ..Default::default()
        };
        let event = if approved { Event::PaymentSucceeded } else { Event::PaymentFailed };
        match self.transition(order_id, event, data).await {
            Ok(_) => Ok(()),
            // The synchronous authorisation already settled it the same way: nothing to do.
            Err(OrderError::Illegal(_)) => {
                let status = self.get(order_id).await?.status;
                let settled = if approved { OrderStatus::Paid } else { OrderStatus::PaymentFailed };
                let waiting = matches!(status, OrderStatus::PendingPayment | OrderStatus::RequiresAction);
                if status == settled || (approved && !status.is_terminal() && !waiting) {
                    Ok(())
                } else {
                    Err(OrderError::Illegal(crate::state::IllegalTransition { from: status, event }))
                }
            }
            Err(e) => Err(e),
        }
    }

    // ---- background -----------------------------------------------------------------------------

    /// Cancels unpaid orders past their deadline (restocking them) and retries unconfirmed
    /// refunds and captures.
    /// Safe to run on every instance at once: each transition re-checks the status under lock.
    pub async fn sweep(&self) -> Result<usize, OrderError> {
        let mut done = 0;
        for id in self.orders.due_for_expiry(Utc::now(), 100).await? {
            match self.transition(id, Event::Expire, TransitionData::default()).await {
                Ok(_) => done += 1,
                Err(OrderError::Illegal(_)) => {} // paid or cancelled meanwhile
                Err(e) => return Err(e),
            }
        }
        self.pay_out(None).await;
        self.capture(None).await;
        let _ = self.orders.purge_expired_keys().await;
        Ok(done)
    }

    /// Runs `sweep` every `every` until the process ends.
    pub fn spawn_sweeper(self: Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match self.sweep().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(expired = n, "cancelled unpaid orders past their deadline"),
                    Err(e) => tracing::warn!(error = %e, "order sweep failed"),
                }
            }
        })
    }

    /// Waiting for the payment's outcome (202 at checkout).
    pub fn is_pending(order: &Order) -> bool {
        matches!(order.status, OrderStatus::PendingPayment | OrderStatus::RequiresAction)
    }
}

/// Runs a storage write until it succeeds (see [`primitives::retry_for`]), for about half a minute.
async fn retry_storage<F, Fut>(what: &'static str, write: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), OrderError>>,
{
    if let Err(e) = primitives::retry_for(Duration::from_secs(30), write).await {
        tracing::error!(error = %e, "could not {what}; a retry with the same key waits until the attempt counts as crashed");
    }
}

fn refusal_reason(r: &CheckoutRefusal) -> &'static str {
    match r {
        CheckoutRefusal::CartEmpty => "cart_empty",
        CheckoutRefusal::LinesUnavailable { .. } => "out_of_stock",
        CheckoutRefusal::UnknownShippingMethod => "unknown_shipping_method",
        CheckoutRefusal::NotShippable { .. } => "not_shippable",
        CheckoutRefusal::CurrencyMismatch => "currency_mismatch",
        CheckoutRefusal::Promotion { refusal: promotions::Refusal::LimitReached, .. } => "promotion_limit_reached",
        CheckoutRefusal::Promotion { .. } => "promotion_refused",
    }
}
