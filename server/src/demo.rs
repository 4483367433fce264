//! The demo that `cargo xtask demo` opens on: a 2AFC experiment on a few
//! natural photos, a JND experiment on its triplets, and a method
//! comparison, with judgments from synthetic workers already in them and
//! their scoring queued.
//!
//! The method comparison needs algorithms' outputs, and the demo ships none:
//! its "methods" are the photos shrunk and enlarged back with the `image`
//! crate's filters (bicubic at ×2, ×3 and ×4, Lanczos3 at ×3), computed here
//! and named for what they are. They stand in for super-resolution outputs
//! the way a bicubic baseline does in SR papers, and simulated observers
//! judge them, so its report shows the ranking section at work.

use std::time::Duration;

use indicatif::ProgressBar;
use sqlx::PgPool;

use crate::error::Result;
use distortions::image::imageops::{self, FilterType};

use crate::experiments::{
    self, ExperimentKind, MethodComparison, MethodOutputFile, NewExperiment, ReferenceFile,
};
use crate::jnd::JndSettings;
use crate::researchers;
use crate::simulation::{self, ObserverMetric, SimulationSettings};
use crate::stimuli::SamplerSettings;

pub const RESEARCHER_EMAIL: &str = "demo@percept.local";
/// Printed on start: the demo runs on loopback, for the person at the keyboard.
pub const RESEARCHER_PASSWORD: &str = "percept-demo";
const TWO_AFC_NAME: &str = "Demo: natural photos";
const JND_NAME: &str = "Demo: natural photos (JND)";
const METHODS_NAME: &str = "Demo: bicubic and Lanczos down/up-sampling as methods";

/// The method comparison's stand-in methods: (name, filter, factor).
const RESAMPLING_METHODS: [(&str, FilterType, u32); 4] = [
    ("bicubic-x2", FilterType::CatmullRom, 2),
    ("bicubic-x3", FilterType::CatmullRom, 3),
    ("bicubic-x4", FilterType::CatmullRom, 4),
    ("lanczos3-x3", FilterType::Lanczos3, 3),
];

/// The demo's experiments.
pub struct Demo {
    pub two_afc: i64,
    pub jnd: i64,
    /// The method comparison of down/up-sampled photos.
    pub methods: i64,
    /// Whether the 2AFC and JND experiments, and the method comparison,
    /// were just made (and so still need their judgments). Re-runs find the
    /// ones made before.
    pub created: bool,
    pub methods_created: bool,
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
    // Each experiment is made once; a demo made before the method
    // comparison existed gets it added (and only it simulated).
    if let (Some(two_afc), Some(jnd)) = (existing(TWO_AFC_NAME).await?, existing(JND_NAME).await?) {
        let (methods, methods_created) = match existing(METHODS_NAME).await? {
            Some(id) => (id, false),
            None => (method_comparison(pool, owner_id, &photos).await?, true),
        };
        return Ok(Demo {
            two_afc,
            jnd,
            methods,
            created: false,
            methods_created,
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
    let method_photos: Vec<ReferenceFile> = photos
        .iter()
        .map(|photo| ReferenceFile {
            file_name: photo.file_name.clone(),
            bytes: photo.bytes.clone(),
        })
        .collect();
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
    // Made last, so the 2AFC and JND experiments keep ids 1 and 2.
    let methods = method_comparison(pool, owner_id, &method_photos).await?;
    Ok(Demo {
        two_afc,
        jnd,
        methods,
        created: true,
        methods_created: true,
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

/// The photos shrunk by each method's factor and enlarged back to their
/// size with its filter, as PNGs named like the photos.
pub fn resampled_outputs(photos: &[ReferenceFile]) -> Result<Vec<MethodOutputFile>> {
    let mut outputs = Vec::new();
    for photo in photos {
        let image = crate::stimuli::image_decoding::decode_rgb8(&photo.bytes).map_err(|error| {
            crate::error::Error::BadRequest(format!("demo photo {}: {error}", photo.file_name))
        })?;
        let (width, height) = image.dimensions();
        let stem = photo
            .file_name
            .rsplit_once('.')
            .map_or(photo.file_name.as_str(), |(stem, _)| stem);
        for (method, filter, factor) in RESAMPLING_METHODS {
            let small = imageops::resize(
                &image,
                (width / factor).max(1),
                (height / factor).max(1),
                filter,
            );
            let back = imageops::resize(&small, width, height, filter);
            outputs.push(MethodOutputFile {
                method: method.into(),
                file_name: format!("{stem}.png"),
                bytes: crate::stimuli::encode_png(&back)?,
            });
        }
    }
    Ok(outputs)
}

/// The method comparison: 4 patches per photo, 3 of the 6 pairs of methods
/// per patch, 5 judgments per triplet.
async fn method_comparison(pool: &PgPool, owner_id: i64, photos: &[ReferenceFile]) -> Result<i64> {
    let settings = NewExperiment {
        owner_id,
        name: METHODS_NAME.into(),
        kind: ExperimentKind::TwoAfc,
        split: "val".into(),
        category: Some("resampling".into()),
        patch_size: 64,
        patches_per_image: 4,
        sampler: SamplerSettings::default(),
        seed: 2017,
        judgments_per_stimulus: 5,
        trials_per_assignment: 20,
        sentinel_rate: 0.1,
        max_assignments_per_worker: 4,
        assignment_ttl: Duration::from_secs(30 * 60),
        completion_redirect_url: None,
        max_sentinel_failure_share: 0.25,
    };
    let outputs = resampled_outputs(photos)?;
    let references = photos
        .iter()
        .map(|photo| ReferenceFile {
            file_name: photo.file_name.clone(),
            bytes: photo.bytes.clone(),
        })
        .collect();
    let comparison = MethodComparison {
        pairs_per_patch: Some(3),
        min_patch_variance: Some(50.0),
        outputs,
        ..Default::default()
    };
    Ok(experiments::create_with_methods(pool, &settings, references, comparison, None).await?)
}

/// Synthetic workers, one in ten answering at random, each doing one
/// assignment of each experiment (so both are partly done, as running ones
/// would be); then [`demo_metrics`] are queued for the job runner.
pub async fn simulate_judgments(pool: &PgPool, base_url: &str, demo: &Demo) -> anyhow::Result<()> {
    // The method comparison's workers go on until every triplet has its
    // judgments, so its ranking has enough to go on.
    for (experiment_id, workers, assignments, wanted) in [
        (demo.two_afc, 10, Some(1), demo.created),
        (demo.jnd, 6, Some(1), demo.created),
        (demo.methods, 12, None, demo.methods_created),
    ] {
        if !wanted {
            continue;
        }
        let settings = SimulationSettings {
            workers,
            careless_share: 0.1,
            metric: ObserverMetric::DSSIM,
            noise: 0.5,
            assignments_per_worker: assignments,
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
        crate::scoring::enqueue_all(pool, experiment_id, &demo_metrics()).await?;
    }
    Ok(())
}
