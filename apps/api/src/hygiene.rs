//! HTTP hygiene middleware: per-route-group rate limits (per client IP and per user), security
//! headers, request timeouts. CORS is actix-cors, configured from `server.cors_origins`.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use primitives::{Decision, Quota};

use crate::config::Profile;
use crate::problem::Problem;
use crate::state::AppState;

/// Which limits apply to a path; `None` for operational endpoints.
fn groups(path: &str, cfg: &crate::config::RateLimitConfig) -> Option<(&'static str, Quota, Quota)> {
    if !path.starts_with("/api/") {
        return None;
    }
    if path.starts_with("/api/v1/auth/") {
        Some(("auth", cfg.auth_per_ip, cfg.default_per_user))
    } else if path == "/api/v1/checkout" {
        Some(("checkout", cfg.default_per_ip, cfg.checkout_per_user))
    } else {
        Some(("default", cfg.default_per_ip, cfg.default_per_user))
    }
}

fn rate_headers(res: &mut actix_web::HttpResponse, d: &Decision) {
    let h = res.headers_mut();
    let set = |h: &mut actix_web::http::header::HeaderMap, name: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set(h, "ratelimit-limit", d.limit.to_string());
    set(h, "ratelimit-remaining", d.remaining.to_string());
    set(h, "ratelimit-reset", d.reset_after.as_millis().div_ceil(1000).to_string());
}

/// GCRA per client IP and, for signed-in callers, per user; the tighter decision wins. Redis
/// keeps the counters shared between instances; while it is down each instance counts alone.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let cfg = &state.config.rate_limit;
    let Some((group, per_ip, per_user)) = groups(req.path(), cfg).filter(|_| cfg.enabled) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let ip = crate::auth::client_ip(req.request(), &state.config.server.trusted_proxies);
    let mut decision = state.limiter.check(&format!("rl:{group}:ip:{ip}"), per_ip).await;
    let user = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .and_then(|t| state.auth.verify_access(t.trim()).ok());
    if let Some(p) = user {
        let d = state.limiter.check(&format!("rl:{group}:user:{}", p.user_id), per_user).await;
        if !d.allowed || (decision.allowed && d.remaining < decision.remaining) {
            decision = d;
        }
    }
    if !decision.allowed {
        let retry = decision.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        let mut res = Problem::too_many_requests(retry).error_response();
        rate_headers(&mut res, &decision);
        return Ok(req.into_response(res));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    let (http_req, mut http_res) = res.into_parts();
    rate_headers(&mut http_res, &decision);
    res = ServiceResponse::new(http_req, http_res);
    Ok(res)
}

/// Answers 503 `timeout` when the handler runs longer than `server.request_timeout_ms`; the
/// handler's future is dropped, so an open transaction rolls back.
pub async fn timeout(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map(|s| Duration::from_millis(s.config.server.request_timeout_ms))
        .unwrap_or(Duration::from_secs(30));
    // No clone of the request may be held here: routing needs it unshared. On timeout the error
    // travels out and actix renders it (as problem+json).
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(res) => res.map(ServiceResponse::map_into_boxed_body),
        Err(_) => {
            tracing::warn!(timeout_ms = limit.as_millis() as u64, "request timed out");
            Err(Problem::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", "The request took too long")
                .header(header::RETRY_AFTER, "1")
                .into())
        }
    }
}

/// The security headers every response carries; the envelope sets them on every response it
/// sends and on errors rendered outside it (see `middleware::envelope`). The interactive docs page
/// runs its own scripts and styles (served by this binary), so it gets a policy that allows those;
/// every other response is JSON and may load nothing.
#[derive(Debug, Clone, Copy)]
pub struct SecurityHeaders {
    pub docs: bool,
    pub production: bool,
}

impl SecurityHeaders {
    pub fn for_request(req: &ServiceRequest) -> Self {
        let production = req.app_data::<web::Data<AppState>>().is_some_and(|s| s.config.profile == Profile::Production);
        let docs = req.path() == "/docs" || req.path().starts_with("/docs/");
        SecurityHeaders { docs, production }
    }

    pub fn apply(self, h: &mut header::HeaderMap) {
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        h.insert(HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-site"));
        let csp = if self.docs {
            // The UI is served from here (`docs_ui`): it loads nothing from elsewhere. Inline
            // styles only (the UI sets style attributes); no inline or remote script.
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
        } else {
            "default-src 'none'; frame-ancestors 'none'"
        };
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
        if self.production {
            h.insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=63072000; includeSubDomains"),
            );
        }
    }
}

/// CORS from the configured allow-list (no origins: no cross-origin access). An entry ending in
/// `:*` (`http://localhost:*`) allows that scheme and host on any port, as the dev profile does
/// for local frontend dev servers.
pub fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut c = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-cart-token"),
            HeaderName::from_static("x-csrf-token"),
            HeaderName::from_static("x-request-id"),
        ])
        // Cookie mode's refresh cookie crosses origins only to the listed ones.
        .supports_credentials()
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            HeaderName::from_static("x-cart-token"),
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
        ])
        .max_age(600);
    let (any_port, exact): (Vec<&String>, Vec<&String>) = origins.iter().partition(|o| o.ends_with(":*"));
    for o in exact {
        c = c.allowed_origin(o);
    }
    let hosts: Vec<String> = any_port.into_iter().map(|o| o.trim_end_matches('*').to_owned()).collect();
    if !hosts.is_empty() {
        c = c
            .allowed_origin_fn(move |origin, _| origin.to_str().is_ok_and(|o| hosts.iter().any(|h| on_any_port(h, o))));
    }
    c
}

/// `origin` is `host` (`http://localhost:`, with the colon) followed by a port number.
fn on_any_port(host: &str, origin: &str) -> bool {
    origin.strip_prefix(host).is_some_and(|port| {
        (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
    })
}

/// The problem for a request the CORS layer refused (actix-cors answers a bare 400): says what
/// was refused and where the allow-list lives.
pub fn cors_refusal(req: &actix_web::HttpRequest, error: &actix_cors::CorsError) -> crate::problem::Problem {
    let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).unwrap_or("(none)");
    crate::problem::Problem::new(
        actix_web::http::StatusCode::BAD_REQUEST,
        "cors-refused",
        "Cross-origin request refused",
    )
    .detail(format!(
        "{error} (origin {origin}); allowed origins are set by server.cors_origins (SHOP_SERVER__CORS_ORIGINS)"
    ))
}

#[cfg(test)]
mod tests {
    use super::on_any_port;

    #[test]
    fn any_port_patterns_match_only_a_port() {
        assert!(on_any_port("http://localhost:", "http://localhost:5173"));
        assert!(on_any_port("http://127.0.0.1:", "http://127.0.0.1:3000"));
        for refused in [
            "http://localhost",
            "http://localhost:",
            "http://localhost:5173.evil.example",
            "http://localhost:99999",
            "http://localhost:123456",
            "http://localhost.evil.example:80",
            "https://localhost:5173",
        ] {
            assert!(!on_any_port("http://localhost:", refused), "{refused}");
        }
    }
}
