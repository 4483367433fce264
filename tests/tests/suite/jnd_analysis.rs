//! JND pairs through scoring, the report's mAP and the BAPPS-style export,
//! checked against the files as the official scorer reads them (numpy).

use std::path::PathBuf;
use std::process::Command;

use indicatif::ProgressBar;
use percept_tests::jnd::{jnd_experiment_settings, jnd_judgment, timing};
use percept_tests::two_afc::create_experiment;
use percept_tests::{python, TestApp};
use reqwest::StatusCode;
use server::datasets::{self, ExportOptions, FolderSink, ImportOptions};
use server::scoring;
use sqlx::PgPool;

/// A JND experiment whose every trial three workers answered (one trial
/// with a gap two frames long, so invalid and served again).
async fn judged_jnd_experiment(pool: &PgPool) -> i64 {
    let mut settings = jnd_experiment_settings(pool, 0.2).await;
    settings.patches_per_image = 8;
    settings.judgments_per_stimulus = 3;
    settings.trials_per_assignment = 10;
    let experiment_id = create_experiment(pool, &settings, 1).await;
    let app = TestApp::spawn(pool.clone()).await;
    for worker in ["w1", "w2", "w3"] {
        let (status, assignment) = app.request_assignment(experiment_id, worker).await;
        assert_eq!(status, StatusCode::CREATED, "{assignment}");
        let token = assignment["token"].as_str().unwrap().to_owned();
        let mut positions: Vec<i64> = assignment["jnd"]["trials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|trial| trial["position"].as_i64().unwrap())
            .collect();
        let mut next = 0;
        while next < positions.len() {
            let position = positions[next];
            let gap_error = if worker == "w1" && position == 0 {
                40.0
            } else {
                0.0
            };
            let said_same = (position + worker.len() as i64 + next as i64) % 3 == 0;
            let response = app
                .post_json(
                    &format!("/api/assignments/{token}/jnd-judgments"),
                    &jnd_judgment(position, said_same, timing(gap_error)),
                )
                .await;
            assert!(
                response.status().is_success(),
                "{}",
                response.text().await.unwrap()
            );
            // A retry of an invalid trial is appended to the assignment.
            let progress: serde_json::Value = app
                .get(&format!("/api/assignments/{token}"))
                .await
                .json()
                .await
                .unwrap();
            for trial in progress["jnd"]["trials"].as_array().unwrap() {
                let position = trial["position"].as_i64().unwrap();
                if !positions.contains(&position) {
                    positions.push(position);
                }
            }
            next += 1;
        }
    }
    experiment_id
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn jnd_map_and_export_match_the_official_scorer(pool: PgPool) {
    let experiment_id = judged_jnd_experiment(&pool).await;
    let metric: scoring::Metric = "l2-rgb".parse().unwrap();
    scoring::enqueue(&pool, experiment_id, &metric)
        .await
        .unwrap();
    let outcome = scoring::runner(pool.clone(), PathBuf::new())
        .run_next(None)
        .await
        .unwrap()
        .unwrap();
    let pairs: i64 = sqlx::query_scalar("SELECT count(*) FROM pairs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((outcome.worked as i64, outcome.error), (pairs, None));

    let out = tempfile::tempdir().unwrap();
    let options = ExportOptions {
        experiment_ids: vec![experiment_id],
        include_flagged: true,
        with_identifiers: false,
    };
    let summary = datasets::export(&pool, &options, &mut FolderSink::new(out.path().to_owned()))
        .await
        .unwrap();
    let distorted: i64 = sqlx::query_scalar("SELECT count(*) FROM pairs WHERE NOT is_control")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        summary.pairs as i64, distorted,
        "every distorted pair has valid judgments"
    );
    // Three valid judgments per pair: the invalid trial's retry made up for it.
    assert_eq!(summary.jnd_judgments, 3.0 * distorted as f64);

    // The official JND scorer on the exported files: pairs ranked by L2,
    // cumulative true/false positives from the `same` shares, voc_ap.
    let script = r#"
import os, sys
import numpy as np
from PIL import Image
root = os.path.join(sys.argv[1], 'jnd', 'train', 'uncategorised')
names = {part: sorted(os.listdir(os.path.join(root, part))) for part in ['p0', 'p1', 'same']}
ds, sames = [], []
for p0, p1, same in zip(names['p0'], names['p1'], names['same']):
    raw = np.load(os.path.join(root, 'same', same))
    assert raw.dtype == np.float64 and raw.shape == (1,), (raw.dtype, raw.shape)
    load = lambda part, name: np.asarray(Image.open(os.path.join(root, part, name)).convert('RGB'), dtype=np.float64) / 127.5 - 1
    ds.append(np.mean((load('p0', p0) - load('p1', p1)) ** 2))
    sames.append(raw.reshape((1, 1, 1))[0, 0, 0])
ds, sames = np.array(ds), np.array(sames)
order = np.argsort(ds, kind='stable')
sames = sames[order]
tps = np.cumsum(sames); fps = np.cumsum(1 - sames); fns = np.sum(sames) - tps
precs = tps / (tps + fps); recs = tps / (tps + fns)
mrec = np.concatenate(([0.], recs, [1.])); mpre = np.concatenate(([0.], precs, [0.]))
for i in range(mpre.size - 1, 0, -1):
    mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
i = np.where(mrec[1:] != mrec[:-1])[0]
print(len(ds), np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))
"#;
    let output = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    let mut fields = printed.split_whitespace();
    let count: usize = fields.next().unwrap().parse().unwrap();
    let official: f64 = fields.next().unwrap().parse().unwrap();
    assert_eq!(count as i64, distorted);

    let report = server::reports::build(&pool, &[experiment_id], true)
        .await
        .unwrap();
    let l2 = report.jnd.iter().find(|m| m.metric == "l2-rgb").unwrap();
    assert_eq!(l2.pairs as i64, distorted);
    assert!(
        (l2.map.value - official).abs() < 1e-9,
        "ours {} official {official}",
        l2.map.value
    );
    assert!(l2.map.low <= l2.map.value && l2.map.value <= l2.map.high);
    assert_eq!(l2.curve.recall.last().copied(), Some(1.0));
    assert_eq!(report.counts.pairs as i64, distorted);

    // Every JND judgment, the invalid one and the controls' included, is a CSV row.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM jnd_judgments")
        .fetch_one(&pool)
        .await
        .unwrap();
    let csv = std::fs::read_to_string(out.path().join("jnd_judgments.csv")).unwrap();
    assert_eq!(csv.lines().count() as i64, stored + 1);
    assert_eq!(
        csv.lines().filter(|line| line.contains("gap")).count(),
        2,
        "the header and the invalid trial's reason"
    );
    let html = server::reports::render_html(&report, &Default::default()).unwrap();
    assert!(
        html.contains("JND mAP") && html.contains("recall of"),
        "{html}"
    );

    // Imported back, the pairs come with their shares and counts, and export
    // again to the same files; scored, they give the same mAP.
    let owner_id: i64 = sqlx::query_scalar("SELECT id FROM researchers")
        .fetch_one(&pool)
        .await
        .unwrap();
    let import = ImportOptions {
        root: out.path().to_owned(),
        owner_id,
        judgments_per_stimulus: None,
        name: None,
    };
    let imported = datasets::import_bapps(&pool, &import, &ProgressBar::hidden())
        .await
        .unwrap();
    assert_eq!(imported.len(), 1);
    assert_eq!(
        (imported[0].kind, imported[0].stimuli as i64),
        ("jnd", distorted)
    );
    let again = tempfile::tempdir().unwrap();
    let options = ExportOptions {
        experiment_ids: vec![imported[0].id],
        include_flagged: true,
        with_identifiers: false,
    };
    datasets::export(
        &pool,
        &options,
        &mut FolderSink::new(again.path().to_owned()),
    )
    .await
    .unwrap();
    for part in ["p0", "p1", "same"] {
        let folder = |root: &std::path::Path| root.join("jnd/train/uncategorised").join(part);
        let names = |root: &std::path::Path| {
            let mut names: Vec<_> = std::fs::read_dir(folder(root))
                .unwrap()
                .map(|entry| entry.unwrap().file_name())
                .collect();
            names.sort();
            names
        };
        assert_eq!(names(out.path()), names(again.path()), "{part}");
        for name in names(out.path()) {
            let read = |root: &std::path::Path| std::fs::read(folder(root).join(&name)).unwrap();
            assert_eq!(read(out.path()), read(again.path()), "{part}/{name:?}");
        }
    }
    scoring::enqueue(&pool, imported[0].id, &metric)
        .await
        .unwrap();
    scoring::runner(pool.clone(), PathBuf::new())
        .run_next(None)
        .await
        .unwrap()
        .unwrap();
    let report = server::reports::build(&pool, &[imported[0].id], true)
        .await
        .unwrap();
    let reimported = report.jnd.iter().find(|m| m.metric == "l2-rgb").unwrap();
    assert!((reimported.map.value - official).abs() < 1e-9);
}
