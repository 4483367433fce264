//! The demo that `cargo xtask demo` opens on: a 2AFC experiment on a few
//! natural photos and a JND experiment on its triplets, with judgments from
//! synthetic workers already in them and their scoring queued.

use std::time::Duration;

use indicatif::ProgressBar;
use sqlx::PgPool;

use crate::error::Result;
use crate::experiments::{self, ExperimentKind, NewExperiment, ReferenceFile};
use crate::jnd::JndSettings;
use crate::researchers;
use crate::simulation::{self, ObserverMetric, SimulationSettings};
use crate::stimuli::SamplerSettings;

pub const RESEARCHER_EMAIL: &str = "demo@percept.local";
/// Printed on start: the demo runs on loopback, for the person at the keyboard.
pub const RESEARCHER_PASSWORD: &str = "percept-demo";
const TWO_AFC_NAME: &str = "Demo: natural photos";
const JND_NAME: &str = "Demo: natural photos (JND)";

/// The demo's experiments.
pub struct Demo {
    pub two_afc: i64,
    pub jnd: i64,
    /// Whether they were just made (and so still need their judgments).
    /// Re-runs find the ones made before.
    pub created: bool,
}

pub async fn experiments(pool: &PgPool, photos: Vec<ReferenceFile>) -> Result<Demo> {
    let owner_id = match researchers::id_by_email(pool, RESEARCHER_EMAIL).await {
        Ok(id) => id,
        Err(_) => researchers::add(pool, RESEARCHER_EMAIL, RESEARCHER_PASSWORD).await?,
    };
    let existing = |name: &'static str| {
        sqlx::query_scalar!(
            "SELECT id FROM experiments WHERE owner_id = $1 AND name = $2",
            owner_id,
            name
        )
        .fetch_optional(pool)
    };
    if let (Some(two_afc), Some(jnd)) = (existing(TWO_AFC_NAME).await?, existing(JND_NAME).await?) {
        return Ok(Demo {
            two_afc,
            jnd,
            created: false,
        });
    }
    let two_afc_settings = NewExperiment {
        owner_id,
        name: TWO_AFC_NAME.into(),
        kind: ExperimentKind::TwoAfc,
        split: "val".into(),
        category: Some("photos".into()),
        patch_size: 64,
        patches_per_image: 20,
        sampler: SamplerSettings::default(),
        seed: 2018,
        judgments_per_stimulus: 5,
        trials_per_assignment: 20,
        // Four sentinels per assignment, and one failure in four flags a
        // worker: the worker answering at random almost surely shows up
        // flagged, as the dashboard would show such a worker.
        sentinel_rate: 0.2,
        max_assignments_per_worker: 3,
        assignment_ttl: Duration::from_secs(30 * 60),
        completion_redirect_url: None,
        max_sentinel_failure_share: 0.25,
    };
    let two_afc = experiments::create(pool, &two_afc_settings, photos, None).await?;
    // BAPPS' JND protocol on the 2AFC experiment's own stimuli.
    let jnd_settings = NewExperiment {
        name: JND_NAME.into(),
        kind: ExperimentKind::Jnd(JndSettings {
            source_experiment_id: Some(two_afc),
            ..JndSettings::default()
        }),
        judgments_per_stimulus: 3,
        trials_per_assignment: 30,
        ..two_afc_settings
    };
    let jnd = experiments::create(pool, &jnd_settings, Vec::new(), None).await?;
    Ok(Demo {
        two_afc,
        jnd,
        created: true,
    })
}

/// The default metrics and the comparison set (DISTS, FSIM, FSIMc, GMSD,
/// VIFp), so that the demo's report shows where LPIPS stands among them.
/// MS-SSIM is left out: its five scales need 161×161 and the demo's patches
/// are BAPPS' 64×64 (a job for it would fail saying so).
pub fn demo_metrics() -> Vec<crate::scoring::Metric> {
    let mut metrics = crate::scoring::default_metrics();
    for name in ["dists", "fsim", "fsimc", "gmsd", "vif"] {
        metrics.push(name.parse().expect("a catalogue name"));
    }
    metrics
}

/// Synthetic workers, one in ten answering at random, each doing one
/// assignment of each experiment (so both are partly done, as running ones
/// would be); then [`demo_metrics`] are queued for the job runner.
pub async fn simulate_judgments(pool: &PgPool, base_url: &str, demo: &Demo) -> anyhow::Result<()> {
    for (experiment_id, workers) in [(demo.two_afc, 10), (demo.jnd, 6)] {
        let settings = SimulationSettings {
            workers,
            careless_share: 0.1,
            metric: ObserverMetric::DSSIM,
            noise: 0.5,
            assignments_per_worker: Some(1),
            concurrency: 4,
            seed: 2018,
        };
        let summary =
            simulation::run(base_url, experiment_id, &settings, &ProgressBar::hidden()).await?;
        tracing::info!(
            experiment_id,
            judgments = summary.judgments,
            "demo judgments from {} simulated workers",
            summary.workers
        );
        for metric in demo_metrics() {
            crate::scoring::enqueue(pool, experiment_id, &metric).await?;
        }
    }
    Ok(())
}
