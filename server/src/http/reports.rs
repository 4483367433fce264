//! `/api/experiments/{id}/report` (JSON) and `/report.html` (the page).

use axum::{extract::State, response::Html, Json};
use serde::Deserialize;

use super::access::ExperimentAccess;
use super::extract::QueryParams;
use super::AppState;
use crate::error::Result;
use crate::reports::{self, Report, ReportOptions, Resample};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Count flagged workers' judgments too.
    #[serde(default)]
    pub(super) include_flagged: bool,
    /// The metric-against-metric section's two metrics, `A,B` (both must
    /// have scored the experiment); default: the first LPIPS metric against
    /// ssim-rgb.
    #[serde(default)]
    pub(super) versus: Option<String>,
    /// What the bootstrap intervals resample: `triplets` (default) or
    /// `workers` (each worker's judgments together, pwcmp's convention).
    #[serde(default)]
    pub(super) resample: Resample,
}

impl ReportQuery {
    fn options(&self) -> Result<ReportOptions> {
        Ok(ReportOptions {
            include_flagged: self.include_flagged,
            versus: self
                .versus
                .as_deref()
                .map(ReportOptions::parse_versus)
                .transpose()?,
            resample: self.resample,
        })
    }
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
        (status = 400, description = "A path or query parameter is malformed, a `versus` metric has not scored the experiment, or `resample=workers` meets imported judgments", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn json(
    State(state): State<AppState>,
    access: ExperimentAccess,
    QueryParams(query): QueryParams<ReportQuery>,
) -> Result<Json<Report>> {
    let experiment_id = access.experiment_id;
    Ok(Json(
        reports::build_with(&state.pool, &[experiment_id], &query.options()?).await?,
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
        (status = 400, description = "A path or query parameter is malformed, a `versus` metric has not scored the experiment, or `resample=workers` meets imported judgments", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn html(
    State(state): State<AppState>,
    access: ExperimentAccess,
    QueryParams(query): QueryParams<ReportQuery>,
) -> Result<Html<String>> {
    let experiment_id = access.experiment_id;
    let report = reports::build_with(&state.pool, &[experiment_id], &query.options()?).await?;
    let gallery = reports::gallery_images(&state.pool, &report).await?;
    Ok(Html(reports::render_html(&report, &gallery)?))
}
