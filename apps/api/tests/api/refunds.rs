//! Partial refunds: amounts from the order's snapshot, several per order up to what was paid,
//! exactly once per key, restock per line; against the sandbox and against a fake
//! Stripe-compatible provider that counts what it pays out.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use testkit::Client;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::checkout::{Shop, add, checkout, ledger_sum, shop, stock_of};
use crate::helpers::{Session, TestApp, customer, spawn_with};

/// 3 x 10.00 + 4.90 shipping = 34.90, 19 % tax 6.63, total 41.53.
const TOTAL: i64 = 4153;

async fn paid_order(app: &TestApp, s: &Shop, tag: &str) -> (Session, String) {
    let c = customer(app, tag).await;
    add(&c.client, &s.variant, 3).await.assert_status(200);
    let placed = checkout(&c.client, s, &format!("{tag}-1"), "tok_visa").await;
    placed.assert_status(201);
    assert_eq!(placed.json()["total"]["amount_minor"], TOTAL);
    (c, placed.json()["id"].as_str().expect("id").to_owned())
}

async fn refund(admin: &Client, order: &str, key: &str, body: &Value) -> testkit::Response {
    admin.with_header("idempotency-key", key).post(&format!("/api/v1/admin/orders/{order}/refunds"), body).await
}

fn units(line_no: i32, quantity: i32, restock: bool) -> Value {
    json!({"lines": [{"line_no": line_no, "quantity": quantity, "restock": restock}]})
}

fn taxed(config: &mut shop_api::config::Config) {
    config.tax.rates = HashMap::from([("DE".to_owned(), 1900)]);
}

#[tokio::test]
async fn partial_refunds_add_up_to_the_total_and_never_past_it() {
    let (app, _db) = spawn_with(|c| {
        taxed(c);
        c.payments.sandbox_timeout_ms = 50;
    })
    .await;
    let s = shop(&app, 10, 1000).await;
    let admin = &s.admin.client;
    let (c, order) = paid_order(&app, &s, "parts").await;

    // One unit, restocked: 10.00 and its tax floor(663 * 1000 / 3490) = 1.89.
    let first = refund(admin, &order, "r1", &units(1, 1, true)).await;
    first.assert_status(201);
    assert_eq!(first.header("location"), Some(format!("/api/v1/admin/orders/{order}").as_str()));
    let r1 = first.json();
    assert_eq!((r1["amount"]["amount_minor"].as_i64(), r1["status"].as_str()), (Some(1189), Some("succeeded")));
    assert_eq!(r1["lines"], json!([{"line_no": 1, "quantity": 1, "restocked": 1}]));
    assert_eq!(stock_of(&s, &app).await, 8);
    let (sum, rows) = ledger_sum(&s).await;
    assert_eq!(sum, 8, "the ledger sums to the stock");
    assert!(rows.iter().any(|r| r["reason"] == "refund" && r["delta"] == 1));

    // The same key: the same refund, nothing paid again; with another body: refused.
    let again = refund(admin, &order, "r1", &units(1, 1, true)).await;
    again.assert_status(201);
    assert_eq!(again.json()["id"], r1["id"]);
    let doc = refund(admin, &order, "r1", &units(1, 2, true)).await.assert_problem(422, "idempotency-key-reused");
    assert_eq!(doc["errors"][0]["field"], "Idempotency-Key");
    let seen = admin.get(&format!("/api/v1/admin/orders/{order}")).await.json();
    assert_eq!(
        (seen["refunded"]["amount_minor"].as_i64(), seen["refund_state"].as_str()),
        (Some(1189), Some("partially_refunded"))
    );
    assert_eq!(seen["status"], "paid");
    assert_eq!(seen["lines"][0]["refunded_quantity"], 1);

    // What is left bounds every request.
    let doc = refund(admin, &order, "r2", &units(1, 3, false)).await.assert_problem(409, "refund-exceeds-line");
    assert_eq!((doc["line_no"].as_i64(), doc["refundable_quantity"].as_i64()), (Some(1), Some(2)));
    let doc = refund(admin, &order, "r2", &json!({"amount_minor": TOTAL}))
        .await
        .assert_problem(409, "refund-exceeds-payment");
    assert_eq!(doc["refundable"]["amount_minor"], TOTAL - 1189);
    let doc = refund(admin, &order, "r2", &json!({"amount_minor": 5, "lines": [{"line_no": 1, "quantity": 1}]}))
        .await
        .assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "amount_minor");
    let doc = refund(admin, &order, "r2", &units(7, 1, false)).await.assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "lines");
    for bad in
        [json!({"amount_minor": 0}), json!({"amount_minor": -5}), json!({"lines": [{"line_no": 1, "quantity": 0}]})]
    {
        refund(admin, &order, "r2", &bad).await.assert_problem(422, "validation-failed");
    }
    admin
        .post(&format!("/api/v1/admin/orders/{order}/refunds"), &json!({"amount_minor": 1}))
        .await
        .assert_problem(400, "idempotency-key-required");

    // A goodwill amount, then the rest of the units and the shipping: exactly the total.
    let goodwill = refund(admin, &order, "r2", &json!({"amount_minor": 100, "reason": "late"})).await.json();
    assert_eq!((goodwill["amount"]["amount_minor"].as_i64(), goodwill["reason"].as_str()), (Some(100), Some("late")));
    let last = refund(admin, &order, "r3", &json!({"lines": [{"line_no": 1, "quantity": 2}], "shipping": true})).await;
    last.assert_status(201);
    assert_eq!(last.json()["amount"]["amount_minor"], TOTAL - 1189 - 100, "capped at what is left");
    let done = c.client.get(&format!("/api/v1/orders/{order}")).await.json();
    assert_eq!((done["status"].as_str(), done["refund_state"].as_str()), (Some("refunded"), Some("refunded")));
    assert_eq!(done["refunded"]["amount_minor"], TOTAL);
    assert_eq!(done["refunds"].as_array().map(Vec::len), Some(3), "the customer sees every refund");
    assert!(done["refunded_at"].is_string());
    assert_eq!(stock_of(&s, &app).await, 8, "units refunded without restock stay out");

    // Nothing is left.
    refund(admin, &order, "r4", &json!({"amount_minor": 1})).await.assert_problem(409, "refund-exceeds-payment");
    admin
        .post(&format!("/api/v1/admin/orders/{order}/refund"), &json!({}))
        .await
        .assert_problem(409, "illegal-transition");

    // An unpaid order has nothing to refund.
    let slow = customer(&app, "slow").await;
    add(&slow.client, &s.variant, 1).await;
    let pending = checkout(&slow.client, &s, "slow-1", "tok_timeout").await;
    pending.assert_status(202);
    let pending = pending.json()["id"].as_str().expect("id").to_owned();
    let doc =
        refund(admin, &pending, "p1", &json!({"amount_minor": 1})).await.assert_problem(409, "order-not-refundable");
    assert_eq!(doc["order_status"], "pending_payment");
    refund(admin, &uuid::Uuid::new_v4().to_string(), "p1", &json!({"amount_minor": 1}))
        .await
        .assert_problem(404, "not-found");
}

