//! `/api/experiments/{id}/training`: train a metric on the experiment's
//! judgments (a job of the queue), and the metrics trained on it with their
//! per-epoch curves.

use app::api::training::{QueuedTraining, TrainedModelSummary, TrainingRequest};
use axum::{
    extract::State,
    http::{header, StatusCode},
    response::IntoResponse,
    Json,
};

use super::access::ExperimentAccess;
use super::extract::{JsonBody, PathParams};
use super::sessions::SignedInResearcher;
use super::AppState;
use crate::error::{Error, Result};
use crate::{sharing, training};

/// `GET`: the metrics trained on the experiment, newest first.
#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/training",
    operation_id = "list_trained_metrics",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id")),
    responses(
        (status = 200, description = "The metrics trained on the experiment, with their per-epoch loss and 2AFC", body = Vec<TrainedModelSummary>),
        (status = 400, description = "A path parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    access: ExperimentAccess,
) -> Result<Json<Vec<TrainedModelSummary>>> {
    let models = training::for_experiment(&state.pool, access.experiment_id).await?;
    Ok(Json(models.iter().map(|model| model.summary()).collect()))
}

/// `POST`: queues a training job; any `percept serve` or `percept worker`
/// taking `training` jobs runs it.
#[utoipa::path(
    post,
    path = "/api/experiments/{experiment_id}/training",
    operation_id = "enqueue_training",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id")),
    request_body = TrainingRequest,
    responses(
        (status = 202, description = "The training job is queued", body = QueuedTraining),
        (status = 400, description = "The body or path is malformed, a setting is out of range, or the experiments have no judged 2AFC triplets", body = super::openapi::ErrorBody),
        (status = 415, description = "The body is not sent as `Content-Type: application/json`", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment (or one of the other experiments named)", body = super::openapi::ErrorBody),
        (status = 409, description = "A metric of that name exists (pass overwrite) or is being trained", body = super::openapi::ErrorBody),
    ),
)]
pub async fn enqueue(
    State(state): State<AppState>,
    researcher: SignedInResearcher,
    access: ExperimentAccess,
    JsonBody(body): JsonBody<TrainingRequest>,
) -> Result<(StatusCode, Json<QueuedTraining>)> {
    let request = training::TrainingRequest::from_api(access.experiment_id, body)?;
    // Every other experiment named must be one the researcher may see.
    for &id in request.experiments.iter().chain(&request.validate_on) {
        if sharing::role(&state.pool, id, researcher.id)
            .await?
            .is_none()
        {
            return Err(Error::NotFound(format!("there is no experiment {id}")));
        }
    }
    let queued = training::enqueue(&state.pool, &request, Some(researcher.id)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(QueuedTraining {
            model_id: queued.model_id,
            job_id: queued.job_id,
            warnings: queued.warnings,
        }),
    ))
}

/// `GET`: the run's loss and 2AFC curve as SVG, drawn with the report's
/// chart helpers, for the dashboard.
#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/training/{model_id}/curve.svg",
    operation_id = "get_training_curve",
    tag = "researchers",
    security(("percept_session" = [])),
    params(
        ("experiment_id" = i64, Path, description = "The experiment's id"),
        ("model_id" = i64, Path, description = "The trained metric's id"),
    ),
    responses(
        (status = 200, description = "Loss and training/validation 2AFC per finished epoch", content_type = "image/svg+xml", body = String),
        (status = 400, description = "A path parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "No such experiment for the signed-in researcher, or no such metric trained on it", body = super::openapi::ErrorBody),
    ),
)]
pub async fn curve(
    State(state): State<AppState>,
    access: ExperimentAccess,
    PathParams((_, model_id)): PathParams<(i64, i64)>,
) -> Result<impl IntoResponse> {
    let model = training::get(&state.pool, model_id)
        .await?
        .filter(|model| {
            model
                .training_experiment_ids
                .contains(&access.experiment_id)
        })
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no metric {model_id} was trained on experiment {}",
                access.experiment_id
            ))
        })?;
    let summary = model.summary();
    let svg = crate::reports::training_curve_svg(&summary.epochs, summary.total_epochs)?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg))
}
