//! The concurrency suite: for each aggregate, every write endpoint fired at once for one owner,
//! then the database checked. No answer may be a 5xx, and every invariant must hold afterwards,
//! whatever order the requests ran in. A new aggregate gets its test here.

use futures_util::future::{BoxFuture, FutureExt, join_all};
use serde_json::json;
use testkit::{Client, Response};

use crate::hardening::variants_in;
use crate::helpers::{Session, TestApp, address, admin, customer, db_i64, spawn};

type Call = BoxFuture<'static, Response>;

fn post(client: &Client, path: String, body: serde_json::Value) -> Call {
    let client = client.clone();
    async move { client.post(&path, &body).await }.boxed()
}
fn put(client: &Client, path: String, body: serde_json::Value) -> Call {
    let client = client.clone();
    async move { client.put(&path, &body).await }.boxed()
}
fn patch(client: &Client, path: String, body: serde_json::Value) -> Call {
    let client = client.clone();
    async move { client.patch(&path, &body).await }.boxed()
}
fn delete(client: &Client, path: String) -> Call {
    let client = client.clone();
    async move { client.delete(&path).await }.boxed()
}

/// Fires every call at once; fails on any 5xx, naming it. Returns the answers in call order.
async fn fire(what: &str, calls: Vec<(String, Call)>) -> Vec<Response> {
    let (names, calls): (Vec<String>, Vec<Call>) = calls.into_iter().unzip();
    let answers = join_all(calls).await;
    let errors: Vec<String> = names
        .iter()
        .zip(&answers)
        .filter(|(_, r)| r.status.is_server_error())
        .map(|(n, r)| format!("{n}: {} {}", r.status, r.text()))
        .collect();
    assert!(errors.is_empty(), "{what}: server errors under concurrency:\n{}", errors.join("\n"));
    answers
}

/// Asserts a query finds no rows breaking an invariant.
async fn holds(app_db: &str, invariant: &str, sql: &str) {
    let n = db_i64(app_db, &format!("SELECT count(*) FROM ({sql}) broken")).await;
    assert_eq!(n, 0, "invariant broken ({invariant}): {n} rows of {sql}");
}

#[tokio::test]
async fn cart_writes_at_once_keep_every_cart_rule() {
    let (app, db) = spawn().await;
    let a = admin(&app).await;
    let eur = variants_in(&a, "EUR", 8).await;
    let usd = variants_in(&a, "USD", 2).await;
    let c = customer(&app, "cart-race").await;
    for round in 0..3 {
        // Guest carts to merge in, one per currency, filled first.
        let mut tokens = Vec::new();
        for v in [&eur[6], &usd[1]] {
            let res = app.client.post("/api/v1/cart/lines", &json!({"variant_id": v, "quantity": 2})).await;
            tokens.push(res.header("x-cart-token").expect("token").to_owned());
        }
        let mut calls: Vec<(String, Call)> = Vec::new();
        for (i, v) in eur.iter().take(6).enumerate() {
            calls.push((
                format!("add eur {i}"),
                post(&c.client, "/api/v1/cart/lines".into(), json!({"variant_id": v, "quantity": 50})),
            ));
            calls.push((
                format!("set eur {i}"),
                put(&c.client, format!("/api/v1/cart/lines/{v}"), json!({"quantity": 7})),
            ));
        }
        for v in &usd {
            calls.push((
                "add usd".into(),
                post(&c.client, "/api/v1/cart/lines".into(), json!({"variant_id": v, "quantity": 1})),
            ));
        }
        calls.push(("remove".into(), delete(&c.client, format!("/api/v1/cart/lines/{}", eur[1]))));
        for t in &tokens {
            calls.push(("merge".into(), post(&c.client, "/api/v1/cart/merge".into(), json!({"cart_token": t}))));
        }
        if round == 1 {
            calls.push(("clear".into(), delete(&c.client, "/api/v1/cart".into())));
        }
        fire("cart", calls).await;
        c.client.get("/api/v1/cart").await.assert_status(200);
        holds(
            &db.url,
            "one currency per cart",
            "SELECT 1 FROM cart_lines l JOIN carts c ON c.id = l.cart_id WHERE l.currency <> c.currency",
        )
        .await;
        holds(
            &db.url,
            "lines counted",
            "SELECT 1 FROM carts c WHERE line_count <> (SELECT count(*) FROM cart_lines l WHERE l.cart_id = c.id)",
        )
        .await;
        holds(&db.url, "at most 100 lines", "SELECT cart_id FROM cart_lines GROUP BY cart_id HAVING count(*) > 100")
            .await;
        holds(&db.url, "quantities 1..99", "SELECT 1 FROM cart_lines WHERE quantity NOT BETWEEN 1 AND 99").await;
        holds(
            &db.url,
            "a line's currency is its product's",
            "SELECT 1 FROM cart_lines l JOIN variants v ON v.id = l.variant_id JOIN products p ON p.id = v.product_id WHERE p.currency <> l.currency",
        )
        .await;
    }
}

