//! Prometheus metrics, exposed at `/metrics`. Routes are labelled by their pattern
//! (`/api/v1/products/{id}`), never by raw path, so cardinality stays bounded.

use prometheus::core::Collector;
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
        Metrics {
            http_requests: counters(
                &registry,
                "http_requests_total",
                "HTTP requests by method, route pattern and status",
                &["method", "route", "status"],
            ),
            http_duration: histograms(
                &registry,
                "http_request_duration_seconds",
                "HTTP request latency by route pattern",
                &["method", "route"],
                vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
            ),
            db_pool: gauges(
                &registry,
                "db_pool_connections",
                "PostgreSQL pool connections by state (max, open, idle, waiting)",
                &["pool", "state"],
            ),
            orders_created: registered(
                &registry,
                prometheus::IntCounter::new("orders_created_total", "Orders placed (stock reserved)"),
            ),
            checkout_failures: counters(
                &registry,
                "checkout_failures_total",
                "Checkouts that did not end in a paid order, by reason",
                &["reason"],
            ),
            payment_duration: histograms(
                &registry,
                "payment_duration_seconds",
                "Payment authorisation latency by outcome",
                &["outcome"],
                vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
            ),
            refunds: counters(
                &registry,
                "refunds_total",
                "Refund pay-outs by outcome (succeeded, failed, retry: no answer yet)",
                &["outcome"],
            ),
            refunded_minor: counters(
                &registry,
                "refunded_minor_units_total",
                "Money refunded, in minor units of any currency, by outcome",
                &["outcome"],
            ),
            returns: counters(
                &registry,
                "returns_total",
                "Returns asked for and their steps (requested, approved, rejected, received, refunded, withdrawn)",
                &["step"],
            ),
            shipments: counters(
                &registry,
                "shipments_total",
                "Shipments created and delivered (created, delivered)",
                &["step"],
            ),
            captures: counters(
                &registry,
                "captures_total",
                "Captures at shipment by outcome (captured, failed: refused, retry: no answer yet)",
                &["outcome"],
            ),
            captured_minor: counters(
                &registry,
                "captured_minor_units_total",
                "Money captured at shipment, in minor units of any currency",
                &["outcome"],
            ),
            outbox_backlog: gauges(
                &registry,
                "outbox_events",
                "Outbox events waiting for delivery (pending) or given up on (dead)",
                &["status"],
            ),
            outbox_oldest_pending: registered(
                &registry,
                prometheus::Gauge::new(
                    "outbox_oldest_pending_seconds",
                    "Age of the oldest outbox event still waiting for delivery",
                ),
            ),
            outbox_delivered: counters(
                &registry,
                "outbox_delivered_total",
                "Outbox events delivered on every channel, by type",
                &["event_type"],
            ),
            outbox_delivery_latency: histograms(
                &registry,
                "outbox_delivery_latency_seconds",
                "Time from an event's commit to its delivery on every channel, by type",
                &["event_type"],
                vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0],
            ),
            outbox_failures: counters(
                &registry,
                "outbox_delivery_failures_total",
                "Failed delivery attempts by event type and channel",
                &["event_type", "channel"],
            ),
            outbox_dead: counters(
                &registry,
                "outbox_dead_total",
                "Outbox events parked as dead after their last attempt, by type",
                &["event_type"],
            ),
            near_cache: gauges(
                &registry,
                "near_cache",
                "In-process cache copies: hits and misses since start, entries, bytes, live (1: copies served)",
                &["stat"],
            ),
            search_index: gauges(
                &registry,
                "search_index",
                "The in-memory listing and search index: products, words, serving (1: answering; 0: PostgreSQL answers), rebuilds and products changed through the feed since start",
                &["stat"],
            ),
            registry,
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

/// `metric`, registered with `registry`.
fn registered<M: Collector + Clone + 'static>(registry: &Registry, metric: prometheus::Result<M>) -> M {
    let metric = metric.expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("metric registered once");
    metric
}

fn counters(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(registry, IntCounterVec::new(Opts::new(name, help), labels))
}

fn gauges(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    registered(registry, IntGaugeVec::new(Opts::new(name, help), labels))
}

fn histograms(registry: &Registry, name: &str, help: &str, labels: &[&str], buckets: Vec<f64>) -> HistogramVec {
    registered(registry, HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels))
}
