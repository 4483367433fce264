//! `/api/experiments/{id}/scoring`: queue scoring jobs and watch them.

use app::api::scoring::{MetricProgress, QueuedJobs, ScoringRequest};
use axum::{extract::State, http::StatusCode, Json};

use super::access::ExperimentAccess;
use super::extract::JsonBody;
use super::AppState;
use crate::error::{Error, Result};
use crate::scoring::{self, Metric};

/// `GET`: each metric's progress on the experiment.
#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/scoring",
    operation_id = "get_scoring_progress",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id")),
    responses(
        (status = 200, description = "Each metric's progress on the experiment", body = Vec<MetricProgress>),
        (status = 400, description = "A path parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn progress(
    State(state): State<AppState>,
    access: ExperimentAccess,
) -> Result<Json<Vec<MetricProgress>>> {
    let experiment_id = access.experiment_id;
    Ok(Json(scoring::progress(&state.pool, experiment_id).await?))
}

/// `POST`: queues jobs for the metrics; workers pick them up.
#[utoipa::path(
    post,
    path = "/api/experiments/{experiment_id}/scoring",
    operation_id = "enqueue_scoring",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id")),
    request_body = ScoringRequest,
    responses(
        (status = 202, description = "Scoring jobs are queued, one per metric", body = QueuedJobs),
        (status = 400, description = "The body or path is malformed, or a metric is unknown", body = super::openapi::ErrorBody),
        (status = 415, description = "The body is not sent as `Content-Type: application/json`", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn enqueue(
    State(state): State<AppState>,
    access: ExperimentAccess,
    JsonBody(request): JsonBody<ScoringRequest>,
) -> Result<(StatusCode, Json<QueuedJobs>)> {
    let experiment_id = access.experiment_id;
    let metrics = if request.metrics.is_empty() {
        scoring::default_metrics()
    } else {
        request
            .metrics
            .iter()
            .map(|name| {
                name.parse::<Metric>()
                    .map_err(|error| Error::BadRequest(format!("{error:#}")))
            })
            .collect::<Result<_>>()?
    };
    let mut job_ids = Vec::new();
    for metric in &metrics {
        job_ids.push(scoring::enqueue(&state.pool, experiment_id, metric).await?);
    }
    Ok((StatusCode::ACCEPTED, Json(QueuedJobs { job_ids })))
}
