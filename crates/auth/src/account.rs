//! The account flows that run on mailed tokens: password reset, email verification, email
//! change. The rules of tokens are `users::tokens`; this module decides who may ask, how often,
//! and what each answer reveals (docs/auth.md, "Account lifecycle").

use std::sync::Arc;

use chrono::Utc;
use primitives::secret::hash_token;
use users::{AccountTokens, IssuedToken, TokenPurpose, UserCredentials, UserRepo, events, normalise_email};
use uuid::Uuid;

use crate::service::{AuthError, AuthService};
use crate::token::Principal;

/// Tokens are 43 URL-safe characters; anything much longer is not one (and is not hashed).
const MAX_TOKEN_LEN: usize = 128;

fn token_hash(token: &str) -> Result<Vec<u8>, AuthError> {
    let t = token.trim();
    if t.is_empty() || t.len() > MAX_TOKEN_LEN {
        return Err(AuthError::InvalidAccountToken);
    }
    Ok(hash_token(t))
}

/// What issuing a token needs, cloned into the background task of a reset request.
#[derive(Clone)]
pub(crate) struct Issuer {
    pub(crate) users: Arc<dyn UserRepo>,
    pub(crate) tokens: Arc<dyn AccountTokens>,
    pub(crate) key: Arc<[u8]>,
}

impl Issuer {
    pub(crate) fn token(&self, user: Uuid, purpose: TokenPurpose, new_email: Option<String>) -> IssuedToken {
        IssuedToken::new(&self.key, user, purpose, new_email, Utc::now())
    }

    async fn issue(&self, t: IssuedToken) -> Result<(), AuthError> {
        let event = events::token_requested(&t);
        Ok(self.tokens.issue(&t, event).await?)
    }

    /// The reset mail, if the address belongs to an account that may sign in.
    async fn reset(&self, email: &str) -> Result<(), AuthError> {
        match self.users.credentials_by_email(email).await? {
            Some(c) if !c.user.disabled => self.issue(self.token(c.user.id, TokenPurpose::PasswordReset, None)).await,
            _ => Ok(()),
        }
    }
}

impl AuthService {
    /// Asks for a reset link. The answer is the same, after the same work, whether the address
    /// belongs to an account or not: the lookup and the mail happen after the caller has its
    /// answer. Limited per client IP (429, which says nothing about the account) and per address
    /// (silently: past the limit no further mail is sent, the answer is unchanged).
    pub async fn request_password_reset(&self, email: &str, client_ip: &str) -> Result<(), AuthError> {
        self.limit(format!("rl:reset:ip:{client_ip}"), self.limits.password_reset_per_ip).await?;
        let Ok(email) = normalise_email(email) else { return Ok(()) };
        if !self.limiter.check(&format!("rl:reset:acct:{email}"), self.limits.password_reset_per_account).await.allowed
        {
            return Ok(());
        }
        let issuer = self.issuer.clone();
        tokio::spawn(async move {
            if let Err(e) = issuer.reset(&email).await {
                tracing::warn!(error = %e, "password reset mail not issued");
            }
        });
        Ok(())
    }

    /// Sets a new password from a reset link: the token is spent, every session of the account
    /// ends at once (their access tokens are refused from the next request) and the holder is
    /// told by mail (`user.password_changed`). One answer for unknown, used, replaced and
    /// expired tokens.
    pub async fn confirm_password_reset(&self, token: &str, new_password: &str) -> Result<(), AuthError> {
        let hash = token_hash(token)?;
        let owner = self
            .issuer
            .tokens
            .owner(TokenPurpose::PasswordReset, &hash, Utc::now())
            .await?
            .ok_or(AuthError::InvalidAccountToken)?;
        self.policy.check(new_password, &owner.email).map_err(AuthError::WeakPassword)?;
        let password_hash = self.hasher.hash(new_password).await;
        let (_, families) = self
            .issuer
            .tokens
            .reset_password(&hash, &password_hash, Utc::now())
            .await?
            .ok_or(AuthError::InvalidAccountToken)?;
        self.forget(&families).await;
        Ok(())
    }

