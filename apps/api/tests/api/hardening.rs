//! Hardening II: each attack that once got through, tried again through HTTP. Cart invariants
//! under concurrency and merges, default addresses switched at once, out-of-range numbers in
//! cursors, stock and webhook signatures, request framing, look-alike emails, the password rule.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::catalog::product;
use crate::helpers::{PASSWORD, Session, TestApp, address, admin, customer, db_i64, login, spawn, unique_email};

/// One product in `currency` with `variants` variants of stock 100; returns the variant ids.
pub async fn variants_in(admin: &Session, currency: &str, variants: usize) -> Vec<String> {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let body = json!({
        "slug": format!("p-{tag}"),
        "name": format!("Product {tag}"),
        "status": "active",
        "currency": currency,
        "variants": (0..variants).map(|i| json!({"sku": format!("{tag}-{i}"), "price_minor": 1000, "stock": 100}))
            .collect::<Vec<_>>(),
    });
    let p = product(admin, &body).await;
    p["variants"].as_array().expect("variants").iter().map(|v| v["id"].as_str().expect("id").to_owned()).collect()
}

async fn add(client: &testkit::Client, variant: &str) -> testkit::Response {
    client.post("/api/v1/cart/lines", &json!({"variant_id": variant, "quantity": 1})).await
}

fn lines(cart: &Value) -> usize {
    cart["lines"].as_array().expect("lines").len()
}

#[tokio::test]
async fn two_currencies_added_at_once_leave_one() {
    let (app, _db) = spawn().await;
    let a = admin(&app).await;
    let eur = variants_in(&a, "EUR", 1).await.remove(0);
    let usd = variants_in(&a, "USD", 1).await.remove(0);
    for round in 0..20 {
        let c = customer(&app, &format!("race{round}")).await;
        let (x, y) = tokio::join!(add(&c.client, &eur), add(&c.client, &usd));
        let mut statuses = [x.status.as_u16(), y.status.as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "round {round}: one add wins, the other is refused");
        let refused = if x.status.as_u16() == 409 { &x } else { &y };
        refused.assert_problem(409, "currency-mismatch");
        let cart = c.client.get("/api/v1/cart").await;
        cart.assert_status(200);
        assert_eq!(lines(&cart.json()), 1, "round {round}");
    }
}

#[tokio::test]
async fn merges_keep_the_line_limit_and_one_currency() {
    let (app, db) = spawn().await;
    let a = admin(&app).await;
    let many = [variants_in(&a, "EUR", 60).await, variants_in(&a, "EUR", 60).await].concat();
    let c = customer(&app, "merger").await;
    for v in &many[..60] {
        add(&c.client, v).await.assert_status(200);
    }
    // A guest cart of 60 other lines: 120 together.
    let first = add(&app.client, &many[60]).await;
    let token = first.header("x-cart-token").expect("guest token").to_owned();
    let guest = app.client.with_header("x-cart-token", &token);
    for v in &many[61..] {
        add(&guest, v).await.assert_status(200);
    }
    c.client.post("/api/v1/cart/merge", &json!({"cart_token": token})).await.assert_problem(409, "cart-full");
    assert_eq!(lines(&c.client.get("/api/v1/cart").await.json()), 60, "the user's cart is unchanged");
    assert_eq!(lines(&guest.get("/api/v1/cart").await.json()), 60, "the guest cart is unchanged");
    // The merge at login refuses it the same way: logging in works, the guest cart stays a guest cart.
    let res = app
        .client
        .post("/api/v1/auth/login", &json!({"email": c.email, "password": PASSWORD, "cart_token": token}))
        .await;
    res.assert_status(200);
    assert_eq!(lines(&c.client.get("/api/v1/cart").await.json()), 60);
    assert_eq!(lines(&guest.get("/api/v1/cart").await.json()), 60);
    // A guest cart in another currency is refused too, with nothing changed.
    let usd = variants_in(&a, "USD", 1).await.remove(0);
    let other = add(&app.client, &usd).await;
    let usd_token = other.header("x-cart-token").expect("token").to_owned();
    c.client
        .post("/api/v1/cart/merge", &json!({"cart_token": usd_token}))
        .await
        .assert_problem(409, "currency-mismatch");
    // A merge that fits is all of it at once.
    for v in &many[61..] {
        guest.delete(&format!("/api/v1/cart/lines/{v}")).await.assert_status(200);
    }
    c.client.post("/api/v1/cart/merge", &json!({"cart_token": token})).await.assert_status(200);
    assert_eq!(lines(&c.client.get("/api/v1/cart").await.json()), 61);
    // The database agrees with itself: counted lines, one currency per cart.
    assert_eq!(db_i64(&db.url, "SELECT count(*) FROM carts c WHERE line_count <> (SELECT count(*) FROM cart_lines l WHERE l.cart_id = c.id)").await, 0);
    assert_eq!(db_i64(&db.url, "SELECT count(*) FROM cart_lines l JOIN carts c ON c.id = l.cart_id WHERE l.currency IS DISTINCT FROM c.currency").await, 0);
}

