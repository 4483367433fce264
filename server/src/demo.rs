//! The demo that `cargo xtask demo` opens on: a 2AFC experiment on a few
//! natural photos, with judgments from synthetic workers already in it.

use std::time::Duration;

use indicatif::ProgressBar;
use sqlx::PgPool;

use crate::error::Result;
use crate::experiments::{self, ExperimentKind, NewExperiment, ReferenceFile};
use crate::researchers;
use crate::simulation::{self, ObserverMetric, SimulationSettings};
use crate::stimuli::SamplerSettings;

pub const RESEARCHER_EMAIL: &str = "demo@percept.local";
/// Printed on start: the demo runs on loopback, for the person at the keyboard.
pub const RESEARCHER_PASSWORD: &str = "percept-demo";
const EXPERIMENT_NAME: &str = "Demo: natural photos";

/// The demo experiment's id, and whether it was just created (and so still
/// needs its simulated judgments). Re-runs find the one made before.
pub async fn experiment(pool: &PgPool, photos: Vec<ReferenceFile>) -> Result<(i64, bool)> {
    let owner_id = match researchers::id_by_email(pool, RESEARCHER_EMAIL).await {
        Ok(id) => id,
        Err(_) => researchers::add(pool, RESEARCHER_EMAIL, RESEARCHER_PASSWORD).await?,
    };
    let existing = sqlx::query_scalar!(
        "SELECT id FROM experiments WHERE owner_id = $1 AND name = $2",
        owner_id,
        EXPERIMENT_NAME
    )
    .fetch_optional(pool)
    .await?;
    if let Some(id) = existing {
        return Ok((id, false));
    }
    let settings = NewExperiment {
        owner_id,
        name: EXPERIMENT_NAME.into(),
        kind: ExperimentKind::TwoAfc,
        split: "val".into(),
        category: Some("photos".into()),
        patch_size: 64,
        patches_per_image: 20,
        sampler: SamplerSettings::default(),
        seed: 2018,
        judgments_per_triplet: 5,
        trials_per_assignment: 20,
        sentinel_rate: 0.1,
        max_assignments_per_worker: 3,
        assignment_ttl: Duration::from_secs(30 * 60),
        completion_redirect_url: None,
        max_sentinel_failure_share: 0.5,
    };
    let id = experiments::create(pool, &settings, photos, &ProgressBar::hidden()).await?;
    Ok((id, true))
}

/// Ten synthetic workers, one of them careless, each doing one assignment
/// (the experiment is partly done, as a running one would be); then the
/// default metrics are queued, for the scoring worker to compute.
pub async fn simulate_judgments(
    pool: &PgPool,
    base_url: &str,
    experiment_id: i64,
) -> anyhow::Result<()> {
    let settings = SimulationSettings {
        workers: 10,
        careless_share: 0.1,
        metric: ObserverMetric::Dssim,
        noise: 0.5,
        assignments_per_worker: Some(1),
        concurrency: 4,
        seed: 2018,
    };
    let summary =
        simulation::run(base_url, experiment_id, &settings, &ProgressBar::hidden()).await?;
    tracing::info!(
        judgments = summary.judgments,
        "the demo experiment has judgments from {} simulated workers",
        summary.workers
    );
    for metric in crate::scoring::default_metrics() {
        crate::scoring::enqueue(pool, experiment_id, &metric).await?;
    }
    Ok(())
}
