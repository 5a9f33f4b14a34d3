//! Registration, login, tokens, sessions, profile, addresses, roles, admin.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use primitives::Quota;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, address, admin, customer, login, sibling, soon, spawn, spawn_with, unique_email,
};

async fn register(app: &TestApp, email: &str, password: &str) -> testkit::Response {
    app.client.post("/api/v1/auth/register", &json!({"email": email, "password": password, "name": "Test"})).await
}

#[tokio::test]
async fn register_login_and_me() {
    let (app, _db) = spawn().await;
    let email = unique_email("Ada");
    let res = register(&app, &format!("  {}  ", email.to_uppercase()), PASSWORD).await;
    res.assert_status(201);
    let user = res.json();
    assert_eq!(user["email"], email.to_lowercase(), "email normalised");
    assert_eq!(user["role"], "customer");
    assert!(user.get("password_hash").is_none());

    let s = login(&app, &email.to_uppercase(), PASSWORD).await;
    let me = s.client.get("/api/v1/me").await;
    me.assert_status(200);
    assert_eq!(me.json()["id"], user["id"]);

    let patched = s.client.patch("/api/v1/me", &json!({"name": "Ada L."})).await;
    patched.assert_status(200);
    assert_eq!(patched.json()["name"], "Ada L.");
    s.client.patch("/api/v1/me", &json!({"name": ""})).await.assert_problem(422, "validation-failed");
}

#[tokio::test]
async fn duplicate_email_is_409_whatever_the_case() {
    let (app, _db) = spawn().await;
    let email = unique_email("dup");
    register(&app, &email, PASSWORD).await.assert_status(201);
    register(&app, &email.to_uppercase(), PASSWORD).await.assert_problem(409, "email-taken");
}

#[tokio::test]
async fn weak_and_common_passwords_are_422_naming_the_field() {
    let (app, _db) = spawn().await;
    for (password, hint) in [
        ("short", "at least 10"),
        ("1234567890", "common"),
        ("qwertyuiop", "common"),
        ("Password123", "common"),
        (&"x".repeat(129), "at most 128"),
    ] {
        let doc = register(&app, &unique_email("weak"), password).await.assert_problem(422, "validation-failed");
        assert_eq!(doc["errors"][0]["field"], "password", "{doc}");
        assert!(doc["errors"][0]["message"].as_str().unwrap_or("").contains(hint), "{password}: {doc}");
    }
    let doc = register(&app, "not-an-email", PASSWORD).await.assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "email");
    let doc = app
        .client
        .post("/api/v1/auth/register", &json!({"email": unique_email("n"), "password": PASSWORD, "name": "  "}))
        .await
        .assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "name");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_are_the_same_401() {
    let (app, _db) = spawn().await;
    let s = customer(&app, "c").await;
    let wrong = app.client.post("/api/v1/auth/login", &json!({"email": s.email, "password": "not the password"})).await;
    let unknown =
        app.client.post("/api/v1/auth/login", &json!({"email": unique_email("ghost"), "password": PASSWORD})).await;
    let a = wrong.assert_problem(401, "invalid-credentials");
    let b = unknown.assert_problem(401, "invalid-credentials");
    assert_eq!(a, b);
}

/// The `shop_refresh` cookie a response sets: its value and its attributes.
fn refresh_cookie(res: &testkit::Response) -> (String, String) {
    let set = res
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("shop_refresh="))
        .unwrap_or_else(|| panic!("no refresh cookie: {:?}", res.headers))
        .to_owned();
    let value = set["shop_refresh=".len()..].split(';').next().unwrap_or_default().to_owned();
    (value, set)
}

