use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use users::RepoError;
use uuid::Uuid;

/// A fresh refresh token: 256 random bits, URL-safe. Only its hash is stored.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

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
