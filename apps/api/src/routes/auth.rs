//! `/api/v1/auth`: register, login, refresh, logout.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, post, web};
use auth::Registration;
use serde::{Deserialize, Serialize};
use users::User;
use utoipa::ToSchema;

use crate::auth::{AuthUser, ClientIp};
use crate::config::Profile;
use crate::extract::ValidJson;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

pub(crate) fn text(value: &str, _: &()) -> garde::Result {
    if value.chars().any(char::is_control) {
        Err(garde::Error::new("must not contain control characters"))
    } else if value.trim().is_empty() {
        Err(garde::Error::new("must not be blank"))
    } else {
        Ok(())
    }
}

#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Normalised to lower case; must be unique.
    #[garde(length(chars, min = 3, max = 254))]
    #[schema(example = "ada@example.com", min_length = 3, max_length = 254)]
    pub email: String,
    /// 10 to 128 characters, not one of the 30,000 most common passwords.
    #[garde(length(max = 1024))]
    #[schema(example = "correct horse battery staple", max_length = 1024)]
    pub password: String,
    #[garde(length(chars, min = 1, max = 100), custom(text))]
    #[schema(example = "Ada Lovelace", min_length = 1, max_length = 100)]
    pub name: String,
}

#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[garde(length(max = 254))]
    #[schema(max_length = 254)]
    pub email: String,
    #[garde(length(max = 1024))]
    #[schema(max_length = 1024)]
    pub password: String,
    /// A guest cart to merge into the user's cart.
    #[garde(inner(length(min = 1, max = 128)))]
    #[schema(min_length = 1, max_length = 128)]
    pub cart_token: Option<String>,
    /// Cookie mode for browser apps: the refresh token is set as an HttpOnly cookie
    /// (`shop_refresh`, path `/api/v1/auth`) instead of appearing in the answer, which carries a
    /// `csrf_token` for the cookie's refreshes instead.
    #[serde(default)]
    #[garde(skip)]
    pub refresh_cookie: bool,
}

#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token (bearer mode). Leave it out in cookie mode: the `shop_refresh` cookie
    /// is used, with the `X-CSRF-Token` header.
    #[garde(inner(length(min = 1, max = 128)))]
    #[schema(min_length = 1, max_length = 128)]
    pub refresh_token: Option<String>,
    /// With a `refresh_token` in the body: answer in cookie mode from now on.
    #[serde(default)]
    #[garde(skip)]
    pub refresh_cookie: bool,
}

/// An access token (JWT, short-lived) and a refresh token (opaque, single use).
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Always `Bearer`.
    pub token_type: &'static str,
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The refresh token (bearer mode); absent in cookie mode, where it is the `shop_refresh`
    /// cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Cookie mode only: send it as `X-CSRF-Token` with the next `POST /auth/refresh`. It is
    /// not a credential on its own (keep it in `sessionStorage`); it changes with every refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    /// Seconds until the refresh token expires (if not used before).
    pub refresh_expires_in: i64,
    pub user: User,
}

/// The cookie that holds the refresh token in cookie mode, and the header of its CSRF token.
pub const REFRESH_COOKIE: &str = "shop_refresh";
pub const CSRF_HEADER: &str = "x-csrf-token";
const COOKIE_PATH: &str = "/api/v1/auth";

/// Answers with a token pair: in the body (bearer mode), or with the refresh token as an
/// HttpOnly, SameSite=Strict cookie scoped to `/api/v1/auth` (Secure outside the dev profile)
/// and a CSRF token in its place (cookie mode).
fn token_answer(state: &AppState, pair: auth::TokenPair, cookie_mode: bool) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    let (refresh_token, csrf_token) = if cookie_mode {
        let mut cookie = refresh_cookie(state, pair.refresh_token.clone());
        cookie.set_max_age(actix_web::cookie::time::Duration::seconds(pair.refresh_expires_in));
        res.cookie(cookie);
        (None, Some(state.auth.csrf_token(&pair.refresh_token)))
    } else {
        (Some(pair.refresh_token), None)
    };
    res.json(TokenResponse {
        token_type: "Bearer",
        access_token: pair.access_token,
        expires_in: pair.access_expires_in,
        refresh_token,
        csrf_token,
        refresh_expires_in: pair.refresh_expires_in,
        user: pair.user,
    })
}

/// The refresh cookie with `value`: HttpOnly, SameSite=Strict, scoped to `/api/v1/auth`, Secure
/// outside the dev profile (the same attributes to set it and to expire it).
fn refresh_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build(REFRESH_COOKIE, value)
        .path(COOKIE_PATH)
        .http_only(true)
        .secure(state.config.profile != Profile::Dev)
        .same_site(SameSite::Strict)
        .finish()
}

