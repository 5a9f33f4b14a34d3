//! Adapter for `orders::OrderRepo`: the checkout transaction, state transitions with restock,
//! idempotency keys and webhook de-duplication.

use ::orders::events as order_events_out;
use ::orders::{
    Applied, Changes, CheckoutRefusal, Claim, Event, Order, OrderError, OrderFilter, OrderLine, OrderPromotion,
    OrderRepo, OrderStatus, PlaceOrder, TransitionData, changes, checkout,
};
use cart::LineSnapshot;
use cart::rules::LineFact;
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{Array, Integer, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use primitives::Money;
use promotions::Redemption;
use serde_json::Value;
use uuid::Uuid;

use crate::carts::LineRow;
use crate::error::{OrStorage, Settle, TxError};
use crate::rows::{currency, decoded, encoded, object};
use crate::schema::{
    cart_lines, carts, idempotency_keys, order_events, order_lines, orders, payment_events, products, variants,
};
use crate::{Db, promoting};

/// An attempt on an idempotency key that has not finished after this long crashed: the next claim
/// recovers its order or takes the key over.
const STALE_ATTEMPT_SECS: i64 = 60;

pub struct PgOrderRepo {
    db: Db,
}

impl PgOrderRepo {
    pub fn new(db: Db) -> Self {
        PgOrderRepo { db }
    }
}

fn refuse(r: CheckoutRefusal) -> TxError<OrderError> {
    TxError::Domain(OrderError::Refused(r))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = orders, check_for_backend(Pg))]
struct OrderRow {
    id: Uuid,
    user_id: Uuid,
    status: String,
    currency: String,
    subtotal_minor: i64,
    shipping_minor: i64,
    discount_minor: i64,
    tax_minor: i64,
    total_minor: i64,
    promotions: Value,
    shipping_address: Value,
    shipping_method: String,
    payment_id: Option<String>,
    refund_id: Option<String>,
    carrier: Option<String>,
    tracking_number: Option<String>,
    expires_at: DateTime<Utc>,
    paid_at: Option<DateTime<Utc>>,
    shipped_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    refunded_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// What one transition writes to the order row (`orders::changes` decided it): one UPDATE.
/// Fields left `None` are not touched.
#[derive(AsChangeset)]
#[diesel(table_name = orders)]
struct Transitioned<'a> {
    status: &'a str,
    paid_at: Option<DateTime<Utc>>,
    shipped_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    refunded_at: Option<DateTime<Utc>>,
    carrier: Option<&'a str>,
    tracking_number: Option<&'a str>,
    payment_id: Option<&'a str>,
    payment_error: Option<&'a str>,
}

impl<'a> From<&'a Changes> for Transitioned<'a> {
    fn from(c: &'a Changes) -> Self {
        Transitioned {
            status: c.to.as_str(),
            paid_at: c.paid_at,
            shipped_at: c.shipped_at,
            delivered_at: c.delivered_at,
            cancelled_at: c.cancelled_at,
            refunded_at: c.refunded_at,
            carrier: c.carrier.as_deref(),
            tracking_number: c.tracking_number.as_deref(),
            payment_id: c.payment_id.as_deref(),
            payment_error: c.payment_error.as_deref(),
        }
    }
}

/// A status read from the database; one this code does not know is an error, never a default.
fn decode_status(s: &str) -> QueryResult<OrderStatus> {
    OrderStatus::parse(s).ok_or_else(|| DieselError::DeserializationError(format!("unknown order status `{s}`").into()))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = order_lines, check_for_backend(Pg))]
struct LineDbRow {
    order_id: Uuid,
    line_no: i32,
    variant_id: Option<Uuid>,
    product_id: Option<Uuid>,
    sku: String,
    name: String,
    options: Value,
    unit_price_minor: i64,
    quantity: i32,
    line_total_minor: i64,
    discount_minor: i64,
}

