//! Public catalog: the category tree, product listing and search, product detail.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use catalog::{CategoryNode, ListingCursor, ListingQuery, ProductPage, PublicProduct, Sort};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::pagination::{PageParams, Paged};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// Get the category tree
///
/// Every category as a forest: the top-level categories, each with its sub-categories nested
/// under `children`, ordered by position then name at every level.
#[utoipa::path(
    tag = "catalog",
    operation_id = "getCategoryTree",
    security(()),
    responses((status = 200, description = "The top-level categories with their descendants", body = Vec<CategoryNode>))
)]
#[get("/categories")]
pub async fn category_tree(state: web::Data<AppState>) -> ApiResult<web::Json<Vec<CategoryNode>>> {
    Ok(web::Json(state.catalog.category_tree().await?))
}

/// Get a category by slug
///
/// One category, found by its slug at any depth of the tree, with its sub-categories nested
/// under `children`. An unknown slug is 404.
#[utoipa::path(
    tag = "catalog",
    operation_id = "getCategory",
    security(()),
    params(("slug" = String, Path, description = "Category slug", example = "t-shirts")),
    responses((status = 200, description = "The category and its descendants", body = CategoryNode))
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
    /// Brand name.
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

/// List and search products
///
/// Active products only, filtered by search text, category (with its sub-categories), brand,
/// price range and availability, in the order of `sort`, with facet counts. Keyset-paginated:
/// 24 per page unless `limit` says, `next_cursor` for the next page (a cursor belongs to the sort
/// it was issued for). `price_min` above `price_max` or a foreign cursor is 400
/// `invalid-parameter`.
#[utoipa::path(
    tag = "catalog",
    operation_id = "listProducts",
    security(()),
    params(ListingParams, PageParams),
    responses(
        (status = 200, description = "A page of matching products with facet counts", body = ProductPage),
        (status = 400, description = "A parameter is invalid (`invalid-parameter`; `errors[].field` names it)", body = Problem)
    )
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

/// Get a product by id or slug
///
/// One active product with its variants, their prices and availability (not stock counts).
/// Drafts and archived products are 404. The answer carries an `ETag`; sending it back in
/// `If-None-Match` answers 304 without a body while the product is unchanged. Caches may keep
/// the answer but must revalidate it (`Cache-Control: public, no-cache`).
#[utoipa::path(
    tag = "catalog",
    operation_id = "getProduct",
    security(()),
    params(
        ("id_or_slug" = String, Path, description = "Product id (UUID) or slug"),
        ("If-None-Match" = Option<String>, Header, description = "The `ETag` of a copy held: 304 while it is current (`*` or a list of tags also match)")
    ),
    responses(
        (status = 200, description = "The product", body = PublicProduct, headers(
            ("ETag" = String, description = "Tag of this representation, for `If-None-Match`"),
            ("Cache-Control" = String, description = "`public, no-cache`: cacheable, revalidate on every use")
        )),
        (status = 304, description = "Not modified: the copy whose tag was sent is current", headers(
            ("ETag" = String, description = "Tag of the current representation"),
            ("Cache-Control" = String, description = "`public, no-cache`")
        ))
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
