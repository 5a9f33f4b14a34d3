use std::sync::Arc;

use auth::AuthService;
use cart::{CartService, ShippingService};
use catalog::CatalogService;
use orders::OrderService;
use outbox::OutboxService;
use persistence::Db;
use primitives::{Cache, RateLimiter};
use reviews::ReviewService;
use users::UserService;

use crate::config::Config;

/// What every handler can reach: configuration, the database, the cache, and the domain
/// services wired over them.
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub cache: Arc<dyn Cache>,
    pub limiter: Arc<dyn RateLimiter>,
    pub auth: Arc<AuthService>,
    pub users: Arc<UserService>,
    pub accounts: Arc<accounts::AccountService>,
    pub catalog: Arc<CatalogService>,
    /// The in-memory listing and search index, when `catalog.search_index` is on.
    pub search_index: Option<Arc<search::IndexedListing>>,
    pub carts: Arc<CartService>,
    pub shipping: Arc<ShippingService>,
    pub orders: Arc<OrderService>,
    pub promotions: Arc<promotions::PromotionService>,
    pub reviews: Arc<ReviewService>,
    pub outbox: Arc<OutboxService>,
    /// The sandbox payment provider, when it is the configured one.
    pub sandbox: Option<Arc<payments::SandboxGateway>>,
}
