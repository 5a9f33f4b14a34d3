//! Shipments of chosen units and capture at shipment: each parcel captures exactly the value of
//! its units (a fake Stripe-compatible provider counts what it captures), the order is
//! `partially_shipped` until its last unit ships, parcels are delivered one by one, the
//! unshipped rest can be cancelled (restocked, refunded or released), and a capture the
//! provider refuses flags the order for an admin.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use testkit::Client;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::catalog::{product, product_body};
use crate::checkout::{Shop, add, checkout, ledger_sum, shop, stock_of};
use crate::helpers::{TestApp, customer, db_i64, spawn_with};

fn taxed_on_shipment(c: &mut shop_api::config::Config) {
    c.tax.rates = HashMap::from([("DE".to_owned(), 1900)]);
    c.payments.capture = orders::CaptureMode::OnShipment;
}

/// A second product of one variant (5.00, stock 10) besides the shop's own.
async fn second_variant(s: &Shop) -> String {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let sku = format!("SV-{tag}");
    let p = product(&s.admin, &product_body(&format!("second-{tag}"), "Second", None, &[(&sku, 500, 10)])).await;
    p["variants"][0]["id"].as_str().expect("variant").to_owned()
}

/// A paid order of 3 units of the shop's variant (line 1) and 1 of `other` (line 2).
async fn two_line_order(app: &TestApp, s: &Shop, other: &str, tag: &str, token: &str) -> (Client, Value) {
    let c = customer(app, tag).await;
    add(&c.client, &s.variant, 3).await.assert_status(200);
    add(&c.client, other, 1).await.assert_status(200);
    let placed = checkout(&c.client, s, &format!("{tag}-1"), token).await;
    placed.assert_status(201);
    (c.client, placed.json())
}

async fn ship(admin: &Client, order: &str, lines: &[(i64, i64)]) -> testkit::Response {
    let lines: Vec<Value> = lines.iter().map(|(l, q)| json!({"line_no": l, "quantity": q})).collect();
    let body = json!({"carrier": "DHL", "tracking_number": format!("JD{}", lines.len()), "lines": lines});
    admin.post(&format!("/api/v1/admin/orders/{order}/shipments"), &body).await
}

/// The documented rounding rule (docs/orders.md): the value of `units` of each line, with the
/// shipping or not.
fn value(order: &Value, units: &[i64], shipping: bool) -> i64 {
    let m = |v: &Value| v["amount_minor"].as_i64().expect("money");
    let lines = order["lines"].as_array().expect("lines");
    let nets: Vec<i64> = lines.iter().map(|l| m(&l["line_total"]) - m(&l["discount"])).collect();
    let tax = m(&order["tax"]);
    let lines_net: i64 = nets.iter().sum();
    let shipping_net = m(&order["total"]) - tax - lines_net;
    let mut base: i64 = lines
        .iter()
        .zip(&nets)
        .zip(units)
        .map(|((l, net), r)| net * r / l["quantity"].as_i64().expect("quantity"))
        .sum();
    if shipping {
        base += shipping_net;
    }
    base + tax * base / (lines_net + shipping_net)
}

/// A Stripe-compatible fake: payment intents are authorised (`requires_capture`) and remembered
/// with their form; captures answer per idempotency key as Stripe does, and are counted.
#[derive(Clone, Default)]
struct Provider {
    authorized: Arc<Mutex<Vec<HashMap<String, String>>>>,
    captures: Arc<Mutex<Vec<(String, i64, String)>>>,
    refuse_captures: Arc<std::sync::atomic::AtomicBool>,
}

impl Respond for Provider {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let form: HashMap<String, String> = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
        if req.url.path() == "/v1/payment_intents" {
            let mut authorized = self.authorized.lock().expect("lock");
            authorized.push(form);
            let id = format!("pi_fake_{}", authorized.len());
            return ResponseTemplate::new(200).set_body_json(json!({"id": id, "status": "requires_capture"}));
        }
        if self.refuse_captures.load(std::sync::atomic::Ordering::SeqCst) {
            return ResponseTemplate::new(400).set_body_json(
                json!({"error": {"type": "invalid_request_error", "code": "charge_expired_for_capture"}}),
            );
        }
        let key = req.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let amount = form.get("amount_to_capture").and_then(|a| a.parse().ok()).unwrap_or(0);
        let last = form.get("final_capture").cloned().unwrap_or_default();
        let mut seen = self.captures.lock().expect("lock");
        if !seen.iter().any(|(k, ..)| *k == key) {
            seen.push((key, amount, last));
        }
        ResponseTemplate::new(200).set_body_json(json!({"id": "pi_fake", "status": "requires_capture"}))
    }
}

