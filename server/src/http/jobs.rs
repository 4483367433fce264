//! `GET /api/jobs`: the queue's jobs on the signed-in researcher's
//! experiments (owned or shared): kind, progress, the process working on
//! each, and why one failed. A failed job can be retried
//! (`POST /api/jobs/{id}/retry`) or dismissed (`DELETE /api/jobs/{id}`), so
//! it does not stay on the list forever.

use app::api::jobs::JobSummary;
use axum::{extract::State, http::StatusCode, Json};

use super::extract::PathParams;
use super::sessions::SignedInResearcher;
use super::AppState;
use crate::error::{Error, Result};
use crate::jobs;

/// The job of the path, if the researcher sees it (404 otherwise, as if
/// there were no such job).
async fn visible_job(state: &AppState, researcher: &SignedInResearcher, job_id: i64) -> Result<()> {
    if jobs::visible_to(&state.pool, job_id, researcher.id).await? {
        Ok(())
    } else {
        Err(Error::NotFound(format!("you have no job {job_id}")))
    }
}

#[utoipa::path(
    post,
    path = "/api/jobs/{job_id}/retry",
    operation_id = "retry_job",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("job_id" = i64, Path, description = "The job's id")),
    responses(
        (status = 200, description = "Queued again from a clean slate", body = JobSummary),
        (status = 400, description = "A path parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "No such job on the signed-in researcher's experiments", body = super::openapi::ErrorBody),
        (status = 409, description = "The job has not failed, or the same work is queued in another job", body = super::openapi::ErrorBody),
    ),
)]
pub async fn retry(
    State(state): State<AppState>,
    researcher: SignedInResearcher,
    PathParams(job_id): PathParams<i64>,
) -> Result<Json<JobSummary>> {
    visible_job(&state, &researcher, job_id).await?;
    Ok(Json(jobs::retry(&state.pool, job_id).await?))
}

#[utoipa::path(
    delete,
    path = "/api/jobs/{job_id}",
    operation_id = "dismiss_job",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("job_id" = i64, Path, description = "The job's id")),
    responses(
        (status = 204, description = "The job is gone from the list"),
        (status = 400, description = "A path parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "No such job on the signed-in researcher's experiments", body = super::openapi::ErrorBody),
        (status = 409, description = "The job is queued or running", body = super::openapi::ErrorBody),
    ),
)]
pub async fn dismiss(
    State(state): State<AppState>,
    researcher: SignedInResearcher,
    PathParams(job_id): PathParams<i64>,
) -> Result<StatusCode> {
    visible_job(&state, &researcher, job_id).await?;
    jobs::dismiss(&state.pool, job_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/jobs",
    operation_id = "list_jobs",
    tag = "researchers",
    security(("percept_session" = [])),
    responses(
        (status = 200, description = "Jobs on the signed-in researcher's experiments, open ones first, then the newest (at most 200)", body = Vec<JobSummary>),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    researcher: SignedInResearcher,
) -> Result<Json<Vec<JobSummary>>> {
    Ok(Json(
        jobs::list(&state.pool, Some(researcher.id), None).await?,
    ))
}
