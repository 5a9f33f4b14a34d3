//! Catalog: categories (a tree), products with variants, the inventory ledger, listing and
//! search, and the cache-aside product detail. Pure domain code behind ports.

mod model;
mod query;
mod repo;
mod service;
pub mod stock;

pub use model::*;
pub use query::{
    Facet, Facets, ListingCursor, ListingQuery, PRICE_BANDS, PriceFacet, ProductPage, Sort, SortKey, price_band,
};
pub use repo::{CatalogError, CatalogFeed, CatalogRepo, CategoryRepo, FeedChange, ListingRepo, ProductRepo, StockRepo};
pub use service::{CatalogService, DetailCacheConfig, ProductDetail, PublicProduct, PublicVariant};
