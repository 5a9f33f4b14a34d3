//! A near cache: hot entries copied into process memory in front of Redis, so a cached read costs
//! no round trip. Copies stay coherent across instances through Redis pub/sub: every invalidation
//! is published by the same Lua call that bumps the key's generation, and every instance drops its
//! copy when the message arrives.
//!
//! The copies are only trusted while this instance's subscription is live. When it drops (Redis
//! restarts, a ping goes unanswered) every copy is discarded and none is served or stored until the
//! instance has subscribed again; a message missed in between therefore cannot leave a stale copy.
//! A fill that races an invalidation is not stored: every invalidation seen bumps an epoch, and a
//! copy is kept only if the epoch did not move while its value was being read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use primitives::{Cache, CacheError, NearStats};

use crate::{Redis, RedisCache};

#[derive(Debug, Clone, Copy)]
pub struct NearConfig {
    /// How long a copy is served without asking Redis (also bounds staleness of keys that only
    /// expire with their TTL). Zero turns the near cache off.
    pub ttl: Duration,
    /// Upper bound on the bytes of values held; past it, expired and then arbitrary copies go.
    pub max_bytes: usize,
}

struct Entry {
    expires: Instant,
    value: Arc<[u8]>,
}

#[derive(Default)]
struct Copies {
    map: HashMap<String, Entry>,
    bytes: usize,
}

impl Copies {
    fn remove(&mut self, key: &str) {
        if let Some(e) = self.map.remove(key) {
            self.bytes -= e.value.len() + key.len();
        }
    }

    fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }

    fn recount(&mut self) {
        self.bytes = self.map.iter().map(|(k, e)| k.len() + e.value.len()).sum();
    }
}

/// State shared with the subscriber task.
struct Shared {
    copies: Mutex<Copies>,
    /// Bumped by every invalidation seen (made here or received) and every change of `live`.
    epoch: AtomicU64,
    live: AtomicBool,
    max_bytes: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Shared {
    fn copies(&self) -> std::sync::MutexGuard<'_, Copies> {
        self.copies.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &str) -> Option<Arc<[u8]>> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        let mut copies = self.copies();
        match copies.map.get(key) {
            Some(e) if e.expires > Instant::now() => Some(Arc::clone(&e.value)),
            Some(_) => {
                copies.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps a copy read while the epoch was `epoch`, unless something was invalidated since.
    fn put(&self, key: &str, value: &[u8], ttl: Duration, epoch: u64) {
        let size = value.len() + key.len();
        if size > self.max_bytes / 16 {
            return; // one entry may not crowd out the rest
        }
        let mut copies = self.copies();
        // Checked under the lock that `drop_key` and `reset` also take: an invalidation either
        // ran before (the epoch moved) or runs after and removes this copy.
        if !self.live.load(Ordering::Acquire) || self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        copies.remove(key);
        if copies.bytes + size > self.max_bytes {
            let now = Instant::now();
            copies.map.retain(|_, e| e.expires > now);
            copies.recount();
            // Still too full: drop about half, in the map's (arbitrary) order.
            let mut excess = (copies.bytes + size).saturating_sub(self.max_bytes / 2);
            if copies.bytes + size > self.max_bytes {
                copies.map.retain(|k, e| {
                    if excess == 0 {
                        return true;
                    }
                    excess = excess.saturating_sub(k.len() + e.value.len());
                    false
                });
                copies.recount();
            }
        }
        copies.map.insert(key.to_owned(), Entry { expires: Instant::now() + ttl, value: Arc::from(value) });
        copies.bytes += size;
    }

    fn drop_key(&self, key: &str) {
        let mut copies = self.copies();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        copies.remove(key);
    }

    /// Forgets every copy and sets whether copies may be used from now on.
    fn reset(&self, live: bool) {
        let mut copies = self.copies();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.live.store(live, Ordering::Release);
        copies.clear();
    }
}

/// The near cache in front of [`RedisCache`] (which keeps its own fallback for Redis outages).
pub struct NearCache {
    remote: RedisCache,
    shared: Arc<Shared>,
    ttl: Duration,
    task: tokio::task::JoinHandle<()>,
}

impl NearCache {
    /// Wraps `remote` and starts the subscriber on the current tokio runtime.
    pub fn new(redis: Redis, cfg: NearConfig) -> Self {
        let shared = Arc::new(Shared {
            copies: Mutex::new(Copies::default()),
            epoch: AtomicU64::new(0),
            live: AtomicBool::new(false),
            max_bytes: cfg.max_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        });
        let task = tokio::spawn(subscribe(redis.clone(), Arc::clone(&shared)));
        NearCache { remote: RedisCache::new(redis), shared, ttl: cfg.ttl, task }
    }

    /// Whether copies are being served (the subscription is live).
    pub fn live(&self) -> bool {
        self.shared.live.load(Ordering::Acquire)
    }
}

impl Drop for NearCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keeps a subscription to the invalidation channel, dropping copies as messages arrive; on any
/// failure it forgets every copy and subscribes again after a pause.
async fn subscribe(redis: Redis, shared: Arc<Shared>) {
    let channel = redis.invalidation_channel();
    let timeout = redis.timeout();
    let mut warned = false;
    loop {
        shared.reset(false);
        let connected = tokio::time::timeout(timeout.max(Duration::from_millis(500)), async {
            let (mut sink, stream) = redis.client().get_async_pubsub().await?.split();
            sink.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>((sink, stream))
        })
        .await;
        let (mut sink, mut stream) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                if !warned {
                    tracing::warn!(error = %e, "near cache off: cannot subscribe to invalidations");
                    warned = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if warned {
            tracing::info!("near cache on again: subscribed to invalidations");
        }
        shared.reset(true);
        let mut ping = tokio::time::interval(Duration::from_secs(1));
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => shared.drop_key(&String::from_utf8_lossy(msg.get_payload_bytes())),
                    None => break,
                },
                _ = ping.tick() => {
                    // A subscribed connection answers PING with ["pong", ""]: any answer will do.
                    let answered = tokio::time::timeout(timeout.max(Duration::from_millis(500)), sink.ping::<redis::Value>()).await;
                    if !matches!(answered, Ok(Ok(_))) {
                        break;
                    }
                }
            }
        }
        shared.reset(false);
        tracing::warn!("near cache off: the invalidation subscription dropped; resubscribing");
        warned = true;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[async_trait::async_trait]
impl Cache for NearCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        if let Some(v) = self.shared.get(key) {
            self.shared.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(v.to_vec()));
        }
        self.shared.misses.fetch_add(1, Ordering::Relaxed);
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        let value = self.remote.get(key).await?;
        if let Some(v) = &value {
            self.shared.put(key, v, self.ttl, epoch);
        }
        Ok(value)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.shared.drop_key(key);
        self.remote.set(key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.shared.drop_key(key);
        self.remote.delete(key).await
    }

