use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use primitives::{Cache, Currency, Money, Page, PageRequest, StorageError};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::query::{Facets, ListingCursor, ListingQuery, ProductPage, Sort};
use crate::{
    CatalogError, CatalogRepo, Category, CategoryNode, CategoryPatch, CategoryRef, LedgerEntry, ListingRepo,
    NewCategory, NewProduct, NewVariant, Product, ProductPatch, ProductStatus, StockAdjustment, Variant, VariantPatch,
    category_tree, descendants,
};

#[derive(Debug, Clone, Copy)]
pub struct DetailCacheConfig {
    /// Whether product detail is cached at all (benchmarks turn it off).
    pub enabled: bool,
    pub ttl: Duration,
    /// Facet counts of a filter set are reused this long.
    pub facets_ttl: Duration,
    /// Anonymous listing and search pages are fresh this long, then served stale for as long
    /// again while they are refreshed (zero: not cached). Catalog writes start a new listing
    /// version, so they show at once; stock sold by checkouts and ratings from reviews may take
    /// up to twice this long to show in listings (product detail shows them at once).
    pub listing_ttl: Duration,
}

/// Holds the current listing version (see [`CatalogService::listing_version`]).
const LISTING_VERSION_KEY: &str = "catalog:listing-version:v1";

/// The public representation of a variant: availability, not stock counts.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicVariant {
    pub id: Uuid,
    pub sku: String,
    /// Option values such as `{"size": "M", "colour": "red"}` (any JSON values).
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::HashMap<String, serde_json::Value>))]
    pub options: Map<String, Value>,
    pub price: Money,
    pub compare_at_price: Option<Money>,
    pub available: bool,
}