async fn stripe_app(provider: &Provider) -> (TestApp, testkit::TestDb, MockServer) {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/v1/payment_intents")).respond_with(provider.clone()).mount(&server).await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v1/payment_intents/pi_fake_\d+/capture$"))
        .respond_with(provider.clone())
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v1/payment_intents/pi_fake_\d+/cancel$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "pi_fake", "status": "canceled"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/refunds"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "re_fake_1", "status": "succeeded"})))
        .mount(&server)
        .await;
    let uri = server.uri();
    let (app, db) = spawn_with(|c| {
        taxed_on_shipment(c);
        c.payments.provider = shop_api::config::PaymentProvider::Stripe;
        c.payments.stripe_base_url = uri;
        c.payments.stripe_secret_key = "sk_test_fake".into();
        c.payments.stripe_max_retries = 0;
    })
    .await;
    (app, db, server)
}

#[tokio::test]
async fn capture_on_shipment_captures_exactly_the_shipped_lines() {
    let provider = Provider::default();
    let (app, db, _server) = stripe_app(&provider).await;
    let s = shop(&app, 10, 1000).await;
    let other = second_variant(&s).await;
    let admin = &s.admin.client;
    let (customer, placed) = two_line_order(&app, &s, &other, "capture", "pm_card_visa").await;
    let order = placed["id"].as_str().expect("id").to_owned();
    let total = placed["total"]["amount_minor"].as_i64().expect("total");

    // Authorised at checkout, nothing taken yet.
    assert_eq!(
        (placed["status"].as_str(), placed["capture_mode"].as_str(), placed["capture_state"].as_str()),
        (Some("paid"), Some("on_shipment"), Some("none"))
    );
    assert_eq!(placed["captured"]["amount_minor"], 0);
    let auth = provider.authorized.lock().expect("lock")[0].clone();
    assert_eq!(auth["capture_method"], "manual");
    assert_eq!(auth["payment_method_options[card][request_multicapture]"], "if_available");
    // Nothing captured: nothing to refund.
    admin
        .with_header("idempotency-key", "early")
        .post(&format!("/api/v1/admin/orders/{order}/refunds"), &json!({"amount_minor": 100}))
        .await
        .assert_problem(409, "refund-exceeds-payment");

    // First parcel: 2 units of line 1, with the shipping; retried with its key, captured once.
    let body = json!({"carrier": "DHL", "tracking_number": "JD1", "lines": [{"line_no": 1, "quantity": 2}]});
    let url = format!("/api/v1/admin/orders/{order}/shipments");
    let first = admin.with_header("idempotency-key", "parcel-1").post(&url, &body).await;
    first.assert_status(201);
    assert_eq!(first.header("location"), Some(format!("/api/v1/admin/orders/{order}").as_str()));
    let p1 = first.json();
    let first_value = value(&placed, &[2, 0], true);
    assert_eq!(
        (p1["number"].as_i64(), p1["capture"]["amount_minor"].as_i64(), p1["capture_status"].as_str()),
        (Some(1), Some(first_value), Some("captured"))
    );
    assert_eq!(p1["final_capture"], false);
    let again = admin.with_header("idempotency-key", "parcel-1").post(&url, &body).await;
    again.assert_status(201);
    assert_eq!(again.json()["id"], p1["id"]);
    admin
        .with_header("idempotency-key", "parcel-1")
        .post(&url, &json!({"carrier": "UPS", "tracking_number": "X"}))
        .await
        .assert_problem(422, "idempotency-key-reused");
    let o = admin.get(&format!("/api/v1/admin/orders/{order}")).await.json();
    assert_eq!(
        (o["status"].as_str(), o["capture_state"].as_str()),
        (Some("partially_shipped"), Some("partially_captured"))
    );
    assert_eq!(o["captured"]["amount_minor"], first_value);
    assert_eq!(
        (o["lines"][0]["shipped_quantity"].as_i64(), o["lines"][1]["shipped_quantity"].as_i64()),
        (Some(2), Some(0))
    );
    // Refunds never pass what was captured.
    admin
        .with_header("idempotency-key", "too-much")
        .post(&format!("/api/v1/admin/orders/{order}/refunds"), &json!({"amount_minor": first_value + 1}))
        .await
        .assert_problem(409, "refund-exceeds-payment");
    // The customer may not cancel the rest; only units left can ship.
    customer
        .post(&format!("/api/v1/orders/{order}/cancel"), &json!({}))
        .await
        .assert_problem(409, "illegal-transition");
    let over = ship(admin, &order, &[(1, 2)]).await;
    over.assert_problem(409, "shipment-exceeds-line");
    assert_eq!(over.json()["shippable_quantity"], 1);
    ship(admin, &order, &[(7, 1)]).await.assert_problem(422, "validation-failed");
    // The whole order cannot be delivered before it has shipped.
    admin
        .post(&format!("/api/v1/admin/orders/{order}/deliver"), &json!({}))
        .await
        .assert_problem(409, "illegal-transition");

    // Second parcel: everything left; it captures the rest of the total, and is final.
    let p2 = ship(admin, &order, &[]).await;
    p2.assert_status(201);
    let p2 = p2.json();
    assert_eq!(p2["lines"], json!([{"line_no": 1, "quantity": 1}, {"line_no": 2, "quantity": 1}]));
    assert_eq!(p2["capture"]["amount_minor"], total - first_value);
    assert_eq!((p2["final_capture"].as_bool(), p2["capture_status"].as_str()), (Some(true), Some("captured")));
    let captures = provider.captures.lock().expect("lock").clone();
    assert_eq!(
        captures.iter().map(|(_, a, f)| (*a, f.as_str())).collect::<Vec<_>>(),
        vec![(first_value, "false"), (total - first_value, "true")],
        "each parcel captured once, for exactly its units"
    );
    assert_eq!(captures.iter().map(|c| c.1).sum::<i64>(), total);
    ship(admin, &order, &[]).await.assert_problem(409, "illegal-transition");

    // Delivered parcel by parcel; the customer sees both, and the timeline tells it.
    let (id1, id2) = (p1["id"].as_str().expect("id"), p2["id"].as_str().expect("id"));
    let d1 = admin.post(&format!("/api/v1/admin/orders/{order}/shipments/{id1}/deliver"), &json!({})).await;
    d1.assert_status(200);
    assert_eq!(d1.json()["status"], "shipped");
    let d2 = admin.post(&format!("/api/v1/admin/orders/{order}/shipments/{id2}/deliver"), &json!({})).await.json();
    assert_eq!(d2["status"], "delivered");
    let mine = customer.get(&format!("/api/v1/orders/{order}")).await.json();
    assert_eq!(mine["capture_state"], "captured");
    assert_eq!(
        mine["shipments"].as_array().map(|a| a.iter().map(|s| s["status"].clone()).collect::<Vec<_>>()),
        Some(vec![json!("delivered"), json!("delivered")])
    );
    let timeline = customer.get(&format!("/api/v1/orders/{order}/timeline")).await.json();
    let kinds: Vec<&str> = timeline.as_array().expect("entries").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "shipment").count(), 2, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "shipment_delivered").count(), 2, "{kinds:?}");
    // One email event per parcel, and the order's own events.
    let events =
        |kind: &str| format!("SELECT count(*) FROM outbox WHERE event_type = '{kind}' AND aggregate_id = '{order}'");
    assert_eq!(db_i64(&db.url, &events("order.shipment_created")).await, 2);
    assert_eq!(db_i64(&db.url, &events("order.shipment_delivered")).await, 2);
    assert_eq!(db_i64(&db.url, &events("order.shipped")).await, 1);
    let metrics = app.client.get("/metrics").await.text();
    assert!(metrics.contains("captures_total{outcome=\"captured\"} 2"), "{metrics}");
    assert!(metrics.contains(&format!("captured_minor_units_total{{outcome=\"captured\"}} {total}")));
    assert!(metrics.contains("shipments_total{step=\"created\"} 2"));
    assert!(metrics.contains("shipments_total{step=\"delivered\"} 2"));

    // A refund of the whole order now gives back what was captured, at most.
    let rest = admin.post(&format!("/api/v1/admin/orders/{order}/refund"), &json!({})).await.json();
    assert_eq!(rest["refunded"]["amount_minor"], total);
}

