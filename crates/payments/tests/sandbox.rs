//! The sandbox gateway: every test token, idempotency, capture and refund.

use std::time::{Duration, Instant};

use payments::{
    Authorization, AuthorizeRequest, PaymentError, PaymentGateway, PaymentState, SandboxGateway, is_sandbox_payment_id,
};
use primitives::Money;
use uuid::Uuid;

fn eur(amount_minor: i64) -> Money {
    Money::new(amount_minor, "EUR".parse().expect("valid currency"))
}

fn request(token: &str, key: &str) -> AuthorizeRequest {
    AuthorizeRequest {
        order_id: Uuid::from_u128(42),
        amount: eur(1999),
        payment_token: token.to_owned(),
        idempotency_key: key.to_owned(),
        capture: true,
    }
}

fn gateway() -> SandboxGateway {
    SandboxGateway::new().with_timeout(Duration::from_millis(30))
}

fn approved_id(outcome: Result<Authorization, PaymentError>) -> String {
    match outcome {
        Ok(Authorization::Approved { payment_id }) => payment_id,
        other => panic!("expected approval, got {other:?}"),
    }
}

#[tokio::test]
async fn approving_tokens_issue_sandbox_payment_ids() {
    let g = gateway();
    for (i, token) in ["tok_visa", "tok_ok", "tok_ok_mastercard"].into_iter().enumerate() {
        let id = approved_id(g.authorize(&request(token, &format!("key-{i}"))).await);
        assert!(id.starts_with("pi_sandbox_"), "{id}");
        assert_eq!(id.len(), "pi_sandbox_".len() + 32, "{id}");
        assert!(is_sandbox_payment_id(&id), "{id}");
    }
}

#[tokio::test]
async fn declining_tokens_give_their_reason() {
    let g = gateway();
    assert_eq!(
        g.authorize(&request("tok_declined", "k1")).await,
        Ok(Authorization::Declined { reason: "card_declined".into() })
    );
    assert_eq!(
        g.authorize(&request("tok_insufficient_funds", "k2")).await,
        Ok(Authorization::Declined { reason: "insufficient_funds".into() })
    );
}

#[tokio::test]
async fn unknown_tokens_are_rejected() {
    let g = gateway();
    for token in ["tok_mystery", "", "pm_card_visa", "tok_vis"] {
        assert_eq!(
            g.authorize(&request(token, token)).await,
            Err(PaymentError::Rejected("unknown test token".into())),
            "{token:?}"
        );
    }
}

#[tokio::test]
async fn timeout_token_waits_for_the_configured_timeout() {
    let g = gateway();
    assert_eq!(g.timeout(), Duration::from_millis(30));
    let started = Instant::now();
    assert_eq!(g.authorize(&request("tok_timeout", "k")).await, Err(PaymentError::Timeout));
    assert!(started.elapsed() >= Duration::from_millis(30));
    // Nothing is recorded for a call the provider never answered: a retry times out again.
    assert_eq!(g.authorize(&request("tok_timeout", "k")).await, Err(PaymentError::Timeout));
}

#[test]
fn default_timeout_is_two_seconds() {
    assert_eq!(SandboxGateway::new().timeout(), Duration::from_secs(2));
    assert_eq!(SandboxGateway::default().timeout(), Duration::from_secs(2));
}

#[tokio::test]
async fn same_idempotency_key_returns_the_same_result() {
    let g = gateway();
    let first = approved_id(g.authorize(&request("tok_visa", "order-1")).await);
    let again = approved_id(g.authorize(&request("tok_visa", "order-1")).await);
    assert_eq!(first, again);
    let other = approved_id(g.authorize(&request("tok_visa", "order-2")).await);
    assert_ne!(first, other);

    let declined = g.authorize(&request("tok_declined", "order-3")).await;
    assert_eq!(g.authorize(&request("tok_declined", "order-3")).await, declined);
}

#[tokio::test]
async fn reusing_a_key_for_a_different_request_is_rejected() {
    let g = gateway();
    approved_id(g.authorize(&request("tok_visa", "order-1")).await);
    let mut changed = request("tok_visa", "order-1");
    changed.amount = eur(1);
    assert!(matches!(g.authorize(&changed).await, Err(PaymentError::Rejected(_))));
    assert!(matches!(g.authorize(&request("tok_declined", "order-1")).await, Err(PaymentError::Rejected(_))));
}