#[tokio::test]
async fn cookie_mode_keeps_the_refresh_token_out_of_javascript_and_needs_the_csrf_token() {
    let (app, _db) = spawn().await;
    let s = customer(&app, "cookie").await;
    let login = app
        .client
        .post("/api/v1/auth/login", &json!({"email": s.email, "password": PASSWORD, "refresh_cookie": true}))
        .await;
    login.assert_status(200);
    let body = login.json();
    assert!(body.get("refresh_token").is_none(), "no refresh token in the body: {body}");
    let csrf = body["csrf_token"].as_str().expect("csrf token").to_owned();
    let (token, attributes) = refresh_cookie(&login);
    assert_eq!(token.len(), 43, "{attributes}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/api/v1/auth", "Secure", "Max-Age="] {
        assert!(attributes.contains(attr), "{attr} missing: {attributes}");
    }
    let with_cookie = app.client.with_header("cookie", &format!("shop_refresh={token}"));

    // A browser sends the cookie by itself: without the CSRF token of that cookie, refused, and
    // nothing is spent.
    with_cookie.post("/api/v1/auth/refresh", &json!({})).await.assert_problem(403, "csrf-token-invalid");
    with_cookie
        .with_header("x-csrf-token", "AAAA")
        .post("/api/v1/auth/refresh", &json!({}))
        .await
        .assert_problem(403, "csrf-token-invalid");
    let refreshed = with_cookie.with_header("x-csrf-token", &csrf).post("/api/v1/auth/refresh", &json!({})).await;
    refreshed.assert_status(200);
    let next = refreshed.json();
    assert!(next.get("refresh_token").is_none(), "{next}");
    let next_csrf = next["csrf_token"].as_str().expect("csrf").to_owned();
    assert_ne!(next_csrf, csrf, "the CSRF token rotates with the refresh token");
    let (next_token, _) = refresh_cookie(&refreshed);
    assert_ne!(next_token, token);
    app.client.with_token(next["access_token"].as_str().expect("access")).get("/api/v1/me").await.assert_status(200);

    // The old cookie's CSRF token does not go with the new cookie.
    let next_cookie = app.client.with_header("cookie", &format!("shop_refresh={next_token}"));
    next_cookie
        .with_header("x-csrf-token", &csrf)
        .post("/api/v1/auth/refresh", &json!({}))
        .await
        .assert_problem(403, "csrf-token-invalid");
    // Rotation and theft detection work as in bearer mode: the spent cookie revokes the session.
    with_cookie
        .with_header("x-csrf-token", &csrf)
        .post("/api/v1/auth/refresh", &json!({}))
        .await
        .assert_problem(401, "refresh-token-reused");
    next_cookie
        .with_header("x-csrf-token", &next_csrf)
        .post("/api/v1/auth/refresh", &json!({}))
        .await
        .assert_problem(401, "invalid-refresh-token");
    // Neither a body token nor a cookie.
    app.client.post("/api/v1/auth/refresh", &json!({})).await.assert_problem(401, "invalid-refresh-token");
}

#[tokio::test]
async fn logout_expires_the_refresh_cookie() {
    let (app, _db) = spawn().await;
    let s = customer(&app, "bye").await;
    let res = s.client.post("/api/v1/auth/logout", &json!({})).await;
    res.assert_status(204);
    let (value, attributes) = refresh_cookie(&res);
    assert!(value.is_empty() && attributes.contains("Max-Age=0"), "{attributes}");
    // Bearer mode is untouched: a body token switches to cookie mode only when asked.
    let again = login(&app, &s.email, PASSWORD).await;
    let res =
        app.client.post("/api/v1/auth/refresh", &json!({"refresh_token": again.refresh, "refresh_cookie": true})).await;
    res.assert_status(200);
    assert!(res.json().get("refresh_token").is_none() && res.json()["csrf_token"].is_string());
    assert_eq!(refresh_cookie(&res).0.len(), 43);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let (app, _db) = spawn().await;
    let s = customer(&app, "r").await;

    let first = app.client.post("/api/v1/auth/refresh", &json!({"refresh_token": s.refresh})).await;
    first.assert_status(200);
    assert_eq!(first.header("cache-control"), Some("no-store"));
    let second_token = first.json()["refresh_token"].as_str().expect("token").to_owned();
    assert_ne!(second_token, s.refresh);
    let new_access = first.json()["access_token"].as_str().expect("access").to_owned();
    app.client.with_token(&new_access).get("/api/v1/me").await.assert_status(200);

    // The spent token presented again: theft. The family dies, including the live successor.
    app.client
        .post("/api/v1/auth/refresh", &json!({"refresh_token": s.refresh}))
        .await
        .assert_problem(401, "refresh-token-reused");
    app.client
        .post("/api/v1/auth/refresh", &json!({"refresh_token": second_token}))
        .await
        .assert_problem(401, "invalid-refresh-token");
    // The access token of the dead family is refused at once, not when it expires.
    app.client.with_token(&new_access).get("/api/v1/me").await.assert_problem(401, "session-ended");

    app.client
        .post("/api/v1/auth/refresh", &json!({"refresh_token": "made-up"}))
        .await
        .assert_problem(401, "invalid-refresh-token");
}

