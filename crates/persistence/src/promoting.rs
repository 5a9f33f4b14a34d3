//! Adapter for `promotions::PromotionRepo` and `promotions::GroupRepo`.
//!
//! Redemptions are exact under concurrency. A promotion with a total limit keeps a live count
//! (`promotions.redemptions`), raised under the promotion's row lock and backstopped by a CHECK
//! (`redemptions <= usage_limit`). A per-customer limit is decided under a transaction-scoped
//! advisory lock on (promotion, customer), so only the same customer's checkouts wait for each
//! other. A promotion with no limit takes no lock at all: checkouts applying the same automatic
//! promotion do not queue behind each other.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::dsl::count_star;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, RunQueryDsl};
use promotions::{
    CustomerGroup, GroupRepo, Promotion, PromotionError, PromotionRepo, PromotionStatus, Redemption, Usage,
};
use uuid::Uuid;

use crate::Db;
use crate::error::{OrStorage, Settle, TxError, is_unique_violation};
use crate::rows::{decoded, encoded, known};
use crate::schema::{customer_group_members as m, customer_groups as g, promotion_redemptions as r, promotions as p};

pub struct PgPromotionRepo {
    db: Db,
}

impl PgPromotionRepo {
    pub fn new(db: Db) -> Self {
        PgPromotionRepo { db }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = p, check_for_backend(Pg))]
struct PromotionRow {
    id: Uuid,
    name: String,
    code: Option<String>,
    status: String,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    priority: i32,
    combinable: bool,
    conditions: serde_json::Value,
    action: serde_json::Value,
    max_discount_minor: Option<i64>,
    usage_limit: Option<i64>,
    per_customer_limit: Option<i64>,
}

impl TryFrom<PromotionRow> for Promotion {
    type Error = DieselError;
    fn try_from(row: PromotionRow) -> QueryResult<Self> {
        Ok(Promotion {
            id: row.id,
            name: row.name,
            code: row.code,
            status: known("promotion status", &row.status, PromotionStatus::parse)?,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            priority: row.priority,
            combinable: row.combinable,
            conditions: decoded("promotion conditions", row.conditions)?,
            action: decoded("promotion action", row.action)?,
            max_discount_minor: row.max_discount_minor,
            usage_limit: row.usage_limit,
            per_customer_limit: row.per_customer_limit,
        })
    }
}

fn decode(rows: Vec<PromotionRow>) -> Result<Vec<Promotion>, PromotionError> {
    Ok(rows.into_iter().map(Promotion::try_from).collect::<QueryResult<_>>().storage()?)
}

/// The advisory-lock key of a customer's redemptions of a promotion: any mix of both ids will
/// do (two pairs sharing a key only wait for each other; the count is still exact).
fn customer_lock_key(promotion_id: Uuid, user_id: Uuid) -> i64 {
    let mixed = promotion_id.as_u128().wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ user_id.as_u128();
    (mixed as i64) ^ ((mixed >> 64) as i64)
}

diesel::define_sql_function!(fn pg_advisory_xact_lock(key: diesel::sql_types::BigInt));