#[tokio::test]
async fn a_refused_capture_flags_the_order_and_an_admin_retries_it() {
    let provider = Provider::default();
    let (app, _db, _server) = stripe_app(&provider).await;
    let s = shop(&app, 10, 1000).await;
    let other = second_variant(&s).await;
    let admin = &s.admin.client;
    let (_, placed) = two_line_order(&app, &s, &other, "refused", "pm_card_visa").await;
    let order = placed["id"].as_str().expect("id").to_owned();

    provider.refuse_captures.store(true, std::sync::atomic::Ordering::SeqCst);
    let parcel = ship(admin, &order, &[(2, 1)]).await;
    parcel.assert_status(201);
    let parcel = parcel.json();
    // The shipment is recorded; its capture failed and the order waits for an admin.
    assert_eq!(parcel["capture_status"], "failed");
    assert!(parcel["capture_error"].as_str().is_some_and(|e| e.contains("charge_expired_for_capture")), "{parcel}");
    let o = admin.get(&format!("/api/v1/admin/orders/{order}")).await.json();
    assert_eq!((o["status"].as_str(), o["capture_failed"].as_bool()), (Some("partially_shipped"), Some(true)));
    assert_eq!(o["captured"]["amount_minor"], 0, "never silently paid");
    let flagged = admin.get("/api/v1/admin/orders?capture_failed=true").await.json();
    let ids: Vec<&str> = flagged["items"].as_array().expect("items").iter().filter_map(|o| o["id"].as_str()).collect();
    assert_eq!(ids, vec![order.as_str()]);

    // The provider works again: the admin's retry captures it, with the same key.
    provider.refuse_captures.store(false, std::sync::atomic::Ordering::SeqCst);
    let sid = parcel["id"].as_str().expect("id");
    let retried = admin.post(&format!("/api/v1/admin/orders/{order}/shipments/{sid}/capture"), &json!({})).await;
    retried.assert_status(200);
    assert_eq!(retried.json()["capture_status"], "captured");
    let o = admin.get(&format!("/api/v1/admin/orders/{order}")).await.json();
    assert_eq!(o["capture_failed"], false);
    assert_eq!(o["captured"]["amount_minor"], value(&placed, &[0, 1], true));
    assert_eq!(provider.captures.lock().expect("lock").len(), 1);
    let again = admin.post(&format!("/api/v1/admin/orders/{order}/shipments/{sid}/capture"), &json!({})).await;
    again.assert_problem(409, "capture-not-failed");
    assert_eq!(again.json()["capture_status"], "captured");
    let metrics = app.client.get("/metrics").await.text();
    assert!(metrics.contains("captures_total{outcome=\"failed\"} 1"), "{metrics}");
}

