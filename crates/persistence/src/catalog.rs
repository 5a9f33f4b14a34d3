//! Adapter for `catalog::CatalogRepo`.

use catalog::{
    CatalogError, CatalogRepo, Category, CategoryPatch, CategoryRef, Facet, Facets, LedgerEntry, ListingQuery,
    NewCategory, NewProduct, NewVariant, Product, ProductPatch, ProductStatus, ProductSummary, Sort, SortKey,
    StockReason, Variant, VariantPatch, rating_average,
};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{Array, BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use primitives::{Currency, Money, PageRequest};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::Db;
use crate::error::{Settle, TxError};
use crate::schema::{categories, inventory_ledger, products, variants};

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

// ---- rows ------------------------------------------------------------------------------------

#[derive(Queryable, Selectable)]
#[diesel(table_name = categories, check_for_backend(Pg))]
struct CategoryRow {
    id: Uuid,
    parent_id: Option<Uuid>,
    slug: String,
    name: String,
    description: String,
    position: i32,
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
struct ProductRow {
    id: Uuid,
    slug: String,
    name: String,
    description: String,
    status: String,
    brand: Option<String>,
    attributes: Value,
    images: Vec<String>,
    currency: String,
    rating_count: i32,
    rating_sum: i32,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = variants, check_for_backend(Pg))]
struct VariantRow {
    id: Uuid,
    sku: String,
    options: Value,
    price_minor: i64,
    compare_at_minor: Option<i64>,
    stock: i32,
    active: bool,
    position: i32,
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn currency(s: &str) -> Currency {
    s.parse().unwrap_or_else(|_| "XXX".parse().expect("XXX is a valid code"))
}

impl VariantRow {
    fn variant(self, cur: Currency) -> Variant {
        Variant {
            id: self.id,
            sku: self.sku,
            options: object(self.options),
            price: Money::new(self.price_minor, cur),
            compare_at_price: self.compare_at_minor.map(|m| Money::new(m, cur)),
            stock: self.stock,
            active: self.active,
            position: self.position,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = inventory_ledger, check_for_backend(Pg))]
struct LedgerRow {
    id: i64,
    variant_id: Uuid,
    delta: i32,
    reason: String,
    stock_after: i32,
    actor_id: Option<Uuid>,
    order_id: Option<Uuid>,
    note: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<LedgerRow> for LedgerEntry {
    fn from(r: LedgerRow) -> Self {
        LedgerEntry {
            id: r.id,
            variant_id: r.variant_id,
            delta: r.delta,
            reason: StockReason::parse(&r.reason).unwrap_or(StockReason::Adjustment),
            stock_after: r.stock_after,
            actor_id: r.actor_id,
            order_id: r.order_id,
            note: r.note,
            created_at: r.created_at,
        }
    }
}

#[derive(AsChangeset)]
#[diesel(table_name = categories)]
struct CategoryChanges<'a> {
    slug: Option<&'a str>,
    name: Option<&'a str>,
    description: Option<&'a str>,
    parent_id: Option<Option<Uuid>>,
    position: Option<i32>,
}

#[derive(AsChangeset)]
#[diesel(table_name = products)]
struct ProductChanges<'a> {
    slug: Option<&'a str>,
    name: Option<&'a str>,
    description: Option<&'a str>,
    status: Option<&'a str>,
    category_id: Option<Option<Uuid>>,
    brand: Option<Option<&'a str>>,
    attributes: Option<Value>,
    images: Option<&'a [String]>,
}

#[derive(AsChangeset)]
#[diesel(table_name = variants)]
struct VariantChanges<'a> {
    sku: Option<&'a str>,
    options: Option<Value>,
    price_minor: Option<i64>,
    compare_at_minor: Option<Option<i64>>,
    active: Option<bool>,
    position: Option<i32>,
}

// ---- helpers ---------------------------------------------------------------------------------

async fn load_product(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Product>> {
    type WithCategory = (ProductRow, Option<(Uuid, String, String)>);
    let row: Option<WithCategory> = products::table
        .left_join(categories::table)
        .filter(products::id.eq(id))
        .select((ProductRow::as_select(), (categories::id, categories::slug, categories::name).nullable()))
        .first(conn)
        .await
        .optional()?;
    let Some((p, cat)) = row else { return Ok(None) };
    let cur = currency(&p.currency);
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
        status: ProductStatus::parse(&p.status).unwrap_or(ProductStatus::Draft),
        category: cat.map(|(id, slug, name)| CategoryRef { id, slug, name }),
        brand: p.brand,
        attributes: object(p.attributes),
        images: p.images,
        currency: cur,
        rating_count: p.rating_count,
        rating_sum: p.rating_sum,
        version: p.version,
        variants: vs.into_iter().map(|v| v.variant(cur)).collect(),
        created_at: p.created_at,
        updated_at: p.updated_at,
    }))
}