#[tokio::test]
async fn logout_revokes_this_session_and_logout_all_every_session() {
    let (app, _db) = spawn().await;
    let a = customer(&app, "l").await;
    let b = login(&app, &a.email, PASSWORD).await;
    let c = login(&app, &a.email, PASSWORD).await;

    a.client.post("/api/v1/auth/logout", &json!({})).await.assert_status(204);
    app.client.post("/api/v1/auth/refresh", &json!({"refresh_token": a.refresh})).await.assert_status(401);
    // Other sessions live on.
    let b2 = app.client.post("/api/v1/auth/refresh", &json!({"refresh_token": b.refresh})).await;
    b2.assert_status(200);

    c.client.post("/api/v1/auth/logout-all", &json!({})).await.assert_status(204);
    let b_next = b2.json()["refresh_token"].as_str().expect("token").to_owned();
    app.client.post("/api/v1/auth/refresh", &json!({"refresh_token": b_next})).await.assert_status(401);
    app.client.post("/api/v1/auth/refresh", &json!({"refresh_token": c.refresh})).await.assert_status(401);

    app.client.post("/api/v1/auth/logout", &json!({})).await.assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn password_change_needs_the_current_one_and_ends_other_sessions() {
    let (app, _db) = spawn().await;
    let a = customer(&app, "p").await;
    let other = login(&app, &a.email, PASSWORD).await;
    let new_password = "a much better passphrase";

    let doc = a
        .client
        .post("/api/v1/me/password", &json!({"current_password": "wrong wrong wrong", "new_password": new_password}))
        .await
        .assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "current_password");
    let doc = a
        .client
        .post("/api/v1/me/password", &json!({"current_password": PASSWORD, "new_password": "password123"}))
        .await
        .assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "new_password", "the weak password's own field");

    a.client
        .post("/api/v1/me/password", &json!({"current_password": PASSWORD, "new_password": new_password}))
        .await
        .assert_status(204);
    app.client.post("/api/v1/auth/refresh", &json!({"refresh_token": other.refresh})).await.assert_status(401);
    app.client.post("/api/v1/auth/refresh", &json!({"refresh_token": a.refresh})).await.assert_status(200);
    app.client.post("/api/v1/auth/login", &json!({"email": a.email, "password": PASSWORD})).await.assert_status(401);
    login(&app, &a.email, new_password).await;
}

