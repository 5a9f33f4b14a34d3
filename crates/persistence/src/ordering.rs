//! Adapter for `orders::OrderRepo`: the checkout transaction, state transitions with restock,
//! idempotency keys and webhook de-duplication.

use ::orders::events as order_events_out;
use ::orders::{
    Applied, Changes, CheckoutRefusal, Claim, Event, LineUnits, Order, OrderError, OrderFilter, OrderLine,
    OrderPromotion, OrderRepo, OrderStatus, PayOut, PlaceOrder, Refund, RefundAsk, RefundCall, RefundOutcome,
    RefundPlan, RefundState, RefundStatus, Return, ReturnEvent, ReturnOutcome, ReturnRequest, ReturnStatus, ReturnStep,
    TransitionData, changes, checkout, fulfilment, refund, returns as returning,
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

use crate::carts::{LINE_COLUMNS, LineRow};
use crate::error::{OrStorage, Settle, TxError};
use crate::rows::{currency, decoded, encoded, known, object};
use crate::schema::{
    cart_lines, carts, idempotency_keys, order_events, order_lines, orders, payment_events, products, refunds, returns,
    variants,
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
    payment_action: Option<Value>,
    refunded_minor: i64,
    shipping_refunded: bool,
    capture_mode: String,
    captured_minor: i64,
    capture_failed: bool,
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
    payment_action: Option<Value>,
    captured_minor: Option<i64>,
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
            payment_action: c.payment_action.as_ref().and_then(|a| serde_json::to_value(a).ok()),
            captured_minor: c.captured_minor,
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
    refunded_quantity: i32,
    restocked_quantity: i32,
    returned_quantity: i32,
    shipped_quantity: i32,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = refunds, check_for_backend(Pg))]
struct RefundRow {
    id: Uuid,
    order_id: Uuid,
    request_hash: Vec<u8>,
    amount_minor: i64,
    currency: String,
    lines: Value,
    shipping: bool,
    reason: Option<String>,
    status: String,
    provider_refund_id: Option<String>,
    created_at: DateTime<Utc>,
    settled_at: Option<DateTime<Utc>>,
}

