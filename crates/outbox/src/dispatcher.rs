//! The dispatcher: claims due events, delivers each on every channel that has not taken it yet,
//! and settles the attempt (delivered, retry later with exponential backoff, or dead).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use primitives::Page;
use rand::Rng;
use tokio::sync::watch;
use uuid::Uuid;

use crate::event::{Claimed, OutboxFilter, OutboxRecord, OutboxStats, Progress};
use crate::notify::Notifications;
use crate::ports::{
    Contacts, DeliveryError, DispatchObserver, EmailSender, OutboxError, OutboxRepo, Publisher, SmsSender,
};

/// Exponential backoff: `base * 2^(attempts - 1)`, capped at `max`, plus up to a quarter of
/// jitter so retries of a burst do not move in lockstep.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The delay before the attempt after `attempts` failed ones (without jitter).
    pub fn delay(&self, attempts: i32) -> Duration {
        let exp = attempts.saturating_sub(1).clamp(0, 30) as u32;
        self.base.saturating_mul(1u32 << exp).min(self.max)
    }

    fn jittered(&self, attempts: i32) -> Duration {
        let d = self.delay(attempts);
        d + d.mul_f64(rand::thread_rng().gen_range(0.0..0.25))
    }
}

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Events claimed per round.
    pub batch_size: i64,
    /// Events of one round delivered at once.
    pub concurrency: usize,
    /// How long a claim hides an event from other dispatchers (longer than any delivery).
    pub lease: Duration,
    /// Sleep between rounds that found nothing to do.
    pub poll_interval: Duration,
    /// After this many failed attempts an event is dead.
    pub max_attempts: i32,
    pub backoff: Backoff,
    /// Delivered events are deleted after this long.
    pub retention: Duration,
}

/// Delivers outbox events: notifications to the customer (email, SMS) and, when a broker is
/// configured, the event itself to the broker. At least once: an event whose delivery is
/// interrupted before it is settled is delivered again after its lease; channels that took it
/// are recorded per attempt, so a retry does not repeat them. Assembled by the wiring from its
/// ports, field by field.
pub struct Dispatcher {
    pub repo: Arc<dyn OutboxRepo>,
    pub contacts: Arc<dyn Contacts>,
    pub mailer: Arc<dyn EmailSender>,
    pub sms: Arc<dyn SmsSender>,
    /// The broker, when one is configured.
    pub publisher: Option<Arc<dyn Publisher>>,
    pub notifications: Notifications,
    pub observer: Arc<dyn DispatchObserver>,
    pub cfg: DispatcherConfig,
}

impl Dispatcher {
    /// One round: claims a batch and settles every event in it. Returns how many were claimed.
    pub async fn run_once(&self) -> Result<usize, OutboxError> {
        let batch = self.repo.claim(self.cfg.batch_size, self.cfg.lease).await?;
        let n = batch.len();
        futures_util::stream::iter(batch)
            .for_each_concurrent(self.cfg.concurrency.max(1), |event| self.settle(event))
            .await;
        Ok(n)
    }

    async fn settle(&self, event: Claimed) {
        let mut progress = event.progress;
        let result = self.attempt(&event, &mut progress).await;
        let settled = match &result {
            Ok(()) => self.settle_retrying(|| self.repo.delivered(&event, progress)).await,
            Err(e) => {
                self.observer.failed(&event.event_type, e.channel);
                let retry_at = (event.attempts < self.cfg.max_attempts).then(|| {
                    Utc::now()
                        + chrono::Duration::from_std(self.cfg.backoff.jittered(event.attempts))
                            .unwrap_or(chrono::Duration::MAX)
                });
                if retry_at.is_none() {
                    tracing::warn!(event_id = %event.id, event_type = %event.event_type, attempts = event.attempts, error = %e, "outbox event is dead");
                    self.observer.dead(&event.event_type);
                } else {
                    tracing::info!(event_id = %event.id, event_type = %event.event_type, attempts = event.attempts, error = %e, "outbox delivery failed; will retry");
                }
                let error = e.to_string();
                self.settle_retrying(|| self.repo.failed(&event, progress, &error, retry_at)).await
            }
        };
        match settled {
            Ok(()) if result.is_ok() => {
                let latency = (Utc::now() - event.occurred_at).to_std().unwrap_or_default();
                self.observer.delivered(&event.event_type, latency);
            }
            Ok(()) => {}
            // The claim lapses after its lease and the event is attempted again.
            Err(e) => tracing::warn!(event_id = %event.id, error = %e, "could not settle an outbox event"),
        }
    }

