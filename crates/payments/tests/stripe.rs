//! The Stripe adapter against a local fake (wiremock on 127.0.0.1:<random port>).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use payments::{
    Authorization, AuthorizeRequest, PaymentAction, PaymentError, PaymentGateway, PaymentState, StripeConfig,
    StripeGateway,
};
use primitives::Money;
use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "sk_test_fake_123";

fn eur(amount_minor: i64) -> Money {
    Money::new(amount_minor, "EUR".parse().expect("valid currency"))
}

fn request(key: &str) -> AuthorizeRequest {
    AuthorizeRequest {
        order_id: Uuid::from_u128(0xabc),
        amount: eur(1999),
        payment_token: "pm_card_visa".into(),
        idempotency_key: key.into(),
        capture: false,
    }
}

fn gateway_for(base_url: String, timeout: Duration, max_retries: u32) -> StripeGateway {
    let config = StripeConfig { base_url, secret_key: KEY.into(), timeout, max_retries };
    StripeGateway::new(config).expect("valid config").with_initial_backoff(Duration::from_millis(20))
}

fn gateway(server: &MockServer) -> StripeGateway {
    gateway_for(server.uri(), Duration::from_secs(2), 2)
}

fn form(req: &Request) -> HashMap<String, String> {
    serde_urlencoded::from_bytes(&req.body).expect("form-encoded body")
}

fn header_value<'a>(req: &'a Request, name: &str) -> &'a str {
    req.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("request recording is on")
}

#[tokio::test]
async fn authorize_approves_and_sends_key_idempotency_key_and_form() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(header("idempotency-key", "order-abc-authorize"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "pi_123", "status": "requires_capture"})))
        .expect(1)
        .mount(&server)
        .await;

    let outcome = gateway(&server).authorize(&request("order-abc-authorize")).await;
    assert_eq!(outcome, Ok(Authorization::Approved { payment_id: "pi_123".into() }));

    let seen = requests(&server).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(header_value(&seen[0], "content-type"), "application/x-www-form-urlencoded");
    let fields = form(&seen[0]);
    assert_eq!(fields["amount"], "1999");
    assert_eq!(fields["currency"], "eur");
    assert_eq!(fields["payment_method"], "pm_card_visa");
    assert_eq!(fields["confirm"], "true");
    assert_eq!(fields["capture_method"], "manual");
    // Captured per shipment: several captures of one authorisation.
    assert_eq!(fields["payment_method_options[card][request_multicapture]"], "if_available");
    assert_eq!(fields["metadata[order_id]"], Uuid::from_u128(0xabc).to_string());
}

#[tokio::test]
async fn authorize_with_capture_charges_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "pi_9", "status": "succeeded"})))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = gateway(&server).authorize(&AuthorizeRequest { capture: true, ..request("k-capture") }).await;
    assert_eq!(outcome, Ok(Authorization::Approved { payment_id: "pi_9".into() }));
    let fields = form(&requests(&server).await[0]);
    assert_eq!(fields["capture_method"], "automatic");
    assert!(!fields.contains_key("payment_method_options[card][request_multicapture]"));
}

#[tokio::test]
async fn succeeded_status_is_an_approval_too() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "pi_9", "status": "succeeded"})))
        .mount(&server)
        .await;
    let outcome = gateway(&server).authorize(&request("k")).await;
    assert_eq!(outcome, Ok(Authorization::Approved { payment_id: "pi_9".into() }));
}

#[tokio::test]
async fn http_402_is_a_decline_with_the_provider_reason() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .and(body_string_contains("payment_method=pm_card_visa"))
        .respond_with(ResponseTemplate::new(402).set_body_json(json!({
            "error": {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                      "message": "Your card has insufficient funds."}
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(ResponseTemplate::new(402).set_body_json(json!({"error": {"code": "card_declined"}})))
        .mount(&server)
        .await;

    let g = gateway(&server);
    assert_eq!(g.authorize(&request("k1")).await, Ok(Authorization::Declined { reason: "insufficient_funds".into() }));
    assert_eq!(g.authorize(&request("k2")).await, Ok(Authorization::Declined { reason: "card_declined".into() }));
    assert_eq!(requests(&server).await.len(), 2, "declines are not retried");
}

#[tokio::test]
async fn other_4xx_are_rejected_without_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": {"type": "invalid_request_error", "code": "parameter_invalid_integer", "message": "Invalid integer"}
        })))
        .mount(&server)
        .await;
    match gateway(&server).authorize(&request("k")).await {
        Err(PaymentError::Rejected(message)) => assert!(message.contains("parameter_invalid_integer"), "{message}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn retries_a_500_with_the_same_idempotency_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"error": {"message": "boom"}})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "pi_retry", "status": "requires_capture"})))
        .mount(&server)
        .await;

    let outcome = gateway(&server).authorize(&request("order-retry")).await;
    assert_eq!(outcome, Ok(Authorization::Approved { payment_id: "pi_retry".into() }));

    let seen = requests(&server).await;
    assert_eq!(seen.len(), 2);
    for req in &seen {
        assert_eq!(header_value(req, "idempotency-key"), "order-retry");
        assert_eq!(form(req), form(&seen[0]));
    }
}

#[tokio::test]
async fn persistent_5xx_becomes_unavailable_after_max_retries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream down"))
        .mount(&server)
        .await;
    match gateway(&server).authorize(&request("k")).await {
        Err(PaymentError::Unavailable(message)) => assert!(message.contains("503"), "{message}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
    // One attempt plus max_retries (2).
    assert_eq!(requests(&server).await.len(), 3);
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    // Reserve a free port, then close it so nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let g = gateway_for(format!("http://{addr}"), Duration::from_secs(1), 1);
    assert!(matches!(g.authorize(&request("k")).await, Err(PaymentError::Unavailable(_))));
}

#[tokio::test]
async fn slow_provider_times_out_after_retrying() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "pi_late", "status": "requires_capture"}))
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&server)
        .await;
    let g = gateway_for(server.uri(), Duration::from_millis(150), 1);
    let started = Instant::now();
    assert_eq!(g.authorize(&request("order-slow")).await, Err(PaymentError::Timeout));
    assert!(started.elapsed() < Duration::from_millis(1000), "{:?}", started.elapsed());

    let seen = requests(&server).await;
    assert_eq!(seen.len(), 2, "the timed-out call is retried once");
    assert!(seen.iter().all(|r| header_value(r, "idempotency-key") == "order-slow"));
}

