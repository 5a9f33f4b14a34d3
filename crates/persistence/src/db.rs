use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::FutureExt;
use primitives::StorageError;

#[derive(Debug, Clone)]
pub struct DbConfig {
    pub url: String,
    pub pool_size: usize,
    pub statement_timeout: Duration,
    pub connect_timeout: Duration,
    /// How long a request waits for a free connection before giving up.
    pub acquire_timeout: Duration,
    /// Streaming read replicas for reads that tolerate replication lag (listing, search,
    /// review lists). Empty: everything goes to the primary.
    pub replica_urls: Vec<String>,
}

impl From<StorageError> for DbError {
    fn from(e: StorageError) -> Self {
        DbError::Unavailable(e.to_string())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("invalid database URL: {0}")]
    Url(String),
}

impl From<PoolError> for DbError {
    fn from(e: PoolError) -> Self {
        DbError::Unavailable(e.to_string())
    }
}

impl From<diesel::ConnectionError> for DbError {
    fn from(e: diesel::ConnectionError) -> Self {
        DbError::Unavailable(e.to_string())
    }
}

pub type PgConn = Object<AsyncPgConnection>;

/// Connection-pool figures exported as metrics.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub max_size: usize,
    pub size: usize,
    pub available: usize,
    pub waiting: usize,
}

/// Where lag-tolerant reads went (exported as metrics: the replica hit share).
#[derive(Debug, Default)]
struct ReadStats {
    replica: AtomicU64,
    primary: AtomicU64,
}

/// The handle every adapter holds: a pool to the primary and one per read replica.
#[derive(Clone)]
pub struct Db {
    primary: Pool<AsyncPgConnection>,
    replicas: Arc<Vec<Pool<AsyncPgConnection>>>,
    next_replica: Arc<AtomicUsize>,
    /// Milliseconds since `started` before which replicas are not tried (after a failure).
    replicas_down_until: Arc<AtomicU64>,
    started: Instant,
    reads: Arc<ReadStats>,
}

/// Whether a read may be served by a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Replication lag is acceptable (anonymous listing, search, reviews).
    Relaxed,
    /// Must see the latest commit (the caller's own data, reads that feed the cache).
    Latest,
}

impl Db {
    /// Builds the pools. No connection is opened until the first query, so this succeeds while
    /// PostgreSQL is down; the pools reconnect by themselves when it comes back.
    pub fn connect(cfg: &DbConfig) -> Result<Self, DbError> {
        let primary = Self::pool(cfg, &cfg.url)?;
        let replicas = cfg.replica_urls.iter().map(|u| Self::pool(cfg, u)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            primary,
            replicas: Arc::new(replicas),
            next_replica: Arc::new(AtomicUsize::new(0)),
            replicas_down_until: Arc::new(AtomicU64::new(0)),
            started: Instant::now(),
            reads: Arc::new(ReadStats::default()),
        })
    }

    fn pool(cfg: &DbConfig, url: &str) -> Result<Pool<AsyncPgConnection>, DbError> {
        let statement_timeout_ms = cfg.statement_timeout.as_millis();
        let connect_timeout = cfg.connect_timeout;
        let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
        // No `SELECT 1` round trip on every checkout (the default `Verified` costs one per
        // request: a third of the statements of a product-detail miss). A connection is still
        // discarded when it is broken: before any recycling method runs, the pool asks
        // `is_broken`, which is true once the connection's background task has ended (the
        // server closed the socket: a restart, a terminated backend, a network error) or a
        // transaction was left half-way. A connection that dies while idle in the pool is thus
        // dropped on its next checkout; only one killed in the instant between checkout and its
        // first statement fails that statement, which maps to 503 as any outage does.
        manager_config.recycling_method = RecyclingMethod::Fast;
        manager_config.custom_setup = Box::new(move |url| {
            let url = url.to_owned();
            async move {
                let mut conn = tokio::time::timeout(connect_timeout, AsyncPgConnection::establish(&url))
                    .await
                    .map_err(|_| diesel::ConnectionError::BadConnection("connect timed out".into()))??;
                diesel::sql_query(format!("SET statement_timeout = {statement_timeout_ms}"))
                    .execute(&mut conn)
                    .await
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                // Typo tolerance: a query word matches a name word at 40 % trigram similarity.
                diesel::sql_query("SET pg_trgm.word_similarity_threshold = 0.4")
                    .execute(&mut conn)
                    .await
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(conn)
            }
            .boxed()
        });
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, manager_config);
        Pool::builder(manager)
            .max_size(cfg.pool_size)
            .wait_timeout(Some(cfg.acquire_timeout))
            .create_timeout(Some(cfg.connect_timeout))
            .recycle_timeout(Some(cfg.connect_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// A connection to the primary.
    /// A connection of the primary; none within the acquire timeout (or the server down) is an
    /// `unavailable` storage error.
    pub async fn conn(&self) -> Result<PgConn, StorageError> {
        self.primary.get().await.map_err(StorageError::unavailable)
    }

    /// A connection for a read: a replica (round robin) when `Relaxed` and one is up, else the
    /// primary. A replica that fails to hand out a connection is skipped for a few seconds.
    pub async fn read_conn(&self, freshness: Freshness) -> Result<PgConn, StorageError> {
        let now_ms = self.started.elapsed().as_millis() as u64;
        if freshness == Freshness::Relaxed
            && !self.replicas.is_empty()
            && now_ms >= AtomicU64::load(&self.replicas_down_until, Ordering::Relaxed)
        {
            let i = self.next_replica.fetch_add(1, Ordering::Relaxed) % self.replicas.len();
            match self.replicas[i].get().await {
                Ok(c) => {
                    self.reads.replica.fetch_add(1, Ordering::Relaxed);
                    return Ok(c);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "read replica unavailable; reading from the primary");
                    self.replicas_down_until.store(now_ms + 5_000, Ordering::Relaxed);
                }
            }
        }
        self.reads.primary.fetch_add(1, Ordering::Relaxed);
        self.conn().await
    }

    /// Lag-tolerant reads served so far by (replicas, primary).
    pub fn read_counts(&self) -> (u64, u64) {
        (
            AtomicU64::load(&self.reads.replica, Ordering::Relaxed),
            AtomicU64::load(&self.reads.primary, Ordering::Relaxed),
        )
    }

    pub fn replica_stats(&self) -> Vec<PoolStats> {
        self.replicas.iter().map(stats_of).collect()
    }

    /// `SELECT 1` on a pooled connection: the readiness probe.
    pub async fn ping(&self) -> Result<(), DbError> {
        let mut conn = self.conn().await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await?;
        Ok(())
    }

    pub fn stats(&self) -> PoolStats {
        stats_of(&self.primary)
    }

    /// Closes the pools: idle connections are dropped, new checkouts fail.
    pub fn close(&self) {
        self.primary.close();
        for r in self.replicas.iter() {
            r.close();
        }
    }
}

