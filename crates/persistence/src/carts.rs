//! Adapter for `cart::CartRepo`.

use cart::rules::{self, LineFact, LineWrite};
use cart::{CartContents, CartError, CartOwner, CartRepo, LineSnapshot};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::upsert::excluded;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::Db;
use crate::error::{OrStorage, Settle, TxError};
use crate::rows::{currency, object};
use crate::schema::{cart_lines, carts, products, variants};

pub struct PgCartRepo {
    db: Db,
}

impl PgCartRepo {
    pub fn new(db: Db) -> Self {
        PgCartRepo { db }
    }
}

/// A cart line joined with its variant and product, as the cart and checkout read it: through
/// the query builder (`Selectable`) or by name from the raw statements that lock lines
/// (checkout) or read them beside the variant being added (`QueryableByName`).
#[derive(Queryable, Selectable, QueryableByName)]
#[diesel(table_name = cart_lines, check_for_backend(diesel::pg::Pg))]
pub(crate) struct LineRow {
    #[diesel(sql_type = SqlUuid)]
    pub variant_id: Uuid,
    /// 0 for the variant being added when the cart does not hold it yet.
    #[diesel(sql_type = Integer)]
    pub quantity: i32,
    /// The line's currency (the cart's); the product's for a variant not held yet.
    #[diesel(sql_type = Text, select_expression = cart_lines::currency)]
    pub line_currency: String,
    #[diesel(sql_type = SqlUuid, select_expression = products::id)]
    pub product_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>, select_expression = products::category_id)]
    pub category_id: Option<Uuid>,
    #[diesel(sql_type = Text, select_expression = products::slug)]
    pub slug: String,
    #[diesel(sql_type = Text, select_expression = products::name)]
    pub name: String,
    #[diesel(sql_type = Text, select_expression = variants::sku)]
    pub sku: String,
    #[diesel(sql_type = Jsonb, select_expression = variants::options)]
    pub options: Value,
    #[diesel(sql_type = BigInt, select_expression = variants::price_minor)]
    pub price_minor: i64,
    #[diesel(sql_type = Text, select_expression = products::currency)]
    pub currency: String,
    #[diesel(sql_type = Integer, select_expression = variants::stock)]
    pub stock: i32,
    #[diesel(sql_type = Bool, select_expression = variants::active)]
    pub variant_active: bool,
    #[diesel(sql_type = Text, select_expression = products::status)]
    pub product_status: String,
}

/// The columns of [`LineRow`] in raw statements over `cart_lines cl`, `variants v`, `products p`.
pub(crate) const LINE_COLUMNS: &str = "p.id AS product_id, p.category_id, p.slug, p.name, v.sku, v.options, \
     v.price_minor, p.currency, v.stock, v.active AS variant_active, p.status AS product_status";

impl LineRow {
    fn fact(&self) -> QueryResult<LineFact> {
        Ok(LineFact { variant_id: self.variant_id, quantity: self.quantity, currency: currency(&self.line_currency)? })
    }
}

impl TryFrom<LineRow> for LineSnapshot {
    type Error = diesel::result::Error;
    fn try_from(r: LineRow) -> QueryResult<Self> {
        Ok(LineSnapshot {
            variant_id: r.variant_id,
            product_id: r.product_id,
            category_id: r.category_id,
            product_slug: r.slug,
            name: r.name,
            sku: r.sku,
            options: object(r.options)?,
            unit_price_minor: r.price_minor,
            currency: currency(&r.currency)?,
            quantity: r.quantity,
            stock: r.stock,
            purchasable: r.variant_active && r.product_status == "active",
        })
    }
}

/// A `text[]` as read (its elements nullable to diesel; never NULL here).
pub(crate) fn present(codes: Vec<Option<String>>) -> Vec<String> {
    codes.into_iter().flatten().collect()
}

pub(crate) fn stored(codes: Vec<String>) -> Vec<Option<String>> {
    codes.into_iter().map(Some).collect()
}

async fn find(conn: &mut AsyncPgConnection, owner: &CartOwner) -> QueryResult<Option<Uuid>> {
    match owner {
        CartOwner::User(u) => carts::table.filter(carts::user_id.eq(u)).select(carts::id).first(conn).await.optional(),
        CartOwner::Guest(h) => {
            carts::table.filter(carts::token_hash.eq(h)).select(carts::id).first(conn).await.optional()
        }
    }
}

/// A cart row read under its lock.
pub(crate) struct HeldCart {
    pub id: Uuid,
    pub currency: Option<String>,
    pub codes: Vec<String>,
}