    /// Confirms the account's address from the link mailed to it.
    pub async fn verify_email(&self, token: &str) -> Result<(), AuthError> {
        let hash = token_hash(token)?;
        self.issuer.tokens.verify_email(&hash, Utc::now()).await?.ok_or(AuthError::InvalidAccountToken)?;
        Ok(())
    }

    /// Mails a new verification link (the previous one stops working). Limited per account.
    pub async fn resend_verification(&self, p: &Principal) -> Result<(), AuthError> {
        let user = self.users.get(p.user_id).await?.ok_or(AuthError::SessionEnded)?;
        if user.email_verified {
            return Err(AuthError::EmailAlreadyVerified);
        }
        self.limit(format!("rl:verify:acct:{}", user.id), self.limits.verification_per_account).await?;
        self.issuer.issue(self.issuer.token(user.id, TokenPurpose::EmailVerification, None)).await
    }

    /// Asks to move the account to `new_email`: the current password is required, and the link
    /// goes to the new address; nothing changes until it is followed. An address that belongs to
    /// another account gets no mail (the answer is the same, so the caller learns nothing about
    /// it); whether it is free is decided again when the link is followed.
    pub async fn request_email_change(&self, p: &Principal, current: &str, new_email: &str) -> Result<(), AuthError> {
        let creds = self.current_credentials(p.user_id, current).await?;
        let new_email = normalise_email(new_email).map_err(AuthError::InvalidNewEmail)?;
        if new_email == creds.user.email {
            return Err(AuthError::SameEmail);
        }
        self.limit(format!("rl:email-change:acct:{}", p.user_id), self.limits.verification_per_account).await?;
        if self.users.credentials_by_email(&new_email).await?.is_some() {
            return Ok(());
        }
        self.issuer.issue(self.issuer.token(p.user_id, TokenPurpose::EmailChange, Some(new_email))).await
    }

    /// Moves the account to the address the link was mailed to (verified by following it), and
    /// tells the old address. [`AuthError::EmailTaken`] when another account holds it by now.
    pub async fn confirm_email_change(&self, token: &str) -> Result<(), AuthError> {
        let hash = token_hash(token)?;
        self.issuer.tokens.change_email(&hash, Utc::now()).await?.ok_or(AuthError::InvalidAccountToken)?;
        Ok(())
    }

    /// Whether `password` is the account's current one (the step-up before an erasure).
    pub async fn check_password(&self, user: Uuid, password: &str) -> Result<(), AuthError> {
        self.current_credentials(user, password).await.map(|_| ())
    }

    /// The account's credentials, once `password` is shown to be its current one: the step-up
    /// every change of a signed-in account's password, address or existence asks for.
    pub(crate) async fn current_credentials(&self, user: Uuid, password: &str) -> Result<UserCredentials, AuthError> {
        let creds = self.users.credentials_by_id(user).await?.ok_or(AuthError::SessionEnded)?;
        if self.hasher.verify(password, Some(&creds.password_hash)).await {
            Ok(creds)
        } else {
            Err(AuthError::WrongCurrentPassword)
        }
    }

    /// Drops the cached states of sessions another component ended (an erasure).
    pub async fn sessions_ended(&self, families: &[Uuid]) {
        self.forget(families).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shapes_outside_the_format_are_refused_before_any_lookup() {
        assert!(matches!(token_hash(""), Err(AuthError::InvalidAccountToken)));
        assert!(matches!(token_hash("   "), Err(AuthError::InvalidAccountToken)));
        assert!(matches!(token_hash(&"a".repeat(129)), Err(AuthError::InvalidAccountToken)));
        assert_eq!(token_hash(" abc ").unwrap(), hash_token("abc"));
    }
}
