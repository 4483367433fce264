//! Scoring: metrics' distances for every stimulus, computed by jobs of the
//! queue that any `percept serve` or `percept worker` takes, so they can run
//! on other machines.

mod jobs;
mod metric;

pub use jobs::{enqueue, enqueue_all, progress, runner, ScoringJobs};
pub use metric::{
    catalogue, default_metrics, default_weights_dir, metric_help, LoadedMetric, Metric,
};
