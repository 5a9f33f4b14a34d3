use uuid::Uuid;

use crate::{Address, AddressInput, AddressPatch, Role, User, UserCredentials, UserListQuery};

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("email already registered")]
    EmailTaken,
    #[error("address limit reached")]
    AddressLimit,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Storage(#[from] primitives::StorageError),
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub name: String,
    pub role: Role,
    /// A verification token mailed with the account's creation (same transaction).
    pub verification: Option<crate::IssuedToken>,
}

/// Storage of users and their addresses. Every address operation is scoped by the owner's id:
/// an address of another user is `NotFound`, never visible.
#[async_trait::async_trait]
pub trait UserRepo: Send + Sync + 'static {
    async fn create(&self, user: NewUser) -> Result<User, RepoError>;
    async fn credentials_by_email(&self, email: &str) -> Result<Option<UserCredentials>, RepoError>;
    async fn credentials_by_id(&self, id: Uuid) -> Result<Option<UserCredentials>, RepoError>;
    async fn get(&self, id: Uuid) -> Result<Option<User>, RepoError>;
    async fn update_name(&self, id: Uuid, name: &str) -> Result<User, RepoError>;
    async fn set_password_hash(&self, id: Uuid, hash: &str) -> Result<(), RepoError>;
    async fn set_role(&self, id: Uuid, role: Role) -> Result<User, RepoError>;
    async fn set_disabled(&self, id: Uuid, disabled: bool) -> Result<User, RepoError>;
    async fn list(&self, query: &UserListQuery) -> Result<Vec<User>, RepoError>;
    async fn any_admin(&self) -> Result<bool, RepoError>;

    async fn list_addresses(&self, user: Uuid) -> Result<Vec<Address>, RepoError>;
    async fn get_address(&self, user: Uuid, id: Uuid) -> Result<Option<Address>, RepoError>;
    /// Inserts an address unless the user already has `max`; clears other defaults when this one
    /// is a default. One transaction.
    async fn create_address(&self, user: Uuid, input: &AddressInput, max: i64) -> Result<Address, RepoError>;
    /// Applies `patch` to an address ([`AddressPatch::apply`]) and clears the user's other
    /// defaults when it becomes a default: one transaction under the owner's row lock, so
    /// concurrent edits of one user's addresses queue (no lost field, no two defaults).
    async fn update_address(&self, user: Uuid, id: Uuid, patch: &AddressPatch) -> Result<Address, RepoError>;
    async fn delete_address(&self, user: Uuid, id: Uuid) -> Result<(), RepoError>;
}
