//! `/api/experiments`: a researcher creates experiments from uploaded
//! reference images and follows them (generation, judgments, workers).
//! Everything here needs a signed-in researcher who owns the experiment or
//! has it shared with them; to anyone else it answers 404, as if the
//! experiment did not exist.

use std::collections::HashSet;
use std::time::Duration;

use app::api::experiments::{
    CreatedExperiment, ExperimentDetail, ExperimentSummary, NewExperimentSettings, WorkerStats,
};
use axum::{
    extract::{multipart::MultipartRejection, Multipart, State},
    http::StatusCode,
    Json,
};
use indicatif::ProgressBar;

use super::extract::PathParams;
use super::sessions::SignedInResearcher;
use super::AppState;
use crate::error::{Error, Result};
use crate::experiments::{self, ExperimentKind, NewExperiment, ReferenceFile};
use crate::jnd::{self, JndSettings};
use crate::quality;
use crate::stimuli::SamplerSettings;

/// Uploads of reference photos for one experiment fit comfortably below this.
pub const MAX_UPLOAD_BYTES: usize = 200 * 1024 * 1024;

/// The upload's settings as the experiment to store.
fn new_experiment(settings: NewExperimentSettings, owner_id: i64) -> NewExperiment {
    // Form fields left blank arrive as empty strings and mean "none".
    let non_blank = |text: Option<String>| text.filter(|text| !text.trim().is_empty());
    let sampler = SamplerSettings {
        min_steps: settings.sampler.min_steps,
        max_steps: settings.sampler.max_steps,
        types: if settings.sampler.types.is_empty() {
            SamplerSettings::default().types
        } else {
            settings.sampler.types
        },
    };
    NewExperiment {
        owner_id,
        name: settings.name,
        kind: match settings.jnd {
            Some(jnd) => ExperimentKind::Jnd(JndSettings {
                reference_ms: jnd.reference_ms,
                gap_ms: jnd.gap_ms,
                distorted_ms: jnd.distorted_ms,
                control_share: jnd.control_share,
                source_experiment_id: jnd.source_experiment_id,
            }),
            None => ExperimentKind::TwoAfc,
        },
        split: settings.split,
        category: non_blank(settings.category),
        patch_size: settings.patch_size,
        patches_per_image: settings.patches_per_image,
        sampler,
        seed: settings.seed.unwrap_or_else(|| rand::random::<u64>() >> 1),
        judgments_per_triplet: settings.judgments_per_triplet,
        trials_per_assignment: settings.trials_per_assignment,
        sentinel_rate: settings.sentinel_rate,
        max_assignments_per_worker: settings.max_assignments_per_worker,
        assignment_ttl: Duration::from_secs(settings.assignment_ttl_minutes.saturating_mul(60)),
        completion_redirect_url: non_blank(settings.completion_redirect_url),
        max_sentinel_failure_share: settings.max_sentinel_failure_share,
    }
}

