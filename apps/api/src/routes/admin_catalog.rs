//! `/api/v1/admin` catalog management (permission `ManageCatalog`): categories, products,
//! variants, stock and the inventory ledger.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use catalog::{
    Category, CategoryPatch, LedgerEntry, NewCategory, NewProduct, NewVariant, Product, ProductPatch, StockAdjustment,
    Variant, VariantPatch,
};
use primitives::Page;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::{Authorized, perm};
use crate::extract::{ValidJson, ValidQuery};
use crate::pagination::page_request_or;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// Create a category (optionally under a parent).
#[utoipa::path(
    tag = "admin-catalog",
    security(("bearer" = [])),
    request_body = NewCategory,
    responses(
        (status = 201, body = Category),
        (status = 409, description = "Slug taken", body = Problem)
    )
)]
#[post("/admin/categories")]
pub async fn create_category(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageCatalog>,
    ValidJson(body): ValidJson<NewCategory>,
) -> ApiResult<HttpResponse> {
    let c = state.catalog.create_category(body).await?;
    Ok(HttpResponse::Created().json(c))
}

/// Rename, re-slug, reorder or move a category (`parent_id: null` moves it to the top).
/// Moving a category under itself or a descendant is refused (409 `category-cycle`).
#[utoipa::path(
    tag = "admin-catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = CategoryPatch,
    responses(
        (status = 200, body = Category), (status = 409, body = Problem)
    )
)]
#[patch("/admin/categories/{id}")]
pub async fn update_category(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageCatalog>,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<CategoryPatch>,
) -> ApiResult<web::Json<Category>> {
    Ok(web::Json(state.catalog.update_category(*id, body).await?))
}

/// Delete an empty category (no sub-categories, no products; 409 `category-not-empty` otherwise).
#[utoipa::path(
    tag = "admin-catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 409, body = Problem))
)]
#[delete("/admin/categories/{id}")]
pub async fn delete_category(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageCatalog>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state.catalog.delete_category(*id).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn with_version(mut res: HttpResponse, p: &Product) -> HttpResponse {
    if let Ok(v) = HeaderValue::from_str(&format!("\"v{}\"", p.version)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

/// The version an `If-Match` header asks for: `None` without the header, 412 when it is not
/// one of our version tags.
fn if_match(req: &HttpRequest) -> Result<Option<i32>, Problem> {
    let Some(v) = req.headers().get(header::IF_MATCH) else { return Ok(None) };
    let parsed = v
        .to_str()
        .ok()
        .and_then(|s| s.trim().strip_prefix("\"v"))
        .and_then(|s| s.strip_suffix('"'))
        .and_then(|s| s.parse::<i32>().ok());
    parsed.map(Some).ok_or_else(|| {
        Problem::new(
            actix_web::http::StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "The If-Match tag does not match",
        )
    })
}

/// Create a product with its variants (at least one). Opening stock is recorded in the ledger.
#[utoipa::path(
    tag = "admin-catalog",
    security(("bearer" = [])),
    request_body = NewProduct,
    responses(
        (status = 201, body = Product, headers(("ETag" = String))),
        (status = 409, description = "Slug or SKU taken", body = Problem)
    )
)]
#[post("/admin/products")]
pub async fn create_product(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageCatalog>,
    ValidJson(body): ValidJson<NewProduct>,
) -> ApiResult<HttpResponse> {
    let p = state.catalog.create_product(body, user.id()).await?;
    let res = HttpResponse::Created().insert_header(("location", format!("/api/v1/admin/products/{}", p.id))).json(&p);
    Ok(with_version(res, &p))
}

/// A product in any status, with stock counts. The `ETag` is its version, for `If-Match`.
#[utoipa::path(
    tag = "admin-catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Product, headers(("ETag" = String))))
)]
#[get("/admin/products/{id}")]
pub async fn get_product(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageCatalog>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let p = state.catalog.product(*id).await?;
    Ok(with_version(HttpResponse::Ok().json(&p), &p))
}

