//! Authentication: password policy and hashing (argon2id), access tokens (JWT with key rotation),
//! rotating refresh tokens with theft detection, and the service that ties them to the user store.
//!
//! The common-password list in `data/` is the 30,000 most frequent passwords of the zxcvbn
//! project (MIT licence).

mod account;
mod password;
mod service;
mod session;
mod token;

pub use password::{PasswordHasher, PasswordPolicy, PolicyViolation};
pub use service::{AuthError, AuthLimits, AuthService, Registration, TokenPair};
pub use session::{NewSession, Rotation, SessionRepo, SessionState, hash_refresh_token, new_refresh_token};
pub use token::{Claims, Principal, TokenConfig, TokenError, Tokens, key_id};
