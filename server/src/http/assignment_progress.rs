//! `GET /api/assignments/{token}`: where an assignment stands, so a reloaded
//! trial page resumes at its first unanswered trial.

use app::api::assignments::AssignmentProgress;
use axum::{extract::State, Json};

use super::extract::PathParams;
use super::AppState;
use crate::error::Result;

#[utoipa::path(
    get,
    path = "/api/assignments/{token}",
    operation_id = "get_assignment_progress",
    tag = "workers",
    params(("token" = String, Path, description = "The assignment's token, from `POST /api/experiments/{experiment_id}/assignments`")),
    responses(
        (status = 200, description = "Where the assignment stands", body = AssignmentProgress),
        (status = 400, description = "A path parameter is malformed", body = super::openapi::ErrorBody),
        (status = 404, description = "There is no assignment with this token", body = super::openapi::ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    PathParams(token): PathParams<String>,
) -> Result<Json<AssignmentProgress>> {
    Ok(Json(
        percept_core::trials::progress(&state.pool, &token).await?,
    ))
}