async fn lock_owned(conn: &mut AsyncPgConnection, owner: &CartOwner) -> QueryResult<Option<HeldCart>> {
    let columns = (carts::id, carts::currency, carts::promotion_codes);
    let row: Option<(Uuid, Option<String>, Vec<Option<String>>)> = match owner {
        CartOwner::User(u) => carts::table.filter(carts::user_id.eq(u)).select(columns).for_update().first(conn).await,
        CartOwner::Guest(h) => {
            carts::table.filter(carts::token_hash.eq(h)).select(columns).for_update().first(conn).await
        }
    }
    .optional()?;
    Ok(row.map(|(id, currency, codes)| HeldCart { id, currency, codes: present(codes) }))
}

/// Locks the owner's cart row, creating the cart first if the owner has none.
pub(crate) async fn lock_or_create(conn: &mut AsyncPgConnection, owner: &CartOwner) -> QueryResult<HeldCart> {
    if let Some(held) = lock_owned(conn, owner).await? {
        return Ok(held);
    }
    let (user, hash) = match owner {
        CartOwner::User(u) => (Some(*u), None),
        CartOwner::Guest(h) => (None, Some(h.clone())),
    };
    // A concurrent creator's row wins the conflict; either way the cart exists afterwards.
    diesel::insert_into(carts::table)
        .values((carts::id.eq(Uuid::now_v7()), carts::user_id.eq(user), carts::token_hash.eq(hash)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    lock_owned(conn, owner).await?.ok_or(diesel::result::Error::NotFound)
}

/// Locks a cart's row; false when there is no such cart.
async fn lock(conn: &mut AsyncPgConnection, cart: Uuid) -> QueryResult<bool> {
    let found: Option<Uuid> = carts::table.find(cart).select(carts::id).for_update().first(conn).await.optional()?;
    Ok(found.is_some())
}

/// A cart's lines with their variants and products, oldest first.
async fn held_lines(conn: &mut AsyncPgConnection, cart: Uuid) -> QueryResult<Vec<LineRow>> {
    cart_lines::table
        .inner_join(variants::table.inner_join(products::table))
        .filter(cart_lines::cart_id.eq(cart))
        .order((cart_lines::added_at, cart_lines::variant_id))
        .select(LineRow::as_select())
        .load(conn)
        .await
}

/// A variant as a cart line would show it (quantity 0), if it exists.
async fn item(conn: &mut AsyncPgConnection, variant: Uuid) -> QueryResult<Option<LineSnapshot>> {
    type Item = (Uuid, Option<Uuid>, String, String, String, Value, i64, String, i32, bool, String);
    let row: Option<Item> = variants::table
        .inner_join(products::table)
        .filter(variants::id.eq(variant))
        .select((
            products::id,
            products::category_id,
            products::slug,
            products::name,
            variants::sku,
            variants::options,
            variants::price_minor,
            products::currency,
            variants::stock,
            variants::active,
            products::status,
        ))
        .first(conn)
        .await
        .optional()?;
    let Some((product_id, category_id, slug, name, sku, options, price_minor, currency, stock, active, status)) = row
    else {
        return Ok(None);
    };
    let line_currency = currency.clone();
    let row = LineRow {
        variant_id: variant,
        quantity: 0,
        line_currency,
        product_id,
        category_id,
        slug,
        name,
        sku,
        options,
        price_minor,
        currency,
        stock,
        variant_active: active,
        product_status: status,
    };
    LineSnapshot::try_from(row).map(Some)
}

/// What the cart rules need to know of a cart's lines (read under its lock).
pub(crate) async fn facts(conn: &mut AsyncPgConnection, cart: Uuid) -> QueryResult<Vec<LineFact>> {
    let rows: Vec<(Uuid, i32, String)> = cart_lines::table
        .filter(cart_lines::cart_id.eq(cart))
        .order((cart_lines::added_at, cart_lines::variant_id))
        .select((cart_lines::variant_id, cart_lines::quantity, cart_lines::currency))
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|(variant_id, quantity, c)| Ok(LineFact { variant_id, quantity, currency: currency(&c)? }))
        .collect()
}

/// Writes what a cart rule decided: the cart takes the lines' currency, then each line is
/// inserted or given its new quantity.
///
/// A line is stamped with the time of its write (`clock_timestamp()`, not the transaction's
/// start): the cart's lock orders the writes, so lines sort in the order they were added even
/// when a transaction that began earlier waited for the lock.
pub(crate) async fn write_lines(conn: &mut AsyncPgConnection, cart: Uuid, writes: &[LineWrite]) -> QueryResult<()> {
    let Some(first) = writes.first() else { return Ok(()) };
    diesel::update(carts::table.find(cart)).set(carts::currency.eq(first.currency.as_str())).execute(conn).await?;
    insert_lines(conn, cart, writes).await
}

async fn insert_lines(conn: &mut AsyncPgConnection, cart: Uuid, writes: &[LineWrite]) -> QueryResult<()> {
    let rows: Vec<_> = writes
        .iter()
        .map(|w| {
            (
                cart_lines::cart_id.eq(cart),
                cart_lines::variant_id.eq(w.variant_id),
                cart_lines::quantity.eq(w.quantity),
                cart_lines::currency.eq(w.currency.as_str()),
                cart_lines::added_at.eq(sql::<Timestamptz>("clock_timestamp()")),
            )
        })
        .collect();
    diesel::insert_into(cart_lines::table)
        .values(rows)
        .on_conflict((cart_lines::cart_id, cart_lines::variant_id))
        .do_update()
        .set(cart_lines::quantity.eq(excluded(cart_lines::quantity)))
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl CartRepo for PgCartRepo {
    async fn find(&self, owner: &CartOwner) -> Result<Option<Uuid>, CartError> {
        let mut conn = self.db.conn().await?;
        Ok(find(&mut conn, owner).await.storage()?)
    }

    async fn lines(&self, cart: Uuid) -> Result<Vec<LineSnapshot>, CartError> {
        let mut conn = self.db.conn().await?;
        let rows = held_lines(&mut conn, cart).await.storage()?;
        Ok(rows.into_iter().map(LineSnapshot::try_from).collect::<QueryResult<_>>().storage()?)
    }

    async fn add_line(&self, owner: &CartOwner, variant: Uuid, quantity: i32) -> Result<CartContents, CartError> {
        let mut conn = self.db.conn().await?;
        let result: Result<CartContents, TxError<CartError>> = conn
            .transaction(async |conn| {
                let cart = lock_or_create(conn, owner).await?;
                // The held lines (oldest first), then the variant being added unless it is one of
                // them: query-builder statements, prepared once per connection (a raw statement
                // joining both was parsed and planned on every add: measured in
                // docs/performance.md, "Checkout against its floor").
                let rows = held_lines(conn, cart.id).await?;
                let facts = rows.iter().map(LineRow::fact).collect::<QueryResult<Vec<_>>>()?;
                let held = rows.into_iter().map(LineSnapshot::try_from).collect::<QueryResult<Vec<_>>>()?;
                let item = match held.iter().find(|l| l.variant_id == variant) {
                    Some(line) => Some(line.clone()),
                    None => item(conn, variant).await?,
                };
                let item = item.ok_or(TxError::Domain(CartError::UnknownVariant))?;
                let write = rules::add(&facts, variant, item.currency, quantity).map_err(TxError::Domain)?;
                // The cart takes the line's currency when it changes; a guest cart's row is
                // written on every add all the same (its `updated_at` says when it was last used).
                if cart.currency.as_deref() != Some(write.currency.as_str()) || matches!(owner, CartOwner::Guest(_)) {
                    write_lines(conn, cart.id, &[write]).await?;
                } else {
                    insert_lines(conn, cart.id, &[write]).await?;
                }
                Ok(CartContents { id: cart.id, lines: rules::with_write(held, &write, item), codes: cart.codes })
            })
            .await;
        result.settle()
    }

    async fn set_line(&self, cart: Uuid, variant: Uuid, quantity: i32) -> Result<(), CartError> {
        let mut conn = self.db.conn().await?;
        let result: Result<(), TxError<CartError>> = conn
            .transaction(async |conn| {
                if !lock(conn, cart).await? {
                    return Err(TxError::Domain(CartError::NotFound));
                }
                let facts = facts(conn, cart).await?;
                let write = rules::set_quantity(&facts, variant, quantity).map_err(TxError::Domain)?;
                write_lines(conn, cart, &[write]).await?;
                Ok(())
            })
            .await;
        result.settle()
    }

    async fn remove(&self, cart: Uuid, variant: Uuid) -> Result<(), CartError> {
        let mut conn = self.db.conn().await?;
        // The cart's lock first, as every cart write takes it (the line-count trigger updates the
        // cart row after the delete: taking it second would deadlock against an add).
        let n: usize = conn
            .transaction(async |conn| {
                lock(conn, cart).await?;
                diesel::delete(cart_lines::table.find((cart, variant))).execute(conn).await
            })
            .await
            .storage()?;
        if n == 0 { Err(CartError::NotFound) } else { Ok(()) }
    }

    async fn clear(&self, cart: Uuid) -> Result<(), CartError> {
        let mut conn = self.db.conn().await?;
        conn.transaction(async |conn| {
            lock(conn, cart).await?;
            diesel::delete(cart_lines::table.filter(cart_lines::cart_id.eq(cart))).execute(conn).await
        })
        .await
        .storage()?;
        Ok(())
    }

    async fn codes(&self, cart: Uuid) -> Result<Vec<String>, CartError> {
        let mut conn = self.db.conn().await?;
        let codes: Option<Vec<Option<String>>> =
            carts::table.find(cart).select(carts::promotion_codes).first(&mut conn).await.optional().storage()?;
        Ok(codes.map(present).unwrap_or_default())
    }

    async fn add_code(&self, cart: Uuid, code: &str) -> Result<(), CartError> {
        let mut conn = self.db.conn().await?;
        let result: Result<(), TxError<CartError>> = conn
            .transaction(async |conn| {
                let codes: Option<Vec<Option<String>>> =
                    carts::table.find(cart).select(carts::promotion_codes).for_update().first(conn).await.optional()?;
                let codes = present(codes.ok_or(TxError::Domain(CartError::NotFound))?);
                if let Some(new) = rules::add_code(&codes, code).map_err(TxError::Domain)? {
                    diesel::update(carts::table.find(cart))
                        .set(carts::promotion_codes.eq(stored(new)))
                        .execute(conn)
                        .await?;
                }
                Ok(())
            })
            .await;
        result.settle()
    }

    async fn remove_code(&self, cart: Uuid, code: &str) -> Result<bool, CartError> {
        let mut conn = self.db.conn().await?;
        // One statement: the row lock of the UPDATE orders it against `add_code`.
        let n = diesel::sql_query(
            "UPDATE carts SET promotion_codes = array_remove(promotion_codes, $2) WHERE id = $1 AND $2 = ANY(promotion_codes)",
        )
        .bind::<diesel::sql_types::Uuid, _>(cart)
        .bind::<diesel::sql_types::Text, _>(code)
        .execute(&mut conn)
        .await
        .storage()?;
        Ok(n > 0)
    }

    async fn merge(&self, from: Uuid, into: &CartOwner) -> Result<(), CartError> {
        let mut conn = self.db.conn().await?;
        let result: Result<(), TxError<CartError>> = conn
            .transaction(async |conn| {
                // Both carts locked, always the guest cart first (every other transaction locks
                // one cart), so no line can join either while the rules are checked.
                if !lock(conn, from).await? {
                    return Ok(()); // the guest cart went (merged or purged) meanwhile
                }
                let into = lock_or_create(conn, into).await?.id;
                if into == from {
                    return Ok(());
                }
                let (theirs, ours) = (facts(conn, from).await?, facts(conn, into).await?);
                let writes = rules::merge(&ours, &theirs).map_err(TxError::Domain)?;
                write_lines(conn, into, &writes).await?;
                let codes: Vec<Vec<Option<String>>> = carts::table
                    .filter(carts::id.eq_any([into, from]))
                    .order(carts::id.eq(from))
                    .select(carts::promotion_codes)
                    .load(conn)
                    .await?;
                if let [ours, theirs] = codes.as_slice() {
                    let ours = present(ours.clone());
                    let merged = rules::merge_codes(&ours, &present(theirs.clone()));
                    if merged != ours {
                        diesel::update(carts::table.find(into))
                            .set(carts::promotion_codes.eq(stored(merged)))
                            .execute(conn)
                            .await?;
                    }
                }
                diesel::delete(carts::table.find(from)).execute(conn).await?;
                Ok(())
            })
            .await;
        result.settle()
    }

    async fn purge_guest_carts(&self, older_than_secs: i64) -> Result<u64, CartError> {
        let mut conn = self.db.conn().await?;
        let cutoff = chrono::Utc::now() - chrono::Duration::seconds(older_than_secs);
        let n = diesel::delete(carts::table.filter(carts::user_id.is_null()).filter(carts::updated_at.lt(cutoff)))
            .execute(&mut conn)
            .await
            .storage()?;
        Ok(n as u64)
    }
}
