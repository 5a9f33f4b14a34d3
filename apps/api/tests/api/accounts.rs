//! The account lifecycle through HTTP with a real SMTP sink: password reset, email verification,
//! email change, data export and erasure (docs/auth.md, "Account lifecycle").

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use testkit::TestDb;

use crate::checkout::{add, checkout, shop};
use crate::events::{SmtpSink, eventually, with_channels};
use crate::helpers::{PASSWORD, admin, customer, db_i64, login, start, unique_email};

/// The token of the link in a mail (43 URL-safe characters after `token=`).
fn token_in(mail: &str) -> String {
    // The body is quoted-printable: undo soft line breaks and `=3D` first.
    let mail = mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let at = mail.find("token=").expect("a link with a token") + "token=".len();
    let t: String = mail[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    assert_eq!(t.len(), 43, "a 256-bit token: {t}");
    t
}

async fn exec(db_url: &str, sql: &str) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut conn = AsyncPgConnection::establish(db_url).await.expect("connection");
    diesel::sql_query(sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn mails(sink: &SmtpSink, to: &str, subject: &str, n: usize) -> Vec<String> {
    eventually(10, subject, || async {
        let m = sink.to(to, subject);
        (m.len() >= n).then_some(m)
    })
    .await
}

#[tokio::test]
async fn resets_of_one_address_are_limited_without_telling_the_asker() {
    let db = TestDb::new().await;
    let sink = SmtpSink::start();
    let mut config = with_channels(&db, Some(&sink), None);
    config.auth.password_reset_per_account = primitives::Quota::new(2, 3600);
    let app = start(config).await;
    let c = customer(&app, "flooded").await;
    // Five asks for the same address: every answer the same 202, but only two mails go out.
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let res = app.client.post("/api/v1/auth/password-reset", &json!({"email": c.email})).await;
        res.assert_status(202);
        bodies.push(res.body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "the limit is not visible in the answer");
    mails(&sink, &c.email, "reset your password", 2).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.to(&c.email, "reset your password").len(), 2, "no more than the per-address limit");
}

#[tokio::test]
async fn a_reset_answers_alike_mails_once_works_once_expires_and_ends_every_session() {
    let db = TestDb::new().await;
    let sink = SmtpSink::start();
    let app = start(with_channels(&db, Some(&sink), None)).await;
    let c = customer(&app, "forgetful").await;
    let stranger = unique_email("nobody");

    let known = app.client.post("/api/v1/auth/password-reset", &json!({"email": c.email})).await;
    let unknown = app.client.post("/api/v1/auth/password-reset", &json!({"email": stranger})).await;
    known.assert_status(202);
    unknown.assert_status(202);
    assert_eq!(known.body, unknown.body, "the same answer for both");
    let mail = mails(&sink, &c.email, "reset your password", 1).await.remove(0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.to(&c.email, "reset your password").len(), 1, "one mail");
    assert!(sink.to(&stranger, "").is_empty(), "nothing to an address without an account");
    let token = token_in(&mail);

    // Bad forms first: they change nothing.
    let p = app.client.post("/api/v1/auth/password-reset/confirm", &json!({"token": token})).await;
    assert_eq!(p.assert_problem(422, "validation-failed")["errors"][0]["field"], "new_password");
    let p = app.client.post("/api/v1/auth/password-reset/confirm", &json!({"token": "", "new_password": "x"})).await;
    assert_eq!(p.assert_problem(422, "validation-failed")["errors"][0]["field"], "token");
    let weak = json!({"token": token, "new_password": "password1"});
    let p = app.client.post("/api/v1/auth/password-reset/confirm", &weak).await;
    assert_eq!(p.assert_problem(422, "validation-failed")["errors"][0]["field"], "new_password");
    let forged = json!({"token": format!("{}x", &token[1..]), "new_password": "a brand new passphrase 42"});
    app.client.post("/api/v1/auth/password-reset/confirm", &forged).await.assert_problem(400, "invalid-account-token");

    c.client.get("/api/v1/me").await.assert_status(200);
    let good = json!({"token": token, "new_password": "a brand new passphrase 42"});
    app.client.post("/api/v1/auth/password-reset/confirm", &good).await.assert_status(204);
    c.client.get("/api/v1/me").await.assert_problem(401, "session-ended");
    let refresh = app.client.post("/api/v1/auth/refresh", &json!({"refresh_token": c.refresh})).await;
    assert_eq!(refresh.status.as_u16(), 401, "the old refresh token is dead too");
    app.client.post("/api/v1/auth/password-reset/confirm", &good).await.assert_problem(400, "invalid-account-token");
    let again = login(&app, &c.email, "a brand new passphrase 42").await;
    assert_eq!(again.client.get("/api/v1/me").await.json()["email_verified"], true, "the inbox was proven");
    mails(&sink, &c.email, "password was changed", 1).await;

    // An expired link is refused with the same code.
    app.client.post("/api/v1/auth/password-reset", &json!({"email": c.email})).await.assert_status(202);
    let second = mails(&sink, &c.email, "reset your password", 2).await;
    let token2 = token_in(&second[1]);
    exec(
        &db.url,
        "UPDATE account_tokens SET expires_at = now() - interval '1 second' WHERE purpose = 'password_reset'",
    )
    .await;
    let late = json!({"token": token2, "new_password": "yet another passphrase 7"});
    app.client.post("/api/v1/auth/password-reset/confirm", &late).await.assert_problem(400, "invalid-account-token");
    assert_eq!(db_i64(&db.url, "SELECT count(*) FROM account_tokens WHERE octet_length(token_hash) <> 32").await, 0);
}

#[tokio::test]
async fn checkout_waits_for_a_verified_address_when_the_policy_says_so() {
    let db = TestDb::new().await;
    let sink = SmtpSink::start();
    let mut config = with_channels(&db, Some(&sink), None);
    config.auth.require_verified_email_for_checkout = true;
    let app = start(config).await;
    let s = shop(&app, 5, 1000).await;
    let c = customer(&app, "newcomer").await;
    let mail = mails(&sink, &c.email, "confirm your email address", 1).await.remove(0);
    assert_eq!(c.client.get("/api/v1/me").await.json()["email_verified"], false);

    add(&c.client, &s.variant, 1).await.assert_status(200);
    checkout(&c.client, &s, "unverified-1", "tok_visa").await.assert_problem(403, "email-not-verified");
    assert_eq!(db_i64(&db.url, "SELECT count(*) FROM idempotency_keys").await, 0, "nothing claimed");

    // A resend replaces the first link.
    c.client.send(Method::POST, "/api/v1/me/verification-email", None).await.assert_status(202);
    let both = mails(&sink, &c.email, "confirm your email address", 2).await;
    let first = json!({"token": token_in(&mail)});
    app.client.post("/api/v1/auth/verify-email", &first).await.assert_problem(400, "invalid-account-token");
    app.client.post("/api/v1/auth/verify-email", &json!({"token": token_in(&both[1])})).await.assert_status(204);
    assert_eq!(c.client.get("/api/v1/me").await.json()["email_verified"], true);
    c.client
        .send(Method::POST, "/api/v1/me/verification-email", None)
        .await
        .assert_problem(409, "email-already-verified");
    checkout(&c.client, &s, "verified-1", "tok_visa").await.assert_status(201);
}

#[tokio::test]
async fn two_accounts_claiming_one_address_one_wins_the_other_gets_409() {
    let db = TestDb::new().await;
    let sink = SmtpSink::start();
    let app = start(with_channels(&db, Some(&sink), None)).await;
    let a = customer(&app, "a").await;
    let b = customer(&app, "b").await;
    let wanted = unique_email("wanted");

    let bad = json!({"current_password": "wrong password here", "new_email": wanted});
    let p = a.client.post("/api/v1/me/email", &bad).await;
    assert_eq!(p.assert_problem(422, "validation-failed")["errors"][0]["field"], "current_password");
    let p =
        a.client.post("/api/v1/me/email", &json!({"current_password": PASSWORD, "new_email": "not-an-address"})).await;
    assert_eq!(p.assert_problem(422, "validation-failed")["errors"][0]["field"], "new_email");
    let p = a.client.post("/api/v1/me/email", &json!({"current_password": PASSWORD, "new_email": a.email})).await;
    assert_eq!(p.assert_problem(422, "validation-failed")["errors"][0]["field"], "new_email");

    let ask = json!({"current_password": PASSWORD, "new_email": wanted});
    a.client.post("/api/v1/me/email", &ask).await.assert_status(202);
    b.client.post("/api/v1/me/email", &ask).await.assert_status(202);
    let links = mails(&sink, &wanted, "confirm your new email address", 2).await;
    let (ta, tb) = (token_in(&links[0]), token_in(&links[1]));
    let (ba, bb) = (json!({"token": ta}), json!({"token": tb}));
    let (ra, rb) = tokio::join!(
        app.client.post("/api/v1/auth/email-change/confirm", &ba),
        app.client.post("/api/v1/auth/email-change/confirm", &bb),
    );
    let mut statuses = [ra.status.as_u16(), rb.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 409], "one winner: {} / {}", ra.text(), rb.text());
    let loser = if ra.status.as_u16() == 409 { &ra } else { &rb };
    loser.assert_problem(409, "email-taken");
    let sql = format!("SELECT count(*) FROM users WHERE email = '{wanted}' AND email_verified_at IS NOT NULL");
    assert_eq!(db_i64(&db.url, &sql).await, 1);
    // The winner by the database: the two links may have been delivered in either order, so
    // the first confirmation is not necessarily A's.
    let a_won = format!("SELECT count(*) FROM users WHERE email = '{wanted}' AND id = '{}'", a.id);
    let winner_old = if db_i64(&db.url, &a_won).await == 1 { &a.email } else { &b.email };
    mails(&sink, winner_old, "your email address was changed", 1).await;
    login(&app, &wanted, PASSWORD).await;
}

