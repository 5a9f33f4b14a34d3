//! Shipments of `orders::OrderRepo`: recording a shipment, delivering parcels, and the captures
//! of orders captured at shipment. Every decision is `orders::fulfilment`'s; this module locks
//! the order row, calls it, and writes what it decided in the same transaction.

use ::orders::events as order_events_out;
use ::orders::{
    CaptureDue, CaptureStatus, Event, Order, OrderError, ShipCall, ShipOutcome, Shipment, ShipmentRefusal,
    ShipmentStatus, TransitionData, changes, fulfilment,
};
use chrono::{DateTime, Utc};
use diesel::dsl::exists;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{Array, Integer, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use primitives::Money;
use serde_json::Value;
use uuid::Uuid;

use crate::Db;
use crate::error::{OrStorage, Settle, TxError};
use crate::ordering::{load_order, record_transition};
use crate::rows::{currency, decoded, encoded, known};
use crate::schema::{orders, shipments};

#[derive(Queryable, Selectable)]
#[diesel(table_name = shipments, check_for_backend(Pg))]
pub(crate) struct ShipmentRow {
    id: Uuid,
    pub(crate) order_id: Uuid,
    number: i32,
    request_hash: Option<Vec<u8>>,
    carrier: String,
    tracking_number: String,
    lines: Value,
    status: String,
    capture_minor: i64,
    currency: String,
    final_capture: bool,
    capture_status: String,
    capture_error: Option<String>,
    created_at: DateTime<Utc>,
    captured_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
}

impl ShipmentRow {
    pub(crate) fn into_shipment(self) -> QueryResult<Shipment> {
        Ok(Shipment {
            id: self.id,
            order_id: self.order_id,
            number: self.number,
            carrier: self.carrier,
            tracking_number: self.tracking_number,
            lines: decoded("shipment lines", self.lines)?,
            status: known("shipment status", &self.status, ShipmentStatus::parse)?,
            capture: Money::new(self.capture_minor, currency(&self.currency)?),
            capture_status: known("capture status", &self.capture_status, CaptureStatus::parse)?,
            capture_error: self.capture_error,
            final_capture: self.final_capture,
            created_at: self.created_at,
            captured_at: self.captured_at,
            delivered_at: self.delivered_at,
        })
    }
}

/// The shipments of these orders, each order's in number order.
pub(crate) async fn shipments_of(conn: &mut AsyncPgConnection, orders: &[Uuid]) -> QueryResult<Vec<ShipmentRow>> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    shipments::table
        .filter(shipments::order_id.eq_any(orders))
        .order((shipments::order_id, shipments::number))
        .select(ShipmentRow::as_select())
        .load(conn)
        .await
}

