//! Adapter for `reviews::ReviewRepo`. Each write moves the product's rating aggregates by the
//! review's contribution in the same transaction (increments under the product row lock, so
//! concurrent reviews never lose an update).

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use primitives::{CursorTime, PageRequest};
use reviews::{Histogram, NewReview, Review, ReviewError, ReviewKey, ReviewPatch, ReviewRepo, ReviewSort};
use uuid::Uuid;

use crate::error::{OrStorage, Settle, TxError};
use crate::schema::{order_lines, orders, products, reviews as r, users};
use crate::{Db, is_unique_violation};

pub struct PgReviewRepo {
    db: Db,
}

impl PgReviewRepo {
    pub fn new(db: Db) -> Self {
        PgReviewRepo { db }
    }
}

/// A second review by one user of one product is refused by the unique index.
fn already_reviewed(e: diesel::result::Error) -> ReviewError {
    if is_unique_violation(&e) { ReviewError::AlreadyReviewed } else { ReviewError::Storage(crate::error::storage(e)) }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = r, check_for_backend(Pg))]
struct Row {
    id: Uuid,
    product_id: Uuid,
    user_id: Uuid,
    rating: i16,
    title: String,
    body: String,
    hidden_at: Option<DateTime<Utc>>,
    hidden_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn review(row: Row, author: String) -> Review {
    Review {
        id: row.id,
        product_id: row.product_id,
        user_id: row.user_id,
        author,
        rating: row.rating,
        title: row.title,
        body: row.body,
        hidden: row.hidden_at.is_some(),
        hidden_reason: row.hidden_reason,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

async fn load(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Review>> {
    let row: Option<(Row, String)> = r::table
        .inner_join(users::table)
        .filter(r::id.eq(id))
        .select((Row::as_select(), users::name))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(row, name)| review(row, name)))
}

/// Moves a product's aggregates by `sum` stars and `count` reviews.
async fn bump(conn: &mut AsyncPgConnection, product: Uuid, sum: i32, count: i32) -> QueryResult<()> {
    if sum != 0 || count != 0 {
        diesel::update(products::table.find(product))
            .set((
                products::rating_sum.eq(products::rating_sum + sum),
                products::rating_count.eq(products::rating_count + count),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Every review a user wrote, newest first (the data export).
pub(crate) async fn reviews_of(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<Vec<Review>> {
    let rows: Vec<(Row, String)> = r::table
        .inner_join(users::table)
        .filter(r::user_id.eq(user))
        .order(r::created_at.desc())
        .select((Row::as_select(), users::name))
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|(row, name)| review(row, name)).collect())
}

/// Deletes every review of a user, taking the visible ones out of their products' ratings;
/// returns the products touched. Runs in the caller's transaction.
pub(crate) async fn remove_reviews_of(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<Vec<Uuid>> {
    let gone: Vec<(Uuid, i16, bool)> = diesel::delete(r::table.filter(r::user_id.eq(user)))
        .returning((r::product_id, r::rating, r::hidden_at.is_not_null()))
        .get_results(conn)
        .await?;
    let mut products: Vec<Uuid> = gone.iter().map(|(p, _, _)| *p).collect();
    products.sort_unstable();
    products.dedup();
    // Products in id order: two erasures touching the same products lock them in one order.
    for product in &products {
        let (sum, count) = gone
            .iter()
            .filter(|(p, _, hidden)| p == product && !hidden)
            .fold((0i32, 0i32), |(s, c), (_, rating, _)| (s - i32::from(*rating), c - 1));
        bump(conn, *product, sum, count).await?;
    }
    Ok(products)
}

/// Locks a review (optionally only the given user's) and returns (product, rating, hidden).
async fn lock(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: Option<Uuid>,
) -> Result<(Uuid, i16, bool), TxError<ReviewError>> {
    let row: Option<(Uuid, Uuid, i16, bool)> = r::table
        .filter(r::id.eq(id))
        .select((r::user_id, r::product_id, r::rating, r::hidden_at.is_not_null()))
        .for_update()
        .first(conn)
        .await
        .optional()?;
    match row {
        Some((user, product, rating, hidden)) if owner.is_none_or(|o| o == user) => Ok((product, rating, hidden)),
        _ => Err(TxError::Domain(ReviewError::NotFound)),
    }
}

fn freshness(latest: bool) -> crate::Freshness {
    if latest { crate::Freshness::Latest } else { crate::Freshness::Relaxed }
}

#[async_trait::async_trait]
impl ReviewRepo for PgReviewRepo {
    async fn purchased(&self, user: Uuid, product: Uuid) -> Result<bool, ReviewError> {
        let mut conn = self.db.conn().await?;
        Ok(diesel::select(diesel::dsl::exists(
            orders::table
                .inner_join(order_lines::table)
                .filter(orders::user_id.eq(user))
                .filter(order_lines::product_id.eq(product))
                .filter(orders::status.eq_any(["paid", "shipped", "delivered"])),
        ))
        .get_result(&mut conn)
        .await
        .storage()?)
    }

    async fn product_is_public(&self, product: Uuid) -> Result<bool, ReviewError> {
        let mut conn = self.db.conn().await?;
        Ok(diesel::select(diesel::dsl::exists(products::table.find(product).filter(products::status.eq("active"))))
            .get_result(&mut conn)
            .await
            .storage()?)
    }

    async fn create(&self, product: Uuid, user: Uuid, n: &NewReview) -> Result<Review, ReviewError> {
        let mut conn = self.db.conn().await?;
        let id = Uuid::now_v7();
        let result: Result<Review, TxError<ReviewError>> = conn
            .transaction(async |conn| {
                diesel::insert_into(r::table)
                    .values((
                        r::id.eq(id),
                        r::product_id.eq(product),
                        r::user_id.eq(user),
                        r::rating.eq(n.rating),
                        r::title.eq(&n.title),
                        r::body.eq(&n.body),
                    ))
                    .execute(conn)
                    .await?;
                bump(conn, product, i32::from(n.rating), 1).await?;
                Ok(load(conn, id).await?.ok_or(DieselError::NotFound)?)
            })
            .await;
        result.settle_with(already_reviewed)
    }

    async fn get(&self, id: Uuid) -> Result<Option<Review>, ReviewError> {
        let mut conn = self.db.conn().await?;
        Ok(load(&mut conn, id).await.storage()?)
    }

    async fn update(&self, id: Uuid, user: Uuid, p: &ReviewPatch) -> Result<Review, ReviewError> {
        let mut conn = self.db.conn().await?;
        let result: Result<Review, TxError<ReviewError>> = conn
            .transaction(async |conn| {
                let (product, old, hidden) = lock(conn, id, Some(user)).await?;
                let new = p.rating.unwrap_or(old);
                diesel::update(r::table.find(id))
                    .set((
                        r::rating.eq(new),
                        p.title.as_ref().map(|t| r::title.eq(t)),
                        p.body.as_ref().map(|b| r::body.eq(b)),
                    ))
                    .execute(conn)
                    .await?;
                if !hidden {
                    bump(conn, product, i32::from(new) - i32::from(old), 0).await?;
                }
                Ok(load(conn, id).await?.ok_or(DieselError::NotFound)?)
            })
            .await;
        result.settle_with(already_reviewed)
    }

    async fn delete(&self, id: Uuid, user: Uuid) -> Result<Uuid, ReviewError> {
        let mut conn = self.db.conn().await?;
        let result: Result<Uuid, TxError<ReviewError>> = conn
            .transaction(async |conn| {
                let (product, rating, hidden) = lock(conn, id, Some(user)).await?;
                diesel::delete(r::table.find(id)).execute(conn).await?;
                if !hidden {
                    bump(conn, product, -i32::from(rating), -1).await?;
                }
                Ok(product)
            })
            .await;
        result.settle_with(already_reviewed)
    }

    async fn set_hidden(&self, id: Uuid, moderator: Uuid, reason: Option<&str>) -> Result<Review, ReviewError> {
        let mut conn = self.db.conn().await?;
        let result: Result<Review, TxError<ReviewError>> = conn
            .transaction(async |conn| {
                let (product, rating, hidden) = lock(conn, id, None).await?;
                match (reason, hidden) {
                    (Some(why), false) => {
                        diesel::update(r::table.find(id))
                            .set((r::hidden_at.eq(Utc::now()), r::hidden_reason.eq(why), r::hidden_by.eq(moderator)))
                            .execute(conn)
                            .await?;
                        bump(conn, product, -i32::from(rating), -1).await?;
                    }
                    (Some(why), true) => {
                        diesel::update(r::table.find(id)).set(r::hidden_reason.eq(why)).execute(conn).await?;
                    }
                    (None, true) => {
                        diesel::update(r::table.find(id))
                            .set((
                                r::hidden_at.eq(None::<DateTime<Utc>>),
                                r::hidden_reason.eq(None::<String>),
                                r::hidden_by.eq(None::<Uuid>),
                            ))
                            .execute(conn)
                            .await?;
                        bump(conn, product, i32::from(rating), 1).await?;
                    }
                    (None, false) => {}
                }
                Ok(load(conn, id).await?.ok_or(DieselError::NotFound)?)
            })
            .await;
        result.settle_with(already_reviewed)
    }

    async fn list(
        &self,
        product: Uuid,
        sort: ReviewSort,
        page: &PageRequest<ReviewKey>,
        latest: bool,
    ) -> Result<Vec<Review>, ReviewError> {
        let mut conn = self.db.read_conn(freshness(latest)).await?;
        let mut q = r::table
            .inner_join(users::table)
            .filter(r::product_id.eq(product))
            .filter(r::hidden_at.is_null())
            .select((Row::as_select(), users::name))
            .into_boxed();
        if let Some(ReviewKey { rating, at: CursorTime(ts), id, .. }) = page.after {
            let newer = r::created_at.lt(ts).or(r::created_at.eq(ts).and(r::id.lt(id)));
            q = match sort {
                ReviewSort::Newest => q.filter(newer),
                ReviewSort::Highest => q.filter(r::rating.lt(rating).or(r::rating.eq(rating).and(newer))),
                ReviewSort::Lowest => q.filter(r::rating.gt(rating).or(r::rating.eq(rating).and(newer))),
            };
        }
        q = match sort {
            ReviewSort::Newest => q.order((r::created_at.desc(), r::id.desc())),
            ReviewSort::Highest => q.order((r::rating.desc(), r::created_at.desc(), r::id.desc())),
            ReviewSort::Lowest => q.order((r::rating.asc(), r::created_at.desc(), r::id.desc())),
        };
        let rows: Vec<(Row, String)> = q.limit(page.fetch()).load(&mut conn).await.storage()?;
        Ok(rows.into_iter().map(|(row, name)| review(row, name)).collect())
    }

    async fn histogram(&self, product: Uuid, latest: bool) -> Result<Histogram, ReviewError> {
        let mut conn = self.db.read_conn(freshness(latest)).await?;
        let counts: Vec<(i16, i64)> = r::table
            .filter(r::product_id.eq(product))
            .filter(r::hidden_at.is_null())
            .group_by(r::rating)
            .select((r::rating, diesel::dsl::count_star()))
            .load(&mut conn)
            .await
            .storage()?;
        let mut h = Histogram::default();
        for (stars, n) in counts {
            match stars {
                1 => h.one = n,
                2 => h.two = n,
                3 => h.three = n,
                4 => h.four = n,
                5 => h.five = n,
                _ => {}
            }
        }
        Ok(h)
    }
}