async fn insert_variant(conn: &mut AsyncPgConnection, product: Uuid, v: &NewVariant, actor: Uuid) -> QueryResult<Uuid> {
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

// ---- listing SQL -----------------------------------------------------------------------------

/// One bind value of the dynamic listing query.
enum Bind {
    Text(String),
    BigInt(i64),
    Int(i32),
    Double(f64),
    Uuid(Uuid),
    Uuids(Vec<Uuid>),
    Ts(DateTime<Utc>),
}

/// Builds the WHERE clause shared by the listing and facet queries. Every value is a bind
/// parameter; only fixed SQL text is concatenated.
struct SqlBuilder {
    sql: String,
    binds: Vec<Bind>,
}

impl SqlBuilder {
    fn new() -> Self {
        SqlBuilder { sql: String::new(), binds: Vec::new() }
    }

    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    /// `fuzzy`: match names by trigram word similarity (typo tolerance) instead of full text.
    fn filters(&mut self, q: &ListingQuery, fuzzy: bool) -> String {
        let mut w = vec!["p.status = 'active'".to_owned()];
        if let Some(text) = &q.q {
            let t = self.bind(Bind::Text(text.clone()));
            w.push(if fuzzy {
                format!("lower({t}) <% lower(p.name)")
            } else {
                format!("p.search @@ websearch_to_tsquery('english', {t})")
            });
        }
        match q.categories.as_deref() {
            // One category (a leaf): equality lets the (category_id, sort key) indexes serve the
            // order directly; `= ANY` of one element would not.
            Some([one]) => {
                let c = self.bind(Bind::Uuid(*one));
                w.push(format!("p.category_id = {c}"));
            }
            Some(cats) => {
                let c = self.bind(Bind::Uuids(cats.to_vec()));
                w.push(format!("p.category_id = ANY({c})"));
            }
            None => {}
        }
        if let Some(brand) = &q.brand {
            let b = self.bind(Bind::Text(brand.clone()));
            w.push(format!("p.brand = {b}"));
        }
        if let Some(min) = q.price_min {
            let m = self.bind(Bind::BigInt(min));
            w.push(format!("p.min_price >= {m}"));
        }
        if let Some(max) = q.price_max {
            let m = self.bind(Bind::BigInt(max));
            w.push(format!("p.min_price <= {m}"));
        }
        if q.in_stock {
            w.push(IN_STOCK.to_owned());
        }
        w.join(" AND ")
    }

    fn run(self) -> diesel::query_builder::BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
        let mut query = diesel::sql_query(self.sql).into_boxed::<Pg>();
        for b in self.binds {
            query = match b {
                Bind::Text(v) => query.bind::<Text, _>(v),
                Bind::BigInt(v) => query.bind::<BigInt, _>(v),
                Bind::Int(v) => query.bind::<Integer, _>(v),
                Bind::Double(v) => query.bind::<Double, _>(v),
                Bind::Uuid(v) => query.bind::<SqlUuid, _>(v),
                Bind::Uuids(v) => query.bind::<Array<SqlUuid>, _>(v),
                Bind::Ts(v) => query.bind::<Timestamptz, _>(v),
            };
        }
        query
    }
}

fn freshness(q: &ListingQuery) -> crate::Freshness {
    if q.latest { crate::Freshness::Latest } else { crate::Freshness::Relaxed }
}

const IN_STOCK: &str = "EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND v.stock > 0 AND v.active)";
const RATING_AVG: &str = "(CASE WHEN p.rating_count > 0 THEN p.rating_sum::float8 / p.rating_count ELSE 0 END)";

#[derive(QueryableByName)]
struct SummaryRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    brand: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    category_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    image: Option<String>,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = BigInt)]
    min_price: i64,
    #[diesel(sql_type = BigInt)]
    max_price: i64,
    #[diesel(sql_type = Bool)]
    in_stock: bool,
    #[diesel(sql_type = Integer)]
    rating_count: i32,
    #[diesel(sql_type = Integer)]
    rating_sum: i32,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Double)]
    rank: f64,
}

