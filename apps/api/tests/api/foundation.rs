//! The plumbing: errors as problem+json, request ids, metrics, health, migrations, config.

use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};
use testkit::TestDb;

use crate::helpers::{customer, spawn, spawn_with, start, test_config};

#[tokio::test]
async fn liveness_and_readiness() {
    let (app, _db) = spawn().await;
    let live = app.client.get("/health/live").await;
    live.assert_status(200);
    assert_eq!(live.json()["status"], "up");
    let ready = app.client.get("/health/ready").await;
    ready.assert_status(200);
    assert_eq!(ready.json(), json!({"status": "ready", "database": "up", "redis": "up"}));
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let (app, _db) = spawn().await;
    let res = app.client.post_raw("/api/v1/auth/register", "application/json", "{\"email\": ").await;
    let doc = res.assert_problem(400, "malformed-json");
    assert!(doc["detail"].as_str().is_some_and(|d| d.contains("line 1")), "{doc}");
}

#[tokio::test]
async fn wrong_field_types_name_the_field() {
    let (app, _db) = spawn().await;
    let res = app.client.post("/api/v1/auth/register", &json!({"email": 5, "password": "x", "name": "n"})).await;
    let doc = res.assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "email", "{doc}");
    let res = app.client.post("/api/v1/auth/register", &json!({"password": "x", "name": "n"})).await;
    let doc = res.assert_problem(422, "validation-failed");
    assert_eq!(doc["errors"][0]["field"], "email", "{doc}");
}

#[tokio::test]
async fn oversized_body_is_a_413_problem() {
    let (app, _db) = spawn().await;
    let big = format!("{{\"email\":\"{}\"}}", "a".repeat(200 * 1024));
    let res = app.client.post_raw("/api/v1/auth/register", "application/json", big).await;
    res.assert_problem(413, "payload-too-large");
}

