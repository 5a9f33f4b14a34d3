//! 3-D Secure through the sandbox: action required, the customer's authentication, the confirm
//! call and the webhook settling an order exactly once, paying again after an abandoned
//! authentication, expiry.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use testkit::Client;

use crate::checkout::{Shop, add, checkout, ledger_sum, shop, signed, stock_of};
use crate::helpers::{TestApp, customer, sibling, spawn, spawn_with};

async fn confirm(client: &Client, order: &str) -> testkit::Response {
    client.post(&format!("/api/v1/orders/{order}/payment/confirm"), &json!({})).await
}

/// The customer's authentication, at the sandbox page the order names.
async fn authenticate(client: &Client, order: &Value) -> testkit::Response {
    let url = order["payment_action"]["redirect_url"].as_str().expect("redirect_url");
    client.post(url, &json!({})).await
}

#[tokio::test]
async fn a_3ds_purchase_succeeds_through_the_sandbox() {
    let (app, _db) = spawn().await;
    let s = shop(&app, 5, 1000).await;
    let c = customer(&app, "sca").await;
    add(&c.client, &s.variant, 2).await;
    let placed = checkout(&c.client, &s, "sca-1", "tok_3ds_success").await;
    placed.assert_status(202);
    let order = placed.json();
    let id = order["id"].as_str().expect("id").to_owned();
    assert_eq!(order["status"], "requires_action");
    assert!(order["payment_action"]["client_secret"].as_str().is_some_and(|s| s.contains("_secret_")), "{order}");
    assert_eq!(stock_of(&s, &app).await, 3, "stock held while the customer authenticates");

    // Before the customer authenticated, the provider says so: nothing changes.
    let waiting = confirm(&c.client, &id).await;
    waiting.assert_status(200);
    assert_eq!(waiting.json()["status"], "requires_action");
    let done = authenticate(&app.client, &order).await;
    done.assert_status(200);
    assert_eq!(done.json()["status"], "succeeded");
    let paid = confirm(&c.client, &id).await.json();
    assert_eq!((paid["status"].as_str(), paid["payment_action"].clone()), (Some("paid"), Value::Null));
    assert!(paid["paid_at"].is_string());
    // Again: a no-op.
    assert_eq!(confirm(&c.client, &id).await.json()["status"], "paid");
    assert_eq!(stock_of(&s, &app).await, 3);
    assert_eq!(c.client.get("/api/v1/cart").await.json()["lines"], json!([]));
    // Another customer cannot confirm it (404, as an unknown order); an unknown payment page is 404.
    let other = customer(&app, "other").await;
    confirm(&other.client, &id).await.assert_problem(404, "not-found");
    app.client
        .post("/api/v1/sandbox/payments/pi_sandbox_00000000000000000000000000000000/authenticate", &json!({}))
        .await
        .assert_problem(404, "not-found");
}

#[tokio::test]
async fn a_failed_authentication_declines_and_leaves_the_cart_for_another_card() {
    let (app, _db) = spawn().await;
    let s = shop(&app, 5, 1000).await;
    let c = customer(&app, "fail").await;
    add(&c.client, &s.variant, 2).await;
    let order = checkout(&c.client, &s, "f-1", "tok_3ds_fail").await.json();
    let id = order["id"].as_str().expect("id").to_owned();
    assert_eq!(authenticate(&app.client, &order).await.json()["status"], "failed");
    let failed = confirm(&c.client, &id).await.json();
    assert_eq!(failed["status"], "payment_failed");
    assert_eq!(stock_of(&s, &app).await, 5);
    assert_eq!(c.client.get("/api/v1/cart").await.json()["lines"][0]["quantity"], 2, "the cart as it was");
    checkout(&c.client, &s, "f-2", "tok_visa").await.assert_status(201);
    assert_eq!(stock_of(&s, &app).await, 3);
    assert_eq!(ledger_sum(&s).await.0, 3);
}

