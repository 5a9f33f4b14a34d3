//! `/api/v1/cart`: the signed-in user's cart, or a guest cart identified by `X-Cart-Token`.

use actix_web::dev::Payload;
use actix_web::http::header::HeaderValue;
use actix_web::{FromRequest, HttpRequest, HttpResponse, delete, get, post, put, web};
use cart::{AddLine, CartView, SetQuantity, Shopper};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{AuthUser, authenticate};
use crate::extract::{ValidJson, ValidQuery};
use crate::openapi::PromotionProblem;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

pub const CART_TOKEN: &str = "x-cart-token";

/// The shopper behind a request: the bearer token's user when one is sent (an invalid token is
/// a 401, never a silent guest), otherwise a guest with the `X-Cart-Token` if any.
pub struct ShopperId(pub Shopper);

impl FromRequest for ShopperId {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if req.headers().contains_key(actix_web::http::header::AUTHORIZATION) {
            let user = authenticate(req);
            return Box::pin(async move { Ok(ShopperId(Shopper::User(user.await?.id()))) });
        }
        let token = req
            .headers()
            .get(CART_TOKEN)
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.is_empty() && t.len() <= 128)
            .map(str::to_owned);
        Box::pin(std::future::ready(Ok(ShopperId(Shopper::Guest(token)))))
    }
}

fn cart_response(view: CartView) -> HttpResponse {
    let token = view.cart_token.clone();
    let mut res = HttpResponse::Ok().json(view);
    if let Some(t) = token.and_then(|t| HeaderValue::from_str(&t).ok()) {
        res.headers_mut().insert(actix_web::http::header::HeaderName::from_static(CART_TOKEN), t);
    }
    res.headers_mut().insert(actix_web::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[derive(Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CartParams {
    /// Price shipping, tax and total with this shipping method (needs `country`).
    #[garde(skip)]
    pub shipping_method: Option<Uuid>,
    /// Destination country (ISO 3166-1 alpha-2) for shipping and tax.
    #[garde(inner(length(min = 2, max = 2)))]
    #[param(min_length = 2, max_length = 2)]
    pub country: Option<String>,
}

/// Get my cart
///
/// The caller's cart (the signed-in user's, or the guest cart of `X-Cart-Token`), priced now;
/// without a cart, an empty one. Lines that cannot be bought as they are carry an `issue` and
/// are kept. With `shipping_method` and `country` (both or neither) it also prices shipping, tax
/// and the total; a method that does not ship there is 400 naming `country`.
#[utoipa::path(
    tag = "cart",
    operation_id = "getMyCart",
    security((), ("bearer" = [])),
    params(CartParams, ("X-Cart-Token" = Option<String>, Header, description = "Guest cart token", max_length = 128)),
    responses((status = 200, description = "The cart, priced now", body = CartView))
)]
#[get("/cart")]
pub async fn get_cart(
    state: web::Data<AppState>,
    shopper: ShopperId,
    ValidQuery(p): ValidQuery<CartParams>,
) -> ApiResult<HttpResponse> {
    let shipping = match (p.shipping_method, p.country.as_deref()) {
        (Some(m), Some(c)) => Some((m, c)),
        (None, None) => None,
        (Some(_), None) => return Err(Problem::invalid_parameter("country", "required with shipping_method")),
        (None, Some(_)) => return Err(Problem::invalid_parameter("shipping_method", "required with country")),
    };
    Ok(cart_response(state.carts.view(&shopper.0, shipping).await?))
}

/// Add a line to my cart
///
/// Adds a quantity of a variant; adding a variant already in the cart adds up the quantities
/// (at most 99 per line). Without a bearer token or a known cart token this creates a guest
/// cart and returns its token, in `cart_token` and `X-Cart-Token`: send it back as
/// `X-Cart-Token`. A cart holds one currency (409 `currency-mismatch`) and at most 100 lines
/// (409 `cart-full`).
#[utoipa::path(
    tag = "cart",
    operation_id = "addMyCartLine",
    security((), ("bearer" = [])),
    params(("X-Cart-Token" = Option<String>, Header, description = "Guest cart token", max_length = 128)),
    request_body = AddLine,
    responses(
        (status = 200, description = "The cart with the line added", body = CartView,
            headers(("X-Cart-Token" = String, description = "Only when this created a guest cart: its token, to send back as `X-Cart-Token`"))),
        (status = 409, description = "Another currency than the cart's (`currency-mismatch`), or the cart is full (`cart-full`)", body = Problem),
        (status = 422, description = "Invalid quantity or unknown variant", body = Problem)
    )
)]
#[post("/cart/lines")]
pub async fn add_line(
    state: web::Data<AppState>,
    shopper: ShopperId,
    ValidJson(body): ValidJson<AddLine>,
) -> ApiResult<HttpResponse> {
    Ok(cart_response(state.carts.add(&shopper.0, body).await?))
}

/// Set the quantity of a line in my cart
///
/// Replaces the quantity of the cart's line for this variant (1 to 99). A variant not in the
/// cart, or no cart at all, is 404.
#[utoipa::path(
    tag = "cart",
    operation_id = "setMyCartLineQuantity",
    security((), ("bearer" = [])),
    params(
        ("variant_id" = Uuid, Path, description = "The line's variant id"),
        ("X-Cart-Token" = Option<String>, Header, description = "Guest cart token", max_length = 128)
    ),
    request_body = SetQuantity,
    responses((status = 200, description = "The cart with the new quantity", body = CartView))
)]
#[put("/cart/lines/{variant_id}")]
pub async fn set_quantity(
    state: web::Data<AppState>,
    shopper: ShopperId,
    variant: web::Path<Uuid>,
    ValidJson(body): ValidJson<SetQuantity>,
) -> ApiResult<HttpResponse> {
    Ok(cart_response(state.carts.set_quantity(&shopper.0, *variant, body).await?))
}

