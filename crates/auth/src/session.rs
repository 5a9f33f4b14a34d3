use chrono::{DateTime, Utc};
pub use primitives::secret::{hash_token as hash_refresh_token, new_token as new_refresh_token};
use users::RepoError;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
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
    /// Revokes every family of the user except `keep`; returns how many tokens were revoked.
    async fn revoke_all(&self, user_id: Uuid, keep: Option<Uuid>) -> Result<u64, RepoError>;
}