fn stats_of(p: &Pool<AsyncPgConnection>) -> PoolStats {
    let s = p.status();
    PoolStats { max_size: s.max_size, size: s.size, available: s.available, waiting: s.waiting }
}

pub use crate::migrate::{MIGRATIONS, embedded_names, run_migrations};

/// Splits a PostgreSQL URL into (URL of the `postgres` maintenance database, database name).
pub fn maintenance_url(url: &str) -> Result<(String, String), DbError> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").ok_or_else(|| DbError::Url("missing scheme".into()))? + 3;
    let slash = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .ok_or_else(|| DbError::Url("missing database name".into()))?;
    let name = &base[slash + 1..];
    if name.is_empty() {
        return Err(DbError::Url("missing database name".into()));
    }
    let mut admin = format!("{}/postgres", &base[..slash]);
    if let Some(q) = query {
        admin.push('?');
        admin.push_str(q);
    }
    Ok((admin, name.to_owned()))
}

/// Quotes an identifier for the few statements that cannot take bind parameters
/// (CREATE/DROP DATABASE). Only plain names are accepted, so nothing needs escaping.
pub fn quote_ident(name: &str) -> Result<String, DbError> {
    if !name.is_empty() && name.len() <= 63 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(format!("\"{name}\""))
    } else {
        Err(DbError::Url(format!("unsupported database name {name:?}")))
    }
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

/// Creates the database named in `url` when it does not exist yet (development convenience).
/// Returns whether it was created. Two instances racing both succeed.
pub async fn ensure_database(url: &str) -> Result<bool, DbError> {
    let (admin_url, name) = maintenance_url(url)?;
    let mut conn = AsyncPgConnection::establish(&admin_url).await?;
    let found: Exists = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<diesel::sql_types::Text, _>(&name)
        .get_result(&mut conn)
        .await?;
    if found.exists {
        return Ok(false);
    }
    match diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(&name)?)).execute(&mut conn).await {
        Ok(_) => Ok(true),
        // Another instance created it between our check and our CREATE.
        Err(e) if crate::error::is_duplicate_database(&e) || crate::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether a PostgreSQL server answers at `url` (any database error other than a connection
/// failure counts as "answers").
pub async fn server_reachable(url: &str, timeout: Duration) -> bool {
    let Ok((admin_url, _)) = maintenance_url(url) else {
        return false;
    };
    matches!(tokio::time::timeout(timeout, AsyncPgConnection::establish(&admin_url)).await, Ok(Ok(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_url_keeps_credentials_and_query() {
        assert_eq!(
            maintenance_url("postgres://u:p@h:5432/shop?sslmode=disable").ok(),
            Some(("postgres://u:p@h:5432/postgres?sslmode=disable".into(), "shop".into()))
        );
        assert!(maintenance_url("postgres://h:5432").is_err());
        assert!(maintenance_url("postgres://h:5432/").is_err());
    }

    #[test]
    fn quote_ident_refuses_odd_names() {
        assert_eq!(quote_ident("shop_test-1").ok(), Some("\"shop_test-1\"".into()));
        assert!(quote_ident("x\"; DROP DATABASE y; --").is_err());
    }
}
