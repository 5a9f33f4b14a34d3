//! The deterministic in-process gateway used in development and tests. See the crate docs for the
//! test tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use orders::{Authorization, AuthorizeRequest, PaymentAction, PaymentError, PaymentGateway, PaymentState};
use primitives::Money;
use primitives::cache::Cache;
use uuid::Uuid;

use crate::bounded::BoundedMap;

/// How long `tok_timeout` waits before giving up, unless configured otherwise.
pub const SANDBOX_DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// How many idempotency keys per operation the sandbox remembers before forgetting the oldest.
pub const SANDBOX_DEFAULT_IDEMPOTENCY_CAPACITY: usize = 10_000;

/// Prefix of the payment ids the sandbox issues (`pi_sandbox_` + a simple-format UUID).
pub const SANDBOX_PAYMENT_PREFIX: &str = "pi_sandbox_";
/// Prefix of the refund ids the sandbox issues (`re_sandbox_` + a simple-format UUID).
pub const SANDBOX_REFUND_PREFIX: &str = "re_sandbox_";

/// A stored outcome together with a fingerprint of the request that produced it, so a key reused
/// for a different request is refused (as real providers do) rather than answered with someone
/// else's result.
#[derive(Debug)]
struct Stored<T> {
    fingerprint: String,
    result: T,
}

#[derive(Debug)]
struct State {
    authorizations: BoundedMap<String, Stored<Authorization>>,
    captures: BoundedMap<String, Stored<()>>,
    refunds: BoundedMap<String, Stored<String>>,
}

/// A payment gateway that never leaves the process: outcomes are decided by the test token.
///
/// Cheap to share behind an `Arc`; all state is an in-memory, bounded idempotency cache.
pub struct SandboxGateway {
    timeout: Duration,
    state: Mutex<State>,
    /// Where the payments waiting for authentication are kept: a shared cache, so every
    /// instance sees the customer's authentication; in process memory without one.
    store: Option<Arc<dyn Cache>>,
    local: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for SandboxGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxGateway")
            .field("timeout", &self.timeout)
            .field("shared_store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

/// How long the sandbox remembers a payment waiting for authentication.
const ACTION_TTL: Duration = Duration::from_secs(24 * 3600);

/// Why the sandbox's authentication page refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthenticateError {
    #[error("no payment of this sandbox waits for authentication under this id")]
    UnknownPayment,
    /// `tok_3ds_abandon`: the customer never completes it (the order expires).
    #[error("this payment's customer never completes the authentication")]
    Abandoned,
}

impl Default for SandboxGateway {
    fn default() -> Self {
        Self::new()
    }
}

impl SandboxGateway {
    /// A sandbox with the default `tok_timeout` delay (2 s) and idempotency capacity.
    pub fn new() -> Self {
        Self::with_settings(SANDBOX_DEFAULT_TIMEOUT, SANDBOX_DEFAULT_IDEMPOTENCY_CAPACITY)
    }

    /// Sets how long `tok_timeout` waits before returning [`PaymentError::Timeout`].
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// Sets how many idempotency keys are remembered per operation (at least 1).
    pub fn with_idempotency_capacity(self, capacity: usize) -> Self {
        Self { store: self.store.clone(), ..Self::with_settings(self.timeout, capacity) }
    }

    /// Keeps the payments waiting for authentication in `store` (shared by the instances).
    pub fn with_store(self, store: Arc<dyn Cache>) -> Self {
        Self { store: Some(store), ..self }
    }

    async fn load(&self, payment_id: &str) -> Option<String> {
        if let Some(store) = &self.store
            && let Ok(Some(v)) = store.get(&action_key(payment_id)).await
        {
            return String::from_utf8(v).ok();
        }
        self.local.lock().unwrap_or_else(|p| p.into_inner()).get(payment_id).cloned()
    }

    async fn save(&self, payment_id: &str, state: &str) {
        self.local.lock().unwrap_or_else(|p| p.into_inner()).insert(payment_id.to_owned(), state.to_owned());
        if let Some(store) = &self.store {
            let _ = store.set(&action_key(payment_id), state.as_bytes(), ACTION_TTL).await;
        }
    }

