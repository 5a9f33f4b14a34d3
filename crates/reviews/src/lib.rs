//! Reviews and ratings: only verified purchasers review, one review per user and product,
//! moderation, and the rating aggregates the catalog shows (kept in the same transaction as each
//! review change, so they never drift).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use primitives::{CursorTime, Page, PageRequest};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Review {
    pub id: Uuid,
    pub product_id: Uuid,
    pub user_id: Uuid,
    /// The reviewer's display name.
    pub author: String,
    pub rating: i16,
    pub title: String,
    pub body: String,
    pub hidden: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Stars 1..=5 and how many visible reviews gave each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Histogram {
    #[serde(rename = "1")]
    pub one: i64,
    #[serde(rename = "2")]
    pub two: i64,
    #[serde(rename = "3")]
    pub three: i64,
    #[serde(rename = "4")]
    pub four: i64,
    #[serde(rename = "5")]
    pub five: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReviewSort {
    #[default]
    Newest,
    Highest,
    Lowest,
}

/// Where a page of reviews starts: after the review with this rating, time and id, in the order
/// of `sort` (a cursor is bound to the sort it was issued for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewKey {
    pub sort: ReviewSort,
    pub rating: i16,
    pub at: CursorTime,
    pub id: Uuid,
}

impl ReviewKey {
    pub fn of(r: &Review, sort: ReviewSort) -> Self {
        ReviewKey { sort, rating: r.rating, at: CursorTime(r.created_at), id: r.id }
    }
}

/// Removes control characters other than line breaks and tabs; everything else is kept as given
/// (reviews are returned as JSON text, never rendered as HTML by the API).
pub fn strip_controls(s: &str) -> String {
    s.chars().filter(|c| !c.is_control() || matches!(c, '\n' | '\t')).collect()
}

fn not_blank(value: &str, _: &()) -> garde::Result {
    if strip_controls(value).trim().is_empty() { Err(garde::Error::new("must not be blank")) } else { Ok(()) }
}

fn opt_not_blank(value: &Option<String>, ctx: &()) -> garde::Result {
    value.as_deref().map_or(Ok(()), |v| not_blank(v, ctx))
}

#[derive(Debug, Clone, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    #[garde(range(min = 1, max = 5))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
    pub rating: i16,
    #[garde(length(chars, min = 1, max = 120), custom(not_blank))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    pub title: String,
    #[garde(length(chars, min = 1, max = 5000), custom(not_blank))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 5000))]
    pub body: String,
}

#[derive(Debug, Clone, Default, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReviewPatch {
    #[garde(inner(range(min = 1, max = 5)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
    pub rating: Option<i16>,
    #[garde(inner(length(chars, min = 1, max = 120)), custom(opt_not_blank))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    pub title: Option<String>,
    #[garde(inner(length(chars, min = 1, max = 5000)), custom(opt_not_blank))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 5000))]
    pub body: Option<String>,
}

#[derive(Debug, Clone, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Moderation {
    #[garde(length(chars, min = 1, max = 500), custom(not_blank))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("not found")]
    NotFound,
    #[error("only customers who bought the product may review it")]
    NotAPurchaser,
    #[error("you already reviewed this product")]
    AlreadyReviewed,
    #[error("the cursor belongs to another sort")]
    CursorOfAnotherSort,
    #[error(transparent)]
    Storage(#[from] primitives::StorageError),
}

/// Storage of reviews. Every write updates the product's `rating_sum`/`rating_count` by the
/// review's contribution in the same transaction.
#[async_trait::async_trait]
pub trait ReviewRepo: Send + Sync + 'static {
    /// Whether the user has a paid, shipped or delivered order containing the product.
    async fn purchased(&self, user: Uuid, product: Uuid) -> Result<bool, ReviewError>;
    async fn product_is_public(&self, product: Uuid) -> Result<bool, ReviewError>;
    async fn create(&self, product: Uuid, user: Uuid, r: &NewReview) -> Result<Review, ReviewError>;
    async fn get(&self, id: Uuid) -> Result<Option<Review>, ReviewError>;
    /// Changes the review when it belongs to `user`.
    async fn update(&self, id: Uuid, user: Uuid, p: &ReviewPatch) -> Result<Review, ReviewError>;
    async fn delete(&self, id: Uuid, user: Uuid) -> Result<Uuid, ReviewError>;
    /// Hides (`Some(reason)`) or shows (`None`) a review; hidden reviews leave the aggregates.
    async fn set_hidden(&self, id: Uuid, moderator: Uuid, reason: Option<&str>) -> Result<Review, ReviewError>;
    /// Visible reviews; `latest`: must see the newest commits (else a replica may answer).
    async fn list(
        &self,
        product: Uuid,
        sort: ReviewSort,
        page: &PageRequest<ReviewKey>,
        latest: bool,
    ) -> Result<Vec<Review>, ReviewError>;
    async fn histogram(&self, product: Uuid, latest: bool) -> Result<Histogram, ReviewError>;
}