#[tokio::test]
async fn cancelling_the_unshipped_rest_restocks_it_and_refunds_or_releases_it() {
    for mode in [orders::CaptureMode::Automatic, orders::CaptureMode::OnShipment] {
        let (app, _db) = spawn_with(|c| {
            c.tax.rates = HashMap::from([("DE".to_owned(), 1900)]);
            c.payments.capture = mode;
        })
        .await;
        let s = shop(&app, 10, 1000).await;
        let other = second_variant(&s).await;
        let admin = &s.admin.client;
        let (_, placed) = two_line_order(&app, &s, &other, "rest", "tok_visa").await;
        let order = placed["id"].as_str().expect("id").to_owned();
        let total = placed["total"]["amount_minor"].as_i64().expect("total");
        assert_eq!(stock_of(&s, &app).await, 7);

        ship(admin, &order, &[(1, 1)]).await.assert_status(201);
        let cancelled = admin.post(&format!("/api/v1/admin/orders/{order}/cancel"), &json!({})).await;
        cancelled.assert_status(200);
        let o = cancelled.json();
        // What shipped stays shipped; the two unshipped units of line 1 (and line 2) are back.
        assert_eq!(o["status"], "shipped", "{mode:?}");
        assert_eq!(stock_of(&s, &app).await, 9, "{mode:?}");
        assert_eq!(ledger_sum(&s).await.0, 9, "{mode:?}: the ledger sums to the stock");
        match mode {
            orders::CaptureMode::Automatic => {
                // Charged at checkout: the unshipped units are refunded, without the shipping.
                let unshipped = value(&placed, &[2, 1], false);
                assert!(unshipped < total);
                assert_eq!(o["refunds"][0]["amount"]["amount_minor"], unshipped, "{o}");
                assert_eq!(o["refunds"][0]["status"], "succeeded");
                assert_eq!(o["refund_state"], "partially_refunded");
            }
            orders::CaptureMode::OnShipment => {
                // Never charged: nothing to refund; the authorisation is released.
                assert_eq!(o["refunds"], json!([]));
                assert_eq!(o["captured"]["amount_minor"], value(&placed, &[1, 0], true));
            }
        }
        // Nothing is left to ship, nor to cancel.
        ship(admin, &order, &[]).await.assert_problem(409, "illegal-transition");
        admin
            .post(&format!("/api/v1/admin/orders/{order}/cancel"), &json!({}))
            .await
            .assert_problem(409, "illegal-transition");
        let sid = o["shipments"][0]["id"].as_str().expect("id");
        let delivered =
            admin.post(&format!("/api/v1/admin/orders/{order}/shipments/{sid}/deliver"), &json!({})).await.json();
        assert_eq!(delivered["status"], "delivered");
        // Only the unit that shipped can be returned.
        let c = admin.get(&format!("/api/v1/admin/orders/{order}")).await.json();
        assert_eq!(c["lines"][0]["shipped_quantity"], 1);
    }
}