/// Takes the order's row lock (every writer of its shipments, refunds and lines takes it first).
async fn lock(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Order, TxError<OrderError>> {
    let found: Option<Uuid> = orders::table.find(id).select(orders::id).for_update().first(conn).await.optional()?;
    if found.is_none() {
        return Err(TxError::Domain(OrderError::NotFound));
    }
    Ok(load_order(conn, id).await?.ok_or(DieselError::NotFound)?)
}

/// Whether any capture of the order is failed (its flag for an admin).
async fn reflag(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    let failed = exists(
        shipments::table
            .filter(shipments::order_id.eq(id))
            .filter(shipments::capture_status.eq(CaptureStatus::Failed.as_str())),
    );
    diesel::update(orders::table.find(id)).set(orders::capture_failed.eq(failed)).execute(conn).await?;
    Ok(())
}

fn domain<E: Into<OrderError>>(e: E) -> TxError<OrderError> {
    TxError::Domain(e.into())
}

pub(crate) async fn ship(db: &Db, id: Uuid, call: ShipCall) -> Result<ShipOutcome, OrderError> {
    let mut conn = db.conn().await?;
    let result: Result<ShipOutcome, TxError<OrderError>> = conn
        .transaction(async |conn| {
            let order = lock(conn, id).await?;
            if let Some(key) = &call.key {
                let earlier: Option<ShipmentRow> = shipments::table
                    .filter(shipments::order_id.eq(id))
                    .filter(shipments::idempotency_key.eq(key))
                    .select(ShipmentRow::as_select())
                    .first(conn)
                    .await
                    .optional()?;
                if let Some(earlier) = earlier {
                    if earlier.request_hash.as_deref() != Some(call.request_hash.as_slice()) {
                        return Err(domain(OrderError::KeyReused));
                    }
                    return Ok(ShipOutcome { shipment: earlier.into_shipment()?, fresh: false });
                }
            }
            let plan = fulfilment::plan_shipment(&order, &call.req.lines).map_err(TxError::Domain)?;
            let number = order.shipments.iter().map(|s| s.number).max().unwrap_or(0) + 1;
            let capture_status =
                if plan.capture.amount_minor > 0 { CaptureStatus::Pending } else { CaptureStatus::NotNeeded };
            let shipment_id = Uuid::now_v7();
            diesel::insert_into(shipments::table)
                .values((
                    shipments::id.eq(shipment_id),
                    shipments::order_id.eq(id),
                    shipments::number.eq(number),
                    shipments::idempotency_key.eq(&call.key),
                    shipments::request_hash.eq(call.key.as_ref().map(|_| &call.request_hash)),
                    shipments::carrier.eq(&call.req.carrier),
                    shipments::tracking_number.eq(&call.req.tracking_number),
                    shipments::lines.eq(encoded(&plan.lines)?),
                    shipments::capture_minor.eq(plan.capture.amount_minor),
                    shipments::currency.eq(plan.capture.currency.as_str()),
                    shipments::final_capture.eq(plan.final_capture),
                    shipments::capture_status.eq(capture_status.as_str()),
                    shipments::actor_id.eq(call.actor),
                ))
                .execute(conn)
                .await?;
            // The CHECK (shipped_quantity <= quantity) is the backstop of the plan.
            diesel::sql_query(
                "UPDATE order_lines ol SET shipped_quantity = ol.shipped_quantity + r.q \
                 FROM unnest($2::int[], $3::int[]) AS r(line_no, q) WHERE ol.order_id = $1 AND ol.line_no = r.line_no",
            )
            .bind::<SqlUuid, _>(id)
            .bind::<Array<Integer>, _>(plan.lines.iter().map(|l| l.line_no).collect::<Vec<_>>())
            .bind::<Array<Integer>, _>(plan.lines.iter().map(|l| l.quantity).collect::<Vec<_>>())
            .execute(conn)
            .await?;
            let data = TransitionData {
                actor: call.actor,
                carrier: Some(call.req.carrier.clone()),
                tracking_number: Some(call.req.tracking_number.clone()),
                ..Default::default()
            };
            let c = changes(order.status, plan.event, &data, Utc::now()).map_err(domain)?;
            let order = record_transition(conn, id, order.status, plan.event, &c, &data).await?;
            let shipment =
                order.shipments.iter().find(|s| s.id == shipment_id).cloned().ok_or(DieselError::NotFound)?;
            crate::outbox::enqueue(conn, &[order_events_out::shipment_created(&order, &shipment)]).await?;
            Ok(ShipOutcome { shipment, fresh: true })
        })
        .await;
    result.settle()
}

pub(crate) async fn deliver(
    db: &Db,
    id: Uuid,
    shipment: Option<Uuid>,
    actor: Option<Uuid>,
) -> Result<(Order, usize), OrderError> {
    let mut conn = db.conn().await?;
    let result: Result<(Order, usize), TxError<OrderError>> = conn
        .transaction(async |conn| {
            let order = lock(conn, id).await?;
            let plan = fulfilment::plan_delivery(&order, shipment).map_err(TxError::Domain)?;
            if plan.shipments.is_empty() {
                return Ok((order, 0));
            }
            let now = Utc::now();
            diesel::update(shipments::table.filter(shipments::id.eq_any(&plan.shipments)))
                .set((shipments::status.eq(ShipmentStatus::Delivered.as_str()), shipments::delivered_at.eq(now)))
                .execute(conn)
                .await?;
            let mut order = load_order(conn, id).await?.ok_or(DieselError::NotFound)?;
            let events: Vec<_> = order
                .shipments
                .iter()
                .filter(|s| plan.shipments.contains(&s.id))
                .map(|s| order_events_out::shipment_delivered(&order, s))
                .collect();
            crate::outbox::enqueue(conn, &events).await?;
            if plan.delivers_order {
                let data = TransitionData { actor, ..Default::default() };
                let c = changes(order.status, Event::Deliver, &data, now).map_err(domain)?;
                order = record_transition(conn, id, order.status, Event::Deliver, &c, &data).await?;
            }
            Ok((order, plan.shipments.len()))
        })
        .await;
    result.settle()
}

pub(crate) async fn captures_due(
    db: &Db,
    order: Option<Uuid>,
    older_than_secs: i64,
    limit: i64,
) -> Result<Vec<CaptureDue>, OrderError> {
    let mut conn = db.conn().await?;
    let mut q = shipments::table
        .inner_join(orders::table)
        .filter(shipments::capture_status.eq(CaptureStatus::Pending.as_str()))
        .filter(shipments::created_at.le(Utc::now() - chrono::Duration::seconds(older_than_secs)))
        .filter(orders::payment_id.is_not_null())
        .select((
            shipments::id,
            shipments::order_id,
            orders::payment_id.assume_not_null(),
            shipments::capture_minor,
            shipments::currency,
            shipments::final_capture,
        ))
        .order((shipments::created_at, shipments::number))
        .limit(limit)
        .into_boxed();
    if let Some(o) = order {
        q = q.filter(shipments::order_id.eq(o));
    }
    let rows: Vec<(Uuid, Uuid, String, i64, String, bool)> = q.load(&mut conn).await.storage()?;
    Ok(rows
        .into_iter()
        .map(|(shipment_id, order_id, payment_id, amount, cur, final_capture)| {
            Ok(CaptureDue {
                shipment_id,
                order_id,
                payment_id,
                amount: Money::new(amount, currency(&cur)?),
                provider_key: format!("capture-{shipment_id}"),
                final_capture,
            })
        })
        .collect::<QueryResult<_>>()
        .storage()?)
}

pub(crate) async fn settle_capture(db: &Db, shipment: Uuid, result: Result<(), String>) -> Result<(), OrderError> {
    let mut conn = db.conn().await?;
    let outcome: Result<(), TxError<OrderError>> = conn
        .transaction(async |conn| {
            let order_id: Option<Uuid> =
                shipments::table.find(shipment).select(shipments::order_id).first(conn).await.optional()?;
            let Some(order_id) = order_id else { return Ok(()) };
            lock(conn, order_id).await?;
            let (status, error, at) = match &result {
                Ok(()) => (CaptureStatus::Captured, None, Some(Utc::now())),
                Err(why) => (CaptureStatus::Failed, Some(why.as_str()), None),
            };
            let settled: Option<i64> = diesel::update(
                shipments::table.find(shipment).filter(shipments::capture_status.eq(CaptureStatus::Pending.as_str())),
            )
            .set((
                shipments::capture_status.eq(status.as_str()),
                shipments::capture_error.eq(error),
                shipments::captured_at.eq(at),
            ))
            .returning(shipments::capture_minor)
            .get_result(conn)
            .await
            .optional()?;
            let Some(amount) = settled else { return Ok(()) }; // settled before
            if status == CaptureStatus::Captured {
                // The CHECK (captured_minor <= total_minor) is the backstop.
                diesel::update(orders::table.find(order_id))
                    .set(orders::captured_minor.eq(orders::captured_minor + amount))
                    .execute(conn)
                    .await?;
            }
            reflag(conn, order_id).await?;
            if status == CaptureStatus::Failed {
                let order = load_order(conn, order_id).await?.ok_or(DieselError::NotFound)?;
                let s = order.shipments.iter().find(|s| s.id == shipment).ok_or(DieselError::NotFound)?;
                crate::outbox::enqueue(conn, &[order_events_out::capture_failed(&order, s)]).await?;
            }
            Ok(())
        })
        .await;
    outcome.settle()
}

pub(crate) async fn retry_capture(db: &Db, order: Uuid, shipment: Uuid) -> Result<Shipment, OrderError> {
    let mut conn = db.conn().await?;
    let result: Result<Shipment, TxError<OrderError>> = conn
        .transaction(async |conn| {
            let o = lock(conn, order).await?;
            let s = o
                .shipments
                .iter()
                .find(|s| s.id == shipment)
                .ok_or(domain(ShipmentRefusal::UnknownShipment(shipment)))?;
            if s.capture_status != CaptureStatus::Failed {
                return Err(domain(ShipmentRefusal::CaptureNotFailed(s.capture_status)));
            }
            diesel::update(shipments::table.find(shipment))
                .set((
                    shipments::capture_status.eq(CaptureStatus::Pending.as_str()),
                    shipments::capture_error.eq(None::<String>),
                ))
                .execute(conn)
                .await?;
            reflag(conn, order).await?;
            let o = load_order(conn, order).await?.ok_or(DieselError::NotFound)?;
            Ok(o.shipments.into_iter().find(|s| s.id == shipment).ok_or(DieselError::NotFound)?)
        })
        .await;
    result.settle()
}
