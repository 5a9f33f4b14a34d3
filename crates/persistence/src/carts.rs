//! Adapter for `cart::CartRepo`.

use cart::{CartError, CartOwner, CartRepo, LineSnapshot, NewShippingMethod, ShippingMethod, ShippingMethodPatch};
use diesel::pg::Pg;
use diesel::prelude::*;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use primitives::{Currency, Money};
use serde_json::Value;
use uuid::Uuid;

use crate::schema::{cart_lines, carts, products, shipping_methods, variants};
use crate::{Db, DbError};

pub struct PgCartRepo {
    db: Db,
}

impl PgCartRepo {
    pub fn new(db: Db) -> Self {
        PgCartRepo { db }
    }
}

fn storage(e: impl std::fmt::Display) -> CartError {
    CartError::Storage(e.to_string())
}

impl From<DbError> for CartError {
    fn from(e: DbError) -> Self {
        storage(e)
    }
}

pub(crate) fn currency(s: &str) -> Currency {
    s.parse().unwrap_or_else(|_| "XXX".parse().expect("XXX is valid"))
}

pub(crate) fn object(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// A cart line joined with its variant and product, as the cart and checkout read it.
#[derive(Queryable)]
pub(crate) struct LineRow {
    pub variant_id: Uuid,
    pub quantity: i32,
    pub product_id: Uuid,
    pub slug: String,
    pub name: String,
    pub sku: String,
    pub options: Value,
    pub price_minor: i64,
    pub currency: String,
    pub stock: i32,
    pub variant_active: bool,
    pub product_status: String,
}

impl From<LineRow> for LineSnapshot {
    fn from(r: LineRow) -> Self {
        LineSnapshot {
            variant_id: r.variant_id,
            product_id: r.product_id,
            product_slug: r.slug,
            name: r.name,
            sku: r.sku,
            options: object(r.options),
            unit_price_minor: r.price_minor,
            currency: currency(&r.currency),
            quantity: r.quantity,
            stock: r.stock,
            purchasable: r.variant_active && r.product_status == "active",
        }
    }
}

/// Columns of `LineRow`, in order.
#[allow(clippy::type_complexity)]
pub(crate) fn line_columns() -> (
    cart_lines::variant_id,
    cart_lines::quantity,
    products::id,
    products::slug,
    products::name,
    variants::sku,
    variants::options,
    variants::price_minor,
    products::currency,
    variants::stock,
    variants::active,
    products::status,
) {
    (
        cart_lines::variant_id,
        cart_lines::quantity,
        products::id,
        products::slug,
        products::name,
        variants::sku,
        variants::options,
        variants::price_minor,
        products::currency,
        variants::stock,
        variants::active,
        products::status,
    )
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = shipping_methods, check_for_backend(Pg))]
struct MethodRow {
    id: Uuid,
    name: String,
    price_minor: i64,
    currency: String,
    countries: Vec<String>,
    active: bool,
}

impl From<MethodRow> for ShippingMethod {
    fn from(r: MethodRow) -> Self {
        ShippingMethod {
            id: r.id,
            name: r.name,
            price: Money::new(r.price_minor, currency(&r.currency)),
            countries: r.countries,
            active: r.active,
        }
    }
}

#[derive(AsChangeset)]
#[diesel(table_name = shipping_methods)]
struct MethodChanges<'a> {
    name: Option<&'a str>,
    price_minor: Option<i64>,
    countries: Option<&'a [String]>,
    active: Option<bool>,
}

async fn find(conn: &mut AsyncPgConnection, owner: &CartOwner) -> QueryResult<Option<Uuid>> {
    match owner {
        CartOwner::User(u) => carts::table.filter(carts::user_id.eq(u)).select(carts::id).first(conn).await.optional(),
        CartOwner::Guest(h) => {
            carts::table.filter(carts::token_hash.eq(h)).select(carts::id).first(conn).await.optional()
        }
    }
}

#[async_trait::async_trait]
impl CartRepo for PgCartRepo {
    async fn find(&self, owner: &CartOwner) -> Result<Option<Uuid>, CartError> {
        let mut conn = self.db.conn().await?;
        find(&mut conn, owner).await.map_err(storage)
    }

