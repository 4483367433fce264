//! `/api/experiments/{id}/triplets`: the researcher's triplet browser, a page
//! of triplets with their specs and judgments, and their images.

use std::collections::{HashMap, HashSet};

use app::api::experiments::{JudgmentView, TripletPage, TripletView};
use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;

use super::experiments::ensure_access;
use super::extract::{PathParams, QueryParams};
use super::sessions::SignedInResearcher;
use super::AppState;
use crate::error::{Error, Result};
use crate::quality;

const DEFAULT_PAGE: i64 = 20;
const MAX_PAGE: i64 = 200;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Triplets to skip, in generation order.
    #[serde(default)]
    #[param(minimum = 0)]
    offset: i64,
    /// Triplets to return (20 when left out).
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 200)]
    limit: i64,
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
    researcher: SignedInResearcher,
    PathParams(experiment_id): PathParams<i64>,
    QueryParams(page): QueryParams<Page>,
) -> Result<Json<TripletPage>> {
    if page.offset < 0 || !(1..=MAX_PAGE).contains(&page.limit) {
        return Err(Error::BadRequest(format!(
            "offset must be at least 0 and limit between 1 and {MAX_PAGE}"
        )));
    }
    ensure_access(&state, &researcher, experiment_id).await?;
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM triplets WHERE experiment_id = $1"#,
        experiment_id
    )
    .fetch_one(&state.pool)
    .await?;
    let triplets = sqlx::query!(
        "SELECT t.id, t.reference_image_id, r.file_name, t.crop_x, t.crop_y,
                t.p0_pipeline, t.p0_seed, t.p1_pipeline, t.p1_seed, t.sentinel_answer
         FROM triplets t JOIN reference_images r ON r.id = t.reference_image_id
         WHERE t.experiment_id = $1
         ORDER BY t.id
         OFFSET $2 LIMIT $3",
        experiment_id,
        page.offset,
        page.limit,
    )
    .fetch_all(&state.pool)
    .await?;
    let triplet_ids: Vec<i64> = triplets.iter().map(|triplet| triplet.id).collect();
    let flagged: HashSet<i64> = quality::flagged_worker_ids(&state.pool, experiment_id)
        .await?
        .into_iter()
        .collect();
    let mut judgments: HashMap<i64, Vec<JudgmentView>> = HashMap::new();
    for row in sqlx::query!(
        "SELECT at.triplet_id, j.chose_p1, j.response_ms, w.id AS worker_id, w.platform,
                w.external_id
         FROM judgments j
         JOIN assignment_trials at USING (assignment_id, position)
         JOIN assignments a ON a.id = j.assignment_id
         JOIN workers w ON w.id = a.worker_id
         WHERE at.triplet_id = ANY($1)
         ORDER BY j.server_time, j.id",
        &triplet_ids,
    )
    .fetch_all(&state.pool)
    .await?
    {
        judgments
            .entry(row.triplet_id)
            .or_default()
            .push(JudgmentView {
                flagged_worker: flagged.contains(&row.worker_id),
                worker_id: row.worker_id,
                worker_platform: row.platform,
                worker_external_id: row.external_id,
                chose_p1: row.chose_p1,
                response_ms: row.response_ms,
            });
    }
    let triplets = triplets
        .into_iter()
        .map(|triplet| {
            let judgments = judgments.remove(&triplet.id).unwrap_or_default();
            let counted: Vec<&JudgmentView> =
                judgments.iter().filter(|j| !j.flagged_worker).collect();
            let chose_p1 = counted.iter().filter(|j| j.chose_p1).count();
            let url = |image: &str| {
                format!(
                    "/api/experiments/{experiment_id}/triplets/{}/{image}.png",
                    triplet.id
                )
            };
            TripletView {
                judgments_counted: counted.len() as i64,
                p1_share: (!counted.is_empty()).then(|| chose_p1 as f64 / counted.len() as f64),
                ref_url: url("ref"),
                p0_url: url("p0"),
                p1_url: url("p1"),
                judgments,
                id: triplet.id,
                reference_image_id: triplet.reference_image_id,
                reference_file_name: triplet.file_name,
                crop_x: triplet.crop_x,
                crop_y: triplet.crop_y,
                p0_pipeline: triplet.p0_pipeline,
                p0_seed: triplet.p0_seed,
                p1_pipeline: triplet.p1_pipeline,
                p1_seed: triplet.p1_seed,
                sentinel_answer: triplet.sentinel_answer,
            }
        })
        .collect();
    Ok(Json(TripletPage {
        total,
        offset: page.offset,
        triplets,
    }))
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
    researcher: SignedInResearcher,
    PathParams((experiment_id, triplet_id, image)): PathParams<(i64, i64, String)>,
) -> Result<Response> {
    let image = image
        .strip_suffix(".png")
        .filter(|name| ["ref", "p0", "p1"].contains(name));
    let Some(image) = image else {
        return Err(Error::NotFound(
            "a triplet's images are ref.png, p0.png and p1.png".into(),
        ));
    };
    let png = sqlx::query_scalar!(
        r#"
        SELECT CASE $4 WHEN 'ref' THEN t.ref_png WHEN 'p0' THEN t.p0_png ELSE t.p1_png END
               AS "png!"
        FROM triplets t
        WHERE t.id = $1 AND t.experiment_id = $2 AND EXISTS (
            SELECT 1 FROM experiment_access x
            WHERE x.experiment_id = $2 AND x.researcher_id = $3
        )
        "#,
        triplet_id,
        experiment_id,
        researcher.id,
        image,
    )
    .fetch_optional(&state.pool)
    .await?;
    let Some(png) = png else {
        // An experiment one cannot see is a missing one; a visible one lacks the triplet.
        ensure_access(&state, &researcher, experiment_id).await?;
        return Err(Error::NotFound(format!(
            "experiment {experiment_id} has no triplet {triplet_id}"
        )));
    };
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
