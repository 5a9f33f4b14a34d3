//! Authentication at the HTTP edge: the `AuthUser` extractor (bearer access token), permission
//! checks, and the client IP as seen through trusted proxies.

use std::net::IpAddr;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use auth::{AuthError, Principal, TokenError};
use futures_util::future::LocalBoxFuture;
use users::Permission;

use crate::problem::Problem;
use crate::state::AppState;

/// The authenticated caller. Extracting it answers 401 (with `WWW-Authenticate: Bearer`) when the
/// request carries no valid access token.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

impl AuthUser {
    /// 403 unless the caller's role grants `p`.
    pub fn require(&self, p: Permission) -> Result<(), Problem> {
        if self.0.role.has(p) { Ok(()) } else { Err(Problem::forbidden().detail("your role does not allow this")) }
    }

    pub fn id(&self) -> uuid::Uuid {
        self.0.user_id
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Authenticates the request: a genuine access token whose session is live (see
/// `AuthService::authenticate`), with the user's current role. A request the [`admin_gate`]
/// already admitted carries its caller, which is taken as it is (one session check per request).
pub fn authenticate(req: &HttpRequest) -> LocalBoxFuture<'static, Result<AuthUser, Problem>> {
    if let Some(user) = req.extensions().get::<AuthUser>().cloned() {
        return Box::pin(std::future::ready(Ok(user)));
    }
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let token = bearer(req).map(str::to_owned);
    Box::pin(async move {
        let state = state.ok_or_else(Problem::internal)?;
        let token =
            token.ok_or_else(|| Problem::unauthorized("send an access token as `Authorization: Bearer <token>`"))?;
        match state.auth.authenticate(&token).await {
            Ok(p) => Ok(AuthUser(p)),
            Err(AuthError::Token(TokenError::Expired)) => Err(Problem::new(
                actix_web::http::StatusCode::UNAUTHORIZED,
                "token-expired",
                "The access token has expired",
            )
            .detail("refresh the access token")
            .header(
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"shop\", error=\"invalid_token\", error_description=\"expired\"",
            )),
            Err(AuthError::Token(_)) => Err(Problem::new(
                actix_web::http::StatusCode::UNAUTHORIZED,
                "invalid-token",
                "The access token is invalid",
            )
            .header(header::WWW_AUTHENTICATE, "Bearer realm=\"shop\", error=\"invalid_token\"")),
            Err(e) => Err(e.into()),
        }
    })
}

impl FromRequest for AuthUser {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        authenticate(req)
    }
}

/// The client's IP: the TCP peer, or, when the peer is a trusted proxy, the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(req: &HttpRequest, trusted: &[IpAddr]) -> String {
    let peer = req.peer_addr().map(|a| a.ip());
    let Some(peer) = peer else {
        return "unknown".into();
    };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded.into_iter().rev().find(|ip| !trusted.contains(ip)).unwrap_or(peer).to_string()
}

/// A permission as a type, so a handler can demand it in its signature: [`Authorized`].
pub trait Needs {
    const PERMISSION: Permission;
}

/// Marker types of the permissions, for [`Authorized`].
pub mod perm {
    use super::{Needs, Permission};

    macro_rules! markers {
        ($($name:ident),*) => {$(
            pub struct $name;
            impl Needs for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )*};
    }
    markers!(ManageUsers, ManageCatalog, ManageOrders, ModerateReviews, ManagePromotions, OperateSystem);
}

/// The caller, holding permission `P`. Extracting it answers 401 without a valid access token and
/// 403 without the permission. On admin routes the [`admin_gate`] has decided both before any
/// extractor runs (extractors of one handler run concurrently, so an extractor alone cannot
/// order itself before the body's); this check repeats the handler's own permission.
pub struct Authorized<P>(pub AuthUser, std::marker::PhantomData<P>);

impl<P> std::ops::Deref for Authorized<P> {
    type Target = AuthUser;
    fn deref(&self) -> &AuthUser {
        &self.0
    }
}

impl<P: Needs> FromRequest for Authorized<P> {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = authenticate(req);
        Box::pin(async move {
            let user = user.await?;
            user.require(P::PERMISSION)?;
            Ok(Authorized(user, std::marker::PhantomData))
        })
    }
}

/// The permission a route under `/api/v1/admin/` needs, by its first segment after `admin/`;
/// `None` for every other path. An area this table does not know needs `OperateSystem`, the
/// permission only admins hold: a new admin area is closed until it is added here (and to the
/// security suite's matrix, which checks the two agree).
pub fn admin_permission(path: &str) -> Option<Permission> {
    let rest = path.strip_prefix("/api/v1/admin")?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None; // `/api/v1/administrators` is not an admin route
    }
    let area = rest.trim_start_matches('/').split('/').next().unwrap_or("");
    Some(match area {
        "users" => Permission::ManageUsers,
        "categories" | "products" | "variants" => Permission::ManageCatalog,
        "orders" | "returns" | "shipping-methods" => Permission::ManageOrders,
        "reviews" => Permission::ModerateReviews,
        "promotions" | "customer-groups" => Permission::ManagePromotions,
        _ => Permission::OperateSystem,
    })
}

/// Decides authentication and permission for admin routes before routing, path or body
/// extraction: a caller without the permission gets 401/403 whatever the body, the path id or the
/// state of the session cache. The admitted caller travels to the handler in the request's
/// extensions; handlers still name their permission with [`Authorized`], which checks it again.
pub async fn admin_gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // The path as the router sees it (percent-decoded where that is unambiguous), so an encoded
    // `/api/v1/%61dmin/...` is gated like the plain one.
    let Some(permission) = admin_permission(req.match_info().as_str()) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let admitted = authenticate(req.request()).await.and_then(|user| user.require(permission).map(|()| user));
    match admitted {
        Ok(user) => {
            req.extensions_mut().insert(user);
            next.call(req).await.map(ServiceResponse::map_into_boxed_body)
        }
        Err(problem) => Ok(req.into_response(actix_web::ResponseError::error_response(&problem))),
    }
}

/// Extractor form of [`client_ip`].
pub struct ClientIp(pub String);

impl FromRequest for ClientIp {
    type Error = Problem;
    type Future = std::future::Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trusted =
            req.app_data::<web::Data<AppState>>().map(|s| s.config.server.trusted_proxies.clone()).unwrap_or_default();
        std::future::ready(Ok(ClientIp(client_ip(req, &trusted))))
    }
}