/// Access tokens are checked against their session on every request, on every instance: a
/// logout, a revocation or a disabled account refuses them at once, and a role change applies at
/// once, not when the token expires.
#[tokio::test]
async fn access_tokens_end_with_their_session_everywhere() {
    let (app, db) = spawn().await;
    // A second instance sharing the database and the Redis key space: it caches session states
    // (in process, too) and must hear of every change.
    let other = sibling(&app, &db, |_| {}).await;
    let there = |s: &crate::helpers::Session| other.client.with_token(&s.access);
    let ended = |r: &testkit::Response| r.status.as_u16() == 401;

    // Logout ends this session's access token; another session of the same user lives on.
    let a = customer(&app, "end").await;
    let b = login(&app, &a.email, PASSWORD).await;
    let c = login(&app, &a.email, PASSWORD).await;
    there(&a).get("/api/v1/me").await.assert_status(200);
    a.client.post("/api/v1/auth/logout", &json!({})).await.assert_status(204);
    let res = a.client.get("/api/v1/me").await;
    res.assert_problem(401, "session-ended");
    assert!(res.header("www-authenticate").is_some_and(|h| h.contains("invalid_token")));
    soon(&there(&a), "/api/v1/me", ended).await.assert_problem(401, "session-ended");
    b.client.get("/api/v1/me").await.assert_status(200);
    there(&c).get("/api/v1/me").await.assert_status(200);

    // Logout-all ends every session, the caller's included.
    b.client.post("/api/v1/auth/logout-all", &json!({})).await.assert_status(204);
    b.client.get("/api/v1/me").await.assert_problem(401, "session-ended");
    soon(&there(&c), "/api/v1/me", ended).await.assert_problem(401, "session-ended");

    // A password change ends the other sessions, not the one that changed it.
    let d = customer(&app, "pw").await;
    let e = login(&app, &d.email, PASSWORD).await;
    there(&e).get("/api/v1/me").await.assert_status(200);
    d.client
        .post("/api/v1/me/password", &json!({"current_password": PASSWORD, "new_password": "another fine passphrase"}))
        .await
        .assert_status(204);
    soon(&there(&e), "/api/v1/me", ended).await.assert_problem(401, "session-ended");
    d.client.get("/api/v1/me").await.assert_status(200);

    // Role changes apply to tokens already issued: a promoted customer may act as staff, a
    // demoted one no longer may, on both instances.
    let ops = admin(&app).await;
    let f = customer(&app, "staffer").await;
    there(&f).get("/api/v1/admin/orders").await.assert_problem(403, "forbidden");
    ops.client.put(&format!("/api/v1/admin/users/{}/role", f.id), &json!({"role": "staff"})).await.assert_status(200);
    f.client.get("/api/v1/admin/orders").await.assert_status(200);
    soon(&there(&f), "/api/v1/admin/orders", |r| r.status.as_u16() == 200).await.assert_status(200);
    ops.client
        .put(&format!("/api/v1/admin/users/{}/role", f.id), &json!({"role": "customer"}))
        .await
        .assert_status(200);
    f.client.get("/api/v1/admin/orders").await.assert_problem(403, "forbidden");
    soon(&there(&f), "/api/v1/admin/orders", |r| r.status.as_u16() == 403).await.assert_problem(403, "forbidden");

    // Disabling ends the account's sessions at once; enabling it does not revive them.
    there(&f).get("/api/v1/me").await.assert_status(200);
    ops.client.post(&format!("/api/v1/admin/users/{}/disable", f.id), &json!({})).await.assert_status(200);
    f.client.get("/api/v1/me").await.assert_problem(401, "session-ended");
    soon(&there(&f), "/api/v1/me", ended).await.assert_problem(401, "session-ended");
    ops.client.post(&format!("/api/v1/admin/users/{}/enable", f.id), &json!({})).await.assert_status(200);
    f.client.get("/api/v1/me").await.assert_problem(401, "session-ended");
    login(&app, &f.email, PASSWORD).await.client.get("/api/v1/me").await.assert_status(200);
}

fn forge(header: Value, claims: Value, signature: &str) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{h}.{c}.{signature}")
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

