//! Start-up: prepare the database (create, migrate), connect Redis, wire services, bind the
//! listener. `Application::build` returns once the port is bound, so tests can spawn the real app
//! on port 0 and learn where it listens.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpResponse, HttpServer, middleware::from_fn, web};
use anyhow::Context;
use auth::{AuthLimits, AuthService, PasswordHasher, Registration, TokenConfig, Tokens};
use cart::{CartService, ShippingService, TaxRates};
use catalog::{CatalogService, DetailCacheConfig};
use orders::{CheckoutConfig, OrderObserver, OrderService, PaymentGateway};
use persistence::Db;
use persistence::{PgCartRepo, PgCatalogRepo, PgOrderRepo, PgReviewRepo, PgSessionRepo, PgShippingRepo, PgUserRepo};
use primitives::Cache;
use primitives::RateLimiter;
use redis_store::{NearCache, NearConfig, Redis, RedisCache, RedisLimiter};
use reviews::{AggregatesChanged, ReviewService};
use users::{Role, UserService};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use crate::config::{Config, PaymentProvider};
use crate::metrics::Metrics;
use crate::openapi::ApiDoc;
use crate::problem::Problem;
use crate::routes;
use crate::state::AppState;

pub struct Application {
    port: u16,
    server: Server,
    db: Db,
    worker: Option<crate::worker::Worker>,
    shutdown_grace: Duration,
}

pub use runtime::database::prepare_database;

fn tax_rates(config: &Config) -> TaxRates {
    TaxRates { default_bp: config.tax.default_rate_bp, by_country: config.tax.rates.clone() }
}

/// The payment gateway, and the sandbox when it is the one.
type Gateways = (Arc<dyn PaymentGateway>, Option<Arc<payments::SandboxGateway>>);

/// The configured payment gateway, and the sandbox itself when it is the one (its
/// authentication page is a route). The sandbox keeps payments waiting for authentication in
/// `shared` (Redis without in-process copies), so every instance sees an authentication.
fn payment_gateway(config: &Config, shared: Arc<dyn Cache>) -> anyhow::Result<Gateways> {
    let p = &config.payments;
    Ok(match p.provider {
        PaymentProvider::Sandbox => {
            let sandbox = Arc::new(
                payments::SandboxGateway::new()
                    .with_timeout(Duration::from_millis(p.sandbox_timeout_ms))
                    .with_store(shared),
            );
            (sandbox.clone(), Some(sandbox))
        }
        PaymentProvider::Stripe => (
            Arc::new(
                payments::StripeGateway::new(payments::StripeConfig {
                    base_url: p.stripe_base_url.clone(),
                    secret_key: p.stripe_secret_key.clone(),
                    timeout: Duration::from_millis(p.stripe_timeout_ms),
                    max_retries: p.stripe_max_retries,
                })?
                .with_return_url(Some(p.stripe_return_url.clone())),
            ),
            None,
        ),
    })
}

/// Deletes guest carts untouched for 30 days, hourly (on every instance; the delete is idempotent).
fn spawn_cart_sweeper(carts: Arc<CartService>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match carts.purge_abandoned(30 * 24 * 3600).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(carts = n, "deleted abandoned guest carts"),
                Err(e) => tracing::warn!(error = %e, "could not delete abandoned guest carts"),
            }
        }
    });
}

/// Order events → metrics, and cache invalidation of products whose availability may change.
struct Observer {
    metrics: Arc<Metrics>,
    catalog: Arc<CatalogService>,
}

#[async_trait::async_trait]
impl AggregatesChanged for Observer {
    async fn product_changed(&self, product: uuid::Uuid) {
        self.catalog.invalidate_products(&[product]).await;
        self.catalog.listing_changed().await;
    }
}

#[async_trait::async_trait]
impl accounts::ErasureObserver for Observer {
    async fn reviews_removed(&self, products: &[uuid::Uuid]) {
        self.catalog.invalidate_products(products).await;
        self.catalog.listing_changed().await;
    }
}

