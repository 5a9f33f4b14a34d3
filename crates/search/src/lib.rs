//! The catalog's listing and search served from an index in each instance's memory
//! ([`engine::Index`]), behind the catalog's [`ListingRepo`] port. PostgreSQL stays the system of
//! record: the index is loaded from it at start, follows its change feed ([`CatalogFeed`]) a few
//! times a second, and rebuilds when asked through the feed (every instance sees the request).
//! Until it has loaded, or while it cannot follow the feed, the PostgreSQL adapter answers
//! instead, so a fresh or stale instance still answers correctly.

pub mod engine;
pub mod text;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use catalog::{CatalogError, CatalogFeed, Facets, ListingQuery, ListingRepo, ProductSummary};
use uuid::Uuid;

pub use engine::Index;

/// An index that has not followed the feed for this long answers no more: PostgreSQL does.
pub const STALE_AFTER: Duration = Duration::from_secs(5);
/// An index that has not followed the feed for this long rebuilds instead (the feed keeps
/// entries for [`FEED_RETENTION`]; the ones it missed may be gone).
pub const REBUILD_AFTER: Duration = Duration::from_secs(600);
/// How long the feed keeps its entries (the sweeper prunes older ones).
pub const FEED_RETENTION: Duration = Duration::from_secs(3600);

/// What the index has read of the feed.
#[derive(Debug, Default)]
struct Position {
    horizon: u64,
    /// Entries at or above the horizon already applied (number → transaction).
    seen: HashMap<i64, u64>,
    /// When the feed last answered.
    last_read: Option<Instant>,
}

pub struct IndexedListing {
    index: RwLock<Index>,
    loaded: AtomicBool,
    position: Mutex<Position>,
    feed: Arc<dyn CatalogFeed>,
    fallback: Arc<dyn ListingRepo>,
    /// Products changed through the feed since start, and rebuilds (for metrics and tests).
    applied: AtomicU64,
    rebuilds: AtomicU64,
    /// One round of the feed at a time; the start of the last round that completed.
    round: tokio::sync::Mutex<Option<Instant>>,
}

/// The index's figures, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    pub products: usize,
    /// Distinct indexed words.
    pub words: usize,
    /// Answering queries (else PostgreSQL does).
    pub serving: bool,
    /// Full loads since start (the first included).
    pub rebuilds: u64,
    /// Products put in or taken out through the feed since start.
    pub changes: u64,
}

/// What one round of following the feed did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caught {
    /// These many products were put in or taken out.
    Applied(usize),
    /// A rebuild was asked for (or the index had not loaded): it now holds these many products.
    Rebuilt(usize),
}

impl IndexedListing {
    pub fn new(feed: Arc<dyn CatalogFeed>, fallback: Arc<dyn ListingRepo>) -> Arc<Self> {
        Arc::new(IndexedListing {
            index: RwLock::new(Index::new()),
            loaded: AtomicBool::new(false),
            position: Mutex::new(Position::default()),
            feed,
            fallback,
            applied: AtomicU64::new(0),
            rebuilds: AtomicU64::new(0),
            round: tokio::sync::Mutex::new(None),
        })
    }

    /// Whether queries are answered from the index (loaded, and the feed read recently).
    pub fn serving(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
            && self
                .position
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .last_read
                .is_some_and(|t| t.elapsed() < STALE_AFTER)
    }