#[tokio::test]
async fn forged_and_stale_access_tokens_are_401() {
    let (app, _db) = spawn().await;
    let s = customer(&app, "jwt").await;
    let claims = claims_of(&s.access);
    let kid = auth::key_id(&app.config.auth.jwt_secret);
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: &Value, secret: &str, alg: Algorithm| {
        let header = Header { kid: Some(kid.clone()), ..Header::new(alg) };
        encode(&header, claims, &EncodingKey::from_secret(secret.as_bytes())).expect("encode")
    };
    let secret = app.config.auth.jwt_secret.clone();

    // Sanity: a token we sign with the right key and claims is accepted, so the refusals below
    // are about the attack, not the test's token building.
    app.client.with_token(sign(&claims, &secret, Algorithm::HS256)).get("/api/v1/me").await.assert_status(200);

    let mut cases: Vec<(&str, String)> = Vec::new();
    cases.push(("alg none", forge(json!({"alg": "none", "typ": "JWT", "kid": kid}), claims.clone(), "")));
    cases.push(("wrong key", sign(&claims, "another-secret-another-secret-12345", Algorithm::HS256)));
    cases.push(("other algorithm", sign(&claims, &secret, Algorithm::HS512)));
    let mut expired = claims.clone();
    expired["exp"] = json!(now - 3600);
    expired["iat"] = json!(now - 7200);
    expired["nbf"] = json!(now - 7200);
    cases.push(("expired", sign(&expired, &secret, Algorithm::HS256)));
    let mut aud = claims.clone();
    aud["aud"] = json!("someone-else");
    cases.push(("wrong audience", sign(&aud, &secret, Algorithm::HS256)));
    let mut iss = claims.clone();
    iss["iss"] = json!("evil");
    cases.push(("wrong issuer", sign(&iss, &secret, Algorithm::HS256)));
    let mut future = claims.clone();
    future["nbf"] = json!(now + 3600);
    cases.push(("not yet valid", sign(&future, &secret, Algorithm::HS256)));
    // Tampered payload: promote to admin, keep the original signature.
    let mut promoted = claims.clone();
    promoted["role"] = json!("admin");
    let sig = s.access.rsplit('.').next().expect("signature");
    let header = s.access.split('.').next().expect("header");
    cases.push(("tampered payload", format!("{header}.{}.{sig}", URL_SAFE_NO_PAD.encode(promoted.to_string()))));
    cases.push(("garbage", "not-a-jwt".into()));
    let mut no_kid = Header::new(Algorithm::HS256);
    no_kid.kid = None;
    cases.push(("no kid", encode(&no_kid, &claims, &EncodingKey::from_secret(secret.as_bytes())).expect("encode")));

    for (name, token) in cases {
        let res = app.client.with_token(&token).get("/api/v1/me").await;
        assert_eq!(res.status.as_u16(), 401, "{name}: {}", res.text());
        assert!(res.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")), "{name}");
        assert_eq!(res.header("content-type"), Some("application/problem+json"), "{name}");
    }
    let res = app.client.with_token(sign(&expired, &secret, Algorithm::HS256)).get("/api/v1/me").await;
    res.assert_problem(401, "token-expired");
}

#[tokio::test]
async fn rotated_signing_keys_keep_old_tokens_valid() {
    let (app, db) = spawn().await;
    let s = customer(&app, "rot").await;
    // A second instance with a new current key and the old one kept for verification.
    let rotated = sibling(&app, &db, |c| {
        c.auth.jwt_previous_secrets = vec![c.auth.jwt_secret.clone()];
        c.auth.jwt_secret = "the-next-signing-key-the-next-signing-key".into();
    })
    .await;
    rotated.client.with_token(&s.access).get("/api/v1/me").await.assert_status(200);
    let fresh = login(&rotated, &s.email, PASSWORD).await;
    // The old instance does not know the new key.
    app.client.with_token(&fresh.access).get("/api/v1/me").await.assert_status(401);
}

#[tokio::test]
async fn addresses_crud_defaults_and_validation() {
    let (app, _db) = spawn().await;
    let s = customer(&app, "addr").await;
    let mut first = address("Ada");
    first["is_default_shipping"] = json!(true);
    let a = s.client.post("/api/v1/me/addresses", &first).await;
    a.assert_status(201);
    let location = a.header("location").map(str::to_owned);
    let a = a.json();
    assert_eq!(location, Some(format!("/api/v1/me/addresses/{}", a["id"].as_str().expect("id"))));
    assert_eq!(a["is_default_shipping"], true);

    let mut second = address("Ada at work");
    second["is_default_shipping"] = json!(true);
    second["is_default_billing"] = json!(true);
    let b = s.client.post("/api/v1/me/addresses", &second).await.json();
    let list = s.client.get("/api/v1/me/addresses").await.json();
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 2);
    let defaults: Vec<_> = list.iter().filter(|x| x["is_default_shipping"] == true).collect();
    assert_eq!(defaults.len(), 1, "only one default shipping address");
    assert_eq!(defaults[0]["id"], b["id"]);

    let path = format!("/api/v1/me/addresses/{}", a["id"].as_str().expect("id"));
    let patched = s.client.patch(&path, &json!({"city": "Hamburg", "is_default_shipping": true})).await;
    patched.assert_status(200);
    assert_eq!(patched.json()["city"], "Hamburg");
    assert_eq!(patched.json()["full_name"], "Ada");
    let b_now = s.client.get(&format!("/api/v1/me/addresses/{}", b["id"].as_str().expect("id"))).await.json();
    assert_eq!(b_now["is_default_shipping"], false);
    assert_eq!(b_now["is_default_billing"], true);

    let mut bad = address("X");
    bad["country"] = json!("XX");
    let doc = s.client.post("/api/v1/me/addresses", &bad).await.assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "country");
    let doc = s.client.patch(&path, &json!({"postal_code": ""})).await.assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "postal_code");

    s.client.delete(&path).await.assert_status(204);
    s.client.get(&path).await.assert_problem(404, "not-found");
    s.client.delete(&path).await.assert_problem(404, "not-found");
}

#[tokio::test]
async fn address_limit_holds() {
    let (app, _db) = spawn().await;
    let s = customer(&app, "many").await;
    for i in 0..users::MAX_ADDRESSES_PER_USER {
        s.client.post("/api/v1/me/addresses", &address(&format!("n{i}"))).await.assert_status(201);
    }
    s.client.post("/api/v1/me/addresses", &address("one too many")).await.assert_problem(409, "address-limit");
}

