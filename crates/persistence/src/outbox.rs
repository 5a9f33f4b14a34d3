//! Adapter for the outbox: writing events inside the callers' transactions, claiming them with
//! `FOR UPDATE SKIP LOCKED` for the dispatcher, settling attempts, and the admin queries. Also
//! the contact lookup the notifier uses.

use std::time::Duration;

use ::outbox::{
    Claimed, Contact, Contacts, DeliveryError, NewEvent, OutboxError, OutboxFilter, OutboxRecord, OutboxRepo,
    OutboxStats, OutboxStatus, Progress,
};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::Db;
use crate::error::OrStorage;
use crate::rows::known;
use crate::schema::{addresses, outbox, users};

/// Writes events on the caller's connection: call it inside the transaction of the change the
/// events report, so they commit or roll back with it.
pub(crate) async fn enqueue(conn: &mut AsyncPgConnection, events: &[NewEvent]) -> QueryResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = events
        .iter()
        .map(|e| {
            (
                outbox::id.eq(e.id),
                outbox::event_type.eq(e.kind.name),
                outbox::schema_version.eq(e.kind.version),
                outbox::aggregate_type.eq(e.kind.aggregate),
                outbox::aggregate_id.eq(e.aggregate_id),
                outbox::payload.eq(&e.payload),
                outbox::occurred_at.eq(e.occurred_at),
            )
        })
        .collect();
    diesel::insert_into(outbox::table).values(rows).execute(conn).await?;
    Ok(())
}

pub struct PgOutboxRepo {
    db: Db,
}

impl PgOutboxRepo {
    pub fn new(db: Db) -> Self {
        PgOutboxRepo { db }
    }
}

#[derive(QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Integer)]
    schema_version: i32,
    #[diesel(sql_type = Text)]
    aggregate_type: String,
    #[diesel(sql_type = SqlUuid)]
    aggregate_id: Uuid,
    #[diesel(sql_type = Jsonb)]
    payload: Value,
    #[diesel(sql_type = Timestamptz)]
    occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Bool)]
    notified: bool,
    #[diesel(sql_type = Bool)]
    published: bool,
    #[diesel(sql_type = SqlUuid)]
    claim_id: Uuid,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox, check_for_backend(Pg))]
