//! Carts, checkout, orders, payments and webhooks.

use std::collections::HashMap;

use serde_json::{Value, json};
use testkit::Client;

use crate::catalog::{product, product_body};
use crate::helpers::{
    PASSWORD, Session, TestApp, address, admin, checkouts_at_once, customer, sibling, spawn, spawn_with,
};

pub struct Shop {
    pub admin: Session,
    pub variant: String,
    pub product: String,
    pub shipping: String,
}

/// An admin, one product with one variant of `stock` at `price`, and a 4.90 EUR shipping method to DE.
pub async fn shop(app: &TestApp, stock: i32, price: i64) -> Shop {
    let a = admin(app).await;
    let p = product(
        &a,
        &product_body(
            &format!("thing-{}", uuid::Uuid::new_v4().simple()),
            "Thing",
            None,
            &[(&format!("TH-{}", uuid::Uuid::new_v4().simple()), price, stock)],
        ),
    )
    .await;
    let m = a
        .client
        .post(
            "/api/v1/admin/shipping-methods",
            &json!({"name": "Standard", "price_minor": 490, "currency": "EUR", "countries": ["DE", "AT"]}),
        )
        .await;
    m.assert_status(201);
    let location = format!("/api/v1/admin/shipping-methods/{}", m.json()["id"].as_str().expect("id"));
    assert_eq!(m.header("location"), Some(location.as_str()));
    Shop {
        variant: p["variants"][0]["id"].as_str().expect("variant").to_owned(),
        product: p["id"].as_str().expect("id").to_owned(),
        shipping: m.json()["id"].as_str().expect("id").to_owned(),
        admin: a,
    }
}

fn checkout_body(shop: &Shop, token: &str) -> Value {
    json!({"shipping_address": address("Ada Lovelace"), "shipping_method_id": shop.shipping, "payment_token": token})
}

pub async fn add(client: &Client, variant: &str, qty: i32) -> testkit::Response {
    client.post("/api/v1/cart/lines", &json!({"variant_id": variant, "quantity": qty})).await
}

pub async fn checkout(client: &Client, shop: &Shop, key: &str, token: &str) -> testkit::Response {
    client.with_header("idempotency-key", key).post("/api/v1/checkout", &checkout_body(shop, token)).await
}

pub async fn stock_of(shop: &Shop, app: &TestApp) -> i64 {
    let _ = app;
    let p = shop.admin.client.get(&format!("/api/v1/admin/products/{}", shop.product)).await.json();
    p["variants"][0]["stock"].as_i64().expect("stock")
}

pub async fn ledger_sum(shop: &Shop) -> (i64, Vec<Value>) {
    let page =
        shop.admin.client.get(&format!("/api/v1/admin/variants/{}/inventory?limit=500", shop.variant)).await.json();
    let items = page["items"].as_array().expect("items").clone();
    (items.iter().map(|e| e["delta"].as_i64().expect("delta")).sum(), items)
}