#[tokio::test]
async fn another_users_address_is_404() {
    let (app, _db) = spawn().await;
    let a = customer(&app, "a").await;
    let b = customer(&app, "b").await;
    let addr = a.client.post("/api/v1/me/addresses", &address("A")).await.json();
    let path = format!("/api/v1/me/addresses/{}", addr["id"].as_str().expect("id"));
    b.client.get(&path).await.assert_problem(404, "not-found");
    b.client.patch(&path, &json!({"city": "Stolen"})).await.assert_problem(404, "not-found");
    b.client.delete(&path).await.assert_problem(404, "not-found");
    assert_eq!(b.client.get("/api/v1/me/addresses").await.json(), json!([]));
    // Untouched for its owner.
    let mine = a.client.get(&path).await;
    mine.assert_status(200);
    assert_eq!(mine.json()["city"], "Berlin");
}

#[tokio::test]
async fn roles_guard_admin_routes() {
    let (app, _db) = spawn().await;
    let c = customer(&app, "cust").await;
    app.client.get("/api/v1/admin/users").await.assert_problem(401, "unauthorized");
    let res = c.client.get("/api/v1/admin/users").await;
    res.assert_problem(403, "forbidden");
    c.client
        .put(&format!("/api/v1/admin/users/{}/role", c.id), &json!({"role": "admin"}))
        .await
        .assert_problem(403, "forbidden");

    let a = admin(&app).await;
    let page = a.client.get("/api/v1/admin/users?limit=1").await;
    page.assert_status(200);
    assert_eq!(page.json()["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn admin_lists_searches_and_pages_users() {
    let (app, _db) = spawn().await;
    let a = admin(&app).await;
    for i in 0..5 {
        customer(&app, &format!("pager{i}")).await;
    }
    customer(&app, "other").await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/v1/admin/users?q=PAGER&limit=2&cursor={c}"),
            None => "/api/v1/admin/users?q=PAGER&limit=2".to_owned(),
        };
        let page = a.client.get(&q).await;
        page.assert_status(200);
        let body = page.json();
        for u in body["items"].as_array().expect("items") {
            seen.push(u["email"].as_str().expect("email").to_owned());
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.iter().all(|e| e.starts_with("pager")));

    let doc = a.client.get("/api/v1/admin/users?limit=500").await.assert_problem(400, "invalid-parameter");
    assert_eq!(doc["errors"][0]["field"], "limit");
    a.client.get("/api/v1/admin/users?cursor=garbage").await.assert_problem(400, "invalid-parameter");
    a.client.get("/api/v1/admin/users?role=emperor").await.assert_problem(400, "invalid-parameter");
    // Wildcards in the search are literal.
    let page = a.client.get("/api/v1/admin/users?q=%25").await.json();
    assert_eq!(page["items"], json!([]));
}

#[tokio::test]
async fn admin_changes_roles_and_disables_accounts() {
    let (app, _db) = spawn().await;
    let a = admin(&app).await;
    let c = customer(&app, "victim").await;

    let promoted = a.client.put(&format!("/api/v1/admin/users/{}/role", c.id), &json!({"role": "staff"})).await;
    promoted.assert_status(200);
    assert_eq!(promoted.json()["role"], "staff");
    a.client
        .put(&format!("/api/v1/admin/users/{}/role", a.id), &json!({"role": "customer"}))
        .await
        .assert_problem(409, "self-change");
    let doc = a
        .client
        .put(&format!("/api/v1/admin/users/{}/role", c.id), &json!({"role": "emperor"}))
        .await
        .assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "role");
    a.client.get(&format!("/api/v1/admin/users/{}", uuid::Uuid::new_v4())).await.assert_problem(404, "not-found");

    let disabled = a.client.post(&format!("/api/v1/admin/users/{}/disable", c.id), &json!({})).await;
    disabled.assert_status(200);
    assert_eq!(disabled.json()["disabled"], true);
    // Locked out: no login, no refresh.
    app.client
        .post("/api/v1/auth/login", &json!({"email": c.email, "password": PASSWORD}))
        .await
        .assert_problem(403, "account-disabled");
    app.client.post("/api/v1/auth/refresh", &json!({"refresh_token": c.refresh})).await.assert_status(401);
    // A wrong password on a disabled account still reveals nothing.
    app.client
        .post("/api/v1/auth/login", &json!({"email": c.email, "password": "wrong wrong wrong"}))
        .await
        .assert_problem(401, "invalid-credentials");

    a.client.post(&format!("/api/v1/admin/users/{}/enable", c.id), &json!({})).await.assert_status(200);
    login(&app, &c.email, PASSWORD).await;
}