    /// Plays the customer's authentication of a payment waiting for it (what the bank's page
    /// does): `tok_3ds_success` succeeds, `tok_3ds_fail` fails, `tok_3ds_abandon` never
    /// completes. Repeating it answers the same. The sandbox sends no webhook: the client's
    /// confirm call (or a webhook posted by hand) settles the order.
    pub async fn authenticate(&self, payment_id: &str) -> Result<PaymentState, AuthenticateError> {
        let state = self.load(payment_id).await.ok_or(AuthenticateError::UnknownPayment)?;
        let next = match state.as_str() {
            "action:succeed" => "succeeded",
            "action:fail" => "failed",
            "action:abandon" => return Err(AuthenticateError::Abandoned),
            decided => decided,
        };
        self.save(payment_id, next).await;
        Ok(decoded_state(next))
    }

    fn with_settings(timeout: Duration, capacity: usize) -> Self {
        Self {
            timeout,
            state: Mutex::new(State {
                authorizations: BoundedMap::new(capacity),
                captures: BoundedMap::new(capacity),
                refunds: BoundedMap::new(capacity),
            }),
            store: None,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// The simulated provider timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The lock is never held across an await or a panic-prone call; recover if it ever is.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether `id` has the shape of a payment id this sandbox issues. Deliberately stateless, so a
/// payment authorised before a dev-server restart can still be captured or refunded after it.
pub fn is_sandbox_payment_id(id: &str) -> bool {
    id.strip_prefix(SANDBOX_PAYMENT_PREFIX)
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

fn action_key(payment_id: &str) -> String {
    format!("sandbox:payment:{payment_id}")
}

fn decoded_state(state: &str) -> PaymentState {
    match state {
        // Charged, or authorised for captures at shipment (released: its rest let go).
        "succeeded" | "authorized" | "capture_fail" | "released" => PaymentState::Succeeded,
        "failed" => PaymentState::Failed { reason: "authentication_failed".into() },
        "canceled" => PaymentState::Canceled,
        _ => PaymentState::RequiresAction,
    }
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", Uuid::new_v4().simple())
}

fn key_reused() -> PaymentError {
    PaymentError::Rejected("idempotency key reused with different parameters".into())
}

fn check_amount(amount: Money) -> Result<(), PaymentError> {
    if amount.amount_minor > 0 { Ok(()) } else { Err(PaymentError::Rejected("amount must be positive".into())) }
}

fn money_fingerprint(amount: Money) -> String {
    format!("{}|{}", amount.amount_minor, amount.currency)
}

/// Returns the stored result for `key`, or `None` if the key is new. Errors if the key was used
/// for a different request.
fn replay<T: Clone>(
    map: &BoundedMap<String, Stored<T>>,
    key: &str,
    fingerprint: &str,
) -> Option<Result<T, PaymentError>> {
    map.get(key)
        .map(|stored| if stored.fingerprint == fingerprint { Ok(stored.result.clone()) } else { Err(key_reused()) })
}

/// Stores `result` under `key` unless a concurrent call got there first, and returns what is
/// stored (so racing calls with one key agree on one outcome).
fn remember<T: Clone>(
    map: &mut BoundedMap<String, Stored<T>>,
    key: &str,
    fingerprint: String,
    result: T,
) -> Result<T, PaymentError> {
    let stored = map.get_or_insert(key.to_owned(), Stored { fingerprint: fingerprint.clone(), result });
    if stored.fingerprint == fingerprint { Ok(stored.result.clone()) } else { Err(key_reused()) }
}

#[async_trait::async_trait]
impl PaymentGateway for SandboxGateway {
    async fn authorize(&self, req: &AuthorizeRequest) -> Result<Authorization, PaymentError> {
        let fingerprint =
            format!("{}|{}|{}", req.payment_token, money_fingerprint(req.amount), req.order_id.as_simple());
        if let Some(previous) = replay(&self.state().authorizations, &req.idempotency_key, &fingerprint) {
            return previous;
        }
        check_amount(req.amount)?;
        let outcome = match req.payment_token.as_str() {
            "tok_visa" | "tok_capture_fail" => {
                let payment_id = new_id(SANDBOX_PAYMENT_PREFIX);
                if req.payment_token == "tok_capture_fail" {
                    self.save(&payment_id, "capture_fail").await;
                } else if !req.capture {
                    self.save(&payment_id, "authorized").await;
                }
                Authorization::Approved { payment_id }
            }
            token if token.starts_with("tok_ok") => {
                Authorization::Approved { payment_id: new_id(SANDBOX_PAYMENT_PREFIX) }
            }
            "tok_3ds_success" | "tok_3ds_fail" | "tok_3ds_abandon" => {
                let payment_id = new_id(SANDBOX_PAYMENT_PREFIX);
                let kind = req.payment_token.trim_start_matches("tok_3ds_").replace("success", "succeed");
                self.save(&payment_id, &format!("action:{kind}")).await;
                let action = PaymentAction {
                    client_secret: format!("{payment_id}_secret_{}", Uuid::new_v4().simple()),
                    redirect_url: Some(format!("/api/v1/sandbox/payments/{payment_id}/authenticate")),
                };
                Authorization::ActionRequired { payment_id, action }
            }
            "tok_declined" => Authorization::Declined { reason: "card_declined".into() },
            "tok_insufficient_funds" => Authorization::Declined { reason: "insufficient_funds".into() },
            "tok_timeout" => {
                // A provider that never answers: nothing is recorded, so a retry times out again.
                tokio::time::sleep(self.timeout).await;
                return Err(PaymentError::Timeout);
            }
            _ => return Err(PaymentError::Rejected("unknown test token".into())),
        };
        tracing::debug!(order_id = %req.order_id, ?outcome, "sandbox authorization");
        remember(&mut self.state().authorizations, &req.idempotency_key, fingerprint, outcome)
    }

    async fn capture(
        &self,
        payment_id: &str,
        amount: Money,
        final_capture: bool,
        idempotency_key: &str,
    ) -> Result<(), PaymentError> {
        let fingerprint = format!("{payment_id}|{}|{final_capture}", money_fingerprint(amount));
        if let Some(previous) = replay(&self.state().captures, idempotency_key, &fingerprint) {
            return previous;
        }
        if !is_sandbox_payment_id(payment_id) {
            return Err(PaymentError::Rejected("unknown payment id".into()));
        }
        check_amount(amount)?;
        match self.load(payment_id).await.as_deref() {
            Some("capture_fail") => return Err(PaymentError::Rejected("capture_declined".into())),
            Some("released" | "canceled") => return Err(PaymentError::Rejected("the payment was released".into())),
            _ => {}
        }
        tracing::debug!(payment_id, "sandbox capture");
        remember(&mut self.state().captures, idempotency_key, fingerprint, ())
    }

    async fn refund(&self, payment_id: &str, amount: Money, idempotency_key: &str) -> Result<String, PaymentError> {
        let fingerprint = format!("{payment_id}|{}", money_fingerprint(amount));
        if let Some(previous) = replay(&self.state().refunds, idempotency_key, &fingerprint) {
            return previous;
        }
        if !is_sandbox_payment_id(payment_id) {
            return Err(PaymentError::Rejected("unknown payment id".into()));
        }
        check_amount(amount)?;
        let refund_id = new_id(SANDBOX_REFUND_PREFIX);
        tracing::debug!(payment_id, refund_id, "sandbox refund");
        remember(&mut self.state().refunds, idempotency_key, fingerprint, refund_id)
    }

    async fn retrieve(&self, payment_id: &str) -> Result<PaymentState, PaymentError> {
        if !is_sandbox_payment_id(payment_id) {
            return Err(PaymentError::Rejected("unknown payment id".into()));
        }
        // A payment the sandbox has no record of was approved at once (`tok_visa`).
        Ok(self.load(payment_id).await.map_or(PaymentState::Succeeded, |s| decoded_state(&s)))
    }

    async fn cancel(&self, payment_id: &str, _idempotency_key: &str) -> Result<(), PaymentError> {
        if !is_sandbox_payment_id(payment_id) {
            return Err(PaymentError::Rejected("unknown payment id".into()));
        }
        match self.load(payment_id).await.as_deref() {
            Some(s) if s.starts_with("action:") => {
                self.save(payment_id, "canceled").await;
                Ok(())
            }
            // Authorised for captures at shipment: what is not captured is let go.
            Some("authorized" | "capture_fail") => {
                self.save(payment_id, "released").await;
                Ok(())
            }
            Some("canceled" | "failed" | "released") => Ok(()),
            _ => Err(PaymentError::Rejected("the payment has succeeded; refund it instead".into())),
        }
    }
}
