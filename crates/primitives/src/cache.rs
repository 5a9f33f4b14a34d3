//! The cache port. Domain services cache bytes under string keys; the adapter decides where they
//! live (Redis, process memory). A cache is an accelerator: every error is survivable, so callers
//! treat failures as misses.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("cache unavailable: {0}")]
pub struct CacheError(pub String);

#[async_trait::async_trait]
pub trait Cache: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError>;
    async fn delete(&self, key: &str) -> Result<(), CacheError>;

    // Race-free cache-aside. A reader that misses reads the key's generation *before* loading
    // from the database and stores its result only if the generation is unchanged; a writer
    // bumps the generation (and drops the value) *after* committing. A reader that loaded data
    // older than a concurrent write therefore never stores it.

    /// The current generation of `key` (0 when none was recorded).
    async fn generation(&self, key: &str) -> Result<u64, CacheError>;
    /// Stores `value` only if `key`'s generation is still `generation`; returns whether it did.
    async fn set_if_generation(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        generation: u64,
    ) -> Result<bool, CacheError>;
    /// Bumps `key`'s generation and drops its value.
    async fn invalidate(&self, key: &str) -> Result<(), CacheError>;
    /// Whether the shared backend is reachable right now (false: running on the local fallback).
    async fn healthy(&self) -> bool;
    /// Figures of the in-process copies, for adapters that keep them.
    fn near_stats(&self) -> Option<NearStats> {
        None
    }
}

/// Cache-aside with the generation check: a miss reads `key`'s generation, then `load`s, and
/// stores the result only if no invalidation came in between, so a value loaded before a
/// concurrent write is never stored. Cache failures count as misses; `None` is not cached.
pub async fn read_through<E, F, Fut>(cache: &dyn Cache, key: &str, ttl: Duration, load: F) -> Result<Option<Vec<u8>>, E>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Option<Vec<u8>>, E>>,
{
    if let Ok(Some(hit)) = cache.get(key).await {
        return Ok(Some(hit));
    }
    let generation = cache.generation(key).await.ok();
    let Some(bytes) = load().await? else { return Ok(None) };
    if let Some(g) = generation {
        let _ = cache.set_if_generation(key, &bytes, ttl, g).await;
    }
    Ok(Some(bytes))
}

/// What a near cache (in-process copies in front of a shared cache) has done since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NearStats {
    /// Reads answered from a copy.
    pub hits: u64,
    /// Reads that went to the shared cache.
    pub misses: u64,
    pub entries: usize,
    pub bytes: usize,
    /// Whether copies are being served (its invalidation channel is live).
    pub live: bool,
}
