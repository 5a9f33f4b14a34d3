//! `/api/v1/admin/outbox`: the domain events waiting for delivery, delivered, or dead; re-queueing
//! dead ones (permission `OperateSystem`, admins only).

use actix_web::{get, post, web};
use outbox::{OutboxFilter, OutboxRecord, OutboxStats, OutboxStatus};
use primitives::Page;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::{Authorized, perm};
use crate::openapi::EventNotDeadProblem;
use crate::pagination::{PageParams, Paged};
use crate::problem::ApiResult;
use crate::state::AppState;

#[derive(Deserialize, garde::Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxParams {
    /// Only events in this state.
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
}

/// List outbox events
///
/// Domain events, newest first, optionally narrowed to a delivery state, an event type and the
/// order, user or variant they are about. Keyset-paginated.
#[utoipa::path(
    tag = "admin-outbox",
    operation_id = "adminListOutboxEvents",
    security(("bearer" = [])),
    params(OutboxParams, PageParams),
    responses((status = 200, description = "A page of events", body = Page<OutboxRecord>))
)]
#[get("/admin/outbox")]
pub async fn list_events(
    state: web::Data<AppState>,
    _: Authorized<perm::OperateSystem>,
    Paged(p, page): Paged<OutboxParams>,
) -> ApiResult<web::Json<Page<OutboxRecord>>> {
    let filter = OutboxFilter {
        status: p.status,
        event_type: p.event_type,
        aggregate_id: p.aggregate_id,
        page: page.request()?,
    };
    Ok(web::Json(state.outbox.list(&filter).await?))
}

/// Get the outbox backlog
///
/// How many events wait for delivery and how many are dead, and the age of the oldest pending
/// one: the numbers to watch when deliveries fall behind.
#[utoipa::path(
    tag = "admin-outbox",
    operation_id = "adminGetOutboxStats",
    security(("bearer" = [])),
    responses((status = 200, description = "The backlog", body = OutboxStats))
)]
#[get("/admin/outbox/stats")]
pub async fn stats(
    state: web::Data<AppState>,
    _: Authorized<perm::OperateSystem>,
) -> ApiResult<web::Json<OutboxStats>> {
    Ok(web::Json(state.outbox.stats().await?))
}

/// Get an outbox event
///
/// One event by id, with its payload, its delivery state, the attempts so far, when each
/// channel took it and the error of the last failed attempt.
#[utoipa::path(
    tag = "admin-outbox",
    operation_id = "adminGetOutboxEvent",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")),
    responses((status = 200, description = "The event", body = OutboxRecord))
)]
#[get("/admin/outbox/{id}")]
pub async fn get_event(
    state: web::Data<AppState>,
    _: Authorized<perm::OperateSystem>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<OutboxRecord>> {
    Ok(web::Json(state.outbox.get(*id).await?))
}

/// Requeue a dead outbox event
///
/// Puts a dead event back in the queue with a fresh attempt budget; channels that already took
/// it are not repeated. A pending or delivered event is 409 `event-not-dead`, naming its state in
/// `event_status`.
#[utoipa::path(
    tag = "admin-outbox",
    operation_id = "adminRequeueOutboxEvent",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "The event, pending again", body = OutboxRecord),
        (status = 409, description = "Not dead (`event-not-dead`)", body = EventNotDeadProblem)
    )
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
