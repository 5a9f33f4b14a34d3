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
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use primitives::{Money, PageRequest};
use promotions::{
    Customer, CustomerGroup, GroupMember, GroupRepo, Promotion, PromotionError, PromotionFilter, PromotionKind,
    PromotionRepo, PromotionStatus, Redemption, Usage, UsageReport, limit_reached, limited,
};
use uuid::Uuid;

use crate::Db;
use crate::error::{OrStorage, Settle, TxError, is_unique_violation};
use crate::rows::{currency, decoded, encoded, known};
use crate::schema::{
    customer_group_members as m, customer_groups as g, orders as o, promotion_redemptions as r, promotions as p, users,
};

pub struct PgPromotionRepo {
    db: Db,
}

impl PgPromotionRepo {
    pub fn new(db: Db) -> Self {
        PgPromotionRepo { db }
    }
}

/// A promotion's columns (all but its redemptions), read and written.
#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = p, check_for_backend(Pg), treat_none_as_null = true)]
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
diesel::define_sql_function!(fn pg_advisory_xact_lock_shared(key: diesel::sql_types::BigInt));

/// The advisory lock that orders edits of promotions against checkouts: every checkout holds it
/// shared from its first statement (`PgOrderRepo::place` takes it with the cart's row lock), an
/// edit of a promotion's definition exclusively. An edit therefore waits for the checkouts in
/// flight (and then counts their redemptions), and a checkout that starts meanwhile waits for
/// the edit and reads the new definitions. Checkouts do not wait for each other on it.
pub(crate) const EDIT_LOCK_KEY: i64 = 0x5348_4f50_5052_4f4d; // "SHOPPROM"

/// The candidates of an evaluation (see `PromotionRepo::candidates`), on the caller's connection.
pub(crate) async fn candidates_in(conn: &mut AsyncPgConnection, codes: &[String]) -> QueryResult<Vec<Promotion>> {
    let rows: Vec<PromotionRow> = p::table
        .filter(p::code.is_null().and(p::status.eq(PromotionStatus::Active.as_str())).or(p::code.eq_any(codes)))
        .order((p::priority, p::id))
        .select(PromotionRow::as_select())
        .load(conn)
        .await?;
    rows.into_iter().map(Promotion::try_from).collect()
}