/// Told when a product's aggregates changed (the catalog drops its cached detail). Awaited
/// before the write is answered, so the next read sees the new aggregates.
#[async_trait::async_trait]
pub trait AggregatesChanged: Send + Sync + 'static {
    async fn product_changed(&self, product: Uuid);
}

pub struct ReviewService {
    repo: Arc<dyn ReviewRepo>,
    listener: Arc<dyn AggregatesChanged>,
}

impl ReviewService {
    pub fn new(repo: Arc<dyn ReviewRepo>, listener: Arc<dyn AggregatesChanged>) -> Self {
        ReviewService { repo, listener }
    }

    fn clean(mut r: NewReview) -> NewReview {
        r.title = strip_controls(&r.title);
        r.body = strip_controls(&r.body);
        r
    }

    pub async fn create(&self, product: Uuid, user: Uuid, r: NewReview) -> Result<Review, ReviewError> {
        if !self.repo.product_is_public(product).await? {
            return Err(ReviewError::NotFound);
        }
        if !self.repo.purchased(user, product).await? {
            return Err(ReviewError::NotAPurchaser);
        }
        let review = self.repo.create(product, user, &Self::clean(r)).await?;
        self.listener.product_changed(product).await;
        Ok(review)
    }

    pub async fn update(&self, id: Uuid, user: Uuid, mut p: ReviewPatch) -> Result<Review, ReviewError> {
        p.title = p.title.map(|t| strip_controls(&t));
        p.body = p.body.map(|b| strip_controls(&b));
        let review = self.repo.update(id, user, &p).await?;
        self.listener.product_changed(review.product_id).await;
        Ok(review)
    }

    pub async fn delete(&self, id: Uuid, user: Uuid) -> Result<(), ReviewError> {
        let product = self.repo.delete(id, user).await?;
        self.listener.product_changed(product).await;
        Ok(())
    }

    pub async fn moderate(&self, id: Uuid, moderator: Uuid, hide: Option<Moderation>) -> Result<Review, ReviewError> {
        let reason = hide.map(|m| strip_controls(&m.reason));
        let review = self.repo.set_hidden(id, moderator, reason.as_deref()).await?;
        self.listener.product_changed(review.product_id).await;
        Ok(review)
    }

    /// A page of a product's visible reviews in `sort` order, with the rating histogram.
    pub async fn list(
        &self,
        product: Uuid,
        sort: ReviewSort,
        page: &PageRequest<ReviewKey>,
        latest: bool,
    ) -> Result<(Page<Review>, Histogram), ReviewError> {
        if page.after.is_some_and(|k| k.sort != sort) {
            return Err(ReviewError::CursorOfAnotherSort);
        }
        if !self.repo.product_is_public(product).await? {
            return Err(ReviewError::NotFound);
        }
        let rows = self.repo.list(product, sort, page, latest).await?;
        let histogram = self.repo.histogram(product, latest).await?;
        Ok((Page::cut(rows, page.limit, |r| ReviewKey::of(r, sort)), histogram))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use garde::Validate;

    #[test]
    fn control_characters_are_stripped_not_refused() {
        assert_eq!(strip_controls("a\u{0}b\u{7}c\nd\te\u{1b}[31m"), "abc\nd\te[31m");
        assert_eq!(strip_controls("<script>alert(1)</script>"), "<script>alert(1)</script>");
    }

    #[test]
    fn validation() {
        let ok = NewReview { rating: 5, title: "Great".into(), body: "Loved it".into() };
        assert!(ok.validate().is_ok());
        assert!(NewReview { rating: 0, ..ok.clone() }.validate().is_err());
        assert!(NewReview { rating: 6, ..ok.clone() }.validate().is_err());
        assert!(NewReview { title: "\u{0}\u{1}".into(), ..ok.clone() }.validate().is_err());
        assert!(NewReview { body: "x".repeat(5001), ..ok }.validate().is_err());
    }
}
