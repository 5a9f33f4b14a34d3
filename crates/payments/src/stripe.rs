//! A Stripe-compatible adapter for the PaymentIntents API (manual capture).
//!
//! Every call is a form-encoded `POST` carrying `Authorization: Bearer <secret key>` and the
//! caller's `Idempotency-Key`. Transient failures (connection errors, timeouts, HTTP 5xx and 429)
//! are retried with exponential backoff using the same key, so the provider performs the operation
//! at most once.

use std::fmt;
use std::time::Duration;

use orders::{Authorization, AuthorizeRequest, PaymentAction, PaymentError, PaymentGateway, PaymentState};
use primitives::Money;
use reqwest::{StatusCode, Url};
use serde::Deserialize;

/// The production API origin.
pub const STRIPE_API_BASE: &str = "https://api.stripe.com";
/// Default per-request timeout (connect, send and read the whole response).
pub const STRIPE_DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default number of retries after the first attempt.
pub const STRIPE_DEFAULT_MAX_RETRIES: u32 = 2;
/// Delay before the first retry; it doubles on each further retry.
pub const STRIPE_DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Connection settings. `Debug` never prints the secret key.
#[derive(Clone, PartialEq, Eq)]
pub struct StripeConfig {
    /// API origin without a trailing path, e.g. `https://api.stripe.com` (tests point it at a
    /// local fake).
    pub base_url: String,
    /// The secret API key (`sk_live_…` / `sk_test_…`).
    pub secret_key: String,
    /// Timeout of one HTTP attempt.
    pub timeout: Duration,
    /// Retries after the first attempt for transient failures.
    pub max_retries: u32,
}

impl StripeConfig {
    /// The production base URL with default timeout (10 s) and retries (2).
    pub fn new(secret_key: impl Into<String>) -> Self {
        Self {
            base_url: STRIPE_API_BASE.to_owned(),
            secret_key: secret_key.into(),
            timeout: STRIPE_DEFAULT_TIMEOUT,
            max_retries: STRIPE_DEFAULT_MAX_RETRIES,
        }
    }
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("base_url", &self.base_url)
            .field("secret_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// Why a [`StripeGateway`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeConfigError {
    #[error("the payment provider secret key is empty")]
    MissingSecretKey,
    #[error("invalid payment provider base url {url:?}: {reason}")]
    InvalidBaseUrl { url: String, reason: String },
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}

/// The HTTP adapter. Build once and share (it holds a connection pool).
pub struct StripeGateway {
    client: reqwest::Client,
    base_url: String,
    secret_key: String,
    max_retries: u32,
    initial_backoff: Duration,
    return_url: Option<String>,
}

impl fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeGateway")
            .field("base_url", &self.base_url)
            .field("secret_key", &"<redacted>")
            .field("max_retries", &self.max_retries)
            .field("initial_backoff", &self.initial_backoff)
            .finish_non_exhaustive()
    }
}