#[tokio::test]
async fn address_writes_at_once_keep_the_limit_and_one_default() {
    let (app, db) = spawn().await;
    let c = customer(&app, "addr-race").await;
    let mut ids = Vec::new();
    for n in 0..10 {
        let res = c.client.post("/api/v1/me/addresses", &address(&format!("Home {n}"))).await;
        ids.push(res.json()["id"].as_str().expect("id").to_owned());
    }
    let mut calls: Vec<(String, Call)> = Vec::new();
    for n in 0..15 {
        let mut body = address(&format!("New {n}"));
        body["is_default_shipping"] = json!(n % 2 == 0);
        body["is_default_billing"] = json!(n % 3 == 0);
        calls.push(("create".into(), post(&c.client, "/api/v1/me/addresses".into(), body)));
    }
    for id in &ids[..6] {
        let body = json!({"is_default_shipping": true, "is_default_billing": true});
        calls.push(("default".into(), patch(&c.client, format!("/api/v1/me/addresses/{id}"), body)));
    }
    for id in &ids[6..] {
        calls.push(("delete".into(), delete(&c.client, format!("/api/v1/me/addresses/{id}"))));
    }
    let answers = fire("addresses", calls).await;
    let refused = answers[..15].iter().filter(|r| r.status.as_u16() == 409).count();
    let mine = format!("SELECT * FROM addresses WHERE user_id = '{}'", c.id);
    let count = db_i64(&db.url, &format!("SELECT count(*) FROM ({mine}) a")).await;
    assert!(count <= 20, "at most 20 addresses, found {count}");
    assert!(refused > 0 || count == 21 - 1, "the limit refused some creations ({refused} refused, {count} held)");
    holds(
        &db.url,
        "one default shipping",
        &format!("SELECT 1 FROM ({mine}) a WHERE is_default_shipping HAVING count(*) > 1"),
    )
    .await;
    holds(
        &db.url,
        "one default billing",
        &format!("SELECT 1 FROM ({mine}) a WHERE is_default_billing HAVING count(*) > 1"),
    )
    .await;
}

/// A customer who bought each product (one paid order).
async fn buyer(app: &TestApp, admin: &Session, variants: &[String], tag: &str) -> Session {
    let c = customer(app, tag).await;
    let m = admin
        .client
        .post("/api/v1/admin/shipping-methods", &json!({"name": "Std", "price_minor": 0, "currency": "EUR"}))
        .await
        .json();
    for v in variants {
        c.client.post("/api/v1/cart/lines", &json!({"variant_id": v, "quantity": 1})).await.assert_status(200);
    }
    c.client
        .with_header("idempotency-key", tag)
        .post(
            "/api/v1/checkout",
            &json!({"shipping_address": address(tag), "shipping_method_id": m["id"], "payment_token": "tok_visa"}),
        )
        .await
        .assert_status(201);
    c
}

