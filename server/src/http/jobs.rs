//! `GET /api/jobs`: the queue's jobs on the signed-in researcher's
//! experiments (owned or shared): kind, progress, the process working on
//! each, and why one failed.

use app::api::jobs::JobSummary;
use axum::{extract::State, Json};

use super::sessions::SignedInResearcher;
use super::AppState;
use crate::error::Result;
use crate::jobs;

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