#[tokio::test]
async fn the_database_refuses_a_second_currency_and_a_101st_line() {
    // The constraints behind the rules, tried directly: whatever a future code path does, the
    // database keeps the invariants.
    let (app, db) = spawn().await;
    let a = admin(&app).await;
    let eur = variants_in(&a, "EUR", 100).await;
    let usd = variants_in(&a, "USD", 1).await.remove(0);
    let c = customer(&app, "constraints").await;
    for v in &eur {
        add(&c.client, v).await.assert_status(200);
    }
    add(&c.client, &variants_in(&a, "EUR", 1).await[0]).await.assert_problem(409, "cart-full");
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut conn = AsyncPgConnection::establish(&db.url).await.expect("connection");
    let cart = format!("(SELECT id FROM carts WHERE user_id = '{}')", c.id);
    let extra = variants_in(&a, "EUR", 1).await.remove(0);
    let over = diesel::sql_query(format!(
        "INSERT INTO cart_lines (cart_id, variant_id, quantity, currency) VALUES ({cart}, '{extra}', 1, 'EUR')"
    ))
    .execute(&mut conn)
    .await;
    assert!(over.expect_err("a 101st line").to_string().contains("carts_line_limit"));
    diesel::sql_query(format!("DELETE FROM cart_lines WHERE cart_id = {cart} AND variant_id = '{}'", eur[0]))
        .execute(&mut conn)
        .await
        .expect("delete");
    let mixed = diesel::sql_query(format!(
        "INSERT INTO cart_lines (cart_id, variant_id, quantity, currency) VALUES ({cart}, '{usd}', 1, 'USD')"
    ))
    .execute(&mut conn)
    .await;
    assert!(mixed.expect_err("a USD line in an EUR cart").to_string().contains("cart_lines_cart_currency_fkey"));
    let switch =
        diesel::sql_query(format!("UPDATE carts SET currency = 'USD' WHERE id = {cart}")).execute(&mut conn).await;
    assert!(switch.is_err(), "a cart holding lines keeps its currency");
}

#[tokio::test]
async fn concurrent_default_address_switches_leave_one_default() {
    let (app, db) = spawn().await;
    let c = customer(&app, "defaults").await;
    let mut ids = Vec::new();
    for n in 0..6 {
        let res = c.client.post("/api/v1/me/addresses", &address(&format!("Home {n}"))).await;
        res.assert_status(201);
        ids.push(res.json()["id"].as_str().expect("id").to_owned());
    }
    for round in 0..5 {
        let patches = ids.iter().map(|id| {
            let client = c.client.clone();
            let path = format!("/api/v1/me/addresses/{id}");
            async move { client.patch(&path, &json!({"is_default_shipping": true, "is_default_billing": true})).await }
        });
        for res in futures_util::future::join_all(patches).await {
            res.assert_status(200);
        }
        let sql = format!("SELECT count(*) FROM addresses WHERE user_id = '{}' AND is_default_shipping", c.id);
        assert_eq!(db_i64(&db.url, &sql).await, 1, "round {round}: one default shipping address");
        let sql = format!("SELECT count(*) FROM addresses WHERE user_id = '{}' AND is_default_billing", c.id);
        assert_eq!(db_i64(&db.url, &sql).await, 1, "round {round}: one default billing address");
    }
}

/// A cursor in the shape the API issues, carrying an out-of-range timestamp.
fn crafted(key: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).expect("json"))
}