#[tokio::test]
async fn review_writes_at_once_keep_one_per_buyer_and_exact_aggregates() {
    let (app, db) = spawn().await;
    let a = admin(&app).await;
    let variants = [variants_in(&a, "EUR", 1).await.remove(0), variants_in(&a, "EUR", 1).await.remove(0)];
    let c = buyer(&app, &a, &variants, "reviewer").await;
    let other = buyer(&app, &a, &variants, "other-reviewer").await;
    let mut product_ids = Vec::new();
    for v in &variants {
        product_ids.push(db_product(&db.url, v).await);
    }
    // Everyone's first review, then every write at once: more creates, edits, deletes, moderation.
    let first = c
        .client
        .post(&format!("/api/v1/products/{}/reviews", product_ids[1]), &json!({"rating": 2, "title": "t", "body": "b"}))
        .await;
    first.assert_status(201);
    let existing = first.json()["id"].as_str().expect("id").to_owned();
    let mut calls: Vec<(String, Call)> = Vec::new();
    for who in [&c, &other] {
        for (rating, p) in [(5, &product_ids[0]), (4, &product_ids[0]), (1, &product_ids[1])] {
            let body = json!({"rating": rating, "title": "t", "body": "b"});
            calls.push(("create".into(), post(&who.client, format!("/api/v1/products/{p}/reviews"), body)));
        }
    }
    for rating in [1, 3, 5] {
        calls.push(("edit".into(), patch(&c.client, format!("/api/v1/reviews/{existing}"), json!({"rating": rating}))));
    }
    calls.push((
        "hide".into(),
        post(&a.client, format!("/api/v1/admin/reviews/{existing}/hide"), json!({"reason": "race"})),
    ));
    calls.push(("unhide".into(), post(&a.client, format!("/api/v1/admin/reviews/{existing}/unhide"), json!({}))));
    calls.push(("delete".into(), delete(&c.client, format!("/api/v1/reviews/{existing}"))));
    fire("reviews", calls).await;
    holds(
        &db.url,
        "one review per buyer and product",
        "SELECT 1 FROM reviews GROUP BY product_id, user_id HAVING count(*) > 1",
    )
    .await;
    holds(
        &db.url,
        "aggregates equal the visible reviews",
        "SELECT 1 FROM products p WHERE rating_count <> (SELECT count(*) FROM reviews r WHERE r.product_id = p.id AND hidden_at IS NULL) \
         OR rating_sum <> (SELECT coalesce(sum(rating), 0) FROM reviews r WHERE r.product_id = p.id AND hidden_at IS NULL)",
    )
    .await;
}

/// The product of a variant, read in PostgreSQL.
async fn db_product(db_url: &str, variant: &str) -> String {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    let mut conn = AsyncPgConnection::establish(db_url).await.expect("connection");
    let row: Row = diesel::sql_query(format!("SELECT product_id::text AS id FROM variants WHERE id = '{variant}'"))
        .get_result(&mut conn)
        .await
        .expect("product of variant");
    row.id
}

/// Stock and orders: checkouts by several customers, the same Idempotency-Key sent twice,
/// cancellations, admin fulfilment and stock adjustments, all at once on one variant.
#[tokio::test]
async fn order_and_stock_writes_at_once_keep_stock_ledger_and_keys_exact() {
    let (app, db) = spawn().await;
    let shop = crate::checkout::shop(&app, 12, 1000).await;
    let a = &shop.admin;
    let paid = {
        let c = customer(&app, "earlier").await;
        crate::checkout::add(&c.client, &shop.variant, 1).await.assert_status(200);
        let o = crate::checkout::checkout(&c.client, &shop, "earlier", "tok_visa").await;
        o.assert_status(201);
        (c, o.json()["id"].as_str().expect("id").to_owned())
    };
    let mut shoppers = Vec::new();
    for n in 0..6 {
        let c = customer(&app, &format!("shopper{n}")).await;
        crate::checkout::add(&c.client, &shop.variant, 3).await.assert_status(200);
        shoppers.push(c);
    }
    let mut calls: Vec<(String, Call)> = Vec::new();
    let body =
        json!({"shipping_address": address("Race"), "shipping_method_id": shop.shipping, "payment_token": "tok_visa"});
    for (n, c) in shoppers.iter().enumerate() {
        for _ in 0..2 {
            // The same key twice: one order at most, whoever answers first.
            let client = c.client.with_header("idempotency-key", &format!("race-{n}"));
            calls.push((format!("checkout {n}"), post(&client, "/api/v1/checkout".into(), body.clone())));
        }
    }
    for delta in [5, -2, -20, 3, -1] {
        let path = format!("/api/v1/admin/variants/{}/inventory", shop.variant);
        calls.push(("adjust".into(), post(&a.client, path, json!({"delta": delta, "reason": "adjustment"}))));
    }
    let (owner, order) = &paid;
    calls.push(("cancel".into(), post(&owner.client, format!("/api/v1/orders/{order}/cancel"), json!({}))));
    calls.push(("admin cancel".into(), post(&a.client, format!("/api/v1/admin/orders/{order}/cancel"), json!({}))));
    calls.push((
        "ship".into(),
        post(
            &a.client,
            format!("/api/v1/admin/orders/{order}/ship"),
            json!({"carrier": "DHL", "tracking_number": "R1"}),
        ),
    ));
    let answers = fire("orders and stock", calls).await;
    // Each key placed at most one order, and both of its answers name the same order.
    for n in 0..shoppers.len() {
        let (x, y) = (&answers[2 * n], &answers[2 * n + 1]);
        if x.status.as_u16() == 201 && y.status.as_u16() == 201 {
            assert_eq!(x.json()["id"], y.json()["id"], "key race-{n} placed two orders");
        }
    }
    holds(&db.url, "one order per key", "SELECT 1 FROM idempotency_keys k JOIN orders o ON o.id = k.order_id GROUP BY k.user_id, k.key HAVING count(*) > 1").await;
    holds(&db.url, "stock never negative", "SELECT 1 FROM variants WHERE stock < 0").await;
    holds(
        &db.url,
        "the ledger sums to the stock",
        "SELECT 1 FROM variants v WHERE stock <> (SELECT coalesce(sum(delta), 0) FROM inventory_ledger l WHERE l.variant_id = v.id)",
    )
    .await;
    holds(
        &db.url,
        "stock sold by live orders is what the ledger says",
        "SELECT 1 FROM variants v WHERE (SELECT coalesce(-sum(delta), 0) FROM inventory_ledger l WHERE l.variant_id = v.id AND reason IN ('sale', 'cancellation')) \
         <> (SELECT coalesce(sum(ol.quantity), 0) FROM order_lines ol JOIN orders o ON o.id = ol.order_id WHERE ol.variant_id = v.id AND o.status NOT IN ('cancelled', 'payment_failed'))",
    )
    .await;
    holds(
        &db.url,
        "one order per cart checkout",
        "SELECT 1 FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id)",
    )
    .await;
    // The paid order ended in exactly one of the states its three racing transitions lead to.
    let status = a.client.get(&format!("/api/v1/admin/orders/{order}")).await.json()["status"].clone();
    assert!(["cancelled", "shipped"].contains(&status.as_str().expect("status")), "{status}");
}