/// Counts `redemptions` inside the caller's transaction; promotions in id order, so two
/// transactions lock the same rows in the same order.
pub(crate) async fn redeem_in(
    conn: &mut diesel_async::AsyncPgConnection,
    redemptions: &[Redemption],
) -> Result<(), TxError<PromotionError>> {
    let mut sorted = redemptions.to_vec();
    sorted.sort_by_key(|x| (x.promotion_id, x.order_id));
    for x in &sorted {
        let limits: Option<(Option<i64>, Option<i64>)> = p::table
            .find(x.promotion_id)
            .select((p::usage_limit, p::per_customer_limit))
            .first(conn)
            .await
            .optional()?;
        let Some((total_limit, customer_limit)) = limits else {
            return Err(TxError::Domain(PromotionError::NotFound));
        };
        let reached = TxError::Domain(PromotionError::LimitReached { promotion_id: x.promotion_id });
        if let Some(limit) = customer_limit {
            diesel::select(pg_advisory_xact_lock(customer_lock_key(x.promotion_id, x.user_id))).execute(conn).await?;
            let used: i64 = r::table
                .filter(r::promotion_id.eq(x.promotion_id).and(r::user_id.eq(x.user_id)).and(r::released_at.is_null()))
                .select(count_star())
                .first(conn)
                .await?;
            if used >= limit {
                return Err(reached);
            }
        }
        if total_limit.is_some() {
            // The row lock of this UPDATE queues concurrent redemptions; the condition (and the
            // CHECK behind it) lets only as many through as the limit allows.
            let counted = diesel::update(
                p::table
                    .find(x.promotion_id)
                    .filter(p::usage_limit.is_null().or(p::redemptions.lt(p::usage_limit.assume_not_null()))),
            )
            .set(p::redemptions.eq(p::redemptions + 1))
            .execute(conn)
            .await?;
            if counted == 0 {
                return Err(reached);
            }
        }
        diesel::insert_into(r::table)
            .values((
                r::promotion_id.eq(x.promotion_id),
                r::order_id.eq(x.order_id),
                r::user_id.eq(x.user_id),
                r::amount_minor.eq(x.amount_minor.max(0)),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Releases the order's live redemptions inside the caller's transaction; how many.
pub(crate) async fn release_in(conn: &mut diesel_async::AsyncPgConnection, order_id: Uuid) -> QueryResult<u64> {
    let released: Vec<Uuid> = diesel::update(r::table.filter(r::order_id.eq(order_id).and(r::released_at.is_null())))
        .set(r::released_at.eq(diesel::dsl::now))
        .returning(r::promotion_id)
        .get_results(conn)
        .await?;
    if !released.is_empty() {
        diesel::update(
            p::table.filter(p::id.eq_any(&released).and(p::usage_limit.is_not_null()).and(p::redemptions.gt(0))),
        )
        .set(p::redemptions.eq(p::redemptions - 1))
        .execute(conn)
        .await?;
    }
    Ok(released.len() as u64)
}

fn code_taken(e: DieselError) -> PromotionError {
    if is_unique_violation(&e) { PromotionError::CodeTaken } else { PromotionError::Storage(crate::error::storage(e)) }
}

#[async_trait::async_trait]
impl PromotionRepo for PgPromotionRepo {
    async fn create(&self, x: &Promotion) -> Result<Promotion, PromotionError> {
        let mut conn = self.db.conn().await?;
        let (conditions, action) = (encoded(&x.conditions).storage()?, encoded(&x.action).storage()?);
        let row: PromotionRow = diesel::insert_into(p::table)
            .values((
                p::id.eq(x.id),
                p::name.eq(&x.name),
                p::code.eq(&x.code),
                p::status.eq(x.status.as_str()),
                p::starts_at.eq(x.starts_at),
                p::ends_at.eq(x.ends_at),
                p::priority.eq(x.priority),
                p::combinable.eq(x.combinable),
                p::conditions.eq(conditions),
                p::action.eq(action),
                p::max_discount_minor.eq(x.max_discount_minor),
                p::usage_limit.eq(x.usage_limit),
                p::per_customer_limit.eq(x.per_customer_limit),
            ))
            .returning(PromotionRow::as_returning())
            .get_result(&mut conn)
            .await
            .map_err(code_taken)?;
        Ok(Promotion::try_from(row).storage()?)
    }

    async fn get(&self, id: Uuid) -> Result<Option<Promotion>, PromotionError> {
        let mut conn = self.db.conn().await?;
        let row: Option<PromotionRow> =
            p::table.find(id).select(PromotionRow::as_select()).first(&mut conn).await.optional().storage()?;
        Ok(row.map(Promotion::try_from).transpose().storage()?)
    }

    async fn set_status(&self, id: Uuid, status: PromotionStatus) -> Result<Option<Promotion>, PromotionError> {
        let mut conn = self.db.conn().await?;
        let row: Option<PromotionRow> = diesel::update(p::table.find(id))
            .set(p::status.eq(status.as_str()))
            .returning(PromotionRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .storage()?;
        Ok(row.map(Promotion::try_from).transpose().storage()?)
    }

    async fn candidates(&self, codes: &[String]) -> Result<Vec<Promotion>, PromotionError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<PromotionRow> = p::table
            .filter(p::code.is_null().and(p::status.eq(PromotionStatus::Active.as_str())).or(p::code.eq_any(codes)))
            .order((p::priority, p::id))
            .select(PromotionRow::as_select())
            .load(&mut conn)
            .await
            .storage()?;
        decode(rows)
    }

    async fn usage(&self, ids: &[Uuid], customer: Option<Uuid>) -> Result<HashMap<Uuid, Usage>, PromotionError> {
        let mut conn = self.db.conn().await?;
        let live = || r::table.filter(r::promotion_id.eq_any(ids).and(r::released_at.is_null()));
        let totals: Vec<(Uuid, i64)> =
            live().group_by(r::promotion_id).select((r::promotion_id, count_star())).load(&mut conn).await.storage()?;
        let mut out: HashMap<Uuid, Usage> =
            totals.into_iter().map(|(id, total)| (id, Usage { total, by_customer: 0 })).collect();
        if let Some(user) = customer {
            let mine: Vec<(Uuid, i64)> = live()
                .filter(r::user_id.eq(user))
                .group_by(r::promotion_id)
                .select((r::promotion_id, count_star()))
                .load(&mut conn)
                .await
                .storage()?;
            for (id, n) in mine {
                out.entry(id).or_default().by_customer = n;
            }
        }
        Ok(out)
    }

    async fn redeem(&self, redemptions: &[Redemption]) -> Result<(), PromotionError> {
        let mut conn = self.db.conn().await?;
        let result: Result<(), TxError<PromotionError>> =
            conn.transaction(async |conn| redeem_in(conn, redemptions).await).await;
        result.settle_with(|e| match e {
            // The CHECK behind the count, should a writer ever bypass `redeem_in`.
            DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, _) => PromotionError::LimitReached {
                promotion_id: redemptions.first().map(|x| x.promotion_id).unwrap_or_default(),
            },
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => PromotionError::NotFound,
            other => PromotionError::Storage(crate::error::storage(other)),
        })
    }

    async fn release(&self, order_id: Uuid) -> Result<u64, PromotionError> {
        let mut conn = self.db.conn().await?;
        let result: QueryResult<u64> = conn.transaction(async |conn| release_in(conn, order_id).await).await;
        Ok(result.storage()?)
    }
}

#[async_trait::async_trait]
impl GroupRepo for PgPromotionRepo {
    async fn create_group(&self, name: &str) -> Result<CustomerGroup, PromotionError> {
        let mut conn = self.db.conn().await?;
        let (id, name): (Uuid, String) = diesel::insert_into(g::table)
            .values((g::id.eq(Uuid::now_v7()), g::name.eq(name.trim())))
            .returning((g::id, g::name))
            .get_result(&mut conn)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    PromotionError::GroupNameTaken
                } else {
                    PromotionError::Storage(crate::error::storage(e))
                }
            })?;
        Ok(CustomerGroup { id, name })
    }

    async fn add_member(&self, group_id: Uuid, user_id: Uuid) -> Result<(), PromotionError> {
        let mut conn = self.db.conn().await?;
        diesel::insert_into(m::table)
            .values((m::group_id.eq(group_id), m::user_id.eq(user_id)))
            .on_conflict_do_nothing()
            .execute(&mut conn)
            .await
            .map_err(|e| match e {
                DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => PromotionError::NotFound,
                other => PromotionError::Storage(crate::error::storage(other)),
            })?;
        Ok(())
    }

    async fn remove_member(&self, group_id: Uuid, user_id: Uuid) -> Result<bool, PromotionError> {
        let mut conn = self.db.conn().await?;
        let n = diesel::delete(m::table.find((group_id, user_id))).execute(&mut conn).await.storage()?;
        Ok(n > 0)
    }

    async fn groups_of(&self, user_id: Uuid) -> Result<Vec<Uuid>, PromotionError> {
        let mut conn = self.db.conn().await?;
        Ok(m::table
            .filter(m::user_id.eq(user_id))
            .select(m::group_id)
            .order(m::group_id)
            .load(&mut conn)
            .await
            .storage()?)
    }
}