/// The customer as the conditions see them: their groups, and their orders that still count
/// (neither cancelled nor failed) for `first_order_only`.
pub(crate) async fn customer_in(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<Customer> {
    let groups: Vec<Uuid> =
        m::table.filter(m::user_id.eq(user)).select(m::group_id).order(m::group_id).load(conn).await?;
    let orders_placed: i64 = o::table
        .filter(o::user_id.eq(user))
        .filter(o::status.ne_all(["cancelled", "payment_failed"]))
        .select(count_star())
        .first(conn)
        .await?;
    Ok(Customer { id: user, groups, orders_placed })
}

/// Locks the usage of the limited promotions among `promotions` for this customer and reads it,
/// inside the caller's transaction; what is read cannot change before the transaction ends. A
/// total limit is locked by the promotion's row (`FOR UPDATE`, in id order), a per-customer
/// limit by a transaction-scoped advisory lock on (promotion, customer), so only the same
/// customer's checkouts wait for each other. Unlimited promotions take no lock.
pub(crate) async fn lock_usage_in(
    conn: &mut AsyncPgConnection,
    promotions: &[Promotion],
    customer: Uuid,
) -> QueryResult<HashMap<Uuid, Usage>> {
    let ids = limited(promotions);
    let mut usage: HashMap<Uuid, Usage> = HashMap::new();
    if ids.is_empty() {
        return Ok(usage);
    }
    let mut totals: Vec<Uuid> = promotions.iter().filter(|p| p.usage_limit.is_some()).map(|p| p.id).collect();
    totals.sort();
    totals.dedup();
    let counts: HashMap<Uuid, i64> = if totals.is_empty() {
        HashMap::new()
    } else {
        p::table
            .filter(p::id.eq_any(&totals))
            .order(p::id)
            .select((p::id, p::redemptions))
            .for_update()
            .load::<(Uuid, i64)>(conn)
            .await?
            .into_iter()
            .collect()
    };
    for id in ids {
        let mut u = Usage { total: counts.get(&id).copied().unwrap_or(0), by_customer: 0 };
        if promotions.iter().any(|p| p.id == id && p.per_customer_limit.is_some()) {
            diesel::select(pg_advisory_xact_lock(customer_lock_key(id, customer))).execute(conn).await?;
            u.by_customer = r::table
                .filter(r::promotion_id.eq(id).and(r::user_id.eq(customer)).and(r::released_at.is_null()))
                .select(count_star())
                .first(conn)
                .await?;
        }
        usage.insert(id, u);
    }
    Ok(usage)
}

/// Writes redemptions decided under [`lock_usage_in`] on the definitions `evaluated` (read while
/// holding [`EDIT_LOCK_KEY`] shared, so they are current): the live count of each promotion with
/// a total limit goes up (its CHECK refuses a count past the limit), and a row per redemption.
pub(crate) async fn record_in(
    conn: &mut AsyncPgConnection,
    redemptions: &[Redemption],
    evaluated: &[Promotion],
) -> QueryResult<()> {
    if redemptions.is_empty() {
        return Ok(());
    }
    let counted: Vec<Uuid> = redemptions
        .iter()
        .map(|x| x.promotion_id)
        .filter(|id| evaluated.iter().any(|p| p.id == *id && p.usage_limit.is_some()))
        .collect();
    if !counted.is_empty() {
        diesel::update(p::table.filter(p::id.eq_any(&counted)))
            .set(p::redemptions.eq(p::redemptions + 1))
            .execute(conn)
            .await?;
    }
    let rows: Vec<_> = redemptions
        .iter()
        .map(|x| {
            (
                r::promotion_id.eq(x.promotion_id),
                r::order_id.eq(x.order_id),
                r::user_id.eq(x.user_id),
                r::amount_minor.eq(x.amount_minor.max(0)),
            )
        })
        .collect();
    diesel::insert_into(r::table).values(rows).execute(conn).await?;
    Ok(())
}

/// Releases the order's live redemptions inside the caller's transaction; how many.
pub(crate) async fn release_in(conn: &mut AsyncPgConnection, order_id: Uuid) -> QueryResult<u64> {
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

/// Holds the group a promotion names (`FOR SHARE`, so it cannot be deleted before the write
/// commits); `UnknownGroup` when there is none.
async fn hold_group(conn: &mut AsyncPgConnection, x: &Promotion) -> Result<(), TxError<PromotionError>> {
    if let Some(group) = x.conditions.customer_group {
        let found: Option<Uuid> = g::table.find(group).select(g::id).for_share().first(conn).await.optional()?;
        if found.is_none() {
            return Err(TxError::Domain(PromotionError::UnknownGroup));
        }
    }
    Ok(())
}

/// A promotion's row as written by an insert or a replace (the update leaves the id, which is
/// the key, and sets the redemptions itself).
fn row(x: &Promotion) -> QueryResult<PromotionRow> {
    Ok(PromotionRow {
        id: x.id,
        name: x.name.clone(),
        code: x.code.clone(),
        status: x.status.as_str().to_owned(),
        starts_at: x.starts_at,
        ends_at: x.ends_at,
        priority: x.priority,
        combinable: x.combinable,
        conditions: encoded(&x.conditions)?,
        action: encoded(&x.action)?,
        max_discount_minor: x.max_discount_minor,
        usage_limit: x.usage_limit,
        per_customer_limit: x.per_customer_limit,
    })
}

/// Database refusals of a promotion write as domain errors.
fn write_error(e: DieselError) -> PromotionError {
    match e {
        e if is_unique_violation(&e) => PromotionError::CodeTaken,
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => PromotionError::NotFound,
        other => PromotionError::Storage(crate::error::storage(other)),
    }
}

#[async_trait::async_trait]
impl PromotionRepo for PgPromotionRepo {
    async fn create(&self, x: &Promotion) -> Result<Promotion, PromotionError> {
        let mut conn = self.db.conn().await?;
        let result: Result<Promotion, TxError<PromotionError>> = conn
            .transaction(async |conn| {
                hold_group(conn, x).await?;
                let row: PromotionRow = diesel::insert_into(p::table)
                    .values(row(x)?)
                    .returning(PromotionRow::as_returning())
                    .get_result(conn)
                    .await?;
                Ok(Promotion::try_from(row)?)
            })
            .await;
        result.settle_with(write_error)
    }

    async fn replace(&self, x: &Promotion) -> Result<Promotion, PromotionError> {
        let mut conn = self.db.conn().await?;
        let result: Result<Promotion, TxError<PromotionError>> = conn
            .transaction(async |conn| {
                // Every checkout in flight finishes first (they hold the edit lock shared), so
                // the count below includes all their redemptions; new ones wait for this edit.
                diesel::select(pg_advisory_xact_lock(EDIT_LOCK_KEY)).execute(conn).await?;
                let status: Option<String> =
                    p::table.find(x.id).select(p::status).for_update().first(conn).await.optional()?;
                match status.as_deref() {
                    None => return Err(TxError::Domain(PromotionError::NotFound)),
                    Some(s) if s == PromotionStatus::Archived.as_str() => {
                        return Err(TxError::Domain(PromotionError::Archived));
                    }
                    Some(_) => {}
                }
                hold_group(conn, x).await?;
                let live: i64 = r::table
                    .filter(r::promotion_id.eq(x.id).and(r::released_at.is_null()))
                    .select(count_star())
                    .first(conn)
                    .await?;
                if x.usage_limit.is_some_and(|l| l < live) {
                    return Err(TxError::Domain(PromotionError::LimitBelowUsage { redemptions: live }));
                }
                let row: PromotionRow = diesel::update(p::table.find(x.id))
                    .set((row(x)?, p::redemptions.eq(live)))
                    .returning(PromotionRow::as_returning())
                    .get_result(conn)
                    .await?;
                Ok(Promotion::try_from(row)?)
            })
            .await;
        result.settle_with(write_error)
    }

    async fn get(&self, id: Uuid) -> Result<Option<Promotion>, PromotionError> {
        let mut conn = self.db.conn().await?;
        let row: Option<PromotionRow> =
            p::table.find(id).select(PromotionRow::as_select()).first(&mut conn).await.optional().storage()?;
        Ok(row.map(Promotion::try_from).transpose().storage()?)
    }

    async fn list(&self, f: &PromotionFilter) -> Result<Vec<Promotion>, PromotionError> {
        let mut conn = self.db.conn().await?;
        let mut q = p::table.select(PromotionRow::as_select()).into_boxed();
        if let Some(s) = f.status {
            q = q.filter(p::status.eq(s.as_str()));
        }
        match f.kind {
            Some(PromotionKind::Code) => q = q.filter(p::code.is_not_null()),
            Some(PromotionKind::Automatic) => q = q.filter(p::code.is_null()),
            None => {}
        }
        if let Some(text) = f.q.as_deref().filter(|t| !t.is_empty()) {
            let pattern = crate::identity::like_pattern(text);
            q = q.filter(p::name.ilike(pattern.clone()).or(p::code.ilike(pattern)));
        }
        if let Some(after) = f.page.after {
            q = q.filter(p::id.lt(after));
        }
        let rows = q.order(p::id.desc()).limit(f.page.fetch()).load(&mut conn).await.storage()?;
        decode(rows)
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

    async fn report(&self, id: Uuid) -> Result<Option<UsageReport>, PromotionError> {
        let mut conn = self.db.conn().await?;
        let found: Option<Uuid> = p::table.find(id).select(p::id).first(&mut conn).await.optional().storage()?;
        if found.is_none() {
            return Ok(None);
        }
        let of = || r::table.filter(r::promotion_id.eq(id));
        let redemptions: i64 =
            of().filter(r::released_at.is_null()).select(count_star()).first(&mut conn).await.storage()?;
        let released: i64 =
            of().filter(r::released_at.is_not_null()).select(count_star()).first(&mut conn).await.storage()?;
        let customers: i64 = of()
            .filter(r::released_at.is_null())
            .select(diesel::dsl::sql::<diesel::sql_types::BigInt>("count(DISTINCT user_id)"))
            .first(&mut conn)
            .await
            .storage()?;
        let totals: Vec<(String, i64)> = diesel::sql_query(
            "SELECT o.currency, sum(r.amount_minor)::bigint AS amount FROM promotion_redemptions r \
             JOIN orders o ON o.id = r.order_id WHERE r.promotion_id = $1 AND r.released_at IS NULL \
             GROUP BY o.currency ORDER BY o.currency",
        )
        .bind::<diesel::sql_types::Uuid, _>(id)
        .load::<CurrencySum>(&mut conn)
        .await
        .storage()?
        .into_iter()
        .map(|c| (c.currency, c.amount))
        .collect();
        let discount_totals = totals
            .into_iter()
            .map(|(c, amount)| Ok(Money::new(amount, currency(&c)?)))
            .collect::<QueryResult<Vec<_>>>()
            .storage()?;
        let recent_orders: Vec<Uuid> = of()
            .filter(r::released_at.is_null())
            .order((r::created_at.desc(), r::order_id.desc()))
            .limit(20)
            .select(r::order_id)
            .load(&mut conn)
            .await
            .storage()?;
        Ok(Some(UsageReport { promotion_id: id, redemptions, released, customers, discount_totals, recent_orders }))
    }

    async fn candidates(&self, codes: &[String]) -> Result<Vec<Promotion>, PromotionError> {
        let mut conn = self.db.conn().await?;
        Ok(candidates_in(&mut conn, codes).await.storage()?)
    }

    async fn automatic(&self) -> Result<Vec<Promotion>, PromotionError> {
        // The candidates of a cart without codes.
        self.candidates(&[]).await
    }

    async fn by_codes(&self, codes: &[String]) -> Result<Vec<Promotion>, PromotionError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<PromotionRow> = p::table
            .filter(p::code.eq_any(codes))
            .order((p::priority, p::id))
            .select(PromotionRow::as_select())
            .load(&mut conn)
            .await
            .storage()?;
        decode(rows)
    }

    async fn usage(&self, ids: &[Uuid], customer: Option<Uuid>) -> Result<HashMap<Uuid, Usage>, PromotionError> {
        let mut conn = self.db.conn().await?;
        // The live count of a limited promotion is kept on its row.
        let totals: Vec<(Uuid, i64)> =
            p::table.filter(p::id.eq_any(ids)).select((p::id, p::redemptions)).load(&mut conn).await.storage()?;
        let mut out: HashMap<Uuid, Usage> =
            totals.into_iter().map(|(id, total)| (id, Usage { total, by_customer: 0 })).collect();
        if let Some(user) = customer {
            let mine: Vec<(Uuid, i64)> = r::table
                .filter(r::promotion_id.eq_any(ids).and(r::released_at.is_null()))
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

    async fn customer(&self, user: Uuid) -> Result<Customer, PromotionError> {
        let mut conn = self.db.conn().await?;
        Ok(customer_in(&mut conn, user).await.storage()?)
    }

    async fn redeem(&self, redemptions: &[Redemption]) -> Result<(), PromotionError> {
        let mut conn = self.db.conn().await?;
        let result: Result<(), TxError<PromotionError>> = conn
            .transaction(async |conn| {
                diesel::select(pg_advisory_xact_lock_shared(EDIT_LOCK_KEY)).execute(conn).await?;
                for x in redemptions {
                    let promotion: Option<PromotionRow> =
                        p::table.find(x.promotion_id).select(PromotionRow::as_select()).first(conn).await.optional()?;
                    let promotion = Promotion::try_from(promotion.ok_or(TxError::Domain(PromotionError::NotFound))?)?;
                    let evaluated = std::slice::from_ref(&promotion);
                    let locked = lock_usage_in(conn, evaluated, x.user_id).await?;
                    let usage = locked.get(&x.promotion_id).copied().unwrap_or_default();
                    if limit_reached(&promotion, usage, true) {
                        return Err(TxError::Domain(PromotionError::LimitReached { promotion_id: x.promotion_id }));
                    }
                    record_in(conn, std::slice::from_ref(x), evaluated).await?;
                }
                Ok(())
            })
            .await;
        result.settle_with(|e| match e {
            // The CHECK behind the count, should a writer ever bypass `lock_usage_in`.
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

#[derive(QueryableByName)]
struct CurrencySum {
    #[diesel(sql_type = diesel::sql_types::Text)]
    currency: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    amount: i64,
}

fn group_error(e: DieselError) -> PromotionError {
    if is_unique_violation(&e) {
        PromotionError::GroupNameTaken
    } else {
        PromotionError::Storage(crate::error::storage(e))
    }
}

/// Member counts of these groups.
async fn member_counts(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<HashMap<Uuid, i64>> {
    let counts: Vec<(Uuid, i64)> = m::table
        .filter(m::group_id.eq_any(ids))
        .group_by(m::group_id)
        .select((m::group_id, count_star()))
        .load(conn)
        .await?;
    Ok(counts.into_iter().collect())
}

#[async_trait::async_trait]
impl GroupRepo for PgPromotionRepo {
    async fn create_group(&self, name: &str) -> Result<CustomerGroup, PromotionError> {
        let mut conn = self.db.conn().await?;
        let (id, name, created_at): (Uuid, String, DateTime<Utc>) = diesel::insert_into(g::table)
            .values((g::id.eq(Uuid::now_v7()), g::name.eq(name)))
            .returning((g::id, g::name, g::created_at))
            .get_result(&mut conn)
            .await
            .map_err(group_error)?;
        Ok(CustomerGroup { id, name, members: 0, created_at })
    }

    async fn list_groups(&self, page: &PageRequest<String>) -> Result<Vec<CustomerGroup>, PromotionError> {
        let mut conn = self.db.conn().await?;
        let mut q = g::table.select((g::id, g::name, g::created_at)).into_boxed();
        if let Some(after) = &page.after {
            q = q.filter(g::name.gt(after.clone()));
        }
        let rows: Vec<(Uuid, String, DateTime<Utc>)> =
            q.order(g::name).limit(page.fetch()).load(&mut conn).await.storage()?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
        let counts = member_counts(&mut conn, &ids).await.storage()?;
        Ok(rows
            .into_iter()
            .map(|(id, name, created_at)| CustomerGroup {
                id,
                name,
                members: counts.get(&id).copied().unwrap_or(0),
                created_at,
            })
            .collect())
    }

    async fn rename_group(&self, id: Uuid, name: &str) -> Result<Option<CustomerGroup>, PromotionError> {
        let mut conn = self.db.conn().await?;
        let row: Option<(Uuid, String, DateTime<Utc>)> = diesel::update(g::table.find(id))
            .set(g::name.eq(name))
            .returning((g::id, g::name, g::created_at))
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(group_error)?;
        let Some((id, name, created_at)) = row else { return Ok(None) };
        let members = member_counts(&mut conn, &[id]).await.storage()?.get(&id).copied().unwrap_or(0);
        Ok(Some(CustomerGroup { id, name, members, created_at }))
    }

    async fn delete_group(&self, id: Uuid) -> Result<bool, PromotionError> {
        let mut conn = self.db.conn().await?;
        let result: Result<bool, TxError<PromotionError>> = conn
            .transaction(async |conn| {
                // The row lock first: a promotion being written that names the group holds it
                // (FOR SHARE) until it commits, and the check below then sees that promotion.
                let found: Option<Uuid> = g::table.find(id).select(g::id).for_update().first(conn).await.optional()?;
                if found.is_none() {
                    return Ok(false);
                }
                let in_use: i64 = p::table
                    .filter(p::status.ne(PromotionStatus::Archived.as_str()))
                    .filter(
                        diesel::dsl::sql::<diesel::sql_types::Bool>("conditions->>'customer_group' = ")
                            .bind::<diesel::sql_types::Text, _>(id.to_string()),
                    )
                    .select(count_star())
                    .first(conn)
                    .await?;
                if in_use > 0 {
                    return Err(TxError::Domain(PromotionError::GroupInUse));
                }
                diesel::delete(g::table.find(id)).execute(conn).await?;
                Ok(true)
            })
            .await;
        result.settle()
    }

    async fn members(
        &self,
        group_id: Uuid,
        page: &PageRequest<Uuid>,
    ) -> Result<Option<Vec<GroupMember>>, PromotionError> {
        let mut conn = self.db.conn().await?;
        let found: Option<Uuid> = g::table.find(group_id).select(g::id).first(&mut conn).await.optional().storage()?;
        if found.is_none() {
            return Ok(None);
        }
        let mut q = m::table
            .inner_join(users::table)
            .filter(m::group_id.eq(group_id))
            .select((m::user_id, users::email, m::added_at))
            .into_boxed();
        if let Some(after) = page.after {
            q = q.filter(m::user_id.gt(after));
        }
        let rows: Vec<(Uuid, String, DateTime<Utc>)> =
            q.order(m::user_id).limit(page.fetch()).load(&mut conn).await.storage()?;
        Ok(Some(rows.into_iter().map(|(user_id, email, added_at)| GroupMember { user_id, email, added_at }).collect()))
    }

    async fn add_member(&self, group_id: Uuid, user_id: Uuid) -> Result<GroupMember, PromotionError> {
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
        let (user_id, email, added_at): (Uuid, String, DateTime<Utc>) = m::table
            .inner_join(users::table)
            .filter(m::group_id.eq(group_id).and(m::user_id.eq(user_id)))
            .select((m::user_id, users::email, m::added_at))
            .first(&mut conn)
            .await
            .optional()
            .storage()?
            .ok_or(PromotionError::NotFound)?;
        Ok(GroupMember { user_id, email, added_at })
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
