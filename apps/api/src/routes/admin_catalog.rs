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

/// Create a category
///
/// Adds a category at the top level or under `parent_id` (an unknown parent is 422 naming
/// `parent_id`). Slugs are unique across the whole tree: a slug in use is 409 `slug-taken`.
#[utoipa::path(
    tag = "admin-catalog",
    operation_id = "adminCreateCategory",
    security(("bearer" = [])),
    request_body = NewCategory,
    responses(
        (status = 201, description = "Category created", body = Category,
            headers(("Location" = String, description = "The new category, `/api/v1/admin/categories/{id}`"))),
        (status = 409, description = "Slug taken (`slug-taken`)", body = Problem)
    )
)]
#[post("/admin/categories")]
pub async fn create_category(
    state: web::Data<AppState>,
    _: Authorized<perm::ManageCatalog>,
    ValidJson(body): ValidJson<NewCategory>,
) -> ApiResult<HttpResponse> {
    let c = state.catalog.create_category(body).await?;
    Ok(HttpResponse::Created().insert_header((header::LOCATION, format!("/api/v1/admin/categories/{}", c.id))).json(c))
}

/// Update a category
///
/// Renames, re-slugs, reorders or moves a category: only the fields sent change, and
/// `parent_id: null` moves it to the top level. Moving a category under itself or one of its
/// descendants is 409 `category-cycle`; a slug in use is 409 `slug-taken`.
#[utoipa::path(
    tag = "admin-catalog",
    operation_id = "adminUpdateCategory",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Category id")),
    request_body = CategoryPatch,
    responses(
        (status = 200, description = "The category as changed", body = Category),
        (status = 409, description = "A cycle (`category-cycle`) or a slug taken (`slug-taken`)", body = Problem)
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

/// Delete a category
///
/// Deletes an empty category. A category that still has sub-categories or products is 409
/// `category-not-empty`: move or delete them first.
#[utoipa::path(
    tag = "admin-catalog",
    operation_id = "adminDeleteCategory",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Category id")),
    responses(
        (status = 204, description = "Category deleted"),
        (status = 409, description = "Not empty (`category-not-empty`)", body = Problem)
    )
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

/// Create a product
///
/// Creates a product with its variants (at least one; `draft` unless `status` says). Each
/// variant's opening stock is recorded in the inventory ledger as `initial`. A slug or SKU in
/// use is 409 `slug-taken` or `sku-taken`; an unknown `category_id` is 422.
#[utoipa::path(
    tag = "admin-catalog",
    operation_id = "adminCreateProduct",
    security(("bearer" = [])),
    request_body = NewProduct,
    responses(
        (status = 201, description = "Product created", body = Product, headers(
            ("Location" = String, description = "The new product, `/api/v1/admin/products/{id}`"),
            ("ETag" = String, description = "The product's version, `\"v<version>\"`, for `If-Match`")
        )),
        (status = 409, description = "Slug or SKU taken (`slug-taken`, `sku-taken`)", body = Problem)
    )
)]
#[post("/admin/products")]
pub async fn create_product(
    state: web::Data<AppState>,
    user: Authorized<perm::ManageCatalog>,
    ValidJson(body): ValidJson<NewProduct>,
) -> ApiResult<HttpResponse> {
    let p = state.catalog.create_product(body, user.id()).await?;
    let res =
        HttpResponse::Created().insert_header((header::LOCATION, format!("/api/v1/admin/products/{}", p.id))).json(&p);
    Ok(with_version(res, &p))
}

/// Get a product (any status)
///
/// One product in any status (draft, active, archived) with its variants and their stock
/// counts. The `ETag` is the product's version: send it as `If-Match` when updating it.
#[utoipa::path(
    tag = "admin-catalog",
    operation_id = "adminGetProduct",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    responses((status = 200, description = "The product", body = Product,
        headers(("ETag" = String, description = "The product's version, `\"v<version>\"`, for `If-Match`"))))
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

