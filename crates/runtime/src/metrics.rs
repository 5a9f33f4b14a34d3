//! Prometheus metrics, exposed at `/metrics`. Routes are labelled by their pattern
//! (`/api/v1/products/{id}`), never by raw path, so cardinality stays bounded.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    db_pool: IntGaugeVec,
    pub orders_created: prometheus::IntCounter,
    pub checkout_failures: IntCounterVec,
    pub payment_duration: HistogramVec,
    pub refunds: IntCounterVec,
    pub refunded_minor: IntCounterVec,
    pub returns: IntCounterVec,
    pub shipments: IntCounterVec,
    pub captures: IntCounterVec,
    pub captured_minor: IntCounterVec,
    pub outbox_backlog: IntGaugeVec,
    pub outbox_oldest_pending: prometheus::Gauge,
    pub outbox_delivered: IntCounterVec,
    pub outbox_delivery_latency: HistogramVec,
    pub outbox_failures: IntCounterVec,
    pub outbox_dead: IntCounterVec,
    near_cache: IntGaugeVec,
    search_index: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by method, route pattern and status"),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route pattern")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["method", "route"],
        )
        .expect("valid metric");
        let db_pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "PostgreSQL pool connections by state (max, open, idle, waiting)"),
            &["pool", "state"],
        )
        .expect("valid metric");
        let orders_created = prometheus::IntCounter::new("orders_created_total", "Orders placed (stock reserved)")
            .expect("valid metric");
        let checkout_failures = IntCounterVec::new(
            Opts::new("checkout_failures_total", "Checkouts that did not end in a paid order, by reason"),
            &["reason"],
        )
        .expect("valid metric");
        let payment_duration = HistogramVec::new(
            HistogramOpts::new("payment_duration_seconds", "Payment authorisation latency by outcome")
                .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["outcome"],
        )
        .expect("valid metric");
        let refunds = IntCounterVec::new(
            Opts::new("refunds_total", "Refund pay-outs by outcome (succeeded, failed, retry: no answer yet)"),
            &["outcome"],
        )
        .expect("valid metric");
        let refunded_minor = IntCounterVec::new(
            Opts::new("refunded_minor_units_total", "Money refunded, in minor units of any currency, by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        let returns = IntCounterVec::new(
            Opts::new(
                "returns_total",
                "Returns asked for and their steps (requested, approved, rejected, received, refunded, withdrawn)",
            ),
            &["step"],
        )
        .expect("valid metric");
        let shipments = IntCounterVec::new(
            Opts::new("shipments_total", "Shipments created and delivered (created, delivered)"),
            &["step"],
        )
        .expect("valid metric");
        let captures = IntCounterVec::new(
            Opts::new(
                "captures_total",
                "Captures at shipment by outcome (captured, failed: refused, retry: no answer yet)",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let captured_minor = IntCounterVec::new(
            Opts::new("captured_minor_units_total", "Money captured at shipment, in minor units of any currency"),
            &["outcome"],
        )
        .expect("valid metric");
        let outbox_backlog = IntGaugeVec::new(
            Opts::new("outbox_events", "Outbox events waiting for delivery (pending) or given up on (dead)"),
            &["status"],
        )
        .expect("valid metric");
        let outbox_oldest_pending = prometheus::Gauge::new(
            "outbox_oldest_pending_seconds",
            "Age of the oldest outbox event still waiting for delivery",
        )
        .expect("valid metric");
        let outbox_delivered = IntCounterVec::new(
            Opts::new("outbox_delivered_total", "Outbox events delivered on every channel, by type"),
            &["event_type"],
        )
        .expect("valid metric");
        let outbox_delivery_latency = HistogramVec::new(
            HistogramOpts::new(
                "outbox_delivery_latency_seconds",
                "Time from an event's commit to its delivery on every channel, by type",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0]),
            &["event_type"],
        )
        .expect("valid metric");
        let outbox_failures = IntCounterVec::new(
            Opts::new("outbox_delivery_failures_total", "Failed delivery attempts by event type and channel"),
            &["event_type", "channel"],
        )
        .expect("valid metric");
        let outbox_dead = IntCounterVec::new(
            Opts::new("outbox_dead_total", "Outbox events parked as dead after their last attempt, by type"),
            &["event_type"],
        )
        .expect("valid metric");
        let near_cache = IntGaugeVec::new(
            Opts::new(
                "near_cache",
                "In-process cache copies: hits and misses since start, entries, bytes, live (1: copies served)",
            ),
            &["stat"],
        )
        .expect("valid metric");
        let search_index = IntGaugeVec::new(
            Opts::new(
                "search_index",
                "The in-memory listing and search index: products, words, serving (1: answering; 0: PostgreSQL answers), rebuilds and products changed through the feed since start",
            ),
            &["stat"],
        )
        .expect("valid metric");
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(search_index.clone()),
            Box::new(http_duration.clone()),
            Box::new(db_pool.clone()),
            Box::new(orders_created.clone()),
            Box::new(checkout_failures.clone()),
            Box::new(payment_duration.clone()),
            Box::new(refunds.clone()),
            Box::new(refunded_minor.clone()),
            Box::new(returns.clone()),
            Box::new(shipments.clone()),
            Box::new(captures.clone()),
            Box::new(captured_minor.clone()),
            Box::new(outbox_backlog.clone()),
            Box::new(outbox_oldest_pending.clone()),
            Box::new(outbox_delivered.clone()),
            Box::new(outbox_delivery_latency.clone()),
            Box::new(outbox_failures.clone()),
            Box::new(outbox_dead.clone()),
            Box::new(near_cache.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Metrics {
            registry,
            http_requests,
            http_duration,
            db_pool,
            orders_created,
            checkout_failures,
            payment_duration,
            refunds,
            refunded_minor,
            returns,
            shipments,
            captures,
            captured_minor,
            outbox_backlog,
            outbox_oldest_pending,
            outbox_delivered,
            outbox_delivery_latency,
            outbox_failures,
            outbox_dead,
            near_cache,
            search_index,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Lag-tolerant reads by where they went (`replica` or `primary`).
    pub fn observe_reads(&self, replica: u64, primary: u64) {
        self.db_pool.with_label_values(&["reads", "replica"]).set(replica as i64);
        self.db_pool.with_label_values(&["reads", "primary"]).set(primary as i64);
    }

    pub fn observe_pool(&self, pool: &str, s: persistence::PoolStats) {
        let set = |state: &str, v: usize| self.db_pool.with_label_values(&[pool, state]).set(v as i64);
        set("max", s.max_size);
        set("open", s.size);
        set("idle", s.available);
        set("waiting", s.waiting);
    }

    /// The near cache's figures since start (hits and misses only grow).
    pub fn observe_near(&self, s: primitives::NearStats) {
        let set = |stat: &str, v: i64| self.near_cache.with_label_values(&[stat]).set(v);
        set("hits", s.hits as i64);
        set("misses", s.misses as i64);
        set("entries", s.entries as i64);
        set("bytes", s.bytes as i64);
        set("live", i64::from(s.live));
    }

    /// The search index's figures (rebuilds and changes only grow).
    pub fn observe_search(&self, s: search::IndexStats) {
        let set = |stat: &str, v: u64| self.search_index.with_label_values(&[stat]).set(v as i64);
        set("products", s.products as u64);
        set("words", s.words as u64);
        set("serving", u64::from(s.serving));
        set("rebuilds", s.rebuilds);
        set("changes", s.changes);
    }

    pub fn render(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        buf
    }
}

/// The dispatcher's reports, as metrics.
impl outbox::DispatchObserver for Metrics {
    fn delivered(&self, event_type: &str, latency: std::time::Duration) {
        self.outbox_delivered.with_label_values(&[event_type]).inc();
        self.outbox_delivery_latency.with_label_values(&[event_type]).observe(latency.as_secs_f64());
    }
    fn failed(&self, event_type: &str, channel: &str) {
        self.outbox_failures.with_label_values(&[event_type, channel]).inc();
    }
    fn dead(&self, event_type: &str) {
        self.outbox_dead.with_label_values(&[event_type]).inc();
    }
    fn backlog(&self, stats: &outbox::OutboxStats) {
        self.outbox_backlog.with_label_values(&["pending"]).set(stats.pending);
        self.outbox_backlog.with_label_values(&["dead"]).set(stats.dead);
        self.outbox_oldest_pending.set(stats.oldest_pending_seconds);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
