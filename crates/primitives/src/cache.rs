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
    /// Whether the shared backend is reachable right now (false: running on the local fallback).
    async fn healthy(&self) -> bool;
}