#[tokio::test]
async fn export_holds_only_the_callers_data_and_erasure_leaves_orders_without_the_person() {
    let db = TestDb::new().await;
    let app = start(crate::helpers::test_config(&db)).await;
    let s = shop(&app, 10, 1000).await;
    let a = customer(&app, "exported").await;
    let b = customer(&app, "other").await;
    a.client.post("/api/v1/me/addresses", &crate::helpers::address("Ada Home")).await.assert_status(201);
    add(&a.client, &s.variant, 1).await.assert_status(200);
    let mine = checkout(&a.client, &s, "export-a", "tok_visa").await.json();
    add(&b.client, &s.variant, 1).await.assert_status(200);
    let theirs = checkout(&b.client, &s, "export-b", "tok_visa").await.json();

    let res = a.client.get("/api/v1/me/export").await;
    res.assert_status(200);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let x = res.json();
    assert_eq!(x["profile"]["email"], a.email.as_str());
    assert_eq!(x["addresses"].as_array().unwrap().len(), 1);
    let orders: Vec<&str> = x["orders"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(orders, [mine["id"].as_str().unwrap()], "the caller's orders and nobody else's");
    assert!(!x.to_string().contains(theirs["id"].as_str().unwrap()));
    assert!(x["orders"][0]["lines"].as_array().is_some_and(|l| !l.is_empty()), "orders carry their lines");
    assert!(x["sessions"].as_array().is_some_and(|s| !s.is_empty()) && x["consents"] == json!([]));

    // A customer group membership (no HTTP for groups yet): erasure removes it too.
    {
        use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
        let mut conn = AsyncPgConnection::establish(&db.url).await.expect("connection");
        let group = uuid::Uuid::new_v4();
        let sql = format!(
            "INSERT INTO customer_groups (id, name) VALUES ('{group}', 'VIP'); \
             INSERT INTO customer_group_members (group_id, user_id) VALUES ('{group}', '{}')",
            a.id
        );
        conn.batch_execute(&sql).await.expect("membership");
    }

    // Erasure asks for the password again.
    let p = a.client.delete_json("/api/v1/me", &json!({"password": "wrong one"})).await;
    assert_eq!(p.assert_problem(422, "validation-failed")["errors"][0]["field"], "password");
    let p = a.client.delete_json("/api/v1/me", &json!({})).await;
    assert!(matches!(p.status.as_u16(), 400 | 422), "a body without the password is refused: {}", p.text());
    a.client.delete_json("/api/v1/me", &json!({"password": PASSWORD})).await.assert_status(204);
    a.client.get("/api/v1/me").await.assert_status(401);

    let id = a.id.as_str();
    let q = |sql: &str| sql.replace("$A", id);
    assert_eq!(db_i64(&db.url, &q("SELECT count(*) FROM orders WHERE user_id = '$A'")).await, 1, "the order stays");
    let personal = q("SELECT count(*) FROM orders WHERE user_id = '$A' AND (shipping_address::text LIKE '%Ada%' \
         OR shipping_address::text LIKE '%Main Street%' OR shipping_address::text LIKE '%10115%')");
    assert_eq!(db_i64(&db.url, &personal).await, 0, "no personal data left in the order");
    let user_row = q("SELECT count(*) FROM users WHERE id = '$A' AND (email LIKE 'exported%' OR name = 'exported')");
    assert_eq!(db_i64(&db.url, &user_row).await, 0);
    for table in
        ["addresses", "carts", "refresh_tokens", "account_tokens", "idempotency_keys", "customer_group_members"]
    {
        let n = db_i64(&db.url, &q(&format!("SELECT count(*) FROM {table} WHERE user_id = '$A'"))).await;
        assert_eq!(n, 0, "{table} rows of the erased account");
    }
    let again = json!({"email": a.email, "password": PASSWORD, "name": "Back again"});
    app.client.post("/api/v1/auth/register", &again).await.assert_status(201);
    b.client.get(&format!("/api/v1/orders/{}", theirs["id"].as_str().unwrap())).await.assert_status(200);

    // An admin erases B; the outbox records who did it.
    let adm = admin(&app).await;
    adm.client.delete(&format!("/api/v1/admin/users/{}", b.id)).await.assert_status(204);
    adm.client.delete(&format!("/api/v1/admin/users/{}", b.id)).await.assert_problem(404, "not-found");
    adm.client.delete(&format!("/api/v1/admin/users/{}", adm.id)).await.assert_problem(409, "admin-account");
    let audit = format!(
        "SELECT count(*) FROM outbox WHERE event_type = 'user.erased' AND payload->>'user_id' = '{}' \
         AND payload->>'actor_id' = '{}' AND payload->>'by' = 'admin'",
        b.id, adm.id
    );
    assert_eq!(db_i64(&db.url, &audit).await, 1);
    b.client.get("/api/v1/me").await.assert_status(401);
}
