//! Catalog rows and changesets, shared by the catalog adapters.

use catalog::{Category, CategoryRef, LedgerEntry, NewVariant, Product, ProductStatus, StockReason, Variant};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use primitives::{Currency, Money};
use serde_json::Value;
use uuid::Uuid;

use crate::rows::{currency, known, object};
use crate::schema::{categories, inventory_ledger, products, variants};

// ---- rows ------------------------------------------------------------------------------------

#[derive(Queryable, Selectable)]
#[diesel(table_name = categories, check_for_backend(Pg))]
pub(super) struct CategoryRow {
    pub(super) id: Uuid,
    pub(super) parent_id: Option<Uuid>,
    pub(super) slug: String,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) position: i32,
}

impl From<CategoryRow> for Category {
    fn from(r: CategoryRow) -> Self {
        Category {
            id: r.id,
            parent_id: r.parent_id,
            slug: r.slug,
            name: r.name,
            description: r.description,
            position: r.position,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = products, check_for_backend(Pg))]
pub(super) struct ProductRow {
    pub(super) id: Uuid,
    pub(super) slug: String,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) status: String,
    pub(super) brand: Option<String>,
    pub(super) attributes: Value,
    pub(super) images: Vec<String>,
    pub(super) currency: String,
    pub(super) rating_count: i32,
    pub(super) rating_sum: i32,
    pub(super) version: i32,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = variants, check_for_backend(Pg))]
pub(super) struct VariantRow {
    pub(super) id: Uuid,
    pub(super) sku: String,
    pub(super) options: Value,
    pub(super) price_minor: i64,
    pub(super) compare_at_minor: Option<i64>,
    pub(super) stock: i32,
    pub(super) active: bool,
    pub(super) position: i32,
}

impl VariantRow {
    pub(super) fn variant(self, cur: Currency) -> QueryResult<Variant> {
        Ok(Variant {
            id: self.id,
            sku: self.sku,
            options: object(self.options)?,
            price: Money::new(self.price_minor, cur),
            compare_at_price: self.compare_at_minor.map(|m| Money::new(m, cur)),
            stock: self.stock,
            active: self.active,
            position: self.position,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = inventory_ledger, check_for_backend(Pg))]
pub(super) struct LedgerRow {
    pub(super) id: i64,
    pub(super) variant_id: Uuid,
    pub(super) delta: i32,
    pub(super) reason: String,
    pub(super) stock_after: i32,
    pub(super) actor_id: Option<Uuid>,
    pub(super) order_id: Option<Uuid>,
    pub(super) note: Option<String>,
    pub(super) created_at: DateTime<Utc>,
}

impl TryFrom<LedgerRow> for LedgerEntry {
    type Error = DieselError;
    fn try_from(r: LedgerRow) -> QueryResult<Self> {
        Ok(LedgerEntry {
            id: r.id,
            variant_id: r.variant_id,
            delta: r.delta,
            reason: known("stock reason", &r.reason, StockReason::parse)?,
            stock_after: r.stock_after,
            actor_id: r.actor_id,
            order_id: r.order_id,
            note: r.note,
            created_at: r.created_at,
        })
    }
}

#[derive(AsChangeset)]
#[diesel(table_name = categories)]
pub(super) struct CategoryChanges<'a> {
    pub(super) slug: Option<&'a str>,
    pub(super) name: Option<&'a str>,
    pub(super) description: Option<&'a str>,
    pub(super) parent_id: Option<Option<Uuid>>,
    pub(super) position: Option<i32>,
}

#[derive(AsChangeset)]
#[diesel(table_name = products)]
pub(super) struct ProductChanges<'a> {
    pub(super) slug: Option<&'a str>,
    pub(super) name: Option<&'a str>,
    pub(super) description: Option<&'a str>,
    pub(super) status: Option<&'a str>,
    pub(super) category_id: Option<Option<Uuid>>,
    pub(super) brand: Option<Option<&'a str>>,
    pub(super) attributes: Option<Value>,
    pub(super) images: Option<&'a [String]>,
}

#[derive(AsChangeset)]
#[diesel(table_name = variants)]
pub(super) struct VariantChanges<'a> {
    pub(super) sku: Option<&'a str>,
    pub(super) options: Option<Value>,
    pub(super) price_minor: Option<i64>,
    pub(super) compare_at_minor: Option<Option<i64>>,
    pub(super) active: Option<bool>,
    pub(super) position: Option<i32>,
}
// ---- helpers ---------------------------------------------------------------------------------

pub(super) async fn load_product(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Product>> {
    type WithCategory = (ProductRow, Option<(Uuid, String, String)>);
    let row: Option<WithCategory> = products::table
        .left_join(categories::table)
        .filter(products::id.eq(id))
        .select((ProductRow::as_select(), (categories::id, categories::slug, categories::name).nullable()))
        .first(conn)
        .await
        .optional()?;
    let Some((p, cat)) = row else { return Ok(None) };
    let cur = currency(&p.currency)?;
    let vs: Vec<VariantRow> = variants::table
        .filter(variants::product_id.eq(id))
        .order((variants::position, variants::sku))
        .select(VariantRow::as_select())
        .load(conn)
        .await?;
    Ok(Some(Product {
        id: p.id,
        slug: p.slug,
        name: p.name,
        description: p.description,
        status: known("product status", &p.status, ProductStatus::parse)?,
        category: cat.map(|(id, slug, name)| CategoryRef { id, slug, name }),
        brand: p.brand,
        attributes: object(p.attributes)?,
        images: p.images,
        currency: cur,
        rating_count: p.rating_count,
        rating_sum: p.rating_sum,
        version: p.version,
        variants: vs.into_iter().map(|v| v.variant(cur)).collect::<QueryResult<_>>()?,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }))
}

pub(super) async fn insert_variant(
    conn: &mut AsyncPgConnection,
    product: Uuid,
    v: &NewVariant,
    actor: Uuid,
) -> QueryResult<Uuid> {
    let id = Uuid::now_v7();
    diesel::insert_into(variants::table)
        .values((
            variants::id.eq(id),
            variants::product_id.eq(product),
            variants::sku.eq(&v.sku),
            variants::options.eq(Value::Object(v.options.clone())),
            variants::price_minor.eq(v.price_minor),
            variants::compare_at_minor.eq(v.compare_at_minor),
            variants::stock.eq(v.stock),
            variants::active.eq(v.active),
            variants::position.eq(v.position),
        ))
        .execute(conn)
        .await?;
    if v.stock > 0 {
        diesel::insert_into(inventory_ledger::table)
            .values((
                inventory_ledger::variant_id.eq(id),
                inventory_ledger::delta.eq(v.stock),
                inventory_ledger::reason.eq(StockReason::Initial.as_str()),
                inventory_ledger::stock_after.eq(v.stock),
                inventory_ledger::actor_id.eq(Some(actor)),
            ))
            .execute(conn)
            .await?;
    }
    Ok(id)
}
