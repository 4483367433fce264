//! `/api/experiments/{id}/report` (JSON) and `/report.html` (the page).

use axum::{extract::State, response::Html, Json};
use serde::Deserialize;

use super::experiments::ensure_access;
use super::extract::{PathParams, QueryParams};
use super::sessions::SignedInResearcher;
use super::AppState;
use crate::error::Result;
use crate::reports::{self, Report};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Count flagged workers' judgments too.
    #[serde(default)]
    pub(super) include_flagged: bool,
}

#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/report",
    operation_id = "get_report",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id"), ReportQuery),
    responses(
        (status = 200, description = "How well each scored metric agrees with the judgments", body = Report),
        (status = 400, description = "A path or query parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn json(
    State(state): State<AppState>,
    researcher: SignedInResearcher,
    PathParams(experiment_id): PathParams<i64>,
    QueryParams(query): QueryParams<ReportQuery>,
) -> Result<Json<Report>> {
    ensure_access(&state, &researcher, experiment_id).await?;
    Ok(Json(
        reports::build(&state.pool, &[experiment_id], query.include_flagged).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/report.html",
    operation_id = "get_report_html",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id"), ReportQuery),
    responses(
        (status = 200, description = "The report as a page, with plots and the gallery of disagreements",
            content_type = "text/html", body = String),
        (status = 400, description = "A path or query parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn html(
    State(state): State<AppState>,
    researcher: SignedInResearcher,
    PathParams(experiment_id): PathParams<i64>,
    QueryParams(query): QueryParams<ReportQuery>,
) -> Result<Html<String>> {
    ensure_access(&state, &researcher, experiment_id).await?;
    let report = reports::build(&state.pool, &[experiment_id], query.include_flagged).await?;
    let gallery = reports::gallery_images(&state.pool, &report).await?;
    Ok(Html(reports::render_html(&report, &gallery)?))
}