/// `POST /api/experiments`, multipart: a `settings` JSON field and one or
/// more `images` files. Answers 202 with the id once the settings and images
/// are stored; the triplets are generated in the background, and
/// `GET /api/experiments/{id}` shows how far that got.
#[utoipa::path(
    post,
    path = "/api/experiments",
    operation_id = "create_experiment",
    tag = "researchers",
    security(("percept_session" = [])),
    request_body(content = super::openapi::NewExperimentUpload, content_type = "multipart/form-data",
        description = "A `settings` part (JSON text, see `NewExperimentSettings`) and one or more `images` file parts"),
    responses(
        (status = 202, description = "The experiment and its images are stored; its triplets are being generated", body = CreatedExperiment),
        (status = 400, description = "The upload is malformed: missing or invalid settings, no images, an unreadable image, an unexpected part", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    researcher: SignedInResearcher,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<CreatedExperiment>)> {
    let mut multipart = multipart.map_err(|rejection| Error::Rejected {
        status: rejection.status(),
        message: rejection.body_text(),
    })?;
    // 413 when the upload passes MAX_UPLOAD_BYTES, 400 when it is malformed.
    let upload_error = |error: axum::extract::multipart::MultipartError| Error::Rejected {
        status: error.status(),
        message: format!("the upload could not be read: {}", error.body_text()),
    };
    let mut settings = None;
    let mut references = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(upload_error)? {
        match field.name() {
            Some("settings") => {
                let text = field.text().await.map_err(upload_error)?;
                let parsed: NewExperimentSettings =
                    serde_json::from_str(&text).map_err(|error| {
                        Error::BadRequest(format!("the settings are not valid: {error}"))
                    })?;
                settings = Some(parsed);
            }
            Some("images") => {
                let file_name = field.file_name().unwrap_or_default().to_owned();
                let bytes = field.bytes().await.map_err(upload_error)?;
                // A file input with nothing chosen still sends an empty, nameless part.
                if file_name.is_empty() && bytes.is_empty() {
                    continue;
                }
                if file_name.is_empty() {
                    return Err(Error::BadRequest(
                        "every image must be uploaded as a file with a name".into(),
                    ));
                }
                references.push(ReferenceFile {
                    file_name,
                    bytes: bytes.to_vec(),
                });
            }
            other => {
                return Err(Error::BadRequest(format!(
                    "unexpected upload field {:?}: send `settings` (JSON) and `images` (files)",
                    other.unwrap_or("")
                )))
            }
        }
    }
    let settings = settings.ok_or_else(|| {
        Error::BadRequest(
            "the upload has no `settings` field with the experiment's settings".into(),
        )
    })?;
    let stored = experiments::store(
        &state.pool,
        &new_experiment(settings, researcher.id),
        references,
    )
    .await?;
    let id = stored.id;
    let pool = state.pool.clone();
    // Generation outlives the request; its outcome lands in the experiment's
    // status, which is where the dashboard looks for it.
    tokio::spawn(async move {
        if let Err(error) = experiments::generate(&pool, stored, &ProgressBar::hidden()).await {
            tracing::warn!("generating the stimuli of experiment {id} failed: {error}");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(CreatedExperiment { id })))
}

/// `GET /api/experiments`: the signed-in researcher's experiments, newest first.
#[utoipa::path(
    get,
    path = "/api/experiments",
    operation_id = "list_experiments",
    tag = "researchers",
    security(("percept_session" = [])),
    responses(
        (status = 200, description = "The signed-in researcher's experiments, newest first", body = Vec<ExperimentSummary>),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    researcher: SignedInResearcher,
) -> Result<Json<Vec<ExperimentSummary>>> {
    let experiments = sqlx::query_as!(
        ExperimentSummary,
        r#"
        SELECT e.id, e.name, e.split, e.category, e.status, e.triplets_total,
               e.triplets_generated, e.created_at,
               (SELECT email FROM researchers r WHERE r.id = e.owner_id) AS "owner_email!",
               (SELECT count(*) FROM judgments j
                JOIN assignment_trials at USING (assignment_id, position)
                JOIN triplets t ON t.id = at.triplet_id
                WHERE t.experiment_id = e.id AND t.sentinel_answer IS NULL)
               + (SELECT count(*) FROM jnd_judgments j
                  JOIN assignments a ON a.id = j.assignment_id
                  WHERE a.experiment_id = e.id AND j.valid) AS "judgments_collected!",
               -- An experiment has triplets or pairs, never both.
               e.judgments_per_triplet * (
                   (SELECT count(*) FROM triplets t
                    WHERE t.experiment_id = e.id AND t.sentinel_answer IS NULL)
                   + (SELECT count(*) FROM pairs p WHERE p.experiment_id = e.id)
               ) AS "judgments_target!"
        FROM experiments e
        WHERE e.id IN (SELECT experiment_id FROM experiment_access WHERE researcher_id = $1)
        ORDER BY e.created_at DESC, e.id DESC
        "#,
        researcher.id
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(experiments))
}

/// `GET /api/experiments/{id}`.
#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}",
    operation_id = "get_experiment",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id")),
    responses(
        (status = 200, description = "The experiment's settings, generation state and counts", body = ExperimentDetail),
        (status = 400, description = "A path parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    researcher: SignedInResearcher,
    PathParams(experiment_id): PathParams<i64>,
) -> Result<Json<ExperimentDetail>> {
    let row = sqlx::query!(
        r#"
        SELECT e.id, e.name, e.kind, e.split, e.category, e.patch_size, e.patches_per_image,
               e.sampler, e.seed, e.judgments_per_triplet, e.trials_per_assignment,
               e.sentinel_rate, e.max_assignments_per_worker,
               extract(epoch FROM e.assignment_ttl)::float8 / 60 AS "assignment_ttl_minutes!",
               e.completion_redirect_url, e.max_sentinel_failure_share, e.created_at,
               e.status, e.generation_error, e.triplets_total, e.triplets_generated,
               (SELECT count(*) FROM reference_images r WHERE r.experiment_id = e.id)
                   AS "reference_images!",
               (SELECT count(*) FROM triplets t
                WHERE t.experiment_id = e.id AND t.sentinel_answer IS NOT NULL)
                   AS "sentinel_triplets!",
               (SELECT count(*) FROM triplets t
                WHERE t.experiment_id = e.id AND t.sentinel_answer IS NULL)
                   AS "real_triplets!",
               (SELECT count(*) FROM workers w WHERE w.experiment_id = e.id) AS "workers!",
               (SELECT count(*) FROM judgments j
                JOIN assignments a ON a.id = j.assignment_id
                WHERE a.experiment_id = e.id)
               + (SELECT count(*) FROM jnd_judgments j
                  JOIN assignments a ON a.id = j.assignment_id
                  WHERE a.experiment_id = e.id) AS "judgments!",
               (SELECT count(*) FROM judgments j
                JOIN assignment_trials at USING (assignment_id, position)
                JOIN triplets t ON t.id = at.triplet_id
                WHERE t.experiment_id = e.id AND t.sentinel_answer IS NULL)
               + (SELECT count(*) FROM jnd_judgments j
                  JOIN assignments a ON a.id = j.assignment_id
                  WHERE a.experiment_id = e.id AND j.valid) AS "judgments_collected!",
               (SELECT count(*) FROM pairs p WHERE p.experiment_id = e.id) AS "pairs!",
               (SELECT email FROM researchers r WHERE r.id = e.owner_id) AS "owner_email!",
               e.owner_id = $2 AS "owned_by_you!"
        FROM experiments e
        WHERE e.id = $1 AND EXISTS (
            SELECT 1 FROM experiment_access x
            WHERE x.experiment_id = e.id AND x.researcher_id = $2
        )
        "#,
        experiment_id,
        researcher.id
    )
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| no_such_experiment(experiment_id))?;
    let flagged_workers = quality::flagged_worker_ids(&state.pool, experiment_id).await?;
    let jnd = if row.kind == "jnd" {
        Some(jnd::progress(&state.pool, experiment_id).await?)
    } else {
        None
    };
    Ok(Json(ExperimentDetail {
        id: row.id,
        name: row.name,
        kind: row.kind,
        split: row.split,
        category: row.category,
        patch_size: row.patch_size,
        patches_per_image: row.patches_per_image,
        sampler: row.sampler,
        seed: row.seed,
        judgments_per_triplet: row.judgments_per_triplet,
        trials_per_assignment: row.trials_per_assignment,
        sentinel_rate: row.sentinel_rate,
        max_assignments_per_worker: row.max_assignments_per_worker,
        assignment_ttl_minutes: row.assignment_ttl_minutes,
        completion_redirect_url: row.completion_redirect_url,
        max_sentinel_failure_share: row.max_sentinel_failure_share,
        created_at: row.created_at,
        owner_email: row.owner_email,
        owned_by_you: row.owned_by_you,
        status: row.status,
        generation_error: row.generation_error,
        triplets_total: row.triplets_total,
        triplets_generated: row.triplets_generated,
        reference_images: row.reference_images,
        sentinel_triplets: row.sentinel_triplets,
        workers: row.workers,
        judgments: row.judgments,
        judgments_collected: row.judgments_collected,
        // An experiment has triplets or pairs, never both.
        judgments_target: (row.real_triplets + row.pairs) * i64::from(row.judgments_per_triplet),
        flagged_workers: flagged_workers.len() as i64,
        worker_url: format!("/e/{experiment_id}"),
        jnd,
    }))
}

/// `GET /api/experiments/{id}/workers`.
#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/workers",
    operation_id = "list_workers",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id")),
    responses(
        (status = 200, description = "The experiment's workers and their records", body = Vec<WorkerStats>),
        (status = 400, description = "A path parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn workers(
    State(state): State<AppState>,
    researcher: SignedInResearcher,
    PathParams(experiment_id): PathParams<i64>,
) -> Result<Json<Vec<WorkerStats>>> {
    ensure_access(&state, &researcher, experiment_id).await?;
    let flagged: HashSet<i64> = quality::flagged_worker_ids(&state.pool, experiment_id)
        .await?
        .into_iter()
        .collect();
    let rows = sqlx::query!(
        r#"
        SELECT w.id, w.platform, w.external_id,
               count(DISTINCT a.id) AS "assignments!",
               count(DISTINCT a.id) FILTER (WHERE a.completed_at IS NOT NULL)
                   AS "assignments_completed!",
               count(j.id) + (
                   SELECT count(*) FROM jnd_judgments jnd
                   JOIN assignments mine ON mine.id = jnd.assignment_id
                   WHERE mine.worker_id = w.id
               ) AS "judgments!",
               count(j.id) FILTER (WHERE t.sentinel_answer IS NOT NULL) AS "sentinels_judged!",
               count(j.id) FILTER (WHERE j.chose_p1 = (t.sentinel_answer = 1))
                   AS "sentinels_passed!",
               percentile_cont(0.5) WITHIN GROUP (ORDER BY j.response_ms)
                   AS median_response_ms
        FROM workers w
        LEFT JOIN assignments a ON a.worker_id = w.id
        LEFT JOIN judgments j ON j.assignment_id = a.id
        LEFT JOIN assignment_trials at
            ON at.assignment_id = j.assignment_id AND at.position = j.position
        LEFT JOIN triplets t ON t.id = at.triplet_id
        WHERE w.experiment_id = $1
        GROUP BY w.id
        ORDER BY w.id
        "#,
        experiment_id
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|row| WorkerStats {
                flagged: flagged.contains(&row.id),
                sentinel_pass_rate: (row.sentinels_judged > 0)
                    .then(|| row.sentinels_passed as f64 / row.sentinels_judged as f64),
                id: row.id,
                platform: row.platform,
                external_id: row.external_id,
                assignments: row.assignments,
                assignments_completed: row.assignments_completed,
                judgments: row.judgments,
                sentinels_judged: row.sentinels_judged,
                sentinels_passed: row.sentinels_passed,
                median_response_ms: row.median_response_ms,
            })
            .collect(),
    ))
}

/// How a researcher comes to see an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Owner,
    SharedWith,
}

/// The experiment exists and the researcher owns it or has it shared with
/// them; otherwise 404.
pub(super) async fn ensure_access(
    state: &AppState,
    researcher: &SignedInResearcher,
    experiment_id: i64,
) -> Result<Access> {
    let is_owner = sqlx::query_scalar!(
        "SELECT bool_or(is_owner) FROM experiment_access
         WHERE experiment_id = $1 AND researcher_id = $2",
        experiment_id,
        researcher.id
    )
    .fetch_one(&state.pool)
    .await?;
    match is_owner {
        Some(true) => Ok(Access::Owner),
        Some(false) => Ok(Access::SharedWith),
        None => Err(no_such_experiment(experiment_id)),
    }
}

pub(super) fn no_such_experiment(experiment_id: i64) -> Error {
    Error::NotFound(format!("you have no experiment {experiment_id}"))
}