/// docs/security.md, "Login throttling": failures count per (account, client IP) in tiers, with a
/// looser ceiling per account that only binds clients which have failed; every attempt counts
/// per IP.
#[tokio::test]
async fn login_throttling_slows_guessing_but_never_locks_the_owner_out() {
    let (app, _db) = spawn_with(|c| {
        c.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.auth.login_per_ip = Quota::new(30, 60);
        c.auth.login_failures_per_client = vec![Quota::new(3, 60), Quota::new(5, 3600)];
        c.auth.login_failures_per_account = Quota::new(6, 60);
    })
    .await;
    let s = customer(&app, "brute").await;
    let from = |ip: &str| app.client.with_header("x-forwarded-for", ip);
    let attempt = |ip: &'static str, password: &'static str| {
        let (client, email) = (from(ip), s.email.clone());
        async move { client.post("/api/v1/auth/login", &json!({"email": email, "password": password})).await }
    };

    // One client guessing: three failures, then refused with a Retry-After, even the right password.
    for _ in 0..3 {
        attempt("203.0.113.1", "wrong wrong wrong").await.assert_problem(401, "invalid-credentials");
    }
    let res = attempt("203.0.113.1", PASSWORD).await;
    res.assert_problem(429, "rate-limited");
    let retry: u64 = res.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    // The owner, elsewhere, is not locked out by the stranger's failures.
    attempt("198.51.100.7", PASSWORD).await.assert_status(200);

    // Guesses spread over addresses spend the account's ceiling (3 + 3 = 6 failures) ...
    for ip in ["203.0.113.2", "203.0.113.3", "203.0.113.4"] {
        attempt(ip, "wrong wrong wrong").await.assert_problem(401, "invalid-credentials");
    }
    // ... after which an address that has failed for this account is refused at once ...
    attempt("203.0.113.2", PASSWORD).await.assert_problem(429, "rate-limited");
    // ... while a client that has not failed still signs in, the owner's included.
    attempt("198.51.100.7", PASSWORD).await.assert_status(200);
    attempt("198.51.100.8", PASSWORD).await.assert_status(200);
    // Other accounts are untouched by this account's ceiling, even from a guessing address.
    let other = customer(&app, "bystander").await;
    from("203.0.113.2")
        .post("/api/v1/auth/login", &json!({"email": other.email, "password": PASSWORD}))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn login_is_rate_limited_per_ip_whatever_the_account() {
    let (app, _db) = spawn_with(|c| c.auth.login_per_ip = Quota::new(3, 60)).await;
    // Per IP: attempts on any accounts from the same address run out (3 per minute in all).
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = app.client.post("/api/v1/auth/login", &json!({"email": unique_email("x"), "password": PASSWORD})).await;
        statuses.push(r.status.as_u16());
    }
    assert_eq!(statuses, vec![401, 401, 401, 429, 429]);
}

#[tokio::test]
async fn admin_cli_creates_an_admin() {
    let (app, _db) = spawn().await;
    let email = unique_email("cli");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shop-api"))
        .args(["admin", "create", "--email", &email, "--name", "Root"])
        .env("SHOP_PROFILE", "test")
        .env("SHOP_DATABASE__URL", &app.db_url)
        .env("SHOP_DATABASE__CREATE_IF_MISSING", "false")
        .env("SHOP_ADMIN_PASSWORD", PASSWORD)
        .output()
        .expect("run CLI");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = login(&app, &email, PASSWORD).await;
    assert_eq!(claims_of(&s.access)["role"], "admin");
    s.client.get("/api/v1/admin/users").await.assert_status(200);
}

#[tokio::test]
async fn bootstrap_admin_from_configuration() {
    let email = unique_email("boot");
    let e = email.clone();
    let (app, _db) = spawn_with(move |c| {
        c.auth.bootstrap_admin_email = Some(e);
        c.auth.bootstrap_admin_password = Some(PASSWORD.into());
    })
    .await;
    let s = login(&app, &email, PASSWORD).await;
    s.client.get("/api/v1/admin/users").await.assert_status(200);
}