#[tokio::test]
async fn the_rest_after_parts_and_a_cancellation_refund_only_what_is_left() {
    let (app, _db) = spawn_with(taxed).await;
    let s = shop(&app, 10, 1000).await;
    let admin = &s.admin.client;

    // Refund of the rest after a part: the rest of the money, the units restocked once.
    let (_, order) = paid_order(&app, &s, "rest").await;
    refund(admin, &order, "a", &units(1, 1, true)).await.assert_status(201);
    let full = admin.post(&format!("/api/v1/admin/orders/{order}/refund"), &json!({})).await;
    full.assert_status(200);
    let full = full.json();
    assert_eq!((full["status"].as_str(), full["refunded"]["amount_minor"].as_i64()), (Some("refunded"), Some(TOTAL)));
    let amounts: i64 = full["refunds"]
        .as_array()
        .expect("refunds")
        .iter()
        .map(|r| r["amount"]["amount_minor"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(amounts, TOTAL);
    assert_eq!(stock_of(&s, &app).await, 10, "three units back, the first one once");

    // A cancellation after a part: the rest of the money back, the rest of the units restocked.
    let (_, order) = paid_order(&app, &s, "cancel").await;
    refund(admin, &order, "a", &units(1, 2, true)).await.assert_status(201);
    let cancelled = admin.post(&format!("/api/v1/admin/orders/{order}/cancel"), &json!({})).await.json();
    assert_eq!(
        (cancelled["status"].as_str(), cancelled["refunded"]["amount_minor"].as_i64()),
        (Some("cancelled"), Some(TOTAL))
    );
    assert!(
        cancelled["refunds"].as_array().expect("refunds").iter().all(|r| r["status"] == "succeeded"),
        "{cancelled}"
    );
    assert_eq!(stock_of(&s, &app).await, 10);
    assert_eq!(ledger_sum(&s).await.0, 10, "the ledger sums to the stock");
}

#[tokio::test]
async fn concurrent_refunds_never_pass_what_is_left() {
    let (app, _db) = spawn_with(taxed).await;
    let s = shop(&app, 10, 1000).await;
    let (_, order) = paid_order(&app, &s, "race").await;
    // Ten refunds of one unit each, at once, on a line of three: three go through.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (admin, order) = (s.admin.client.clone(), order.clone());
        tasks.push(tokio::spawn(async move { refund(&admin, &order, &format!("k{i}"), &units(1, 1, true)).await }));
    }
    let mut statuses = BTreeMap::new();
    for t in tasks {
        let res = t.await.expect("task");
        if res.status.as_u16() == 409 {
            res.assert_problem(409, "refund-exceeds-line");
        }
        *statuses.entry(res.status.as_u16()).or_insert(0) += 1;
    }
    assert_eq!(statuses, BTreeMap::from([(201, 3), (409, 7)]));
    assert_eq!(stock_of(&s, &app).await, 10);
    // Twenty retries of one key at once: one refund.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (admin, order) = (s.admin.client.clone(), order.clone());
        tasks.push(tokio::spawn(async move { refund(&admin, &order, "same", &json!({"amount_minor": 10})).await }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let res = t.await.expect("task");
        res.assert_status(201);
        ids.insert(res.json()["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids.len(), 1);
    let o = s.admin.client.get(&format!("/api/v1/admin/orders/{order}")).await.json();
    assert_eq!(o["refunds"].as_array().map(Vec::len), Some(4));
    let sum: i64 = o["refunds"]
        .as_array()
        .expect("refunds")
        .iter()
        .map(|r| r["amount"]["amount_minor"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(o["refunded"]["amount_minor"], sum);
}

/// A Stripe-compatible fake: payment intents succeed; refunds answer per idempotency key as
/// Stripe does (the same key, the same refund), after failing the first request it ever gets
/// (a provider that did not answer). It counts what it pays out.
#[derive(Clone, Default)]
struct Provider {
    seen: Arc<Mutex<Vec<(String, i64)>>>,
    failed_once: Arc<std::sync::atomic::AtomicBool>,
}

impl Provider {
    /// Distinct refunds paid (by key) and their sum.
    fn paid(&self) -> (usize, i64) {
        let seen = self.seen.lock().expect("lock");
        let distinct: BTreeMap<&str, i64> = seen.iter().map(|(k, a)| (k.as_str(), *a)).collect();
        (distinct.len(), distinct.values().sum())
    }
    fn calls(&self, key_prefix: &str) -> usize {
        self.seen.lock().expect("lock").iter().filter(|(k, _)| k.starts_with(key_prefix)).count()
    }
}

impl Respond for Provider {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let form: HashMap<String, String> = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
        let key = req.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let amount = form.get("amount").and_then(|a| a.parse().ok()).unwrap_or(0);
        if !self.failed_once.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // Not paid: the provider failed before doing anything.
            return ResponseTemplate::new(500).set_body_json(json!({"error": {"type": "api_error"}}));
        }
        self.seen.lock().expect("lock").push((key.clone(), amount));
        ResponseTemplate::new(200)
            .set_body_json(json!({"id": format!("re_{}", key.replace('-', "")), "status": "succeeded"}))
    }
}

#[tokio::test]
async fn a_refund_retried_is_never_paid_twice_by_the_provider() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "pi_fake_1", "status": "succeeded"})))
        .mount(&server)
        .await;
    let provider = Provider::default();
    Mock::given(method("POST")).and(path("/v1/refunds")).respond_with(provider.clone()).mount(&server).await;
    let (app, _db) = spawn_with(|c| {
        taxed(c);
        c.payments.provider = shop_api::config::PaymentProvider::Stripe;
        c.payments.stripe_base_url = server.uri();
        c.payments.stripe_secret_key = "sk_test_fake".into();
        c.payments.stripe_max_retries = 0;
    })
    .await;
    let s = shop(&app, 10, 1000).await;
    let admin = &s.admin.client;
    let (_, order) = paid_order(&app, &s, "stripe").await;

    // The provider fails the first call: the refund is recorded, pending.
    let first = refund(admin, &order, "a", &units(1, 1, false)).await;
    first.assert_status(201);
    assert_eq!(first.json()["status"], "pending");
    assert_eq!(provider.paid(), (0, 0));
    // The admin's retry with the key pays it out, with the refund's own provider key.
    let retried = refund(admin, &order, "a", &units(1, 1, false)).await.json();
    assert_eq!((retried["id"].clone(), retried["status"].as_str()), (first.json()["id"].clone(), Some("succeeded")));
    assert_eq!(provider.paid(), (1, 1189));
    // A second part, then its replay, then a third that would pass the payment.
    let second = refund(admin, &order, "b", &json!({"amount_minor": 2000})).await.json();
    assert_eq!(second["status"], "succeeded");
    refund(admin, &order, "b", &json!({"amount_minor": 2000})).await.assert_status(201);
    refund(admin, &order, "c", &json!({"amount_minor": TOTAL - 1189 - 2000 + 1}))
        .await
        .assert_problem(409, "refund-exceeds-payment");
    assert_eq!(provider.paid(), (2, 3189), "two refunds paid, once each");
    assert_eq!(provider.calls("refund-"), 2, "a replay of a settled refund does not call the provider");
    let o = admin.get(&format!("/api/v1/admin/orders/{order}")).await.json();
    assert_eq!(o["refunded"]["amount_minor"], 3189);
    let metrics = app.client.get("/metrics").await.text();
    assert!(metrics.contains("refunds_total{outcome=\"succeeded\"} 2"), "{metrics}");
    assert!(metrics.contains("refunds_total{outcome=\"retry\"} 1"));
}

