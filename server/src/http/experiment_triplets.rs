//! `/api/experiments/{id}/triplets`: the researcher's triplet browser, a page
//! of triplets with their specs and judgments, and their images.

use app::api::experiments::TripletPage;
use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;

use super::access::ExperimentAccess;
use super::extract::{PathParams, QueryParams};
use super::AppState;
use crate::error::{Error, Result};
use crate::experiments;

const DEFAULT_PAGE: i64 = 20;
const MAX_PAGE: i64 = 200;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Stimuli (triplets or pairs) to skip, in generation order.
    #[serde(default)]
    #[param(minimum = 0)]
    pub(super) offset: i64,
    /// Stimuli to return (20 when left out).
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 200)]
    pub(super) limit: i64,
}

impl Page {
    /// Refuses an offset or limit out of range (the pair browser's too).
    pub(super) fn check(&self) -> Result<()> {
        if self.offset < 0 || !(1..=MAX_PAGE).contains(&self.limit) {
            return Err(Error::BadRequest(format!(
                "offset must be at least 0 and limit between 1 and {MAX_PAGE}"
            )));
        }
        Ok(())
    }
}

fn default_limit() -> i64 {
    DEFAULT_PAGE
}

/// `GET /api/experiments/{id}/triplets?offset=&limit=`, in generation order.
#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/triplets",
    operation_id = "list_triplets",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id"), Page),
    responses(
        (status = 200, description = "A page of the experiment's triplets, in generation order", body = TripletPage),
        (status = 400, description = "A path or query parameter is malformed or out of range", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    access: ExperimentAccess,
    QueryParams(page): QueryParams<Page>,
) -> Result<Json<TripletPage>> {
    let experiment_id = access.experiment_id;
    page.check()?;
    Ok(Json(
        experiments::overview::triplets(&state.pool, experiment_id, page.offset, page.limit)
            .await?,
    ))
}

/// `GET /api/experiments/{id}/triplets/{triplet_id}/{ref|p0|p1}.png`.
#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/triplets/{triplet_id}/{image}",
    operation_id = "get_triplet_image",
    tag = "researchers",
    security(("percept_session" = [])),
    params(
        ("experiment_id" = i64, Path, description = "The experiment's id"),
        ("triplet_id" = i64, Path, description = "The triplet's id"),
        ("image" = String, Path, pattern = "^(ref|p0|p1)\\.png$",
            description = "Which of the triplet's images: `ref.png`, `p0.png` or `p1.png`"),
    ),
    responses(
        (status = 200, description = "The image", content_type = "image/png",
            body = inline(super::openapi::PngImage)),
        (status = 400, description = "A path parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment, or it has no such triplet or image", body = super::openapi::ErrorBody),
    ),
)]
pub async fn image(
    State(state): State<AppState>,
    access: ExperimentAccess,
    PathParams((_, triplet_id, image)): PathParams<(i64, i64, String)>,
) -> Result<Response> {
    let experiment_id = access.experiment_id;
    let png = experiments::overview::triplet_image(&state.pool, experiment_id, triplet_id, &image)
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            // Stored stimuli never change; only researchers with access may see them.
            (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
        ],
        png,
    )
        .into_response())
}
