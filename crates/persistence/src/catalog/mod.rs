//! Adapters for the catalog's ports, one module per aggregate: `categories`, `products` (with
//! their variants), `stock` (adjustments and the ledger), `listing` (the dynamic listing and
//! search SQL, facets), `feed` (the change feed search indexes follow); `rows` holds the row types they share.

mod categories;
mod feed;
mod listing;
mod products;
mod rows;
mod stock;

use catalog::CatalogError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::Db;

pub struct PgCatalogRepo {
    db: Db,
}

impl PgCatalogRepo {
    pub fn new(db: Db) -> Self {
        PgCatalogRepo { db }
    }
}

/// Maps constraint violations to domain errors; anything else is a storage failure.
fn map_err(e: DieselError) -> CatalogError {
    if let DieselError::DatabaseError(kind, info) = &e {
        let constraint = info.constraint_name().unwrap_or("");
        match (kind, constraint) {
            (DatabaseErrorKind::UniqueViolation, "products_slug_key" | "categories_slug_key") => {
                return CatalogError::SlugTaken;
            }
            (DatabaseErrorKind::UniqueViolation, "variants_sku_key") => return CatalogError::SkuTaken,
            (DatabaseErrorKind::ForeignKeyViolation, "products_category_id_fkey") => {
                return CatalogError::UnknownCategory;
            }
            (DatabaseErrorKind::ForeignKeyViolation, "categories_parent_id_fkey") => {
                return CatalogError::UnknownParent;
            }
            (DatabaseErrorKind::CheckViolation, "categories_not_own_parent") => return CatalogError::CategoryCycle,
            _ => {}
        }
    }
    CatalogError::Storage(crate::error::storage(e))
}