fn assemble(row: OrderRow, lines: Vec<LineDbRow>) -> QueryResult<Order> {
    let cur = currency(&row.currency)?;
    let money = |m| Money::new(m, cur);
    Ok(Order {
        id: row.id,
        user_id: row.user_id,
        status: decode_status(&row.status)?,
        subtotal: money(row.subtotal_minor),
        shipping: money(row.shipping_minor),
        discount: money(row.discount_minor),
        tax: money(row.tax_minor),
        total: money(row.total_minor),
        promotions: decoded("order promotions", row.promotions)?,
        shipping_address: serde_json::from_value(row.shipping_address)
            .map_err(|e| DieselError::DeserializationError(Box::new(e)))?,
        shipping_method: row.shipping_method,
        lines: lines
            .into_iter()
            .map(|l| {
                Ok(OrderLine {
                    line_no: l.line_no,
                    variant_id: l.variant_id,
                    product_id: l.product_id,
                    sku: l.sku,
                    name: l.name,
                    options: object(l.options)?,
                    unit_price: money(l.unit_price_minor),
                    quantity: l.quantity,
                    line_total: money(l.line_total_minor),
                    discount: money(l.discount_minor),
                })
            })
            .collect::<QueryResult<_>>()?,
        carrier: row.carrier,
        tracking_number: row.tracking_number,
        expires_at: row.expires_at,
        paid_at: row.paid_at,
        shipped_at: row.shipped_at,
        delivered_at: row.delivered_at,
        cancelled_at: row.cancelled_at,
        refunded_at: row.refunded_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
        payment_id: row.payment_id,
        refund_id: row.refund_id,
    })
}

async fn load_orders(conn: &mut AsyncPgConnection, rows: Vec<OrderRow>) -> QueryResult<Vec<Order>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut lines: Vec<LineDbRow> = order_lines::table
        .filter(order_lines::order_id.eq_any(&ids))
        .order((order_lines::order_id, order_lines::line_no))
        .select(LineDbRow::as_select())
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|r| {
            let (mine, rest): (Vec<_>, Vec<_>) =
                std::mem::take(&mut lines).into_iter().partition(|l| l.order_id == r.id);
            lines = rest;
            assemble(r, mine)
        })
        .collect()
}

/// Every order of a user, newest first, with lines (the data export).
pub(crate) async fn orders_of(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<Vec<Order>> {
    let rows: Vec<OrderRow> = orders::table
        .filter(orders::user_id.eq(user))
        .order((orders::created_at.desc(), orders::id.desc()))
        .select(OrderRow::as_select())
        .load(conn)
        .await?;
    load_orders(conn, rows).await
}

async fn load_order(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Order>> {
    let row: Option<OrderRow> = orders::table.find(id).select(OrderRow::as_select()).first(conn).await.optional()?;
    match row {
        Some(r) => Ok(load_orders(conn, vec![r]).await?.pop()),
        None => Ok(None),
    }
}

/// Puts a declined order's lines and promotion codes back in its customer's cart, as
/// `cart::rules::restore` and `merge_codes` decide, under the cart's row lock.
async fn restore_cart(conn: &mut AsyncPgConnection, order: Uuid, owner: Uuid) -> QueryResult<()> {
    let cart = crate::carts::lock_or_create(conn, &cart::CartOwner::User(owner)).await?;
    let held = crate::carts::facts(conn, cart).await?;
    let bought: Vec<(Uuid, i32, String)> = order_lines::table
        .inner_join(variants::table.on(order_lines::variant_id.eq(variants::id.nullable())))
        .inner_join(products::table.on(products::id.eq(variants::product_id)))
        .filter(order_lines::order_id.eq(order))
        .order(order_lines::line_no)
        .select((variants::id, order_lines::quantity, products::currency))
        .load(conn)
        .await?;
    let bought: Vec<LineFact> = bought
        .into_iter()
        .map(|(variant_id, quantity, c)| Ok(LineFact { variant_id, quantity, currency: currency(&c)? }))
        .collect::<QueryResult<_>>()?;
    crate::carts::write_lines(conn, cart, &cart::rules::restore(&held, &bought)).await?;
    let (applied, codes): (Value, Vec<Option<String>>) = orders::table
        .inner_join(carts::table.on(carts::id.eq(cart)))
        .filter(orders::id.eq(order))
        .select((orders::promotions, carts::promotion_codes))
        .first(conn)
        .await?;
    let applied: Vec<OrderPromotion> = decoded("order promotions", applied)?;
    let used: Vec<String> = applied.into_iter().filter_map(|p| p.code).collect();
    let held = crate::carts::present(codes);
    let merged = cart::rules::merge_codes(&held, &used);
    if merged != held {
        diesel::update(carts::table.find(cart))
            .set(carts::promotion_codes.eq(crate::carts::stored(merged)))
            .execute(conn)
            .await?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct LockedLine {
    #[diesel(sql_type = SqlUuid)]
    variant_id: Uuid,
    #[diesel(sql_type = Integer)]
    quantity: i32,
    #[diesel(sql_type = SqlUuid)]
    product_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Nullable<SqlUuid>)]
    category_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    sku: String,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    options: Value,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    price_minor: i64,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = Integer)]
    stock: i32,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    variant_active: bool,
    #[diesel(sql_type = Text)]
    product_status: String,
}

