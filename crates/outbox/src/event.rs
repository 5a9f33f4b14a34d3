use chrono::{DateTime, Utc};
use primitives::PageRequest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A kind of domain event and the version of its payload schema. A consumer reads `type` and
/// `schema_version` from every message; a version changes only when a payload field changes
/// meaning or disappears (adding a field keeps the version). docs/events.md lists them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventType {
    pub name: &'static str,
    pub version: i32,
    /// What the event is about (`order`, `user`, `variant`): the kind of `aggregate_id`.
    pub aggregate: &'static str,
}

impl EventType {
    pub const fn new(name: &'static str, version: i32, aggregate: &'static str) -> Self {
        EventType { name, version, aggregate }
    }
}

/// Every event type the shop emits.
pub mod types {
    use super::EventType;

    pub const USER_REGISTERED: EventType = EventType::new("user.registered", 1, "user");
    pub const USER_PASSWORD_CHANGED: EventType = EventType::new("user.password_changed", 1, "user");
    pub const USER_PASSWORD_RESET_REQUESTED: EventType = EventType::new("user.password_reset_requested", 1, "user");
    pub const USER_EMAIL_VERIFICATION_REQUESTED: EventType =
        EventType::new("user.email_verification_requested", 1, "user");
    pub const USER_EMAIL_VERIFIED: EventType = EventType::new("user.email_verified", 1, "user");
    pub const USER_EMAIL_CHANGE_REQUESTED: EventType = EventType::new("user.email_change_requested", 1, "user");
    pub const USER_EMAIL_CHANGED: EventType = EventType::new("user.email_changed", 1, "user");
    pub const USER_ERASED: EventType = EventType::new("user.erased", 1, "user");
    pub const ORDER_PLACED: EventType = EventType::new("order.placed", 1, "order");
    pub const ORDER_PAID: EventType = EventType::new("order.paid", 1, "order");
    pub const ORDER_SHIPPED: EventType = EventType::new("order.shipped", 1, "order");
    pub const ORDER_DELIVERED: EventType = EventType::new("order.delivered", 1, "order");
    pub const ORDER_CANCELLED: EventType = EventType::new("order.cancelled", 1, "order");
    pub const ORDER_REFUNDED: EventType = EventType::new("order.refunded", 1, "order");
    pub const ORDER_REFUND_SETTLED: EventType = EventType::new("order.refund_settled", 1, "order");
    pub const ORDER_SHIPMENT_CREATED: EventType = EventType::new("order.shipment_created", 1, "order");
    pub const ORDER_SHIPMENT_DELIVERED: EventType = EventType::new("order.shipment_delivered", 1, "order");
    pub const ORDER_CAPTURE_FAILED: EventType = EventType::new("order.capture_failed", 1, "order");
    pub const ORDER_RETURN_UPDATED: EventType = EventType::new("order.return_updated", 1, "order");
    pub const INVENTORY_LOW_STOCK: EventType = EventType::new("inventory.low_stock", 1, "variant");
    pub const PROMOTION_REDEEMED: EventType = EventType::new("promotion.redeemed", 1, "order");
}

/// An event about to be written to the outbox, inside the transaction of the change it reports.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: Uuid,
    pub kind: EventType,
    pub aggregate_id: Uuid,
    pub payload: Value,
    pub occurred_at: DateTime<Utc>,
}

impl NewEvent {
    pub fn new(kind: EventType, aggregate_id: Uuid, payload: Value) -> Self {
        NewEvent { id: Uuid::now_v7(), kind, aggregate_id, payload, occurred_at: Utc::now() }
    }
}

/// Where an event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for (another) delivery attempt.
    Pending,
    /// Every channel took it.
    Delivered,
    /// Gave up after the maximum number of attempts; an admin can re-queue it.
    Dead,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Delivered => "delivered",
            OutboxStatus::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [OutboxStatus::Pending, OutboxStatus::Delivered, OutboxStatus::Dead].into_iter().find(|v| v.as_str() == s)
    }
}

/// Which channels already took an event (so a retry does not send twice what went through).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub notified: bool,
    pub published: bool,
}

/// An event claimed by one dispatcher for one attempt. `claim` identifies the attempt: only its
/// holder can settle it, and the claim lapses after the lease (a crashed worker's events are
/// retried by another).
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub aggregate_type: String,
    pub aggregate_id: Uuid,
    pub payload: Value,
    pub occurred_at: DateTime<Utc>,
    /// Attempts so far, this one included.
    pub attempts: i32,
    pub progress: Progress,
    pub claim: Uuid,
}

impl Claimed {
    /// The message other services receive: the envelope plus the payload under `data`.
    pub fn envelope(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "type": self.event_type,
            "schema_version": self.schema_version,
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "occurred_at": self.occurred_at,
            "data": self.payload,
        })
    }
}

/// An outbox row as admins see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxRecord {
    pub id: Uuid,
    #[cfg_attr(feature = "openapi", schema(example = "order.placed"))]
    pub event_type: String,
    pub schema_version: i32,
    pub aggregate_type: String,
    pub aggregate_id: Uuid,
    /// The event's data (its fields per `event_type` and `schema_version`: docs/events.md).
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::HashMap<String, serde_json::Value>))]
    pub payload: Value,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub occurred_at: DateTime<Utc>,
    /// When the next attempt may start (pending events).
    pub available_at: DateTime<Utc>,
    pub notified_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
}

/// Filters of the admin list (newest first, keyset-paginated).
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    pub status: Option<OutboxStatus>,
    pub event_type: Option<String>,
    pub aggregate_id: Option<Uuid>,
    /// Newest first; the key is the id of the last event of the previous page (ids are
    /// time-ordered UUIDv7): the page holds strictly older ones.
    pub page: PageRequest<Uuid>,
}

/// The backlog, for admins and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxStats {
    pub pending: i64,
    pub dead: i64,
    /// Age in seconds of the oldest pending event (0 when none).
    pub oldest_pending_seconds: f64,
}
