//! `GET /api/assignments/{token}/trials/{position}/{image}.png`: a trial's
//! images (2AFC: reference, left, right; JND: reference, distorted),
//! reachable only with the assignment's token.

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};

use super::extract::PathParams;
use super::AppState;
use crate::error::Result;

#[utoipa::path(
    get,
    path = "/api/assignments/{token}/trials/{position}/{image}",
    operation_id = "get_trial_image",
    tag = "workers",
    params(
        ("token" = String, Path, description = "The assignment's token, from `POST /api/experiments/{experiment_id}/assignments`"),
        ("position" = i32, Path, description = "The trial's position in the assignment, from 0"),
        ("image" = String, Path, pattern = "^(reference|left|right|distorted)\\.png$",
            description = "Which of the trial's images: `reference.png`, `left.png` or `right.png` of a 2AFC trial; `reference.png` or `distorted.png` of a JND trial"),
    ),
    responses(
        (status = 200, description = "The image", content_type = "image/png",
            body = inline(super::openapi::PngImage)),
        (status = 400, description = "A path parameter is malformed (the position is not an integer)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such assignment, trial or image (a 2AFC trial has no distorted.png, a JND trial no left.png or right.png)", body = super::openapi::ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    PathParams((token, position, image)): PathParams<(String, i32, String)>,
) -> Result<Response> {
    let png = percept_core::trials::image(&state.pool, &token, position, &image).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            // A trial's images never change; the token makes them private.
            (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
        ],
        png,
    )
        .into_response())
}
