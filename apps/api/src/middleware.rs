//! The request envelope: request id, tracing span, access log, metrics, security headers, the
//! refusal of ambiguously framed requests, and the guarantee that every error response is
//! problem+json (also those actix produces itself: unknown route, wrong method, extractor
//! failures) with the same headers as every other response.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError, web};
use tracing::Instrument;

use crate::hygiene::SecurityHeaders;
use crate::metrics::Metrics;
use crate::problem::{PROBLEM_JSON, Problem};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request, available to handlers as a request extension.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn accept_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| s.to_owned())
}

pub async fn envelope(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let request_id =
        req.headers().get(&REQUEST_ID).and_then(accept_request_id).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().clone();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let security = SecurityHeaders::for_request(&req);
    let span =
        tracing::info_span!("request", request_id = %request_id, method = %method, route = tracing::field::Empty);

    let mut res = if let Some(problem) = refuse_framing(&req) {
        // RFC 9112 section 6.3: a request with both Transfer-Encoding and Content-Length may be
        // read one way here and another way by a proxy in front (request smuggling). Refuse it
        // before anything reads the body, and close the connection: whatever follows on it
        // cannot be trusted to start a new request.
        let mut refused = problem.error_response();
        refused.head_mut().set_connection_type(ConnectionType::Close);
        req.into_response(refused)
    } else {
        // Handlers' errors arrive here as responses; an `Err` only comes from a failing inner
        // middleware (the request timeout). actix renders it after this envelope, so it leaves
        // wrapped in `Secured`, which renders it with the same headers as everything else.
        match next.call(req).instrument(span.clone()).await {
            Ok(res) => res.map_into_boxed_body(),
            Err(e) => {
                let status = e.as_response_error().status_code();
                if let Some(m) = &metrics {
                    m.http_requests.with_label_values(&[method.as_str(), "<aborted>", status.as_str()]).inc();
                }
                span.in_scope(|| tracing::warn!(status = status.as_u16(), error = %e, "request aborted"));
                return Err(Secured { error: e, security, request_id }.into());
            }
        }
    };

    let status = res.status();
    if (status.is_client_error() || status.is_server_error()) && !is_problem(&res) {
        let cors = res.response().error().and_then(|e| e.as_error::<actix_cors::CorsError>());
        let problem = match cors {
            Some(e) => crate::hygiene::cors_refusal(res.request(), e),
            None => Problem::for_status(status),
        };
        let (req, _) = res.into_parts();
        res = ServiceResponse::new(req, problem.error_response());
    }

    let route = res.request().match_pattern().unwrap_or_else(|| "<unmatched>".to_owned());
    let elapsed = started.elapsed();
    if let Some(m) = metrics {
        m.http_requests.with_label_values(&[method.as_str(), &route, status.as_str()]).inc();
        m.http_duration.with_label_values(&[method.as_str(), &route]).observe(elapsed.as_secs_f64());
    }
    span.record("route", route.as_str());
    span.in_scope(|| {
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        if status.is_server_error() {
            let cause = res.response().error().map(|e| e.to_string());
            tracing::error!(status = status.as_u16(), latency_ms, cause, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), latency_ms, "request");
        }
    });
    security.apply(res.headers_mut());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(res)
}

/// Per connection: whether a request on it was refused for its framing. actix-http has parsed
/// requests pipelined behind it before the refusal is sent (a smuggled request rides exactly
/// there), so each of them is refused unread too, and the connection closes.
#[derive(Default)]
pub struct ConnectionGuard(std::cell::Cell<bool>);

/// For `HttpServer::on_connect`: every connection gets its guard.
pub fn guard_connection(_: &dyn std::any::Any, ext: &mut actix_web::dev::Extensions) {
    ext.insert(ConnectionGuard::default());
}

fn refuse_framing(req: &ServiceRequest) -> Option<Problem> {
    let guard = req.conn_data::<ConnectionGuard>();
    if guard.is_some_and(|g| g.0.get()) {
        return Some(
            Problem::new(StatusCode::BAD_REQUEST, "ambiguous-framing", "The request's length is stated ambiguously")
                .detail("an earlier request on this connection was refused for its framing; open a new connection"),
        );
    }
    let problem = ambiguous_framing(req.headers())?;
    if let Some(g) = guard {
        g.0.set(true);
    }
    Some(problem)
}

/// A request that states its length twice (`Transfer-Encoding` and `Content-Length`), or a
/// `Transfer-Encoding` other than exactly `chunked`, is refused: 400 `ambiguous-framing`.
pub fn ambiguous_framing(h: &header::HeaderMap) -> Option<Problem> {
    let te: Vec<&HeaderValue> = h.get_all(header::TRANSFER_ENCODING).collect();
    if te.is_empty() {
        return None;
    }
    let detail = if h.contains_key(header::CONTENT_LENGTH) {
        "a request must not carry both Transfer-Encoding and Content-Length (RFC 9112, section 6.3)"
    } else if te.len() > 1 || te.iter().any(|v| !v.as_bytes().eq_ignore_ascii_case(b"chunked")) {
        "the only transfer coding accepted is a single `chunked`"
    } else {
        return None;
    };
    Some(
        Problem::new(StatusCode::BAD_REQUEST, "ambiguous-framing", "The request's length is stated ambiguously")
            .detail(detail),
    )
}

/// An error that escaped the envelope (actix renders it after every middleware has run), rendered
/// with the security headers and request id every other response carries.
#[derive(Debug)]
struct Secured {
    error: Error,
    security: SecurityHeaders,
    request_id: String,
}

impl std::fmt::Display for Secured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for Secured {
    fn status_code(&self) -> StatusCode {
        self.error.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let mut res = self.error.error_response();
        if !res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes())) {
            res = Problem::for_status(res.status()).error_response();
        }
        self.security.apply(res.headers_mut());
        if let Ok(v) = HeaderValue::from_str(&self.request_id) {
            res.headers_mut().insert(REQUEST_ID, v);
        }
        res
    }
}

/// Whether an error response already carries a JSON document of ours (a problem, or a
/// deliberate JSON body such as the readiness report); anything else is replaced by a problem.
fn is_problem<B>(res: &ServiceResponse<B>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON) || v.starts_with("application/json"))
}