#[derive(QueryableByName)]
struct FacetRow {
    #[diesel(sql_type = Text)]
    value: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[async_trait::async_trait]
impl CatalogRepo for PgCatalogRepo {
    async fn categories(&self) -> Result<Vec<Category>, CatalogError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<CategoryRow> = categories::table
            .select(CategoryRow::as_select())
            .order((categories::position, categories::name))
            .load(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(rows.into_iter().map(Category::from).collect())
    }

    async fn create_category(&self, c: &NewCategory) -> Result<Category, CatalogError> {
        let mut conn = self.db.conn().await?;
        let row: CategoryRow = diesel::insert_into(categories::table)
            .values((
                categories::id.eq(Uuid::now_v7()),
                categories::parent_id.eq(c.parent_id),
                categories::slug.eq(&c.slug),
                categories::name.eq(c.name.trim()),
                categories::description.eq(&c.description),
                categories::position.eq(c.position),
            ))
            .returning(CategoryRow::as_returning())
            .get_result(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(row.into())
    }

    async fn update_category(&self, id: Uuid, p: &CategoryPatch) -> Result<Category, CatalogError> {
        let mut conn = self.db.conn().await?;
        let changes = CategoryChanges {
            slug: p.slug.as_deref(),
            name: p.name.as_deref().map(str::trim),
            description: p.description.as_deref(),
            parent_id: p.parent_id,
            position: p.position,
        };
        let result: Result<CategoryRow, TxError<CatalogError>> = conn
            .transaction(async |conn| {
                // Moves are serialised so two concurrent moves cannot build a cycle together.
                diesel::sql_query("SELECT pg_advisory_xact_lock(7368757065725)").execute(conn).await?;
                let exists: Option<Uuid> =
                    categories::table.find(id).select(categories::id).for_update().first(conn).await.optional()?;
                if exists.is_none() {
                    return Err(TxError::Domain(CatalogError::NotFound));
                }
                if let Some(Some(parent)) = p.parent_id {
                    #[derive(QueryableByName)]
                    struct Ancestor {
                        #[diesel(sql_type = SqlUuid)]
                        id: Uuid,
                    }
                    let ancestors: Vec<Ancestor> = diesel::sql_query(
                        "WITH RECURSIVE up AS (SELECT id, parent_id FROM categories WHERE id = $1 \
                         UNION ALL SELECT c.id, c.parent_id FROM categories c JOIN up ON c.id = up.parent_id) \
                         SELECT id FROM up",
                    )
                    .bind::<SqlUuid, _>(parent)
                    .load(conn)
                    .await?;
                    if ancestors.is_empty() {
                        return Err(TxError::Domain(CatalogError::UnknownParent));
                    }
                    if ancestors.iter().any(|a| a.id == id) {
                        return Err(TxError::Domain(CatalogError::CategoryCycle));
                    }
                }
                let no_changes = changes.slug.is_none()
                    && changes.name.is_none()
                    && changes.description.is_none()
                    && changes.parent_id.is_none()
                    && changes.position.is_none();
                let row = if no_changes {
                    categories::table.find(id).select(CategoryRow::as_select()).first(conn).await?
                } else {
                    diesel::update(categories::table.find(id))
                        .set(&changes)
                        .returning(CategoryRow::as_returning())
                        .get_result(conn)
                        .await?
                };
                Ok(row)
            })
            .await;
        Ok(result.settle_with(map_err)?.into())
    }

    async fn delete_category(&self, id: Uuid) -> Result<(), CatalogError> {
        let mut conn = self.db.conn().await?;
        let result: Result<(), TxError<CatalogError>> = conn
            .transaction(async |conn| {
                let exists: Option<Uuid> =
                    categories::table.find(id).select(categories::id).for_update().first(conn).await.optional()?;
                if exists.is_none() {
                    return Err(TxError::Domain(CatalogError::NotFound));
                }
                let children: bool =
                    diesel::select(diesel::dsl::exists(categories::table.filter(categories::parent_id.eq(id))))
                        .get_result(conn)
                        .await?;
                let used: bool =
                    diesel::select(diesel::dsl::exists(products::table.filter(products::category_id.eq(id))))
                        .get_result(conn)
                        .await?;
                if children || used {
                    return Err(TxError::Domain(CatalogError::CategoryNotEmpty));
                }
                diesel::delete(categories::table.find(id)).execute(conn).await?;
                Ok(())
            })
            .await;
        result.settle_with(map_err)
    }

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
                Ok(row.variant(currency(&cur)))
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
        Ok((row.variant(currency(&cur)), product))
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

    async fn adjust_stock(
        &self,
        variant: Uuid,
        delta: i32,
        reason: StockReason,
        actor: Option<Uuid>,
        note: Option<&str>,
    ) -> Result<(LedgerEntry, Uuid), CatalogError> {
        let mut conn = self.db.conn().await?;
        let result: Result<(LedgerEntry, Uuid), TxError<CatalogError>> = conn
            .transaction(async |conn| {
                // Under the variant's row lock the stock read here is the one the update changes;
                // `catalog::stock::adjusted` decides (never below zero, never past the maximum),
                // the CHECK constraint is the backstop.
                let locked: Option<(i32, Uuid)> = variants::table
                    .find(variant)
                    .select((variants::stock, variants::product_id))
                    .for_update()
                    .first(conn)
                    .await
                    .optional()?;
                let Some((stock, product)) = locked else { return Err(TxError::Domain(CatalogError::NotFound)) };
                let stock_after = catalog::stock::adjusted(stock, delta).map_err(TxError::Domain)?;
                diesel::update(variants::table.find(variant))
                    .set(variants::stock.eq(stock_after))
                    .execute(conn)
                    .await?;
                let row: LedgerRow = diesel::insert_into(inventory_ledger::table)
                    .values((
                        inventory_ledger::variant_id.eq(variant),
                        inventory_ledger::delta.eq(delta),
                        inventory_ledger::reason.eq(reason.as_str()),
                        inventory_ledger::stock_after.eq(stock_after),
                        inventory_ledger::actor_id.eq(actor),
                        inventory_ledger::note.eq(note),
                    ))
                    .returning(LedgerRow::as_returning())
                    .get_result(conn)
                    .await?;
                Ok((row.into(), product))
            })
            .await;
        result.settle_with(map_err)
    }

    async fn ledger(&self, variant: Uuid, page: &PageRequest<i64>) -> Result<Vec<LedgerEntry>, CatalogError> {
        let mut conn = self.db.conn().await?;
        let exists: bool = diesel::select(diesel::dsl::exists(variants::table.find(variant)))
            .get_result(&mut conn)
            .await
            .map_err(map_err)?;
        if !exists {
            return Err(CatalogError::NotFound);
        }
        let rows: Vec<LedgerRow> = inventory_ledger::table
            .filter(inventory_ledger::variant_id.eq(variant))
            .filter(inventory_ledger::id.gt(page.after.unwrap_or(0)))
            .order(inventory_ledger::id)
            .limit(page.fetch())
            .select(LedgerRow::as_select())
            .load(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(rows.into_iter().map(LedgerEntry::from).collect())
    }

    async fn list(&self, q: &ListingQuery) -> Result<Vec<ProductSummary>, CatalogError> {
        match self.list_on(q, freshness(q)).await {
            // A replica that went away under the query: the primary answers instead.
            Err(CatalogError::Storage(e)) if !q.latest && e.is_unavailable() => {
                tracing::warn!(error = %e, "replica read failed; retrying on the primary");
                self.list_on(q, crate::Freshness::Latest).await
            }
            other => other,
        }
    }

    async fn facets(&self, q: &ListingQuery) -> Result<Facets, CatalogError> {
        match self.facets_on(q, freshness(q)).await {
            Err(CatalogError::Storage(e)) if !q.latest && e.is_unavailable() => {
                self.facets_on(q, crate::Freshness::Latest).await
            }
            other => other,
        }
    }
}

impl PgCatalogRepo {
    async fn list_on(
        &self,
        q: &ListingQuery,
        freshness: crate::Freshness,
    ) -> Result<Vec<ProductSummary>, CatalogError> {
        let mut conn = self.db.read_conn(freshness).await?;
        let fuzzy = q.fuzzy && q.q.is_some();
        let mut b = SqlBuilder::new();
        let filters = b.filters(q, fuzzy);
        let rank = match (q.sort, &q.q) {
            (Sort::Relevance, Some(text)) => {
                let t = b.bind(Bind::Text(text.clone()));
                if fuzzy {
                    format!("word_similarity(lower({t}), lower(p.name))::float8")
                } else {
                    format!("ts_rank_cd(p.search, websearch_to_tsquery('english', {t}))::float8")
                }
            }
            (Sort::Rating, _) => RATING_AVG.to_owned(),
            _ => "0::float8".to_owned(),
        };
        let (keyset, order) = match (q.sort, &q.after) {
            (Sort::Newest, after) => (
                after.as_ref().and_then(|c| match c.key {
                    SortKey::Newest(ts) => {
                        let (t, i) = (b.bind(Bind::Ts(ts.0)), b.bind(Bind::Uuid(c.id)));
                        Some(format!("(p.created_at, p.id) < ({t}, {i})"))
                    }
                    _ => None,
                }),
                "p.created_at DESC, p.id DESC",
            ),
            (Sort::PriceAsc, after) => (
                after.as_ref().and_then(|c| match c.key {
                    SortKey::Price(pr) => {
                        let (v, i) = (b.bind(Bind::BigInt(pr)), b.bind(Bind::Uuid(c.id)));
                        Some(format!("(p.min_price, p.id) > ({v}, {i})"))
                    }
                    _ => None,
                }),
                "p.min_price ASC, p.id ASC",
            ),
            (Sort::PriceDesc, after) => (
                after.as_ref().and_then(|c| match c.key {
                    SortKey::Price(pr) => {
                        let (v, i) = (b.bind(Bind::BigInt(pr)), b.bind(Bind::Uuid(c.id)));
                        Some(format!("(p.min_price, p.id) < ({v}, {i})"))
                    }
                    _ => None,
                }),
                "p.min_price DESC, p.id DESC",
            ),
            (Sort::Relevance, after) => (
                after.as_ref().and_then(|c| match c.key {
                    SortKey::Relevance(r) => {
                        let (v, i) = (b.bind(Bind::Double(r)), b.bind(Bind::Uuid(c.id)));
                        Some(format!("({rank}, p.id) < ({v}, {i})"))
                    }
                    _ => None,
                }),
                "rank DESC, p.id DESC",
            ),
            (Sort::Rating, after) => (
                after.as_ref().and_then(|c| match c.key {
                    SortKey::Rating(avg, count) => {
                        let (v, n, i) = (b.bind(Bind::Double(avg)), b.bind(Bind::Int(count)), b.bind(Bind::Uuid(c.id)));
                        Some(format!("({RATING_AVG}, p.rating_count, p.id) < ({v}, {n}, {i})"))
                    }
                    _ => None,
                }),
                "rank DESC, p.rating_count DESC, p.id DESC",
            ),
        };
        // One more than the page holds: `Page::cut` learns from it whether a next page exists.
        let limit = b.bind(Bind::BigInt(q.limit.saturating_add(1)));
        b.sql = format!(
            "SELECT p.id, p.slug, p.name, p.brand, p.category_id, p.images[1] AS image, p.currency, \
                    p.min_price, p.max_price, {IN_STOCK} AS in_stock, p.rating_count, p.rating_sum, \
                    p.created_at, {rank} AS rank \
             FROM products p WHERE {filters}{} ORDER BY {order} LIMIT {limit}",
            keyset.map(|k| format!(" AND {k}")).unwrap_or_default()
        );
        let rows: Vec<SummaryRow> = b.run().load(&mut conn).await.map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let cur = currency(&r.currency);
                ProductSummary {
                    id: r.id,
                    slug: r.slug,
                    name: r.name,
                    brand: r.brand,
                    category_id: r.category_id,
                    image: r.image,
                    price_min: Money::new(r.min_price, cur),
                    price_max: Money::new(r.max_price, cur),
                    in_stock: r.in_stock,
                    rating_average: rating_average(r.rating_sum, r.rating_count),
                    rating_count: r.rating_count,
                    created_at: r.created_at,
                    rank: r.rank,
                }
            })
            .collect())
    }

    async fn facets_on(&self, q: &ListingQuery, freshness: crate::Freshness) -> Result<Facets, CatalogError> {
        let mut conn = self.db.read_conn(freshness).await?;
        let fuzzy = q.fuzzy && q.q.is_some();
        let mut out = Facets::default();
        for (column, target) in [("p.category_id::text", &mut out.categories), ("p.brand", &mut out.brands)] {
            let mut b = SqlBuilder::new();
            let filters = b.filters(q, fuzzy);
            b.sql = format!(
                "SELECT {column} AS value, count(*) AS count FROM products p \
                 WHERE {filters} AND {column} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50"
            );
            let rows: Vec<FacetRow> = b.run().load(&mut conn).await.map_err(map_err)?;
            *target = rows.into_iter().map(|r| Facet { value: r.value, count: r.count }).collect();
        }
        Ok(out)
    }
}
