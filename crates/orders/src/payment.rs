//! The payment-gateway port. Adapters live in the `payments` crate (a deterministic sandbox and a
//! Stripe-compatible HTTP client). Every call carries an idempotency key that the adapter passes
//! to the provider, so a retried call never charges twice.

use primitives::Money;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub order_id: Uuid,
    pub amount: Money,
    /// The payment method token the frontend got from the provider's client library.
    pub payment_token: String,
    /// Passed through to the provider (derived from the order, so retries reuse it).
    pub idempotency_key: String,
    /// Take the money now (an approval is a charge), or only reserve it for a later `capture`.
    pub capture: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Authorization {
    /// Funds reserved; `payment_id` identifies the payment at the provider.
    Approved { payment_id: String },
    /// The provider refused (card declined, insufficient funds, …).
    Declined { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// No answer in time: the outcome is unknown (a webhook or the expiry job settles it).
    #[error("payment provider timed out")]
    Timeout,
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
    /// The provider rejected the request itself (bad token format, unknown payment).
    #[error("payment request rejected: {0}")]
    Rejected(String),
}

#[async_trait::async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    /// Reserves `amount` on the payment method.
    async fn authorize(&self, req: &AuthorizeRequest) -> Result<Authorization, PaymentError>;
    /// Captures a previously authorised payment (in full).
    async fn capture(&self, payment_id: &str, amount: Money, idempotency_key: &str) -> Result<(), PaymentError>;
    /// Refunds `amount` of a captured or authorised payment; returns the provider's refund id.
    async fn refund(&self, payment_id: &str, amount: Money, idempotency_key: &str) -> Result<String, PaymentError>;
}