#[async_trait::async_trait]
impl OrderObserver for Observer {
    async fn stock_returned(&self, products: &[uuid::Uuid]) {
        self.catalog.invalidate_products(products).await;
    }
    async fn stock_taken(&self, products: &[uuid::Uuid]) {
        self.catalog.invalidate_products(products).await;
    }
    fn payment_finished(&self, approved: Option<bool>, seconds: f64) {
        let outcome = match approved {
            Some(true) => "approved",
            Some(false) => "declined",
            None => "unknown",
        };
        self.metrics.payment_duration.with_label_values(&[outcome]).observe(seconds);
    }
    fn order_created(&self) {
        self.metrics.orders_created.inc();
    }
    fn checkout_failed(&self, reason: &str) {
        self.metrics.checkout_failures.with_label_values(&[reason]).inc();
    }
    fn refund_finished(&self, outcome: &str, amount_minor: i64) {
        self.metrics.refunds.with_label_values(&[outcome]).inc();
        if outcome != "retry" {
            self.metrics.refunded_minor.with_label_values(&[outcome]).inc_by(amount_minor.unsigned_abs());
        }
    }
    fn return_step(&self, step: &str) {
        self.metrics.returns.with_label_values(&[step]).inc();
    }
    fn shipment_step(&self, step: &str) {
        self.metrics.shipments.with_label_values(&[step]).inc();
    }
    fn capture_finished(&self, outcome: &str, amount_minor: i64) {
        self.metrics.captures.with_label_values(&[outcome]).inc();
        if outcome != "retry" {
            self.metrics.captured_minor.with_label_values(&[outcome]).inc_by(amount_minor.unsigned_abs());
        }
    }
}

/// Wires the authentication service from configuration and its ports.
pub fn auth_service(
    config: &Config,
    users: Arc<dyn users::UserRepo>,
    account_tokens: Arc<dyn users::AccountTokens>,
    sessions: Arc<dyn auth::SessionRepo>,
    limiter: Arc<dyn RateLimiter>,
) -> AuthService {
    let a = &config.auth;
    let tokens = Tokens::new(&TokenConfig {
        current_secret: a.jwt_secret.clone(),
        previous_secrets: a.jwt_previous_secrets.clone(),
        issuer: a.issuer.clone(),
        audience: a.audience.clone(),
        access_ttl_secs: a.access_ttl_secs as i64,
    });
    let limits = AuthLimits {
        login_per_ip: a.login_per_ip,
        login_failures_per_client: a.login_failures_per_client.clone(),
        login_failures_per_account: a.login_failures_per_account,
        register_per_ip: a.register_per_ip,
        password_reset_per_ip: a.password_reset_per_ip,
        password_reset_per_account: a.password_reset_per_account,
        verification_per_account: a.verification_per_account,
    };
    AuthService::new(
        users,
        account_tokens,
        primitives::secret::account_token_key(&a.jwt_secret),
        sessions,
        limiter,
        PasswordHasher::new(a.max_concurrent_hashes),
        tokens,
        limits,
        a.refresh_ttl_secs as i64,
    )
}

/// Creates an admin account (the `admin create` command).
pub async fn create_admin(
    config: &Config,
    email: String,
    name: String,
    password: String,
) -> anyhow::Result<users::User> {
    let db = Db::connect(&config.db_config())?;
    let auth = auth_service(
        config,
        Arc::new(PgUserRepo::new(db.clone())),
        Arc::new(PgUserRepo::new(db.clone())),
        Arc::new(PgSessionRepo::new(db.clone())),
        Arc::new(redis_store::LocalLimiterPort::default()),
    );
    let user = auth.create_user(Registration { email, password, name }, Role::Admin).await?;
    db.close();
    Ok(user)
}

/// Creates the configured first admin when no admin exists yet.
async fn bootstrap_admin(config: &Config, auth: &AuthService) -> anyhow::Result<()> {
    let (Some(email), Some(password)) = (&config.auth.bootstrap_admin_email, &config.auth.bootstrap_admin_password)
    else {
        return Ok(());
    };
    if auth.any_admin().await.map_err(|e| anyhow::anyhow!("{e}"))? {
        return Ok(());
    }
    let reg = Registration { email: email.clone(), password: password.clone(), name: "Administrator".into() };
    match auth.create_user(reg, Role::Admin).await {
        Ok(u) => tracing::info!(email = %u.email, "bootstrap admin created"),
        Err(auth::AuthError::EmailTaken) => {
            tracing::warn!(%email, "bootstrap admin email belongs to an existing non-admin user; not promoted")
        }
        Err(e) => anyhow::bail!("bootstrap admin: {e}"),
    }
    Ok(())
}

impl Application {
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        prepare_database(&mut config).await?;
        let db = Db::connect(&config.db_config())?;

