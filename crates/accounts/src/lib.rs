//! Accounts as a whole: the export of everything held about a person, and their erasure.
//!
//! What an erasure replaces, and with what, is decided here ([`erased_email`], [`ERASED_NAME`],
//! [`anonymised_address`]); the port applies it to every table in one transaction. Orders stay
//! for accounting with the person's data replaced; reviews stay under an anonymous author or go,
//! as configured (docs/auth.md, "Export and erasure").

use std::sync::Arc;

use auth::{AuthError, AuthService, Principal};
use chrono::{DateTime, Utc};
use orders::Order;
use reviews::Review;
use serde::Serialize;
use serde_json::{Map, Value, json};
use users::{Address, Role, User};
use uuid::Uuid;

/// The name an erased person's rows carry (reviews kept, orders).
pub const ERASED_NAME: &str = "Former customer";

/// What replaces the personal fields of an address.
pub const ERASED_FIELD: &str = "[erased]";

/// The address an erased account holds: unique per account, in a reserved domain (RFC 2606
/// `.invalid`), so the person's own address is free to register again.
pub fn erased_email(user: Uuid) -> String {
    format!("erased+{}@erased.invalid", user.simple())
}

/// An order's shipping address with the person taken out: every field that names, locates or
/// reaches them is replaced; the country stays (tax and accounting are per country).
pub fn anonymised_address(address: &Value) -> Value {
    let mut out = Map::new();
    for (k, v) in address.as_object().into_iter().flatten() {
        let kept = match k.as_str() {
            "country" => v.clone(),
            _ if v.is_null() => Value::Null,
            _ => json!(ERASED_FIELD),
        };
        out.insert(k.clone(), kept);
    }
    Value::Object(out)
}

/// One signed-in session (a login and its refreshes).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionRecord {
    pub id: Uuid,
    /// The client's User-Agent at login, as it sent it.
    pub device: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The last refresh (or the login).
    pub last_used_at: DateTime<Utc>,
    pub active: bool,
}

/// A consent the person gave. The shop records none today (no marketing lists, no tracking):
/// the list is always empty, and present so the export's shape does not change when one is added.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Consent {
    pub purpose: String,
    pub granted_at: DateTime<Utc>,
}

/// Everything held about one person.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountExport {
    pub exported_at: DateTime<Utc>,
    pub profile: User,
    pub addresses: Vec<Address>,
    /// Every order, newest first, with its lines.
    pub orders: Vec<Order>,
    /// Every review written, hidden ones included.
    pub reviews: Vec<Review>,
    pub sessions: Vec<SessionRecord>,
    pub consents: Vec<Consent>,
}

/// What an erasure ended and changed, for the callers' caches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    /// The session families revoked.
    pub sessions: Vec<Uuid>,
    /// Products whose reviews by the person were removed (their ratings changed).
    pub products: Vec<Uuid>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("not found")]
    NotFound,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("an admin account cannot be erased; change its role first")]
    AdminAccount,
    #[error(transparent)]
    Auth(AuthError),
    #[error(transparent)]
    Storage(#[from] primitives::StorageError),
}

/// Storage of the whole account.
#[async_trait::async_trait]
pub trait PersonalData: Send + Sync + 'static {
    /// `None` when no such (unerased) account exists.
    async fn export(&self, user: Uuid) -> Result<Option<AccountExport>, AccountError>;
    /// In one transaction, under the user's row lock: replaces the account's personal fields
    /// (email [`erased_email`], name [`ERASED_NAME`], no usable password, disabled), deletes its
    /// addresses, carts, tokens, idempotency records and sessions, anonymises its orders'
    /// addresses ([`anonymised_address`]), keeps its reviews (under the erased name) or deletes
    /// them with the products' ratings recomputed, and writes `user.erased` naming `actor`.
    /// `None` when no such (unerased) account exists.
    async fn erase(&self, user: Uuid, actor: Uuid, keep_reviews: bool) -> Result<Option<Erased>, AccountError>;
    /// The account's role, `None` when it does not exist or is erased.
    async fn role(&self, user: Uuid) -> Result<Option<Role>, AccountError>;
}

/// Told what an erasure changed (cached product pages).
#[async_trait::async_trait]
pub trait ErasureObserver: Send + Sync + 'static {
    async fn reviews_removed(&self, products: &[Uuid]);
}

pub struct AccountService {
    data: Arc<dyn PersonalData>,
    auth: Arc<AuthService>,
    observer: Arc<dyn ErasureObserver>,
    keep_reviews: bool,
}

impl AccountService {
    pub fn new(
        data: Arc<dyn PersonalData>,
        auth: Arc<AuthService>,
        observer: Arc<dyn ErasureObserver>,
        keep_reviews: bool,
    ) -> Self {
        AccountService { data, auth, observer, keep_reviews }
    }

    pub async fn export(&self, user: Uuid) -> Result<AccountExport, AccountError> {
        self.data.export(user).await?.ok_or(AccountError::NotFound)
    }

    /// The caller erases their own account; the current password is asked again.
    pub async fn erase_own(&self, p: &Principal, password: &str) -> Result<(), AccountError> {
        match self.auth.check_password(p.user_id, password).await {
            Ok(()) => {}
            Err(AuthError::WrongCurrentPassword) => return Err(AccountError::WrongPassword),
            Err(AuthError::Storage(e)) => return Err(AccountError::Storage(e)),
            Err(e) => return Err(AccountError::Auth(e)),
        }
        self.erase(p.user_id, p.user_id).await
    }

    /// An admin erases a customer's account (`user.erased` names the admin). Admin accounts are
    /// refused: the last admin could otherwise be erased, and a staff account is demoted first.
    pub async fn erase_by_admin(&self, admin: Uuid, user: Uuid) -> Result<(), AccountError> {
        match self.data.role(user).await? {
            None => Err(AccountError::NotFound),
            Some(Role::Admin) => Err(AccountError::AdminAccount),
            Some(_) => self.erase(user, admin).await,
        }
    }

    async fn erase(&self, user: Uuid, actor: Uuid) -> Result<(), AccountError> {
        let erased = self.data.erase(user, actor, self.keep_reviews).await?.ok_or(AccountError::NotFound)?;
        self.auth.sessions_ended(&erased.sessions).await;
        if !erased.products.is_empty() {
            self.observer.reviews_removed(&erased.products).await;
        }
        tracing::info!(%user, %actor, "account erased");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anonymised_address_keeps_only_the_country() {
        let a = json!({
            "full_name": "Ada Lovelace", "line1": "1 St James's Square", "line2": null,
            "city": "London", "region": "Greater London", "postal_code": "SW1Y 4JH",
            "country": "GB", "phone": "+44 20 7946 0000"
        });
        let out = anonymised_address(&a);
        assert_eq!(out["country"], "GB");
        assert_eq!(out["line2"], Value::Null);
        for k in ["full_name", "line1", "city", "region", "postal_code", "phone"] {
            assert_eq!(out[k], ERASED_FIELD, "{k}");
        }
        assert!(!out.to_string().contains("Ada") && !out.to_string().contains("SW1Y"));
        assert_eq!(anonymised_address(&json!(null)), json!({}));
    }

    #[test]
    fn erased_addresses_are_unique_per_account_and_unroutable() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_ne!(erased_email(a), erased_email(b));
        assert!(erased_email(a).ends_with("@erased.invalid"));
        assert_eq!(erased_email(a), erased_email(a).to_lowercase());
    }
}
