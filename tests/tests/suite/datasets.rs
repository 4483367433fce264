//! BAPPS-style export and import, and the report's 2AFC score, checked
//! against the files as the original loaders and scorer read them (numpy).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use indicatif::ProgressBar;
use percept_tests::two_afc::{create_experiment, experiment_settings};
use percept_tests::{python, TestApp};
use server::datasets::{self, ExportOptions, FolderSink, ImportOptions};
use server::scoring;
use server::simulation::{self, ObserverMetric, SimulationSettings};
use sqlx::PgPool;

/// An experiment with simulated judgments (one careless worker of four).
async fn judged_experiment(pool: &PgPool) -> i64 {
    let mut settings = experiment_settings(pool).await;
    settings.patches_per_image = 6;
    settings.sentinel_rate = 0.2;
    settings.judgments_per_stimulus = 3;
    settings.max_assignments_per_worker = 10;
    let experiment_id = create_experiment(pool, &settings, 2).await;
    let app = TestApp::spawn(pool.clone()).await;
    let simulation = SimulationSettings {
        workers: 4,
        careless_share: 0.25,
        metric: ObserverMetric::DSSIM,
        noise: 0.5,
        assignments_per_worker: None,
        concurrency: 2,
        seed: 5,
    };
    simulation::run(
        &app.url(""),
        experiment_id,
        &simulation,
        &ProgressBar::hidden(),
    )
    .await
    .unwrap();
    experiment_id
}

async fn export_to(pool: &PgPool, experiment_ids: Vec<i64>, dir: &Path) -> datasets::ExportSummary {
    let options = ExportOptions {
        experiment_ids,
        include_flagged: true,
        with_identifiers: false,
    };
    datasets::export(pool, &options, &mut FolderSink::new(dir.to_owned()))
        .await
        .unwrap()
}

/// Every file under `dir`, by relative path.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, into);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                into.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}

