//! PostgreSQL adapters (diesel + diesel-async) for every domain's ports, plus the plumbing they
//! share: the connection pool, embedded migrations applied under an advisory lock, and database
//! creation for development.

mod accounts;
mod carts;
mod catalog;
pub mod db;
mod error;
mod fulfilling;
mod identity;
mod migrate;
mod ordering;
mod outbox;
mod privacy;
mod promoting;
mod reviewing;
mod rows;
pub mod schema;
pub mod seed;
mod sessions;
mod shipping;

pub use carts::PgCartRepo;
pub use catalog::PgCatalogRepo;
pub use db::{Db, DbConfig, DbError, Freshness, PoolStats};
pub use error::{is_connection_lost, is_unique_violation};
pub use identity::PgUserRepo;
pub use ordering::PgOrderRepo;
pub use outbox::{PgContacts, PgOutboxRepo};
pub use promoting::PgPromotionRepo;
pub use reviewing::PgReviewRepo;
pub use sessions::PgSessionRepo;
pub use shipping::PgShippingRepo;