impl StripeGateway {
    pub fn new(config: StripeConfig) -> Result<Self, StripeConfigError> {
        if config.secret_key.trim().is_empty() {
            return Err(StripeConfigError::MissingSecretKey);
        }
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        let invalid = |reason: String| StripeConfigError::InvalidBaseUrl { url: config.base_url.clone(), reason };
        let parsed = Url::parse(&base_url).map_err(|e| invalid(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https".into()));
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("shop-payments/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StripeConfigError::Client(error_chain(&e)))?;
        Ok(Self {
            client,
            base_url,
            secret_key: config.secret_key,
            max_retries: config.max_retries,
            initial_backoff: STRIPE_DEFAULT_INITIAL_BACKOFF,
            return_url: None,
        })
    }

    /// Where the provider sends the customer back after a redirect-based authentication (the
    /// storefront's page). Without it, redirect-based methods are not offered; cards needing
    /// 3-D Secure still get `ActionRequired` (the client library authenticates in place).
    pub fn with_return_url(self, return_url: Option<String>) -> Self {
        Self { return_url: return_url.filter(|u| !u.trim().is_empty()), ..self }
    }

    /// Overrides the delay before the first retry (default 100 ms, doubling each retry).
    pub fn with_initial_backoff(self, initial_backoff: Duration) -> Self {
        Self { initial_backoff, ..self }
    }

    fn backoff(&self, retry: u32) -> Duration {
        self.initial_backoff.saturating_mul(1u32 << retry.min(16)).min(MAX_BACKOFF)
    }

    /// Sends one form-encoded POST, retrying transient failures with the same idempotency key.
    /// Returns the final non-retryable response (any 2xx, or a 4xx other than 429).
    async fn post_form(
        &self,
        op: &'static str,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: &str,
    ) -> Result<(StatusCode, String), PaymentError> {
        self.send(op, path, Some((form, idempotency_key))).await
    }

    /// A POST with its form and idempotency key, or a GET without (`None`), retried alike.
    async fn send(
        &self,
        op: &'static str,
        path: &str,
        post: Option<(&[(&str, String)], &str)>,
    ) -> Result<(StatusCode, String), PaymentError> {
        let url = format!("{}{path}", self.base_url);
        let mut retry = 0;
        loop {
            let request = match post {
                Some((form, key)) => self.client.post(&url).header("Idempotency-Key", key).form(form),
                None => self.client.get(&url),
            };
            let sent = request.bearer_auth(&self.secret_key).send().await;
            let error = match sent {
                Ok(response) => {
                    let status = response.status();
                    match response.text().await {
                        Ok(body) if is_transient(status) => {
                            PaymentError::Unavailable(format!("HTTP {status}: {}", error_summary(&body)))
                        }
                        Ok(body) => return Ok((status, body)),
                        Err(e) => transport_error(&e),
                    }
                }
                Err(e) => transport_error(&e),
            };
            if retry >= self.max_retries {
                tracing::warn!(op, attempts = retry + 1, %error, "payment provider call failed");
                return Err(error);
            }
            let delay = self.backoff(retry);
            tracing::warn!(op, attempt = retry + 1, ?delay, %error, "payment provider call failed; retrying");
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }
}

fn is_transient(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

fn transport_error(e: &reqwest::Error) -> PaymentError {
    if e.is_timeout() { PaymentError::Timeout } else { PaymentError::Unavailable(error_chain(e)) }
}

/// `e` and its sources, since reqwest's own message ("error sending request") hides the cause.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[derive(Debug, Deserialize)]
struct ApiError {
    code: Option<String>,
    decline_code: Option<String>,
    message: Option<String>,
}

impl ApiError {
    fn parse(body: &str) -> Option<ApiError> {
        #[derive(Deserialize)]
        struct Envelope {
            error: ApiError,
        }
        serde_json::from_str::<Envelope>(body).ok().map(|e| e.error)
    }

    fn decline_reason(&self) -> Option<String> {
        self.decline_code.clone().or_else(|| self.code.clone())
    }
}

/// A short description of an error response: `code: message`, or the start of a non-JSON body.
fn error_summary(body: &str) -> String {
    match ApiError::parse(body) {
        Some(ApiError { code, message, .. }) => match (code, message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(text), None) | (None, Some(text)) => text,
            (None, None) => "no error details".into(),
        },
        None => body.chars().take(200).collect(),
    }
}

fn rejected(status: StatusCode, body: &str) -> PaymentError {
    PaymentError::Rejected(format!("HTTP {status}: {}", error_summary(body)))
}

fn unexpected_body(e: &serde_json::Error) -> PaymentError {
    PaymentError::Unavailable(format!("unexpected response from the payment provider: {e}"))
}

/// Ids go into URL paths: accept only the provider's id alphabet.
fn check_id(payment_id: &str) -> Result<(), PaymentError> {
    if !payment_id.is_empty() && payment_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(())
    } else {
        Err(PaymentError::Rejected("invalid payment id".into()))
    }
}

fn check_amount(amount: Money) -> Result<(), PaymentError> {
    if amount.amount_minor > 0 { Ok(()) } else { Err(PaymentError::Rejected("amount must be positive".into())) }
}

#[derive(Debug, Deserialize)]
struct PaymentIntent {
    id: String,
    status: String,
    last_payment_error: Option<ApiError>,
    client_secret: Option<String>,
    next_action: Option<NextAction>,
}

#[derive(Debug, Deserialize)]
struct NextAction {
    redirect_to_url: Option<RedirectToUrl>,
}

#[derive(Debug, Deserialize)]
struct RedirectToUrl {
    url: Option<String>,
}

impl PaymentIntent {
    fn failure(&self) -> String {
        self.last_payment_error.as_ref().and_then(ApiError::decline_reason).unwrap_or_else(|| "payment_failed".into())
    }
}

#[derive(Debug, Deserialize)]
struct Refund {
    id: String,
    status: Option<String>,
    failure_reason: Option<String>,
}

#[async_trait::async_trait]
impl PaymentGateway for StripeGateway {
    async fn authorize(&self, req: &AuthorizeRequest) -> Result<Authorization, PaymentError> {
        check_amount(req.amount)?;
        let mut form = vec![
            ("amount", req.amount.amount_minor.to_string()),
            ("currency", req.amount.currency.as_str().to_ascii_lowercase()),
            ("payment_method", req.payment_token.clone()),
            ("confirm", "true".to_owned()),
            ("capture_method", if req.capture { "automatic" } else { "manual" }.to_owned()),
            ("automatic_payment_methods[enabled]", "true".to_owned()),
            ("metadata[order_id]", req.order_id.to_string()),
        ];
        if !req.capture {
            // One capture per shipment (Stripe's multicapture, where the card and account
            // allow it; otherwise the first capture is the last, docs/orders.md).
            form.push(("payment_method_options[card][request_multicapture]", "if_available".to_owned()));
        }
        match &self.return_url {
            Some(url) => form.push(("return_url", url.clone())),
            // Confirming server-side without a return_url: no redirect-based methods (cards
            // needing 3-D Secure still answer `requires_action`).
            None => form.push(("automatic_payment_methods[allow_redirects]", "never".to_owned())),
        }
        let (status, body) = self.post_form("authorize", "/v1/payment_intents", &form, &req.idempotency_key).await?;
        if status == StatusCode::PAYMENT_REQUIRED {
            let reason =
                ApiError::parse(&body).and_then(|e| e.decline_reason()).unwrap_or_else(|| "card_declined".into());
            tracing::info!(order_id = %req.order_id, reason, "payment declined");
            return Ok(Authorization::Declined { reason });
        }
        if !status.is_success() {
            return Err(rejected(status, &body));
        }
        let intent: PaymentIntent = serde_json::from_str(&body).map_err(|e| unexpected_body(&e))?;
        tracing::info!(order_id = %req.order_id, payment_id = intent.id, status = intent.status, "payment intent");
        match intent.status.as_str() {
            "requires_capture" | "succeeded" => Ok(Authorization::Approved { payment_id: intent.id }),
            // 3-D Secure and similar: the customer authenticates, the outcome comes later.
            "requires_action" => {
                let client_secret = intent
                    .client_secret
                    .clone()
                    .ok_or_else(|| PaymentError::Unavailable("requires_action without a client_secret".into()))?;
                let redirect_url = intent.next_action.and_then(|a| a.redirect_to_url).and_then(|r| r.url);
                Ok(Authorization::ActionRequired {
                    payment_id: intent.id,
                    action: PaymentAction { client_secret, redirect_url },
                })
            }
            "requires_payment_method" => Ok(Authorization::Declined { reason: intent.failure() }),
            "canceled" => Ok(Authorization::Declined { reason: "canceled".into() }),
            // Outcome not known yet; a webhook settles it.
            "processing" => Err(PaymentError::Timeout),
            other => Err(PaymentError::Rejected(format!("unexpected payment intent status {other}"))),
        }
    }

    async fn capture(
        &self,
        payment_id: &str,
        amount: Money,
        final_capture: bool,
        idempotency_key: &str,
    ) -> Result<(), PaymentError> {
        check_id(payment_id)?;
        check_amount(amount)?;
        let path = format!("/v1/payment_intents/{payment_id}/capture");
        let form = [
            ("amount_to_capture", amount.amount_minor.to_string()),
            // Not final: the rest stays authorised for the next shipment.
            ("final_capture", final_capture.to_string()),
        ];
        let (status, body) = self.post_form("capture", &path, &form, idempotency_key).await?;
        if !status.is_success() {
            return Err(rejected(status, &body));
        }
        tracing::info!(payment_id, amount = amount.amount_minor, final_capture, "payment captured");
        Ok(())
    }

    async fn refund(&self, payment_id: &str, amount: Money, idempotency_key: &str) -> Result<String, PaymentError> {
        check_id(payment_id)?;
        check_amount(amount)?;
        let form = [("payment_intent", payment_id.to_owned()), ("amount", amount.amount_minor.to_string())];
        let (status, body) = self.post_form("refund", "/v1/refunds", &form, idempotency_key).await?;
        if !status.is_success() {
            return Err(rejected(status, &body));
        }
        let refund: Refund = serde_json::from_str(&body).map_err(|e| unexpected_body(&e))?;
        if matches!(refund.status.as_deref(), Some("failed" | "canceled")) {
            let reason = refund.failure_reason.unwrap_or_else(|| "unknown".into());
            return Err(PaymentError::Rejected(format!("refund {} failed: {reason}", refund.id)));
        }
        tracing::info!(payment_id, refund_id = refund.id, "payment refunded");
        Ok(refund.id)
    }

    async fn retrieve(&self, payment_id: &str) -> Result<PaymentState, PaymentError> {
        check_id(payment_id)?;
        let (status, body) = self.send("retrieve", &format!("/v1/payment_intents/{payment_id}"), None).await?;
        if !status.is_success() {
            return Err(rejected(status, &body));
        }
        let intent: PaymentIntent = serde_json::from_str(&body).map_err(|e| unexpected_body(&e))?;
        Ok(match intent.status.as_str() {
            "succeeded" | "requires_capture" => PaymentState::Succeeded,
            "requires_action" | "requires_confirmation" => PaymentState::RequiresAction,
            "requires_payment_method" => PaymentState::Failed { reason: intent.failure() },
            "canceled" => PaymentState::Canceled,
            _ => PaymentState::Processing,
        })
    }

    async fn cancel(&self, payment_id: &str, idempotency_key: &str) -> Result<(), PaymentError> {
        check_id(payment_id)?;
        let path = format!("/v1/payment_intents/{payment_id}/cancel");
        let (status, body) = self.post_form("cancel", &path, &[], idempotency_key).await?;
        if !status.is_success() {
            // `payment_intent_unexpected_state`: it succeeded (or was canceled) meanwhile.
            return Err(rejected(status, &body));
        }
        tracing::info!(payment_id, "payment canceled");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_secret() {
        let config = StripeConfig::new("sk_test_very_secret");
        assert!(!format!("{config:?}").contains("very_secret"));
        let gateway = StripeGateway::new(config).expect("valid config");
        assert!(!format!("{gateway:?}").contains("very_secret"));
    }

    #[test]
    fn config_is_validated() {
        assert_eq!(StripeGateway::new(StripeConfig::new(" ")).err(), Some(StripeConfigError::MissingSecretKey));
        let bad_url = StripeConfig { base_url: "ftp://example.test".into(), ..StripeConfig::new("sk_test") };
        assert!(matches!(StripeGateway::new(bad_url), Err(StripeConfigError::InvalidBaseUrl { .. })));
        let bad_url = StripeConfig { base_url: "not a url".into(), ..StripeConfig::new("sk_test") };
        assert!(matches!(StripeGateway::new(bad_url), Err(StripeConfigError::InvalidBaseUrl { .. })));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let gateway = StripeGateway::new(StripeConfig::new("sk_test")).expect("valid config");
        assert_eq!(gateway.backoff(0), Duration::from_millis(100));
        assert_eq!(gateway.backoff(1), Duration::from_millis(200));
        assert_eq!(gateway.backoff(2), Duration::from_millis(400));
        assert_eq!(gateway.backoff(30), MAX_BACKOFF);
    }

    #[test]
    fn error_summaries() {
        let body = r#"{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such payment_intent"}}"#;
        assert_eq!(error_summary(body), "resource_missing: No such payment_intent");
        assert_eq!(error_summary("<html>bad gateway</html>"), "<html>bad gateway</html>");
        let decline = ApiError::parse(r#"{"error":{"code":"card_declined","decline_code":"insufficient_funds"}}"#);
        assert_eq!(decline.and_then(|e| e.decline_reason()).as_deref(), Some("insufficient_funds"));
    }

    #[test]
    fn ids_are_checked_before_they_reach_a_url() {
        assert!(check_id("pi_3MtwBwLkdIwHu7ix28a3tqPa").is_ok());
        for bad in ["", "pi_1/../../v1/charges", "pi 1", "pi_1?x=1"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }
}
