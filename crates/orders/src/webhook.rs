//! Signed payment webhooks. The provider sends `Shop-Signature: t=<unix seconds>,v1=<hex>`, where
//! the hex is HMAC-SHA256 over `"<t>.<raw body>"` with the shared secret. A signature is accepted
//! when one `v1` matches (constant-time compare) and `t` is within the tolerance of now (replay
//! window). The event id makes processing idempotent.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or malformed signature header")]
    Malformed,
    #[error("timestamp outside the tolerance window")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

/// Verifies `header` for `body` at time `now` (unix seconds).
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // Checked: a client-sent `t` near i64::MIN or MAX must not overflow the subtraction.
    let skew = now.checked_sub(t).map(i64::unsigned_abs);
    if skew.is_none_or(|s| s > tolerance_secs.unsigned_abs()) {
        return Err(SignatureError::Stale);
    }
    for sig in signatures {
        let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::Malformed)?;
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // verify_slice compares in constant time.
        if mac.verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// Builds a header (for the sandbox provider, tests and the docs' example).
pub fn sign(secret: &[u8], body: &[u8], t: i64) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The event body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEvent {
    /// Unique per event; a repeat is acknowledged and ignored.
    pub id: String,
    /// `payment.succeeded` or `payment.failed`.
    #[serde(rename = "type")]
    pub kind: String,
    pub data: WebhookData,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookData {
    pub order_id: Option<uuid::Uuid>,
    pub payment_id: Option<String>,
    pub reason: Option<String>,
}

/// How a webhook names the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentRef {
    Order(uuid::Uuid),
    Payment(String),
}

/// What a payment event means for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentNotice {
    /// The provider's event id: applied once, repeats are no-ops.
    pub event_id: String,
    pub kind: String,
    pub target: PaymentRef,
    /// The payment the event is about, when it names one (also when `target` is the order): an
    /// event about an earlier payment of an order paid again with another card is stale.
    pub payment_id: Option<String>,
    /// Authorised (`payment.succeeded`) or declined (`payment.failed`).
    pub approved: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    #[error("needs order_id or payment_id")]
    NoTarget,
}

/// Which order an event moves, and how. `Ok(None)`: an event type this shop does not act on
/// (acknowledged, so the provider stops resending it).
pub fn interpret(event: &WebhookEvent) -> Result<Option<PaymentNotice>, NoticeError> {
    let approved = match event.kind.as_str() {
        "payment.succeeded" => true,
        "payment.failed" => false,
        _ => return Ok(None),
    };
    let target = match (event.data.order_id, &event.data.payment_id) {
        (Some(o), _) => PaymentRef::Order(o),
        (None, Some(p)) => PaymentRef::Payment(p.clone()),
        (None, None) => return Err(NoticeError::NoTarget),
    };
    Ok(Some(PaymentNotice {
        event_id: event.id.clone(),
        kind: event.kind.clone(),
        target,
        payment_id: event.data.payment_id.clone(),
        approved,
        reason: event.data.reason.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_mean_what_they_say() {
        let event = |kind: &str, order: Option<uuid::Uuid>, payment: Option<&str>| WebhookEvent {
            id: "evt_1".into(),
            kind: kind.into(),
            data: WebhookData { order_id: order, payment_id: payment.map(str::to_owned), reason: Some("why".into()) },
        };
        let o = uuid::Uuid::from_u128(7);
        let n = interpret(&event("payment.succeeded", Some(o), Some("pi_1"))).unwrap().unwrap();
        assert_eq!((n.target, n.approved), (PaymentRef::Order(o), true), "the order id wins");
        assert_eq!(n.payment_id.as_deref(), Some("pi_1"), "and the payment is kept");
        let n = interpret(&event("payment.failed", None, Some("pi_1"))).unwrap().unwrap();
        assert_eq!(
            (n.target, n.approved, n.reason.as_deref()),
            (PaymentRef::Payment("pi_1".into()), false, Some("why"))
        );
        assert_eq!(interpret(&event("charge.refunded", None, None)), Ok(None));
        assert_eq!(interpret(&event("payment.failed", None, None)), Err(NoticeError::NoTarget));
    }

    #[test]
    fn accepts_fresh_signatures_and_refuses_the_rest() {
        let (secret, body) = (b"whsec_test", br#"{"id":"evt_1"}"#);
        let now = 1_800_000_000;
        let header = sign(secret, body, now);
        assert_eq!(verify(secret, &header, body, now + 10, 300), Ok(()));
        assert_eq!(verify(secret, &header, body, now + 301, 300), Err(SignatureError::Stale));
        assert_eq!(verify(b"other", &header, body, now, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(secret, &header, b"{\"id\":\"evt_2\"}", now, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(secret, "v1=abcd", body, now, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(secret, "t=1", body, now, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(secret, "t=x,v1=zz", body, now, 300), Err(SignatureError::Malformed));
        for t in [i64::MIN, i64::MAX, i64::MIN + 1, -1] {
            let header = format!("t={t},v1={}", "00".repeat(32));
            assert_eq!(verify(secret, &header, body, now, 300), Err(SignatureError::Stale), "t={t}");
        }
        // Several signatures (during secret rotation): one match suffices.
        let two = format!("{header},v1={}", "00".repeat(32));
        assert_eq!(verify(secret, &two, body, now, 300), Ok(()));
    }

    use proptest::prelude::*;

    proptest! {
        /// Any header, body, clock and tolerance: a verdict, never a panic or an overflow.
        #[test]
        fn any_header_gets_a_verdict(header in ".{0,300}", now in any::<i64>(), tolerance in any::<i64>(), body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = verify(b"secret", &header, &body, now, tolerance);
        }

        #[test]
        fn crafted_timestamps_get_a_verdict(t in any::<i64>(), now in any::<i64>(), tolerance in 0i64..1_000_000) {
            let header = format!("t={t},v1={}", "ab".repeat(32));
            let verdict = verify(b"secret", &header, b"{}", now, tolerance);
            let fresh = now.checked_sub(t).is_some_and(|d| d.unsigned_abs() <= tolerance.unsigned_abs());
            prop_assert_eq!(verdict == Err(SignatureError::Stale), !fresh);
        }

        #[test]
        fn what_is_signed_verifies(t in -10_000_000_000i64..10_000_000_000, body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let header = sign(b"secret", &body, t);
            prop_assert_eq!(verify(b"secret", &header, &body, t, 300), Ok(()));
            prop_assert_eq!(verify(b"other", &header, &body, t, 300), Err(SignatureError::Mismatch));
        }
    }
}