/// Ends cookie mode in the browser: the refresh cookie, expired.
fn clear_refresh_cookie(state: &AppState, res: &mut HttpResponse) {
    let mut cookie = refresh_cookie(state, String::new());
    cookie.make_removal();
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Create a customer account
///
/// Registers a customer with email, password and name, and mails a link to verify the address.
/// Passwords follow the policy (10 to 128 characters, not a common one); an address already
/// registered is 409 `email-taken`. Registrations are limited per client address.
#[utoipa::path(
    tag = "auth",
    operation_id = "registerAccount",
    security(()),
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = User,
            headers(("Location" = String, description = "The new account's profile, `/api/v1/me`"))),
        (status = 409, description = "Email already registered (`email-taken`)", body = Problem),
        (status = 422, description = "Invalid field, weak or common password", body = Problem),
        (status = 429, description = "Too many registrations from this address", body = Problem),
    )
)]
#[post("/auth/register")]
pub async fn register(
    state: web::Data<AppState>,
    ip: ClientIp,
    ValidJson(body): ValidJson<RegisterRequest>,
) -> ApiResult<HttpResponse> {
    let user = state
        .auth
        .register(Registration { email: body.email, password: body.password, name: body.name }, &ip.0)
        .await?;
    Ok(HttpResponse::Created().insert_header(("location", "/api/v1/me")).json(user))
}

/// Sign in with email and password
///
/// Exchanges email and password for an access token (JWT, short-lived) and a refresh token
/// (single use). With `refresh_cookie: true` the refresh token is set as an HttpOnly cookie and
/// the answer carries a `csrf_token` instead (cookie mode, for browser apps). A `cart_token`
/// merges that guest cart into the account's cart. Failed attempts are throttled per client
/// and per account (429).
#[utoipa::path(
    tag = "auth",
    operation_id = "login",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse,
            headers(("Set-Cookie" = String, description = "Cookie mode only: `shop_refresh=<token>; Path=/api/v1/auth; HttpOnly; SameSite=Strict` (and `Secure` outside dev)"))),
        (status = 401, description = "Wrong email or password (`invalid-credentials`)", body = Problem),
        (status = 403, description = "Account disabled", body = Problem),
        (status = 429, description = "Too many attempts", body = Problem),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    ip: ClientIp,
    ValidJson(body): ValidJson<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let device = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let pair = state.auth.login(&body.email, &body.password, &ip.0, device).await?;
    if let Some(token) = &body.cart_token {
        // Logging in never fails over the cart; a cart that cannot merge stays a guest cart.
        if let Err(e) = state.carts.merge_guest(pair.user.id, token).await {
            tracing::warn!(error = %e, "guest cart not merged at login");
        }
    }
    Ok(token_answer(&state, pair, body.refresh_cookie))
}

/// Refresh the session
///
/// Spends a refresh token for a new pair in the same session. Bearer mode: the token in the
/// body. Cookie mode: no token in the body; the `shop_refresh` cookie is used and the
/// `X-CSRF-Token` header must carry the `csrf_token` of the last answer (403
/// `csrf-token-invalid` otherwise). Presenting a spent token revokes the whole session (401
/// `refresh-token-reused`).
#[utoipa::path(
    tag = "auth",
    operation_id = "refreshSession",
    security(()),
    params(
        ("X-CSRF-Token" = Option<String>, Header, max_length = 128,
            description = "Cookie mode: the `csrf_token` of the last login or refresh answer"),
        ("shop_refresh" = Option<String>, Cookie, max_length = 128,
            description = "Cookie mode: the refresh token, set by login"),
    ),
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse,
            headers(("Set-Cookie" = String, description = "Cookie mode only: the next refresh token"))),
        (status = 401, description = "Invalid, expired, revoked or reused token", body = Problem),
        (status = 403, description = "Account disabled, or (cookie mode) a missing or wrong CSRF token", body = Problem),
    )
)]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    ValidJson(body): ValidJson<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let (pair, cookie_mode) = match (&body.refresh_token, req.cookie(REFRESH_COOKIE)) {
        (Some(token), _) => (state.auth.refresh(token).await?, body.refresh_cookie),
        (None, Some(cookie)) => {
            let csrf = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            (state.auth.refresh_from_cookie(cookie.value(), csrf).await?, true)
        }
        (None, None) => return Err(auth::AuthError::InvalidRefreshToken.into()),
    };
    Ok(token_answer(&state, pair, cookie_mode))
}

/// Sign out of this session
///
/// Ends the session of the access token: its refresh tokens stop working and its access tokens
/// are refused at once. Clears the refresh cookie of cookie mode.
#[utoipa::path(
    tag = "auth",
    operation_id = "logout",
    security(("bearer" = [])),
    responses((status = 204, description = "Signed out",
        headers(("Set-Cookie" = String, description = "The refresh cookie, expired"))))
)]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    state.auth.logout(&user.0).await?;
    let mut res = HttpResponse::NoContent().finish();
    clear_refresh_cookie(&state, &mut res);
    Ok(res)
}

/// Sign out everywhere
///
/// Ends every session of the caller, on every device. Clears the refresh cookie of cookie mode.
#[utoipa::path(
    tag = "auth",
    operation_id = "logoutEverywhere",
    security(("bearer" = [])),
    responses((status = 204, description = "Every session ended",
        headers(("Set-Cookie" = String, description = "The refresh cookie, expired"))))
)]
#[post("/auth/logout-all")]
pub async fn logout_all(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    state.auth.logout_all(&user.0).await?;
    let mut res = HttpResponse::NoContent().finish();
    clear_refresh_cookie(&state, &mut res);
    Ok(res)
}
