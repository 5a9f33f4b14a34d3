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

/// The cart, priced now. Lines that cannot be bought as they are carry an `issue`.
#[utoipa::path(
    tag = "cart",
    security((), ("bearer" = [])),
    params(CartParams, ("X-Cart-Token" = Option<String>, Header, description = "Guest cart token", max_length = 128)),
    responses((status = 200, body = CartView))
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

/// Add a variant (quantities add up, at most 99 per line). Without a bearer token or cart token
/// this creates a guest cart and returns its token (`cart_token` and `X-Cart-Token`).
#[utoipa::path(
    tag = "cart",
    security((), ("bearer" = [])),
    params(("X-Cart-Token" = Option<String>, Header, description = "Guest cart token", max_length = 128)),
    request_body = AddLine,
    responses(
        (status = 200, body = CartView),
        (status = 409, description = "Different currency than the cart", body = Problem),
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

/// Set a line's quantity (1 to 99).
#[utoipa::path(
    tag = "cart",
    security((), ("bearer" = [])),
    params(("variant_id" = Uuid, Path), ("X-Cart-Token" = Option<String>, Header, description = "Guest cart token", max_length = 128)),
    request_body = SetQuantity,
    responses((status = 200, body = CartView))
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

/// Remove a line.
#[utoipa::path(
    tag = "cart",
    security((), ("bearer" = [])),
    params(("variant_id" = Uuid, Path), ("X-Cart-Token" = Option<String>, Header, description = "Guest cart token", max_length = 128)),
    responses((status = 200, body = CartView))
)]
#[delete("/cart/lines/{variant_id}")]
pub async fn remove_line(
    state: web::Data<AppState>,
    shopper: ShopperId,
    variant: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(cart_response(state.carts.remove(&shopper.0, *variant).await?))
}

/// Empty the cart.
#[utoipa::path(
    tag = "cart",
    security((), ("bearer" = [])),
    params(("X-Cart-Token" = Option<String>, Header, description = "Guest cart token", max_length = 128)),
    responses((status = 204))
)]
#[delete("/cart")]
pub async fn clear_cart(state: web::Data<AppState>, shopper: ShopperId) -> ApiResult<HttpResponse> {
    state.carts.clear(&shopper.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    #[garde(length(min = 1, max = 128))]
    #[schema(min_length = 1, max_length = 128)]
    pub cart_token: String,
}

/// Move a guest cart into the signed-in user's cart (login does this too when given
/// `cart_token`).
#[utoipa::path(
    tag = "cart",
    security(("bearer" = [])),
    request_body = MergeRequest,
    responses((status = 200, body = CartView), (status = 409, body = Problem))
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
