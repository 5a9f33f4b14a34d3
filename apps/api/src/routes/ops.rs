//! Operational endpoints: liveness, readiness, metrics.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Live {
    /// Always `up` when the process answers.
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// `ready`, `degraded` (Redis down, requests still served) or `unavailable` (PostgreSQL down).
    status: &'static str,
    /// `up` or `down`.
    database: &'static str,
    /// `up` or `degraded` (running on the in-process fallbacks).
    redis: &'static str,
}

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(tag = "ops", responses((status = 200, body = Live)))]
#[get("/health/live")]
pub async fn live() -> web::Json<Live> {
    web::Json(Live { status: "up" })
}

/// Readiness: PostgreSQL answers a query (503 otherwise); Redis answers PING (`degraded` otherwise,
/// still 200, since the API works without it).
#[utoipa::path(tag = "ops", responses((status = 200, body = Ready), (status = 503, body = Ready)))]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let (db, redis) = tokio::join!(state.db.ping(), state.cache.healthy());
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database unreachable");
    }
    let body = Ready {
        status: match (db.is_ok(), redis) {
            (false, _) => "unavailable",
            (true, false) => "degraded",
            (true, true) => "ready",
        },
        database: if db.is_ok() { "up" } else { "down" },
        redis: if redis { "up" } else { "degraded" },
    };
    if db.is_ok() { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(tag = "ops", responses((status = 200, content_type = "text/plain", body = String)))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, m: web::Data<crate::metrics::Metrics>) -> HttpResponse {
    m.observe_pool("primary", state.db.stats());
    for (i, s) in state.db.replica_stats().into_iter().enumerate() {
        m.observe_pool(&format!("replica{i}"), s);
    }
    let (replica, primary) = state.db.read_counts();
    m.observe_reads(replica, primary);
    if let Some(s) = state.cache.near_stats() {
        m.observe_near(s);
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(m.render())
}
