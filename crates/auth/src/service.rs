use std::sync::Arc;

use chrono::{Duration, Utc};
use primitives::{Cache, Quota, RateLimiter};
use users::{AccountTokens, NewUser, RepoError, Role, TokenPurpose, User, UserRepo, normalise_email};

use crate::account::Issuer;
use uuid::Uuid;

use crate::password::{PasswordHasher, PasswordPolicy, PolicyViolation};
use crate::session::{NewSession, Rotation, SessionRepo, SessionState, hash_refresh_token, new_refresh_token};
use crate::token::{Principal, TokenError, Tokens};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("email already registered")]
    EmailTaken,
    #[error("invalid email address: {0}")]
    InvalidEmail(users::EmailError),
    #[error("password {0}")]
    WeakPassword(PolicyViolation),
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    #[error("account disabled")]
    AccountDisabled,
    #[error("refresh token invalid")]
    InvalidRefreshToken,
    #[error("refresh token reused; session revoked")]
    RefreshTokenReused,
    /// A refresh by cookie without the CSRF token of that cookie's refresh token.
    #[error("missing or wrong CSRF token")]
    CsrfTokenInvalid,
    #[error("access token: {0}")]
    Token(TokenError),
    /// The access token is genuine but its session was revoked (logout, password change,
    /// theft detection) or its account disabled.
    #[error("session ended")]
    SessionEnded,
    /// An account token (reset, verification, email change) that is unknown, used, replaced
    /// by a newer one or expired: one answer for all.
    #[error("the link is invalid or has expired")]
    InvalidAccountToken,
    #[error("the address is already verified")]
    EmailAlreadyVerified,
    #[error("invalid new email address: {0}")]
    InvalidNewEmail(users::EmailError),
    #[error("the new address is the current one")]
    SameEmail,
    #[error("too many attempts")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Storage(#[from] primitives::StorageError),
}

impl From<RepoError> for AuthError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::EmailTaken => AuthError::EmailTaken,
            RepoError::Storage(e) => AuthError::Storage(e),
            other @ (RepoError::NotFound | RepoError::AddressLimit) => {
                AuthError::Storage(primitives::StorageError::other(other.to_string()))
            }
        }
    }
}

/// Brute-force limits for the credential endpoints (the model: docs/security.md, "Login
/// throttling").
#[derive(Debug, Clone)]
pub struct AuthLimits {
    /// Every login attempt from one client IP, whichever account.
    pub login_per_ip: Quota,
    /// Failed logins for one account from one client IP: each tier must have a cell left, so the
    /// wait grows with the failures (the defaults: 5 in 5 minutes, then 20 an hour, then 50 a day).
    pub login_failures_per_client: Vec<Quota>,
    /// Failed logins for one account from every client together. When it is spent, only clients
    /// that have not failed for the account recently may still try: a stranger cannot lock the
    /// owner out, and a spread-out guesser is held to this ceiling plus one try per fresh address.
    pub login_failures_per_account: Quota,
    pub register_per_ip: Quota,
    /// Password-reset requests per client IP (429 past it).
    pub password_reset_per_ip: Quota,
    /// Reset mails per address (past it, requests are answered alike and send nothing).
    pub password_reset_per_account: Quota,
    /// Verification and email-change mails per account.
    pub verification_per_account: Quota,
}

#[derive(Debug, Clone)]
pub struct Registration {
    pub email: String,
    pub password: String,
    pub name: String,
}

/// What login and refresh hand back.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub access_expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub user: User,
}

pub struct AuthService {
    pub(crate) users: Arc<dyn UserRepo>,
    sessions: Arc<dyn SessionRepo>,
    pub(crate) limiter: Arc<dyn RateLimiter>,
    pub(crate) hasher: PasswordHasher,
    tokens: Tokens,
    pub(crate) policy: PasswordPolicy,
    pub(crate) limits: AuthLimits,
    pub(crate) issuer: Issuer,
    refresh_ttl: Duration,
    /// Where session states are cached, and for how long (see [`AuthService::authenticate`]).
    session_cache: Option<(Arc<dyn Cache>, std::time::Duration)>,
}

/// The cache key of a session's state.
fn session_key(family_id: Uuid) -> String {
    format!("auth:session:{family_id}")
}

