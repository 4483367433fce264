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
use crate::error::{Error, Result};

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
    let image = image
        .strip_suffix(".png")
        .filter(|name| ["reference", "left", "right", "distorted"].contains(name));
    let Some(image) = image else {
        return Err(Error::NotFound(
            "a trial's images are reference.png, left.png and right.png (2AFC), \
             or reference.png and distorted.png (JND)"
                .into(),
        ));
    };
    // Which stored patch is on which side was drawn per trial: left is p0
    // exactly when left_is_p0, right is p0 exactly when it is not. An
    // assignment has trials of one kind, so at most one half answers.
    let png = sqlx::query_scalar!(
        r#"
        SELECT CASE WHEN $3 = 'reference' THEN t.ref_png
                    WHEN ($3 = 'left') = at.left_is_p0 THEN t.p0_png
                    ELSE t.p1_png
               END AS "png!"
        FROM assignments a
        JOIN assignment_trials at ON at.assignment_id = a.id
        JOIN triplets t ON t.id = at.triplet_id
        WHERE a.token = $1 AND at.position = $2 AND $3 IN ('reference', 'left', 'right')
        UNION ALL
        SELECT CASE WHEN $3 = 'reference' THEN p.ref_png ELSE p.distorted_png END
        FROM assignments a
        JOIN jnd_trials jt ON jt.assignment_id = a.id
        JOIN pairs p ON p.id = jt.pair_id
        WHERE a.token = $1 AND jt.position = $2 AND $3 IN ('reference', 'distorted')
        "#,
        token,
        position,
        image,
    )
    .fetch_optional(&state.pool)
    .await?;
    let Some(png) = png else {
        let known_token = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM assignments WHERE token = $1) AS "exists!""#,
            token
        )
        .fetch_one(&state.pool)
        .await?;
        return Err(Error::NotFound(if known_token {
            format!("the assignment has no trial at position {position} with an image {image}.png")
        } else {
            "there is no assignment with this token".into()
        }));
    };
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