impl RefundRow {
    fn into_refund(self) -> QueryResult<Refund> {
        Ok(Refund {
            id: self.id,
            order_id: self.order_id,
            amount: Money::new(self.amount_minor, currency(&self.currency)?),
            lines: decoded("refund lines", self.lines)?,
            shipping: self.shipping,
            reason: self.reason,
            status: known("refund status", &self.status, RefundStatus::parse)?,
            provider_refund_id: self.provider_refund_id,
            created_at: self.created_at,
            settled_at: self.settled_at,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = returns, check_for_backend(Pg))]
struct ReturnRow {
    id: Uuid,
    order_id: Uuid,
    status: String,
    lines: Value,
    reason: String,
    note: Option<String>,
    refund_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ReturnRow {
    fn into_return(self) -> QueryResult<Return> {
        Ok(Return {
            id: self.id,
            order_id: self.order_id,
            status: known("return status", &self.status, ReturnStatus::parse)?,
            lines: decoded("return lines", self.lines)?,
            reason: self.reason,
            note: self.note,
            refund_id: self.refund_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// An order row and what hangs off it, as loaded.
struct Loaded {
    row: OrderRow,
    lines: Vec<LineDbRow>,
    refunds: Vec<RefundRow>,
    returns: Vec<ReturnRow>,
    shipments: Vec<crate::fulfilling::ShipmentRow>,
}

fn assemble(Loaded { row, lines, refunds, returns: rets, shipments }: Loaded) -> QueryResult<Order> {
    let cur = currency(&row.currency)?;
    let money = |m| Money::new(m, cur);
    let status = decode_status(&row.status)?;
    // Shown while the customer has to act; kept afterwards for the record only.
    let payment_action = match row.payment_action {
        Some(a) if status == OrderStatus::RequiresAction => Some(decoded("payment action", a)?),
        _ => None,
    };
    Ok(Order {
        id: row.id,
        user_id: row.user_id,
        status,
        payment_action,
        subtotal: money(row.subtotal_minor),
        shipping: money(row.shipping_minor),
        discount: money(row.discount_minor),
        tax: money(row.tax_minor),
        total: money(row.total_minor),
        refunded: money(row.refunded_minor),
        refund_state: RefundState::of(row.refunded_minor, row.captured_minor),
        capture_mode: known("capture mode", &row.capture_mode, ::orders::CaptureMode::parse)?,
        captured: money(row.captured_minor),
        capture_state: ::orders::CaptureState::of(row.captured_minor, row.total_minor),
        capture_failed: row.capture_failed,
        shipments: shipments
            .into_iter()
            .map(crate::fulfilling::ShipmentRow::into_shipment)
            .collect::<QueryResult<_>>()?,
        shipping_refunded: row.shipping_refunded,
        refunds: refunds.into_iter().map(RefundRow::into_refund).collect::<QueryResult<_>>()?,
        returns: rets.into_iter().map(ReturnRow::into_return).collect::<QueryResult<_>>()?,
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
                    refunded_quantity: l.refunded_quantity,
                    restocked_quantity: l.restocked_quantity,
                    returned_quantity: l.returned_quantity,
                    shipped_quantity: l.shipped_quantity,
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
    })
}

async fn load_orders(conn: &mut AsyncPgConnection, rows: Vec<OrderRow>) -> QueryResult<Vec<Order>> {
    load_orders_with(conn, rows, false).await
}

/// `just_paid`: the orders were waiting for their payment until this transaction, so they have no
/// refunds yet (checkout's paid transition skips that query).
async fn load_orders_with(
    conn: &mut AsyncPgConnection,
    rows: Vec<OrderRow>,
    just_paid: bool,
) -> QueryResult<Vec<Order>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut lines: Vec<LineDbRow> = order_lines::table
        .filter(order_lines::order_id.eq_any(&ids))
        .order((order_lines::order_id, order_lines::line_no))
        .select(LineDbRow::as_select())
        .load(conn)
        .await?;
    // Only what an order in its status may hold is read (`OrderStatus::may_have_*`): an order
    // waiting for its payment, as checkout's, reads lines alone.
    let ids_where = |holds: fn(OrderStatus) -> bool| -> Vec<Uuid> {
        rows.iter().filter(|r| OrderStatus::parse(&r.status).is_some_and(holds)).map(|r| r.id).collect()
    };
    let settled = if just_paid { Vec::new() } else { ids_where(OrderStatus::may_have_refunds) };
    let delivered = ids_where(OrderStatus::may_have_returns);
    let mut refunded: Vec<RefundRow> = if settled.is_empty() {
        Vec::new()
    } else {
        refunds::table
            .filter(refunds::order_id.eq_any(&settled))
            .order((refunds::order_id, refunds::created_at, refunds::id))
            .select(RefundRow::as_select())
            .load(conn)
            .await?
    };
    let mut returned: Vec<ReturnRow> = if delivered.is_empty() {
        Vec::new()
    } else {
        returns::table
            .filter(returns::order_id.eq_any(&delivered))
            .order((returns::order_id, returns::created_at, returns::id))
            .select(ReturnRow::as_select())
            .load(conn)
            .await?
    };
    let shipped = ids_where(OrderStatus::may_have_shipments);
    let mut parcels = crate::fulfilling::shipments_of(conn, &shipped).await?;
    rows.into_iter()
        .map(|row| {
            let id = row.id;
            assemble(Loaded {
                row,
                lines: take_where(&mut lines, |l| l.order_id == id),
                refunds: take_where(&mut refunded, |f| f.order_id == id),
                returns: take_where(&mut returned, |x| x.order_id == id),
                shipments: take_where(&mut parcels, |x| x.order_id == id),
            })
        })
        .collect()
}

/// Moves the items that match out of `items`, keeping the rest in order.
pub(crate) fn take_where<T>(items: &mut Vec<T>, matches: impl Fn(&T) -> bool) -> Vec<T> {
    let (taken, rest) = std::mem::take(items).into_iter().partition(|i| matches(i));
    *items = rest;
    taken
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

pub(crate) async fn load_order(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Order>> {
    let row: Option<OrderRow> = orders::table.find(id).select(OrderRow::as_select()).first(conn).await.optional()?;
    match row {
        Some(r) => Ok(load_orders(conn, vec![r]).await?.pop()),
        None => Ok(None),
    }
}

/// Puts a declined order's lines and promotion codes back in its customer's cart, as
/// `cart::rules::restore` and `merge_codes` decide, under the cart's row lock.
async fn restore_cart(conn: &mut AsyncPgConnection, order: Uuid, owner: Uuid) -> QueryResult<()> {
    let cart = crate::carts::lock_or_create(conn, &cart::CartOwner::User(owner)).await?.id;
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
struct LockedCart {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Array<diesel::sql_types::Nullable<Text>>)]
    promotion_codes: Vec<Option<String>>,
}

/// Writes a transition `orders::changes` decided: the order row as one UPDATE, the status
/// history row, and the transition's outbox event; the order as it is afterwards.
pub(crate) async fn record_transition(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    from: OrderStatus,
    event: Event,
    c: &Changes,
    data: &TransitionData,
) -> QueryResult<Order> {
    diesel::update(orders::table.find(id)).set(&Transitioned::from(c)).execute(conn).await?;
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
    let row: OrderRow = orders::table.find(id).select(OrderRow::as_select()).first(conn).await?;
    let waited = matches!(from, OrderStatus::PendingPayment | OrderStatus::RequiresAction);
    let order = load_orders_with(conn, vec![row], waited).await?.pop().ok_or(DieselError::NotFound)?;
    if let Some(e) = order_events_out::transitioned(&order, from, event) {
        crate::outbox::enqueue(conn, &[e]).await?;
    }
    Ok(order)
}

/// Puts `(line_no, units)` of an order back in stock with ledger rows of `reason`, counting
/// them as restocked on the lines (a CHECK keeps that within the quantity); the products
/// touched. Lines whose variant is gone are skipped.
async fn restock_in(
    conn: &mut AsyncPgConnection,
    order: Uuid,
    units: &[(i32, i32)],
    reason: &str,
    actor: Option<Uuid>,
) -> QueryResult<Vec<Uuid>> {
    let units: Vec<(i32, i32)> = units.iter().copied().filter(|(_, q)| *q > 0).collect();
    if units.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(QueryableByName)]
    struct Touched {
        #[diesel(sql_type = SqlUuid)]
        product_id: Uuid,
    }
    let touched: Vec<Touched> = diesel::sql_query(
        "WITH r AS (SELECT * FROM unnest($2::int[], $3::int[]) AS r(line_no, q)), \
              l AS (UPDATE order_lines ol SET restocked_quantity = ol.restocked_quantity + r.q FROM r \
                    WHERE ol.order_id = $1 AND ol.line_no = r.line_no AND ol.variant_id IS NOT NULL \
                    RETURNING ol.variant_id, r.q), \
              v AS (UPDATE variants v SET stock = v.stock + l.q FROM l WHERE v.id = l.variant_id \
                    RETURNING v.id, v.product_id, v.stock, l.q), \
              ins AS (INSERT INTO inventory_ledger (variant_id, delta, reason, stock_after, actor_id, order_id) \
                      SELECT v.id, v.q, $4, v.stock, $5, $1 FROM v) \
         SELECT DISTINCT v.product_id FROM v",
    )
    .bind::<SqlUuid, _>(order)
    .bind::<Array<Integer>, _>(units.iter().map(|u| u.0).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(units.iter().map(|u| u.1).collect::<Vec<_>>())
    .bind::<Text, _>(reason)
    .bind::<diesel::sql_types::Nullable<SqlUuid>, _>(actor)
    .load(conn)
    .await?;
    Ok(touched.into_iter().map(|t| t.product_id).collect())
}

/// Records a planned refund of `order` (locked by the caller): the refund row, pending; the
/// units refunded; the order's refunded sum; and the units it restocks (their products).
async fn insert_refund(
    conn: &mut AsyncPgConnection,
    order: &Order,
    call: &RefundCall,
    plan: &RefundPlan,
    reason: Option<&str>,
) -> QueryResult<(Refund, Vec<Uuid>)> {
    let refund_id = Uuid::now_v7();
    let row: RefundRow = diesel::insert_into(refunds::table)
        .values((
            refunds::id.eq(refund_id),
            refunds::order_id.eq(order.id),
            refunds::idempotency_key.eq(&call.key),
            refunds::request_hash.eq(&call.request_hash),
            refunds::provider_key.eq(format!("refund-{refund_id}")),
            refunds::amount_minor.eq(plan.amount.amount_minor),
            refunds::currency.eq(plan.amount.currency.as_str()),
            refunds::lines.eq(encoded(&plan.lines)?),
            refunds::shipping.eq(plan.shipping),
            refunds::reason.eq(reason),
            refunds::status.eq(RefundStatus::Pending.as_str()),
            refunds::actor_id.eq(call.actor),
        ))
        .returning(RefundRow::as_returning())
        .get_result(conn)
        .await?;
    count_units(conn, order.id, Units::Refunded, &units_of(&plan.lines), 1).await?;
    diesel::update(orders::table.find(order.id))
        .set((
            orders::refunded_minor.eq(orders::refunded_minor + plan.amount.amount_minor),
            orders::shipping_refunded
                .eq(orders::shipping_refunded.or(plan.shipping.into_sql::<diesel::sql_types::Bool>())),
        ))
        .execute(conn)
        .await?;
    let restock: Vec<(i32, i32)> = plan.lines.iter().map(|l| (l.line_no, l.restocked)).collect();
    let products = restock_in(conn, order.id, &restock, "refund", call.actor).await?;
    Ok((row.into_refund()?, products))
}

/// Records `plan` as a refund of the locked `order` (in status `from`) and, when it completes
/// the total, moves the order to `refunded`; whether it closed the unshipped rest
/// ([`settle_fulfilment`]).
async fn refund_in(
    conn: &mut AsyncPgConnection,
    order: &Order,
    from: OrderStatus,
    call: &RefundCall,
    plan: &RefundPlan,
    reason: Option<&str>,
) -> QueryResult<(Refund, Vec<Uuid>, bool)> {
    let (refund, products) = insert_refund(conn, order, call, plan, reason).await?;
    let mut closed_rest = false;
    if plan.completes && from != OrderStatus::Refunded {
        let data = TransitionData { actor: call.actor, ..Default::default() };
        if let Ok(c) = changes(from, Event::Refund, &data, Utc::now()) {
            record_transition(conn, order.id, from, Event::Refund, &c, &data).await?;
        }
    } else if from == OrderStatus::PartiallyShipped {
        let now = load_order(conn, order.id).await?.ok_or(DieselError::NotFound)?;
        closed_rest = settle_fulfilment(conn, now, call.actor).await?.1;
    }
    Ok((refund, products, closed_rest))
}

/// Moves an order as its parcels say, decided by `orders::fulfilment`: a partly shipped order
/// with nothing left to ship (refunds restocked its last unshipped units) is closed as a
/// cancellation of the rest would (to `shipped`; true); a shipped order whose parcels all
/// arrived is delivered.
async fn settle_fulfilment(
    conn: &mut AsyncPgConnection,
    mut order: Order,
    actor: Option<Uuid>,
) -> QueryResult<(Order, bool)> {
    let data = TransitionData { actor, ..Default::default() };
    let mut closed = false;
    if fulfilment::rest_closed(&order)
        && let Ok(c) = changes(order.status, Event::Cancel, &data, Utc::now())
    {
        order = record_transition(conn, order.id, order.status, Event::Cancel, &c, &data).await?;
        closed = true;
    }
    if order.status == OrderStatus::Shipped
        && fulfilment::all_delivered(&order)
        && let Ok(c) = changes(order.status, Event::Deliver, &data, Utc::now())
    {
        order = record_transition(conn, order.id, order.status, Event::Deliver, &c, &data).await?;
    }
    Ok((order, closed))
}

/// Which count of a line's units.
#[derive(Clone, Copy)]
enum Units {
    Refunded,
    Returned,
}

/// Adds (`sign` 1) or gives back (`sign` -1) `(line_no, units)` to the lines' refunded or
/// returned counts (CHECKs keep both within the quantity).
async fn count_units(
    conn: &mut AsyncPgConnection,
    order: Uuid,
    which: Units,
    units: &[(i32, i32)],
    sign: i32,
) -> QueryResult<()> {
    if units.is_empty() {
        return Ok(());
    }
    let sql = match which {
        Units::Refunded => {
            "UPDATE order_lines ol SET refunded_quantity = ol.refunded_quantity + $4 * r.q \
             FROM unnest($2::int[], $3::int[]) AS r(line_no, q) WHERE ol.order_id = $1 AND ol.line_no = r.line_no"
        }
        Units::Returned => {
            "UPDATE order_lines ol SET returned_quantity = ol.returned_quantity + $4 * r.q \
             FROM unnest($2::int[], $3::int[]) AS r(line_no, q) WHERE ol.order_id = $1 AND ol.line_no = r.line_no"
        }
    };
    diesel::sql_query(sql)
        .bind::<SqlUuid, _>(order)
        .bind::<Array<Integer>, _>(units.iter().map(|u| u.0).collect::<Vec<_>>())
        .bind::<Array<Integer>, _>(units.iter().map(|u| u.1).collect::<Vec<_>>())
        .bind::<Integer, _>(sign)
        .execute(conn)
        .await?;
    Ok(())
}

/// `(line_no, quantity)` of each line, for [`count_units`].
fn units_of(lines: &[LineUnits]) -> Vec<(i32, i32)> {
    lines.iter().map(|l| (l.line_no, l.quantity)).collect()
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
                let locked: Vec<LineRow> = diesel::sql_query(format!(
                    "SELECT cl.variant_id, cl.quantity, cl.currency AS line_currency, {LINE_COLUMNS} \
                     FROM cart_lines cl JOIN variants v ON v.id = cl.variant_id JOIN products p ON p.id = v.product_id \
                     WHERE cl.cart_id = $1 ORDER BY v.id FOR UPDATE OF v"
                ))
                .bind::<SqlUuid, _>(cart)
                .load(conn)
                .await?;
                let snapshots: Vec<LineSnapshot> =
                    locked.into_iter().map(LineSnapshot::try_from).collect::<QueryResult<_>>()?;
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
                        orders::capture_mode.eq(p.capture_mode.as_str()),
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
        if let Some(flagged) = f.capture_failed {
            q = q.filter(orders::capture_failed.eq(flagged));
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
                let row: Option<(String, Uuid, Option<String>, String, i64)> = orders::table
                    .find(id)
                    .select((orders::status, orders::user_id, orders::payment_id, orders::capture_mode, orders::total_minor))
                    .for_update()
                    .first(conn)
                    .await
                    .optional()?;
                let Some((status, owner, current_payment, mode, total)) = row else {
                    return Err(TxError::Domain(OrderError::NotFound));
                };
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
                    if let (Some(theirs), Some(ours)) = (&data.payment_id, &current_payment)
                        && theirs != ours
                    {
                        tracing::info!(order_id = %id, payment_id = theirs, "webhook about an earlier payment; ignored");
                        return Ok(Applied::Duplicate);
                    }
                }
                let from = decode_status(&status)?;
                let mut c = changes(from, event, &data, Utc::now()).map_err(|e| TxError::Domain(e.into()))?;
                if c.paid_at.is_some() {
                    let mode = known("capture mode", &mode, ::orders::CaptureMode::parse)?;
                    c.captured_minor = fulfilment::captured_when_paid(mode, total);
                }
                // Cancelling the rest of a partly shipped order refunds its unshipped units,
                // decided before they go back to stock.
                let rest_refund = if from == OrderStatus::PartiallyShipped && c.effects.refund_payment {
                    let before = load_order(conn, id).await?.ok_or(DieselError::NotFound)?;
                    fulfilment::plan_cancel_rest(&before)
                } else {
                    None
                };

                if c.effects.restore_cart {
                    // Before the restock: the cart is locked before the variants, as checkout does.
                    restore_cart(conn, id, owner).await?;
                }
                let mut restocked_products = Vec::new();
                if c.effects.restock {
                    // The units that never shipped and are not back in stock yet (a refund may
                    // have restocked some): `fulfilment::shippable`.
                    let left = order_lines::quantity - order_lines::shipped_quantity - order_lines::restocked_quantity;
                    let rest: Vec<(i32, i32)> = order_lines::table
                        .filter(order_lines::order_id.eq(id))
                        .filter(left.gt(0))
                        .order(order_lines::line_no)
                        .select((order_lines::line_no, left))
                        .load(conn)
                        .await?;
                    restocked_products = restock_in(conn, id, &rest, "cancellation", data.actor).await?;
                }

                if c.effects.release_promotions {
                    promoting::release_in(conn, id).await?;
                }
                let mut order = record_transition(conn, id, from, event, &c, &data).await?;
                // The money left (or the unshipped rest's) goes back as one refund, paid out
                // after the commit.
                let refund_plan = match from {
                    OrderStatus::PartiallyShipped => rest_refund,
                    _ if c.effects.refund_payment => refund::plan_rest(&order, false),
                    _ => None,
                };
                if let Some(plan) = refund_plan.filter(|_| order.payment_id.is_some()) {
                    let call = RefundCall {
                        key: if from == OrderStatus::PartiallyShipped { "cancellation-rest" } else { "cancellation" }
                            .into(),
                        request_hash: Vec::new(),
                        ask: RefundAsk::Rest,
                        actor: data.actor,
                    };
                    insert_refund(conn, &order, &call, &plan, None).await?;
                }
                // The rest cancelled after every parcel arrived: the order is delivered too.
                if order.status == OrderStatus::Shipped {
                    order = settle_fulfilment(conn, order, data.actor).await?.0;
                }
                Ok(Applied::Done { order: Box::new(order), effects: c.effects, restocked_products })
            })
            .await;
        result.settle()
    }

    async fn due_for_expiry(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Uuid>, OrderError> {
        let mut conn = self.db.conn().await?;
        Ok(orders::table
            .filter(orders::status.eq_any([OrderStatus::PendingPayment.as_str(), OrderStatus::RequiresAction.as_str()]))
            .filter(orders::expires_at.lt(now))
            .order(orders::expires_at)
            .limit(limit)
            .select(orders::id)
            .load(&mut conn)
            .await
            .storage()?)
    }

    async fn refund(&self, id: Uuid, call: RefundCall) -> Result<RefundOutcome, OrderError> {
        let mut conn = self.db.conn().await?;
        let result: Result<RefundOutcome, TxError<OrderError>> = conn
            .transaction(async |conn| {
                let status: Option<String> =
                    orders::table.find(id).select(orders::status).for_update().first(conn).await.optional()?;
                let Some(status) = status else { return Err(TxError::Domain(OrderError::NotFound)) };
                let from = decode_status(&status)?;
                if matches!(call.ask, RefundAsk::Rest) {
                    // Refunding the rest is the move to `refunded`: refused where that move is.
                    ::orders::transition(from, Event::Refund).map_err(|e| TxError::Domain(e.into()))?;
                }
                let earlier: Option<RefundRow> = refunds::table
                    .filter(refunds::order_id.eq(id))
                    .filter(refunds::idempotency_key.eq(&call.key))
                    .select(RefundRow::as_select())
                    .first(conn)
                    .await
                    .optional()?;
                if let Some(earlier) = earlier {
                    if earlier.request_hash != call.request_hash {
                        return Err(TxError::Domain(OrderError::KeyReused));
                    }
                    return Ok(RefundOutcome {
                        refund: earlier.into_refund()?,
                        fresh: false,
                        restocked_products: vec![],
                        closed_rest: false,
                    });
                }
                let order = load_order(conn, id).await?.ok_or(DieselError::NotFound)?;
                let (plan, reason) = match &call.ask {
                    RefundAsk::Request(req) => {
                        (refund::plan(&order, req).map_err(|e| TxError::Domain(e.into()))?, req.reason.as_deref())
                    }
                    RefundAsk::Rest => {
                        fulfilment::check_refund_rest(&order).map_err(|e| TxError::Domain(e.into()))?;
                        let unshipped = matches!(from, OrderStatus::Paid | OrderStatus::PartiallyShipped);
                        let plan = refund::plan_rest(&order, unshipped).ok_or(TxError::Domain(OrderError::Refund(
                            ::orders::RefundRefusal::AmountExceeded { refundable: Money::new(0, order.total.currency) },
                        )))?;
                        (plan, None)
                    }
                };
                if order.payment_id.is_none() {
                    return Err(TxError::Domain(OrderError::Refund(::orders::RefundRefusal::NotRefundable(from))));
                }
                let (refund, restocked_products, closed_rest) =
                    refund_in(conn, &order, from, &call, &plan, reason).await?;
                Ok(RefundOutcome { refund, fresh: true, restocked_products, closed_rest })
            })
            .await;
        result.settle()
    }

    async fn pay_outs(&self, order: Option<Uuid>, older_than_secs: i64, limit: i64) -> Result<Vec<PayOut>, OrderError> {
        let mut conn = self.db.conn().await?;
        let mut q = refunds::table
            .inner_join(orders::table)
            .filter(refunds::status.eq(RefundStatus::Pending.as_str()))
            .filter(refunds::created_at.le(Utc::now() - chrono::Duration::seconds(older_than_secs)))
            .filter(orders::payment_id.is_not_null())
            .select((
                refunds::id,
                refunds::order_id,
                orders::payment_id.assume_not_null(),
                refunds::amount_minor,
                refunds::currency,
                refunds::provider_key,
            ))
            .order(refunds::created_at)
            .limit(limit)
            .into_boxed();
        if let Some(o) = order {
            q = q.filter(refunds::order_id.eq(o));
        }
        let rows: Vec<(Uuid, Uuid, String, i64, String, String)> = q.load(&mut conn).await.storage()?;
        Ok(rows
            .into_iter()
            .map(|(refund_id, order_id, payment_id, amount, cur, provider_key)| {
                Ok(PayOut {
                    refund_id,
                    order_id,
                    payment_id,
                    amount: Money::new(amount, currency(&cur)?),
                    provider_key,
                })
            })
            .collect::<QueryResult<_>>()
            .storage()?)
    }

    async fn settle_refund(&self, refund_id: Uuid, result: Result<String, String>) -> Result<(), OrderError> {
        let mut conn = self.db.conn().await?;
        let result: Result<(), TxError<OrderError>> = conn
            .transaction(async |conn| {
                let order_id: Option<Uuid> =
                    refunds::table.find(refund_id).select(refunds::order_id).first(conn).await.optional()?;
                let Some(order_id) = order_id else { return Ok(()) };
                // The order first, as every writer of its refunds locks it.
                orders::table.find(order_id).select(orders::id).for_update().first::<Uuid>(conn).await?;
                let (status, provider_id, error) = match &result {
                    Ok(id) => (RefundStatus::Succeeded, Some(id.as_str()), None),
                    Err(why) => (RefundStatus::Failed, None, Some(why.as_str())),
                };
                let settled: Option<RefundRow> = diesel::update(
                    refunds::table.find(refund_id).filter(refunds::status.eq(RefundStatus::Pending.as_str())),
                )
                .set((
                    refunds::status.eq(status.as_str()),
                    refunds::provider_refund_id.eq(provider_id),
                    refunds::error.eq(error),
                    refunds::settled_at.eq(Utc::now()),
                ))
                .returning(RefundRow::as_returning())
                .get_result(conn)
                .await
                .optional()?;
                let Some(settled) = settled else { return Ok(()) }; // settled before
                let refund = settled.into_refund()?;
                if status == RefundStatus::Failed {
                    // What it would have refunded counts as not refunded again.
                    count_units(conn, order_id, Units::Refunded, &units_of(&refund.lines), -1).await?;
                    let shipping_back = (!refund.shipping).into_sql::<diesel::sql_types::Bool>();
                    diesel::update(orders::table.find(order_id))
                        .set((
                            orders::refunded_minor.eq(orders::refunded_minor - refund.amount.amount_minor),
                            orders::shipping_refunded.eq(orders::shipping_refunded.and(shipping_back)),
                        ))
                        .execute(conn)
                        .await?;
                }
                let order = load_order(conn, order_id).await?.ok_or(DieselError::NotFound)?;
                crate::outbox::enqueue(conn, &[order_events_out::refund_settled(&order, &refund)]).await?;
                Ok(())
            })
            .await;
        result.settle()
    }

    async fn request_return(
        &self,
        id: Uuid,
        owner: Uuid,
        req: &ReturnRequest,
        window_days: i64,
    ) -> Result<Return, OrderError> {
        let mut conn = self.db.conn().await?;
        let result: Result<Return, TxError<OrderError>> = conn
            .transaction(async |conn| {
                let user: Option<Uuid> =
                    orders::table.find(id).select(orders::user_id).for_update().first(conn).await.optional()?;
                if user != Some(owner) {
                    return Err(TxError::Domain(OrderError::NotFound));
                }
                let order = load_order(conn, id).await?.ok_or(DieselError::NotFound)?;
                let lines = returning::plan_return(&order, req, Utc::now(), window_days)
                    .map_err(|e| TxError::Domain(e.into()))?;
                let row: ReturnRow = diesel::insert_into(returns::table)
                    .values((
                        returns::id.eq(Uuid::now_v7()),
                        returns::order_id.eq(id),
                        returns::status.eq(ReturnStatus::Requested.as_str()),
                        returns::lines.eq(encoded(&lines)?),
                        returns::reason.eq(&req.reason),
                    ))
                    .returning(ReturnRow::as_returning())
                    .get_result(conn)
                    .await?;
                count_units(conn, id, Units::Returned, &units_of(&lines), 1).await?;
                let ret = row.into_return()?;
                crate::outbox::enqueue(conn, &[order_events_out::return_updated(&order, &ret)]).await?;
                Ok(ret)
            })
            .await;
        result.settle()
    }

    async fn return_step(&self, id: Uuid, event: ReturnEvent, step: ReturnStep) -> Result<ReturnOutcome, OrderError> {
        let mut conn = self.db.conn().await?;
        let result: Result<ReturnOutcome, TxError<OrderError>> = conn
            .transaction(async |conn| {
                let order_id: Option<Uuid> =
                    returns::table.find(id).select(returns::order_id).first(conn).await.optional()?;
                let Some(order_id) = order_id else { return Err(TxError::Domain(OrderError::NotFound)) };
                // The order first, as every writer of its lines locks it; then the return.
                let (status, owner): (String, Uuid) = orders::table
                    .find(order_id)
                    .select((orders::status, orders::user_id))
                    .for_update()
                    .first(conn)
                    .await?;
                if step.owner.is_some_and(|u| u != owner) || step.order.is_some_and(|o| o != order_id) {
                    return Err(TxError::Domain(OrderError::NotFound));
                }
                let row: ReturnRow =
                    returns::table.find(id).select(ReturnRow::as_select()).for_update().first(conn).await?;
                let mut ret = row.into_return()?;
                let to = returning::return_transition(ret.status, event).map_err(|e| TxError::Domain(e.into()))?;
                let mut restocked_products = Vec::new();
                let mut refund = None;
                match event {
                    ReturnEvent::Reject | ReturnEvent::Withdraw => {
                        count_units(conn, order_id, Units::Returned, &units_of(&ret.lines), -1).await?
                    }
                    ReturnEvent::Receive => {
                        let order = load_order(conn, order_id).await?.ok_or(DieselError::NotFound)?;
                        ret.lines = returning::receive(&order, &ret.lines, &step.no_restock);
                        let units: Vec<(i32, i32)> = ret.lines.iter().map(|l| (l.line_no, l.restocked)).collect();
                        restocked_products = restock_in(conn, order_id, &units, "return", step.actor).await?;
                    }
                    ReturnEvent::Refund => {
                        // Its units stop counting as returned and are refunded instead.
                        count_units(conn, order_id, Units::Returned, &units_of(&ret.lines), -1).await?;
                        let order = load_order(conn, order_id).await?.ok_or(DieselError::NotFound)?;
                        let req = returning::refund_request(&ret);
                        let plan = refund::plan(&order, &req).map_err(|e| TxError::Domain(e.into()))?;
                        let call = RefundCall {
                            key: format!("return-{}", ret.id),
                            request_hash: Vec::new(),
                            ask: RefundAsk::Request(req.clone()),
                            actor: step.actor,
                        };
                        let from = decode_status(&status)?;
                        let (made, _, _) = refund_in(conn, &order, from, &call, &plan, req.reason.as_deref()).await?;
                        ret.refund_id = Some(made.id);
                        refund = Some(made);
                    }
                    ReturnEvent::Approve => {}
                }
                ret.status = to;
                let note = step.note.as_deref().or(ret.note.as_deref()).map(str::to_owned);
                let row: ReturnRow = diesel::update(returns::table.find(id))
                    .set((
                        returns::status.eq(to.as_str()),
                        returns::lines.eq(encoded(&ret.lines)?),
                        returns::note.eq(note),
                        returns::refund_id.eq(ret.refund_id),
                    ))
                    .returning(ReturnRow::as_returning())
                    .get_result(conn)
                    .await?;
                let ret = row.into_return()?;
                let order = load_order(conn, order_id).await?.ok_or(DieselError::NotFound)?;
                crate::outbox::enqueue(conn, &[order_events_out::return_updated(&order, &ret)]).await?;
                Ok(ReturnOutcome { ret, restocked_products, refund })
            })
            .await;
        result.settle()
    }

    async fn history(&self, id: Uuid) -> Result<Vec<::orders::StatusChange>, OrderError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<(Option<String>, String, Option<Uuid>, DateTime<Utc>)> = order_events::table
            .filter(order_events::order_id.eq(id))
            .order(order_events::id)
            .select((
                order_events::from_status,
                order_events::to_status,
                order_events::actor_id,
                order_events::created_at,
            ))
            .load(&mut conn)
            .await
            .storage()?;
        Ok(rows
            .into_iter()
            .map(|(from, to, actor, at)| {
                Ok(::orders::StatusChange {
                    from: from.as_deref().map(decode_status).transpose()?,
                    to: decode_status(&to)?,
                    actor,
                    at,
                })
            })
            .collect::<QueryResult<_>>()
            .storage()?)
    }

    async fn next_payment_attempt(&self, id: Uuid, owner: Uuid) -> Result<Option<i32>, OrderError> {
        let mut conn = self.db.conn().await?;
        Ok(diesel::update(
            orders::table
                .find(id)
                .filter(orders::user_id.eq(owner))
                .filter(
                    orders::status.eq_any([OrderStatus::PendingPayment.as_str(), OrderStatus::RequiresAction.as_str()]),
                )
                .filter(orders::expires_at.gt(Utc::now()))
                // The CHECK's bound: past it an order cannot be paid again (409, never a 500).
                .filter(orders::payment_attempts.lt(100)),
        )
        .set(orders::payment_attempts.eq(orders::payment_attempts + 1))
        .returning(orders::payment_attempts)
        .get_result(&mut conn)
        .await
        .optional()
        .storage()?)
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

    async fn ship(&self, id: Uuid, call: ::orders::ShipCall) -> Result<::orders::ShipOutcome, OrderError> {
        crate::fulfilling::ship(&self.db, id, call).await
    }

    async fn deliver(
        &self,
        id: Uuid,
        shipment: Option<Uuid>,
        actor: Option<Uuid>,
    ) -> Result<(Order, usize), OrderError> {
        crate::fulfilling::deliver(&self.db, id, shipment, actor).await
    }

    async fn captures_due(
        &self,
        order: Option<Uuid>,
        older_than_secs: i64,
        limit: i64,
    ) -> Result<Vec<::orders::CaptureDue>, OrderError> {
        crate::fulfilling::captures_due(&self.db, order, older_than_secs, limit).await
    }

    async fn settle_capture(&self, shipment: Uuid, result: Result<(), String>) -> Result<(), OrderError> {
        crate::fulfilling::settle_capture(&self.db, shipment, result).await
    }

    async fn retry_capture(&self, order: Uuid, shipment: Uuid) -> Result<::orders::Shipment, OrderError> {
        crate::fulfilling::retry_capture(&self.db, order, shipment).await
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