/// Remove a line from my cart
///
/// Removes the cart's line for this variant and answers the cart as it is then. Without a cart
/// it is 404.
#[utoipa::path(
    tag = "cart",
    operation_id = "removeMyCartLine",
    security((), ("bearer" = [])),
    params(
        ("variant_id" = Uuid, Path, description = "The line's variant id"),
        ("X-Cart-Token" = Option<String>, Header, description = "Guest cart token", max_length = 128)
    ),
    responses((status = 200, description = "The cart without the line", body = CartView))
)]
#[delete("/cart/lines/{variant_id}")]
pub async fn remove_line(
    state: web::Data<AppState>,
    shopper: ShopperId,
    variant: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(cart_response(state.carts.remove(&shopper.0, *variant).await?))
}

/// Empty my cart
///
/// Removes every line of the caller's cart. Idempotent: without a cart it succeeds too.
#[utoipa::path(
    tag = "cart",
    operation_id = "clearMyCart",
    security((), ("bearer" = [])),
    params(("X-Cart-Token" = Option<String>, Header, description = "Guest cart token", max_length = 128)),
    responses((status = 204, description = "The cart is empty"))
)]
#[delete("/cart")]
pub async fn clear_cart(state: web::Data<AppState>, shopper: ShopperId) -> ApiResult<HttpResponse> {
    state.carts.clear(&shopper.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The guest cart's token (its `X-Cart-Token`).
    #[garde(length(min = 1, max = 128))]
    #[schema(min_length = 1, max_length = 128)]
    pub cart_token: String,
}

/// Merge a guest cart into my cart
///
/// Moves the lines of the guest cart of `cart_token` into the signed-in user's cart (quantities
/// add up, at most 99 per line) and deletes the guest cart; an unknown token changes nothing.
/// All or nothing: a merge that would mix currencies (409 `currency-mismatch`) or pass 100
/// lines (409 `cart-full`) changes neither cart. Login does the same when given `cart_token`.
#[utoipa::path(
    tag = "cart",
    operation_id = "mergeGuestCart",
    security(("bearer" = [])),
    request_body = MergeRequest,
    responses(
        (status = 200, description = "The user's cart after the merge", body = CartView),
        (status = 409, description = "Two currencies (`currency-mismatch`) or too many lines (`cart-full`)", body = Problem)
    )
)]
#[post("/cart/merge")]
pub async fn merge(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<MergeRequest>,
) -> ApiResult<HttpResponse> {
    state.carts.merge_guest(user.id(), &body.cart_token).await?;
    Ok(cart_response(state.carts.view(&Shopper::User(user.id()), None).await?))
}

/// Apply a promotion code to my cart
///
/// Enters a promotion code (any case) on the caller's cart when it applies to the cart as it is
/// now; the answer is the cart with its discounts. Refused codes are not kept, and the problem
/// code says why: `promotion-unknown`, `promotion-not-yet-valid`, `promotion-expired`,
/// `promotion-not-applicable`, `promotion-not-combinable` (422) or `promotion-limit-reached`
/// (409), with the code in `promotion_code`. A cart holds at most 5 codes (409
/// `promotion-codes-full`); entering a held code again changes nothing. Without a cart it is
/// 404. Checkout decides again under its locks and refuses while a held code does not apply.
#[utoipa::path(
    tag = "cart",
    operation_id = "applyMyCartPromotionCode",
    security((), ("bearer" = [])),
    params(("X-Cart-Token" = Option<String>, Header, description = "Guest cart token", max_length = 128)),
    request_body = cart::ApplyCode,
    responses(
        (status = 200, description = "The cart with the code applied", body = CartView),
        (status = 404, description = "The caller has no cart yet (add a line first)", body = Problem),
        (status = 409, description = "The code's usage limit is reached (`promotion-limit-reached`), or the cart holds 5 codes (`promotion-codes-full`)", body = PromotionProblem),
        (status = 422, description = "The code does not apply (`promotion-unknown`, `promotion-not-yet-valid`, `promotion-expired`, `promotion-not-applicable`, `promotion-not-combinable`), or is malformed (`validation-failed`)", body = PromotionProblem)
    )
)]
#[post("/cart/promotions")]
pub async fn apply_code(
    state: web::Data<AppState>,
    shopper: ShopperId,
    ValidJson(body): ValidJson<cart::ApplyCode>,
) -> ApiResult<HttpResponse> {
    Ok(cart_response(state.carts.apply_code(&shopper.0, body).await?))
}

/// Remove a promotion code from my cart
///
/// Takes the code off the caller's cart and answers the cart as it is then. A code the cart
/// does not hold, or no cart, is 404.
#[utoipa::path(
    tag = "cart",
    operation_id = "removeMyCartPromotionCode",
    security((), ("bearer" = [])),
    params(
        ("code" = String, Path, description = "The code, any case", max_length = 64),
        ("X-Cart-Token" = Option<String>, Header, description = "Guest cart token", max_length = 128)
    ),
    responses((status = 200, description = "The cart without the code", body = CartView))
)]
#[delete("/cart/promotions/{code}")]
pub async fn remove_code(
    state: web::Data<AppState>,
    shopper: ShopperId,
    code: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(cart_response(state.carts.remove_code(&shopper.0, &code).await?))
}
