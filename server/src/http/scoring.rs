//! `/api/experiments/{id}/scoring`: queue scoring jobs and watch them.

use app::api::scoring::{MetricOption, MetricProgress, QueuedJobs, ScoringRequest};
use axum::{extract::State, http::StatusCode, Json};

use super::access::ExperimentAccess;
use super::extract::JsonBody;
use super::sessions::SignedInResearcher;
use super::AppState;
use crate::error::{Error, Result};
use crate::scoring::{self, Metric};

/// `GET /api/metrics`: every metric the server scores with, from the one
/// catalogue, as the dashboard offers them.
#[utoipa::path(
    get,
    path = "/api/metrics",
    operation_id = "list_metrics",
    tag = "researchers",
    security(("percept_session" = [])),
    responses(
        (status = 200, description = "Every metric with official weights: name, what it stores, whether it is a default", body = Vec<MetricOption>),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
    ),
)]
pub async fn catalogue(_researcher: SignedInResearcher) -> Json<Vec<MetricOption>> {
    let defaults = scoring::default_metrics();
    Json(
        scoring::catalogue()
            .into_iter()
            .map(|(metric, description)| MetricOption {
                name: metric.to_string(),
                description,
                default: defaults.contains(&metric),
            })
            .collect(),
    )
}

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
        (status = 400, description = "The body or path is malformed, a metric is unknown, or the experiment's patches are smaller than a metric needs", body = super::openapi::ErrorBody),
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
    let job_ids = scoring::enqueue_all(&state.pool, experiment_id, &metrics).await?;
    Ok((StatusCode::ACCEPTED, Json(QueuedJobs { job_ids })))
}
