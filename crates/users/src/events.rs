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

/// The event that mails an account token (`user.password_reset_requested`,
/// `user.email_verification_requested`, `user.email_change_requested`; v1). The payload carries
/// the token's seed, never the token (the notifier derives it with the server's key).
pub fn token_requested(t: &crate::IssuedToken) -> NewEvent {
    let kind = match t.purpose {
        crate::TokenPurpose::PasswordReset => types::USER_PASSWORD_RESET_REQUESTED,
        crate::TokenPurpose::EmailVerification => types::USER_EMAIL_VERIFICATION_REQUESTED,
        crate::TokenPurpose::EmailChange => types::USER_EMAIL_CHANGE_REQUESTED,
    };
    let mut payload = json!({ "user_id": t.user_id, "token_seed": t.seed, "expires_at": t.expires_at });
    if let Some(new_email) = &t.new_email {
        payload["new_email"] = json!(new_email);
    }
    NewEvent::new(kind, t.user_id, payload)
}

/// `user.email_verified` (v1).
pub fn email_verified(user_id: uuid::Uuid) -> NewEvent {
    NewEvent::new(types::USER_EMAIL_VERIFIED, user_id, json!({ "user_id": user_id, "verified_at": Utc::now() }))
}

/// `user.email_changed` (v1): also a notice to the old address.
pub fn email_changed(user_id: uuid::Uuid, old_email: &str) -> NewEvent {
    NewEvent::new(
        types::USER_EMAIL_CHANGED,
        user_id,
        json!({ "user_id": user_id, "old_email": old_email, "changed_at": Utc::now() }),
    )
}

/// `user.erased` (v1): an audit record of who erased the account (no personal data).
pub fn erased(user_id: uuid::Uuid, actor_id: uuid::Uuid) -> NewEvent {
    let by = if actor_id == user_id { "self" } else { "admin" };
    NewEvent::new(
        types::USER_ERASED,
        user_id,
        json!({ "user_id": user_id, "actor_id": actor_id, "by": by, "erased_at": Utc::now() }),
    )
}
