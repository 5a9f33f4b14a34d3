//! What the two binaries (`shop-api`, `shop-worker`) share, with no HTTP framework in it:
//! configuration (figment: defaults, `shop.toml`, `SHOP_*`), telemetry (tracing, OTLP), the
//! Prometheus metrics registry, preparing the database (private PostgreSQL in dev, creation,
//! migrations), and the wiring of the outbox dispatcher (SMTP, RabbitMQ, or their stand-ins).

pub mod config;
pub mod database;
pub mod metrics;
pub mod telemetry;
pub mod worker;

/// A failure while starting up (the binaries report it and exit).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{what}: {source}")]
    Step {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StartError {
    pub fn step(what: &'static str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StartError::Step { what, source: source.into() }
    }
}
