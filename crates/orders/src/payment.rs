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
    /// The customer has to authenticate (3-D Secure) before the provider decides; the outcome
    /// arrives by webhook, or by asking the provider ([`PaymentGateway::retrieve`]).
    ActionRequired { payment_id: String, action: PaymentAction },
}

/// What the client needs to let the customer authenticate a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentAction {
    /// For the provider's client library (Stripe.js `handleNextAction`).
    pub client_secret: String,
    /// Where to send the customer without the library: the provider's authentication page (in
    /// the sandbox, the endpoint that plays the customer's authentication).
    pub redirect_url: Option<String>,
}

/// What the provider says of a payment now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentState {
    Succeeded,
    /// Declined, or the authentication failed.
    Failed {
        reason: String,
    },
    /// Still waiting for the customer's authentication.
    RequiresAction,
    /// Decided soon (a webhook follows).
    Processing,
    Canceled,
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
    /// Captures `amount` of a payment authorised without capture (one capture per shipment).
    /// `final_capture`: the last one; the provider releases whatever is not captured.
    async fn capture(
        &self,
        payment_id: &str,
        amount: Money,
        final_capture: bool,
        idempotency_key: &str,
    ) -> Result<(), PaymentError>;
    /// Refunds `amount` of a captured or authorised payment; returns the provider's refund id.
    async fn refund(&self, payment_id: &str, amount: Money, idempotency_key: &str) -> Result<String, PaymentError>;
    /// Asks the provider where a payment stands (never trusts the client).
    async fn retrieve(&self, payment_id: &str) -> Result<PaymentState, PaymentError>;
    /// Cancels a payment not completed yet (an abandoned authentication), so it can never
    /// complete; `Rejected` when it has completed meanwhile. Of a payment authorised without
    /// capture, it releases what is not captured (the order will not ship whole).
    async fn cancel(&self, payment_id: &str, idempotency_key: &str) -> Result<(), PaymentError>;
}
