//! Shared kernel: the small value types every domain crate agrees on (money, pagination cursors,
//! pages) and the ports that are not owned by a single domain (the cache).
//!
//! Nothing in here knows about HTTP, SQL or Redis.

pub mod cache;
pub mod money;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod page;
pub mod rate_limit;
pub mod retry;
pub mod secret;
pub mod storage;

pub use cache::{Cache, CacheError, NearStats};
pub use money::{Currency, CurrencyError, Money};
pub use page::{Cursor, CursorError, CursorTime, Page, PageRequest};
pub use rate_limit::{Decision, Quota, RateLimiter};
pub use retry::retry_for;
pub use storage::{StorageError, StorageErrorKind};