#[tokio::test]
async fn a_return_flows_to_refund_and_restock_with_the_ledger_summing_to_stock() {
    let (app, _db) = spawn_with(|c| {
        taxed(c);
        c.orders.return_window_days = 14;
    })
    .await;
    let s = shop(&app, 10, 1000).await;
    let admin = &s.admin.client;
    let (c, order) = paid_order(&app, &s, "ret").await;
    let ask = |body: Value| {
        let (client, order) = (c.client.clone(), order.clone());
        async move { client.post(&format!("/api/v1/orders/{order}/returns"), &body).await }
    };
    let two = json!({"lines": [{"line_no": 1, "quantity": 2}], "reason": "too small"});
    // Only a delivered order.
    let doc = ask(two.clone()).await.assert_problem(409, "order-not-returnable");
    assert_eq!(doc["order_status"], "paid");
    admin
        .post(&format!("/api/v1/admin/orders/{order}/ship"), &json!({"carrier": "DHL", "tracking_number": "T1"}))
        .await
        .assert_status(200);
    admin.post(&format!("/api/v1/admin/orders/{order}/deliver"), &json!({})).await.assert_status(200);

    let asked = ask(two.clone()).await;
    asked.assert_status(201);
    let ret = asked.json();
    let id = ret["id"].as_str().expect("id").to_owned();
    assert_eq!((ret["status"].as_str(), ret["reason"].as_str()), (Some("requested"), Some("too small")));
    // Two of three units are in a return: two more cannot be asked, nor refunded by line.
    let doc = ask(two.clone()).await.assert_problem(409, "return-exceeds-line");
    assert_eq!(doc["returnable_quantity"], 1);
    refund(admin, &order, "x", &units(1, 2, false)).await.assert_problem(409, "refund-exceeds-line");
    let doc = ask(json!({"lines": [{"line_no": 5, "quantity": 1}], "reason": "x"}))
        .await
        .assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "lines");
    ask(json!({"lines": [], "reason": "x"})).await.assert_problem(422, "validation-failed");

    // Every illegal step is 409 with the return's status.
    let step = |what: &'static str, body: Value| {
        let (admin, id) = (admin.clone(), id.clone());
        async move { admin.post(&format!("/api/v1/admin/returns/{id}/{what}"), &body).await }
    };
    let doc = step("receive", json!({})).await.assert_problem(409, "illegal-return-transition");
    assert_eq!(doc["return_status"], "requested");
    step("refund", json!({})).await.assert_problem(409, "illegal-return-transition");
    assert_eq!(step("approve", json!({})).await.json()["status"], "approved");
    step("approve", json!({})).await.assert_problem(409, "illegal-return-transition");
    step("reject", json!({"note": "late"})).await.assert_problem(409, "illegal-return-transition");
    let received = step("receive", json!({})).await.json();
    assert_eq!(received["lines"], json!([{"line_no": 1, "quantity": 2, "restocked": 2}]));
    assert_eq!(stock_of(&s, &app).await, 9, "two units back");
    c.client
        .post(&format!("/api/v1/orders/{order}/returns/{id}/withdraw"), &json!({}))
        .await
        .assert_problem(409, "illegal-return-transition");
    let refunded = step("refund", json!({})).await.json();
    assert_eq!(refunded["status"], "refunded");
    step("refund", json!({})).await.assert_problem(409, "illegal-return-transition");

    // Two units at 10.00 with their tax: floor(663 * 2000 / 3490) = 3.79.
    let o = c.client.get(&format!("/api/v1/orders/{order}")).await.json();
    let r = o["refunds"]
        .as_array()
        .expect("refunds")
        .iter()
        .find(|r| r["id"] == refunded["refund_id"])
        .expect("refund")
        .clone();
    assert_eq!((r["amount"]["amount_minor"].as_i64(), r["status"].as_str()), (Some(2379), Some("succeeded")));
    assert_eq!(
        (o["refund_state"].as_str(), o["lines"][0]["refunded_quantity"].as_i64()),
        (Some("partially_refunded"), Some(2))
    );
    assert_eq!(o["lines"][0]["returned_quantity"], 0);
    let (sum, rows) = ledger_sum(&s).await;
    assert_eq!(sum, 9, "the ledger sums to the stock");
    assert!(rows.iter().any(|e| e["reason"] == "return" && e["delta"] == 2));

    // The last unit: asked, withdrawn, asked again, rejected.
    let one = json!({"lines": [{"line_no": 1, "quantity": 1}], "reason": "changed my mind"});
    let again = ask(one.clone()).await.json();
    let again_id = again["id"].as_str().expect("id").to_owned();
    let other = crate::helpers::customer(&app, "other").await;
    other
        .client
        .post(&format!("/api/v1/orders/{order}/returns/{again_id}/withdraw"), &json!({}))
        .await
        .assert_problem(404, "not-found");
    let withdrawn =
        c.client.post(&format!("/api/v1/orders/{order}/returns/{again_id}/withdraw"), &json!({})).await.json();
    assert_eq!(withdrawn["status"], "withdrawn");
    let last = ask(one).await.json();
    let rejected = admin
        .post(&format!("/api/v1/admin/returns/{}/reject", last["id"].as_str().expect("id")), &json!({"note": "used"}))
        .await
        .json();
    assert_eq!((rejected["status"].as_str(), rejected["note"].as_str()), (Some("rejected"), Some("used")));
    let o = c.client.get(&format!("/api/v1/orders/{order}")).await.json();
    assert_eq!(o["returns"].as_array().map(Vec::len), Some(3));
    assert_eq!(o["lines"][0]["returned_quantity"], 0);
    // The timeline tells it all, oldest first, to the customer and the admin alike.
    let timeline = c.client.get(&format!("/api/v1/orders/{order}/timeline")).await.json();
    let kinds: Vec<String> = timeline
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            format!("{}:{}", e["kind"].as_str().unwrap_or(""), e["to"].as_str().or(e["status"].as_str()).unwrap_or(""))
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "status:pending_payment",
            "status:paid",
            "status:shipped",
            "shipment:",
            "status:delivered",
            "shipment_delivered:",
            "return:refunded",
            "refund:succeeded",
            "return:withdrawn",
            "return:rejected"
        ],
        "{timeline}"
    );
    assert_eq!(admin.get(&format!("/api/v1/admin/orders/{order}/timeline")).await.json(), timeline);
    other.client.get(&format!("/api/v1/orders/{order}/timeline")).await.assert_problem(404, "not-found");
    // Another customer cannot ask for a return of this order.
    other
        .client
        .post(
            &format!("/api/v1/orders/{order}/returns"),
            &json!({"lines": [{"line_no": 1, "quantity": 1}], "reason": "x"}),
        )
        .await
        .assert_problem(404, "not-found");
}

#[tokio::test]
async fn a_return_window_closes() {
    let (app, _db) = spawn_with(|c| c.orders.return_window_days = 0).await;
    let s = shop(&app, 10, 1000).await;
    let (c, order) = paid_order_untaxed(&app, &s).await;
    s.admin
        .client
        .post(&format!("/api/v1/admin/orders/{order}/ship"), &json!({"carrier": "DHL", "tracking_number": "T1"}))
        .await;
    s.admin.client.post(&format!("/api/v1/admin/orders/{order}/deliver"), &json!({})).await.assert_status(200);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let doc = c
        .client
        .post(
            &format!("/api/v1/orders/{order}/returns"),
            &json!({"lines": [{"line_no": 1, "quantity": 1}], "reason": "x"}),
        )
        .await
        .assert_problem(409, "return-window-closed");
    assert!(doc["closed_at"].is_string());
}

async fn paid_order_untaxed(app: &TestApp, s: &Shop) -> (Session, String) {
    let c = customer(app, "window").await;
    add(&c.client, &s.variant, 1).await.assert_status(200);
    let placed = checkout(&c.client, s, "w-1", "tok_visa").await;
    placed.assert_status(201);
    (c, placed.json()["id"].as_str().expect("id").to_owned())
}
