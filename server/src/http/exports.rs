//! `GET /api/experiments/{id}/export.tar.gz`: the BAPPS-style dataset,
//! streamed as it is packed; and its CSVs on their own
//! (`judgments.csv`, `jnd_judgments.csv`, `workers.csv`), pseudonymised the
//! same way unless identifiers are asked for.

use axum::{
    body::Body,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

use super::access::ExperimentAccess;
use super::extract::QueryParams;
use super::AppState;
use crate::datasets::{self, DatasetSink, ExportOptions, TarGzSink};
use crate::error::{Error, Result};

/// The query of the export download and of its CSVs.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Keep flagged workers' judgments too.
    #[serde(default)]
    include_flagged: bool,
    /// Keep the platforms' worker ids, study and session ids and user agents
    /// (for the researcher's own records); by default workers are
    /// pseudonymised and the rest left out, so the dataset can be published.
    #[serde(default)]
    with_identifiers: bool,
}

#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/export.tar.gz",
    operation_id = "export_dataset",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id"), ExportQuery),
    responses(
        (status = 200, description = "The BAPPS-style dataset, a gzipped tar streamed as it is packed (a failure midway truncates it)",
            content_type = "application/gzip", body = inline(super::openapi::GzipArchive),
            headers(("Content-Disposition" = String, description = "attachment; filename=\"percept-experiment-{experiment_id}.tar.gz\""))),
        (status = 400, description = "A path or query parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn tar_gz(
    State(state): State<AppState>,
    access: ExperimentAccess,
    QueryParams(query): QueryParams<ExportQuery>,
) -> Result<Response> {
    let experiment_id = access.experiment_id;
    let (chunks, receiver) = mpsc::channel::<Vec<u8>>(8);
    let options = ExportOptions {
        experiment_ids: vec![experiment_id],
        include_flagged: query.include_flagged,
        with_identifiers: query.with_identifiers,
    };
    tokio::spawn(async move {
        let mut sink = TarGzSink::new(chunks);
        let exported = match datasets::export(&state.pool, &options, &mut sink).await {
            Ok(_) => sink.finish().await,
            Err(error) => Err(error),
        };
        // The headers are gone by now: a failure can only cut the download
        // short, which the client sees as a truncated archive.
        if let Err(error) = exported {
            tracing::warn!(experiment_id, "export download failed: {error:#}");
        }
    });
    let body =
        Body::from_stream(ReceiverStream::new(receiver).map(Ok::<_, std::convert::Infallible>));
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"percept-experiment-{experiment_id}.tar.gz\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// Keeps the one table of an export that was asked for, and drops the rest.
struct OneFile {
    name: &'static str,
    bytes: Option<Vec<u8>>,
}

impl DatasetSink for OneFile {
    async fn add(&mut self, path: &str, bytes: &[u8]) -> anyhow::Result<()> {
        if path == self.name {
            self.bytes = Some(bytes.to_vec());
        }
        Ok(())
    }
}

/// One of the export's CSVs, exactly as in the `.tar.gz`, from the export's
/// tables alone (no patch image is read).
async fn csv_file(
    state: &AppState,
    access: &ExperimentAccess,
    query: &ExportQuery,
    name: &'static str,
) -> Result<Response> {
    let experiment_id = access.experiment_id;
    let options = ExportOptions {
        experiment_ids: vec![experiment_id],
        include_flagged: query.include_flagged,
        with_identifiers: query.with_identifiers,
    };
    let mut sink = OneFile { name, bytes: None };
    datasets::export_tables(&state.pool, &options, &mut sink)
        .await
        .map_err(Error::Internal)?;
    let bytes = sink.bytes.ok_or_else(|| {
        Error::NotFound(format!(
            "experiment {experiment_id} is a 2AFC experiment: it has no {name}; its judgments \
             are in judgments.csv"
        ))
    })?;
    let stem = name.trim_end_matches(".csv");
    let suffix = if query.with_identifiers {
        "-with-identifiers"
    } else {
        ""
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"percept-experiment-{experiment_id}-{stem}{suffix}.csv\""
                ),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/judgments.csv",
    operation_id = "export_judgments_csv",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id"), ExportQuery),
    responses(
        (status = 200, description = "One row per 2AFC judgment, as judgments.csv of the export (workers pseudonymised unless with_identifiers)",
            content_type = "text/csv", body = String),
        (status = 400, description = "A path or query parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn judgments_csv(
    State(state): State<AppState>,
    access: ExperimentAccess,
    QueryParams(query): QueryParams<ExportQuery>,
) -> Result<Response> {
    csv_file(&state, &access, &query, "judgments.csv").await
}

#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/jnd_judgments.csv",
    operation_id = "export_jnd_judgments_csv",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id"), ExportQuery),
    responses(
        (status = 200, description = "One row per JND judgment with its measured timing and validity, as jnd_judgments.csv of the export (workers pseudonymised unless with_identifiers)",
            content_type = "text/csv", body = String),
        (status = 400, description = "A path or query parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment, or it is a 2AFC experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn jnd_judgments_csv(
    State(state): State<AppState>,
    access: ExperimentAccess,
    QueryParams(query): QueryParams<ExportQuery>,
) -> Result<Response> {
    csv_file(&state, &access, &query, "jnd_judgments.csv").await
}

#[utoipa::path(
    get,
    path = "/api/experiments/{experiment_id}/workers.csv",
    operation_id = "export_workers_csv",
    tag = "researchers",
    security(("percept_session" = [])),
    params(("experiment_id" = i64, Path, description = "The experiment's id"), ExportQuery),
    responses(
        (status = 200, description = "One row per worker (assignments, judgments, sentinels, median response, flag), as workers.csv of the export (workers pseudonymised unless with_identifiers)",
            content_type = "text/csv", body = String),
        (status = 400, description = "A path or query parameter is malformed", body = super::openapi::ErrorBody),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
        (status = 404, description = "The signed-in researcher has no such experiment", body = super::openapi::ErrorBody),
    ),
)]
pub async fn workers_csv(
    State(state): State<AppState>,
    access: ExperimentAccess,
    QueryParams(query): QueryParams<ExportQuery>,
) -> Result<Response> {
    csv_file(&state, &access, &query, "workers.csv").await
}
