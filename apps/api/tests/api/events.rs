//! The outbox: events written with the change that causes them, delivered by the dispatcher to a
//! real SMTP server (aiosmtpd, started here) and to the RabbitMQ on this machine; retries, dead
//! events and re-queueing.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use serde_json::{Value, json};
use shop_api::config::Config;
use testkit::TestDb;

use crate::checkout::{add, checkout, shop};
use crate::helpers::{PASSWORD, Session, TestApp, admin, customer, start, test_config, unique_email};

// ---- a real SMTP server -------------------------------------------------------------------------

/// aiosmtpd on a loopback port, writing every message it accepts to a directory.
pub(crate) struct SmtpSink {
    child: Child,
    port: u16,
    dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl SmtpSink {
    pub(crate) fn start() -> Self {
        Self::start_on(free_port(), None)
    }

    /// Listens on `port`, keeping messages in `dir` (a new directory when `None`).
    fn start_on(port: u16, dir: Option<PathBuf>) -> Self {
        let dir = dir.unwrap_or_else(|| std::env::temp_dir().join(format!("shop-smtp-{}", uuid::Uuid::new_v4())));
        std::fs::create_dir_all(&dir).expect("sink dir");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs (scripts/services.sh installs aiosmtpd)");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().expect("stdout")), &mut line)
            .expect("sink output");
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP sink did not start: is aiosmtpd installed? (scripts/services.sh installs it)"
        );
        SmtpSink { child, port, dir }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far (raw RFC 5322 text, with an `X-Envelope-To` line first).
    fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(&self.dir)
            .expect("sink dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files.iter().map(|p| std::fs::read_to_string(p).expect("message")).collect()
    }

    /// Messages to `to` whose subject contains `subject`.
    pub(crate) fn to(&self, to: &str, subject: &str) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| m.lines().next().is_some_and(|l| l.contains(to)))
            .filter(|m| m.lines().any(|l| l.starts_with("Subject:") && l.contains(subject)))
            .collect()
    }

    /// From now on, recipients named `reject...` are accepted too.
    fn accept_all(&self) {
        std::fs::write(self.dir.join("accept-all"), b"").expect("flag");
    }

    fn stop(mut self) -> PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dir.clone()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- a queue bound to the events exchange --------------------------------------------------------