#[tokio::test]
async fn concurrent_calls_with_one_key_agree() {
    let g = std::sync::Arc::new(gateway());
    let calls = (0..8).map(|_| {
        let g = g.clone();
        tokio::spawn(async move { g.authorize(&request("tok_visa", "same")).await })
    });
    let mut ids = Vec::new();
    for call in calls {
        ids.push(approved_id(call.await.expect("task")));
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
}

#[tokio::test]
async fn the_idempotency_store_is_bounded() {
    let g = SandboxGateway::new().with_idempotency_capacity(2);
    let first = approved_id(g.authorize(&request("tok_visa", "a")).await);
    approved_id(g.authorize(&request("tok_visa", "b")).await);
    assert_eq!(approved_id(g.authorize(&request("tok_visa", "a")).await), first);
    approved_id(g.authorize(&request("tok_visa", "c")).await);
    // "a" was the oldest key and has been forgotten: a new payment.
    assert_ne!(approved_id(g.authorize(&request("tok_visa", "a")).await), first);
}

#[tokio::test]
async fn non_positive_amounts_are_rejected() {
    let g = gateway();
    let mut zero = request("tok_visa", "k");
    zero.amount = eur(0);
    assert!(matches!(g.authorize(&zero).await, Err(PaymentError::Rejected(_))));
}

#[tokio::test]
async fn capture_and_refund_known_payments() {
    let g = gateway();
    let payment_id = approved_id(g.authorize(&request("tok_visa", "auth")).await);
    assert_eq!(g.capture(&payment_id, eur(1999), true, "capture").await, Ok(()));
    assert_eq!(g.capture(&payment_id, eur(1999), true, "capture").await, Ok(()));

    let refund_id = g.refund(&payment_id, eur(500), "refund-1").await.expect("refund");
    assert!(refund_id.starts_with("re_sandbox_"), "{refund_id}");
    assert_eq!(g.refund(&payment_id, eur(500), "refund-1").await, Ok(refund_id.clone()));
    let second = g.refund(&payment_id, eur(500), "refund-2").await.expect("refund");
    assert_ne!(second, refund_id);
    assert!(matches!(g.refund(&payment_id, eur(400), "refund-1").await, Err(PaymentError::Rejected(_))));

    // A sandbox id from another process (or before a restart) is still recognised.
    let foreign = format!("pi_sandbox_{}", Uuid::from_u128(7).simple());
    assert_eq!(g.capture(&foreign, eur(1), true, "capture-foreign").await, Ok(()));
}

#[tokio::test]
async fn an_authorisation_is_captured_in_parts_then_released() {
    let g = gateway();
    let manual = AuthorizeRequest { capture: false, ..request("tok_visa", "auth-manual") };
    let payment_id = approved_id(g.authorize(&manual).await);
    assert_eq!(g.capture(&payment_id, eur(500), false, "capture-1").await, Ok(()));
    // The same key with another amount or finality is another request: refused.
    assert!(matches!(g.capture(&payment_id, eur(500), true, "capture-1").await, Err(PaymentError::Rejected(_))));
    assert_eq!(g.cancel(&payment_id, "release").await, Ok(()));
    assert_eq!(g.retrieve(&payment_id).await, Ok(PaymentState::Succeeded));
    assert_eq!(
        g.capture(&payment_id, eur(500), true, "capture-2").await,
        Err(PaymentError::Rejected("the payment was released".into()))
    );
    // A card whose captures the provider refuses.
    let failing =
        approved_id(g.authorize(&AuthorizeRequest { capture: false, ..request("tok_capture_fail", "a2") }).await);
    assert_eq!(
        g.capture(&failing, eur(500), true, "capture-3").await,
        Err(PaymentError::Rejected("capture_declined".into()))
    );
    // Charged at checkout: nothing is left to release.
    let charged = approved_id(g.authorize(&AuthorizeRequest { capture: true, ..request("tok_visa", "a3") }).await);
    assert!(matches!(g.cancel(&charged, "release-3").await, Err(PaymentError::Rejected(_))));
}

#[tokio::test]
async fn capture_and_refund_reject_unknown_payments() {
    let g = gateway();
    for id in ["pi_123", "pi_sandbox_", "pi_sandbox_nothex", ""] {
        assert_eq!(
            g.capture(id, eur(100), true, "c").await,
            Err(PaymentError::Rejected("unknown payment id".into())),
            "{id:?}"
        );
        assert_eq!(
            g.refund(id, eur(100), "r").await,
            Err(PaymentError::Rejected("unknown payment id".into())),
            "{id:?}"
        );
    }
}

#[tokio::test]
async fn three_d_secure_tokens_wait_for_the_customer() {
    let g = gateway();
    let Ok(Authorization::ActionRequired { payment_id, action }) = g.authorize(&request("tok_3ds_success", "s1")).await
    else {
        panic!("action required")
    };
    assert!(action.client_secret.starts_with(&payment_id));
    assert_eq!(g.retrieve(&payment_id).await, Ok(PaymentState::RequiresAction));
    assert_eq!(g.authenticate(&payment_id).await, Ok(PaymentState::Succeeded));
    assert_eq!(g.authenticate(&payment_id).await, Ok(PaymentState::Succeeded), "repeatable");
    assert_eq!(g.retrieve(&payment_id).await, Ok(PaymentState::Succeeded));
    assert!(matches!(g.cancel(&payment_id, "c").await, Err(PaymentError::Rejected(_))), "completed");

    let Ok(Authorization::ActionRequired { payment_id, .. }) = g.authorize(&request("tok_3ds_fail", "s2")).await else {
        panic!("action required")
    };
    assert!(matches!(g.authenticate(&payment_id).await, Ok(PaymentState::Failed { .. })));

    let Ok(Authorization::ActionRequired { payment_id, .. }) = g.authorize(&request("tok_3ds_abandon", "s3")).await
    else {
        panic!("action required")
    };
    assert_eq!(g.authenticate(&payment_id).await, Err(payments::AuthenticateError::Abandoned));
    assert_eq!(g.cancel(&payment_id, "c").await, Ok(()));
    assert_eq!(g.retrieve(&payment_id).await, Ok(PaymentState::Canceled));
    assert_eq!(g.authenticate("pi_sandbox_nothing").await, Err(payments::AuthenticateError::UnknownPayment));
}
