use std::sync::Once;

use serde_json::{Value, json};
use shop_api::Application;
use shop_api::config::Config;
use testkit::{Client, TestDb};

static TRACING: Once = Once::new();

/// A running app and what a test needs to talk to it.
pub struct TestApp {
    pub client: Client,
    pub config: Config,
    pub db_url: String,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting and let workers exit; the database is dropped by its owner.
        let handle = self.handle.clone();
        std::mem::drop(handle.stop(false));
    }
}

/// The configuration of a test instance over `db`.
pub fn test_config(db: &TestDb) -> Config {
    Config::for_test(&db.url, testkit::redis_url(), testkit::redis_prefix())
}

pub async fn start(config: Config) -> TestApp {
    TRACING.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            std::mem::forget(shop_api::telemetry::init(&config.telemetry));
        }
    });
    let app = Application::build(config.clone()).await.expect("app starts");
    let client = Client::new(format!("http://127.0.0.1:{}", app.port()));
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp { client, db_url: config.database.url.clone(), config, handle }
}

/// Another instance over `app`'s database and Redis key space (scale-out), its configuration
/// adjusted by `tweak`.
pub async fn sibling(app: &TestApp, db: &TestDb, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = test_config(db);
    config.redis.key_prefix = app.config.redis.key_prefix.clone();
    tweak(&mut config);
    start(config).await
}

/// A fresh database and an app over it. Keep the `TestDb` alive for the test's duration.
pub async fn spawn() -> (TestApp, TestDb) {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> (TestApp, TestDb) {
    let db = TestDb::new().await;
    let mut config = test_config(&db);
    tweak(&mut config);
    (start(config).await, db)
}

pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-in user.
pub struct Session {
    pub id: String,
    pub email: String,
    pub access: String,
    pub refresh: String,
    pub client: Client,
}

pub fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}

pub async fn login(app: &TestApp, email: &str, password: &str) -> Session {
    let res = app.client.post("/api/v1/auth/login", &json!({"email": email, "password": password})).await;
    res.assert_status(200);
    let body = res.json();
    Session {
        id: body["user"]["id"].as_str().expect("id").to_owned(),
        email: email.to_owned(),
        access: body["access_token"].as_str().expect("access").to_owned(),
        refresh: body["refresh_token"].as_str().expect("refresh").to_owned(),
        client: app.client.with_token(body["access_token"].as_str().expect("access")),
    }
}

/// Registers a customer and logs in.
pub async fn customer(app: &TestApp, tag: &str) -> Session {
    let email = unique_email(tag);
    app.client
        .post("/api/v1/auth/register", &json!({"email": email, "password": PASSWORD, "name": tag}))
        .await
        .assert_status(201);
    login(app, &email, PASSWORD).await
}

/// Creates an admin the way an operator does (the CLI's code path) and logs in.
pub async fn admin(app: &TestApp) -> Session {
    let email = unique_email("admin");
    shop_api::startup::create_admin(&app.config, email.clone(), "Admin".into(), PASSWORD.into())
        .await
        .expect("admin created");
    login(app, &email, PASSWORD).await
}

/// `n` new customers, registered and signed in ten at a time, each made ready by `ready` (given
/// a client signed in as them); their access tokens.
pub async fn customers_ready<F, Fut>(app: &TestApp, n: usize, ready: F) -> Vec<String>
where
    F: Fn(Client) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tokens = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(10) {
        let ready = &ready;
        tokens.extend(
            futures_util::future::join_all(chunk.iter().map(|i| async move {
                let session = customer(app, &format!("buyer{i}")).await;
                ready(session.client).await;
                session.access
            }))
            .await,
        );
    }
    tokens
}

/// Each token's checkout of `body`, all at once, alternately through `a` and `b`, each with an
/// Idempotency-Key of its own; the answers.
pub async fn checkouts_at_once(a: &TestApp, b: &TestApp, tokens: &[String], body: &Value) -> Vec<testkit::Response> {
    let mut tasks = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let client = if i % 2 == 0 { a.client.with_token(token) } else { b.client.with_token(token) };
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            client.with_header("idempotency-key", &format!("k-{i}")).post("/api/v1/checkout", &body).await
        }));
    }
    let mut answers = Vec::with_capacity(tasks.len());
    for t in tasks {
        answers.push(t.await.expect("checkout"));
    }
    answers
}

pub fn address(name: &str) -> Value {
    json!({
        "full_name": name,
        "line1": "1 Main Street",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    })
}

/// GETs `path` until `done` holds, for at most two seconds: another instance hears of a write
/// through Redis pub/sub, which drops its in-process copy within milliseconds, not before the
/// writer answers.
pub async fn soon(
    client: &testkit::Client,
    path: &str,
    done: impl Fn(&testkit::Response) -> bool,
) -> testkit::Response {
    within(std::time::Duration::from_secs(2), client, path, done).await
}

/// GETs `path` until `done` holds or `limit` has passed; the last answer.
pub async fn within(
    limit: std::time::Duration,
    client: &testkit::Client,
    path: &str,
    done: impl Fn(&testkit::Response) -> bool,
) -> testkit::Response {
    let start = std::time::Instant::now();
    loop {
        let res = client.get(path).await;
        if done(&res) || start.elapsed() > limit {
            return res;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The caller's order `id` once the sweeper cancelled it (for at most six seconds).
pub async fn expired_order(client: &testkit::Client, id: &str) -> Value {
    let path = format!("/api/v1/orders/{id}");
    let order = within(std::time::Duration::from_secs(6), client, &path, |r| r.json()["status"] == "cancelled").await;
    let order = order.json();
    assert_eq!(order["status"], "cancelled");
    order
}

/// One integer computed by PostgreSQL over the test's database (for invariants checked behind the
/// API: counts, sums).
pub async fn db_i64(db_url: &str, sql: &str) -> i64 {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct One {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        v: i64,
    }
    let mut conn = AsyncPgConnection::establish(db_url).await.expect("connection");
    let row: One = diesel::sql_query(format!("SELECT ({sql})::bigint AS v"))
        .get_result(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    row.v
}

/// The headers every response carries, whatever its status: `None` when all are there, else which
/// are missing or wrong.
pub fn missing_security_headers(res: &testkit::Response) -> Option<String> {
    let expect: [(&str, Option<&str>); 6] = [
        ("x-content-type-options", Some("nosniff")),
        ("x-frame-options", Some("DENY")),
        ("referrer-policy", Some("no-referrer")),
        ("cross-origin-resource-policy", Some("same-site")),
        ("content-security-policy", None),
        ("x-request-id", None),
    ];
    let wrong: Vec<String> = expect
        .iter()
        .filter(|(name, value)| match (res.header(name), value) {
            (None, _) => true,
            (Some(got), Some(want)) => got != *want,
            (Some(_), None) => false,
        })
        .map(|(name, _)| (*name).to_owned())
        .collect();
    (!wrong.is_empty()).then(|| format!("{} {}: missing or wrong {wrong:?}", res.status.as_u16(), res.text()))
}
