//! What the dispatcher needs from the outside world.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::event::{Claimed, OutboxFilter, OutboxRecord, OutboxStats, Progress};
use crate::message::{Contact, Email, Sms};

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("not found")]
    NotFound,
    #[error("only dead events can be re-queued (this one is {0})")]
    NotDead(String),
    #[error(transparent)]
    Storage(#[from] primitives::StorageError),
}

/// Storage of the outbox. Writing events is not here: the adapters of the other domains write
/// them inside their own transactions.
#[async_trait::async_trait]
pub trait OutboxRepo: Send + Sync + 'static {
    /// Claims up to `limit` due events for one attempt each (`FOR UPDATE SKIP LOCKED`: concurrent
    /// dispatchers never claim the same event), counting the attempt and hiding the events from
    /// other claims for `lease`.
    async fn claim(&self, limit: i64, lease: Duration) -> Result<Vec<Claimed>, OutboxError>;
    /// Every channel took the event.
    async fn delivered(&self, event: &Claimed, progress: Progress) -> Result<(), OutboxError>;
    /// The attempt failed: retry at `retry_at`, or park the event as dead when `None`.
    async fn failed(
        &self,
        event: &Claimed,
        progress: Progress,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), OutboxError>;
    async fn list(&self, filter: &OutboxFilter) -> Result<Vec<OutboxRecord>, OutboxError>;
    async fn get(&self, id: Uuid) -> Result<Option<OutboxRecord>, OutboxError>;
    /// A dead event back to pending with a fresh attempt budget.
    async fn requeue(&self, id: Uuid) -> Result<OutboxRecord, OutboxError>;
    async fn stats(&self) -> Result<OutboxStats, OutboxError>;
    /// Deletes delivered events older than `before`; returns how many.
    async fn purge_delivered(&self, before: DateTime<Utc>) -> Result<u64, OutboxError>;
}

/// Looks up the current contact details of a user at delivery time (events carry ids, not
/// personal data).
#[async_trait::async_trait]
pub trait Contacts: Send + Sync + 'static {
    async fn contact(&self, user_id: Uuid) -> Result<Option<Contact>, DeliveryError>;
}

/// A failed delivery on one channel; the attempt is retried later.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{channel}: {message}")]
pub struct DeliveryError {
    pub channel: &'static str,
    pub message: String,
}

impl DeliveryError {
    pub fn new(channel: &'static str, message: impl std::fmt::Display) -> Self {
        DeliveryError { channel, message: message.to_string() }
    }
}

#[async_trait::async_trait]
pub trait EmailSender: Send + Sync + 'static {
    async fn send(&self, email: &Email) -> Result<(), DeliveryError>;
}

#[async_trait::async_trait]
pub trait SmsSender: Send + Sync + 'static {
    async fn send(&self, sms: &Sms) -> Result<(), DeliveryError>;
}

/// A message broker: publishes the event's envelope under its type as routing key, and returns
/// once the broker has confirmed it.
#[async_trait::async_trait]
pub trait Publisher: Send + Sync + 'static {
    async fn publish(&self, event: &Claimed) -> Result<(), DeliveryError>;
}

/// What the dispatcher reports (metrics).
pub trait DispatchObserver: Send + Sync + 'static {
    /// Every channel took the event, `latency` after it occurred.
    fn delivered(&self, event_type: &str, latency: Duration);
    /// One channel failed one attempt.
    fn failed(&self, event_type: &str, channel: &str);
    /// The event was parked as dead.
    fn dead(&self, event_type: &str);
    fn backlog(&self, stats: &OutboxStats);
}

/// The email adapter when no SMTP server is configured: logs what it would send.
pub struct LoggingMailer;

#[async_trait::async_trait]
impl EmailSender for LoggingMailer {
    async fn send(&self, email: &Email) -> Result<(), DeliveryError> {
        tracing::info!(to = %email.to, subject = %email.subject, "email not sent: no SMTP server configured");
        Ok(())
    }
}

/// The SMS adapter: no SMS provider is configured, so messages are logged (recipient masked).
pub struct LoggingSms;

#[async_trait::async_trait]
impl SmsSender for LoggingSms {
    async fn send(&self, sms: &Sms) -> Result<(), DeliveryError> {
        let shown: String = sms.to.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        tracing::info!(to = %format!("…{shown}"), body = %sms.body, "SMS (logging adapter)");
        Ok(())
    }
}