    async fn get_or_create(&self, owner: &CartOwner) -> Result<Uuid, CartError> {
        let mut conn = self.db.conn().await?;
        if let Some(id) = find(&mut conn, owner).await.map_err(storage)? {
            return Ok(id);
        }
        let (user, hash) = match owner {
            CartOwner::User(u) => (Some(*u), None),
            CartOwner::Guest(h) => (None, Some(h.clone())),
        };
        diesel::insert_into(carts::table)
            .values((carts::id.eq(Uuid::now_v7()), carts::user_id.eq(user), carts::token_hash.eq(hash)))
            .on_conflict_do_nothing()
            .execute(&mut conn)
            .await
            .map_err(storage)?;
        // Either ours or the one a concurrent request created first.
        find(&mut conn, owner).await.map_err(storage)?.ok_or(CartError::NotFound)
    }

    async fn lines(&self, cart: Uuid) -> Result<Vec<LineSnapshot>, CartError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<LineRow> = cart_lines::table
            .inner_join(variants::table.inner_join(products::table))
            .filter(cart_lines::cart_id.eq(cart))
            .order((cart_lines::added_at, cart_lines::variant_id))
            .select(line_columns())
            .load(&mut conn)
            .await
            .map_err(storage)?;
        Ok(rows.into_iter().map(LineSnapshot::from).collect())
    }

    async fn variant_currency(&self, variant: Uuid) -> Result<Option<Currency>, CartError> {
        let mut conn = self.db.conn().await?;
        let c: Option<String> = variants::table
            .inner_join(products::table)
            .filter(variants::id.eq(variant))
            .select(products::currency)
            .first(&mut conn)
            .await
            .optional()
            .map_err(storage)?;
        Ok(c.as_deref().map(currency))
    }

    async fn add(&self, cart: Uuid, variant: Uuid, quantity: i32) -> Result<(), CartError> {
        let mut conn = self.db.conn().await?;
        diesel::insert_into(cart_lines::table)
            .values((
                cart_lines::cart_id.eq(cart),
                cart_lines::variant_id.eq(variant),
                cart_lines::quantity.eq(quantity),
            ))
            .on_conflict((cart_lines::cart_id, cart_lines::variant_id))
            .do_update()
            .set(cart_lines::quantity.eq(diesel::dsl::sql::<diesel::sql_types::Integer>(
                "LEAST(99, cart_lines.quantity + excluded.quantity)",
            )))
            .execute(&mut conn)
            .await
            .map_err(|e| match e {
                diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::ForeignKeyViolation, _) => {
                    CartError::UnknownVariant
                }
                e => storage(e),
            })?;
        diesel::update(carts::table.find(cart))
            .set(carts::updated_at.eq(diesel::dsl::now))
            .execute(&mut conn)
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn set_quantity(&self, cart: Uuid, variant: Uuid, quantity: i32) -> Result<(), CartError> {
        let mut conn = self.db.conn().await?;
        let n = diesel::update(cart_lines::table.find((cart, variant)))
            .set(cart_lines::quantity.eq(quantity))
            .execute(&mut conn)
            .await
            .map_err(storage)?;
        if n == 0 { Err(CartError::NotFound) } else { Ok(()) }
    }

    async fn remove(&self, cart: Uuid, variant: Uuid) -> Result<(), CartError> {
        let mut conn = self.db.conn().await?;
        let n = diesel::delete(cart_lines::table.find((cart, variant))).execute(&mut conn).await.map_err(storage)?;
        if n == 0 { Err(CartError::NotFound) } else { Ok(()) }
    }

    async fn clear(&self, cart: Uuid) -> Result<(), CartError> {
        let mut conn = self.db.conn().await?;
        diesel::delete(cart_lines::table.filter(cart_lines::cart_id.eq(cart)))
            .execute(&mut conn)
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn merge(&self, from: Uuid, into: Uuid) -> Result<(), CartError> {
        let mut conn = self.db.conn().await?;
        conn.transaction(async |conn| {
            let lines: Vec<(Uuid, i32)> = cart_lines::table
                .filter(cart_lines::cart_id.eq(from))
                .select((cart_lines::variant_id, cart_lines::quantity))
                .for_update()
                .load(conn)
                .await?;
            for (variant, quantity) in lines {
                diesel::insert_into(cart_lines::table)
                    .values((
                        cart_lines::cart_id.eq(into),
                        cart_lines::variant_id.eq(variant),
                        cart_lines::quantity.eq(quantity),
                    ))
                    .on_conflict((cart_lines::cart_id, cart_lines::variant_id))
                    .do_update()
                    .set(cart_lines::quantity.eq(diesel::dsl::sql::<diesel::sql_types::Integer>(
                        "LEAST(99, cart_lines.quantity + excluded.quantity)",
                    )))
                    .execute(conn)
                    .await?;
            }
            diesel::delete(carts::table.find(from)).execute(conn).await?;
            Ok::<_, diesel::result::Error>(())
        })
        .await
        .map_err(storage)
    }

    async fn purge_guest_carts(&self, older_than_secs: i64) -> Result<u64, CartError> {
        let mut conn = self.db.conn().await?;
        let cutoff = chrono::Utc::now() - chrono::Duration::seconds(older_than_secs);
        let n = diesel::delete(carts::table.filter(carts::user_id.is_null()).filter(carts::updated_at.lt(cutoff)))
            .execute(&mut conn)
            .await
            .map_err(storage)?;
        Ok(n as u64)
    }

    async fn shipping_methods(&self, active_only: bool) -> Result<Vec<ShippingMethod>, CartError> {
        let mut conn = self.db.conn().await?;
        let mut q = shipping_methods::table.select(MethodRow::as_select()).into_boxed();
        if active_only {
            q = q.filter(shipping_methods::active);
        }
        let rows: Vec<MethodRow> =
            q.order((shipping_methods::price_minor, shipping_methods::name)).load(&mut conn).await.map_err(storage)?;
        Ok(rows.into_iter().map(ShippingMethod::from).collect())
    }

    async fn shipping_method(&self, id: Uuid) -> Result<Option<ShippingMethod>, CartError> {
        let mut conn = self.db.conn().await?;
        let row: Option<MethodRow> = shipping_methods::table
            .find(id)
            .select(MethodRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(storage)?;
        Ok(row.map(ShippingMethod::from))
    }

    async fn create_shipping_method(&self, m: &NewShippingMethod) -> Result<ShippingMethod, CartError> {
        let mut conn = self.db.conn().await?;
        let row: MethodRow = diesel::insert_into(shipping_methods::table)
            .values((
                shipping_methods::id.eq(Uuid::now_v7()),
                shipping_methods::name.eq(m.name.trim()),
                shipping_methods::price_minor.eq(m.price_minor),
                shipping_methods::currency.eq(&m.currency),
                shipping_methods::countries.eq(&m.countries),
                shipping_methods::active.eq(m.active),
            ))
            .returning(MethodRow::as_returning())
            .get_result(&mut conn)
            .await
            .map_err(storage)?;
        Ok(row.into())
    }

    async fn update_shipping_method(&self, id: Uuid, p: &ShippingMethodPatch) -> Result<ShippingMethod, CartError> {
        let mut conn = self.db.conn().await?;
        let changes = MethodChanges {
            name: p.name.as_deref().map(str::trim),
            price_minor: p.price_minor,
            countries: p.countries.as_deref(),
            active: p.active,
        };
        let empty = changes.name.is_none()
            && changes.price_minor.is_none()
            && changes.countries.is_none()
            && changes.active.is_none();
        if !empty {
            diesel::update(shipping_methods::table.find(id)).set(&changes).execute(&mut conn).await.map_err(storage)?;
        }
        drop(conn);
        self.shipping_method(id).await?.ok_or(CartError::NotFound)
    }

    async fn delete_shipping_method(&self, id: Uuid) -> Result<(), CartError> {
        let mut conn = self.db.conn().await?;
        let n = diesel::delete(shipping_methods::table.find(id)).execute(&mut conn).await.map_err(storage)?;
        if n == 0 { Err(CartError::NotFound) } else { Ok(()) }
    }
}
