//! Wiring of the outbox dispatcher: the same code runs embedded in the API process
//! (`outbox.embedded = true`, the default) and in the `shop-worker` binary.

use std::sync::Arc;
use std::time::Duration;

use outbox::{Backoff, Dispatcher, DispatcherConfig, EmailSender, LoggingMailer, LoggingSms, Notifications, Publisher};
use persistence::{Db, PgContacts, PgOutboxRepo};
use tokio::sync::watch;

use crate::StartError;
use crate::config::{Config, Profile};
use crate::metrics::Metrics;

/// The dispatcher over `db`, with the configured SMTP server and broker (or their logging and
/// no-op stand-ins when unset).
pub fn dispatcher(config: &Config, db: Db, metrics: Arc<Metrics>) -> Result<Dispatcher, StartError> {
    let o = &config.outbox;
    let e = &config.email;
    let mailer: Arc<dyn EmailSender> = match &e.smtp_url {
        Some(url) if !url.is_empty() => Arc::new(
            mailer::SmtpMailer::new(&mailer::SmtpConfig {
                url: url.clone(),
                from: e.from.clone(),
                timeout: Duration::from_millis(e.timeout_ms),
            })
            .map_err(|e| StartError::step("email.smtp_url", e))?,
        ),
        _ => {
            if config.profile == Profile::Production {
                tracing::warn!("email.smtp_url is not set: emails are logged, not sent");
            }
            Arc::new(LoggingMailer)
        }
    };
    let publisher: Option<Arc<dyn Publisher>> = config.broker.url.as_ref().filter(|u| !u.is_empty()).map(|url| {
        Arc::new(rabbitmq::RabbitPublisher::new(rabbitmq::RabbitConfig {
            url: url.clone(),
            exchange: config.broker.exchange.clone(),
            timeout: Duration::from_millis(config.broker.timeout_ms),
        })) as Arc<dyn Publisher>
    });
    Ok(Dispatcher {
        repo: Arc::new(PgOutboxRepo::new(db.clone())),
        contacts: Arc::new(PgContacts::new(db)),
        mailer,
        sms: Arc::new(LoggingSms),
        publisher,
        notifications: Notifications::new(
            e.shop_name.clone(),
            e.shop_url.clone(),
            primitives::secret::account_token_key(&config.auth.jwt_secret),
        ),
        observer: metrics,
        cfg: DispatcherConfig {
            batch_size: o.batch_size,
            concurrency: o.concurrency,
            lease: Duration::from_secs(o.lease_secs),
            poll_interval: Duration::from_millis(o.poll_interval_ms),
            max_attempts: o.max_attempts,
            backoff: Backoff {
                base: Duration::from_millis(o.backoff_base_ms),
                max: Duration::from_millis(o.backoff_max_ms),
            },
            retention: Duration::from_secs(o.retention_days * 24 * 3600),
        },
    })
}

/// A running dispatcher loop.
pub struct Worker {
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Worker {
    pub fn start(dispatcher: Dispatcher) -> Self {
        let (shutdown, rx) = watch::channel(false);
        let task = Arc::new(dispatcher).spawn(rx);
        Worker { shutdown, task }
    }

    /// Stops claiming and waits for the round in progress (its deliveries settle, or their
    /// claims lapse and another dispatcher retries them).
    pub async fn stop(self, grace: Duration) {
        let _ = self.shutdown.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(grace, self.task).await.is_err() {
            abort.abort();
        }
    }
}
