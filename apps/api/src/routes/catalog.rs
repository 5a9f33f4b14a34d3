//! Public catalog: the category tree, product listing and search, product detail.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use catalog::{CategoryNode, ListingCursor, ListingQuery, ProductPage, PublicProduct, Sort};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::pagination::{PageParams, Paged};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// The category forest, ordered by position.
#[utoipa::path(tag = "catalog", responses((status = 200, body = Vec<CategoryNode>)))]
#[get("/categories")]
pub async fn category_tree(state: web::Data<AppState>) -> ApiResult<web::Json<Vec<CategoryNode>>> {
    Ok(web::Json(state.catalog.category_tree().await?))
}

/// One category (by slug) with its sub-categories.
#[utoipa::path(
    tag = "catalog",
    params(("slug" = String, Path, example = "t-shirts")),
    responses((status = 200, body = CategoryNode))
)]
#[get("/categories/{slug}")]
pub async fn get_category(state: web::Data<AppState>, slug: web::Path<String>) -> ApiResult<web::Json<CategoryNode>> {
    Ok(web::Json(state.catalog.category(&slug).await?))
}

#[derive(Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListingParams {
    /// Search text: full-text over name, brand and description, tolerant of typos in names.
    #[garde(inner(length(chars, min = 1, max = 200)))]
    #[param(example = "cotton shirt", min_length = 1, max_length = 200)]
    pub q: Option<String>,
    /// Category slug or id; includes its sub-categories.
    #[garde(inner(length(max = 120)))]
    #[param(max_length = 120)]
    pub category: Option<String>,
    #[garde(inner(length(chars, max = 100)))]
    #[param(max_length = 100)]
    pub brand: Option<String>,
    /// Lowest price, in minor units.
    #[garde(inner(range(min = 0, max = 100_000_000_000)))]
    #[param(minimum = 0, maximum = 100_000_000_000.0)]
    pub price_min: Option<i64>,
    /// Highest price, in minor units.
    #[garde(inner(range(min = 0, max = 100_000_000_000)))]
    #[param(minimum = 0, maximum = 100_000_000_000.0)]
    pub price_max: Option<i64>,
    /// Only products with a variant in stock.
    #[garde(skip)]
    pub in_stock: Option<bool>,
    /// `relevance` (default with `q`), `newest` (default without), `price_asc`, `price_desc`, `rating`.
    #[garde(skip)]
    #[param(inline)]
    pub sort: Option<Sort>,
}

/// List and search active products: filters, sorts, keyset pagination (24 per page unless
/// `limit` says), facet counts.
#[utoipa::path(
    tag = "catalog",
    params(ListingParams, PageParams),
    responses((status = 200, body = ProductPage), (status = 400, description = "A parameter is invalid; `errors[].field` names it", body = Problem))
)]
#[get("/products")]
pub async fn list_products(
    state: web::Data<AppState>,
    req: HttpRequest,
    Paged(p, page): Paged<ListingParams>,
) -> ApiResult<HttpResponse> {
    if let (Some(min), Some(max)) = (p.price_min, p.price_max)
        && min > max
    {
        return Err(Problem::invalid_parameter("price_min", "must not exceed price_max"));
    }
    let q = p.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    let sort = p.sort.unwrap_or(if q.is_some() { Sort::Relevance } else { Sort::Newest });
    let after = match page.cursor.as_deref() {
        Some(c) => Some(
            ListingCursor::decode(c, sort)
                .ok_or_else(|| Problem::invalid_parameter("cursor", "not a cursor of this listing and sort"))?,
        ),
        None => None,
    };
    let categories = match p.category.as_deref() {
        Some(c) => Some(state.catalog.category_filter(c).await?),
        None => None,
    };
    let query = ListingQuery {
        q,
        categories,
        brand: p.brand,
        price_min: p.price_min,
        price_max: p.price_max,
        in_stock: p.in_stock.unwrap_or(false),
        sort,
        after,
        limit: page.limit.unwrap_or(24),
        // Signed-in callers (admins checking their edits) read from the primary.
        latest: req.headers().contains_key(header::AUTHORIZATION),
        fuzzy: false,
    };
    let body = state.catalog.list_json(query).await?;
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}

fn etag_matches(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "*" || v.split(',').any(|t| t.trim().trim_start_matches("W/") == etag))
}

/// One active product by id or slug, with its variants. Answers 304 to a matching
/// `If-None-Match`.
#[utoipa::path(
    tag = "catalog",
    params(("id_or_slug" = String, Path, description = "Product id (UUID) or slug")),
    responses(
        (status = 200, body = PublicProduct, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified")
    )
)]
#[get("/products/{id_or_slug}")]
pub async fn product(
    state: web::Data<AppState>,
    req: HttpRequest,
    id_or_slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let detail = state.catalog.detail(&id_or_slug).await?;
    let mut res = if etag_matches(&req, &detail.etag) {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok().content_type("application/json").body(detail.body)
    };
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&detail.etag) {
        headers.insert(header::ETAG, v);
    }
    // Caches may keep it but must revalidate: a price change is visible on the next request.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, no-cache"));
    Ok(res)
}