#[tokio::test]
async fn an_abandoned_authentication_is_paid_with_another_card_or_expires() {
    let (app, _db) = spawn_with(|c| {
        c.checkout.pending_ttl_secs = 2;
        c.checkout.sweep_interval_ms = 100;
        c.payments.sandbox_timeout_ms = 50;
    })
    .await;
    let s = shop(&app, 5, 1000).await;
    let c = customer(&app, "again").await;
    add(&c.client, &s.variant, 1).await;
    let order = checkout(&c.client, &s, "a-1", "tok_3ds_abandon").await.json();
    let id = order["id"].as_str().expect("id").to_owned();
    authenticate(&app.client, &order).await.assert_problem(409, "authentication-abandoned");
    // Another card: the earlier payment is cancelled, the new one approved.
    let pay = |token: &'static str| {
        let (client, id) = (c.client.clone(), id.clone());
        async move { client.post(&format!("/api/v1/orders/{id}/payment"), &json!({"payment_token": token})).await }
    };
    // Another card that needs authentication too: the order waits again, for the new payment.
    let again = pay("tok_3ds_abandon").await;
    again.assert_status(202);
    assert_eq!(again.json()["status"], "requires_action");
    // The provider's news of the cancelled first payment is stale: acknowledged, no effect.
    let first = order["payment_action"]["client_secret"].as_str().and_then(|s| s.split("_secret_").next()).expect("id");
    let event = json!({"id": "evt_stale", "type": "payment.failed",
                       "data": {"order_id": id, "payment_id": first, "reason": "canceled"}});
    let (sig, body) = signed(&app, &event, chrono::Utc::now().timestamp());
    app.client
        .with_header("shop-signature", &sig)
        .post_raw("/api/v1/webhooks/payments", "application/json", body)
        .await
        .assert_status(200);
    assert_eq!(c.client.get(&format!("/api/v1/orders/{id}")).await.json()["status"], "requires_action");
    assert_eq!(stock_of(&s, &app).await, 4, "still held");
    let paid = pay("tok_visa").await;
    paid.assert_status(201);
    assert_eq!(paid.json()["status"], "paid");
    assert_eq!(paid.header("location"), Some(format!("/api/v1/orders/{id}").as_str()));
    // The cancelled payment can no longer complete; a paid order is not paid again.
    authenticate(&app.client, &order).await.assert_status(200);
    assert_eq!(confirm(&c.client, &id).await.json()["status"], "paid");
    pay("tok_visa").await.assert_problem(409, "illegal-transition");
    assert_eq!(stock_of(&s, &app).await, 4);

    // Abandoned and left: the order expires, its stock returns, the payment is cancelled.
    add(&c.client, &s.variant, 2).await;
    let order = checkout(&c.client, &s, "a-2", "tok_3ds_abandon").await.json();
    let id = order["id"].as_str().expect("id").to_owned();
    assert_eq!(stock_of(&s, &app).await, 2);
    crate::helpers::expired_order(&c.client, &id).await;
    assert_eq!(stock_of(&s, &app).await, 4);
    assert_eq!(ledger_sum(&s).await.0, 4, "the ledger sums to the stock");
    c.client
        .post(&format!("/api/v1/orders/{id}/payment"), &json!({"payment_token": "tok_visa"}))
        .await
        .assert_problem(409, "illegal-transition");

    // An attempt the provider never answered may still complete: it is not paid again.
    add(&c.client, &s.variant, 1).await;
    let unknown = checkout(&c.client, &s, "a-3", "tok_timeout").await;
    unknown.assert_status(202);
    let unknown = unknown.json()["id"].as_str().expect("id").to_owned();
    let doc = c
        .client
        .post(&format!("/api/v1/orders/{unknown}/payment"), &json!({"payment_token": "tok_visa"}))
        .await
        .assert_problem(409, "illegal-transition");
    assert_eq!(doc["order_status"], "pending_payment");
}

/// Places `n` orders of one unit needing 3-D Secure and authenticates each.
async fn authenticated_orders(app: &TestApp, s: &Shop, n: usize) -> Vec<(Client, String, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        let c = if i % 20 == 0 || out.is_empty() {
            customer(app, "race").await.client
        } else {
            let (client, _, _): &(Client, String, String) = out.last().expect("one");
            client.clone()
        };
        add(&c, &s.variant, 1).await.assert_status(200);
        let placed = checkout(&c, s, &format!("race-{i}"), "tok_3ds_success").await;
        placed.assert_status(202);
        let order = placed.json();
        authenticate(&app.client, &order).await.assert_status(200);
        let payment = order["payment_action"]["client_secret"]
            .as_str()
            .expect("secret")
            .split("_secret_")
            .next()
            .expect("id")
            .to_owned();
        out.push((c, order["id"].as_str().expect("id").to_owned(), payment));
    }
    out
}

#[tokio::test]
async fn the_confirm_call_and_the_webhook_at_once_settle_each_order_once_over_two_instances() {
    let (a, db) = spawn().await;
    let b = sibling(&a, &db, |_| {}).await;
    let s = shop(&a, 500, 1000).await;
    let orders = authenticated_orders(&a, &s, 200).await;
    let now = chrono::Utc::now().timestamp();
    let mut tasks = Vec::new();
    for (i, (client, order, payment)) in orders.iter().enumerate() {
        // The confirm on one instance, the webhook on the other, alternating.
        let (confirm_on, hook_on) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let mut customer = client.clone();
        customer.base = confirm_on.client.base.clone();
        let order_id = order.clone();
        tasks.push(tokio::spawn(async move { confirm(&customer, &order_id).await.status.as_u16() }));
        let event = json!({"id": format!("evt_race_{i}"), "type": "payment.succeeded",
                           "data": {"order_id": order, "payment_id": payment}});
        let (sig, body) = signed(hook_on, &event, now);
        let hook = hook_on.client.with_header("shop-signature", &sig);
        tasks.push(tokio::spawn(async move {
            hook.post_raw("/api/v1/webhooks/payments", "application/json", body).await.status.as_u16()
        }));
    }
    let mut statuses = BTreeMap::new();
    for t in tasks {
        *statuses.entry(t.await.expect("task")).or_insert(0) += 1;
    }
    assert_eq!(statuses, BTreeMap::from([(200, 400)]));
    // Every order paid, each by exactly one transition (one order.paid event each).
    let mut paid_events: BTreeMap<String, usize> = BTreeMap::new();
    let mut next = Some("/api/v1/admin/outbox?event_type=order.paid&limit=100".to_owned());
    while let Some(url) = next.take() {
        let page = s.admin.client.get(&url).await.json();
        for e in page["items"].as_array().expect("items") {
            *paid_events.entry(e["aggregate_id"].as_str().expect("aggregate").to_owned()).or_insert(0) += 1;
        }
        next = page["next_cursor"]
            .as_str()
            .map(|c| format!("/api/v1/admin/outbox?event_type=order.paid&limit=100&cursor={c}"));
    }
    for (client, order, _) in &orders {
        assert_eq!(client.get(&format!("/api/v1/orders/{order}")).await.json()["status"], "paid");
        assert_eq!(paid_events.get(order), Some(&1), "order {order}");
    }
    assert_eq!(paid_events.len(), 200);
    assert_eq!(stock_of(&s, &a).await, 300);
}
