//! The outbox events of accounts (schema in docs/events.md). They carry ids, not personal data:
//! the notifier looks the contact up when it delivers.

use chrono::Utc;
use outbox::{NewEvent, types};
use serde_json::json;

use crate::User;

/// `user.registered` (v1).
pub fn registered(user: &User) -> NewEvent {
    NewEvent::new(
        types::USER_REGISTERED,
        user.id,
        json!({ "user_id": user.id, "role": user.role.as_str(), "registered_at": user.created_at }),
    )
}

/// `user.password_changed` (v1): also sent to the account holder by email.
pub fn password_changed(user_id: uuid::Uuid) -> NewEvent {
    NewEvent::new(types::USER_PASSWORD_CHANGED, user_id, json!({ "user_id": user_id, "changed_at": Utc::now() }))
}