impl From<LockedLine> for LineRow {
    fn from(l: LockedLine) -> Self {
        LineRow {
            variant_id: l.variant_id,
            quantity: l.quantity,
            product_id: l.product_id,
            category_id: l.category_id,
            slug: l.slug,
            name: l.name,
            sku: l.sku,
            options: l.options,
            price_minor: l.price_minor,
            currency: l.currency,
            stock: l.stock,
            variant_active: l.variant_active,
            product_status: l.product_status,
        }
    }
}

#[derive(QueryableByName)]
struct LockedCart {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Array<diesel::sql_types::Nullable<Text>>)]
    promotion_codes: Vec<Option<String>>,
}

#[derive(QueryableByName)]
struct Restocked {
    #[diesel(sql_type = SqlUuid)]
    variant_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    product_id: Uuid,
    #[diesel(sql_type = Integer)]
    stock: i32,
    #[diesel(sql_type = Integer)]
    quantity: i32,
}

#[async_trait::async_trait]
impl OrderRepo for PgOrderRepo {
    async fn place(&self, p: &PlaceOrder) -> Result<Order, OrderError> {
        let mut conn = self.db.conn().await?;
        let order_id = Uuid::now_v7();
        let result: Result<Order, TxError<OrderError>> = conn
            .transaction(async |conn| {
                // One checkout per cart at a time; and, in the same statement, the promotions'
                // edit lock shared (`promoting::EDIT_LOCK_KEY`): the promotions read below are the
                // current ones, and no edit of them commits before this transaction does.
                let cart: Option<LockedCart> = diesel::sql_query(
                    "SELECT c.id, c.promotion_codes FROM carts c, pg_advisory_xact_lock_shared($2) \
                     WHERE c.user_id = $1 FOR UPDATE OF c",
                )
                .bind::<SqlUuid, _>(p.user_id)
                .bind::<diesel::sql_types::BigInt, _>(promoting::EDIT_LOCK_KEY)
                .get_result(conn)
                .await
                .optional()?;
                let Some(LockedCart { id: cart, promotion_codes: codes }) = cart else {
                    return Err(refuse(CheckoutRefusal::CartEmpty));
                };
                // Lock the variants in id order: concurrent checkouts queue instead of deadlocking,
                // and the stock read below cannot change before our update.
                let locked: Vec<LockedLine> = diesel::sql_query(
                    "SELECT cl.variant_id, cl.quantity, p.id AS product_id, p.category_id, p.slug, p.name, v.sku, v.options, \
                            v.price_minor, p.currency, v.stock, v.active AS variant_active, p.status AS product_status \
                     FROM cart_lines cl JOIN variants v ON v.id = cl.variant_id JOIN products p ON p.id = v.product_id \
                     WHERE cl.cart_id = $1 ORDER BY v.id FOR UPDATE OF v",
                )
                .bind::<SqlUuid, _>(cart)
                .load(conn)
                .await?;
                let snapshots: Vec<LineSnapshot> =
                    locked.into_iter().map(|l| LineSnapshot::try_from(LineRow::from(l))).collect::<QueryResult<_>>()?;
                // The promotions decided again, on the locked lines and the usage locked here
                // (after the variants: a cancellation takes the same locks in the same order).
                let codes = crate::carts::present(codes);
                let had_codes = !codes.is_empty();
                let candidates = promoting::candidates_in(conn, &codes).await?;
                let usage = promoting::lock_usage_in(conn, &candidates, p.user_id).await?;
                let evaluation = match <[LineSnapshot]>::first(&snapshots) {
                    Some(first) => {
                        let customer = if promotions::needs_customer(&candidates) {
                            promoting::customer_in(conn, p.user_id).await?
                        } else {
                            promotions::Customer { id: p.user_id, ..Default::default() }
                        };
                        let shopper = promotions::Shopper { customer: Some(customer), codes };
                        promotions::evaluate(
                            &candidates,
                            &cart::promotion_lines(&snapshots),
                            first.currency,
                            p.shipping_method.price.amount_minor,
                            &shopper,
                            &usage,
                            Utc::now(),
                        )
                    }
                    None => promotions::Evaluation::default(),
                };
                let plan = checkout::plan(
                    &snapshots,
                    p.shipping_method.price,
                    p.tax_rate_bp,
                    p.low_stock_threshold,
                    &evaluation,
                )
                .map_err(refuse)?;
                let (t, priced) = (&plan.totals, &plan.lines);

                diesel::insert_into(orders::table)
                    .values((
                        orders::id.eq(order_id),
                        orders::user_id.eq(p.user_id),
                        orders::status.eq(OrderStatus::PendingPayment.as_str()),
                        orders::currency.eq(t.total.currency.as_str()),
                        orders::subtotal_minor.eq(t.subtotal.amount_minor),
                        orders::shipping_minor.eq(t.shipping.amount_minor),
                        orders::discount_minor.eq(t.discount.amount_minor),
                        orders::promotions.eq(encoded(&plan.promotions)?),
                        orders::tax_minor.eq(t.tax.amount_minor),
                        orders::total_minor.eq(t.total.amount_minor),
                        orders::shipping_address.eq(&p.shipping_address),
                        orders::shipping_method_id.eq(p.shipping_method.id),
                        orders::shipping_method.eq(&p.shipping_method.name),
                        orders::expires_at.eq(p.expires_at),
                    ))
                    .execute(conn)
                    .await?;
                let ids: Vec<Uuid> = priced.iter().map(|l| l.variant_id).collect();
                let qtys: Vec<i32> = priced.iter().map(|l| l.quantity).collect();
                // Under the row locks taken above; the CHECK (stock >= 0) is the backstop.
                diesel::sql_query(
                    "WITH d AS (SELECT * FROM unnest($1::uuid[], $2::int[]) AS d(id, q)), \
                          u AS (UPDATE variants v SET stock = v.stock - d.q FROM d WHERE v.id = d.id RETURNING v.id, v.stock, d.q) \
                     INSERT INTO inventory_ledger (variant_id, delta, reason, stock_after, actor_id, order_id) \
                     SELECT u.id, -u.q, 'sale', u.stock, $3, $4 FROM u",
                )
                .bind::<Array<SqlUuid>, _>(&ids)
                .bind::<Array<Integer>, _>(&qtys)
                .bind::<SqlUuid, _>(p.user_id)
                .bind::<SqlUuid, _>(order_id)
                .execute(conn)
                .await?;
                let line_values: Vec<_> = priced
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        (
                            order_lines::order_id.eq(order_id),
                            order_lines::line_no.eq(i as i32 + 1),
                            order_lines::variant_id.eq(Some(l.variant_id)),
                            order_lines::product_id.eq(Some(l.product_id)),
                            order_lines::sku.eq(l.sku.clone()),
                            order_lines::name.eq(l.name.clone()),
                            order_lines::options.eq(Value::Object(l.options.clone())),
                            order_lines::unit_price_minor.eq(l.unit_price.amount_minor),
                            order_lines::quantity.eq(l.quantity),
                            order_lines::line_total_minor.eq(l.line_total.amount_minor),
                            order_lines::discount_minor.eq(l.discount.amount_minor),
                        )
                    })
                    .collect();
                diesel::insert_into(order_lines::table).values(line_values).execute(conn).await?;
                let redemptions: Vec<Redemption> = plan
                    .promotions
                    .iter()
                    .map(|a| Redemption {
                        promotion_id: a.promotion_id,
                        order_id,
                        user_id: p.user_id,
                        amount_minor: a.amount.amount_minor,
                    })
                    .collect();
                promoting::record_in(conn, &redemptions, &candidates).await?;
                diesel::insert_into(order_events::table)
                    .values((
                        order_events::order_id.eq(order_id),
                        order_events::to_status.eq(OrderStatus::PendingPayment.as_str()),
                        order_events::actor_id.eq(Some(p.user_id)),
                    ))
                    .execute(conn)
                    .await?;
                diesel::delete(cart_lines::table.filter(cart_lines::cart_id.eq(cart))).execute(conn).await?;
                // The codes were used (or not) by this order; the next cart starts without them.
                if had_codes {
                    diesel::update(carts::table.find(cart))
                        .set(carts::promotion_codes.eq(Vec::<Option<String>>::new()))
                        .execute(conn)
                        .await?;
                }
                diesel::update(idempotency_keys::table.find((p.user_id, &p.idempotency_key)))
                    .set(idempotency_keys::order_id.eq(order_id))
                    .execute(conn)
                    .await?;
                let order = load_order(conn, order_id).await?.ok_or(DieselError::NotFound)?;
                let mut events = vec![order_events_out::placed(&order)];
                events.extend(order_events_out::redeemed(&order));
                events.extend(plan.low_stock.iter().map(|l| {
                    order_events_out::low_stock(l.variant_id, l.product_id, &l.sku, l.stock_after, p.low_stock_threshold)
                }));
                crate::outbox::enqueue(conn, &events).await?;
                Ok(order)
            })
            .await;
        result.settle()
    }

    async fn get(&self, id: Uuid) -> Result<Option<Order>, OrderError> {
        let mut conn = self.db.conn().await?;
        Ok(load_order(&mut conn, id).await.storage()?)
    }

    async fn list(&self, f: &OrderFilter) -> Result<Vec<Order>, OrderError> {
        let mut conn = self.db.conn().await?;
        let mut q = orders::table.select(OrderRow::as_select()).into_boxed();
        if let Some(u) = f.user_id {
            q = q.filter(orders::user_id.eq(u));
        }
        if let Some(s) = f.status {
            q = q.filter(orders::status.eq(s.as_str()));
        }
        if let Some((primitives::CursorTime(ts), id)) = f.page.after {
            q = q.filter(orders::created_at.lt(ts).or(orders::created_at.eq(ts).and(orders::id.lt(id))));
        }
        let rows: Vec<OrderRow> = q
            .order((orders::created_at.desc(), orders::id.desc()))
            .limit(f.page.fetch())
            .load(&mut conn)
            .await
            .storage()?;
        Ok(load_orders(&mut conn, rows).await.storage()?)
    }

    async fn apply(&self, id: Uuid, event: Event, data: TransitionData) -> Result<Applied, OrderError> {
        let mut conn = self.db.conn().await?;
        let result: Result<Applied, TxError<OrderError>> = conn
            .transaction(async |conn| {
                let row: Option<(String, Uuid)> = orders::table
                    .find(id)
                    .select((orders::status, orders::user_id))
                    .for_update()
                    .first(conn)
                    .await
                    .optional()?;
                let Some((status, owner)) = row else { return Err(TxError::Domain(OrderError::NotFound)) };
                if data.owner.is_some_and(|u| u != owner) {
                    return Err(TxError::Domain(OrderError::NotFound));
                }
                if let Some((event_id, kind)) = &data.webhook_event {
                    let fresh = diesel::insert_into(payment_events::table)
                        .values((
                            payment_events::event_id.eq(event_id),
                            payment_events::type_.eq(kind),
                            payment_events::order_id.eq(Some(id)),
                        ))
                        .on_conflict_do_nothing()
                        .execute(conn)
                        .await?;
                    if fresh == 0 {
                        return Ok(Applied::Duplicate);
                    }
                }
                let from = decode_status(&status)?;
                let c = changes(from, event, &data, Utc::now()).map_err(|e| TxError::Domain(e.into()))?;

                if c.effects.restore_cart {
                    // Before the restock: the cart is locked before the variants, as checkout does.
                    restore_cart(conn, id, owner).await?;
                }
                let mut restocked_products = Vec::new();
                if c.effects.restock {
                    let back: Vec<Restocked> = diesel::sql_query(
                        "UPDATE variants v SET stock = v.stock + l.quantity FROM order_lines l \
                         WHERE l.order_id = $1 AND l.variant_id = v.id \
                         RETURNING v.id AS variant_id, v.product_id, v.stock, l.quantity",
                    )
                    .bind::<SqlUuid, _>(id)
                    .load(conn)
                    .await?;
                    diesel::sql_query(
                        "INSERT INTO inventory_ledger (variant_id, delta, reason, stock_after, actor_id, order_id) \
                         SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::int[], $5::uuid[], $6::uuid[])",
                    )
                    .bind::<Array<SqlUuid>, _>(back.iter().map(|r| r.variant_id).collect::<Vec<_>>())
                    .bind::<Array<Integer>, _>(back.iter().map(|r| r.quantity).collect::<Vec<_>>())
                    .bind::<Array<Text>, _>(vec!["cancellation".to_owned(); back.len()])
                    .bind::<Array<Integer>, _>(back.iter().map(|r| r.stock).collect::<Vec<_>>())
                    .bind::<Array<diesel::sql_types::Nullable<SqlUuid>>, _>(vec![data.actor; back.len()])
                    .bind::<Array<SqlUuid>, _>(vec![id; back.len()])
                    .execute(conn)
                    .await?;
                    restocked_products = back.iter().map(|r| r.product_id).collect();
                }

                if c.effects.release_promotions {
                    promoting::release_in(conn, id).await?;
                }
                diesel::update(orders::table.find(id)).set(&Transitioned::from(&c)).execute(conn).await?;
                diesel::insert_into(order_events::table)
                    .values((
                        order_events::order_id.eq(id),
                        order_events::from_status.eq(Some(from.as_str())),
                        order_events::to_status.eq(c.to.as_str()),
                        order_events::actor_id.eq(data.actor),
                        order_events::note.eq(&data.note),
                    ))
                    .execute(conn)
                    .await?;
                let order = load_order(conn, id).await?.ok_or(DieselError::NotFound)?;
                if let Some(e) = order_events_out::transitioned(&order, from, event) {
                    crate::outbox::enqueue(conn, &[e]).await?;
                }
                Ok(Applied::Done { order: Box::new(order), effects: c.effects, restocked_products })
            })
            .await;
        result.settle()
    }

    async fn due_for_expiry(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Uuid>, OrderError> {
        let mut conn = self.db.conn().await?;
        Ok(orders::table
            .filter(orders::status.eq(OrderStatus::PendingPayment.as_str()))
            .filter(orders::expires_at.lt(now))
            .order(orders::expires_at)
            .limit(limit)
            .select(orders::id)
            .load(&mut conn)
            .await
            .storage()?)
    }

    async fn due_for_refund(&self, limit: i64) -> Result<Vec<Order>, OrderError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<OrderRow> = orders::table
            .filter(orders::status.eq_any([OrderStatus::Cancelled.as_str(), OrderStatus::Refunded.as_str()]))
            .filter(orders::payment_id.is_not_null())
            .filter(orders::refund_id.is_null())
            .filter(orders::updated_at.lt(Utc::now() - chrono::Duration::seconds(30)))
            .limit(limit)
            .select(OrderRow::as_select())
            .load(&mut conn)
            .await
            .storage()?;
        Ok(load_orders(&mut conn, rows).await.storage()?)
    }

    async fn set_refund(&self, id: Uuid, refund_id: Option<&str>, error: Option<&str>) -> Result<(), OrderError> {
        let mut conn = self.db.conn().await?;
        diesel::update(orders::table.find(id))
            .set(orders::payment_error.eq(error))
            .execute(&mut conn)
            .await
            .storage()?;
        if let Some(r) = refund_id {
            diesel::update(orders::table.find(id)).set(orders::refund_id.eq(r)).execute(&mut conn).await.storage()?;
        }
        Ok(())
    }

    async fn email_verified(&self, user: Uuid) -> Result<bool, OrderError> {
        let mut conn = self.db.conn().await?;
        let verified: Option<bool> = crate::schema::users::table
            .find(user)
            .select(crate::schema::users::email_verified_at.is_not_null())
            .first(&mut conn)
            .await
            .optional()
            .storage()?;
        Ok(verified.unwrap_or(false))
    }

    async fn order_id_by_payment(&self, payment_id: &str) -> Result<Option<Uuid>, OrderError> {
        let mut conn = self.db.conn().await?;
        Ok(orders::table
            .filter(orders::payment_id.eq(payment_id))
            .select(orders::id)
            .first(&mut conn)
            .await
            .optional()
            .storage()?)
    }

    async fn claim_key(&self, user: Uuid, key: &str, request_hash: &[u8], ttl_secs: i64) -> Result<Claim, OrderError> {
        let mut conn = self.db.conn().await?;
        for _ in 0..3 {
            let now = Utc::now();
            let inserted = diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::user_id.eq(user),
                    idempotency_keys::key.eq(key),
                    idempotency_keys::request_hash.eq(request_hash),
                    idempotency_keys::expires_at.eq(now + chrono::Duration::seconds(ttl_secs)),
                ))
                .on_conflict_do_nothing()
                .execute(&mut conn)
                .await
                .storage()?;
            if inserted == 1 {
                return Ok(Claim::Fresh);
            }
            type KeyRow = (Vec<u8>, Option<Uuid>, Option<Value>, DateTime<Utc>, DateTime<Utc>);
            let row: Option<KeyRow> = idempotency_keys::table
                .find((user, key))
                .select((
                    idempotency_keys::request_hash,
                    idempotency_keys::order_id,
                    idempotency_keys::outcome,
                    idempotency_keys::created_at,
                    idempotency_keys::expires_at,
                ))
                .first(&mut conn)
                .await
                .optional()
                .storage()?;
            let Some((hash, order_id, outcome, created_at, expires_at)) = row else { continue };
            if expires_at < now {
                diesel::delete(idempotency_keys::table.find((user, key)).filter(idempotency_keys::expires_at.lt(now)))
                    .execute(&mut conn)
                    .await
                    .storage()?;
                continue;
            }
            if hash != request_hash {
                return Ok(Claim::Mismatch);
            }
            if let Some(o) = outcome {
                return Ok(Claim::Replay(o));
            }
            // An attempt that started long ago and never finished crashed: recover or take over.
            if created_at < now - chrono::Duration::seconds(STALE_ATTEMPT_SECS) {
                if let Some(order) = order_id {
                    return Ok(Claim::Recovered(order));
                }
                let taken = diesel::update(
                    idempotency_keys::table.find((user, key)).filter(idempotency_keys::created_at.eq(created_at)),
                )
                .set(idempotency_keys::created_at.eq(now))
                .execute(&mut conn)
                .await
                .storage()?;
                if taken == 1 {
                    return Ok(Claim::Fresh);
                }
            }
            return Ok(Claim::InProgress);
        }
        Ok(Claim::InProgress)
    }

    async fn complete_key(&self, user: Uuid, key: &str, outcome: &Value) -> Result<(), OrderError> {
        let mut conn = self.db.conn().await?;
        diesel::update(idempotency_keys::table.find((user, key)))
            .set(idempotency_keys::outcome.eq(outcome))
            .execute(&mut conn)
            .await
            .storage()?;
        Ok(())
    }

    async fn release_key(&self, user: Uuid, key: &str) -> Result<(), OrderError> {
        let mut conn = self.db.conn().await?;
        let unfinished = idempotency_keys::table.find((user, key)).filter(idempotency_keys::outcome.is_null());
        diesel::delete(unfinished.filter(idempotency_keys::order_id.is_null())).execute(&mut conn).await.storage()?;
        // An order was placed: date the attempt back past the crash window of `claim_key`, so
        // the next claim with this key recovers the order instead of waiting.
        diesel::update(unfinished.filter(idempotency_keys::order_id.is_not_null()))
            .set(idempotency_keys::created_at.eq(Utc::now() - chrono::Duration::seconds(STALE_ATTEMPT_SECS + 1)))
            .execute(&mut conn)
            .await
            .storage()?;
        Ok(())
    }

    async fn purge_expired_keys(&self) -> Result<u64, OrderError> {
        let mut conn = self.db.conn().await?;
        let n = diesel::delete(idempotency_keys::table.filter(idempotency_keys::expires_at.lt(Utc::now())))
            .execute(&mut conn)
            .await
            .storage()?;
        Ok(n as u64)
    }
}