#[tokio::test]
async fn capture_posts_the_amount_to_capture() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents/pi_123/capture"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(header("idempotency-key", "order-abc-capture"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "pi_123", "status": "succeeded"})))
        .expect(2)
        .mount(&server)
        .await;

    assert_eq!(gateway(&server).capture("pi_123", eur(1999), true, "order-abc-capture").await, Ok(()));
    // A shipment's part: the rest stays authorised for the next one.
    assert_eq!(gateway(&server).capture("pi_123", eur(500), false, "order-abc-capture").await, Ok(()));
    let seen = requests(&server).await;
    let captured = |amount: &str, last: &str| {
        HashMap::from([
            ("amount_to_capture".to_owned(), amount.to_owned()),
            ("final_capture".to_owned(), last.to_owned()),
        ])
    };
    assert_eq!(form(&seen[0]), captured("1999", "true"));
    assert_eq!(form(&seen[1]), captured("500", "false"));
}

#[tokio::test]
async fn capture_of_an_unknown_payment_is_rejected() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such payment_intent"}
        })))
        .mount(&server)
        .await;
    let g = gateway(&server);
    assert!(matches!(g.capture("pi_missing", eur(1), true, "k").await, Err(PaymentError::Rejected(_))));
    assert!(matches!(g.refund("pi_missing", eur(1), "k").await, Err(PaymentError::Rejected(_))));
    // Ids that could escape the URL path never reach the provider.
    assert!(matches!(g.capture("pi_1/../x", eur(1), true, "k").await, Err(PaymentError::Rejected(_))));
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn refund_returns_the_refund_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/refunds"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(header("idempotency-key", "order-abc-refund-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "re_456", "status": "succeeded"})))
        .expect(1)
        .mount(&server)
        .await;

    assert_eq!(gateway(&server).refund("pi_123", eur(500), "order-abc-refund-1").await, Ok("re_456".to_owned()));
    let fields = form(&requests(&server).await[0]);
    assert_eq!(fields["payment_intent"], "pi_123");
    assert_eq!(fields["amount"], "500");
}

#[tokio::test]
async fn three_d_secure_requires_action_then_the_provider_says_how_it_ended() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "pi_3ds", "status": "requires_action", "client_secret": "pi_3ds_secret_abc",
            "next_action": {"type": "redirect_to_url", "redirect_to_url": {"url": "https://hooks.example/3ds"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let g = gateway(&server).with_return_url(Some("https://shop.example/return".into()));
    let outcome = g.authorize(&request("k-3ds")).await;
    assert_eq!(
        outcome,
        Ok(Authorization::ActionRequired {
            payment_id: "pi_3ds".into(),
            action: PaymentAction {
                client_secret: "pi_3ds_secret_abc".into(),
                redirect_url: Some("https://hooks.example/3ds".into())
            },
        })
    );
    let fields = form(&requests(&server).await[0]);
    assert_eq!(fields["return_url"], "https://shop.example/return");
    assert!(!fields.contains_key("automatic_payment_methods[allow_redirects]"), "redirects are allowed");

    // Then the provider is asked: succeeded, failed (with the decline), canceled.
    let cases = [
        (json!({"id": "pi_3ds", "status": "succeeded"}), PaymentState::Succeeded),
        (
            json!({"id": "pi_3ds", "status": "requires_payment_method",
                   "last_payment_error": {"code": "card_declined", "decline_code": "authentication_failed"}}),
            PaymentState::Failed { reason: "authentication_failed".into() },
        ),
        (json!({"id": "pi_3ds", "status": "canceled"}), PaymentState::Canceled),
        (json!({"id": "pi_3ds", "status": "requires_action"}), PaymentState::RequiresAction),
    ];
    for (body, want) in cases {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/payment_intents/pi_3ds"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
        assert_eq!(gateway(&server).retrieve("pi_3ds").await, Ok(want));
    }
}

#[tokio::test]
async fn cancel_sends_its_key_and_a_completed_payment_refuses() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents/pi_1/cancel"))
        .and(header("idempotency-key", "cancel-pi_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "pi_1", "status": "canceled"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents/pi_2/cancel"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": {"code": "payment_intent_unexpected_state", "message": "already succeeded"}}),
        ))
        .mount(&server)
        .await;
    let g = gateway(&server);
    assert_eq!(g.cancel("pi_1", "cancel-pi_1").await, Ok(()));
    assert!(
        matches!(g.cancel("pi_2", "cancel-pi_2").await, Err(PaymentError::Rejected(m)) if m.contains("unexpected_state"))
    );
    assert!(matches!(g.retrieve("../x").await, Err(PaymentError::Rejected(_))));
}
