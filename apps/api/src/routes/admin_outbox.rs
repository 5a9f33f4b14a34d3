//! `/api/v1/admin/outbox`: the domain events waiting for delivery, delivered, or dead; re-queueing
//! dead ones (permission `OperateSystem`, admins only).

use actix_web::{get, post, web};
use outbox::{OutboxFilter, OutboxRecord, OutboxStats, OutboxStatus};
use primitives::Cursor;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Authorized, perm};
use crate::extract::ValidQuery;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

#[derive(Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxParams {
    #[garde(skip)]
    #[param(inline)]
    pub status: Option<OutboxStatus>,
    /// `order.placed`, `user.password_changed`, ... (docs/events.md).
    #[garde(inner(length(min = 1, max = 100)))]
    #[param(min_length = 1, max_length = 100)]
    pub event_type: Option<String>,
    /// The order, user or variant the events are about.
    #[garde(skip)]
    pub aggregate_id: Option<Uuid>,
    /// `next_cursor` of the previous page.
    #[garde(inner(length(max = 512)))]
    #[param(max_length = 512)]
    pub cursor: Option<String>,
    /// 1 to 100 (default 20).
    #[garde(inner(range(min = 1, max = 100)))]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct OutboxPage {
    pub items: Vec<OutboxRecord>,
    pub next_cursor: Option<String>,
}

/// Outbox events, newest first.
#[utoipa::path(
    tag = "admin-outbox",
    security(("bearer" = [])),
    params(OutboxParams),
    responses((status = 200, body = OutboxPage), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem))
)]
#[get("/admin/outbox")]
pub async fn list_events(
    state: web::Data<AppState>,
    _: Authorized<perm::OperateSystem>,
    ValidQuery(p): ValidQuery<OutboxParams>,
) -> ApiResult<web::Json<OutboxPage>> {
    let limit = p.limit.unwrap_or(20);
    let before = p
        .cursor
        .as_deref()
        .map(|c| Cursor::decode::<Uuid>(c).map_err(|e| Problem::invalid_parameter("cursor", e.to_string())))
        .transpose()?;
    let filter = OutboxFilter {
        status: p.status,
        event_type: p.event_type,
        aggregate_id: p.aggregate_id,
        before,
        limit: limit + 1,
    };
    let mut items = state.outbox.list(&filter).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|e| Cursor::encode(&e.id))
    } else {
        None
    };
    Ok(web::Json(OutboxPage { items, next_cursor }))
}

/// The backlog: pending and dead events, and the age of the oldest pending one.
#[utoipa::path(
    tag = "admin-outbox",
    security(("bearer" = [])),
    responses((status = 200, body = OutboxStats), (status = 401, body = Problem), (status = 403, body = Problem))
)]
#[get("/admin/outbox/stats")]
pub async fn stats(
    state: web::Data<AppState>,
    _: Authorized<perm::OperateSystem>,
) -> ApiResult<web::Json<OutboxStats>> {
    Ok(web::Json(state.outbox.stats().await?))
}

/// One event, with its payload, attempts and last error.
#[utoipa::path(
    tag = "admin-outbox",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = OutboxRecord), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
#[get("/admin/outbox/{id}")]
pub async fn get_event(
    state: web::Data<AppState>,
    _: Authorized<perm::OperateSystem>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<OutboxRecord>> {
    Ok(web::Json(state.outbox.get(*id).await?))
}

/// Puts a dead event back in the queue with a fresh attempt budget; channels that already took
/// it are not repeated. 409 `event-not-dead` for a pending or delivered event.
#[utoipa::path(
    tag = "admin-outbox",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = OutboxRecord), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[post("/admin/outbox/{id}/requeue")]
pub async fn requeue(
    state: web::Data<AppState>,
    user: Authorized<perm::OperateSystem>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<OutboxRecord>> {
    let record = state.outbox.requeue(*id).await?;
    tracing::info!(event_id = %record.id, event_type = %record.event_type, actor = %user.id(), "outbox event re-queued");
    Ok(web::Json(record))
}
