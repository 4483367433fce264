//! `/api/experiments/{id}/shares`: the owner shares an experiment with other
//! researchers, who then see, score, report and export it as the owner does.
//! Only the owner changes who it is shared with.

use app::api::experiments::{ExperimentShare, NewShare};
use axum::{extract::State, http::StatusCode, Json};

use super::access::ExperimentAccess;
use super::extract::{JsonBody, PathParams};
use super::AppState;
use crate::error::Result;
use crate::sharing;

/// `GET /api/experiments/{id}/shares`.
#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/shares",
    operation_id = "list_shares",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id")),
    responses(
        (status = 200, description = "The researchers the experiment is shared with", body = Vec<ExperimentShare>),
        (status = 400, description = "A path parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    access: ExperimentAccess,
) -> Result<Json<Vec<ExperimentShare>>> {
    Ok(Json(
        sharing::shares(&state.pool, access.experiment_id).await?,
    ))
}

/// `POST /api/experiments/{id}/shares`.
#[utoipa::path(
    post,
    path = "/api/experiments/{experiment_id}/shares",
    operation_id = "share_experiment",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id")),
    request_body = NewShare,
    responses(
        (status = 200, description = "It was already shared with this researcher", body = ExperimentShare),
        (status = 201, description = "Shared: the researcher now sees the experiment", body = ExperimentShare),
        (status = 400, description = "The body or path is malformed, or the email is the owner's", body = super::openapi::ErrorBody),
        (status = 415, description = "The body is not sent as `Content-Type: application/json`", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 403, description = "The experiment is shared with the signed-in researcher, who does not own it", body = super::openapi::ErrorBody),
        (status = 404, description = "No such experiment, or no researcher with this email", body = super::openapi::ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    access: ExperimentAccess,
    JsonBody(share): JsonBody<NewShare>,
) -> Result<(StatusCode, Json<ExperimentShare>)> {
    access.require_owner("change who it is shared with")?;
    let (share, created) = sharing::share(&state.pool, access.experiment_id, &share.email).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(share)))
}

/// `DELETE /api/experiments/{id}/shares/{researcher_id}`.
#[utoipa::path(
    delete,
    path = "/api/experiments/{experiment_id}/shares/{researcher_id}",
    operation_id = "unshare_experiment",
    tag = "researchers",
    security(("percept_session" = [])),
    params(
        ("experiment_id" = i64, Path, description = "The experiment's id"),
        ("researcher_id" = i64, Path, description = "The researcher to take access from"),
    ),
    responses(
        (status = 204, description = "The researcher no longer sees the experiment (or never did)"),
        (status = 400, description = "A path parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 403, description = "The experiment is shared with the signed-in researcher, who does not own it", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    access: ExperimentAccess,
    PathParams((_, researcher_id)): PathParams<(i64, i64)>,
) -> Result<StatusCode> {
    access.require_owner("change who it is shared with")?;
    sharing::unshare(&state.pool, access.experiment_id, researcher_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