/// Update a product
///
/// Changes the fields sent. With `If-Match: "v<version>"` the change applies only to that
/// version: 412 `precondition-failed` when someone changed the product since, or when the tag
/// is not one of ours. A slug in use is 409 `slug-taken`.
#[utoipa::path(
    tag = "admin-catalog",
    operation_id = "adminUpdateProduct",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Product id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` of the version being edited (`\"v<version>\"`)")
    ),
    request_body = ProductPatch,
    responses(
        (status = 200, description = "The product as changed", body = Product,
            headers(("ETag" = String, description = "The new version, `\"v<version>\"`"))),
        (status = 409, description = "Slug taken (`slug-taken`)", body = Problem),
        (status = 412, description = "Changed since the `If-Match` version, or not a tag of ours (`precondition-failed`)", body = Problem)
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

/// Delete a product
///
/// Deletes a product with its variants, their stock ledgers and the product's reviews; carts
/// lose its lines. Past orders keep their lines as bought (name, SKU, options, price).
#[utoipa::path(
    tag = "admin-catalog",
    operation_id = "adminDeleteProduct",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    responses((status = 204, description = "Product deleted"))
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

/// Add a variant to a product
///
/// Adds a variant priced in the product's currency; its opening stock is recorded in the
/// inventory ledger as `initial`. A SKU in use is 409 `sku-taken`.
#[utoipa::path(
    tag = "admin-catalog",
    operation_id = "adminCreateVariant",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    request_body = NewVariant,
    responses(
        (status = 201, description = "Variant created", body = Variant,
            headers(("Location" = String, description = "The new variant, `/api/v1/admin/variants/{id}`"))),
        (status = 409, description = "SKU taken (`sku-taken`)", body = Problem)
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
    Ok(HttpResponse::Created().insert_header((header::LOCATION, format!("/api/v1/admin/variants/{}", v.id))).json(v))
}

/// Update a variant
///
/// Changes a variant's SKU, options, price, compare-at price, activity or position (the fields
/// sent). Stock is not changed here: `POST /api/v1/admin/variants/{id}/inventory` records every
/// stock change in the ledger. A SKU in use is 409 `sku-taken`.
#[utoipa::path(
    tag = "admin-catalog",
    operation_id = "adminUpdateVariant",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Variant id")),
    request_body = VariantPatch,
    responses(
        (status = 200, description = "The variant as changed", body = Variant),
        (status = 409, description = "SKU taken (`sku-taken`)", body = Problem)
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

/// Delete a variant
///
/// Deletes a variant. A product keeps at least one: deleting its last variant is 409
/// `last-variant` (delete the product instead).
#[utoipa::path(
    tag = "admin-catalog",
    operation_id = "adminDeleteVariant",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Variant id")),
    responses(
        (status = 204, description = "Variant deleted"),
        (status = 409, description = "The product's last variant (`last-variant`)", body = Problem)
    )
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

/// Adjust a variant's stock
///
/// Restocks or corrects a variant's stock by a signed `delta` with reason `restock` or
/// `adjustment` (sales, cancellations and opening stock are recorded by the shop itself). The
/// change and its ledger entry are one transaction; stock never goes below zero (409
/// `insufficient-stock`, saying how many are available).
#[utoipa::path(
    tag = "admin-catalog",
    operation_id = "adminAdjustStock",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Variant id")),
    request_body = StockAdjustment,
    responses(
        (status = 201, description = "Stock changed; the ledger entry recording it", body = LedgerEntry,
            headers(("Location" = String, description = "The variant's ledger, `/api/v1/admin/variants/{id}/inventory`, which lists the entry"))),
        (status = 409, description = "Stock would go below zero (`insufficient-stock`)", body = Problem)
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
    let location = format!("/api/v1/admin/variants/{}/inventory", entry.variant_id);
    Ok(HttpResponse::Created().insert_header((header::LOCATION, location)).json(entry))
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

/// List a variant's stock ledger
///
/// Every stock change of a variant, oldest first: opening stock, sales, cancellations, restocks
/// and adjustments, each with the stock after it, who or which order made it, and the note.
/// Keyset-paginated, 100 entries per page unless `limit` says (at most 500).
#[utoipa::path(
    tag = "admin-catalog",
    operation_id = "adminListLedgerEntries",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Variant id"), LedgerParams),
    responses((status = 200, description = "A page of ledger entries", body = Page<LedgerEntry>))
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
