//! Redis adapters: the cache port and the rate-limiter port, each with an in-process fallback
//! that takes over while Redis is unreachable. Redis accelerates; it is never the source of truth.

mod cache;
mod limiter;
mod memory;
mod near;

pub use cache::{RedisCache, RedisConfig};
pub use limiter::{LocalLimiter, LocalLimiterPort, RedisLimiter};
pub use memory::MemoryCache;
pub use near::{NearCache, NearConfig};

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client};

/// A Redis client with a key prefix (so several deployments, or parallel tests, can share one
/// server) and a short per-command timeout.
///
/// Commands go over `pool_size` multiplexed connections, each shared by every request (concurrent
/// commands are pipelined on it), picked in turn. Nothing is sent to check a connection before
/// use (a pool that PINGs on every checkout doubles the round trips of a cached request): a
/// connection is opened on first use and dropped when a command on it fails with a connection
/// error or times out, so the next command opens a new one. While Redis is down every attempt
/// fails within the timeout, and once it is back the next attempt reconnects: no restart needed.
#[derive(Clone)]
pub struct Redis {
    inner: std::sync::Arc<Inner>,
    prefix: String,
    timeout: Duration,
}

struct Inner {
    client: Client,
    config: AsyncConnectionConfig,
    slots: Vec<Slot>,
    next: AtomicUsize,
    epochs: AtomicU64,
}

/// One shared connection, tagged with the epoch it was opened in (so a failure reported on an old
/// connection never drops its replacement), and a lock so only one task reconnects it at a time.
#[derive(Default)]
struct Slot {
    conn: Mutex<Option<(u64, MultiplexedConnection)>>,
    connecting: tokio::sync::Mutex<()>,
}

impl Slot {
    fn current(&self) -> Option<(u64, MultiplexedConnection)> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn discard(&self, epoch: u64) {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if conn.as_ref().is_some_and(|(e, _)| *e == epoch) {
            *conn = None;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    #[error("redis timed out")]
    Timeout,
}

/// Whether an error means the connection itself is unusable (rather than one command failing,
/// such as a script error or a wrong type).
fn connection_lost(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

impl Redis {
    pub fn new(cfg: &RedisConfig) -> Result<Self, RedisError> {
        let client = Client::open(cfg.url.as_str()).map_err(|e| RedisError::Unavailable(e.to_string()))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(cfg.timeout))
            .set_response_timeout(Some(cfg.timeout));
        let slots = (0..cfg.pool_size.max(1)).map(|_| Slot::default()).collect();
        let inner = Inner { client, config, slots, next: AtomicUsize::new(0), epochs: AtomicU64::new(0) };
        Ok(Self { inner: std::sync::Arc::new(inner), prefix: cfg.key_prefix.clone(), timeout: cfg.timeout })
    }

    pub fn key(&self, k: &str) -> String {
        format!("{}{}", self.prefix, k)
    }

    /// The pub/sub channel on which cache invalidations are announced to every instance.
    pub fn invalidation_channel(&self) -> String {
        self.key("cache:invalidations")
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The connection of a slot, opening it when there is none.
    async fn connection(&self, slot: &Slot) -> Result<(u64, MultiplexedConnection), redis::RedisError> {
        if let Some(c) = slot.current() {
            return Ok(c);
        }
        let _one_at_a_time = slot.connecting.lock().await;
        if let Some(c) = slot.current() {
            return Ok(c);
        }
        let conn = self.inner.client.get_multiplexed_async_connection_with_config(&self.inner.config).await?;
        let epoch = self.inner.epochs.fetch_add(1, Ordering::Relaxed) + 1;
        *slot.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some((epoch, conn.clone()));
        Ok((epoch, conn))
    }

    /// Runs one command (or pipeline) on a shared connection, bounded by the timeout.
    pub async fn run<T, F, Fut>(&self, f: F) -> Result<T, RedisError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let slots = &self.inner.slots;
        let slot = &slots[self.inner.next.fetch_add(1, Ordering::Relaxed) % slots.len()];
        let mut epoch = None;
        let work = async {
            let (e, conn) = self.connection(slot).await?;
            epoch = Some(e);
            f(conn).await
        };
        let result = tokio::time::timeout(self.timeout, work).await;
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if let Some(epoch) = epoch.filter(|_| connection_lost(&e)) {
                    slot.discard(epoch);
                }
                Err(RedisError::Unavailable(e.to_string()))
            }
            Err(_) => {
                // A server that stopped answering: start afresh on the next command.
                if let Some(epoch) = epoch {
                    slot.discard(epoch);
                }
                Err(RedisError::Timeout)
            }
        }
    }

    pub async fn ping(&self) -> Result<(), RedisError> {
        self.run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await }).await.map(|_| ())
    }
}