    async fn generation(&self, key: &str) -> Result<u64, CacheError> {
        self.remote.generation(key).await
    }

    async fn set_if_generation(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        generation: u64,
    ) -> Result<bool, CacheError> {
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        let stored = self.remote.set_if_generation(key, value, ttl, generation).await?;
        if stored {
            self.shared.put(key, value, self.ttl.min(ttl), epoch);
        }
        Ok(stored)
    }

    async fn invalidate(&self, key: &str) -> Result<(), CacheError> {
        self.shared.drop_key(key);
        self.remote.invalidate(key).await
    }

    async fn healthy(&self) -> bool {
        self.remote.healthy().await
    }

    fn near_stats(&self) -> Option<NearStats> {
        let (entries, bytes) = {
            let copies = self.shared.copies();
            (copies.map.len(), copies.bytes)
        };
        Some(NearStats {
            hits: self.shared.hits.load(Ordering::Relaxed),
            misses: self.shared.misses.load(Ordering::Relaxed),
            entries,
            bytes,
            live: self.live(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(max_bytes: usize) -> Shared {
        let s = Shared {
            copies: Mutex::new(Copies::default()),
            epoch: AtomicU64::new(0),
            live: AtomicBool::new(false),
            max_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        };
        s.reset(true);
        s
    }

    #[test]
    fn a_fill_that_races_an_invalidation_is_not_kept() {
        let s = shared(1 << 20);
        let epoch = s.epoch.load(Ordering::Acquire);
        s.drop_key("other"); // any invalidation while the value was read
        s.put("k", b"old", Duration::from_secs(5), epoch);
        assert!(s.get("k").is_none());
        let epoch = s.epoch.load(Ordering::Acquire);
        s.put("k", b"new", Duration::from_secs(5), epoch);
        assert_eq!(s.get("k").as_deref(), Some(&b"new"[..]));
        s.drop_key("k");
        assert!(s.get("k").is_none());
    }

    #[test]
    fn nothing_is_served_or_kept_without_the_subscription() {
        let s = shared(1 << 20);
        let epoch = s.epoch.load(Ordering::Acquire);
        s.put("k", b"v", Duration::from_secs(5), epoch);
        s.reset(false);
        assert!(s.get("k").is_none());
        let epoch = s.epoch.load(Ordering::Acquire);
        s.put("k", b"v", Duration::from_secs(5), epoch);
        s.reset(true);
        assert!(s.get("k").is_none(), "copies made while off are gone");
    }

    #[test]
    fn stays_within_its_byte_budget_and_expires() {
        let s = shared(16 * 100);
        for i in 0..200 {
            let epoch = s.epoch.load(Ordering::Acquire);
            s.put(&format!("key{i:03}"), &[0u8; 50], Duration::from_secs(5), epoch);
            assert!(s.copies().bytes <= 1600, "{}", s.copies().bytes);
        }
        let c = s.copies();
        assert_eq!(c.bytes, c.map.iter().map(|(k, e)| k.len() + e.value.len()).sum::<usize>());
        drop(c);
        let epoch = s.epoch.load(Ordering::Acquire);
        s.put("short", b"v", Duration::ZERO, epoch);
        assert!(s.get("short").is_none());
    }
}