#[tokio::test]
async fn wrong_content_type_is_a_415_problem() {
    let (app, _db) = spawn().await;
    let res = app.client.post_raw("/api/v1/auth/login", "text/plain", "email=a").await;
    res.assert_problem(415, "unsupported-media-type");
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_problems() {
    let (app, _db) = spawn().await;
    app.client.get("/nope").await.assert_problem(404, "not-found");
    app.client.get("/api/v1/does-not-exist").await.assert_problem(404, "not-found");
    app.client.delete("/health/live").await.assert_problem(405, "method-not-allowed");
    // A path parameter that is not a UUID matches no resource either.
    let user = customer(&app, "x").await;
    user.client.get("/api/v1/me/addresses/not-a-uuid").await.assert_problem(404, "not-found");
}

#[tokio::test]
async fn request_id_is_echoed_or_generated() {
    let (app, _db) = spawn().await;
    let res = app.client.with_header("x-request-id", "abc-123.req").get("/health/live").await;
    assert_eq!(res.header("x-request-id"), Some("abc-123.req"));
    let res = app.client.get("/health/live").await;
    let generated = res.header("x-request-id").expect("generated id");
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");
    // An unusable incoming id (spaces, too long) is replaced, not echoed.
    let res = app.client.with_header("x-request-id", "has spaces").get("/health/live").await;
    assert_ne!(res.header("x-request-id"), Some("has spaces"));
    // Errors carry it too.
    let res = app.client.with_header("x-request-id", "err-1").get("/nope").await;
    assert_eq!(res.header("x-request-id"), Some("err-1"));
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern() {
    let (app, _db) = spawn().await;
    let user = customer(&app, "m").await;
    for _ in 0..3 {
        user.client.get(&format!("/api/v1/me/addresses/{}", uuid::Uuid::new_v4())).await.assert_status(404);
    }
    let text = app.client.get("/metrics").await.text();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total")
                && l.contains(r#"route="/api/v1/me/addresses/{id}""#)
                && l.contains(r#"status="404""#)
        })
        .unwrap_or_else(|| panic!("no counter for the route pattern:\n{text}"));
    assert!(line.ends_with(" 3"), "{line}");
    assert!(!text.contains("/api/v1/me/addresses/0"), "raw paths must not become labels");
    assert!(text.contains("http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains(r#"db_pool_connections{pool="primary",state="max"} 5"#), "{text}");
}

#[tokio::test]
async fn openapi_document_is_3_1_and_lists_every_route() {
    let (app, _db) = spawn().await;
    let doc = app.client.get("/openapi.json").await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in ["/health/live", "/health/ready", "/metrics", "/api/v1/auth/login", "/api/v1/me/addresses/{id}"] {
        assert!(doc["paths"][path].is_object(), "{path} missing from the document");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

#[tokio::test]
async fn the_docs_ui_is_served_from_the_binary() {
    let (app, _db) = spawn().await;
    let root = app.client.get("/").await;
    root.assert_status(302);
    assert_eq!(root.header("location"), Some("/docs"));

    let ui = app.client.get("/docs").await;
    ui.assert_status(200);
    let page = ui.text();
    assert!(page.contains("<title>shop API reference</title>"), "{page}");
    // Everything it loads comes from here: no other host, no inline script.
    let csp = ui.header("content-security-policy").unwrap_or_default().to_owned();
    assert!(csp.contains("script-src 'self';") && !csp.contains("http"), "{csp}");
    assert!(!page.contains("http://") && !page.contains("https://"), "loads nothing remote: {page}");
    for (path, kind) in
        [("/docs/swagger-ui-bundle.js", "javascript"), ("/docs/swagger-ui.css", "css"), ("/docs/init.js", "javascript")]
    {
        assert!(page.contains(path), "{path} not on the page");
        let asset = app.client.get(path).await;
        asset.assert_status(200);
        assert!(asset.header("content-type").is_some_and(|t| t.contains(kind)), "{path}");
        assert!(asset.body.len() > 100, "{path}");
    }
    assert!(app.client.get("/docs/init.js").await.text().contains("/openapi.json"));
    // Only the bundle's files the page uses, nothing else of it and nothing outside it.
    for path in ["/docs/index.html", "/docs/swagger-initializer.js", "/docs/..%2FCargo.toml"] {
        app.client.get(path).await.assert_status(404);
    }
}

/// Walks a schema (following `$ref`s into `components`) and names every string without a
/// `maxLength` (unless an enum or a uuid/date-time) and every integer without both bounds.
fn unbounded(doc: &Value, schema: &Value, at: &str, out: &mut Vec<String>) {
    let mut s = schema;
    while let Some(r) = s["$ref"].as_str() {
        s = &doc["components"]["schemas"][r.rsplit('/').next().expect("ref name")];
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for alt in s[key].as_array().into_iter().flatten() {
            unbounded(doc, alt, at, out);
        }
    }
    let types: Vec<&str> = match &s["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let formatted = matches!(s["format"].as_str(), Some("uuid" | "date-time"));
    if types.contains(&"string") && s["maxLength"].is_null() && s["enum"].is_null() && !formatted {
        out.push(format!("{at}: string without maxLength"));
    }
    if types.contains(&"integer") && (s["minimum"].is_null() || s["maximum"].is_null()) {
        out.push(format!("{at}: integer without minimum and maximum"));
    }
    if types.contains(&"array") && s["maxItems"].is_null() {
        out.push(format!("{at}: array without maxItems"));
    }
    for (name, property) in s["properties"].as_object().into_iter().flatten() {
        unbounded(doc, property, &format!("{at}.{name}"), out);
    }
    if s["items"].is_object() {
        unbounded(doc, &s["items"], &format!("{at}[]"), out);
    }
}

/// The document states the bounds the API enforces (garde rules mirrored as schema
/// constraints), so clients can validate before sending and generators produce valid input.
#[tokio::test]
async fn openapi_document_bounds_every_input() {
    let (app, _db) = spawn().await;
    let doc = app.client.get("/openapi.json").await.json();
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            // The payment provider's event format is its own, and verified by its signature.
            if path == "/api/v1/webhooks/payments" {
                continue;
            }
            let at = format!("{} {path}", method.to_uppercase());
            for p in op["parameters"].as_array().into_iter().flatten() {
                // An ETag is compared, never stored.
                if p["in"] == "path" || p["name"] == "If-Match" || p["name"] == "If-None-Match" {
                    continue;
                }
                unbounded(
                    &doc,
                    &p["schema"],
                    &format!("{at} {}:{}", p["in"].as_str().unwrap_or("?"), p["name"]),
                    &mut out,
                );
            }
            for (_, content) in op["requestBody"]["content"].as_object().into_iter().flatten() {
                unbounded(&doc, &content["schema"], &format!("{at} body"), &mut out);
            }
        }
    }
    assert!(out.is_empty(), "inputs the document leaves unbounded:\n{}", out.join("\n"));
    // Spot checks that the bounds are the enforced ones.
    let new_variant = &doc["components"]["schemas"]["NewVariant"]["properties"];
    assert_eq!(new_variant["sku"]["maxLength"], 64);
    assert_eq!(new_variant["price_minor"]["maximum"], 100_000_000_000_i64);
    app.client.get("/api/v1/products?limit=101").await.assert_problem(400, "invalid-parameter");
    app.client.get("/api/v1/products?limit=100").await.assert_status(200);
}

#[tokio::test]
async fn readiness_is_degraded_but_requests_work_without_redis() {
    let (app, _db) = spawn_with(|c| c.redis.url = "redis://127.0.0.1:1".into()).await;
    let ready = app.client.get("/health/ready").await;
    ready.assert_status(200);
    assert_eq!(ready.json(), json!({"status": "degraded", "database": "up", "redis": "degraded"}));
    // Redis-backed features (rate limiting) fall back to memory; the request still succeeds.
    customer(&app, "noredis").await.client.get("/api/v1/me").await.assert_status(200);
}

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

async fn admin_conn() -> AsyncPgConnection {
    AsyncPgConnection::establish(&format!("{}/postgres", testkit::server_url())).await.expect("admin connection")
}

#[tokio::test]
async fn readiness_is_503_while_postgres_is_unreachable_and_recovers() {
    let (app, db) = spawn().await;
    app.client.get("/health/ready").await.assert_status(200);

    // Make this test's database refuse connections and cut the pool's existing ones.
    let mut admin = admin_conn().await;
    diesel::sql_query(format!("ALTER DATABASE \"{}\" ALLOW_CONNECTIONS false", db.name))
        .execute(&mut admin)
        .await
        .expect("alter");
    diesel::sql_query("SELECT pg_terminate_backend(pid)::text AS name FROM pg_stat_activity WHERE datname = $1")
        .bind::<Text, _>(&db.name)
        .load::<Name>(&mut admin)
        .await
        .expect("terminate");
    let res = app.client.get("/health/ready").await;
    res.assert_status(503);
    assert_eq!(res.json()["database"], "down");
    // A request that needs the database answers 503 problem+json, not a 500.
    let res = app.client.post("/api/v1/auth/login", &json!({"email": "a@b.cd", "password": "whatever-password"})).await;
    res.assert_problem(503, "unavailable");

    diesel::sql_query(format!("ALTER DATABASE \"{}\" ALLOW_CONNECTIONS true", db.name))
        .execute(&mut admin)
        .await
        .expect("alter");
    // The pool reconnects by itself.
    let ready =
        crate::helpers::within(std::time::Duration::from_secs(5), &app.client, "/health/ready", |r| r.status == 200)
            .await;
    assert_eq!(ready.status, 200, "readiness did not recover");
}

#[tokio::test]
async fn two_instances_starting_together_apply_migrations_once() {
    let db = TestDb::empty().await;
    let (a, b) = tokio::join!(start(test_config(&db)), start(test_config(&db)));
    a.client.get("/health/ready").await.assert_status(200);
    b.client.get("/health/ready").await.assert_status(200);

    let mut conn = AsyncPgConnection::establish(&db.url).await.expect("connect");
    let versions: Vec<String> =
        diesel::sql_query("SELECT version AS name FROM __diesel_schema_migrations ORDER BY version")
            .load::<Name>(&mut conn)
            .await
            .expect("versions")
            .into_iter()
            .map(|n| n.name)
            .collect();
    let unique: std::collections::BTreeSet<_> = versions.iter().collect();
    assert_eq!(unique.len(), versions.len());
    let embedded =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations")).expect("migrations dir").count();
    assert_eq!(versions.len(), embedded, "each migration recorded exactly once");
    // Both instances serve the migrated schema.
    customer(&a, "a").await;
    customer(&b, "b").await;
}

fn run_binary(envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_shop-api"));
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.stdin(std::process::Stdio::null()).output().expect("run shop-api")
}

#[tokio::test]
async fn production_refuses_default_or_missing_secrets() {
    let out = run_binary(&[("SHOP_PROFILE", "production")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auth.jwt_secret is missing") && err.contains("SHOP_AUTH__JWT_SECRET"), "{err}");

    let out =
        run_binary(&[("SHOP_PROFILE", "production"), ("SHOP_AUTH__JWT_SECRET", shop_api::config::DEV_JWT_SECRET)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auth.jwt_secret is the development default"), "{err}");
}

#[tokio::test]
async fn environment_overrides_the_file_and_defaults() {
    // An invalid value in the environment is reported with the key it came from.
    let out = run_binary(&[("SHOP_DATABASE__POOL_SIZE", "lots")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("pool_size") && err.contains("SHOP_"), "{err}");
}

/// The document as served, against the committed snapshot
/// (`apps/api/tests/api/snapshots/api__foundation__openapi.snap`): any change to a route, a schema
/// or a parameter shows as a diff in review. After a deliberate change, accept it with
/// `cargo insta accept` (or `INSTA_UPDATE=always scripts/test.sh`) and commit the snapshot.
#[tokio::test]
async fn openapi_document_matches_its_snapshot() {
    let (app, _db) = spawn().await;
    let doc = app.client.get("/openapi.json").await.json();
    insta::assert_json_snapshot!("openapi", doc);
}
