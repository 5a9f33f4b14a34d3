//! Account tokens: the single-use links mailed for a password reset, an email verification and
//! an email change. The rules (purposes, lifetimes, one live token per user and purpose, single
//! use) are here; the port writes and redeems them, each redemption in one transaction with the
//! change it authorises, so a token works once under any concurrency.

use chrono::{DateTime, Duration, Utc};
use outbox::NewEvent;
use primitives::secret::{account_token, hash_token, new_token};
use uuid::Uuid;

use crate::RepoError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    PasswordReset,
    EmailVerification,
    EmailChange,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::EmailVerification => "email_verification",
            TokenPurpose::EmailChange => "email_change",
        }
    }

    /// How long a link works: a reset is a live credential, so half an hour; confirming an
    /// address may wait for the person to read their mail.
    pub fn lifetime(self) -> Duration {
        match self {
            TokenPurpose::PasswordReset => Duration::minutes(30),
            TokenPurpose::EmailVerification | TokenPurpose::EmailChange => Duration::hours(48),
        }
    }
}

/// A token being issued: what the port stores (the hash, never the token) and the event that
/// mails it (which carries the seed the notifier derives the token from).
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub user_id: Uuid,
    pub purpose: TokenPurpose,
    pub hash: Vec<u8>,
    pub new_email: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// The seed, for the event's payload.
    pub seed: String,
}

impl IssuedToken {
    /// A fresh token for `user`: a random 256-bit seed, the token derived from it under `key`,
    /// only the token's hash kept.
    pub fn new(
        key: &[u8],
        user_id: Uuid,
        purpose: TokenPurpose,
        new_email: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        let seed = new_token();
        let hash = hash_token(&account_token(key, &seed));
        IssuedToken { user_id, purpose, hash, new_email, expires_at: now + purpose.lifetime(), seed }
    }
}

/// The account a redeemed token belonged to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub user_id: Uuid,
    pub email: String,
}

/// Storage of account tokens and the changes they authorise. A redemption marks the token used
/// and makes its change in one transaction, only while it is unused and unexpired: `None` for an
/// unknown, used, expired or replaced token (one answer for all, so they cannot be told apart).
#[async_trait::async_trait]
pub trait AccountTokens: Send + Sync + 'static {
    /// Stores the token (replacing the user's previous one of that purpose) and writes `event`
    /// to the outbox, in one transaction.
    async fn issue(&self, token: &IssuedToken, event: NewEvent) -> Result<(), RepoError>;
    /// Who a live token belongs to, without using it up.
    async fn owner(
        &self,
        purpose: TokenPurpose,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<TokenOwner>, RepoError>;
    /// Uses a reset token: sets the password hash, revokes every session of the account and
    /// writes `user.password_changed`. Returns the account and its ended session families.
    async fn reset_password(
        &self,
        hash: &[u8],
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Uuid, Vec<Uuid>)>, RepoError>;
    /// Uses a verification token: the address is verified (`user.email_verified`).
    async fn verify_email(&self, hash: &[u8], now: DateTime<Utc>) -> Result<Option<Uuid>, RepoError>;
    /// Uses an email-change token: the account takes the new address, verified, and
    /// `user.email_changed` (to the old address) is written. [`RepoError::EmailTaken`] when
    /// another account holds the address by now: nothing changes and the token stays unused.
    async fn change_email(&self, hash: &[u8], now: DateTime<Utc>) -> Result<Option<Uuid>, RepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_live_as_long_as_their_purpose_says_and_store_only_a_hash() {
        let now = Utc::now();
        let t = IssuedToken::new(b"key", Uuid::nil(), TokenPurpose::PasswordReset, None, now);
        assert_eq!(t.expires_at - now, Duration::minutes(30));
        assert_eq!(t.hash, hash_token(&account_token(b"key", &t.seed)));
        assert_ne!(t.hash, hash_token(&t.seed), "the seed alone does not open it");
        let v = IssuedToken::new(b"key", Uuid::nil(), TokenPurpose::EmailVerification, None, now);
        assert_eq!(v.expires_at - now, Duration::hours(48));
        assert_ne!(v.seed, t.seed);
    }
}