    /// Products held.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> IndexStats {
        let index = self.read();
        IndexStats {
            products: index.len(),
            words: index.vocabulary_len(),
            serving: self.serving(),
            rebuilds: self.rebuilds.load(Ordering::Relaxed),
            changes: self.applied.load(Ordering::Relaxed),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads every active product into a new index and puts it in place of the old one.
    pub async fn rebuild(&self) -> Result<usize, CatalogError> {
        let started = Instant::now();
        let (products, horizon) = self.feed.snapshot().await?;
        let fresh = tokio::task::spawn_blocking(move || Index::of(products))
            .await
            .map_err(|e| CatalogError::Storage(primitives::StorageError::other(e)))?;
        let n = fresh.len();
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        *self.position.lock().unwrap_or_else(|p| p.into_inner()) =
            Position { horizon, seen: HashMap::new(), last_read: Some(Instant::now()) };
        self.loaded.store(true, Ordering::Release);
        self.rebuilds.fetch_add(1, Ordering::Relaxed);
        tracing::info!(products = n, millis = started.elapsed().as_millis() as u64, "search index built");
        Ok(n)
    }

    /// One round of following the feed: the changes since the last round are applied (or the
    /// index is rebuilt when one of them asks for it, or when it has not loaded yet).
    pub async fn catch_up(&self) -> Result<Caught, CatalogError> {
        let mut round = self.round.lock().await;
        let started = Instant::now();
        let caught = self.follow().await?;
        *round = Some(started);
        Ok(caught)
    }

    /// Makes the index hold every change committed before this call: a round of the feed that
    /// started after it (one running already, or one started here; concurrent callers share it).
    pub async fn catch_up_now(&self) -> Result<(), CatalogError> {
        let asked = Instant::now();
        let mut round = self.round.lock().await;
        if round.is_some_and(|started| started >= asked) {
            return Ok(());
        }
        let started = Instant::now();
        self.follow().await?;
        *round = Some(started);
        Ok(())
    }

    async fn follow(&self) -> Result<Caught, CatalogError> {
        let (horizon, last_read) = {
            let p = self.position.lock().unwrap_or_else(|p| p.into_inner());
            (p.horizon, p.last_read)
        };
        if !self.loaded.load(Ordering::Acquire) || last_read.is_none_or(|t| t.elapsed() > REBUILD_AFTER) {
            return self.rebuild().await.map(Caught::Rebuilt);
        }
        let (changes, next) = self.feed.changes(horizon).await?;
        let mut ids: Vec<Uuid> = Vec::new();
        let mut rebuild = false;
        {
            let position = self.position.lock().unwrap_or_else(|p| p.into_inner());
            for c in changes.iter().filter(|c| !position.seen.contains_key(&c.seq)) {
                match c.product {
                    Some(id) => ids.push(id),
                    None => rebuild = true,
                }
            }
        }
        if rebuild {
            return self.rebuild().await.map(Caught::Rebuilt);
        }
        ids.sort_unstable();
        ids.dedup();
        let products = if ids.is_empty() { Vec::new() } else { self.feed.products(&ids).await? };
        if !ids.is_empty() {
            let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
            let mut current: HashMap<Uuid, catalog::IndexedProduct> =
                products.into_iter().map(|p| (p.summary.id, p)).collect();
            for id in &ids {
                match current.remove(id) {
                    Some(p) => index.upsert(p),
                    // Deleted, or no longer active: not listed.
                    None => {
                        index.remove(*id);
                    }
                }
            }
            index.refresh_vocabulary();
        }
        let mut position = self.position.lock().unwrap_or_else(|p| p.into_inner());
        for c in &changes {
            position.seen.insert(c.seq, c.xid);
        }
        // Entries below the new horizon are never read again.
        position.seen.retain(|_, xid| *xid >= next);
        position.horizon = next;
        position.last_read = Some(Instant::now());
        self.applied.fetch_add(ids.len() as u64, Ordering::Relaxed);
        Ok(Caught::Applied(ids.len()))
    }

    /// Follows the feed every `every` until the process ends; failures are logged and retried
    /// (queries go to PostgreSQL while the index is stale).
    pub fn spawn(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut failures = 0u32;
            let mut pruned = Instant::now();
            loop {
                if pruned.elapsed() > FEED_RETENTION / 12 {
                    pruned = Instant::now();
                    match this.feed.prune(FEED_RETENTION.as_secs() as i64).await {
                        Ok(n) if n > 0 => tracing::debug!(entries = n, "catalog feed pruned"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "pruning the catalog feed failed"),
                    }
                }
                match this.catch_up().await {
                    Ok(_) => failures = 0,
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        if failures == 1 || failures.is_power_of_two() {
                            tracing::warn!(error = %e, failures, "the search index could not follow the catalog feed");
                        }
                    }
                }
                tokio::time::sleep(every).await;
            }
        })
    }
}

impl IndexedListing {
    /// Whether the index answers `q`: it is serving, and a caller who must see every commit
    /// (`latest`: a signed-in caller, an admin checking an edit) is answered after a round of
    /// the feed that started after the request.
    async fn answers(&self, q: &ListingQuery) -> bool {
        if !self.serving() {
            return false;
        }
        !q.latest || self.catch_up_now().await.is_ok()
    }
}

#[async_trait::async_trait]
impl ListingRepo for IndexedListing {
    async fn list(&self, q: &ListingQuery) -> Result<Vec<ProductSummary>, CatalogError> {
        if !self.answers(q).await {
            return self.fallback.list(q).await;
        }
        Ok(self.read().list(q))
    }

    async fn facets(&self, q: &ListingQuery) -> Result<Facets, CatalogError> {
        if !self.answers(q).await {
            return self.fallback.facets(q).await;
        }
        Ok(self.read().facets(q))
    }

    async fn page(
        &self,
        q: &ListingQuery,
        facets: bool,
    ) -> Result<(Vec<ProductSummary>, Option<Facets>), CatalogError> {
        if !self.answers(q).await {
            return self.fallback.page(q, facets).await;
        }
        Ok(self.read().page(q, facets))
    }

    fn live(&self) -> bool {
        self.serving()
    }

    async fn changed(&self) {
        if self.loaded.load(Ordering::Acquire)
            && let Err(e) = self.catch_up_now().await
        {
            tracing::warn!(error = %e, "the search index could not catch up after a catalog write");
        }
    }
}