        let redis = Redis::new(&config.redis_config())?;
        if let Err(e) = redis.ping().await {
            tracing::warn!(error = %e, url = %config.redis.url, "Redis unreachable; using the in-process cache and rate limiter until it answers");
        }
        let cache: Arc<dyn Cache> = match config.redis.near_cache_ttl_ms {
            0 => Arc::new(RedisCache::new(redis.clone())),
            ms => Arc::new(NearCache::new(
                redis.clone(),
                NearConfig {
                    ttl: Duration::from_millis(ms),
                    max_bytes: config.redis.near_cache_max_mib.saturating_mul(1 << 20),
                },
            )),
        };
        let limiter: Arc<dyn RateLimiter> = Arc::new(RedisLimiter::new(redis.clone()));

        let user_repo: Arc<dyn users::UserRepo> = Arc::new(PgUserRepo::new(db.clone()));
        let mut auth = auth_service(
            &config,
            user_repo.clone(),
            Arc::new(PgUserRepo::new(db.clone())),
            Arc::new(PgSessionRepo::new(db.clone())),
            limiter.clone(),
        );
        if config.auth.session_cache_ttl_secs > 0 {
            auth = auth.with_session_cache(cache.clone(), Duration::from_secs(config.auth.session_cache_ttl_secs));
        }
        let auth = Arc::new(auth);
        bootstrap_admin(&config, &auth).await?;
        let users = Arc::new(UserService::new(user_repo, auth.clone()));
        let catalog_repo = Arc::new(PgCatalogRepo::new(db.clone()));
        let mut catalog = CatalogService::new(
            catalog_repo.clone(),
            cache.clone(),
            DetailCacheConfig {
                enabled: config.catalog.cache_enabled,
                ttl: Duration::from_secs(config.catalog.cache_ttl_secs),
                facets_ttl: Duration::from_secs(config.catalog.facets_ttl_secs),
                listing_ttl: Duration::from_secs(config.catalog.listing_cache_ttl_secs),
            },
        );
        let search_index = if config.catalog.search_index {
            let index = search::IndexedListing::new(catalog_repo.clone(), catalog_repo);
            index.spawn(Duration::from_millis(config.catalog.search_feed_interval_ms.max(10)));
            catalog = catalog.with_listing(index.clone());
            Some(index)
        } else {
            None
        };
        let catalog = Arc::new(catalog);

        let metrics = web::Data::new(Metrics::new());
        let shipping_repo: Arc<dyn cart::ShippingRepo> = Arc::new(PgShippingRepo::new(db.clone()));
        let shipping = Arc::new(ShippingService::new(shipping_repo.clone()));
        let promotion_repo = Arc::new(persistence::PgPromotionRepo::new(db.clone()));
        let promotions = Arc::new(promotions::PromotionService::new(
            promotion_repo.clone(),
            promotion_repo,
            Duration::from_millis(config.checkout.automatic_promotions_cache_ms),
        ));
        let carts = Arc::new(CartService::new(
            Arc::new(PgCartRepo::new(db.clone())),
            shipping_repo.clone(),
            promotions.clone(),
            tax_rates(&config),
        ));
        let observer = Arc::new(Observer { metrics: metrics.clone().into_inner(), catalog: catalog.clone() });
        let (gateway, sandbox) = payment_gateway(&config, Arc::new(RedisCache::new(redis.clone())))?;
        let orders = Arc::new(OrderService {
            orders: Arc::new(PgOrderRepo::new(db.clone())),
            shipping: shipping_repo,
            tax: tax_rates(&config),
            gateway,
            observer,
            cfg: CheckoutConfig {
                pending_ttl_secs: config.checkout.pending_ttl_secs,
                idempotency_ttl_secs: config.checkout.idempotency_ttl_secs,
                low_stock_threshold: config.checkout.low_stock_threshold,
                require_verified_email: config.auth.require_verified_email_for_checkout,
                return_window_days: config.orders.return_window_days,
                capture: config.payments.capture,
            },
        });
        let accounts = Arc::new(accounts::AccountService::new(
            Arc::new(PgUserRepo::new(db.clone())),
            auth.clone(),
            Arc::new(Observer { metrics: metrics.clone().into_inner(), catalog: catalog.clone() }),
            config.users.erasure_keeps_reviews,
        ));
        let reviews = Arc::new(ReviewService::new(
            Arc::new(PgReviewRepo::new(db.clone())),
            Arc::new(Observer { metrics: metrics.clone().into_inner(), catalog: catalog.clone() }),
        ));
        if config.checkout.sweep_interval_ms > 0 {
            orders.clone().spawn_sweeper(Duration::from_millis(config.checkout.sweep_interval_ms));
            spawn_cart_sweeper(carts.clone());
        }
        let outbox = Arc::new(outbox::OutboxService::new(Arc::new(persistence::PgOutboxRepo::new(db.clone()))));
        let worker = if config.outbox.embedded {
            let dispatcher = crate::worker::dispatcher(&config, db.clone(), metrics.clone().into_inner())?;
            Some(crate::worker::Worker::start(dispatcher))
        } else {
            None
        };