/// The public representation of an active product.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicProduct {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub category: Option<CategoryRef>,
    pub brand: Option<String>,
    /// Free-form attributes such as `{"material": "cotton"}` (any JSON values).
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::HashMap<String, serde_json::Value>))]
    pub attributes: Map<String, Value>,
    pub images: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "EUR"))]
    pub currency: Currency,
    pub price_min: Money,
    pub price_max: Money,
    pub in_stock: bool,
    pub rating_average: Option<f64>,
    pub rating_count: i32,
    pub variants: Vec<PublicVariant>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Product> for PublicProduct {
    fn from(p: &Product) -> Self {
        let active: Vec<&Variant> = p.variants.iter().filter(|v| v.active).collect();
        let price = |f: fn(i64, i64) -> i64| {
            let amount = active.iter().map(|v| v.price.amount_minor).reduce(f).unwrap_or(0);
            Money::new(amount, p.currency)
        };
        PublicProduct {
            id: p.id,
            slug: p.slug.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            category: p.category.clone(),
            brand: p.brand.clone(),
            attributes: p.attributes.clone(),
            images: p.images.clone(),
            currency: p.currency,
            price_min: price(i64::min),
            price_max: price(i64::max),
            in_stock: active.iter().any(|v| v.stock > 0),
            rating_average: p.rating_average(),
            rating_count: p.rating_count,
            variants: active
                .iter()
                .map(|v| PublicVariant {
                    id: v.id,
                    sku: v.sku.clone(),
                    options: v.options.clone(),
                    price: v.price,
                    compare_at_price: v.compare_at_price,
                    available: v.stock > 0,
                })
                .collect(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A serialised public product and its entity tag.
#[derive(Debug, Clone)]
pub struct ProductDetail {
    pub body: Vec<u8>,
    pub etag: String,
}

impl ProductDetail {
    fn new(body: Vec<u8>) -> Self {
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..12]));
        ProductDetail { body, etag }
    }
}

const CATEGORIES_KEY: &str = "catalog:categories:v1";

fn product_key(id: Uuid) -> String {
    format!("catalog:product:v1:{id}")
}

fn slug_key(slug: &str) -> String {
    format!("catalog:slug:v1:{slug}")
}

pub struct CatalogService {
    repo: Arc<dyn CatalogRepo>,
    /// Listing and search: the repository's own SQL, or an index in front of it.
    listing: Arc<dyn ListingRepo>,
    cache: Arc<dyn Cache>,
    cfg: DetailCacheConfig,
    /// Listing pages being refreshed in the background by this instance.
    refreshing: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The category list last decoded and the cached JSON it came from: a listing filtered by
    /// category resolves it on every request, and decoding the same bytes again is most of that.
    decoded_categories: std::sync::Mutex<Option<DecodedCategories>>,
}

/// The cached JSON of the category list and what it decoded to.
type DecodedCategories = (Vec<u8>, Arc<Vec<Category>>);

impl CatalogService {
    pub fn new(repo: Arc<dyn CatalogRepo>, cache: Arc<dyn Cache>, cfg: DetailCacheConfig) -> Self {
        let listing: Arc<dyn ListingRepo> = repo.clone();
        CatalogService {
            repo,
            listing,
            cache,
            cfg,
            refreshing: Default::default(),
            decoded_categories: Default::default(),
        }
    }

    /// Listing and search answered by `listing` (a search index) instead of the repository.
    pub fn with_listing(mut self, listing: Arc<dyn ListingRepo>) -> Self {
        self.listing = listing;
        self
    }

    /// [`primitives::cache::read_through`] of a value stored as JSON.
    async fn cached<T, F, Fut>(&self, key: &str, ttl: Duration, load: F) -> Result<Option<Vec<u8>>, CatalogError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>, CatalogError>>,
        T: Serialize,
    {
        primitives::cache::read_through(self.cache.as_ref(), key, ttl, || async {
            let Some(value) = load().await? else { return Ok(None) };
            serde_json::to_vec(&value).map(Some).map_err(|e| CatalogError::Storage(StorageError::other(e)))
        })
        .await
    }

    async fn invalidate(&self, key: &str) {
        if let Err(e) = self.cache.invalidate(key).await {
            tracing::warn!(key, error = %e, "cache invalidation failed; the entry expires with its TTL");
        }
    }

    /// The version of listings: cached pages and facets carry it in their keys, and every catalog
    /// write starts a new one. It is the generation of its own cache key, stored as that key's
    /// value, so reading it is a cache hit (in process, with the near cache) and a write is one
    /// invalidation, announced to every instance.
    async fn listing_version(&self) -> u64 {
        if let Ok(Some(v)) = self.cache.get(LISTING_VERSION_KEY).await
            && let Some(v) = std::str::from_utf8(&v).ok().and_then(|v| v.parse().ok())
        {
            return v;
        }
        let Ok(g) = self.cache.generation(LISTING_VERSION_KEY).await else { return 0 };
        let _ = self.cache.set_if_generation(LISTING_VERSION_KEY, g.to_string().as_bytes(), self.cfg.ttl, g).await;
        g
    }

    /// After a catalog write: every cached listing page and facet count is out of date, and an
    /// index in front of the listing catches up before the write is answered.
    async fn listings_changed(&self) {
        self.invalidate(LISTING_VERSION_KEY).await;
        self.listing.changed().await;
    }

    /// After a write elsewhere that listings show (a rating): an index catches up before the
    /// write is answered (cached pages show it within their lifetime).
    pub async fn listing_changed(&self) {
        self.listing.changed().await;
    }

    // ---- categories -------------------------------------------------------------------------

    pub async fn categories(&self) -> Result<Vec<Category>, CatalogError> {
        Ok(self.category_list().await?.as_ref().clone())
    }

    /// The categories as cached (read through), decoded once per version of the cached JSON.
    async fn category_list(&self) -> Result<Arc<Vec<Category>>, CatalogError> {
        let bytes = self
            .cached(CATEGORIES_KEY, self.cfg.ttl, || async { self.repo.categories().await.map(Some) })
            .await?
            .unwrap_or_default();
        let mut memo = self.decoded_categories.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, list)) = memo.as_ref()
            && *seen == bytes
        {
            return Ok(Arc::clone(list));
        }
        let list: Arc<Vec<Category>> = Arc::new(serde_json::from_slice(&bytes).unwrap_or_default());
        *memo = Some((bytes, Arc::clone(&list)));
        Ok(list)
    }

    pub async fn category_tree(&self) -> Result<Vec<CategoryNode>, CatalogError> {
        Ok(category_tree(self.categories().await?))
    }

    /// A category by slug, with its sub-tree.
    pub async fn category(&self, slug: &str) -> Result<CategoryNode, CatalogError> {
        let all = self.categories().await?;
        let root = all.iter().find(|c| c.slug == slug).ok_or(CatalogError::NotFound)?.id;
        fn find(nodes: Vec<CategoryNode>, id: Uuid) -> Option<CategoryNode> {
            for n in nodes {
                if n.category.id == id {
                    return Some(n);
                }
                if let Some(found) = find(n.children, id) {
                    return Some(found);
                }
            }
            None
        }
        find(category_tree(all), root).ok_or(CatalogError::NotFound)
    }

    pub async fn create_category(&self, c: NewCategory) -> Result<Category, CatalogError> {
        let created = self.repo.create_category(&c).await?;
        self.invalidate(CATEGORIES_KEY).await;
        self.listings_changed().await;
        Ok(created)
    }

    pub async fn update_category(&self, id: Uuid, p: CategoryPatch) -> Result<Category, CatalogError> {
        let updated = self.repo.update_category(id, &p).await?;
        self.invalidate(CATEGORIES_KEY).await;
        self.listings_changed().await;
        Ok(updated)
    }

    pub async fn delete_category(&self, id: Uuid) -> Result<(), CatalogError> {
        self.repo.delete_category(id).await?;
        self.invalidate(CATEGORIES_KEY).await;
        self.listings_changed().await;
        Ok(())
    }

    // ---- product detail ---------------------------------------------------------------------

    async fn resolve(&self, id_or_slug: &str) -> Result<Option<Uuid>, CatalogError> {
        if let Ok(id) = id_or_slug.parse::<Uuid>() {
            return Ok(Some(id));
        }
        // Only a well-formed slug can exist; anything else (NUL bytes included) is not found.
        if id_or_slug.is_empty()
            || id_or_slug.len() > 120
            || !id_or_slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Ok(None);
        }
        if !self.cfg.enabled {
            return self.repo.product_id_by_slug(id_or_slug).await;
        }
        let key = slug_key(id_or_slug);
        let bytes = self.cached(&key, self.cfg.ttl, || self.repo.product_id_by_slug(id_or_slug)).await?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// The public detail of an active product, by id or slug, served cache-aside.
    pub async fn detail(&self, id_or_slug: &str) -> Result<ProductDetail, CatalogError> {
        let id = self.resolve(id_or_slug).await?.ok_or(CatalogError::NotFound)?;
        let load = || async {
            Ok(self
                .repo
                .product(id)
                .await?
                .filter(|p| p.status == ProductStatus::Active)
                .map(|p| PublicProduct::from(&p)))
        };
        let body = if self.cfg.enabled {
            self.cached(&product_key(id), self.cfg.ttl, load).await?
        } else {
            load().await?.map(|p| serde_json::to_vec(&p).unwrap_or_default())
        };
        body.map(ProductDetail::new).ok_or(CatalogError::NotFound)
    }

    /// Drops the cached detail of products whose public view changed (for example when a sale
    /// takes a variant's stock to zero).
    pub async fn invalidate_products(&self, ids: &[Uuid]) {
        for id in ids {
            self.invalidate(&product_key(*id)).await;
        }
    }

    // ---- admin: products ----------------------------------------------------------------------

    pub async fn product(&self, id: Uuid) -> Result<Product, CatalogError> {
        self.repo.product(id).await?.ok_or(CatalogError::NotFound)
    }

    pub async fn create_product(&self, p: NewProduct, actor: Uuid) -> Result<Product, CatalogError> {
        check_unique_skus(&p.variants)?;
        let created = self.repo.create_product(&p, actor).await?;
        // A cached "not found" never exists (misses are not stored), but a slug may have pointed
        // at a deleted product.
        self.invalidate(&slug_key(&created.slug)).await;
        self.listings_changed().await;
        Ok(created)
    }

    pub async fn update_product(
        &self,
        id: Uuid,
        p: ProductPatch,
        expected_version: Option<i32>,
    ) -> Result<Product, CatalogError> {
        let before = self.product(id).await?;
        let updated = self.repo.update_product(id, &p, expected_version).await?;
        self.invalidate(&product_key(id)).await;
        if before.slug != updated.slug {
            self.invalidate(&slug_key(&before.slug)).await;
            self.invalidate(&slug_key(&updated.slug)).await;
        }
        self.listings_changed().await;
        Ok(updated)
    }

    pub async fn delete_product(&self, id: Uuid) -> Result<(), CatalogError> {
        let before = self.product(id).await?;
        self.repo.delete_product(id).await?;
        self.invalidate(&product_key(id)).await;
        self.invalidate(&slug_key(&before.slug)).await;
        self.listings_changed().await;
        Ok(())
    }

    pub async fn add_variant(&self, product: Uuid, v: NewVariant, actor: Uuid) -> Result<Variant, CatalogError> {
        let created = self.repo.add_variant(product, &v, actor).await?;
        self.invalidate(&product_key(product)).await;
        self.listings_changed().await;
        Ok(created)
    }

    pub async fn update_variant(&self, id: Uuid, p: VariantPatch) -> Result<Variant, CatalogError> {
        let (variant, product) = self.repo.update_variant(id, &p).await?;
        self.invalidate(&product_key(product)).await;
        self.listings_changed().await;
        Ok(variant)
    }

    pub async fn delete_variant(&self, id: Uuid) -> Result<(), CatalogError> {
        let product = self.repo.delete_variant(id).await?;
        self.invalidate(&product_key(product)).await;
        self.listings_changed().await;
        Ok(())
    }

    pub async fn adjust_stock(
        &self,
        variant: Uuid,
        adj: StockAdjustment,
        actor: Uuid,
    ) -> Result<LedgerEntry, CatalogError> {
        let (entry, product) =
            self.repo.adjust_stock(variant, adj.delta, adj.reason.into(), Some(actor), adj.note.as_deref()).await?;
        self.invalidate(&product_key(product)).await;
        self.listings_changed().await;
        Ok(entry)
    }

    /// A variant's ledger, oldest first.
    pub async fn ledger(&self, variant: Uuid, page: &PageRequest<i64>) -> Result<Page<LedgerEntry>, CatalogError> {
        let rows = self.repo.ledger(variant, page).await?;
        Ok(Page::cut(rows, page.limit, |e| e.id))
    }

    // ---- listing ------------------------------------------------------------------------------

    /// Resolves a category filter (slug or id) to the category and all its descendants.
    pub async fn category_filter(&self, slug_or_id: &str) -> Result<Vec<Uuid>, CatalogError> {
        let all = self.category_list().await?;
        let id = slug_or_id.parse::<Uuid>().ok();
        let root = all
            .iter()
            .find(|c| c.slug == slug_or_id || Some(c.id) == id)
            .ok_or(CatalogError::Invalid { field: "category", message: "no such category".into() })?
            .id;
        Ok(descendants(root, &all))
    }

    /// A listing or search page as JSON. Anonymous pages come from the cache, under the current
    /// listing version (so catalog writes show at once): fresh for `listing_ttl`, then served
    /// stale for as long again while one background refresh per instance replaces them, so a
    /// busy page never makes a request wait for PostgreSQL. Pages are at most twice
    /// `listing_ttl` old.
    pub async fn list_json(self: &Arc<Self>, q: ListingQuery) -> Result<Vec<u8>, CatalogError> {
        if q.sort == Sort::Relevance && q.q.is_none() {
            return Err(CatalogError::Invalid { field: "sort", message: "relevance needs a search text `q`".into() });
        }
        // An index answers from memory kept in step with the catalog: a cached page could only
        // be older than what it would say.
        if !self.cfg.enabled || self.cfg.listing_ttl.is_zero() || q.latest || self.listing.live() {
            return page_json(&self.page(q, None).await?);
        }
        let version = self.listing_version().await;
        let key = format!("catalog:page:v3:{version}:{}", digest(&format!("{q:?}")));
        if let Ok(Some(hit)) = self.cache.get(&key).await
            && let Some((fresh_until, body)) = split_stamped(&hit)
        {
            if now_ms() >= fresh_until && self.refreshing.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone())
            {
                let this = Arc::clone(self);
                tokio::spawn(async move {
                    if let Err(e) = this.store_page(&key, q, version).await {
                        tracing::warn!(error = %e, "refreshing a cached listing page failed");
                    }
                    this.refreshing.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
                });
            }
            return Ok(body.to_vec());
        }
        self.store_page(&key, q, version).await
    }

    /// Reads a page and caches it, stamped with the time it stays fresh until.
    async fn store_page(&self, key: &str, q: ListingQuery, version: u64) -> Result<Vec<u8>, CatalogError> {
        let body = page_json(&self.page(q, Some(version)).await?)?;
        let ttl = self.cfg.listing_ttl;
        let mut stamped = (now_ms() + ttl.as_millis() as u64).to_be_bytes().to_vec();
        stamped.extend_from_slice(&body);
        let _ = self.cache.set(key, &stamped, ttl * 2).await;
        Ok(body)
    }

    /// One page, read from the repository (facets from the cache, under `version` when given).
    async fn page(&self, mut q: ListingQuery, version: Option<u64>) -> Result<ProductPage, CatalogError> {
        let first_page = q.after.is_none();
        if self.listing.live() {
            // An index selects once for the page and its facets, and needs no fuzzy retry.
            let (items, facets) = self.listing.page(&q, first_page).await?;
            let page = Page::cut(items, q.limit, |last| ListingCursor::after(last, q.sort));
            return Ok(ProductPage { page, facets });
        }
        q.fuzzy = q.after.as_ref().is_some_and(|c| c.fuzzy);
        let mut items = self.listing.list(&q).await?;
        if first_page && items.is_empty() && q.q.is_some() && !self.listing.live() {
            // Nothing matches the words themselves (a typo, a partial word): match names by
            // similarity instead, and keep that mode for every later page.
            q.fuzzy = true;
            items = self.listing.list(&q).await?;
        }
        let page =
            Page::cut(items, q.limit, |last| ListingCursor { fuzzy: q.fuzzy, ..ListingCursor::after(last, q.sort) });
        let facets = if first_page { Some(self.facets(&q, version).await?) } else { None };
        Ok(ProductPage { page, facets })
    }

    async fn facets(&self, q: &ListingQuery, version: Option<u64>) -> Result<Facets, CatalogError> {
        if self.listing.live() {
            return self.listing.facets(q).await;
        }
        let signature = format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{}|{}",
            q.q, q.categories, q.brand, q.price_min, q.price_max, q.in_stock, q.fuzzy
        );
        let version = match version {
            Some(v) => v,
            None if self.cfg.enabled => self.listing_version().await,
            None => 0,
        };
        let key = format!("catalog:facets:v3:{version}:{}", digest(&signature));
        let bytes = self
            .cached(&key, self.cfg.facets_ttl, || async { self.listing.facets(q).await.map(Some) })
            .await?
            .unwrap_or_default();
        Ok(serde_json::from_slice(&bytes).unwrap_or_default())
    }
}

fn page_json(page: &ProductPage) -> Result<Vec<u8>, CatalogError> {
    serde_json::to_vec(page).map_err(|e| CatalogError::Storage(StorageError::other(e)))
}

fn now_ms() -> u64 {
    Utc::now().timestamp_millis().max(0) as u64
}

/// A cached page: when it stops being fresh (ms since the epoch, big-endian), then the JSON.
fn split_stamped(value: &[u8]) -> Option<(u64, &[u8])> {
    let (stamp, body) = value.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*stamp), body))
}

/// A short, fixed-length cache-key part for a long signature.
fn digest(signature: &str) -> String {
    hex::encode(&Sha256::digest(signature.as_bytes())[..16])
}

fn check_unique_skus(variants: &[NewVariant]) -> Result<(), CatalogError> {
    let mut seen = std::collections::HashSet::new();
    for v in variants {
        if !seen.insert(v.sku.as_str()) {
            return Err(CatalogError::Invalid { field: "variants", message: format!("SKU {} appears twice", v.sku) });
        }
    }
    Ok(())
}
