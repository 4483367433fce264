//! Scoring: metrics' distances for every triplet, computed by jobs that
//! worker processes take from PostgreSQL, so they can run on other machines.

mod jobs;
mod metric;

pub use jobs::{enqueue, progress, JobOutcome, Worker};
pub use metric::{
    default_metrics, default_weights_dir, Baseline, LoadedMetric, Metric, METRIC_FORMS,
};