impl AuthService {
    /// `account_tokens` stores the mailed tokens, derived under `token_key`
    /// (`primitives::secret::account_token_key`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        users: Arc<dyn UserRepo>,
        account_tokens: Arc<dyn AccountTokens>,
        token_key: Vec<u8>,
        sessions: Arc<dyn SessionRepo>,
        limiter: Arc<dyn RateLimiter>,
        hasher: PasswordHasher,
        tokens: Tokens,
        limits: AuthLimits,
        refresh_ttl_secs: i64,
    ) -> Self {
        AuthService {
            issuer: Issuer { users: users.clone(), tokens: account_tokens, key: token_key.into() },
            users,
            sessions,
            limiter,
            hasher,
            tokens,
            policy: PasswordPolicy::default(),
            limits,
            refresh_ttl: Duration::seconds(refresh_ttl_secs),
            session_cache: None,
        }
    }

    /// Caches session states for `ttl` (without a cache every authenticated request reads the
    /// session from the repository). Every change of a session or its user drops the entry, so
    /// the TTL only bounds how long a change can go unseen when that drop fails (cache down).
    pub fn with_session_cache(mut self, cache: Arc<dyn Cache>, ttl: std::time::Duration) -> Self {
        self.session_cache = Some((cache, ttl));
        self
    }

    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    pub(crate) async fn limit(&self, key: String, quota: Quota) -> Result<(), AuthError> {
        let d = self.limiter.check(&key, quota).await;
        if d.allowed { Ok(()) } else { Err(refused(d.retry_after)) }
    }

    /// Whether this client may try a password for this account now (counts nothing).
    async fn may_try_login(&self, email: &str, client_ip: &str) -> Result<(), AuthError> {
        let mut has_failed = false;
        for (tier, quota) in self.limits.login_failures_per_client.iter().enumerate() {
            let d = self.limiter.peek(&client_failures_key(tier, email, client_ip), *quota).await;
            if !d.allowed {
                return Err(refused(d.retry_after));
            }
            has_failed |= d.remaining < quota.limit;
        }
        if has_failed {
            let d = self.limiter.peek(&account_failures_key(email), self.limits.login_failures_per_account).await;
            if !d.allowed {
                return Err(refused(d.retry_after));
            }
        }
        Ok(())
    }

    /// Counts a failed login against the client's tiers and the account's ceiling.
    async fn login_failed(&self, email: &str, client_ip: &str) {
        for (tier, quota) in self.limits.login_failures_per_client.iter().enumerate() {
            self.limiter.check(&client_failures_key(tier, email, client_ip), *quota).await;
        }
        self.limiter.check(&account_failures_key(email), self.limits.login_failures_per_account).await;
    }

    /// Creates a customer account. The email is normalised; the password must pass the policy.
    pub async fn register(&self, r: Registration, client_ip: &str) -> Result<User, AuthError> {
        self.limit(format!("rl:register:ip:{client_ip}"), self.limits.register_per_ip).await?;
        self.create_user(r, Role::Customer).await
    }

    /// Creates a user with any role (first admin from the CLI or the environment).
    pub async fn create_user(&self, r: Registration, role: Role) -> Result<User, AuthError> {
        let email = normalise_email(&r.email).map_err(AuthError::InvalidEmail)?;
        self.policy.check(&r.password, &email).map_err(AuthError::WeakPassword)?;
        let password_hash = self.hasher.hash(&r.password).await;
        let id = Uuid::now_v7();
        // Customers get the verification mail with their account; staff created from the CLI or
        // the environment ask for one when they need it.
        let verification =
            (role == Role::Customer).then(|| self.issuer.token(id, TokenPurpose::EmailVerification, None));
        let name = r.name.trim().to_owned();
        Ok(self.users.create(NewUser { id, email, password_hash, name, role, verification }).await?)
    }

    /// Whether any admin exists (for the start-up bootstrap).
    pub async fn any_admin(&self) -> Result<bool, AuthError> {
        Ok(self.users.any_admin().await?)
    }

    /// Checks the password and opens a session. Unknown email and wrong password give the same
    /// error after the same work; an address that cannot be normalised is an unknown one.
    /// `device` is what the client calls itself (its User-Agent), kept with the session.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client_ip: &str,
        device: Option<&str>,
    ) -> Result<TokenPair, AuthError> {
        let email = normalise_email(email).unwrap_or_else(|_| email.trim().to_owned());
        self.limit(format!("rl:login:ip:{client_ip}"), self.limits.login_per_ip).await?;
        self.may_try_login(&email, client_ip).await?;
        let creds = self.users.credentials_by_email(&email).await?;
        let ok = self.hasher.verify(password, creds.as_ref().map(|c| c.password_hash.as_str())).await;
        let creds = match creds {
            Some(c) if ok => c,
            _ => {
                self.login_failed(&email, client_ip).await;
                return Err(AuthError::InvalidCredentials);
            }
        };
        if creds.user.disabled {
            return Err(AuthError::AccountDisabled);
        }
        self.open_session(creds.user, Uuid::now_v7(), device).await
    }

    async fn open_session(&self, user: User, family_id: Uuid, device: Option<&str>) -> Result<TokenPair, AuthError> {
        let refresh_token = new_refresh_token();
        self.sessions
            .create(NewSession {
                user_id: user.id,
                family_id,
                token_hash: hash_refresh_token(&refresh_token),
                expires_at: Utc::now() + self.refresh_ttl,
                device: device.map(shorten_device),
            })
            .await?;
        Ok(self.pair(user, family_id, refresh_token))
    }

    fn pair(&self, user: User, family_id: Uuid, refresh_token: String) -> TokenPair {
        TokenPair {
            access_token: self.tokens.issue(user.id, user.role, family_id),
            access_expires_in: self.tokens.ttl_secs(),
            refresh_token,
            refresh_expires_in: self.refresh_ttl.num_seconds(),
            user,
        }
    }

    /// The CSRF token to hand out with a refresh token kept in a cookie.
    pub fn csrf_token(&self, refresh_token: &str) -> String {
        primitives::secret::csrf_token(&self.issuer.key, refresh_token)
    }

    /// [`AuthService::refresh`] for a refresh token that came in a cookie: a browser sends the
    /// cookie on its own, so the caller must also prove it read an earlier answer (`csrf`, the
    /// token [`AuthService::csrf_token`] gave for this refresh token). Checked before anything
    /// is spent.
    pub async fn refresh_from_cookie(&self, refresh_token: &str, csrf: Option<&str>) -> Result<TokenPair, AuthError> {
        match csrf {
            Some(c) if primitives::secret::csrf_matches(&self.issuer.key, refresh_token, c) => {
                self.refresh(refresh_token).await
            }
            _ => Err(AuthError::CsrfTokenInvalid),
        }
    }

    /// Spends a refresh token and issues a new pair in the same family. A spent token presented
    /// again revokes the family (the legitimate holder and the thief both lose it).
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        if refresh_token.is_empty() || refresh_token.len() > 128 {
            return Err(AuthError::InvalidRefreshToken);
        }
        let successor = new_refresh_token();
        let outcome = self
            .sessions
            .rotate(&hash_refresh_token(refresh_token), &hash_refresh_token(&successor), Utc::now() + self.refresh_ttl)
            .await?;
        match outcome {
            Rotation::Invalid => Err(AuthError::InvalidRefreshToken),
            Rotation::Reused { user_id, family_id } => {
                tracing::warn!(%user_id, %family_id, "refresh token reused; family revoked");
                self.forget(&[family_id]).await;
                Err(AuthError::RefreshTokenReused)
            }
            Rotation::Rotated { user_id, family_id } => {
                let user = self.users.get(user_id).await?.ok_or(AuthError::InvalidRefreshToken)?;
                if user.disabled {
                    self.sessions.revoke_family(user_id, family_id).await?;
                    self.forget(&[family_id]).await;
                    return Err(AuthError::AccountDisabled);
                }
                Ok(self.pair(user, family_id, successor))
            }
        }
    }

    /// Checks the signature and claims only: who the token was issued to, with the role it was
    /// issued with. Enough to key rate limits; use [`AuthService::authenticate`] to admit a request.
    pub fn verify_access(&self, token: &str) -> Result<Principal, AuthError> {
        self.tokens.verify(token).map_err(AuthError::Token)
    }

    /// Admits a request: a genuine access token whose session is still live, with the user's
    /// role as it is now. A revoked session or a disabled account is refused at once, and a role
    /// change applies at once, on every instance: the session's state is read from the cache
    /// (dropped on every change) or the repository, not from the token.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let p = self.verify_access(token)?;
        match self.session_state(p.session_id).await? {
            Some(s) if s.live && s.user_id == p.user_id => Ok(Principal { role: s.role, ..p }),
            _ => Err(AuthError::SessionEnded),
        }
    }

    /// A session's state, read through the cache ([`primitives::cache::read_through`]: a state
    /// loaded before a change is not stored after it). Unknown sessions are not cached; an entry
    /// that does not decode is read again from the repository.
    async fn session_state(&self, family_id: Uuid) -> Result<Option<SessionState>, AuthError> {
        let Some((cache, ttl)) = &self.session_cache else {
            return Ok(self.sessions.state(family_id).await?);
        };
        let bytes = primitives::cache::read_through(cache.as_ref(), &session_key(family_id), *ttl, || async {
            Ok::<_, AuthError>(self.sessions.state(family_id).await?.map(|s| s.encode()))
        })
        .await?;
        match bytes.map(|b| SessionState::decode(&b)) {
            Some(None) => Ok(self.sessions.state(family_id).await?),
            decoded => Ok(decoded.flatten()),
        }
    }

    /// Drops the cached states of sessions that changed (after the change committed).
    pub(crate) async fn forget(&self, families: &[Uuid]) {
        let Some((cache, _)) = &self.session_cache else { return };
        for family in families {
            if let Err(e) = cache.invalidate(&session_key(*family)).await {
                tracing::warn!(%family, error = %e, "could not drop a cached session state; it expires with its TTL");
            }
        }
    }

    /// After a user's role or status changed: their live sessions see the change at once.
    pub async fn user_changed(&self, user_id: Uuid) {
        match self.sessions.live_families(user_id).await {
            Ok(families) => self.forget(&families).await,
            Err(e) => {
                tracing::warn!(%user_id, error = %e, "could not list the sessions of a changed user; their cached states expire with their TTL")
            }
        }
    }

    pub async fn logout(&self, p: &Principal) -> Result<(), AuthError> {
        self.sessions.revoke_family(p.user_id, p.session_id).await?;
        self.forget(&[p.session_id]).await;
        Ok(())
    }

    /// Ends every session of the caller; returns how many there were.
    pub async fn logout_all(&self, p: &Principal) -> Result<usize, AuthError> {
        self.end_all_sessions(p.user_id).await
    }

    /// Revokes every session of a user (logout-all, account disabled); returns how many.
    pub async fn end_all_sessions(&self, user_id: Uuid) -> Result<usize, AuthError> {
        let families = self.sessions.revoke_all(user_id, None).await?;
        self.forget(&families).await;
        Ok(families.len())
    }

    /// Changes the password (the current one is required) and ends every other session.
    pub async fn change_password(&self, p: &Principal, current: &str, new: &str) -> Result<(), AuthError> {
        let creds = self.current_credentials(p.user_id, current).await?;
        self.policy.check(new, &creds.user.email).map_err(AuthError::WeakPassword)?;
        let hash = self.hasher.hash(new).await;
        self.users.set_password_hash(p.user_id, &hash).await?;
        let ended = self.sessions.revoke_all(p.user_id, Some(p.session_id)).await?;
        self.forget(&ended).await;
        Ok(())
    }
}

#[async_trait::async_trait]
impl users::AccountSessions for AuthService {
    async fn account_changed(&self, user: Uuid) {
        self.user_changed(user).await;
    }

    async fn end_sessions(&self, user: Uuid) -> Result<(), primitives::StorageError> {
        match self.end_all_sessions(user).await {
            Ok(_) => Ok(()),
            Err(AuthError::Storage(e)) => Err(e),
            Err(other) => Err(primitives::StorageError::other(other.to_string())),
        }
    }
}

/// A device name as stored: printable characters only, at most 200.
fn shorten_device(d: &str) -> String {
    d.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn refused(retry_after: std::time::Duration) -> AuthError {
    AuthError::RateLimited { retry_after_secs: retry_after.as_secs_f64().ceil().max(1.0) as u64 }
}

/// Failed logins of one account from one client IP, per tier.
fn client_failures_key(tier: usize, email: &str, client_ip: &str) -> String {
    format!("rl:login:fail:{tier}:{client_ip}:{email}")
}

/// Failed logins of one account from everywhere.
fn account_failures_key(email: &str) -> String {
    format!("rl:login:fail:acct:{email}")
}
