//! Configuration: built-in defaults for the active profile, then an optional TOML file
//! (`shop.toml`, or the file named by `SHOP_CONFIG`), then `SHOP_*` environment variables with
//! `__` between nested keys (`SHOP_DATABASE__POOL_SIZE=32`).

use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use primitives::Quota;
use serde::{Deserialize, Serialize};

/// The secrets shipped for development. Production refuses to start with them.
pub const DEV_JWT_SECRET: &str = "dev-only-insecure-jwt-secret-change-me-0000000000";
pub const DEV_WEBHOOK_SECRET: &str = "dev-only-insecure-webhook-secret-change-me-00000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Dev,
    Test,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub profile: Profile,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub redis: RedisSettings,
    pub auth: AuthConfig,
    pub users: UsersConfig,
    pub telemetry: TelemetryConfig,
    pub catalog: CatalogConfig,
    pub checkout: CheckoutSettings,
    pub orders: OrdersSettings,
    pub payments: PaymentsConfig,
    pub tax: TaxConfig,
    pub rate_limit: RateLimitConfig,
    pub outbox: OutboxConfig,
    pub email: EmailConfig,
    pub broker: BrokerConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxConfig {
    /// Run the dispatcher inside the API process (the embedded default). With `false`, run
    /// `shop-worker` beside the API instances; any number of dispatchers can run at once.
    pub embedded: bool,
    /// Events claimed per round, and delivered at once.
    pub batch_size: i64,
    pub concurrency: usize,
    /// Pause between rounds that found nothing due.
    pub poll_interval_ms: u64,
    /// A claim hides an event from other dispatchers this long (longer than any delivery).
    pub lease_secs: u64,
    /// Failed attempts before an event is parked as dead.
    pub max_attempts: i32,
    /// Backoff: `base * 2^(attempt-1)`, capped, plus up to 25 % jitter.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Delivered events are deleted after this many days.
    pub retention_days: u64,
    /// Where `shop-worker` serves `/health/live`, `/health/ready` and `/metrics`.
    pub worker_listen: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailConfig {
    /// `smtp://host:25`, `smtp://host:587?tls=required` (STARTTLS) or `smtps://user:pass@host`.
    /// Unset: emails are logged, not sent.
    pub smtp_url: Option<String>,
    pub from: String,
    pub timeout_ms: u64,
    /// Named in the emails, and the base of their links.
    pub shop_name: String,
    pub shop_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrokerConfig {
    /// `amqp://user:password@host:5672/%2f`. Unset: nothing is published.
    pub url: Option<String>,
    /// The topic exchange events go to, with their type as routing key.
    pub exchange: String,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckoutSettings {
    /// Unpaid orders are cancelled and restocked after this long.
    pub pending_ttl_secs: i64,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl_secs: i64,
    /// How often the sweeper looks for expired orders and failed refunds (0 disables it).
    pub sweep_interval_ms: u64,
    /// A sale that leaves a variant with this many or fewer emits `inventory.low_stock`.
    pub low_stock_threshold: i32,
    /// How long cart answers reuse the list of active automatic promotions (0: read it every
    /// time). Checkout always reads it in its transaction; another instance's edits show in
    /// carts within this.
    pub automatic_promotions_cache_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrdersSettings {
    /// How long after delivery a customer may ask to return units (days).
    pub return_window_days: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentProvider {
    Sandbox,
    Stripe,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentsConfig {
    pub provider: PaymentProvider,
    /// When the customer's money is taken: `automatic` (charged at checkout) or `on_shipment`
    /// (authorised at checkout, each shipment captures the value of its units; docs/orders.md).
    /// Kept on each order as it was at checkout.
    #[serde(default)]
    pub capture: orders::CaptureMode,
    /// How long the sandbox's `tok_timeout` takes before giving up.
    pub sandbox_timeout_ms: u64,
    pub stripe_base_url: String,
    pub stripe_secret_key: String,
    pub stripe_timeout_ms: u64,
    pub stripe_max_retries: u32,
    /// The storefront page the provider sends a customer back to after a redirect-based
    /// authentication (empty: redirect-based methods are not offered; cards with 3-D Secure
    /// still authenticate in place through the provider's client library).
    pub stripe_return_url: String,
    /// Shared secret of the payment webhooks (HMAC-SHA256).
    pub webhook_secret: String,
    /// Accepted clock difference of a webhook signature's timestamp.
    pub webhook_tolerance_secs: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaxConfig {
    /// Rate in basis points (1900 = 19 %) for countries without their own.
    pub default_rate_bp: i64,
    /// Per ISO 3166-1 alpha-2 country, in basis points.
    pub rates: std::collections::HashMap<String, i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogConfig {
    /// Serve product detail and categories cache-aside (Redis, or memory while it is down).
    pub cache_enabled: bool,
    /// Lifetime of a cached product detail; writes invalidate it at once anyway.
    pub cache_ttl_secs: u64,
    /// Facet counts of one filter set are reused this long.
    pub facets_ttl_secs: u64,
    /// Anonymous listing and search pages are reused this long (0: never). Catalog writes show
    /// at once; stock sold and new ratings may take this long to show in listings.
    pub listing_cache_ttl_secs: u64,
    /// Serve listing and search from an index in this instance's memory (crates/search, kept in
    /// step with the catalog's change feed); PostgreSQL answers until it has loaded. Off: every
    /// listing and search runs SQL.
    pub search_index: bool,
    /// How often the index reads the catalog's change feed.
    pub search_feed_interval_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Largest accepted JSON body, in bytes.
    pub json_limit_bytes: usize,
    /// Public base URL, used in the OpenAPI document's `servers`.
    pub public_url: Option<String>,
    /// Peers whose `X-Forwarded-For` is believed (the load balancers in front of the API).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Origins allowed to call the API from a browser (CORS); empty means same-origin only.
    pub cors_origins: Vec<String>,
    /// A request still running after this is answered 503 `timeout` (its transaction rolls back).
    pub request_timeout_ms: u64,
    /// Stop gracefully on SIGTERM/SIGINT (off only for apps embedded in the test harness).
    pub handle_signals: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Per client IP, for every route not in a stricter group.
    pub default_per_ip: Quota,
    /// Per signed-in user, for every route not in a stricter group.
    pub default_per_user: Quota,
    /// `/api/v1/auth/*`, per client IP.
    pub auth_per_ip: Quota,
    /// `/api/v1/checkout`, per signed-in user.
    pub checkout_per_user: Quota,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseConfig {
    pub url: String,
    pub pool_size: usize,
    pub statement_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub acquire_timeout_ms: u64,
    /// Create the database when it does not exist (dev and test profiles).
    pub create_if_missing: bool,
    /// When no server answers at `url`, start a private one under `embedded_dir` (dev profile).
    pub embedded: bool,
    pub embedded_dir: String,
    pub embedded_port: u16,
    /// Streaming read replicas: anonymous listing, search and review reads go there (falling
    /// back to the primary while they are down).
    pub replica_urls: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RedisSettings {
    pub url: String,
    pub key_prefix: String,
    pub pool_size: usize,
    pub timeout_ms: u64,
    /// How long an instance serves its in-process copy of a cached entry without asking Redis
    /// (copies are dropped on every invalidation through pub/sub); 0 turns the near cache off.
    pub near_cache_ttl_ms: u64,
    /// Memory budget of those copies.
    pub near_cache_max_mib: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthConfig {
    /// HMAC key that signs new access tokens (at least 32 bytes in production).
    pub jwt_secret: String,
    /// Older keys still accepted for verification while their tokens expire (key rotation).
    pub jwt_previous_secrets: Vec<String>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    /// How long a session's state (live or ended, the user's current role) is cached. Every
    /// logout, revocation, role change or disabling drops it on every instance at once; this only
    /// bounds how long such a change can go unseen when Redis could not be told (an outage).
    pub session_cache_ttl_secs: u64,
    /// Password hashes computed at once; further logins queue.
    pub max_concurrent_hashes: usize,
    /// Creates this admin at start-up when no admin exists yet (with `bootstrap_admin_password`).
    pub bootstrap_admin_email: Option<String>,
    pub bootstrap_admin_password: Option<String>,
    /// Login attempts per client IP, whichever account.
    pub login_per_ip: Quota,
    /// Failed logins for one account from one client IP, in tiers that must all have room: the
    /// wait after failures grows with their number (docs/security.md, "Login throttling").
    pub login_failures_per_client: Vec<Quota>,
    /// Failed logins for one account from all clients together; once spent, only clients without
    /// recent failures for the account may still try.
    pub login_failures_per_account: Quota,
    /// Registrations per client IP.
    pub register_per_ip: Quota,
    /// Password-reset requests per client IP (429 past it).
    pub password_reset_per_ip: Quota,
    /// Reset mails per address; past it requests are answered alike and mail nothing.
    pub password_reset_per_account: Quota,
    /// Verification and email-change mails per account.
    pub verification_per_account: Quota,
    /// Checkout by an account whose address is not verified answers 403 `email-not-verified`.
    pub require_verified_email_for_checkout: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsersConfig {
    /// An erased account's reviews stay, under an anonymous author (`true`), or are deleted with
    /// the product's rating recomputed (`false`).
    pub erasure_keeps_reviews: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TelemetryConfig {
    pub log_format: LogFormat,
    /// `tracing` filter directives, e.g. `info,shop_api=debug`.
    pub log_filter: String,
    /// OTLP/HTTP endpoint; `OTEL_EXPORTER_OTLP_ENDPOINT` sets it too.
    pub otlp_endpoint: Option<String>,
    pub service_name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(#[from] Box<figment::Error>),
    #[error("refusing to start in production: {0}")]
    Insecure(String),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    pub fn defaults(profile: Profile) -> Self {
        let dev_like = profile != Profile::Production;
        Config {
            profile,
            server: ServerConfig {
                host: "127.0.0.1".into(),
                port: 8080,
                workers: if profile == Profile::Test { 2 } else { 0 },
                shutdown_timeout_secs: 30,
                json_limit_bytes: 64 * 1024,
                public_url: None,
                trusted_proxies: Vec::new(),
                // Local frontend dev servers (Vite, Next) on any port, in the dev profile only.
                cors_origins: if profile == Profile::Dev {
                    vec!["http://localhost:*".into(), "http://127.0.0.1:*".into()]
                } else {
                    Vec::new()
                },
                request_timeout_ms: 30_000,
                handle_signals: true,
            },
            database: DatabaseConfig {
                url: "postgres://postgres@127.0.0.1:5432/shop".into(),
                pool_size: 16,
                statement_timeout_ms: 5_000,
                connect_timeout_ms: 3_000,
                acquire_timeout_ms: 3_000,
                create_if_missing: dev_like,
                embedded: profile == Profile::Dev,
                embedded_dir: ".data/postgres".into(),
                embedded_port: 54329,
                replica_urls: Vec::new(),
            },
            redis: RedisSettings {
                url: "redis://127.0.0.1:6379".into(),
                key_prefix: "shop:".into(),
                // Multiplexed connections shared by all requests (redis-store): one pipelines best
                // (cached detail +30 % over 16, docs/performance.md).
                pool_size: 1,
                timeout_ms: 250,
                near_cache_ttl_ms: 5_000,
                near_cache_max_mib: 32,
            },
            auth: AuthConfig {
                jwt_secret: if dev_like { DEV_JWT_SECRET.into() } else { String::new() },
                jwt_previous_secrets: Vec::new(),
                issuer: "shop".into(),
                audience: "shop-api".into(),
                access_ttl_secs: 15 * 60,
                refresh_ttl_secs: 30 * 24 * 3600,
                session_cache_ttl_secs: 60,
                // Fewer hashes than cores at once leaves CPU for other requests under a login burst.
                max_concurrent_hashes: std::thread::available_parallelism().map_or(2, |n| (n.get() / 2).max(1)),
                bootstrap_admin_email: None,
                bootstrap_admin_password: None,
                login_per_ip: if profile == Profile::Test { Quota::new(10_000, 60) } else { Quota::new(20, 60) },
                // Under 40 per period each, so they are counted exactly (never leased ahead).
                login_failures_per_client: if profile == Profile::Test {
                    vec![Quota::new(10_000, 60)]
                } else {
                    vec![Quota::new(5, 300), Quota::new(20, 3600), Quota::new(30, 86_400)]
                },
                login_failures_per_account: if profile == Profile::Test {
                    Quota::new(10_000, 60)
                } else {
                    Quota::new(30, 900)
                },
                register_per_ip: if profile == Profile::Test { Quota::new(10_000, 60) } else { Quota::new(10, 3600) },
                password_reset_per_ip: if profile == Profile::Test {
                    Quota::new(10_000, 60)
                } else {
                    Quota::new(10, 3600)
                },
                password_reset_per_account: Quota::new(3, 3600),
                verification_per_account: Quota::new(5, 3600),
                require_verified_email_for_checkout: false,
            },
            users: UsersConfig { erasure_keeps_reviews: true },
            catalog: CatalogConfig {
                cache_enabled: true,
                cache_ttl_secs: 300,
                facets_ttl_secs: 30,
                listing_cache_ttl_secs: 5,
                search_index: true,
                search_feed_interval_ms: 200,
            },
            checkout: CheckoutSettings {
                pending_ttl_secs: 900,
                idempotency_ttl_secs: 86_400,
                sweep_interval_ms: 5_000,
                low_stock_threshold: 5,
                automatic_promotions_cache_ms: 2_000,
            },
            orders: OrdersSettings { return_window_days: 30 },
            payments: PaymentsConfig {
                provider: PaymentProvider::Sandbox,
                capture: orders::CaptureMode::Automatic,
                sandbox_timeout_ms: 2_000,
                stripe_base_url: "https://api.stripe.com".into(),
                stripe_secret_key: String::new(),
                stripe_timeout_ms: 10_000,
                stripe_max_retries: 2,
                stripe_return_url: String::new(),
                webhook_secret: if dev_like { DEV_WEBHOOK_SECRET.into() } else { String::new() },
                webhook_tolerance_secs: 300,
            },
            tax: TaxConfig { default_rate_bp: 0, rates: Default::default() },
            rate_limit: RateLimitConfig {
                // Tests exercise the limiter with their own small quotas.
                enabled: profile != Profile::Test,
                default_per_ip: Quota::new(600, 60),
                default_per_user: Quota::new(600, 60),
                auth_per_ip: Quota::new(60, 60),
                checkout_per_user: Quota::new(30, 60),
            },
            outbox: OutboxConfig {
                embedded: true,
                batch_size: 64,
                concurrency: 8,
                poll_interval_ms: if profile == Profile::Test { 50 } else { 250 },
                lease_secs: 60,
                max_attempts: 10,
                backoff_base_ms: if profile == Profile::Test { 50 } else { 2_000 },
                backoff_max_ms: if profile == Profile::Test { 1_000 } else { 3_600_000 },
                retention_days: 7,
                worker_listen: "127.0.0.1:9180".into(),
            },
            email: EmailConfig {
                smtp_url: None,
                from: "Shop <no-reply@shop.localhost>".into(),
                timeout_ms: 10_000,
                shop_name: "Shop".into(),
                shop_url: "http://localhost:8080".into(),
            },
            broker: BrokerConfig { url: None, exchange: "shop.events".into(), timeout_ms: 5_000 },
            telemetry: TelemetryConfig {
                log_format: if profile == Profile::Production { LogFormat::Json } else { LogFormat::Pretty },
                log_filter: if profile == Profile::Test { "warn".into() } else { "info".into() },
                otlp_endpoint: None,
                service_name: "shop-api".into(),
            },
        }
    }

    /// The configuration of an instance a test starts in its own process: the test profile on an
    /// ephemeral port, without signal handling (the harness stops it), over a database the test
    /// made (not embedded, never created) and the Redis key space it names.
    pub fn for_test(database_url: &str, redis_url: String, redis_key_prefix: String) -> Self {
        let mut c = Config::defaults(Profile::Test);
        c.server.port = 0;
        c.server.handle_signals = false;
        c.database.url = database_url.to_owned();
        c.database.create_if_missing = false;
        c.database.embedded = false;
        c.database.pool_size = 5;
        c.redis.url = redis_url;
        c.redis.key_prefix = redis_key_prefix;
        c
    }

    /// Loads the configuration from the process environment (see the module docs).
    pub fn load() -> Result<Self, ConfigError> {
        let profile = match std::env::var("SHOP_PROFILE").as_deref() {
            Ok("production") | Ok("prod") => Profile::Production,
            Ok("test") => Profile::Test,
            Ok("dev") | Ok("") | Err(_) => Profile::Dev,
            Ok(other) => {
                return Err(ConfigError::Invalid(format!(
                    "SHOP_PROFILE={other:?} is not one of dev, test, production"
                )));
            }
        };
        let file = std::env::var("SHOP_CONFIG").unwrap_or_else(|_| "shop.toml".into());
        let figment = Figment::from(Serialized::defaults(Config::defaults(profile)))
            .merge(Toml::file(file))
            .merge(Env::prefixed("SHOP_").split("__").ignore(&["config"]));
        let mut config: Config = figment.extract().map_err(Box::new)?;
        config.profile = profile;
        if let Ok(endpoint) = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
            && !endpoint.is_empty()
        {
            config.telemetry.otlp_endpoint = Some(endpoint);
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks values that no type can express, and refuses insecure production settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.database.pool_size == 0 {
            return Err(ConfigError::Invalid("database.pool_size must be at least 1".into()));
        }
        if self.outbox.batch_size < 1 || self.outbox.concurrency == 0 || self.outbox.max_attempts < 1 {
            return Err(ConfigError::Invalid(
                "outbox.batch_size, outbox.concurrency and outbox.max_attempts must be at least 1".into(),
            ));
        }
        if self.auth.max_concurrent_hashes == 0 {
            return Err(ConfigError::Invalid("auth.max_concurrent_hashes must be at least 1".into()));
        }
        if self.profile == Profile::Production {
            let stripe = (self.payments.provider == PaymentProvider::Stripe)
                .then_some(("payments.stripe_secret_key", &self.payments.stripe_secret_key));
            let secrets = std::iter::once(("auth.jwt_secret", &self.auth.jwt_secret))
                .chain(self.auth.jwt_previous_secrets.iter().map(|s| ("auth.jwt_previous_secrets", s)))
                .chain(std::iter::once(("payments.webhook_secret", &self.payments.webhook_secret)))
                .chain(stripe);
            for (key, value) in secrets {
                let env = format!("SHOP_{}", key.to_uppercase().replace('.', "__"));
                if value.is_empty() {
                    return Err(ConfigError::Insecure(format!("{key} is missing (set {env})")));
                }
                if value == DEV_JWT_SECRET || value == DEV_WEBHOOK_SECRET {
                    return Err(ConfigError::Insecure(format!("{key} is the development default (set {env})")));
                }
                if value.len() < 32 {
                    return Err(ConfigError::Insecure(format!("{key} is shorter than 32 bytes (set {env})")));
                }
            }
            if let (Some(_), None) = (&self.auth.bootstrap_admin_email, &self.auth.bootstrap_admin_password) {
                return Err(ConfigError::Insecure(
                    "auth.bootstrap_admin_password is missing (set SHOP_AUTH__BOOTSTRAP_ADMIN_PASSWORD)".into(),
                ));
            }
        }
        Ok(())
    }

    pub fn db_config(&self) -> persistence::DbConfig {
        let d = &self.database;
        persistence::DbConfig {
            url: d.url.clone(),
            pool_size: d.pool_size,
            statement_timeout: Duration::from_millis(d.statement_timeout_ms),
            connect_timeout: Duration::from_millis(d.connect_timeout_ms),
            acquire_timeout: Duration::from_millis(d.acquire_timeout_ms),
            replica_urls: d.replica_urls.clone(),
        }
    }

    pub fn redis_config(&self) -> redis_store::RedisConfig {
        let r = &self.redis;
        redis_store::RedisConfig {
            url: r.url.clone(),
            key_prefix: r.key_prefix.clone(),
            pool_size: r.pool_size,
            timeout: Duration::from_millis(r.timeout_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_names_the_insecure_secret() {
        let mut c = Config::defaults(Profile::Production);
        let err = c.validate().expect_err("empty secret").to_string();
        assert!(err.contains("auth.jwt_secret is missing"), "{err}");
        c.auth.jwt_secret = DEV_JWT_SECRET.into();
        let err = c.validate().expect_err("default secret").to_string();
        assert!(err.contains("development default"), "{err}");
        c.auth.jwt_secret = "x".repeat(40);
        let err = c.validate().expect_err("no webhook secret").to_string();
        assert!(err.contains("payments.webhook_secret is missing"), "{err}");
        c.payments.webhook_secret = "w".repeat(40);
        assert!(c.validate().is_ok());
        c.auth.jwt_previous_secrets = vec!["short".into()];
        let err = c.validate().expect_err("short old key").to_string();
        assert!(err.contains("auth.jwt_previous_secrets"), "{err}");
    }

    #[test]
    fn dev_defaults_are_valid() {
        assert!(Config::defaults(Profile::Dev).validate().is_ok());
        assert!(Config::defaults(Profile::Test).validate().is_ok());
    }
}
