use chrono::{DateTime, Utc};
pub use primitives::secret::{hash_token as hash_refresh_token, new_token as new_refresh_token};
use users::{RepoError, Role};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    /// The client's own name for itself (User-Agent), at most 200 characters.
    pub device: Option<String>,
}

/// Outcome of presenting a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is now spent and its successor stored.
    Rotated { user_id: Uuid, family_id: Uuid },
    /// The token had already been spent: someone replayed it. The whole family is now revoked.
    Reused { user_id: Uuid, family_id: Uuid },
    /// Unknown, expired or revoked.
    Invalid,
}

/// Storage of refresh tokens, grouped in families (one per login). Rotation is one transaction:
/// the presented token is locked, checked, spent, and its successor inserted; presenting a spent
/// token revokes every token of its family in that same transaction.
#[async_trait::async_trait]
pub trait SessionRepo: Send + Sync + 'static {
    async fn create(&self, session: NewSession) -> Result<(), RepoError>;
    async fn rotate(
        &self,
        presented_hash: &[u8],
        successor_hash: &[u8],
        successor_expires_at: DateTime<Utc>,
    ) -> Result<Rotation, RepoError>;
    async fn revoke_family(&self, user_id: Uuid, family_id: Uuid) -> Result<(), RepoError>;
    /// Revokes every family of the user except `keep`; returns the families it revoked.
    async fn revoke_all(&self, user_id: Uuid, keep: Option<Uuid>) -> Result<Vec<Uuid>, RepoError>;
    /// The session (family) as it is now, `None` when no such family exists.
    async fn state(&self, family_id: Uuid) -> Result<Option<SessionState>, RepoError>;
    /// The user's families that are not revoked.
    async fn live_families(&self, user_id: Uuid) -> Result<Vec<Uuid>, RepoError>;
}

/// What an access token's session is now, checked on every authenticated request: its user's
/// current role, and whether the session may still be used (not revoked, account not disabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    pub user_id: Uuid,
    pub role: Role,
    pub live: bool,
}

impl SessionState {
    /// A compact cache encoding: `<user id> <role> <0|1>`.
    pub fn encode(&self) -> Vec<u8> {
        format!("{} {} {}", self.user_id, self.role.as_str(), u8::from(self.live)).into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.split(' ');
        let user_id = parts.next()?.parse().ok()?;
        let role = parts.next()?.parse().ok()?;
        let live = match parts.next()? {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        parts.next().is_none().then_some(SessionState { user_id, role, live })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_state_round_trips_and_refuses_garbage() {
        for (role, live) in [(Role::Admin, true), (Role::Customer, false), (Role::Staff, true)] {
            let s = SessionState { user_id: Uuid::now_v7(), role, live };
            assert_eq!(SessionState::decode(&s.encode()), Some(s));
        }
        let id = Uuid::now_v7();
        for bad in [
            String::new(),
            format!("{id} admin"),
            format!("{id} admin 2"),
            format!("{id} root 1"),
            format!("{id} admin 1 extra"),
            "nope admin 1".to_owned(),
        ] {
            assert_eq!(SessionState::decode(bad.as_bytes()), None, "{bad}");
        }
    }
}