/// Promotion codes entered at once, with removals and a guest cart merged in: a cart never holds
/// more than five codes, each code at most once; the answers agree with what was stored.
#[tokio::test]
async fn promotion_codes_entered_at_once_stay_within_five() {
    let (app, db) = spawn().await;
    let a = admin(&app).await;
    let eur = variants_in(&a, "EUR", 2).await;
    for n in 0..12 {
        let body = json!({"name": format!("Code {n}"), "code": format!("RACE{n}"), "status": "active",
            "action": {"type": "percent_off_order", "percent_bp": 100}});
        a.client.post("/api/v1/admin/promotions", &body).await.assert_status(201);
    }
    let c = customer(&app, "codes-race").await;
    for round in 0..3 {
        c.client.post("/api/v1/cart/lines", &json!({"variant_id": eur[0], "quantity": 1})).await.assert_status(200);
        let guest = app.client.post("/api/v1/cart/lines", &json!({"variant_id": eur[1], "quantity": 1})).await;
        let token = guest.header("x-cart-token").expect("token").to_owned();
        let guest_client = app.client.with_header("x-cart-token", &token);
        for n in 6..9 {
            guest_client.post("/api/v1/cart/promotions", &json!({"code": format!("race{n}")})).await.assert_status(200);
        }
        let mut calls: Vec<(String, Call)> = Vec::new();
        for n in 0..12 {
            calls.push((
                format!("apply {n}"),
                post(&c.client, "/api/v1/cart/promotions".into(), json!({"code": format!("race{n}")})),
            ));
        }
        calls.push(("remove".into(), delete(&c.client, "/api/v1/cart/promotions/RACE0".into())));
        calls.push(("merge".into(), post(&c.client, "/api/v1/cart/merge".into(), json!({"cart_token": token}))));
        let answers = fire("codes", calls).await;
        for (n, r) in answers[..12].iter().enumerate() {
            assert!(
                r.status.as_u16() == 200 || code_of(r) == "promotion-codes-full",
                "round {round}, apply {n}: {} {}",
                r.status,
                r.text()
            );
        }
        holds(&db.url, "at most five codes", "SELECT 1 FROM carts WHERE cardinality(promotion_codes) > 5").await;
        holds(
            &db.url,
            "each code once",
            "SELECT 1 FROM carts c WHERE cardinality(promotion_codes) <> (SELECT count(DISTINCT x) FROM unnest(c.promotion_codes) x)",
        )
        .await;
        let codes = c.client.get("/api/v1/cart").await.json()["codes"].as_array().expect("codes").len();
        assert!((1..=5).contains(&codes), "round {round}: {codes} codes");
        c.client.delete("/api/v1/cart").await.assert_status(204);
        for n in 0..12 {
            c.client.delete(&format!("/api/v1/cart/promotions/RACE{n}")).await;
        }
    }
}

fn code_of(r: &Response) -> String {
    serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}
