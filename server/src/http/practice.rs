//! `GET /api/experiments/{id}/practice` and
//! `GET /api/experiments/{id}/practice/{image}.png`: the practice trial a
//! worker answers before an assignment (see `percept_core::practice`).

use app::api::practice::PracticeTrial;
use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    Json,
};
use percept_core::practice;

use super::extract::PathParams;
use super::AppState;
use crate::error::Result;

#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/practice",
    operation_id = "get_practice_trial",
    tag = "workers",
    params(("experiment_id" = i64, Path, description = "The experiment's id")),
    responses(
        (status = 200, description = "The experiment's practice trial", body = PracticeTrial),
        (status = 400, description = "A path parameter is malformed", body = super::openapi::ErrorBody),
        (status = 404, description = "There is no such experiment, or it has no stimuli yet", body = super::openapi::ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    PathParams(experiment_id): PathParams<i64>,
) -> Result<Json<PracticeTrial>> {
    Ok(Json(practice::trial(&state.pool, experiment_id).await?))
}

#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/practice/{image}",
    operation_id = "get_practice_image",
    tag = "workers",
    params(
        ("experiment_id" = i64, Path, description = "The experiment's id"),
        ("image" = String, Path, pattern = "^(reference|left|right|distorted)\\.png$",
            description = "Which of the practice trial's images: `reference.png`, `left.png` or `right.png` (2AFC), `reference.png` or `distorted.png` (JND)"),
    ),
    responses(
        (status = 200, description = "The image", content_type = "image/png",
            body = inline(super::openapi::PngImage)),
        (status = 400, description = "A path parameter is malformed", body = super::openapi::ErrorBody),
        (status = 404, description = "No such experiment or image, or the experiment has no stimuli yet", body = super::openapi::ErrorBody),
    ),
)]
pub async fn image(
    State(state): State<AppState>,
    PathParams((experiment_id, image)): PathParams<(i64, String)>,
) -> Result<Response> {
    let png = practice::image(&state.pool, experiment_id, &image).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            // The first stimulus of an experiment never changes once it exists.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        png,
    )
        .into_response())
}