/// Runs `script` with numpy; returns its stdout.
fn numpy(script: &str, args: &[&Path]) -> String {
    let output = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn exports_read_like_bapps_and_score_like_the_official_scorer(pool: PgPool) {
    let experiment_id = judged_experiment(&pool).await;
    let metric: scoring::Metric = "l2-rgb".parse().unwrap();
    scoring::enqueue(&pool, experiment_id, &metric)
        .await
        .unwrap();
    scoring::runner(pool.clone(), PathBuf::new())
        .run_next(None)
        .await
        .unwrap()
        .unwrap();

    let out = tempfile::tempdir().unwrap();
    let summary = export_to(&pool, vec![experiment_id], out.path()).await;
    assert!(summary.triplets > 0);

    // As the BAPPS loaders do: sorted file lists paired across folders, the
    // judge loaded and reshaped to (1,1,1). Then the official 2AFC score
    // on L2 distances computed here from the PNGs.
    let script = r#"
import glob, os, sys
import numpy as np
from PIL import Image
root = os.path.join(sys.argv[1], '2afc', 'train', 'uncategorised')
names = {part: sorted(os.listdir(os.path.join(root, part))) for part in ['ref', 'p0', 'p1', 'judge']}
assert [n[:-4] for n in names['ref']] == [n[:-4] for n in names['judge']], names
scores = []
for ref, p0, p1, judge in zip(*[names[p] for p in ['ref', 'p0', 'p1', 'judge']]):
    raw = np.load(os.path.join(root, 'judge', judge))
    assert raw.dtype == np.float64 and raw.shape == (1,), (raw.dtype, raw.shape)
    h = raw.reshape((1, 1, 1))[0, 0, 0]
    load = lambda part, name: np.asarray(Image.open(os.path.join(root, part, name)).convert('RGB'), dtype=np.float64) / 127.5 - 1
    r, a, b = load('ref', ref), load('p0', p0), load('p1', p1)
    d0, d1 = np.mean((r - a) ** 2), np.mean((r - b) ** 2)
    scores.append((d0 < d1) * (1 - h) + (d1 < d0) * h + (d0 == d1) * 0.5)
print(len(scores), np.mean(scores))
"#;
    let printed = numpy(script, &[out.path()]);
    let mut fields = printed.split_whitespace();
    let count: usize = fields.next().unwrap().parse().unwrap();
    let official: f64 = fields.next().unwrap().parse().unwrap();
    assert_eq!(count, summary.triplets);

    let report = server::reports::build(&pool, &[experiment_id], true)
        .await
        .unwrap();
    let l2 = report
        .metrics
        .iter()
        .find(|m| m.metric == "l2-rgb")
        .unwrap();
    assert_eq!(l2.triplets, count);
    assert!(
        (l2.two_afc.value - official).abs() < 1e-9,
        "ours {} official {official}",
        l2.two_afc.value
    );
    assert!(l2.two_afc.low <= l2.two_afc.value && l2.two_afc.value <= l2.two_afc.high);

    // The CSV has one row per judgment, sentinels included.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM judgments")
        .fetch_one(&pool)
        .await
        .unwrap();
    let csv = std::fs::read_to_string(out.path().join("judgments.csv")).unwrap();
    assert_eq!(csv.lines().count() as i64, stored + 1);

    // The manifest says the decimals the researcher gave, not their f32 widening.
    let manifest = std::fs::read_to_string(out.path().join("manifest.json")).unwrap();
    assert!(manifest.contains("\"sentinel_rate\": 0.2,"), "{manifest}");
    assert!(manifest.contains("\"max_sentinel_failure_share\": 0.5,"));
    // Judgment counts are whole numbers in the report's JSON.
    let counts = serde_json::to_value(&report.counts).unwrap();
    assert!(counts["jnd_judgments"].is_i64(), "{counts}");
    assert!(counts["judgments"].is_i64(), "{counts}");
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn export_then_import_preserves_stimuli_and_judgments_exactly(pool: PgPool) {
    let experiment_id = judged_experiment(&pool).await;
    let first = tempfile::tempdir().unwrap();
    export_to(&pool, vec![experiment_id], first.path()).await;

    let owner_id: i64 = sqlx::query_scalar("SELECT id FROM researchers")
        .fetch_one(&pool)
        .await
        .unwrap();
    let options = ImportOptions {
        root: first.path().to_owned(),
        owner_id,
        judgments_per_stimulus: None,
        name: Some("Street scenes, again".into()),
    };
    let imported = datasets::import_bapps(&pool, &options, &ProgressBar::hidden())
        .await
        .unwrap();
    assert_eq!(imported.len(), 1);
    let name: String = sqlx::query_scalar("SELECT name FROM experiments WHERE id = $1")
        .bind(imported[0].id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, "Street scenes, again");
    assert_eq!(
        (imported[0].split.as_str(), imported[0].category.as_str()),
        ("train", "uncategorised")
    );

    // Exported again, the imported experiment gives the same patches, judge
    // files, counts and distortion specs.
    let second = tempfile::tempdir().unwrap();
    export_to(&pool, vec![imported[0].id], second.path()).await;
    let (before, after) = (files(first.path()), files(second.path()));
    let dataset = |files: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
        files
            .iter()
            .filter(|(path, _)| path.starts_with("2afc/"))
            .map(|(p, b)| (p.clone(), b.clone()))
            .collect()
    };
    assert_eq!(dataset(&before), dataset(&after));
    let items = |files: &BTreeMap<String, Vec<u8>>| -> Vec<serde_json::Value> {
        let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        manifest["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                serde_json::json!([
                    item["item"],
                    item["judgments"],
                    item["chose_p1"],
                    item["judge"],
                    item["p0"],
                    item["p1"]
                ])
            })
            .collect()
    };
    assert_eq!(items(&before), items(&after));
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn malformed_trees_are_refused_naming_the_file_and_store_nothing(pool: PgPool) {
    let experiment_id = judged_experiment(&pool).await;
    let owner_id: i64 = sqlx::query_scalar("SELECT id FROM researchers")
        .fetch_one(&pool)
        .await
        .unwrap();
    let experiments_before: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments")
        .fetch_one(&pool)
        .await
        .unwrap();

    type BreakTree = fn(&Path);
    let cases: [(&str, BreakTree, &str); 5] = [
        (
            "missing folder",
            |c| std::fs::remove_dir_all(c.join("judge")).unwrap(),
            "judge is missing",
        ),
        (
            "unequal counts",
            |c| std::fs::remove_file(c.join("p1/000001.png")).unwrap(),
            "p1/000001 is missing",
        ),
        (
            "unreadable image",
            |c| std::fs::write(c.join("p0/000000.png"), b"not a png").unwrap(),
            "p0/000000.png is not a readable PNG",
        ),
        (
            "wrong npy shape",
            |c| {
                let mut bytes = std::fs::read(c.join("judge/000000.npy")).unwrap();
                let shape = bytes.windows(4).position(|w| w == b"(1,)").unwrap();
                bytes[shape + 1] = b'2';
                bytes.extend_from_slice(&0.5f64.to_le_bytes());
                std::fs::write(c.join("judge/000000.npy"), bytes).unwrap();
            },
            "judge/000000.npy: expected one value",
        ),
        (
            "stray file",
            |c| std::fs::write(c.join("ref/notes.txt"), b"hi").unwrap(),
            "ref/notes.txt: expected only .png files",
        ),
    ];
    for (case, break_tree, expected) in cases {
        let tree = tempfile::tempdir().unwrap();
        export_to(&pool, vec![experiment_id], tree.path()).await;
        break_tree(&tree.path().join("2afc/train/uncategorised"));
        let options = ImportOptions {
            root: tree.path().to_owned(),
            owner_id,
            judgments_per_stimulus: None,
            name: None,
        };
        let error = datasets::import_bapps(&pool, &options, &ProgressBar::hidden())
            .await
            .unwrap_err();
        assert!(format!("{error:#}").contains(expected), "{case}: {error:#}");
    }
    let nothing = tempfile::tempdir().unwrap();
    let options = ImportOptions {
        root: nothing.path().to_owned(),
        owner_id,
        judgments_per_stimulus: None,
        name: None,
    };
    let error = datasets::import_bapps(&pool, &options, &ProgressBar::hidden())
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("has no 2afc/ or jnd/ folder"),
        "{error}"
    );
    let experiments_after: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(experiments_after, experiments_before);
}

