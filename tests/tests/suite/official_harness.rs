//! Conformance 3 of the metrics: the official BAPPS harness, run on a
//! Percept export, gives every metric the report's 2AFC score and JND mAP.
//!
//! The harness is the `lpips` package's own code — `lpips.Trainer(model=
//! 'l2'|'ssim'|'lpips'|'baseline', colorspace=…)`, `score_2afc_dataset`,
//! `score_jnd_dataset` — fed by loaders equivalent to the official BAPPS
//! ones (`python/bapps_harness.py`, `python/bapps_loaders.py`). The stimuli
//! are natural photos (the demo's), so the dark levels the harness's
//! `tensor2im` truncation shifts are many (see `metrics/src/baselines.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use indicatif::ProgressBar;
use percept_tests::serial;
use percept_tests::two_afc::{create_experiment_from_photos, experiment_settings};
use percept_tests::{python, TestApp};
use server::datasets::{self, ExportOptions, FolderSink};
use server::experiments::{self, ExperimentKind, NewExperiment};
use server::jnd::JndSettings;
use server::scoring::{self, Metric};
use server::simulation::{self, ObserverMetric, SimulationSettings};
use sqlx::PgPool;

/// Every model of the official harness, by Percept's name for it.
const HARNESS_METRICS: [&str; 8] = [
    "l2-rgb",
    "l2-lab",
    "ssim-rgb",
    "ssim-lab",
    "lpips-alex",
    "lpips-vgg",
    "lpips-alex-nolin",
    "lpips-vgg-nolin",
];
const TOLERANCE: f64 = 1e-6;

fn weights_dir() -> PathBuf {
    std::env::var_os("PERCEPT_WEIGHTS_DIR")
        .map(PathBuf::from)
        .expect("PERCEPT_WEIGHTS_DIR (cargo xtask test sets it)")
}

/// A 2AFC experiment on four photos and a JND experiment on its triplets,
/// both judged by simulated workers (one careless in ten).
async fn judged_experiments(pool: &PgPool) -> (i64, i64) {
    let mut settings = experiment_settings(pool).await;
    settings.split = "val".into();
    settings.category = Some("photos".into());
    settings.patches_per_image = 30;
    settings.judgments_per_stimulus = 3;
    settings.trials_per_assignment = 20;
    settings.sentinel_rate = 0.1;
    settings.max_assignments_per_worker = 4;
    let two_afc = create_experiment_from_photos(pool, &settings, 4).await;
    let jnd_settings = NewExperiment {
        name: "harness JND".into(),
        kind: ExperimentKind::Jnd(JndSettings {
            source_experiment_id: Some(two_afc),
            ..JndSettings::default()
        }),
        trials_per_assignment: 30,
        ..settings
    };
    let jnd = experiments::create(pool, &jnd_settings, Vec::new(), None)
        .await
        .unwrap();
    let app = TestApp::spawn(pool.clone()).await;
    for (experiment_id, seed) in [(two_afc, 1), (jnd, 2)] {
        let simulation = SimulationSettings {
            workers: 10,
            careless_share: 0.1,
            metric: ObserverMetric::DSSIM,
            noise: 0.5,
            assignments_per_worker: None,
            concurrency: 2,
            seed,
        };
        simulation::run(
            &app.url(""),
            experiment_id,
            &simulation,
            &ProgressBar::hidden(),
        )
        .await
        .unwrap();
    }
    (two_afc, jnd)
}

/// `python/bapps_harness.py` on the export: (task, metric) → (score, count).
fn official_scores(root: &Path) -> BTreeMap<(String, String), (f64, usize)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/bapps_harness.py");
    let output = Command::new(python())
        .arg(script)
        .arg(weights_dir())
        .arg(root)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The package prints its own progress lines among the results.
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(row["folder"], "val/photos", "{row}");
            let key = (
                row["task"].as_str().unwrap().to_owned(),
                row["metric"].as_str().unwrap().to_owned(),
            );
            let value = (
                row["score"].as_f64().unwrap(),
                row["count"].as_u64().unwrap() as usize,
            );
            (key, value)
        })
        .collect()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_official_harness_scores_an_export_as_the_report_does(pool: PgPool) {
    let _turn = serial::take_turn(serial::Kind::LoadsEveryCore).await;
    let (two_afc, jnd) = judged_experiments(&pool).await;
    let mut runner = scoring::runner(pool.clone(), weights_dir());
    for experiment_id in [two_afc, jnd] {
        for name in HARNESS_METRICS {
            let metric: Metric = name.parse().unwrap();
            scoring::enqueue(&pool, experiment_id, &metric)
                .await
                .unwrap();
            let outcome = runner.run_next(None).await.unwrap().unwrap();
            assert_eq!(outcome.error, None, "{name}");
        }
    }

    let out = tempfile::tempdir().unwrap();
    let options = ExportOptions {
        experiment_ids: vec![two_afc, jnd],
        include_flagged: false,
        with_identifiers: false,
    };
    let summary = datasets::export(&pool, &options, &mut FolderSink::new(out.path().to_owned()))
        .await
        .unwrap();
    let official = official_scores(out.path());
    let report = server::reports::build(&pool, &[two_afc, jnd], false)
        .await
        .unwrap();
    assert!(
        report.counts.triplets >= 100 && report.counts.pairs >= 200,
        "{:?}",
        report.counts
    );
    assert_eq!(
        (summary.triplets, summary.pairs),
        (report.counts.triplets, report.counts.pairs)
    );

    let mut largest: (f64, String) = (0.0, String::new());
    for name in HARNESS_METRICS {
        let two_afc_row = report.metrics.iter().find(|m| m.metric == name).unwrap();
        let jnd_row = report.jnd.iter().find(|m| m.metric == name).unwrap();
        for (task, ours, count) in [
            ("2afc", two_afc_row.two_afc.value, two_afc_row.triplets),
            ("jnd", jnd_row.map.value, jnd_row.pairs),
        ] {
            let (theirs, their_count) = official[&(task.to_owned(), name.to_owned())];
            assert_eq!(count, their_count, "{task} {name}: items");
            let difference = (ours - theirs).abs();
            println!("{task} {name}: report {ours:.9}, official harness {theirs:.9}, |difference| {difference:.2e}");
            assert!(
                difference <= TOLERANCE,
                "{task} {name}: report {ours}, official harness {theirs}"
            );
            if difference >= largest.0 {
                largest = (difference, format!("{task} {name}"));
            }
        }
    }
    println!("largest difference: {:.2e} ({})", largest.0, largest.1);
}
