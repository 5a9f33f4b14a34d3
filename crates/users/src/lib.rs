//! Users: accounts, roles and permissions, profiles and addresses, and the repository port that
//! stores them. Pure domain code: no HTTP, no SQL.

mod address;
pub mod email;
pub mod events;
mod model;
mod repo;
mod service;
pub mod tokens;

pub use address::{Address, AddressInput, AddressPatch, MAX_ADDRESSES_PER_USER, is_country_code};
pub use email::{EmailError, normalise_email};
pub use model::{Permission, ProfilePatch, Role, User, UserCredentials, UserListQuery};
pub use repo::{NewUser, RepoError, UserRepo};
pub use service::{AccountSessions, UserError, UserService};
pub use tokens::{AccountTokens, IssuedToken, TokenOwner, TokenPurpose};
