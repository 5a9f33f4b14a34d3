//! Adapter for `catalog::ProductRepo`: products and their variants.

use catalog::{
    CatalogError, NewProduct, NewVariant, Product, ProductPatch, ProductRepo, ProductStatus, Variant, VariantPatch,
};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use super::rows::*;
use super::{PgCatalogRepo, map_err};
use crate::error::{Settle, TxError};
use crate::rows::currency;
use crate::schema::{products, variants};

#[async_trait::async_trait]
impl ProductRepo for PgCatalogRepo {
    async fn product(&self, id: Uuid) -> Result<Option<Product>, CatalogError> {
        let mut conn = self.db.conn().await?;
        load_product(&mut conn, id).await.map_err(map_err)
    }

    async fn product_id_by_slug(&self, slug: &str) -> Result<Option<Uuid>, CatalogError> {
        let mut conn = self.db.conn().await?;
        products::table
            .filter(products::slug.eq(slug))
            .select(products::id)
            .first(&mut conn)
            .await
            .optional()
            .map_err(map_err)
    }

    async fn create_product(&self, p: &NewProduct, actor: Uuid) -> Result<Product, CatalogError> {
        let mut conn = self.db.conn().await?;
        let id = Uuid::now_v7();
        let result: Result<Product, DieselError> = conn
            .transaction(async |conn| {
                diesel::insert_into(products::table)
                    .values((
                        products::id.eq(id),
                        products::slug.eq(&p.slug),
                        products::name.eq(p.name.trim()),
                        products::description.eq(&p.description),
                        products::status.eq(p.status.as_str()),
                        products::category_id.eq(p.category_id),
                        products::brand.eq(p.brand.as_deref().map(str::trim)),
                        products::attributes.eq(Value::Object(p.attributes.clone())),
                        products::images.eq(&p.images),
                        products::currency.eq(&p.currency),
                    ))
                    .execute(conn)
                    .await?;
                for v in &p.variants {
                    insert_variant(conn, id, v, actor).await?;
                }
                load_product(conn, id).await?.ok_or(DieselError::NotFound)
            })
            .await;
        result.map_err(map_err)
    }

    async fn update_product(
        &self,
        id: Uuid,
        p: &ProductPatch,
        expected_version: Option<i32>,
    ) -> Result<Product, CatalogError> {
        let mut conn = self.db.conn().await?;
        let changes = ProductChanges {
            slug: p.slug.as_deref(),
            name: p.name.as_deref().map(str::trim),
            description: p.description.as_deref(),
            status: p.status.map(ProductStatus::as_str),
            category_id: p.category_id,
            brand: p.brand.as_ref().map(|b| b.as_deref().map(str::trim)),
            attributes: p.attributes.clone().map(Value::Object),
            images: p.images.as_deref(),
        };
        let result: Result<Product, TxError<CatalogError>> = conn
            .transaction(async |conn| {
                let mut target = diesel::update(products::table).filter(products::id.eq(id)).into_boxed();
                if let Some(v) = expected_version {
                    target = target.filter(products::version.eq(v));
                }
                let n = target.set((&changes, products::version.eq(products::version + 1))).execute(conn).await?;
                if n == 0 {
                    let exists: bool =
                        diesel::select(diesel::dsl::exists(products::table.find(id))).get_result(conn).await?;
                    return Err(TxError::Domain(if exists {
                        CatalogError::VersionMismatch
                    } else {
                        CatalogError::NotFound
                    }));
                }
                Ok(load_product(conn, id).await?.ok_or(DieselError::NotFound)?)
            })
            .await;
        result.settle_with(map_err)
    }

    async fn delete_product(&self, id: Uuid) -> Result<(), CatalogError> {
        let mut conn = self.db.conn().await?;
        let n = diesel::delete(products::table.find(id)).execute(&mut conn).await.map_err(map_err)?;
        if n == 0 { Err(CatalogError::NotFound) } else { Ok(()) }
    }

    async fn add_variant(&self, product: Uuid, v: &NewVariant, actor: Uuid) -> Result<Variant, CatalogError> {
        let mut conn = self.db.conn().await?;
        let result: Result<Variant, TxError<CatalogError>> = conn
            .transaction(async |conn| {
                let cur: Option<String> = products::table
                    .find(product)
                    .select(products::currency)
                    .for_update()
                    .first(conn)
                    .await
                    .optional()?;
                let Some(cur) = cur else { return Err(TxError::Domain(CatalogError::NotFound)) };
                let id = insert_variant(conn, product, v, actor).await?;
                let row: VariantRow = variants::table.find(id).select(VariantRow::as_select()).first(conn).await?;
                Ok(row.variant(currency(&cur)?)?)
            })
            .await;
        result.settle_with(map_err)
    }

    async fn update_variant(&self, id: Uuid, p: &VariantPatch) -> Result<(Variant, Uuid), CatalogError> {
        let mut conn = self.db.conn().await?;
        let changes = VariantChanges {
            sku: p.sku.as_deref(),
            options: p.options.clone().map(Value::Object),
            price_minor: p.price_minor,
            compare_at_minor: p.compare_at_minor,
            active: p.active,
            position: p.position,
        };
        let empty = changes.sku.is_none()
            && changes.options.is_none()
            && changes.price_minor.is_none()
            && changes.compare_at_minor.is_none()
            && changes.active.is_none()
            && changes.position.is_none();
        if !empty {
            let n = diesel::update(variants::table.find(id)).set(&changes).execute(&mut conn).await.map_err(map_err)?;
            if n == 0 {
                return Err(CatalogError::NotFound);
            }
        }
        let row: Option<(VariantRow, Uuid, String)> = variants::table
            .inner_join(products::table)
            .filter(variants::id.eq(id))
            .select((VariantRow::as_select(), products::id, products::currency))
            .first(&mut conn)
            .await
            .optional()
            .map_err(map_err)?;
        let (row, product, cur) = row.ok_or(CatalogError::NotFound)?;
        Ok((row.variant(currency(&cur).map_err(map_err)?).map_err(map_err)?, product))
    }

    async fn delete_variant(&self, id: Uuid) -> Result<Uuid, CatalogError> {
        let mut conn = self.db.conn().await?;
        let result: Result<Uuid, TxError<CatalogError>> = conn
            .transaction(async |conn| {
                let product: Option<Uuid> =
                    variants::table.find(id).select(variants::product_id).first(conn).await.optional()?;
                let Some(product) = product else { return Err(TxError::Domain(CatalogError::NotFound)) };
                // Lock the product so two deletes cannot both leave it without variants. A product
                // (or variant) deleted meanwhile by another request is a 404, not an error.
                let locked: Option<Uuid> =
                    products::table.find(product).select(products::id).for_update().first(conn).await.optional()?;
                if locked.is_none() {
                    return Err(TxError::Domain(CatalogError::NotFound));
                }
                let count: i64 =
                    variants::table.filter(variants::product_id.eq(product)).count().get_result(conn).await?;
                if count <= 1 {
                    return Err(TxError::Domain(CatalogError::LastVariant));
                }
                if diesel::delete(variants::table.find(id)).execute(conn).await? == 0 {
                    return Err(TxError::Domain(CatalogError::NotFound));
                }
                Ok(product)
            })
            .await;
        result.settle_with(map_err)
    }
}
