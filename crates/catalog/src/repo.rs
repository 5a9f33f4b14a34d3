use primitives::PageRequest;
use uuid::Uuid;

use crate::{
    Category, CategoryPatch, Facets, IndexedProduct, LedgerEntry, ListingQuery, NewCategory, NewProduct, NewVariant,
    Product, ProductPatch, ProductSummary, StockReason, Variant, VariantPatch,
};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("not found")]
    NotFound,
    #[error("slug already in use")]
    SlugTaken,
    #[error("SKU already in use")]
    SkuTaken,
    #[error("the parent category does not exist")]
    UnknownParent,
    #[error("the category does not exist")]
    UnknownCategory,
    #[error("a category cannot be moved under itself or its descendants")]
    CategoryCycle,
    #[error("the category still has sub-categories or products")]
    CategoryNotEmpty,
    #[error("the resource changed since it was read")]
    VersionMismatch,
    #[error("a product keeps at least one variant")]
    LastVariant,
    #[error("not enough stock: {available} available")]
    InsufficientStock { available: i32 },
    #[error("invalid: {field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error(transparent)]
    Storage(#[from] primitives::StorageError),
}

/// Storage of the catalog, one port per aggregate (categories, products with their variants,
/// stock with its ledger, the listing); [`CatalogRepo`] is all of them, for the service. Writes
/// that span rows (a product with its variants, a stock change with its ledger row) are single
/// transactions in the adapter.
pub trait CatalogRepo: CategoryRepo + ProductRepo + StockRepo + ListingRepo {}

impl<T: CategoryRepo + ProductRepo + StockRepo + ListingRepo> CatalogRepo for T {}

#[async_trait::async_trait]
pub trait CategoryRepo: Send + Sync + 'static {
    async fn categories(&self) -> Result<Vec<Category>, CatalogError>;
    async fn create_category(&self, c: &NewCategory) -> Result<Category, CatalogError>;
    /// Applies the patch; refuses a move that would make a cycle (checked under lock).
    async fn update_category(&self, id: Uuid, p: &CategoryPatch) -> Result<Category, CatalogError>;
    async fn delete_category(&self, id: Uuid) -> Result<(), CatalogError>;
}

#[async_trait::async_trait]
pub trait ProductRepo: Send + Sync + 'static {
    async fn product(&self, id: Uuid) -> Result<Option<Product>, CatalogError>;
    async fn product_id_by_slug(&self, slug: &str) -> Result<Option<Uuid>, CatalogError>;
    async fn create_product(&self, p: &NewProduct, actor: Uuid) -> Result<Product, CatalogError>;
    /// Applies the patch when the stored version equals `expected_version` (if given).
    async fn update_product(
        &self,
        id: Uuid,
        p: &ProductPatch,
        expected_version: Option<i32>,
    ) -> Result<Product, CatalogError>;
    async fn delete_product(&self, id: Uuid) -> Result<(), CatalogError>;

    async fn add_variant(&self, product: Uuid, v: &NewVariant, actor: Uuid) -> Result<Variant, CatalogError>;
    /// Returns the variant and its product's id.
    async fn update_variant(&self, id: Uuid, p: &VariantPatch) -> Result<(Variant, Uuid), CatalogError>;
    /// Returns the product id of the deleted variant.
    async fn delete_variant(&self, id: Uuid) -> Result<Uuid, CatalogError>;
}

#[async_trait::async_trait]
pub trait StockRepo: Send + Sync + 'static {
    /// Changes stock as [`crate::stock::adjusted`] decides on the row read under the variant's
    /// lock, and writes the ledger row, in one transaction. Returns the ledger entry and the
    /// variant's product id.
    async fn adjust_stock(
        &self,
        variant: Uuid,
        delta: i32,
        reason: StockReason,
        actor: Option<Uuid>,
        note: Option<&str>,
    ) -> Result<(LedgerEntry, Uuid), CatalogError>;
    /// Up to `page.fetch()` ledger rows of a variant, oldest first, after the row id of the key.
    async fn ledger(&self, variant: Uuid, page: &PageRequest<i64>) -> Result<Vec<LedgerEntry>, CatalogError>;
}

#[async_trait::async_trait]
pub trait ListingRepo: Send + Sync + 'static {
    /// Up to `q.limit + 1` active products matching the query, after its cursor.
    async fn list(&self, q: &ListingQuery) -> Result<Vec<ProductSummary>, CatalogError>;
    /// Counts per category and brand over everything the query matches (cursor ignored).
    async fn facets(&self, q: &ListingQuery) -> Result<Facets, CatalogError>;
    /// A page (as [`ListingRepo::list`]) and, with `facets`, the facets of the same query: one
    /// selection for both where the adapter can.
    async fn page(
        &self,
        q: &ListingQuery,
        facets: bool,
    ) -> Result<(Vec<ProductSummary>, Option<Facets>), CatalogError> {
        let items = self.list(q).await?;
        let facets = if facets { Some(self.facets(q).await?) } else { None };
        Ok((items, facets))
    }
    /// Whether answers come from memory kept in step with the catalog (an index): cheap and
    /// fresh, so pages and facets are not cached in front of it.
    fn live(&self) -> bool {
        false
    }
    /// The catalog changed through this instance (a write committed): an index brings itself
    /// up to date before the write is answered, so the writer's next listing shows it.
    async fn changed(&self) {}
}

/// One entry of the catalog's change feed: a product changed (its current state is read again),
/// or every index is to be rebuilt from the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedChange {
    /// The entry's number (entries are read more than once; the number tells them apart).
    pub seq: i64,
    /// The transaction that wrote it.
    pub xid: u64,
    /// `None`: rebuild everything.
    pub product: Option<Uuid>,
}

/// The catalog's changes as they commit, for indexes kept outside PostgreSQL (one in each
/// instance). Positions are transaction horizons: every transaction below one has ended, so a
/// reader that asks again from the horizon it was given misses nothing (and sees some entries
/// twice).
#[async_trait::async_trait]
pub trait CatalogFeed: Send + Sync + 'static {
    /// Every active product, and the horizon to follow the changes from.
    async fn snapshot(&self) -> Result<(Vec<IndexedProduct>, u64), CatalogError>;
    /// The entries written by transactions at or above `horizon`, and the next horizon.
    async fn changes(&self, horizon: u64) -> Result<(Vec<FeedChange>, u64), CatalogError>;
    /// These products as they are now, those that are active (the others are not listed).
    async fn products(&self, ids: &[Uuid]) -> Result<Vec<IndexedProduct>, CatalogError>;
    /// Asks every index to rebuild itself from the catalog.
    async fn request_rebuild(&self) -> Result<(), CatalogError>;
    /// Deletes entries older than `older_than_secs`; returns how many.
    async fn prune(&self, older_than_secs: i64) -> Result<u64, CatalogError>;
}
