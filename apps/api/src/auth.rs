//! Authentication at the HTTP edge: the `AuthUser` extractor (bearer access token), permission
//! checks, and the client IP as seen through trusted proxies.

use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
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
/// `AuthService::authenticate`), with the user's current role.
pub fn authenticate(req: &HttpRequest) -> LocalBoxFuture<'static, Result<AuthUser, Problem>> {
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
    markers!(ManageUsers, ManageCatalog, ManageOrders, ModerateReviews, OperateSystem);
}

/// The caller, holding permission `P`. Extracting it answers 401 without a valid access token and
/// 403 without the permission; put it before the body and path extractors, so the permission is
/// decided before the request body is even read.
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
