//! Asynchronous work: domain events written to a transactional outbox (in the same transaction
//! as the change that causes them), and the dispatcher that delivers them — notifications (email,
//! SMS) and publication to a message broker — at least once, with retries and a dead-letter state.
//!
//! Pure domain code: the outbox table, the SMTP server, the SMS provider and the broker are
//! reached through the ports in [`ports`].

mod dispatcher;
mod event;
mod message;
mod notify;
pub mod ports;

pub use dispatcher::{Backoff, Dispatcher, DispatcherConfig, OutboxService};
pub use event::{Claimed, EventType, NewEvent, OutboxFilter, OutboxRecord, OutboxStats, OutboxStatus, Progress, types};
pub use message::{Contact, Email, Sms};
pub use notify::{Notifications, TemplateError};
pub use ports::{
    Contacts, DeliveryError, DispatchObserver, EmailSender, LoggingMailer, LoggingSms, OutboxError, OutboxRepo,
    Publisher, SmsSender,
};