/// The files of a gzipped tar, by path.
fn unpacked(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        files.insert(path, bytes);
    }
    files
}

/// The files among `files` that contain `needle`.
fn holding(files: &BTreeMap<String, Vec<u8>>, needle: &str) -> Vec<String> {
    files
        .iter()
        .filter(|(_, bytes)| {
            bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
        })
        .map(|(path, _)| path.clone())
        .collect()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn default_exports_name_no_worker_and_with_identifiers_keep_them(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let app = TestApp::spawn(pool.clone()).await;
    let user_agent = "Mozilla/5.0 (X11; PerceptPrivacyTest) Gecko/20100101";
    let workers = [
        (
            "5f1e2d3c4b5a69788776aa01",
            "STUDY-6543abcd01",
            "SESSION-ffee001101",
        ),
        (
            "5f1e2d3c4b5a69788776aa02",
            "STUDY-6543abcd01",
            "SESSION-ffee001102",
        ),
    ];
    for (worker, study, session) in workers {
        let assignment: serde_json::Value = app
            .http
            .post(app.url(&format!("/api/experiments/{experiment_id}/assignments")))
            .json(&serde_json::json!({
                "platform": "prolific",
                "platform_worker_id": worker,
                "study_id": study,
                "session_id": session,
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = assignment["token"].as_str().expect("an assignment");
        for position in 0..assignment["trials"].as_array().unwrap().len() {
            let response = app
                .http
                .post(app.url(&format!("/api/assignments/{token}/judgments")))
                .header("user-agent", user_agent)
                .json(&percept_tests::two_afc::judgment(position as i64, "left"))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
        }
    }
    let owner = app.signed_in_as("owner@example.org").await;
    let download = |query: &'static str| {
        let owner = owner.clone();
        let url = app.url(&format!(
            "/api/experiments/{experiment_id}/export.tar.gz{query}"
        ));
        async move { owner.get(url).send().await.unwrap().bytes().await.unwrap() }
    };
    let identifiers: Vec<&str> = workers
        .iter()
        .flat_map(|(worker, study, session)| [*worker, *study, *session])
        .chain([user_agent, "PerceptPrivacyTest"])
        .collect();

    // Default: the dashboard's download, and the CLI's folder.
    let folder = tempfile::tempdir().unwrap();
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut url = reqwest::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    url.set_path(&database);
    let out = folder.path().join("export");
    let cli = Command::new(percept_tests::percept_binary())
        .args([
            "export",
            "--experiment",
            &experiment_id.to_string(),
            "--out",
        ])
        .arg(&out)
        .env("DATABASE_URL", url.as_str())
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    for (how, exported) in [
        ("download", unpacked(&download("").await)),
        ("CLI", files(&out)),
    ] {
        assert!(
            exported.contains_key("judgments.csv"),
            "{how}: {:?}",
            exported.keys()
        );
        for identifier in &identifiers {
            assert_eq!(
                holding(&exported, identifier),
                Vec::<String>::new(),
                "{how}: {identifier} leaks"
            );
        }
        let csv = String::from_utf8(exported["judgments.csv"].clone()).unwrap();
        let header = csv.lines().next().unwrap();
        for column in ["study_id", "session_id", "user_agent"] {
            assert!(!header.split(',').any(|c| c == column), "{how}: {header}");
        }
        // Pseudonyms, one per worker, the same on every row of a worker.
        let worker_column = header.split(',').position(|c| c == "worker_id").unwrap();
        let pseudonyms: std::collections::BTreeSet<&str> = csv
            .lines()
            .skip(1)
            .map(|line| line.split(',').nth(worker_column).unwrap())
            .collect();
        assert_eq!(
            pseudonyms,
            ["w0001", "w0002"].into_iter().collect(),
            "{how}"
        );
        let manifest: serde_json::Value =
            serde_json::from_slice(&exported["manifest.json"]).unwrap();
        assert!(manifest["worker_identifiers"]
            .as_str()
            .unwrap()
            .starts_with("pseudonymised"));
    }

    // With identifiers, for the researcher's own records: all of them there.
    let kept = unpacked(&download("?with_identifiers=true").await);
    for identifier in &identifiers {
        // A worker's platform id is also in their workers.csv row.
        let expected: &[&str] = if workers.iter().any(|(worker, ..)| worker == identifier) {
            &["judgments.csv", "workers.csv"]
        } else {
            &["judgments.csv"]
        };
        assert_eq!(holding(&kept, identifier), expected, "{identifier}");
    }
}
