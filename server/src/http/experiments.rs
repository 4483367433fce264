//! `/api/experiments`: a researcher creates experiments from uploaded
//! reference images and follows them (generation, judgments, workers).
//! Everything here needs a signed-in researcher who owns the experiment or
//! has it shared with them; to anyone else it answers 404, as if the
//! experiment did not exist.

use app::api::experiments::{
    CreatedExperiment, ExperimentDeletion, ExperimentDetail, ExperimentPatch, ExperimentSummary,
    NewExperimentSettings, PatchedExperiment, WorkerStats,
};
use axum::{
    extract::{multipart::MultipartRejection, Multipart, State},
    http::StatusCode,
    Json,
};

use super::access::{ExperimentAccess, Role};
use super::extract::{JsonBody, QueryParams};
use super::method_upload::{unpack, MethodSettings};
use super::sessions::SignedInResearcher;
use super::AppState;
use crate::error::{Error, Result};
use crate::experiments::{self, lifecycle, NewExperiment, ReferenceFile};

/// Uploads of reference photos for one experiment fit comfortably below this.
pub const MAX_UPLOAD_BYTES: usize = 200 * 1024 * 1024;

/// `POST /api/experiments`, multipart: a `settings` JSON field and one or
/// more `images` files. Answers 202 with the id once the settings and images
/// are stored; a job of the queue generates the stimuli, and
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
    // A method comparison: its tree (an archive, or a folder's files by
    // relative path) and its design.
    let mut method_files: Option<Vec<(String, Vec<u8>)>> = None;
    let mut method_settings: Option<MethodSettings> = None;
    while let Some(field) = multipart.next_field().await.map_err(upload_error)? {
        match field.name() {
            Some("methods_archive") => {
                let file_name = field.file_name().unwrap_or("methods_archive").to_owned();
                let bytes = field.bytes().await.map_err(upload_error)?;
                if bytes.is_empty() {
                    continue;
                }
                let files = tokio::task::spawn_blocking(move || unpack(&file_name, &bytes))
                    .await
                    .map_err(anyhow::Error::from)??;
                method_files.get_or_insert_with(Vec::new).extend(files);
            }
            Some("method_files") => {
                let path = field.file_name().unwrap_or_default().to_owned();
                let bytes = field.bytes().await.map_err(upload_error)?;
                if path.is_empty() && bytes.is_empty() {
                    continue;
                }
                method_files
                    .get_or_insert_with(Vec::new)
                    .push((path, bytes.to_vec()));
            }
            Some("method_settings") => {
                let text = field.text().await.map_err(upload_error)?;
                let parsed: MethodSettings = serde_json::from_str(&text).map_err(|error| {
                    Error::BadRequest(format!("the method settings are not valid: {error}"))
                })?;
                method_settings = Some(parsed);
            }
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
    let comparison = match (method_files, method_settings) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(Error::BadRequest(
                "method settings without a method comparison: send its references/ and \
                 methods/<method>/ as `methods_archive` (.zip or .tar.gz) or `method_files`"
                    .into(),
            ))
        }
        (Some(_), _) if !references.is_empty() => {
            return Err(Error::BadRequest(
                "a method comparison takes its references from its archive or folder \
                 (references/), not from `images`"
                    .into(),
            ))
        }
        (Some(files), method_settings) => {
            let (tree_references, comparison) =
                method_settings.unwrap_or_default().comparison(files)?;
            references = tree_references;
            Some(comparison)
        }
    };
    // The stimuli are generated by a job of the queue, which any server or
    // worker takes; its outcome lands in the experiment's status.
    let stored = experiments::store_with_methods(
        &state.pool,
        &NewExperiment::from_settings(settings, researcher.id),
        references,
        comparison,
    )
    .await?;
    let id = stored.id;
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
    Ok(Json(
        experiments::overview::list(&state.pool, Some(researcher.id)).await?,
    ))
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
    access: ExperimentAccess,
) -> Result<Json<ExperimentDetail>> {
    Ok(Json(
        experiments::overview::detail(
            &state.pool,
            access.experiment_id,
            access.role == Role::Owner,
        )
        .await?,
    ))
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
    access: ExperimentAccess,
) -> Result<Json<Vec<WorkerStats>>> {
    Ok(Json(
        experiments::overview::workers(&state.pool, access.experiment_id).await?,
    ))
}

/// `PATCH /api/experiments/{id}`: close, reopen or archive the experiment,
/// and edit what is safe to edit after creation. Owner only.
#[utoipa::path(
    patch,
    path = "/api/experiments/{experiment_id}",
    operation_id = "patch_experiment",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id")),
    request_body = ExperimentPatch,
    responses(
        (status = 200, description = "Changed; the experiment as it is now, and how many running assignments were cut off", body = PatchedExperiment),
        (status = 400, description = "A value is out of range, or a setting that defines the stimuli (patch size, seed, …) was named: the error says why it cannot change", body = super::openapi::ErrorBody),
        (status = 415, description = "The body is not sent as `Content-Type: application/json`", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 403, description = "The experiment is shared with the signed-in researcher, who does not own it", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn patch(
    State(state): State<AppState>,
    access: ExperimentAccess,
    JsonBody(patch): JsonBody<ExperimentPatch>,
) -> Result<Json<PatchedExperiment>> {
    access.require_owner("change it")?;
    let assignments_cut_off = lifecycle::patch(
        &state.pool,
        access.experiment_id,
        &patch,
        lifecycle::SettingNames::ApiFields,
    )
    .await?;
    let experiment = experiments::overview::detail(&state.pool, access.experiment_id, true).await?;
    Ok(Json(PatchedExperiment {
        experiment,
        assignments_cut_off,
    }))
}

/// The query of `DELETE /api/experiments/{id}`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// The experiment's name: needed when it holds judgments.
    confirm: Option<String>,
}

/// `DELETE /api/experiments/{id}?confirm=NAME`: the experiment and
/// everything it holds, in one transaction. Owner only.
#[utoipa::path(
    delete,
    path = "/api/experiments/{experiment_id}",
    operation_id = "delete_experiment",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id"), DeleteQuery),
    responses(
        (status = 200, description = "Deleted; what was lost", body = ExperimentDeletion),
        (status = 400, description = "A parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 403, description = "The experiment is shared with the signed-in researcher, who does not own it", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
        (status = 409, description = "It holds judgments and `confirm` is not its name: the error says what deleting it would lose", body = super::openapi::ErrorBody),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    access: ExperimentAccess,
    QueryParams(query): QueryParams<DeleteQuery>,
) -> Result<Json<ExperimentDeletion>> {
    access.require_owner("delete it")?;
    Ok(Json(
        lifecycle::delete(
            &state.pool,
            access.experiment_id,
            query.confirm.as_deref(),
            "send ?confirm= with its name",
        )
        .await?,
    ))
}