#[tokio::test]
async fn out_of_range_cursor_timestamps_are_400_not_500() {
    let (app, _db) = spawn().await;
    let a = admin(&app).await;
    let c = customer(&app, "cursor").await;
    variants_in(&a, "EUR", 1).await;
    let any_product =
        app.client.get("/api/v1/products").await.json()["items"][0]["id"].as_str().expect("id").to_owned();
    let nil = uuid::Uuid::nil().to_string();
    for ts in ["-9999-01-01T00:00:00Z", "+275760-09-13T00:00:00Z", "0000-01-01T00:00:00Z"] {
        let pair = crafted(&json!([ts, nil]));
        let cases: Vec<(&testkit::Client, String)> = vec![
            (&app.client, format!("/api/v1/products?cursor={}", crafted(&json!({"key": {"Newest": ts}, "id": nil})))),
            (&c.client, format!("/api/v1/orders?cursor={pair}")),
            (&a.client, format!("/api/v1/admin/orders?cursor={pair}")),
            (&a.client, format!("/api/v1/admin/users?cursor={pair}")),
            (
                &app.client,
                format!(
                    "/api/v1/products/{any_product}/reviews?cursor={}",
                    crafted(&json!({"sort": "newest", "rating": 5, "at": ts, "id": nil}))
                ),
            ),
        ];
        for (client, path) in cases {
            let res = client.get(&path).await;
            let p = res.assert_problem(400, "invalid-parameter");
            assert!(p.to_string().contains("cursor"), "{path}: {p}");
        }
    }
}

#[tokio::test]
async fn restocks_cannot_push_stock_out_of_range() {
    let (app, _db) = spawn().await;
    let a = admin(&app).await;
    let variant = variants_in(&a, "EUR", 1).await.remove(0);
    let path = format!("/api/v1/admin/variants/{variant}/inventory");
    let mut last = 100;
    // Restocks of the largest delta allowed, until the next would pass the maximum.
    loop {
        let res = a.client.post(&path, &json!({"delta": 10_000_000, "reason": "restock"})).await;
        if res.status.as_u16() == 422 {
            let p = res.assert_problem(422, "validation-failed");
            assert_eq!(p["errors"][0]["field"], "delta", "{p}");
            break;
        }
        res.assert_status(201);
        last = res.json()["stock_after"].as_i64().expect("stock_after");
        assert!(last <= 1_000_000_000);
    }
    assert!(last > 990_000_000, "restocked up to the maximum: {last}");
    // The stock is what the last accepted restock left, and the ledger sums to it.
    let p = a.client.get(&format!("/api/v1/admin/variants/{variant}/inventory?limit=500")).await.json();
    let sum: i64 = p["items"].as_array().expect("items").iter().map(|e| e["delta"].as_i64().expect("delta")).sum();
    assert_eq!(sum, last);
}

#[tokio::test]
async fn webhook_timestamps_at_the_integer_limits_are_refused_cleanly() {
    let (app, _db) = spawn().await;
    let body = br#"{"id":"evt_x","type":"payment.succeeded","data":{}}"#.to_vec();
    for t in [i64::MIN, i64::MAX, i64::MIN + 1] {
        let res = app
            .client
            .with_header("shop-signature", &format!("t={t},v1={}", "00".repeat(32)))
            .post_raw("/api/v1/webhooks/payments", "application/json", body.clone())
            .await;
        res.assert_problem(401, "invalid-signature");
    }
}