#[tokio::test]
async fn cart_prices_flags_and_validates_lines() {
    let (app, _db) = spawn_with(|c| {
        c.tax.rates = HashMap::from([("DE".to_owned(), 1900)]);
    })
    .await;
    let shop = shop(&app, 5, 1999).await;
    let c = customer(&app, "cart").await;
    add(&c.client, &shop.variant, 3).await.assert_status(200);
    let cart = add(&c.client, &shop.variant, 1).await.json();
    assert_eq!(cart["lines"][0]["quantity"], 4, "quantities add up");
    assert_eq!(cart["subtotal"], json!({"amount_minor": 7996, "currency": "EUR"}));
    assert_eq!(cart["checkout_ready"], true);

    // 4 x 19.99 = 79.96 + 4.90 shipping = 84.86; 19 % = 16.1234 -> 16.12; total 100.98
    let priced = c.client.get(&format!("/api/v1/cart?shipping_method={}&country=DE", shop.shipping)).await.json();
    assert_eq!(priced["shipping"]["amount_minor"], 490);
    assert_eq!(priced["tax"]["amount_minor"], 1612);
    assert_eq!(priced["total"]["amount_minor"], 10098);
    let untaxed = c.client.get(&format!("/api/v1/cart?shipping_method={}&country=AT", shop.shipping)).await.json();
    assert_eq!(untaxed["tax"]["amount_minor"], 0);
    c.client
        .get(&format!("/api/v1/cart?shipping_method={}&country=US", shop.shipping))
        .await
        .assert_problem(400, "invalid-parameter");
    c.client
        .get(&format!("/api/v1/cart?shipping_method={}", shop.shipping))
        .await
        .assert_problem(400, "invalid-parameter");

    // Quantity bounds and unknown variants name the field.
    for q in [0, 100, -1] {
        let doc = add(&c.client, &shop.variant, q).await.assert_problem(422, "validation-failed");
        assert_eq!(doc["errors"][0]["field"], "quantity");
    }
    let doc = add(&c.client, &uuid::Uuid::new_v4().to_string(), 1).await.assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "variant_id");
    let doc = c
        .client
        .put(&format!("/api/v1/cart/lines/{}", shop.variant), &json!({"quantity": 120}))
        .await
        .assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "quantity");

    // More than in stock: flagged, not dropped.
    let cart = c.client.put(&format!("/api/v1/cart/lines/{}", shop.variant), &json!({"quantity": 9})).await.json();
    assert_eq!(cart["lines"][0]["issue"], "insufficient_stock");
    assert_eq!(cart["lines"][0]["available_quantity"], 5);
    assert_eq!(cart["checkout_ready"], false);
    // Deactivated: still listed, flagged unavailable.
    shop.admin
        .client
        .patch(&format!("/api/v1/admin/variants/{}", shop.variant), &json!({"active": false}))
        .await
        .assert_status(200);
    let cart = c.client.get("/api/v1/cart").await.json();
    assert_eq!(cart["lines"].as_array().map(Vec::len), Some(1));
    assert_eq!(cart["lines"][0]["issue"], "unavailable");

    // A USD product cannot join a EUR cart.
    let mut usd = product_body("usd-thing", "USD Thing", None, &[("USD-1", 100, 5)]);
    usd["currency"] = json!("USD");
    let usd = product(&shop.admin, &usd).await;
    add(&c.client, usd["variants"][0]["id"].as_str().expect("id"), 1).await.assert_problem(409, "currency-mismatch");

    c.client.delete(&format!("/api/v1/cart/lines/{}", shop.variant)).await.assert_status(200);
    c.client.delete(&format!("/api/v1/cart/lines/{}", shop.variant)).await.assert_problem(404, "not-found");
    add(&c.client, usd["variants"][0]["id"].as_str().expect("id"), 2).await.assert_status(200);
    c.client.delete("/api/v1/cart").await.assert_status(204);
    assert_eq!(c.client.get("/api/v1/cart").await.json()["lines"], json!([]));
}

#[tokio::test]
async fn guest_cart_merges_into_the_user_cart_at_login() {
    let (app, _db) = spawn().await;
    let shop = shop(&app, 50, 1000).await;
    let user = customer(&app, "merger").await;
    add(&user.client, &shop.variant, 2).await.assert_status(200);

    // A guest builds a cart: the first add creates it and hands back a token.
    let res = add(&app.client, &shop.variant, 3).await;
    res.assert_status(200);
    let token = res.header("x-cart-token").expect("cart token").to_owned();
    assert_eq!(res.json()["cart_token"], token.as_str());
    let guest = app.client.with_header("x-cart-token", &token);
    add(&guest, &shop.variant, 1).await.assert_status(200);
    assert_eq!(guest.get("/api/v1/cart").await.json()["lines"][0]["quantity"], 4);
    // Without the token the guest has nothing.
    assert_eq!(app.client.get("/api/v1/cart").await.json()["lines"], json!([]));

    let res = app
        .client
        .post("/api/v1/auth/login", &json!({"email": user.email, "password": PASSWORD, "cart_token": token}))
        .await;
    res.assert_status(200);
    let cart = user.client.get("/api/v1/cart").await.json();
    assert_eq!(cart["lines"][0]["quantity"], 6, "2 + 4 merged");
    // The guest cart is gone.
    assert_eq!(guest.get("/api/v1/cart").await.json()["lines"], json!([]));

    // The explicit merge endpoint does the same for a signed-in user.
    let res = add(&app.client, &shop.variant, 1).await;
    let token2 = res.header("x-cart-token").expect("token").to_owned();
    let merged = user.client.post("/api/v1/cart/merge", &json!({"cart_token": token2})).await;
    merged.assert_status(200);
    assert_eq!(merged.json()["lines"][0]["quantity"], 7);
    // A bad bearer token is a 401, not a silent guest.
    app.client.with_token("garbage").get("/api/v1/cart").await.assert_status(401);
}

