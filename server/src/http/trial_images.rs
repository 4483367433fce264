//! `GET /api/assignments/{token}/trials/{position}/{reference|left|right}.png`:
//! a trial's images, reachable only with the assignment's token.

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};

use super::extract::PathParams;
use super::AppState;
use crate::error::{Error, Result};

pub async fn get(
    State(state): State<AppState>,
    PathParams((token, position, image)): PathParams<(String, i32, String)>,
) -> Result<Response> {
    let image = image
        .strip_suffix(".png")
        .filter(|name| ["reference", "left", "right"].contains(name));
    let Some(image) = image else {
        return Err(Error::NotFound(
            "a trial's images are reference.png, left.png and right.png".into(),
        ));
    };
    // Which stored patch is on which side was drawn per trial: left is p0
    // exactly when left_is_p0, right is p0 exactly when it is not.
    let png = sqlx::query_scalar!(
        r#"
        SELECT CASE WHEN $3 = 'reference' THEN t.ref_png
                    WHEN ($3 = 'left') = at.left_is_p0 THEN t.p0_png
                    ELSE t.p1_png
               END AS "png!"
        FROM assignments a
        JOIN assignment_trials at ON at.assignment_id = a.id
        JOIN triplets t ON t.id = at.triplet_id
        WHERE a.token = $1 AND at.position = $2
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
            format!("the assignment has no trial at position {position}")
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
