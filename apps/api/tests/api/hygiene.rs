//! Rate limiting, security headers, CORS, request timeouts.

use primitives::Quota;
use serde_json::json;

use crate::helpers::{PASSWORD, customer, sibling, spawn, spawn_with};

fn limited(c: &mut shop_api::config::Config, per_ip: u32, per_user: u32) {
    c.rate_limit.enabled = true;
    c.rate_limit.default_per_ip = Quota::new(per_ip, 60);
    c.rate_limit.default_per_user = Quota::new(per_user, 60);
}

#[tokio::test]
async fn per_ip_limit_answers_429_with_headers_and_is_shared_across_instances() {
    let (app, db) = spawn_with(|c| limited(c, 6, 1000)).await;
    let other = sibling(&app, &db, |c| limited(c, 6, 1000)).await;

    let first = app.client.get("/api/v1/categories").await;
    first.assert_status(200);
    assert_eq!(first.header("ratelimit-limit"), Some("6"));
    assert_eq!(first.header("ratelimit-remaining"), Some("5"));
    for c in [&other.client, &app.client, &other.client, &app.client, &other.client] {
        c.get("/api/v1/categories").await.assert_status(200);
    }
    // Six used across both instances: the seventh is refused on either.
    let res = other.client.get("/api/v1/categories").await;
    res.assert_problem(429, "rate-limited");
    let retry: u64 = res.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&retry));
    assert_eq!(res.header("ratelimit-remaining"), Some("0"));
    app.client.get("/api/v1/categories").await.assert_status(429);
    // Operational endpoints are never limited.
    app.client.get("/health/live").await.assert_status(200);
    app.client.get("/health/ready").await.assert_status(200);
}

#[tokio::test]
async fn per_user_limit_is_separate_from_other_users() {
    let (app, _db) = spawn_with(|c| limited(c, 10_000, 3)).await;
    let a = customer(&app, "a").await;
    let b = customer(&app, "b").await;
    for _ in 0..3 {
        a.client.get("/api/v1/me").await.assert_status(200);
    }
    a.client.get("/api/v1/me").await.assert_problem(429, "rate-limited");
    b.client.get("/api/v1/me").await.assert_status(200);
}

#[tokio::test]
async fn the_limiter_falls_back_to_memory_without_redis() {
    let (app, _db) = spawn_with(|c| {
        limited(c, 3, 1000);
        c.redis.url = "redis://127.0.0.1:1".into();
    })
    .await;
    for _ in 0..3 {
        app.client.get("/api/v1/categories").await.assert_status(200);
    }
    app.client.get("/api/v1/categories").await.assert_problem(429, "rate-limited");
}

#[tokio::test]
async fn auth_routes_have_their_own_stricter_group() {
    let (app, _db) = spawn_with(|c| {
        limited(c, 1000, 1000);
        c.rate_limit.auth_per_ip = Quota::new(2, 60);
    })
    .await;
    for _ in 0..2 {
        app.client
            .post("/api/v1/auth/login", &json!({"email": "x@example.com", "password": PASSWORD}))
            .await
            .assert_status(401);
    }
    app.client
        .post("/api/v1/auth/login", &json!({"email": "x@example.com", "password": PASSWORD}))
        .await
        .assert_problem(429, "rate-limited");
    app.client.get("/api/v1/categories").await.assert_status(200);
}

#[tokio::test]
async fn security_headers_on_every_response() {
    let (app, _db) = spawn().await;
    for path in ["/api/v1/categories", "/nope", "/health/live"] {
        let res = app.client.get(path).await;
        assert_eq!(res.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(res.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(res.header("referrer-policy"), Some("no-referrer"), "{path}");
        assert!(res.header("content-security-policy").is_some_and(|v| v.contains("frame-ancestors 'none'")), "{path}");
        assert!(res.header("strict-transport-security").is_none(), "HSTS only in production");
    }
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let (app, _db) = spawn_with(|c| c.server.cors_origins = vec!["https://shop.example".into()]).await;
    let ok = app
        .client
        .with_header("origin", "https://shop.example")
        .with_header("access-control-request-method", "POST")
        .with_header("access-control-request-headers", "authorization, content-type, idempotency-key")
        .send(reqwest::Method::OPTIONS, "/api/v1/checkout", None)
        .await;
    assert!(ok.status.is_success(), "{}", ok.status);
    assert_eq!(ok.header("access-control-allow-origin"), Some("https://shop.example"));
    let simple = app.client.with_header("origin", "https://shop.example").get("/api/v1/categories").await;
    assert_eq!(simple.header("access-control-allow-origin"), Some("https://shop.example"));
    assert!(simple.header("access-control-expose-headers").is_some_and(|h| h.to_lowercase().contains("x-request-id")));

    let evil = app.client.with_header("origin", "https://evil.example").get("/api/v1/categories").await;
    assert!(evil.header("access-control-allow-origin").is_none());

    // A refused preflight says why, as a problem.
    let refused = app
        .client
        .with_header("origin", "https://evil.example")
        .with_header("access-control-request-method", "POST")
        .send(reqwest::Method::OPTIONS, "/api/v1/checkout", None)
        .await;
    let doc = refused.assert_problem(400, "cors-refused");
    let detail = doc["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("https://evil.example") && detail.contains("server.cors_origins"), "{detail}");
}

#[tokio::test]
async fn any_port_origins_allow_local_dev_servers_only() {
    // What the dev profile configures: a frontend dev server on any local port.
    let (app, _db) = spawn_with(|c| {
        c.server.cors_origins = vec!["http://localhost:*".into(), "http://127.0.0.1:*".into()];
    })
    .await;
    for origin in ["http://localhost:5173", "http://127.0.0.1:3000"] {
        let res = app
            .client
            .with_header("origin", origin)
            .with_header("access-control-request-method", "POST")
            .with_header("access-control-request-headers", "content-type")
            .send(reqwest::Method::OPTIONS, "/api/v1/auth/login", None)
            .await;
        assert!(res.status.is_success(), "{origin}: {}", res.status);
        assert_eq!(res.header("access-control-allow-origin"), Some(origin));
    }
    for origin in ["http://localhost:5173.evil.example", "https://localhost:5173", "http://localhost.evil.example"] {
        let res = app.client.with_header("origin", origin).get("/api/v1/categories").await;
        assert!(res.header("access-control-allow-origin").is_none(), "{origin}");
    }
}

#[tokio::test]
async fn slow_requests_time_out_with_a_problem() {
    let (app, _db) = spawn_with(|c| c.server.request_timeout_ms = 1).await;
    // Login hashes a password (tens of milliseconds): far beyond 1 ms.
    let res = app.client.post("/api/v1/auth/login", &json!({"email": "slow@example.com", "password": PASSWORD})).await;
    res.assert_problem(503, "timeout");
    assert_eq!(res.header("retry-after"), Some("1"));
}
