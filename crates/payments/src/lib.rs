//! Payment-gateway adapters implementing the [`orders::PaymentGateway`] port.
//!
//! - [`SandboxGateway`]: deterministic and in-process, the default in development and tests.
//! - [`StripeGateway`]: a Stripe-compatible HTTP client for the PaymentIntents API (authorize
//!   with automatic or manual capture, captures per shipment, refund), configured by [`StripeConfig`].
//!
//! # Sandbox test tokens
//!
//! The sandbox decides the outcome of `authorize` from [`AuthorizeRequest::payment_token`]:
//!
//! | token | outcome |
//! | --- | --- |
//! | `tok_visa`, or any token starting with `tok_ok` | `Approved { payment_id: "pi_sandbox_<uuid>" }` |
//! | `tok_declined` | `Declined { reason: "card_declined" }` |
//! | `tok_insufficient_funds` | `Declined { reason: "insufficient_funds" }` |
//! | `tok_capture_fail` | `Approved`; every later `capture` is `Rejected("capture_declined")` (capture at shipment failing) |
//! | `tok_3ds_success` | `ActionRequired` (3-D Secure); [`SandboxGateway::authenticate`] then makes it succeed |
//! | `tok_3ds_fail` | `ActionRequired`; the authentication then fails (`authentication_failed`) |
//! | `tok_3ds_abandon` | `ActionRequired`; the customer never authenticates (the order expires, the payment is cancelled) |
//! | `tok_timeout` | waits for the configured timeout (default 2 s, see [`SandboxGateway::with_timeout`]), then `Err(PaymentError::Timeout)` |
//! | anything else | `Err(PaymentError::Rejected("unknown test token"))` |
//!
//! A payment approved without capture (`AuthorizeRequest::capture == false`) is remembered as
//! authorised: `cancel` releases it (then `capture` is refused). `capture` succeeds and `refund` returns `re_sandbox_<uuid>` for any payment id of the sandbox
//! form `pi_sandbox_<32 hex digits>` (checked by shape, so ids survive a dev-server restart); other
//! ids are `Rejected("unknown payment id")`. Amounts must be positive.
//!
//! Idempotency, as with a real provider: a repeated call with the same idempotency key and the
//! same parameters returns the stored result (the same payment or refund id, the same decline);
//! the same key with different parameters is `Rejected`. Only answered calls are stored (approved,
//! declined, captured, refunded), never timeouts or rejections. The store is in memory and bounded
//! (10 000 keys per operation by default; the oldest are forgotten first).
//!
//! # Stripe adapter
//!
//! Requests are form-encoded `POST`s with `Authorization: Bearer <secret key>` and the caller's
//! `Idempotency-Key`. HTTP 402 is a decline (reason from `error.decline_code`, else `error.code`);
//! other 4xx are `Rejected`; 5xx, 429 and connection errors are retried with exponential backoff
//! (100 ms, 200 ms, … up to `max_retries`) with the same idempotency key, then `Unavailable`;
//! request timeouts are retried likewise, then `Timeout`. The secret key is never logged nor
//! printed by `Debug`.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use orders::PaymentGateway;
//! use payments::{SandboxGateway, StripeConfig, StripeGateway};
//!
//! let sandbox: Arc<dyn PaymentGateway> = Arc::new(SandboxGateway::new().with_timeout(Duration::from_millis(50)));
//! let stripe: Arc<dyn PaymentGateway> =
//!     Arc::new(StripeGateway::new(StripeConfig::new("sk_test_example")).expect("valid configuration"));
//! # let _ = (sandbox, stripe);
//! ```

mod bounded;
mod sandbox;
mod stripe;

pub use orders::{Authorization, AuthorizeRequest, PaymentAction, PaymentError, PaymentGateway, PaymentState};
pub use sandbox::{
    AuthenticateError, SANDBOX_DEFAULT_IDEMPOTENCY_CAPACITY, SANDBOX_DEFAULT_TIMEOUT, SANDBOX_PAYMENT_PREFIX,
    SANDBOX_REFUND_PREFIX, SandboxGateway, is_sandbox_payment_id,
};
pub use stripe::{
    STRIPE_API_BASE, STRIPE_DEFAULT_INITIAL_BACKOFF, STRIPE_DEFAULT_MAX_RETRIES, STRIPE_DEFAULT_TIMEOUT, StripeConfig,
    StripeConfigError, StripeGateway,
};
