//! Product reviews: verified purchasers write, everyone reads, moderators hide.

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use primitives::Page;
use reviews::{Histogram, Moderation, NewReview, Review, ReviewPatch, ReviewSort};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{AuthUser, Authorized, perm};
use crate::extract::StrippedJson;
use crate::pagination::{PageParams, Paged};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// Review a product
///
/// Adds the caller's review (rating 1 to 5, title, body) of an active product they bought: one
/// of their orders with it is paid, shipped or delivered (403 `not-a-purchaser` otherwise). One
/// review per user and product (409 `already-reviewed`: edit it instead). Control characters are
/// stripped from the text.
#[utoipa::path(
    tag = "reviews",
    operation_id = "createReview",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    request_body = NewReview,
    responses(
        (status = 201, description = "Review added", body = Review,
            headers(("Location" = String, description = "The review, `/api/v1/reviews/{id}` (edit or delete it there)"))),
        (status = 403, description = "Not a purchaser (`not-a-purchaser`)", body = Problem),
        (status = 409, description = "Already reviewed (`already-reviewed`)", body = Problem)
    )
)]
#[post("/products/{id}/reviews")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
    StrippedJson(body): StrippedJson<NewReview>,
) -> ApiResult<HttpResponse> {
    let review = state.reviews.create(*id, user.id(), body).await?;
    Ok(HttpResponse::Created().insert_header((LOCATION, format!("/api/v1/reviews/{}", review.id))).json(review))
}

#[derive(Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewParams {
    /// `newest` (default), `highest`, `lowest`.
    #[garde(skip)]
    #[param(inline)]
    pub sort: Option<ReviewSort>,
}

/// A review as the public sees it: the author's display name, not their account id.
#[derive(Serialize, ToSchema)]
pub struct PublicReview {
    pub id: Uuid,
    pub product_id: Uuid,
    /// The reviewer's display name.
    pub author: String,
    pub rating: i16,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Review> for PublicReview {
    fn from(r: Review) -> Self {
        PublicReview {
            id: r.id,
            product_id: r.product_id,
            author: r.author,
            rating: r.rating,
            title: r.title,
            body: r.body,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ReviewPage {
    #[serde(flatten)]
    pub page: Page<PublicReview>,
    /// Visible reviews per star.
    pub histogram: Histogram,
}

/// List a product's reviews
///
/// The visible reviews of an active product in the order of `sort`, with the authors' display
/// names (not their accounts) and the histogram of ratings per star. Keyset-paginated; a cursor
/// belongs to the sort it was issued for (400 naming `cursor` otherwise).
#[utoipa::path(
    tag = "reviews",
    operation_id = "listProductReviews",
    security(()),
    params(("id" = Uuid, Path, description = "Product id"), ReviewParams, PageParams),
    responses((status = 200, description = "A page of reviews and the histogram", body = ReviewPage))
)]
#[get("/products/{id}/reviews")]
pub async fn list(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    id: web::Path<Uuid>,
    Paged(p, page): Paged<ReviewParams>,
) -> ApiResult<web::Json<ReviewPage>> {
    // Signed-in callers read their own writes: the primary answers them, a replica the rest.
    let latest = req.headers().contains_key(actix_web::http::header::AUTHORIZATION);
    let (page, histogram) = state.reviews.list(*id, p.sort.unwrap_or_default(), &page.request()?, latest).await?;
    Ok(web::Json(ReviewPage { page: page.map(PublicReview::from), histogram }))
}

/// Update my review
///
/// Changes the rating, title or body (the fields sent) of one of the caller's reviews; the
/// product's rating follows at once. Another user's review id is 404, as an unknown one.
#[utoipa::path(
    tag = "reviews",
    operation_id = "updateMyReview",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Review id")),
    request_body = ReviewPatch,
    responses((status = 200, description = "The review as changed", body = Review))
)]
#[patch("/reviews/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<Uuid>,
    StrippedJson(body): StrippedJson<ReviewPatch>,
) -> ApiResult<web::Json<Review>> {
    Ok(web::Json(state.reviews.update(*id, user.id(), body).await?))
}

/// Delete my review
///
/// Deletes one of the caller's reviews; it leaves the product's rating at once. Another user's
/// review id is 404, as an unknown one.
#[utoipa::path(
    tag = "reviews",
    operation_id = "deleteMyReview",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Review id")),
    responses((status = 204, description = "Review deleted"))
)]
#[delete("/reviews/{id}")]
pub async fn remove(state: web::Data<AppState>, user: AuthUser, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    state.reviews.delete(*id, user.id()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Hide a review
///
/// Hides a review from the public list, keeping the reason as `hidden_reason`; it leaves the
/// product's rating and histogram until shown again.
#[utoipa::path(
    tag = "reviews",
    operation_id = "adminHideReview",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Review id")),
    request_body = Moderation,
    responses((status = 200, description = "The review, hidden", body = Review))
)]
#[post("/admin/reviews/{id}/hide")]
pub async fn hide(
    state: web::Data<AppState>,
    user: Authorized<perm::ModerateReviews>,
    id: web::Path<Uuid>,
    StrippedJson(body): StrippedJson<Moderation>,
) -> ApiResult<web::Json<Review>> {
    Ok(web::Json(state.reviews.moderate(*id, user.id(), Some(body)).await?))
}

/// Show a hidden review again
///
/// Makes a hidden review visible again; it counts in the product's rating and histogram once
/// more.
#[utoipa::path(
    tag = "reviews",
    operation_id = "adminUnhideReview",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Review id")),
    responses((status = 200, description = "The review, visible", body = Review))
)]
#[post("/admin/reviews/{id}/unhide")]
pub async fn unhide(
    state: web::Data<AppState>,
    user: Authorized<perm::ModerateReviews>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Review>> {
    Ok(web::Json(state.reviews.moderate(*id, user.id(), None).await?))
}
