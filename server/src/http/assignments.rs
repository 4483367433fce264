//! `POST /api/experiments/{id}/assignments`: hand a worker a set of trials
//! (chosen by `percept_core::assignments`), within the address's rate limit;
//! a request repeated for the same crowd session while its assignment is
//! open gets that assignment again (200) instead of a second one (201).

use app::api::assignments::{Assignment, AssignmentRequest};
use axum::{extract::State, http::StatusCode, Json};
use percept_core::assignments::Created;

use super::extract::{JsonBody, PathParams};
use super::rate_limits::ClientIp;
use super::AppState;
use crate::error::Result;

#[utoipa::path(
    post,
    path = "/api/experiments/{experiment_id}/assignments",
    operation_id = "create_assignment",
    tag = "workers",
    params(("experiment_id" = i64, Path, description = "The experiment's id")),
    request_body = AssignmentRequest,
    responses(
        (status = 201, description = "A new assignment of trials for the worker", body = Assignment),
        (status = 200, description = "The open assignment the worker already holds for this `study_id` and `session_id` (the request was repeated, say after a dropped connection): no second one is made", body = Assignment),
        (status = 400, description = "The body or path is malformed, or a worker id is missing or too long", body = super::openapi::ErrorBody),
        (status = 415, description = "The body is not sent as `Content-Type: application/json`", body = super::openapi::ErrorBody),
        (status = 403, description = "The worker has reached the experiment's limit of assignments", body = super::openapi::ErrorBody),
        (status = 404, description = "There is no such experiment", body = super::openapi::ErrorBody),
        (status = 409, description = "The experiment is not open to workers (its stimuli are being generated or failed), or has nothing left for this worker", body = super::openapi::ErrorBody),
        (status = 410, description = "The researcher closed the experiment: it hands out no new assignments", body = super::openapi::ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    PathParams(experiment_id): PathParams<i64>,
    JsonBody(request): JsonBody<AssignmentRequest>,
) -> Result<(StatusCode, Json<Assignment>)> {
    state.limits.assignments_per_ip.take(client_ip)?;
    Ok(
        match percept_core::assignments::create(&state.pool, experiment_id, &request).await? {
            Created::New(assignment) => (StatusCode::CREATED, Json(assignment)),
            Created::Existing(assignment) => (StatusCode::OK, Json(assignment)),
        },
    )
}