struct RecordRow {
    id: Uuid,
    event_type: String,
    schema_version: i32,
    aggregate_type: String,
    aggregate_id: Uuid,
    payload: Value,
    status: String,
    attempts: i32,
    occurred_at: DateTime<Utc>,
    available_at: DateTime<Utc>,
    notified_at: Option<DateTime<Utc>>,
    published_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl TryFrom<RecordRow> for OutboxRecord {
    type Error = diesel::result::Error;
    fn try_from(r: RecordRow) -> QueryResult<Self> {
        Ok(OutboxRecord {
            id: r.id,
            event_type: r.event_type,
            schema_version: r.schema_version,
            aggregate_type: r.aggregate_type,
            aggregate_id: r.aggregate_id,
            payload: r.payload,
            status: known("outbox status", &r.status, OutboxStatus::parse)?,
            attempts: r.attempts,
            occurred_at: r.occurred_at,
            available_at: r.available_at,
            notified_at: r.notified_at,
            published_at: r.published_at,
            delivered_at: r.delivered_at,
            last_error: r.last_error,
        })
    }
}

#[derive(QueryableByName)]
struct StatsRow {
    #[diesel(sql_type = BigInt)]
    pending: i64,
    #[diesel(sql_type = BigInt)]
    dead: i64,
    #[diesel(sql_type = Double)]
    oldest: f64,
}

/// Settles an attempt: only the holder of the claim can (a lapsed claim taken over by another
/// dispatcher settles nothing). Channels done in this attempt get their timestamp.
const SETTLE: &str = "UPDATE outbox SET status = $3, available_at = COALESCE($4, available_at), last_error = $5, \
     notified_at = CASE WHEN $6 THEN COALESCE(notified_at, now()) END, \
     published_at = CASE WHEN $7 THEN COALESCE(published_at, now()) END, \
     delivered_at = CASE WHEN $3 = 'delivered' THEN now() END, claim_id = NULL \
     WHERE id = $1 AND claim_id = $2";

impl PgOutboxRepo {
    async fn settle(
        &self,
        event: &Claimed,
        status: OutboxStatus,
        retry_at: Option<DateTime<Utc>>,
        error: Option<&str>,
        progress: Progress,
    ) -> Result<(), OutboxError> {
        let mut conn = self.db.conn().await?;
        let n = diesel::sql_query(SETTLE)
            .bind::<SqlUuid, _>(event.id)
            .bind::<SqlUuid, _>(event.claim)
            .bind::<Text, _>(status.as_str())
            .bind::<Nullable<Timestamptz>, _>(retry_at)
            .bind::<Nullable<Text>, _>(error)
            .bind::<Bool, _>(progress.notified)
            .bind::<Bool, _>(progress.published)
            .execute(&mut conn)
            .await
            .storage()?;
        if n == 0 {
            tracing::warn!(event_id = %event.id, "outbox claim lapsed before the attempt was settled");
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl OutboxRepo for PgOutboxRepo {
    async fn claim(&self, limit: i64, lease: Duration) -> Result<Vec<Claimed>, OutboxError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<ClaimedRow> = diesel::sql_query(
            "UPDATE outbox o SET attempts = o.attempts + 1, claim_id = gen_random_uuid(), \
                    available_at = now() + make_interval(secs => $2) \
             FROM (SELECT id FROM outbox WHERE status = 'pending' AND available_at <= now() \
                   ORDER BY available_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) due \
             WHERE o.id = due.id \
             RETURNING o.id, o.event_type, o.schema_version, o.aggregate_type, o.aggregate_id, o.payload, \
                       o.occurred_at, o.attempts, o.notified_at IS NOT NULL AS notified, \
                       o.published_at IS NOT NULL AS published, o.claim_id AS claim_id",
        )
        .bind::<BigInt, _>(limit)
        .bind::<Double, _>(lease.as_secs_f64())
        .load(&mut conn)
        .await
        .storage()?;
        let mut claimed: Vec<Claimed> = rows
            .into_iter()
            .map(|r| Claimed {
                id: r.id,
                event_type: r.event_type,
                schema_version: r.schema_version,
                aggregate_type: r.aggregate_type,
                aggregate_id: r.aggregate_id,
                payload: r.payload,
                occurred_at: r.occurred_at,
                attempts: r.attempts,
                progress: Progress { notified: r.notified, published: r.published },
                claim: r.claim_id,
            })
            .collect();
        claimed.sort_by_key(|c| c.id);
        Ok(claimed)
    }

    async fn delivered(&self, event: &Claimed, progress: Progress) -> Result<(), OutboxError> {
        self.settle(event, OutboxStatus::Delivered, None, None, progress).await
    }

    async fn failed(
        &self,
        event: &Claimed,
        progress: Progress,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), OutboxError> {
        let status = if retry_at.is_some() { OutboxStatus::Pending } else { OutboxStatus::Dead };
        let error: String = error.chars().take(2000).collect();
        self.settle(event, status, retry_at, Some(&error), progress).await
    }

    async fn list(&self, f: &OutboxFilter) -> Result<Vec<OutboxRecord>, OutboxError> {
        let mut conn = self.db.conn().await?;
        let mut q = outbox::table.select(RecordRow::as_select()).into_boxed();
        if let Some(s) = f.status {
            q = q.filter(outbox::status.eq(s.as_str()));
        }
        if let Some(t) = &f.event_type {
            q = q.filter(outbox::event_type.eq(t.clone()));
        }
        if let Some(a) = f.aggregate_id {
            q = q.filter(outbox::aggregate_id.eq(a));
        }
        if let Some(b) = f.page.after {
            q = q.filter(outbox::id.lt(b));
        }
        let rows: Vec<RecordRow> = q.order(outbox::id.desc()).limit(f.page.fetch()).load(&mut conn).await.storage()?;
        Ok(rows.into_iter().map(OutboxRecord::try_from).collect::<QueryResult<_>>().storage()?)
    }

    async fn get(&self, id: Uuid) -> Result<Option<OutboxRecord>, OutboxError> {
        let mut conn = self.db.conn().await?;
        let row: Option<RecordRow> =
            outbox::table.find(id).select(RecordRow::as_select()).first(&mut conn).await.optional().storage()?;
        Ok(row.map(OutboxRecord::try_from).transpose().storage()?)
    }

    async fn requeue(&self, id: Uuid) -> Result<OutboxRecord, OutboxError> {
        let mut conn = self.db.conn().await?;
        let row: Option<RecordRow> = diesel::update(outbox::table.find(id).filter(outbox::status.eq("dead")))
            .set((
                outbox::status.eq("pending"),
                outbox::attempts.eq(0),
                outbox::available_at.eq(diesel::dsl::now),
                outbox::claim_id.eq(None::<Uuid>),
            ))
            .returning(RecordRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .storage()?;
        match row {
            Some(r) => Ok(r.try_into().storage()?),
            None => match self.get(id).await? {
                Some(r) => Err(OutboxError::NotDead(r.status.as_str().to_owned())),
                None => Err(OutboxError::NotFound),
            },
        }
    }

    async fn stats(&self) -> Result<OutboxStats, OutboxError> {
        let mut conn = self.db.conn().await?;
        let row: StatsRow = diesel::sql_query(
            "SELECT count(*) FILTER (WHERE status = 'pending') AS pending, \
                    count(*) FILTER (WHERE status = 'dead') AS dead, \
                    COALESCE(EXTRACT(EPOCH FROM now() - min(occurred_at) FILTER (WHERE status = 'pending')), 0)::float8 AS oldest \
             FROM outbox WHERE status IN ('pending', 'dead')",
        )
        .get_result(&mut conn)
        .await
        .storage()?;
        Ok(OutboxStats { pending: row.pending, dead: row.dead, oldest_pending_seconds: row.oldest.max(0.0) })
    }

    async fn purge_delivered(&self, before: DateTime<Utc>) -> Result<u64, OutboxError> {
        let mut conn = self.db.conn().await?;
        let n = diesel::delete(
            outbox::table.filter(outbox::status.eq("delivered")).filter(outbox::delivered_at.lt(before)),
        )
        .execute(&mut conn)
        .await
        .storage()?;
        Ok(n as u64)
    }
}

/// Contact details from the users table (and the default shipping address's phone).
pub struct PgContacts {
    db: Db,
}

impl PgContacts {
    pub fn new(db: Db) -> Self {
        PgContacts { db }
    }
}

#[async_trait::async_trait]
impl Contacts for PgContacts {
    async fn contact(&self, user_id: Uuid) -> Result<Option<Contact>, DeliveryError> {
        let fail = |e: diesel::result::Error| DeliveryError::new("contacts", e);
        let mut conn = self.db.conn().await.map_err(|e| DeliveryError::new("contacts", e))?;
        let user: Option<(String, String)> = users::table
            .find(user_id)
            .select((users::email, users::name))
            .first(&mut conn)
            .await
            .optional()
            .map_err(fail)?;
        let Some((email, name)) = user else { return Ok(None) };
        let phone: Option<Option<String>> = addresses::table
            .filter(addresses::user_id.eq(user_id))
            .filter(addresses::phone.is_not_null())
            .order((addresses::is_default_shipping.desc(), addresses::created_at.desc()))
            .select(addresses::phone)
            .first(&mut conn)
            .await
            .optional()
            .map_err(fail)?;
        Ok(Some(Contact { email, name, phone: phone.flatten() }))
    }
}