#[tokio::test]
async fn checkout_pays_snapshots_and_empties_the_cart() {
    let (app, _db) = spawn_with(|c| c.tax.rates = HashMap::from([("DE".to_owned(), 1900)])).await;
    let shop = shop(&app, 10, 1999).await;
    let c = customer(&app, "buyer").await;
    add(&c.client, &shop.variant, 3).await;

    c.client
        .post("/api/v1/checkout", &checkout_body(&shop, "tok_visa"))
        .await
        .assert_problem(400, "idempotency-key-required");
    let res = checkout(&c.client, &shop, "order-1", "tok_visa").await;
    res.assert_status(201);
    let order = res.json();
    assert_eq!(order["status"], "paid");
    let location = format!("/api/v1/orders/{}", order["id"].as_str().expect("id"));
    assert_eq!(res.header("location"), Some(location.as_str()));
    // 3 x 19.99 = 59.97 + 4.90 = 64.87; 19 % = 12.3253 -> 12.33; total 77.20
    assert_eq!(order["subtotal"]["amount_minor"], 5997);
    assert_eq!(order["shipping"]["amount_minor"], 490);
    assert_eq!(order["tax"]["amount_minor"], 1233);
    assert_eq!(order["total"]["amount_minor"], 7720);
    assert_eq!(order["lines"][0]["quantity"], 3);
    assert_eq!(order["lines"][0]["unit_price"]["amount_minor"], 1999);
    assert_eq!(order["shipping_address"]["city"], "Berlin");
    assert!(order.get("payment_id").is_none());
    assert_eq!(stock_of(&shop, &app).await, 7);
    assert_eq!(c.client.get("/api/v1/cart").await.json()["lines"], json!([]));

    // The snapshot survives a later price change.
    shop.admin
        .client
        .patch(&format!("/api/v1/admin/variants/{}", shop.variant), &json!({"price_minor": 5}))
        .await
        .assert_status(200);
    let id = order["id"].as_str().expect("id");
    assert_eq!(
        c.client.get(&format!("/api/v1/orders/{id}")).await.json()["lines"][0]["unit_price"]["amount_minor"],
        1999
    );
    let list = c.client.get("/api/v1/orders").await.json();
    assert_eq!(list["items"][0]["id"], id);

    // An empty cart cannot check out (and nothing is written).
    checkout(&c.client, &shop, "order-2", "tok_visa").await.assert_problem(409, "cart-empty");
    let metrics = app.client.get("/metrics").await.text();
    assert!(metrics.contains("orders_created_total 1"), "{metrics}");
    assert!(metrics.contains(r#"checkout_failures_total{reason="cart_empty"} 1"#), "{metrics}");
}

#[tokio::test]
async fn oversell_is_impossible_across_two_instances() {
    let (app, db) = spawn_with(|c| c.database.pool_size = 10).await;
    let other = sibling(&app, &db, |c| c.database.pool_size = 10).await;
    let shop = shop(&app, 10, 2500).await;

    // 200 buyers, each with the variant in the cart.
    let variant = &shop.variant;
    let buyers = crate::helpers::customers_ready(&app, 200, |c| async move {
        add(&c, variant, 1).await.assert_status(200);
    })
    .await;

    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for res in checkouts_at_once(&app, &other, &buyers, &checkout_body(&shop, "tok_visa")).await {
        if res.status.as_u16() == 409 {
            res.assert_problem(409, "insufficient-stock");
        }
        *statuses.entry(res.status.as_u16()).or_default() += 1;
    }
    assert_eq!(statuses.get(&201), Some(&10), "{statuses:?}");
    assert_eq!(statuses.get(&409), Some(&190), "{statuses:?}");
    assert_eq!(stock_of(&shop, &app).await, 0);
    let (sum, rows) = ledger_sum(&shop).await;
    assert_eq!(sum, 0, "the ledger sums to the stock");
    assert_eq!(rows.iter().filter(|r| r["reason"] == "sale").count(), 10);
    let paid = shop.admin.client.get("/api/v1/admin/orders?status=paid&limit=100").await.json();
    assert_eq!(paid["items"].as_array().map(Vec::len), Some(10));
}

#[tokio::test]
async fn the_same_idempotency_key_does_the_work_once() {
    let (app, _db) = spawn().await;
    let shop = shop(&app, 10, 1000).await;
    let c = customer(&app, "retry").await;
    add(&c.client, &shop.variant, 1).await;

    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = c.client.with_header("idempotency-key", "same-key");
        let body = checkout_body(&shop, "tok_visa");
        tasks.push(tokio::spawn(async move { client.post("/api/v1/checkout", &body).await }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let res = t.await.expect("task");
        match res.status.as_u16() {
            201 => {
                ids.insert(res.json()["id"].as_str().expect("id").to_owned());
            }
            409 => {
                res.assert_problem(409, "idempotency-in-progress");
            }
            s => panic!("unexpected {s}: {}", res.text()),
        }
    }
    assert_eq!(ids.len(), 1, "every completed answer is the same order");
    // After completion every replay returns the stored answer.
    let replay = checkout(&c.client, &shop, "same-key", "tok_visa").await;
    replay.assert_status(201);
    assert!(ids.contains(replay.json()["id"].as_str().expect("id")));
    assert_eq!(stock_of(&shop, &app).await, 9, "one order, one unit");
    assert_eq!(c.client.get("/api/v1/orders").await.json()["items"].as_array().map(Vec::len), Some(1));
    // Same key, different request: 422.
    let doc =
        checkout(&c.client, &shop, "same-key", "tok_declined").await.assert_problem(422, "idempotency-key-reused");
    assert_eq!(doc["errors"][0]["field"], "Idempotency-Key");
}

#[tokio::test]
async fn a_declined_payment_restocks() {
    let (app, _db) = spawn().await;
    let shop = shop(&app, 4, 1000).await;
    let c = customer(&app, "declined").await;
    add(&c.client, &shop.variant, 3).await;
    let doc = checkout(&c.client, &shop, "d-1", "tok_declined").await.assert_problem(402, "payment-declined");
    let order_id = doc["order_id"].as_str().expect("order id").to_owned();
    assert_eq!(doc["reason"], "card_declined");
    assert_eq!(stock_of(&shop, &app).await, 4, "stock returned");
    let order = c.client.get(&format!("/api/v1/orders/{order_id}")).await.json();
    assert_eq!(order["status"], "payment_failed");
    let (sum, rows) = ledger_sum(&shop).await;
    assert_eq!(sum, 4);
    assert!(rows.iter().any(|r| r["reason"] == "cancellation" && r["delta"] == 3));
    // The replay gives the same 402.
    checkout(&c.client, &shop, "d-1", "tok_declined").await.assert_problem(402, "payment-declined");

    // The cart is as it was: the customer pays again with another card, adding nothing.
    let cart = c.client.get("/api/v1/cart").await.json();
    assert_eq!(cart["lines"].as_array().map(Vec::len), Some(1), "{cart}");
    assert_eq!(
        (cart["lines"][0]["variant_id"].as_str(), cart["lines"][0]["quantity"].as_i64()),
        (Some(shop.variant.as_str()), Some(3))
    );
    let paid = checkout(&c.client, &shop, "d-2", "tok_visa").await;
    paid.assert_status(201);
    assert_eq!(paid.json()["status"], "paid");
    assert_ne!(paid.json()["id"].as_str(), Some(order_id.as_str()), "a new order; the declined one stays for audit");
    assert_eq!(stock_of(&shop, &app).await, 1);
    assert_eq!(ledger_sum(&shop).await.0, 1, "the ledger sums to the stock");
    assert_eq!(c.client.get("/api/v1/cart").await.json()["lines"], json!([]), "the paid order emptied the cart");
    let failed = c.client.get(&format!("/api/v1/orders/{order_id}")).await.json();
    assert_eq!(failed["status"], "payment_failed");
}

#[tokio::test]
async fn an_unpaid_order_expires_and_restocks() {
    let (app, _db) = spawn_with(|c| {
        c.payments.sandbox_timeout_ms = 50;
        c.checkout.pending_ttl_secs = 1;
        c.checkout.sweep_interval_ms = 100;
    })
    .await;
    let shop = shop(&app, 5, 1000).await;
    let c = customer(&app, "slow").await;
    add(&c.client, &shop.variant, 2).await;
    let res = checkout(&c.client, &shop, "t-1", "tok_timeout").await;
    res.assert_status(202);
    let id = res.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(res.header("location"), Some(format!("/api/v1/orders/{id}").as_str()));
    assert_eq!(res.json()["status"], "pending_payment");
    assert_eq!(stock_of(&shop, &app).await, 3);

    crate::helpers::expired_order(&c.client, &id).await;
    assert_eq!(stock_of(&shop, &app).await, 5);
    assert_eq!(ledger_sum(&shop).await.0, 5);
}

pub fn signed(app: &TestApp, body: &Value, t: i64) -> (String, Vec<u8>) {
    let bytes = serde_json::to_vec(body).expect("json");
    (orders::webhook::sign(app.config.payments.webhook_secret.as_bytes(), &bytes, t), bytes)
}

#[tokio::test]
async fn webhooks_are_verified_and_applied_once() {
    let (app, _db) = spawn_with(|c| c.payments.sandbox_timeout_ms = 50).await;
    let shop = shop(&app, 5, 1000).await;
    let c = customer(&app, "hook").await;
    add(&c.client, &shop.variant, 1).await;
    let order = checkout(&c.client, &shop, "w-1", "tok_timeout").await.json();
    let id = order["id"].as_str().expect("id");
    let event = json!({"id": "evt_1", "type": "payment.succeeded", "data": {"order_id": id, "payment_id": "pi_123"}});
    let now = chrono::Utc::now().timestamp();

    let post = |sig: String, body: Vec<u8>| {
        let client = app.client.with_header("shop-signature", &sig);
        async move { client.post_raw("/api/v1/webhooks/payments", "application/json", body).await }
    };
    // Forged: wrong secret. Stale: an hour old. Tampered: body changed after signing. Missing.
    let forged = orders::webhook::sign(b"not-the-secret", &serde_json::to_vec(&event).expect("json"), now);
    post(forged, serde_json::to_vec(&event).expect("json")).await.assert_problem(401, "invalid-signature");
    let (stale, body) = signed(&app, &event, now - 3600);
    post(stale, body).await.assert_problem(401, "invalid-signature");
    let (sig, _) = signed(&app, &event, now);
    let mut tampered = event.clone();
    tampered["data"]["order_id"] = json!(uuid::Uuid::new_v4());
    post(sig.clone(), serde_json::to_vec(&tampered).expect("json")).await.assert_problem(401, "invalid-signature");
    app.client
        .post_raw("/api/v1/webhooks/payments", "application/json", serde_json::to_vec(&event).expect("json"))
        .await
        .assert_problem(401, "invalid-signature");
    assert_eq!(c.client.get(&format!("/api/v1/orders/{id}")).await.json()["status"], "pending_payment");

    let (sig, body) = signed(&app, &event, now);
    post(sig.clone(), body.clone()).await.assert_status(200);
    assert_eq!(c.client.get(&format!("/api/v1/orders/{id}")).await.json()["status"], "paid");
    // The same event again: acknowledged, nothing happens.
    post(sig, body).await.assert_status(200);
    // A different event id saying "failed" for a paid order is an illegal transition.
    let failed = json!({"id": "evt_2", "type": "payment.failed", "data": {"order_id": id}});
    let (sig, body) = signed(&app, &failed, now);
    post(sig, body).await.assert_problem(409, "illegal-transition");
    assert_eq!(c.client.get(&format!("/api/v1/orders/{id}")).await.json()["status"], "paid");
    assert_eq!(stock_of(&shop, &app).await, 4);
}

#[tokio::test]
async fn another_users_order_is_404() {
    let (app, _db) = spawn().await;
    let shop = shop(&app, 5, 1000).await;
    let a = customer(&app, "owner").await;
    let b = customer(&app, "intruder").await;
    add(&a.client, &shop.variant, 1).await;
    let order = checkout(&a.client, &shop, "o-1", "tok_visa").await.json();
    let id = order["id"].as_str().expect("id");
    b.client.get(&format!("/api/v1/orders/{id}")).await.assert_problem(404, "not-found");
    b.client.post(&format!("/api/v1/orders/{id}/cancel"), &json!({})).await.assert_problem(404, "not-found");
    assert_eq!(b.client.get("/api/v1/orders").await.json()["items"], json!([]));
    b.client.get(&format!("/api/v1/admin/orders/{id}")).await.assert_problem(403, "forbidden");
    assert_eq!(a.client.get(&format!("/api/v1/orders/{id}")).await.json()["status"], "paid");
}

#[tokio::test]
async fn fulfilment_flow_and_illegal_transitions() {
    let (app, _db) = spawn().await;
    let shop = shop(&app, 10, 1000).await;
    let c = customer(&app, "flow").await;

    // Paid, then cancelled by the customer: refunded and restocked.
    add(&c.client, &shop.variant, 2).await;
    let o1 = checkout(&c.client, &shop, "f-1", "tok_visa").await.json();
    let id1 = o1["id"].as_str().expect("id");
    let cancelled = c.client.post(&format!("/api/v1/orders/{id1}/cancel"), &json!({})).await;
    cancelled.assert_status(200);
    assert_eq!(cancelled.json()["status"], "cancelled");
    assert_eq!(stock_of(&shop, &app).await, 10);
    let doc = c
        .client
        .post(&format!("/api/v1/orders/{id1}/cancel"), &json!({}))
        .await
        .assert_problem(409, "illegal-transition");
    assert_eq!(doc["order_status"], "cancelled");

    // Paid → shipped → delivered → refunded (no restock once shipped).
    add(&c.client, &shop.variant, 3).await;
    let o2 = checkout(&c.client, &shop, "f-2", "tok_visa").await.json();
    let id2 = o2["id"].as_str().expect("id");
    let a = &shop.admin.client;
    a.post(&format!("/api/v1/admin/orders/{id2}/deliver"), &json!({})).await.assert_problem(409, "illegal-transition");
    let doc = a
        .post(&format!("/api/v1/admin/orders/{id2}/ship"), &json!({"carrier": "", "tracking_number": "T1"}))
        .await
        .assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "carrier");
    let shipped = a
        .post(&format!("/api/v1/admin/orders/{id2}/ship"), &json!({"carrier": "DHL", "tracking_number": "JD0123"}))
        .await;
    shipped.assert_status(200);
    assert_eq!(shipped.json()["tracking_number"], "JD0123");
    c.client.post(&format!("/api/v1/orders/{id2}/cancel"), &json!({})).await.assert_problem(409, "illegal-transition");
    a.post(&format!("/api/v1/admin/orders/{id2}/ship"), &json!({"carrier": "DHL", "tracking_number": "X"}))
        .await
        .assert_problem(409, "illegal-transition");
    a.post(&format!("/api/v1/admin/orders/{id2}/deliver"), &json!({})).await.assert_status(200);
    let refunded = a.post(&format!("/api/v1/admin/orders/{id2}/refund"), &json!({})).await;
    refunded.assert_status(200);
    assert_eq!(refunded.json()["status"], "refunded");
    assert_eq!(stock_of(&shop, &app).await, 7, "shipped goods are not restocked by a refund");
    a.post(&format!("/api/v1/admin/orders/{id2}/refund"), &json!({})).await.assert_problem(409, "illegal-transition");
    a.post(
        &format!("/api/v1/admin/orders/{}/ship", uuid::Uuid::new_v4()),
        &json!({"carrier": "DHL", "tracking_number": "X"}),
    )
    .await
    .assert_problem(404, "not-found");

    let page = a.get("/api/v1/admin/orders?status=refunded").await.json();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    a.get("/api/v1/admin/orders?status=lost").await.assert_problem(400, "invalid-parameter");
    c.client.post(&format!("/api/v1/admin/orders/{id2}/refund"), &json!({})).await.assert_problem(403, "forbidden");
}
