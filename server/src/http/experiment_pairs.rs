//! `/api/experiments/{id}/pairs`: the researcher's pair browser of a JND
//! experiment, a page of pairs with how each was made and every judgment
//! with its measured timing and validity, and their images.

use app::api::experiments::PairPage;
use axum::{extract::State, response::Response, Json};

use super::access::ExperimentAccess;
use super::extract::{PathParams, QueryParams};
use super::stimulus_pages::{check_holds, stored_png, Page, Stimuli};
use super::AppState;
use crate::error::Result;
use crate::experiments;

/// `GET /api/experiments/{id}/pairs?offset=&limit=`, in generation order.
#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/pairs",
    operation_id = "list_pairs",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id"), Page),
    responses(
        (status = 200, description = "A page of the JND experiment's pairs, in generation order", body = PairPage),
        (status = 400, description = "A path or query parameter is malformed or out of range", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment, or it is a 2AFC experiment (its triplets are at `/api/experiments/{experiment_id}/triplets`)", body = super::openapi::ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    access: ExperimentAccess,
    QueryParams(page): QueryParams<Page>,
) -> Result<Json<PairPage>> {
    page.check()?;
    check_holds(&state.pool, access.experiment_id, Stimuli::Pairs).await?;
    Ok(Json(
        experiments::overview::pairs(&state.pool, access.experiment_id, page.offset, page.limit)
            .await?,
    ))
}

/// `GET /api/experiments/{id}/pairs/{pair_id}/{ref|distorted}.png`.
#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/pairs/{pair_id}/{image}",
    operation_id = "get_pair_image",
    tag = "researchers",
    security(("percept_session" = [])),
    params(
        ("experiment_id" = i64, Path, description = "The experiment's id"),
        ("pair_id" = i64, Path, description = "The pair's id"),
        ("image" = String, Path, pattern = "^(ref|distorted)\\.png$",
            description = "Which of the pair's images: `ref.png` or `distorted.png`"),
    ),
    responses(
        (status = 200, description = "The image", content_type = "image/png",
            body = inline(super::openapi::PngImage)),
        (status = 400, description = "A path parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment, or it has no such pair or image", body = super::openapi::ErrorBody),
    ),
)]
pub async fn image(
    State(state): State<AppState>,
    access: ExperimentAccess,
    PathParams((_, pair_id, image)): PathParams<(i64, i64, String)>,
) -> Result<Response> {
    let png = experiments::overview::pair_image(&state.pool, access.experiment_id, pair_id, &image)
        .await?;
    Ok(stored_png(png))
}
