use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use primitives::{Cache, CacheError};
use redis::AsyncCommands;
use redis::Script;

use crate::{MemoryCache, Redis};

#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub url: String,
    pub key_prefix: String,
    pub pool_size: usize,
    pub timeout: Duration,
}

/// Cache port over Redis. When a Redis call fails the cache switches to its in-process fallback
/// for a short back-off and then tries Redis again, so an outage costs one timeout per back-off
/// window rather than one per request.
/// Stores ARGV[1] under KEYS[1] for ARGV[2] ms if the generation KEYS[2] still equals ARGV[3].
const SET_IF_GEN: &str = r#"
local g = redis.call('GET', KEYS[2]) or '0'
if g == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"#;

/// Bumps the generation KEYS[2] (kept for an hour, far longer than any load), drops KEYS[1] and
/// tells every instance's near cache (channel ARGV[1], the unprefixed key ARGV[2]).
const INVALIDATE: &str = r#"
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 3600000)
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
"#;

pub struct RedisCache {
    redis: Redis,
    set_if_gen: Script,
    invalidate: Script,
    fallback: MemoryCache,
    started: Instant,
    /// Milliseconds since `started` before which Redis is not tried again.
    down_until_ms: AtomicU64,
    backoff: Duration,
}

impl RedisCache {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            set_if_gen: Script::new(SET_IF_GEN),
            invalidate: Script::new(INVALIDATE),
            fallback: MemoryCache::new(10_000),
            started: Instant::now(),
            down_until_ms: AtomicU64::new(0),
            backoff: Duration::from_secs(1),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn redis_usable(&self) -> bool {
        self.now_ms() >= self.down_until_ms.load(Ordering::Relaxed)
    }

    fn mark_down(&self, err: &crate::RedisError) {
        let until = self.now_ms() + self.backoff.as_millis() as u64;
        let previous = self.down_until_ms.swap(until, Ordering::Relaxed);
        if previous <= self.now_ms() {
            tracing::warn!(error = %err, "redis unreachable; serving the cache from process memory");
        }
    }
}

#[async_trait::async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        if self.redis_usable() {
            let k = self.redis.key(key);
            match self.redis.run(|mut c| async move { c.get::<_, Option<Vec<u8>>>(k).await }).await {
                Ok(v) => return Ok(v),
                Err(e) => self.mark_down(&e),
            }
        }
        Ok(self.fallback.get_now(key))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        if self.redis_usable() {
            let k = self.redis.key(key);
            let v = value.to_vec();
            let ms = ttl.as_millis().max(1) as u64;
            let (channel, key) = (self.redis.invalidation_channel(), key.to_owned());
            let set = |mut c: redis::aio::MultiplexedConnection| async move {
                redis::pipe().pset_ex(k, v, ms).ignore().publish(channel, key).ignore().query_async::<()>(&mut c).await
            };
            match self.redis.run(set).await {
                Ok(()) => return Ok(()),
                Err(e) => self.mark_down(&e),
            }
        }
        self.fallback.set_now(key, value, ttl);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        // Always drop the local copy too: it may have been filled during an outage.
        self.fallback.delete_now(key);
        let (k, channel, key) = (self.redis.key(key), self.redis.invalidation_channel(), key.to_owned());
        let delete = |mut c: redis::aio::MultiplexedConnection| async move {
            redis::pipe().del(k).ignore().publish(channel, key).ignore().query_async::<()>(&mut c).await
        };
        self.redis.run(delete).await.map_err(|e| {
            self.mark_down(&e);
            CacheError(e.to_string())
        })
    }

    async fn generation(&self, key: &str) -> Result<u64, CacheError> {
        if self.redis_usable() {
            let k = self.redis.key(&format!("{key}:gen"));
            match self.redis.run(|mut c| async move { c.get::<_, Option<u64>>(k).await }).await {
                Ok(v) => return Ok(v.unwrap_or(0)),
                Err(e) => self.mark_down(&e),
            }
        }
        Ok(self.fallback.generation_now(key))
    }

    async fn set_if_generation(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        generation: u64,
    ) -> Result<bool, CacheError> {
        if self.redis_usable() {
            let (k, g) = (self.redis.key(key), self.redis.key(&format!("{key}:gen")));
            let v = value.to_vec();
            let ms = ttl.as_millis().max(1) as u64;
            let script = &self.set_if_gen;
            let result = self
                .redis
                .run(|mut c| async move {
                    script.key(k).key(g).arg(v).arg(ms).arg(generation.to_string()).invoke_async::<i64>(&mut c).await
                })
                .await;
            match result {
                Ok(stored) => return Ok(stored == 1),
                Err(e) => self.mark_down(&e),
            }
        }
        Ok(self.fallback.set_if_generation_now(key, value, ttl, generation))
    }

    async fn invalidate(&self, key: &str) -> Result<(), CacheError> {
        self.fallback.invalidate_now(key);
        let (k, g) = (self.redis.key(key), self.redis.key(&format!("{key}:gen")));
        let (channel, key) = (self.redis.invalidation_channel(), key.to_owned());
        let script = &self.invalidate;
        self.redis
            .run(|mut c| async move { script.key(k).key(g).arg(channel).arg(key).invoke_async::<i64>(&mut c).await })
            .await
            .map(|_| ())
            .map_err(|e| {
                self.mark_down(&e);
                CacheError(e.to_string())
            })
    }

    async fn healthy(&self) -> bool {
        match self.redis.ping().await {
            Ok(()) => {
                self.down_until_ms.store(0, Ordering::Relaxed);
                true
            }
            Err(e) => {
                self.mark_down(&e);
                false
            }
        }
    }
}
