//! `/api/experiments/{id}/triplets`: the researcher's triplet browser, a page
//! of triplets with their specs and judgments, and their images.

use app::api::experiments::TripletPage;
use axum::{extract::State, response::Response, Json};

use super::access::ExperimentAccess;
use super::extract::{PathParams, QueryParams};
use super::stimulus_pages::{check_holds, stored_png, Page, Stimuli};
use super::AppState;
use crate::error::Result;
use crate::experiments;

/// `GET /api/experiments/{id}/triplets?offset=&limit=`, in generation order.
#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/triplets",
    operation_id = "list_triplets",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id"), Page),
    responses(
        (status = 200, description = "A page of the 2AFC experiment's triplets, in generation order", body = TripletPage),
        (status = 400, description = "A path or query parameter is malformed or out of range", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment, or it is a JND experiment (its pairs are at `/api/experiments/{experiment_id}/pairs`)", body = super::openapi::ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    access: ExperimentAccess,
    QueryParams(page): QueryParams<Page>,
) -> Result<Json<TripletPage>> {
    let experiment_id = access.experiment_id;
    page.check()?;
    check_holds(&state.pool, experiment_id, Stimuli::Triplets).await?;
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
    Ok(stored_png(png))
}
