use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use primitives::{Cache, CacheError};

/// A bounded in-process cache with per-entry expiry: the fallback while Redis is away, and the
/// cache of a single instance run without Redis.
pub struct MemoryCache {
    entries: Mutex<HashMap<String, (Instant, Vec<u8>)>>,
    generations: Mutex<HashMap<String, u64>>,
    capacity: usize,
}

impl MemoryCache {
    pub fn new(capacity: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), generations: Mutex::new(HashMap::new()), capacity }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Vec<u8>)>> {
        // A panic while holding the lock cannot leave the map inconsistent; keep serving.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get_now(&self, key: &str) -> Option<Vec<u8>> {
        let mut map = self.lock();
        match map.get(key) {
            Some((expires, v)) if *expires > Instant::now() => Some(v.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn set_now(&self, key: &str, value: &[u8], ttl: Duration) {
        let mut map = self.lock();
        if map.len() >= self.capacity && !map.contains_key(key) {
            let now = Instant::now();
            map.retain(|_, (exp, _)| *exp > now);
            if map.len() >= self.capacity {
                // Still full of live entries: drop everything rather than grow without bound.
                map.clear();
            }
        }
        map.insert(key.to_owned(), (Instant::now() + ttl, value.to_vec()));
    }

    pub fn delete_now(&self, key: &str) {
        self.lock().remove(key);
    }

    fn gens(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.generations.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn generation_now(&self, key: &str) -> u64 {
        self.gens().get(key).copied().unwrap_or(0)
    }

    pub fn set_if_generation_now(&self, key: &str, value: &[u8], ttl: Duration, generation: u64) -> bool {
        let gens = self.gens();
        if gens.get(key).copied().unwrap_or(0) != generation {
            return false;
        }
        self.set_now(key, value, ttl);
        true
    }

    pub fn invalidate_now(&self, key: &str) {
        let mut gens = self.gens();
        if gens.len() > self.capacity * 4 {
            gens.clear(); // a reset generation only makes in-flight fills look current: drop them too
            self.lock().clear();
        }
        *gens.entry(key.to_owned()).or_insert(0) += 1;
        self.lock().remove(key);
    }
}

#[async_trait::async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.get_now(key))
    }
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.set_now(key, value, ttl);
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.delete_now(key);
        Ok(())
    }
    async fn generation(&self, key: &str) -> Result<u64, CacheError> {
        Ok(self.generation_now(key))
    }
    async fn set_if_generation(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        generation: u64,
    ) -> Result<bool, CacheError> {
        Ok(self.set_if_generation_now(key, value, ttl, generation))
    }
    async fn invalidate(&self, key: &str) -> Result<(), CacheError> {
        self.invalidate_now(key);
        Ok(())
    }
    async fn healthy(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_and_capacity() {
        let c = MemoryCache::new(2);
        c.set_now("a", b"1", Duration::from_secs(60));
        c.set_now("b", b"2", Duration::ZERO);
        assert_eq!(c.get_now("a").as_deref(), Some(&b"1"[..]));
        assert_eq!(c.get_now("b"), None);
        c.set_now("c", b"3", Duration::from_secs(60));
        c.set_now("d", b"4", Duration::from_secs(60));
        assert!(c.lock().len() <= 2);
        c.delete_now("d");
        assert_eq!(c.get_now("d"), None);
    }

    #[test]
    fn stale_fill_after_invalidate_is_refused() {
        let c = MemoryCache::new(10);
        let g = c.generation_now("k");
        c.invalidate_now("k"); // a writer commits and invalidates while the reader loads
        assert!(!c.set_if_generation_now("k", b"old", Duration::from_secs(60), g));
        assert_eq!(c.get_now("k"), None);
        let g = c.generation_now("k");
        assert!(c.set_if_generation_now("k", b"new", Duration::from_secs(60), g));
        assert_eq!(c.get_now("k").as_deref(), Some(&b"new"[..]));
    }
}
