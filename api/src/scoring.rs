//! `/api/experiments/{id}/scoring`: metrics' distances computed by scoring jobs.

use serde::{Deserialize, Serialize};

/// `POST` body: the metrics to compute, by name (`lpips-alex`, `ssim-lab`,
/// …); empty for the default set (LPIPS alex and vgg, L2, SSIM, PSNR).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScoringRequest {
    #[serde(default)]
    pub metrics: Vec<String>,
}

/// A metric the server scores with (`GET /api/metrics`): every metric of
/// its catalogue with official weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricOption {
    /// The name `metrics` in a [`ScoringRequest`] takes.
    pub name: String,
    /// What it stores and at which patch sizes.
    pub description: String,
    /// Whether an empty request scores it.
    pub default: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueuedJobs {
    pub job_ids: Vec<i64>,
}

/// Where one metric stands on an experiment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricProgress {
    pub metric: String,
    /// Stimuli (triplets or JND pairs) with this metric's distances so far,
    /// of all the experiment's.
    pub scored: i64,
    pub stimuli: i64,
    /// The latest job's state: pending, done or failed (with its error).
    pub state: Option<String>,
    pub error: Option<String>,
}
