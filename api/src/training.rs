//! `/api/experiments/{id}/training`: metrics learned from the experiment's
//! 2AFC judgments by training jobs (LPIPS lin, tune or scratch).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `POST` body: train a metric on this experiment (and `also_train_on`),
/// validating on `validate_on` or on a held-out share. Unset numbers take
/// the official trainer's defaults (5 + 5 epochs, batch 50, rate 1e-4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrainingRequest {
    /// The metric's name: it is then scored as `lpips-alex:NAME`.
    pub name: String,
    /// `alex` or `vgg`.
    pub net: String,
    /// `lin`, `tune` or `scratch`.
    pub mode: String,
    #[serde(default)]
    pub also_train_on: Vec<i64>,
    #[serde(default)]
    pub validate_on: Vec<i64>,
    pub validation_share: Option<f64>,
    pub epochs: Option<usize>,
    pub decay_epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub learning_rate: Option<f64>,
    pub seed: Option<u64>,
    /// `cpu`, `cuda` or `auto` (the default), on the worker that trains.
    pub device: Option<String>,
    #[serde(default)]
    pub include_flagged: bool,
    /// Replace a finished or failed metric of the same name.
    #[serde(default)]
    pub overwrite: bool,
}

/// The queued training job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueuedTraining {
    pub model_id: i64,
    pub job_id: i64,
    /// Overlaps between the validation and training data, in words.
    pub warnings: Vec<String>,
}

/// One finished epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EpochPoint {
    pub epoch: usize,
    pub learning_rate: f64,
    /// Mean training loss (binary cross-entropy, with dropout).
    pub loss: f64,
    pub train_2afc: f64,
    pub validation_2afc: Option<f64>,
    pub seconds: f64,
}

/// A metric trained (or being trained) on the experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrainedModelSummary {
    pub id: i64,
    pub name: String,
    /// The name to score and report it by, e.g. `lpips-alex:NAME`.
    pub metric: String,
    pub net: String,
    pub mode: String,
    /// `queued`, `training`, `done` or `failed` (see `error`).
    pub status: String,
    pub training_experiment_ids: Vec<i64>,
    pub validation_experiment_ids: Vec<i64>,
    pub total_epochs: usize,
    pub epochs: Vec<EpochPoint>,
    /// Triplet and judgment counts, seed, versions.
    pub provenance: serde_json::Value,
    pub weights_sha256: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}