        let config = Arc::new(config);
        let state = web::Data::new(AppState {
            config: config.clone(),
            db: db.clone(),
            cache,
            limiter,
            auth,
            users,
            accounts,
            catalog,
            carts,
            shipping,
            orders,
            promotions,
            reviews,
            outbox,
            sandbox,
            search_index,
        });

        let listener = TcpListener::bind((config.server.host.as_str(), config.server.port))
            .with_context(|| format!("binding {}:{}", config.server.host, config.server.port))?;
        let port = listener.local_addr()?.port();

        let json_limit = config.server.json_limit_bytes;
        let public_url = config.server.public_url.clone();
        let cors_origins = config.server.cors_origins.clone();
        let doc = web::Data::new(document(public_url.as_deref()));
        let mut server = HttpServer::new(move || {
            let (app, _) = App::new()
                .into_utoipa_app()
                .app_data(state.clone())
                .app_data(metrics.clone())
                .app_data(web::PayloadConfig::new(json_limit))
                .configure(routes::configure)
                .split_for_parts();
            let title = doc.info.title.clone();
            app.app_data(doc.clone())
                .route("/openapi.json", web::get().to(openapi_json))
                .configure(|cfg| crate::docs_ui::configure(cfg, &title))
                .default_service(web::to(unmatched))
                .wrap(from_fn(crate::auth::admin_gate))
                .wrap(from_fn(crate::hygiene::timeout))
                .wrap(from_fn(crate::hygiene::rate_limit))
                .wrap(crate::hygiene::cors(&cors_origins))
                .wrap(from_fn(crate::middleware::envelope))
        })
        .on_connect(crate::middleware::guard_connection)
        .listen(listener)?
        .shutdown_timeout(config.server.shutdown_timeout_secs);
        if config.server.workers > 0 {
            server = server.workers(config.server.workers);
        }
        if !config.server.handle_signals {
            server = server.disable_signals();
        }
        let shutdown_grace = Duration::from_secs(config.server.shutdown_timeout_secs);
        Ok(Application { port, server: server.run(), db, worker, shutdown_grace })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (or a handle's `stop`): stops accepting, lets in-flight
    /// requests finish within the shutdown timeout, then closes the database pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some(worker) = self.worker {
            worker.stop(self.shutdown_grace).await;
        }
        self.db.close();
        tracing::info!("server stopped");
        result
    }
}

/// The OpenAPI document as `/openapi.json` serves it: the paths collected from the route
/// registrations, the answers the middleware adds, and `servers` from `server.public_url`
/// (the local development address otherwise). Needs no database: `shop-api openapi` prints it.
pub fn document(public_url: Option<&str>) -> utoipa::openapi::OpenApi {
    let (_, mut api) =
        App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(routes::configure).split_for_parts();
    utoipa::Modify::modify(&crate::openapi::ErrorResponses, &mut api);
    utoipa::Modify::modify(&crate::openapi::RequestIds, &mut api);
    utoipa::Modify::modify(&crate::openapi::AnonymousSecurity, &mut api);
    let mut server = match public_url {
        Some(url) => utoipa::openapi::Server::new(url.trim_end_matches('/')),
        None => utoipa::openapi::Server::new("http://localhost:8080"),
    };
    if public_url.is_none() {
        server.description = Some("Local development (`server.public_url` names the deployed address)".into());
    }
    api.servers = Some(vec![server]);
    api
}

/// No route matched: 405 when the path exists under another method, 404 otherwise.
async fn unmatched(req: actix_web::HttpRequest) -> Problem {
    if req.resource_map().has_resource(req.path()) {
        Problem::for_status(actix_web::http::StatusCode::METHOD_NOT_ALLOWED)
            .detail(format!("{} is not allowed on this resource", req.method()))
    } else {
        Problem::not_found().detail("no route matches this path")
    }
}

async fn openapi_json(doc: web::Data<utoipa::openapi::OpenApi>) -> HttpResponse {
    HttpResponse::Ok().json(doc.get_ref())
}