    /// Settling writes one row and is idempotent (only the claim's holder settles, once), so a
    /// failure (the database restarting) is retried for up to half the lease: the delivery has
    /// happened, and giving up would repeat it after the lease and hold the event back that long.
    async fn settle_retrying<F, Fut>(&self, settle: F) -> Result<(), OutboxError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), OutboxError>>,
    {
        primitives::retry_for(self.cfg.lease / 2, || async {
            let r = settle().await;
            if let Err(e) = &r {
                tracing::debug!(error = %e, "settling an outbox event failed");
            }
            r
        })
        .await
    }

    /// Delivers on every channel not done yet, recording each success in `progress`.
    async fn attempt(&self, event: &Claimed, progress: &mut Progress) -> Result<(), DeliveryError> {
        if !progress.notified {
            self.notify(event).await?;
            progress.notified = true;
        }
        if let Some(publisher) = &self.publisher
            && !progress.published
        {
            publisher.publish(event).await?;
            progress.published = true;
        }
        Ok(())
    }

    async fn notify(&self, event: &Claimed) -> Result<(), DeliveryError> {
        let Some(user) = Notifications::recipient(event) else { return Ok(()) };
        let Some(contact) = self.contacts.contact(user).await? else {
            tracing::info!(event_id = %event.id, %user, "no contact for this user; nothing to notify");
            return Ok(());
        };
        let messages = self.notifications.render(event, &contact).map_err(|e| DeliveryError::new("template", e))?;
        for email in &messages.emails {
            self.mailer.send(email).await?;
        }
        // A failed text is logged, not retried: the email already went, and a retry would send it
        // again.
        for sms in &messages.sms {
            if let Err(e) = self.sms.send(sms).await {
                tracing::warn!(event_id = %event.id, error = %e, "SMS not sent");
            }
        }
        Ok(())
    }

    /// Runs rounds until `shutdown` turns true: back to back while there is work, every
    /// `poll_interval` otherwise; reports the backlog every few seconds and purges old delivered
    /// events hourly. An interrupted round's events are retried after their lease.
    pub fn spawn(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut last_stats = tokio::time::Instant::now() - Duration::from_secs(60);
            let mut last_purge = tokio::time::Instant::now();
            // Consecutive failed rounds (the database is down): wait longer, and log once.
            let mut failing = 0u32;
            loop {
                if *shutdown.borrow() {
                    break;
                }
                let busy = match self.run_once().await {
                    Ok(n) => {
                        if failing > 0 {
                            tracing::info!(failed_rounds = failing, "outbox rounds succeed again");
                        }
                        failing = 0;
                        n as i64 == self.cfg.batch_size
                    }
                    Err(e) => {
                        if failing == 0 {
                            tracing::warn!(error = %e, "outbox round failed; retrying");
                        }
                        failing = failing.saturating_add(1);
                        false
                    }
                };
                if last_stats.elapsed() >= Duration::from_secs(5) {
                    last_stats = tokio::time::Instant::now();
                    if let Ok(stats) = self.repo.stats().await {
                        self.observer.backlog(&stats);
                    }
                }
                if last_purge.elapsed() >= Duration::from_secs(3600) {
                    last_purge = tokio::time::Instant::now();
                    let before = Utc::now() - chrono::Duration::from_std(self.cfg.retention).unwrap_or_default();
                    match self.repo.purge_delivered(before).await {
                        Ok(n) if n > 0 => tracing::info!(purged = n, "deleted old delivered outbox events"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "outbox purge failed"),
                    }
                }
                if !busy {
                    let pause = self.cfg.poll_interval.saturating_mul(1 << failing.min(4)).min(Duration::from_secs(5));
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
            tracing::info!("outbox dispatcher stopped");
        })
    }
}

/// The admin side of the outbox: inspect, re-queue dead events, backlog figures.
pub struct OutboxService {
    repo: Arc<dyn OutboxRepo>,
}

impl OutboxService {
    pub fn new(repo: Arc<dyn OutboxRepo>) -> Self {
        OutboxService { repo }
    }

    pub async fn list(&self, filter: &OutboxFilter) -> Result<Page<OutboxRecord>, OutboxError> {
        let rows = self.repo.list(filter).await?;
        Ok(Page::cut(rows, filter.page.limit, |e| e.id))
    }

    pub async fn get(&self, id: Uuid) -> Result<OutboxRecord, OutboxError> {
        self.repo.get(id).await?.ok_or(OutboxError::NotFound)
    }

    pub async fn requeue(&self, id: Uuid) -> Result<OutboxRecord, OutboxError> {
        self.repo.requeue(id).await
    }

    pub async fn stats(&self) -> Result<OutboxStats, OutboxError> {
        self.repo.stats().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        let b = Backoff { base: Duration::from_millis(100), max: Duration::from_secs(1) };
        let d: Vec<u128> = (1..=6).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(d, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(0).as_millis(), 100);
        assert_eq!(b.delay(i32::MAX), Duration::from_secs(1));
        for a in 1..10 {
            let j = b.jittered(a);
            assert!(j >= b.delay(a) && j <= b.delay(a).mul_f64(1.25), "{j:?}");
        }
    }
}
