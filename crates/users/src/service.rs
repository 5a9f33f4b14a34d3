use std::sync::Arc;

use primitives::{CursorTime, Page, StorageError};
use uuid::Uuid;

use crate::{
    Address, AddressInput, AddressPatch, MAX_ADDRESSES_PER_USER, ProfilePatch, RepoError, Role, User, UserListQuery,
    UserRepo,
};

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("not found")]
    NotFound,
    #[error("a user keeps at most {0} addresses")]
    AddressLimit(i64),
    #[error("admins cannot change their own role or disable themselves")]
    SelfChange,
    #[error(transparent)]
    Storage(#[from] primitives::StorageError),
}

impl From<RepoError> for UserError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::NotFound => UserError::NotFound,
            RepoError::AddressLimit => UserError::AddressLimit(MAX_ADDRESSES_PER_USER),
            RepoError::Storage(e) => UserError::Storage(e),
            RepoError::EmailTaken => UserError::Storage(primitives::StorageError::other("email already registered")),
        }
    }
}

/// What account administration needs of sign-in (implemented by `auth::AuthService`): a role
/// change or re-enabling reaches every live session at once, disabling ends them.
#[async_trait::async_trait]
pub trait AccountSessions: Send + Sync + 'static {
    /// The account's role or status changed: its sessions see it on their next request.
    async fn account_changed(&self, user: Uuid);
    /// Ends every session of the account (their access tokens are refused at once).
    async fn end_sessions(&self, user: Uuid) -> Result<(), StorageError>;
}

/// Profiles, addresses and account administration. Every method that touches a user's own data
/// takes the acting user's id and scopes by it (ownership is checked here as well as by routing).
/// Role and status changes reach the account's sessions through [`AccountSessions`], whoever calls
/// (an HTTP handler, the CLI).
pub struct UserService {
    repo: Arc<dyn UserRepo>,
    sessions: Arc<dyn AccountSessions>,
}

impl UserService {
    pub fn new(repo: Arc<dyn UserRepo>, sessions: Arc<dyn AccountSessions>) -> Self {
        UserService { repo, sessions }
    }

    pub async fn get(&self, user: Uuid) -> Result<User, UserError> {
        self.repo.get(user).await?.ok_or(UserError::NotFound)
    }

    pub async fn update_profile(&self, user: Uuid, patch: ProfilePatch) -> Result<User, UserError> {
        match patch.name {
            Some(name) => Ok(self.repo.update_name(user, name.trim()).await?),
            None => self.get(user).await,
        }
    }

    pub async fn addresses(&self, user: Uuid) -> Result<Vec<Address>, UserError> {
        Ok(self.repo.list_addresses(user).await?)
    }

    pub async fn address(&self, user: Uuid, id: Uuid) -> Result<Address, UserError> {
        self.repo.get_address(user, id).await?.ok_or(UserError::NotFound)
    }

    pub async fn add_address(&self, user: Uuid, input: AddressInput) -> Result<Address, UserError> {
        Ok(self.repo.create_address(user, &input, MAX_ADDRESSES_PER_USER).await?)
    }

    pub async fn update_address(&self, user: Uuid, id: Uuid, patch: AddressPatch) -> Result<Address, UserError> {
        Ok(self.repo.update_address(user, id, &patch).await?)
    }

    pub async fn delete_address(&self, user: Uuid, id: Uuid) -> Result<(), UserError> {
        Ok(self.repo.delete_address(user, id).await?)
    }

    pub async fn list(&self, query: &UserListQuery) -> Result<Page<User>, UserError> {
        let rows = self.repo.list(query).await?;
        Ok(Page::cut(rows, query.page.limit, |u| (CursorTime(u.created_at), u.id)))
    }

    pub async fn set_role(&self, actor: Uuid, target: Uuid, role: Role) -> Result<User, UserError> {
        if actor == target {
            return Err(UserError::SelfChange);
        }
        let user = self.repo.set_role(target, role).await?;
        self.sessions.account_changed(target).await;
        Ok(user)
    }

    pub async fn set_disabled(&self, actor: Uuid, target: Uuid, disabled: bool) -> Result<User, UserError> {
        if actor == target {
            return Err(UserError::SelfChange);
        }
        let user = self.repo.set_disabled(target, disabled).await?;
        if disabled {
            self.sessions.end_sessions(target).await?;
        } else {
            self.sessions.account_changed(target).await;
        }
        Ok(user)
    }
}
