//! Redis adapters: the cache port and the rate-limiter port, each with an in-process fallback
//! that takes over while Redis is unreachable. Redis accelerates; it is never the source of truth.

mod cache;
mod limiter;
mod memory;

pub use cache::{RedisCache, RedisConfig};
pub use limiter::{LocalLimiter, LocalLimiterPort, RedisLimiter};
pub use memory::MemoryCache;

use std::time::Duration;

use deadpool_redis::{Pool, Runtime};

/// A pooled Redis client with a key prefix (so several deployments, or parallel tests, can share
/// one server) and a short per-command timeout.
#[derive(Clone)]
pub struct Redis {
    pool: Pool,
    prefix: String,
    timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    #[error("redis timed out")]
    Timeout,
}

impl Redis {
    pub fn new(cfg: &RedisConfig) -> Result<Self, RedisError> {
        let pool = deadpool_redis::Config::from_url(cfg.url.clone())
            .builder()
            .map_err(|e| RedisError::Unavailable(e.to_string()))?
            .max_size(cfg.pool_size)
            .wait_timeout(Some(cfg.timeout))
            .create_timeout(Some(cfg.timeout))
            .recycle_timeout(Some(cfg.timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| RedisError::Unavailable(e.to_string()))?;
        Ok(Self { pool, prefix: cfg.key_prefix.clone(), timeout: cfg.timeout })
    }

    pub fn key(&self, k: &str) -> String {
        format!("{}{}", self.prefix, k)
    }

    /// Runs one command (or pipeline) against a pooled connection, bounded by the timeout.
    pub async fn run<T, F, Fut>(&self, f: F) -> Result<T, RedisError>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: Future<Output = deadpool_redis::redis::RedisResult<T>>,
    {
        let work = async {
            let conn = self.pool.get().await.map_err(|e| RedisError::Unavailable(e.to_string()))?;
            f(conn).await.map_err(|e| RedisError::Unavailable(e.to_string()))
        };
        tokio::time::timeout(self.timeout, work).await.map_err(|_| RedisError::Timeout)?
    }

    pub async fn ping(&self) -> Result<(), RedisError> {
        self.run(|mut c| async move { deadpool_redis::redis::cmd("PING").query_async::<String>(&mut c).await })
            .await
            .map(|_| ())
    }
}
