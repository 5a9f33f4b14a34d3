//! `/api/v1/auth`: register, login, refresh, logout.

use actix_web::{HttpResponse, post, web};
use auth::Registration;
use serde::{Deserialize, Serialize};
use users::User;
use utoipa::ToSchema;

use crate::auth::{AuthUser, ClientIp};
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
}

#[derive(Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[garde(length(min = 1, max = 128))]
    #[schema(min_length = 1, max_length = 128)]
    pub refresh_token: String,
}

/// An access token (JWT, short-lived) and a refresh token (opaque, single use).
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Always `Bearer`.
    pub token_type: &'static str,
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_token: String,
    /// Seconds until the refresh token expires (if not used before).
    pub refresh_expires_in: i64,
    pub user: User,
}

impl From<auth::TokenPair> for TokenResponse {
    fn from(p: auth::TokenPair) -> Self {
        TokenResponse {
            token_type: "Bearer",
            access_token: p.access_token,
            expires_in: p.access_expires_in,
            refresh_token: p.refresh_token,
            refresh_expires_in: p.refresh_expires_in,
            user: p.user,
        }
    }
}

fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut()
        .insert(actix_web::http::header::CACHE_CONTROL, actix_web::http::header::HeaderValue::from_static("no-store"));
    res
}

/// Create a customer account.
#[utoipa::path(
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = User),
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

/// Exchange email and password for a token pair.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
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
    let device = req.headers().get(actix_web::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
    let pair = state.auth.login(&body.email, &body.password, &ip.0, device).await?;
    if let Some(token) = &body.cart_token {
        // Logging in never fails over the cart; a cart that cannot merge stays a guest cart.
        if let Err(e) = state.carts.merge_guest(pair.user.id, token).await {
            tracing::warn!(error = %e, "guest cart not merged at login");
        }
    }
    Ok(no_store(HttpResponse::Ok().json(TokenResponse::from(pair))))
}

/// Spend a refresh token for a new pair. Presenting a spent token revokes its whole session.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Invalid, expired, revoked or reused token", body = Problem),
        (status = 403, description = "Account disabled", body = Problem),
    )
)]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let pair = state.auth.refresh(&body.refresh_token).await?;
    Ok(no_store(HttpResponse::Ok().json(TokenResponse::from(pair))))
}

/// End the current session (its refresh tokens stop working).
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses((status = 204)))]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    state.auth.logout(&user.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// End every session of the caller.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses((status = 204)))]
#[post("/auth/logout-all")]
pub async fn logout_all(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    state.auth.logout_all(&user.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
