//! `/api/jobs`: the long-running work (stimulus generation, scoring) on the
//! signed-in researcher's experiments, as the job queue holds it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One job of the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobSummary {
    pub id: i64,
    /// `generation` (an experiment's stimuli), `scoring` (a metric's distances)
    /// or `training` (a metric learned from judgments; `payload` names its
    /// `trained_model_id`, progress counts optimiser steps).
    pub kind: String,
    pub experiment_id: Option<i64>,
    /// What the kind needs beyond the experiment, e.g. `{"metric": "lpips-alex"}`.
    pub payload: serde_json::Value,
    /// `queued`, `running`, `done` or `failed` (see `error`).
    pub status: String,
    /// Units of work done (stimuli generated or scored), of `progress_total`
    /// when it is known.
    pub progress_done: i64,
    pub progress_total: Option<i64>,
    /// `host:pid` of the `percept serve` or `percept worker` process working
    /// on it, or that last did.
    pub owner_process: Option<String>,
    /// Times a process took it; a job fails once it reaches `max_attempts`.
    pub attempts: i32,
    pub max_attempts: i32,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}
