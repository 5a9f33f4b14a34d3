//! The request envelope: request id, tracing span, access log, metrics, and the guarantee that
//! every error response is problem+json (also those actix produces itself: unknown route, wrong
//! method, extractor failures).

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};
use tracing::Instrument;

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
    let span =
        tracing::info_span!("request", request_id = %request_id, method = %method, route = tracing::field::Empty);

    // Handlers' errors arrive here as responses; an `Err` only comes from a failing inner
    // middleware, and actix renders it (as problem+json, since all our errors are problems).
    let mut res = match next.call(req).instrument(span.clone()).await {
        Ok(res) => res.map_into_boxed_body(),
        Err(e) => {
            let status = e.as_response_error().status_code();
            if let Some(m) = &metrics {
                m.http_requests.with_label_values(&[method.as_str(), "<aborted>", status.as_str()]).inc();
            }
            span.in_scope(|| tracing::warn!(status = status.as_u16(), error = %e, "request aborted"));
            return Err(e);
        }
    };

    let status = res.status();
    if (status.is_client_error() || status.is_server_error()) && !is_problem(&res) {
        let problem = Problem::for_status(status);
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
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(res)
}

/// Whether an error response already carries a JSON document of ours (a problem, or a
/// deliberate JSON body such as the readiness report); anything else is replaced by a problem.
fn is_problem<B>(res: &ServiceResponse<B>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON) || v.starts_with("application/json"))
}