fn amqp_url() -> String {
    std::env::var("SHOP_TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A private exchange for one test (so parallel tests do not see each other's events) and an
/// exclusive queue bound to it with `#`: what another service consuming our events would see.
struct EventQueue {
    _conn: Connection,
    channel: Channel,
    exchange: String,
    queue: String,
}

impl EventQueue {
    async fn bind() -> Self {
        let exchange = format!("shop.events.test.{}", uuid::Uuid::new_v4().simple());
        let conn = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("RabbitMQ on 127.0.0.1:5672 (scripts/services.sh starts it)");
        let channel = conn.create_channel().await.expect("channel");
        // Declared as the dispatcher declares it (durable topic), so both agree.
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions { durable: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .expect("exchange");
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions { exclusive: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .expect("queue");
        let queue = queue.name().as_str().to_owned();
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
        EventQueue { _conn: conn, channel, exchange, queue }
    }

    /// Takes every message waiting in the queue: (type property, delivery mode, body).
    async fn drain(&self) -> Vec<(String, u8, Value)> {
        let mut out = Vec::new();
        while let Some(m) = self
            .channel
            .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic_get")
        {
            let props = &m.delivery.properties;
            let kind = props.kind().as_ref().map(|s| s.as_str().to_owned()).unwrap_or_default();
            let mode = props.delivery_mode().unwrap_or(0);
            out.push((kind, mode, serde_json::from_slice(&m.delivery.data).expect("JSON body")));
        }
        out
    }

    async fn delete(self) {
        let _ = self.channel.exchange_delete(self.exchange.as_str().into(), ExchangeDeleteOptions::default()).await;
    }
}

// ---- helpers ------------------------------------------------------------------------------------

/// Polls `f` until it returns `Some`, for at most `secs` seconds.
pub(crate) async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn outbox(admin: &Session, query: &str) -> Vec<Value> {
    let res = admin.client.get(&format!("/api/v1/admin/outbox?limit=100&{query}")).await;
    res.assert_status(200);
    res.json()["items"].as_array().expect("items").clone()
}

/// Waits until nothing is pending in the outbox.
async fn drained(admin: &Session) {
    eventually(20, "the outbox to drain", || async {
        let s = admin.client.get("/api/v1/admin/outbox/stats").await.json();
        (s["pending"] == 0).then_some(())
    })
    .await;
}

pub(crate) fn with_channels(db: &TestDb, smtp: Option<&SmtpSink>, exchange: Option<&str>) -> Config {
    let mut c = test_config(db);
    c.email.smtp_url = smtp.map(SmtpSink::url);
    if let Some(x) = exchange {
        c.broker.url = Some(amqp_url());
        c.broker.exchange = x.to_owned();
    }
    c
}

async fn change_password(s: &Session) {
    s.client
        .post(
            "/api/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": "a brand new passphrase 42"}),
        )
        .await
        .assert_status(204);
}

// ---- tests --------------------------------------------------------------------------------------

#[tokio::test]
async fn an_order_sends_one_email_and_one_broker_message_even_with_two_dispatchers() {
    let db = TestDb::new().await;
    let sink = SmtpSink::start();
    let queue = EventQueue::bind().await;
    let config = with_channels(&db, Some(&sink), Some(&queue.exchange));
    // Two API instances over one database, each running its own dispatcher.
    let a = start(config.clone()).await;
    let b = start(config).await;

    let shop = shop(&a, 6, 1999).await;
    let c = customer(&b, "buyer").await;
    add(&c.client, &shop.variant, 2).await.assert_status(200);
    let res = checkout(&c.client, &shop, "order-1", "tok_visa").await;
    res.assert_status(201);
    let order = res.json();
    let id = order["id"].as_str().expect("id").to_owned();
    let short = id.replace('-', "")[24..].to_uppercase();

    drained(&shop.admin).await;
    let confirmations = eventually(10, "the confirmation email", || async {
        let m = sink.to(&c.email, "confirmed");
        (!m.is_empty()).then_some(m)
    })
    .await;
    // Give a duplicate every chance to show up: several poll intervals of both dispatchers.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let confirmations_after = sink.to(&c.email, "confirmed");
    assert_eq!(confirmations_after.len(), 1, "exactly one confirmation email: {confirmations_after:#?}");
    let mail = &confirmations[0];
    assert!(mail.contains(&short), "the subject names the order: {mail}");
    assert!(mail.contains("multipart/alternative") && mail.contains("text/html"), "plain text and HTML: {mail}");
    assert!(mail.contains("Total: 44.88 EUR"), "2 x 19.99 + 4.90 shipping: {mail}");

    let messages = queue.drain().await;
    let about_order: Vec<_> = messages.iter().filter(|(_, _, m)| m["aggregate_id"] == id.as_str()).collect();
    let placed: Vec<_> = about_order.iter().filter(|(k, _, _)| k == "order.placed").collect();
    assert_eq!(placed.len(), 1, "exactly one order.placed message: {messages:#?}");
    let (_, mode, body) = placed[0];
    assert_eq!(*mode, 2, "persistent");
    assert_eq!(body["type"], "order.placed");
    assert_eq!(body["schema_version"], 1);
    assert_eq!(body["data"]["total"], json!({"amount_minor": 4488, "currency": "EUR"}));
    assert_eq!(body["data"]["lines"][0]["quantity"], 2);
    assert_eq!(body["data"]["user_id"], c.id.as_str());
    assert!(body["data"].get("email").is_none(), "events carry ids, not personal data");
    assert_eq!(about_order.iter().filter(|(k, _, _)| k == "order.paid").count(), 1);
    // Stock 6 -> 4 crossed the threshold of 5.
    let low: Vec<_> = messages.iter().filter(|(k, _, _)| k == "inventory.low_stock").collect();
    assert_eq!(low.len(), 1, "{messages:#?}");
    assert_eq!(low[0].2["data"]["stock"], 4);
    assert_eq!(
        messages.iter().filter(|(k, _, m)| k == "user.registered" && m["aggregate_id"] == c.id.as_str()).count(),
        1
    );

    // Every event is recorded as delivered on both channels.
    let events = outbox(&shop.admin, &format!("aggregate_id={id}")).await;
    assert_eq!(events.len(), 2, "placed and paid: {events:#?}");
    for e in &events {
        assert_eq!(e["status"], "delivered");
        assert_eq!(e["attempts"], 1, "claimed once: {e}");
        assert!(e["published_at"].is_string());
    }

    // Shipping: one email, one message.
    shop.admin
        .client
        .post(&format!("/api/v1/admin/orders/{id}/ship"), &json!({"carrier": "DHL", "tracking_number": "JD0123"}))
        .await
        .assert_status(200);
    drained(&shop.admin).await;
    let shipped = eventually(10, "the shipping email", || async {
        let m = sink.to(&c.email, "on its way");
        (!m.is_empty()).then_some(m)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.to(&c.email, "on its way").len(), 1);
    assert!(shipped[0].contains("JD0123"));
    let messages = queue.drain().await;
    assert_eq!(messages.iter().filter(|(k, _, _)| k == "order.shipped").count(), 1, "{messages:#?}");

    // Delivery shows in the metrics of the instance(s) that delivered.
    let mut delivered = 0;
    for app in [&a, &b] {
        delivered += metric(&app_metrics(app).await, "outbox_delivered_total", &[("event_type", "order.placed")]);
    }
    assert_eq!(delivered, 1, "one of the two dispatchers delivered it, once");
    queue.delete().await;
}

#[tokio::test]
async fn a_refused_checkout_writes_no_event() {
    let db = TestDb::new().await;
    let app = start(test_config(&db)).await;
    let shop = shop(&app, 6, 500).await;
    let c = customer(&app, "greedy").await;
    add(&c.client, &shop.variant, 1).await.assert_status(200);
    // More than in stock: the line is flagged and the checkout transaction rolls back.
    c.client.put(&format!("/api/v1/cart/lines/{}", shop.variant), &json!({"quantity": 7})).await.assert_status(200);
    checkout(&c.client, &shop, "too-many", "tok_visa").await.assert_problem(409, "insufficient-stock");
    drained(&shop.admin).await;
    assert_eq!(outbox(&shop.admin, "event_type=order.placed").await, Vec::<Value>::new());
    assert_eq!(outbox(&shop.admin, "event_type=inventory.low_stock").await, Vec::<Value>::new());

    // The same cart within stock does write its events (so the query above could see them).
    c.client.put(&format!("/api/v1/cart/lines/{}", shop.variant), &json!({"quantity": 2})).await.assert_status(200);
    checkout(&c.client, &shop, "just-right", "tok_visa").await.assert_status(201);
    drained(&shop.admin).await;
    let placed = outbox(&shop.admin, "event_type=order.placed").await;
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0]["status"], "delivered");
    assert_eq!(placed[0]["published_at"], Value::Null, "no broker configured: nothing published, nothing failed");
    // 6 -> 4 crossed the threshold (5): one low-stock event, as the refused 6 -> -1 would not have.
    assert_eq!(outbox(&shop.admin, "event_type=inventory.low_stock").await.len(), 1);
}

#[tokio::test]
async fn smtp_down_is_retried_until_it_comes_back() {
    let db = TestDb::new().await;
    let port = free_port();
    let mut config = test_config(&db);
    config.email.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
    let app = start(config).await;
    let ops = admin(&app).await;
    let c = customer(&app, "patient").await;
    change_password(&c).await;

    // Nothing listens on the port: attempts fail and are rescheduled. An attempt counts when it
    // starts, so wait for two to have failed (the metric) before the server comes back: a second
    // attempt still in flight would otherwise meet the server and succeed.
    let event = eventually(20, "two failed attempts", || async {
        let failed = metric(
            &app_metrics(&app).await,
            "outbox_delivery_failures_total",
            &[("channel", "email"), ("event_type", "user.password_changed")],
        );
        if failed < 2 {
            return None;
        }
        outbox(&ops, "event_type=user.password_changed")
            .await
            .into_iter()
            .find(|e| e["payload"]["user_id"] == c.id.as_str() && e["attempts"].as_i64() >= Some(2))
    })
    .await;
    assert_eq!(event["status"], "pending");
    assert!(event["last_error"].as_str().is_some_and(|e| e.starts_with("email:")), "{event}");
    assert_eq!(event["notified_at"], Value::Null);

    // The server comes back: the next attempt delivers, once.
    let sink = SmtpSink::start_on(port, None);
    let id = event["id"].as_str().expect("id").to_owned();
    let delivered = eventually(20, "delivery after the server is back", || async {
        let e = ops.client.get(&format!("/api/v1/admin/outbox/{id}")).await.json();
        (e["status"] == "delivered").then_some(e)
    })
    .await;
    assert!(delivered["notified_at"].is_string());
    let mails = sink.to(&c.email, "password was changed");
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let failures = metric(
        &app_metrics(&app).await,
        "outbox_delivery_failures_total",
        &[("channel", "email"), ("event_type", "user.password_changed")],
    );
    assert!(failures >= 2, "failures counted: {failures}");
}

#[tokio::test]
async fn a_poison_event_goes_dead_and_an_admin_requeues_it() {
    let db = TestDb::new().await;
    let sink = SmtpSink::start();
    let mut config = with_channels(&db, Some(&sink), None);
    config.outbox.max_attempts = 3;
    let app = start(config).await;
    let ops = admin(&app).await;

    // The SMTP server refuses this mailbox (550) on every attempt.
    let email = unique_email("reject");
    app.client
        .post("/api/v1/auth/register", &json!({"email": email, "password": PASSWORD, "name": "Poison"}))
        .await
        .assert_status(201);
    let victim = crate::helpers::login(&app, &email, PASSWORD).await;
    change_password(&victim).await;

    let dead = eventually(20, "the event to go dead", || async {
        outbox(&ops, "status=dead")
            .await
            .into_iter()
            .find(|e| e["payload"]["user_id"] == victim.id.as_str() && e["event_type"] == "user.password_changed")
    })
    .await;
    assert_eq!(dead["event_type"], "user.password_changed");
    assert_eq!(dead["attempts"], 3, "max_attempts");
    assert!(dead["last_error"].as_str().is_some_and(|e| e.contains("550")), "{dead}");
    let id = dead["id"].as_str().expect("id").to_owned();
    // It stays dead: no more attempts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ops.client.get(&format!("/api/v1/admin/outbox/{id}")).await.json()["attempts"], 3);
    let stats = ops.client.get("/api/v1/admin/outbox/stats").await.json();
    // The verification mail sent at registration went to the same refusing mailbox.
    assert_eq!(stats["dead"], 2);
    assert_eq!(metric(&app_metrics(&app).await, "outbox_dead_total", &[("event_type", "user.password_changed")]), 1);

    // Only admins re-queue, and only dead events.
    victim
        .client
        .post(&format!("/api/v1/admin/outbox/{id}/requeue"), &json!({}))
        .await
        .assert_problem(403, "forbidden");
    let delivered = outbox(&ops, "status=delivered").await;
    let other = delivered[0]["id"].as_str().expect("id");
    ops.client
        .post(&format!("/api/v1/admin/outbox/{other}/requeue"), &json!({}))
        .await
        .assert_problem(409, "event-not-dead");
    ops.client
        .post(&format!("/api/v1/admin/outbox/{}/requeue", uuid::Uuid::now_v7()), &json!({}))
        .await
        .assert_problem(404, "not-found");
    assert!(sink.to(&email, "password").is_empty());

    // The mailbox is fixed; the admin re-queues: delivered once.
    sink.accept_all();
    let res = ops.client.post(&format!("/api/v1/admin/outbox/{id}/requeue"), &json!({})).await;
    res.assert_status(200);
    assert_eq!(res.json()["status"], "pending");
    assert_eq!(res.json()["attempts"], 0);
    eventually(20, "the re-queued event to be delivered", || async {
        let e = ops.client.get(&format!("/api/v1/admin/outbox/{id}")).await.json();
        (e["status"] == "delivered").then_some(())
    })
    .await;
    assert_eq!(sink.to(&email, "password was changed").len(), 1);
    let dir = sink.stop();
    let _ = std::fs::remove_dir_all(dir);
}

// ---- metrics --------------------------------------------------------------------------------

async fn app_metrics(app: &TestApp) -> String {
    app.client.get("/metrics").await.text()
}

/// The sum of the samples of `name` carrying all of `labels` (Prometheus text format).
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix('{'))
        .filter_map(|l| l.split_once('}'))
        .filter(|(set, _)| labels.iter().all(|(k, v)| set.split(',').any(|p| p == format!("{k}=\"{v}\""))))
        .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
        .sum::<f64>() as u64
}
