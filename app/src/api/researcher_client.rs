//! The researcher's JSON API, called from the hydrated dashboard pages.
//! Browser only: these use the window's `fetch`, so the server never calls
//! them. A read answered 401 sends the browser to the sign-in page.

use serde::{de::DeserializeOwned, Serialize};
use web_sys::FormData;

use super::client::{fetch, ApiError, RequestBody};
use super::experiments::{
    CreatedExperiment, ExperimentDeletion, ExperimentDetail, ExperimentPatch, ExperimentShare,
    ExperimentSummary, NewShare, PairPage, PatchedExperiment, TripletPage, WorkerStats,
};
use super::jobs::JobSummary;
use super::scoring::{MetricOption, MetricProgress, QueuedJobs, ScoringRequest};
use super::sessions::{Researcher, SignIn};
use super::training::{QueuedTraining, TrainedModelSummary, TrainingRequest};

pub const SIGN_IN_PAGE: &str = "/sign-in";

pub async fn sign_in(sign_in: &SignIn) -> Result<Researcher, ApiError> {
    fetch("POST", "/api/session", Some(json(sign_in)?)).await
}

pub async fn sign_out() -> Result<(), ApiError> {
    fetch::<serde_json::Value>("DELETE", "/api/session", None)
        .await
        .map(|_| ())
}

pub async fn experiments() -> Result<Vec<ExperimentSummary>, ApiError> {
    read("/api/experiments").await
}

pub async fn experiment(id: i64) -> Result<ExperimentDetail, ApiError> {
    read(&format!("/api/experiments/{id}")).await
}

pub async fn workers(experiment_id: i64) -> Result<Vec<WorkerStats>, ApiError> {
    read(&format!("/api/experiments/{experiment_id}/workers")).await
}

pub async fn triplets(
    experiment_id: i64,
    offset: i64,
    limit: i64,
) -> Result<TripletPage, ApiError> {
    read(&format!(
        "/api/experiments/{experiment_id}/triplets?offset={offset}&limit={limit}"
    ))
    .await
}

pub async fn pairs(experiment_id: i64, offset: i64, limit: i64) -> Result<PairPage, ApiError> {
    read(&format!(
        "/api/experiments/{experiment_id}/pairs?offset={offset}&limit={limit}"
    ))
    .await
}

/// Closes, reopens or archives the experiment, or edits its safe settings.
pub async fn patch_experiment(
    experiment_id: i64,
    patch: &ExperimentPatch,
) -> Result<PatchedExperiment, ApiError> {
    let path = format!("/api/experiments/{experiment_id}");
    redirect_if_signed_out(fetch("PATCH", &path, Some(json(patch)?)).await)
}

/// Deletes the experiment; `confirm` is its name, needed once it holds judgments.
pub async fn delete_experiment(
    experiment_id: i64,
    confirm: &str,
) -> Result<ExperimentDeletion, ApiError> {
    let confirm = String::from(js_sys::encode_uri_component(confirm));
    let path = format!("/api/experiments/{experiment_id}?confirm={confirm}");
    redirect_if_signed_out(fetch("DELETE", &path, None).await)
}

pub async fn jobs() -> Result<Vec<JobSummary>, ApiError> {
    read("/api/jobs").await
}

/// Queues a failed job again from a clean slate.
pub async fn retry_job(job_id: i64) -> Result<JobSummary, ApiError> {
    redirect_if_signed_out(fetch("POST", &format!("/api/jobs/{job_id}/retry"), None).await)
}

/// Removes a finished or failed job from the list.
pub async fn dismiss_job(job_id: i64) -> Result<(), ApiError> {
    let path = format!("/api/jobs/{job_id}");
    redirect_if_signed_out(fetch::<serde_json::Value>("DELETE", &path, None).await).map(|_| ())
}

pub async fn scoring_progress(experiment_id: i64) -> Result<Vec<MetricProgress>, ApiError> {
    read(&format!("/api/experiments/{experiment_id}/scoring")).await
}

/// Every metric the server scores with (its catalogue).
pub async fn metric_options() -> Result<Vec<MetricOption>, ApiError> {
    read("/api/metrics").await
}

/// Queues the metrics (by name); scoring workers take it from there.
pub async fn start_scoring(
    experiment_id: i64,
    metrics: Vec<String>,
) -> Result<QueuedJobs, ApiError> {
    let path = format!("/api/experiments/{experiment_id}/scoring");
    let request = ScoringRequest { metrics };
    redirect_if_signed_out(fetch("POST", &path, Some(json(&request)?)).await)
}

pub async fn trained_metrics(experiment_id: i64) -> Result<Vec<TrainedModelSummary>, ApiError> {
    read(&format!("/api/experiments/{experiment_id}/training")).await
}

/// Queues a training job; a worker taking `training` jobs runs it.
pub async fn start_training(
    experiment_id: i64,
    request: &TrainingRequest,
) -> Result<QueuedTraining, ApiError> {
    let path = format!("/api/experiments/{experiment_id}/training");
    redirect_if_signed_out(fetch("POST", &path, Some(json(request)?)).await)
}

pub async fn shares(experiment_id: i64) -> Result<Vec<ExperimentShare>, ApiError> {
    read(&format!("/api/experiments/{experiment_id}/shares")).await
}

pub async fn share(experiment_id: i64, email: String) -> Result<ExperimentShare, ApiError> {
    let path = format!("/api/experiments/{experiment_id}/shares");
    redirect_if_signed_out(fetch("POST", &path, Some(json(&NewShare { email })?)).await)
}

pub async fn unshare(experiment_id: i64, researcher_id: i64) -> Result<(), ApiError> {
    let path = format!("/api/experiments/{experiment_id}/shares/{researcher_id}");
    redirect_if_signed_out(fetch::<serde_json::Value>("DELETE", &path, None).await).map(|_| ())
}

/// Uploads a `settings` JSON field and `images` files (multipart).
pub async fn create_experiment(upload: &FormData) -> Result<CreatedExperiment, ApiError> {
    let created = fetch("POST", "/api/experiments", Some(RequestBody::Form(upload))).await;
    redirect_if_signed_out(created)
}

async fn read<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    redirect_if_signed_out(fetch("GET", path, None).await)
}

/// Dashboard data needs a session: without one, off to the sign-in page.
fn redirect_if_signed_out<T>(result: Result<T, ApiError>) -> Result<T, ApiError> {
    if let Err(ApiError::Status { status: 401, .. }) = &result {
        if let Some(window) = web_sys::window() {
            let _ = window.location().set_href(SIGN_IN_PAGE);
        }
    }
    result
}

fn json(body: &impl Serialize) -> Result<RequestBody<'static>, ApiError> {
    serde_json::to_string(body)
        .map(RequestBody::Json)
        .map_err(|error| ApiError::Network(format!("unencodable request: {error}")))
}