/// Change product fields. With `If-Match: "v<version>"` the change applies only to that version
/// (412 `precondition-failed` when someone changed it since).
#[utoipa::path(
    tag = "admin-catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "The ETag of the version being edited")),
    request_body = ProductPatch,
    responses(
        (status = 200, body = Product, headers(("ETag" = String))), (status = 409, body = Problem), (status = 412, body = Problem)
    )
)]
#[patch("/admin/products/{id}")]
pub async fn update_product(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageCatalog>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<ProductPatch>,
) -> ApiResult<HttpResponse> {
    let expected = if_match(&req)?;
    let p = state.catalog.update_product(*id, body, expected).await?;
    Ok(with_version(HttpResponse::Ok().json(&p), &p))
}

/// Delete a product and its variants.
#[utoipa::path(
    tag = "admin-catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204))
)]
#[delete("/admin/products/{id}")]
pub async fn delete_product(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageCatalog>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state.catalog.delete_product(*id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Add a variant to a product.
#[utoipa::path(
    tag = "admin-catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    request_body = NewVariant,
    responses(
        (status = 201, body = Variant), (status = 409, body = Problem)
    )
)]
#[post("/admin/products/{id}/variants")]
pub async fn add_variant(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageCatalog>,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<NewVariant>,
) -> ApiResult<HttpResponse> {
    let v = state.catalog.add_variant(*id, body, user.id()).await?;
    Ok(HttpResponse::Created().json(v))
}

/// Change a variant (price, SKU, options, activity). Stock changes go through `/inventory`.
#[utoipa::path(
    tag = "admin-catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = VariantPatch,
    responses(
        (status = 200, body = Variant), (status = 409, body = Problem)
    )
)]
#[patch("/admin/variants/{id}")]
pub async fn update_variant(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageCatalog>,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<VariantPatch>,
) -> ApiResult<web::Json<Variant>> {
    Ok(web::Json(state.catalog.update_variant(*id, body).await?))
}

/// Delete a variant (not a product's last one: 409 `last-variant`).
#[utoipa::path(
    tag = "admin-catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 409, body = Problem))
)]
#[delete("/admin/variants/{id}")]
pub async fn delete_variant(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageCatalog>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state.catalog.delete_variant(*id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restock or adjust a variant's stock. The change and its ledger row are one transaction;
/// stock never goes below zero (409 `insufficient-stock`).
#[utoipa::path(
    tag = "admin-catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Variant id")),
    request_body = StockAdjustment,
    responses(
        (status = 201, body = LedgerEntry), (status = 409, body = Problem)
    )
)]
#[post("/admin/variants/{id}/inventory")]
pub async fn adjust_stock(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageCatalog>,
    id: web::Path<Uuid>,
    ValidJson(body): ValidJson<StockAdjustment>,
) -> ApiResult<HttpResponse> {
    let entry = state.catalog.adjust_stock(*id, body, user.id()).await?;
    Ok(HttpResponse::Created().json(entry))
}

#[derive(Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerParams {
    /// `next_cursor` of the previous page.
    #[garde(inner(length(max = 512)))]
    #[param(max_length = 512)]
    pub cursor: Option<String>,
    /// 1 to 500 (default 100).
    #[garde(inner(range(min = 1, max = 500)))]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A variant's inventory ledger, oldest first.
#[utoipa::path(
    tag = "admin-catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Variant id"), LedgerParams),
    responses((status = 200, body = Page<LedgerEntry>))
)]
#[get("/admin/variants/{id}/inventory")]
pub async fn ledger(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageCatalog>,
    id: web::Path<Uuid>,
    ValidQuery(p): ValidQuery<LedgerParams>,
) -> ApiResult<web::Json<Page<LedgerEntry>>> {
    let page = page_request_or(p.cursor.as_deref(), p.limit, 100)?;
    Ok(web::Json(state.catalog.ledger(*id, &page).await?))
}