/// Sends raw bytes and reads until the server closes the connection (or 5 s pass): the answer,
/// and whether the server closed the connection.
async fn raw_exchange(app: &TestApp, request: &[u8]) -> (String, bool) {
    use std::io::{Read, Write};
    let addr = app.client.url("").trim_start_matches("http://").trim_end_matches('/').to_owned();
    let request = request.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).expect("timeout");
        stream.write_all(&request).expect("write");
        let mut buf = Vec::new();
        let closed = stream.read_to_end(&mut buf).is_ok();
        (String::from_utf8_lossy(&buf).into_owned(), closed)
    })
    .await
    .expect("exchange")
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused_and_the_connection_closed() {
    let (app, _db) = spawn().await;
    // A smuggling attempt: the chunked body ends at once, the "rest" would be a second request.
    let smuggled = b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
Content-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/v1/me HTTP/1.1\r\nHost: x\r\n\r\n";
    let (answer, closed) = raw_exchange(&app, smuggled).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("ambiguous-framing"), "{answer}");
    // The smuggled request was parsed behind it (pipelining) but never served: refused unread.
    let statuses: Vec<&str> = answer.match_indices("HTTP/1.1 ").map(|(i, _)| &answer[i + 9..i + 12]).collect();
    assert!(statuses.iter().all(|s| *s == "400"), "nothing but refusals: {answer}");
    assert!(!answer.contains("unauthorized"), "the smuggled GET /me was not run: {answer}");
    assert!(closed, "the connection is closed after the refusal");
    for header in ["x-content-type-options: nosniff", "content-security-policy:", "x-request-id:"] {
        assert!(answer.to_ascii_lowercase().contains(header), "{header} missing: {answer}");
    }
    // A transfer coding other than chunked is refused the same way.
    let (answer, closed) = raw_exchange(
        &app,
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Length: 2\r\n\r\n{}",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400") && closed, "{answer}");
    // Chunked alone is fine, on a connection that stays usable.
    let (answer, _) = raw_exchange(
        &app,
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
2\r\n{}\r\n0\r\n\r\nGET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 422"), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 1, "the next request on the connection is served: {answer}");
}

#[tokio::test]
async fn look_alike_emails_cannot_register_beside_an_account() {
    let (app, _db) = spawn().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let email = format!("ada{tag}@example.com");
    let register = |email: String| {
        let client = app.client.clone();
        async move {
            client.post("/api/v1/auth/register", &json!({"email": email, "password": PASSWORD, "name": "Ada"})).await
        }
    };
    register(email.clone()).await.assert_status(201);
    // Fullwidth letters and case are the same address.
    let fullwidth: String =
        "ADA".chars().map(|c| char::from_u32(c as u32 - 'A' as u32 + 'Ａ' as u32).expect("fullwidth")).collect();
    register(format!("{fullwidth}{tag}@EXAMPLE.com")).await.assert_problem(409, "email-taken");
    register(format!("Ada{tag}@Example.COM")).await.assert_problem(409, "email-taken");
    // Invisible characters and mixed scripts are refused, naming the field.
    for (raw, why) in [
        (format!("a\u{200B}da{tag}@example.com"), "invisible"),
        (format!("ada{tag}\u{00AD}@example.com"), "invisible"),
        (format!("\u{0430}da{tag}@example.com"), "writing systems"),
        (format!("ada{tag}@ex\u{0430}mple.com"), "writing systems"),
    ] {
        let p = register(raw.clone()).await.assert_problem(422, "validation-failed");
        assert_eq!(p["errors"][0]["field"], "email", "{raw:?}: {p}");
        assert!(p["errors"][0]["message"].as_str().expect("message").contains(why), "{raw:?}: {p}");
    }
    // The owner signs in with any spelling of the same address.
    login(&app, &format!("{fullwidth}{tag}@example.com"), PASSWORD).await;
    // Not an account of its own: a look-alike login is an unknown account.
    app.client
        .post("/api/v1/auth/login", &json!({"email": format!("a\u{200B}da{tag}@example.com"), "password": PASSWORD}))
        .await
        .assert_problem(401, "invalid-credentials");
}

#[tokio::test]
async fn a_password_holding_the_email_name_is_refused_with_the_rule() {
    let (app, db) = spawn().await;
    let email = unique_email("margaret");
    let local = email.split('@').next().expect("local").to_owned();
    let p = app
        .client
        .post("/api/v1/auth/register", &json!({"email": email, "password": format!("{local} rocks"), "name": "M"}))
        .await
        .assert_problem(422, "validation-failed");
    let message = p["errors"][0]["message"].as_str().expect("message").to_owned();
    assert!(message.contains("the part of your email address before the @"), "{message}");
    assert!(message.contains(&local), "names the part: {message}");
    // The bootstrap admin says the same when it refuses such a password.
    let cfg_email = unique_email("bootstrap");
    let mut config = crate::helpers::test_config(&db);
    config.auth.bootstrap_admin_email = Some(cfg_email.clone());
    config.auth.bootstrap_admin_password = Some(format!("my {} password", cfg_email.split('@').next().expect("local")));
    let err = shop_api::Application::build(config).await.err().expect("refused");
    assert!(format!("{err:#}").contains("the part of your email address before the @"), "{err:#}");
}