#[tokio::test]
async fn concurrent_shipments_never_ship_more_than_was_ordered() {
    let (app, db) = spawn_with(|_| {}).await;
    let s = shop(&app, 10, 1000).await;
    let c = customer(&app, "race").await;
    add(&c.client, &s.variant, 3).await.assert_status(200);
    let placed = checkout(&c.client, &s, "race-1", "tok_visa").await;
    placed.assert_status(201);
    let order = placed.json()["id"].as_str().expect("id").to_owned();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (admin, order) = (s.admin.client.clone(), order.clone());
            tokio::spawn(async move { ship(&admin, &order, &[(1, 1)]).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        let res = t.await.expect("task");
        if res.status == 409 {
            let code = res.json()["code"].as_str().map(str::to_owned);
            assert!(matches!(code.as_deref(), Some("shipment-exceeds-line" | "illegal-transition")), "{code:?}");
        }
        statuses.push(res.status.as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [vec![201; 3], vec![409; 7]].concat());
    let o = s.admin.client.get(&format!("/api/v1/admin/orders/{order}")).await.json();
    assert_eq!((o["status"].as_str(), o["lines"][0]["shipped_quantity"].as_i64()), (Some("shipped"), Some(3)));
    let numbers: Vec<i64> =
        o["shipments"].as_array().expect("shipments").iter().filter_map(|s| s["number"].as_i64()).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    assert_eq!(db_i64(&db.url, &format!("SELECT count(*) FROM shipments WHERE order_id = '{order}'")).await, 3);
    // An unpaid order cannot ship.
    let d = customer(&app, "unpaid").await;
    add(&d.client, &s.variant, 1).await.assert_status(200);
    let pending = checkout(&d.client, &s, "unpaid-1", "tok_declined").await;
    pending.assert_status(402);
    let failed = d.client.get("/api/v1/orders").await.json()["items"][0]["id"].as_str().expect("id").to_owned();
    let refused = ship(&s.admin.client, &failed, &[]).await;
    refused.assert_problem(409, "illegal-transition");
    assert_eq!(refused.json()["order_status"], "payment_failed");
}

#[tokio::test]
async fn an_authorisation_is_voided_or_its_rest_released_when_the_order_will_not_ship_whole() {
    let provider = Provider::default();
    let (app, _db, server) = stripe_app(&provider).await;
    let s = shop(&app, 10, 1000).await;
    let other = second_variant(&s).await;
    let admin = &s.admin.client;
    let cancels = || async {
        let seen = server.received_requests().await.unwrap_or_default();
        seen.iter().filter(|r| r.url.path().ends_with("/cancel")).count()
    };
    // Cancelled before shipping: the authorisation is voided, nothing refunded.
    let (_, placed) = two_line_order(&app, &s, &other, "void", "pm_card_visa").await;
    let order = placed["id"].as_str().expect("id").to_owned();
    let o = admin.post(&format!("/api/v1/admin/orders/{order}/cancel"), &json!({})).await.json();
    assert_eq!((o["status"].as_str(), o["refunds"].clone()), (Some("cancelled"), json!([])));
    assert_eq!(cancels().await, 1);
    // The rest of a partly shipped order cancelled: what shipped is captured, the rest released.
    let (_, placed) = two_line_order(&app, &s, &other, "release", "pm_card_visa").await;
    let order = placed["id"].as_str().expect("id").to_owned();
    ship(admin, &order, &[(1, 1)]).await.assert_status(201);
    let o = admin.post(&format!("/api/v1/admin/orders/{order}/cancel"), &json!({})).await.json();
    assert_eq!(o["status"], "shipped");
    assert_eq!(o["captured"]["amount_minor"], value(&placed, &[1, 0], true));
    assert_eq!(cancels().await, 2);
    // An order captured at shipment with units left cannot be refunded whole: cancel the rest.
    let (_, placed) = two_line_order(&app, &s, &other, "whole", "pm_card_visa").await;
    let order = placed["id"].as_str().expect("id").to_owned();
    ship(admin, &order, &[(2, 1)]).await.assert_status(201);
    let refused = admin.post(&format!("/api/v1/admin/orders/{order}/refund"), &json!({})).await;
    refused.assert_problem(409, "illegal-transition");
    assert_eq!(refused.json()["order_status"], "partially_shipped");
}

#[tokio::test]
async fn a_refund_restocking_the_last_unshipped_units_closes_the_rest() {
    let (app, _db) = spawn_with(|_| {}).await;
    let s = shop(&app, 10, 1000).await;
    let other = second_variant(&s).await;
    let admin = &s.admin.client;
    let (_, placed) = two_line_order(&app, &s, &other, "close", "tok_visa").await;
    let order = placed["id"].as_str().expect("id").to_owned();
    let parcel = ship(admin, &order, &[(1, 3)]).await.json();
    // Line 2 cannot be sent: refunded and put back in stock, the order has nothing left to ship.
    let refund = admin
        .with_header("idempotency-key", "close-1")
        .post(
            &format!("/api/v1/admin/orders/{order}/refunds"),
            &json!({"lines": [{"line_no": 2, "quantity": 1, "restock": true}]}),
        )
        .await;
    refund.assert_status(201);
    assert_eq!(refund.json()["lines"], json!([{"line_no": 2, "quantity": 1, "restocked": 1}]));
    let o = admin.get(&format!("/api/v1/admin/orders/{order}")).await.json();
    assert_eq!((o["status"].as_str(), o["refund_state"].as_str()), (Some("shipped"), Some("partially_refunded")));
    // Its one parcel arrives: the order is delivered.
    let sid = parcel["id"].as_str().expect("id");
    let d = admin.post(&format!("/api/v1/admin/orders/{order}/shipments/{sid}/deliver"), &json!({})).await.json();
    assert_eq!(d["status"], "delivered");
    // A shipped unit cannot be restocked by a refund before the order has shipped whole; after,
    // it can (it came back outside a return).
    let back = admin
        .with_header("idempotency-key", "close-2")
        .post(
            &format!("/api/v1/admin/orders/{order}/refunds"),
            &json!({"lines": [{"line_no": 1, "quantity": 1, "restock": true}]}),
        )
        .await
        .json();
    assert_eq!(back["lines"][0]["restocked"], 1);
}
