//! `shop-worker` as a process: it delivers what API instances without a dispatcher leave in the
//! outbox, serves health and metrics, and stops cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shop_api::Application;
use shop_api::config::Config;
use testkit::{Client, TestDb};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_worker_delivers_what_the_api_leaves_and_stops_on_sigterm() {
    let db = TestDb::new().await;
    let mut config = Config::for_test(&db.url, testkit::redis_url(), testkit::redis_prefix());
    config.outbox.embedded = false; // the API only writes events
    let app = Application::build(config.clone()).await.expect("api starts");
    let api = Client::new(format!("http://127.0.0.1:{}", app.port()));
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());

    let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
    shop_api::startup::create_admin(&config, email.clone(), "Ops".into(), "a long enough password".into())
        .await
        .expect("admin");
    let login = api.post("/api/v1/auth/login", &json!({"email": email, "password": "a long enough password"})).await;
    login.assert_status(200);
    let ops = api.with_token(login.json()["access_token"].as_str().expect("token"));
    let pending = |ops: Client| async move {
        let page = ops.get("/api/v1/admin/outbox?event_type=user.registered").await.json();
        page["items"].as_array().expect("items").clone()
    };
    // Without a dispatcher the event stays pending.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events: Vec<Value> = pending(ops.clone()).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["status"], "pending");

    let port = free_port();
    let mut worker = Command::new(env!("CARGO_BIN_EXE_shop-worker"))
        .env("SHOP_PROFILE", "test")
        .env("SHOP_DATABASE__URL", &db.url)
        .env("SHOP_DATABASE__CREATE_IF_MISSING", "false")
        .env("SHOP_DATABASE__EMBEDDED", "false")
        .env("SHOP_OUTBOX__WORKER_LISTEN", format!("127.0.0.1:{port}"))
        .env("SHOP_CONFIG", "/nonexistent/shop.toml")
        .stdout(Stdio::null())
        .spawn()
        .expect("shop-worker runs");
    wait_for("the event to be delivered by the worker", || {
        let ops = ops.clone();
        async move { pending(ops).await.first().filter(|e| e["status"] == "delivered").cloned() }
    })
    .await;

    let worker_http = Client::new(format!("http://127.0.0.1:{port}"));
    worker_http.get("/health/live").await.assert_status(200);
    assert_eq!(worker_http.get("/health/ready").await.json()["status"], "ready");
    let metrics = worker_http.get("/metrics").await.text();
    assert!(
        metrics.lines().any(|l| l.starts_with("outbox_delivered_total{event_type=\"user.registered\"} 1")),
        "{metrics}"
    );

    let pid = worker.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = worker.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "shop-worker did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "clean exit: {status}");
    handle.stop(false).await;
}
