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

/// Check liveness
///
/// Answers 200 whenever the process serves HTTP, without touching PostgreSQL or Redis: for the
/// orchestrator's liveness probe (restart when it fails).
#[utoipa::path(
    tag = "ops",
    operation_id = "getLiveness",
    security(()),
    responses((status = 200, description = "The process is up", body = Live))
)]
#[get("/health/live")]
pub async fn live() -> web::Json<Live> {
    web::Json(Live { status: "up" })
}

/// Check readiness
///
/// Whether the instance can serve traffic: PostgreSQL must answer a query (503 `unavailable`
/// otherwise). Redis answering PING makes it `ready`; without Redis it is `degraded` and still
/// 200, since the API runs on in-process fallbacks.
#[utoipa::path(
    tag = "ops",
    operation_id = "getReadiness",
    security(()),
    responses(
        (status = 200, description = "Ready, or degraded without Redis", body = Ready),
        (status = 503, description = "PostgreSQL unreachable", body = Ready)
    )
)]
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

/// Get Prometheus metrics
///
/// The instance's metrics in the Prometheus text exposition format (version 0.0.4): HTTP
/// requests and latencies per route, database pools and reads, the near cache, checkouts,
/// payments and outbox deliveries.
#[utoipa::path(
    tag = "ops",
    operation_id = "getMetrics",
    security(()),
    responses((status = 200, description = "Metrics in the text exposition format", content_type = "text/plain", body = String))
)]
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
    if let Some(index) = &state.search_index {
        m.observe_search(index.stats());
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(m.render())
}
