//! Training jobs on real PostgreSQL and libtorch (the issue "Learn the
//! metric"): a lin metric trained on observers who follow
//! `lpips-alex-nolin` scores their validation experiment better than the
//! released `lpips-alex`, significantly by the report's paired bootstrap;
//! the trained metric is scored by name like any other; bad requests are
//! refused with the reason.
//!
//! The observers' answers are stored as imported judgments (the BAPPS
//! path: a share of a number of people per triplet), which the training
//! data reads through the same tallies as reports.

use std::path::{Path, PathBuf};

use distortions::image::{self, RgbImage};
use lpips::training::{Mode, Settings};
use lpips::{DeviceChoice, Lpips, Net, Weighting};
use percept_tests::serial;
use percept_tests::two_afc::{
    create_experiment, create_experiment_from_photos, experiment_settings,
};
use server::experiments::{ExperimentKind, NewExperiment};
use server::jnd::JndSettings;
use server::scoring::{self, Metric};
use server::training::{self, TrainingRequest};
use sqlx::{PgPool, Row};

fn official_weights_dir() -> PathBuf {
    std::env::var_os("PERCEPT_WEIGHTS_DIR")
        .map(PathBuf::from)
        .expect("PERCEPT_WEIGHTS_DIR (cargo xtask test sets it)")
}

/// A weights folder of the test's own with the official weights linked in,
/// so trained files never land in the shared cache.
fn weights_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for net in ["alex", "vgg"] {
        let file = format!("{net}.safetensors");
        std::os::unix::fs::symlink(official_weights_dir().join(&file), dir.path().join(&file))
            .unwrap();
    }
    dir
}

/// SplitMix64 and Box–Muller: the observers' noise, fixed by the seed.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-12);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

const OBSERVERS: i32 = 5;

/// Five observers per triplet who follow `lpips-alex-nolin` with
/// log-normal noise judge the experiment's triplets; their share preferring
/// p1 is stored as the triplet's imported judgments.
async fn judge_like_nolin(pool: &PgPool, experiment_id: i64, seed: u64) {
    let nolin =
        Lpips::from_weights_dir(Net::Alex, Weighting::ChannelSum, &official_weights_dir()).unwrap();
    let rows = sqlx::query(
        "SELECT id, ref_png, p0_png, p1_png FROM triplets
         WHERE experiment_id = $1 AND sentinel_answer IS NULL ORDER BY id",
    )
    .bind(experiment_id)
    .fetch_all(pool)
    .await
    .unwrap();
    let decode = |png: &[u8]| -> RgbImage { image::load_from_memory(png).unwrap().to_rgb8() };
    let mut noise = Noise(seed);
    for row in rows {
        let [reference, p0, p1] = ["ref_png", "p0_png", "p1_png"].map(|c| decode(row.get(c)));
        let d0 = f64::from(nolin.distance(&reference, &p0).unwrap());
        let d1 = f64::from(nolin.distance(&reference, &p1).unwrap());
        let chose_p1 = (0..OBSERVERS)
            .filter(|_| d1 * (0.3 * noise.normal()).exp() < d0 * (0.3 * noise.normal()).exp())
            .count();
        sqlx::query(
            "INSERT INTO imported_judgments (triplet_id, judgments, p1_share) VALUES ($1, $2, $3)",
        )
        .bind(row.get::<i64, _>("id"))
        .bind(OBSERVERS)
        .bind(chose_p1 as f64 / f64::from(OBSERVERS))
        .execute(pool)
        .await
        .unwrap();
    }
}

fn lin_request(name: &str, experiments: Vec<i64>, validate_on: Vec<i64>) -> TrainingRequest {
    TrainingRequest {
        name: name.into(),
        experiments,
        validate_on,
        validation_share: 0.1,
        include_flagged: false,
        overwrite: false,
        settings: Settings {
            epochs: 1,
            decay_epochs: 0,
            device: DeviceChoice::Cpu,
            seed: 3,
            ..Settings::new(Net::Alex, Mode::Lin)
        },
    }
}

async fn score(pool: &PgPool, experiment_id: i64, metric: &str, weights: &Path) {
    let metric: Metric = metric.parse().unwrap();
    scoring::enqueue(pool, experiment_id, &metric)
        .await
        .unwrap();
    let outcome = scoring::runner(pool.clone(), weights.to_owned())
        .run_next(None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.error, None, "scoring {metric}");
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_lin_metric_trained_on_nolin_observers_beats_the_released_one(pool: PgPool) {
    let _turn = serial::take_turn(serial::Kind::LoadsEveryCore).await;
    let started = std::time::Instant::now();
    let weights = weights_dir();
    let mut settings = experiment_settings(&pool).await;
    settings.patches_per_image = 60;
    settings.split = "train".into();
    let train_id = create_experiment_from_photos(&pool, &settings, 4).await;
    settings.seed = 8;
    settings.split = "val".into();
    let validation_id = create_experiment_from_photos(&pool, &settings, 4).await;
    judge_like_nolin(&pool, train_id, 1).await;
    judge_like_nolin(&pool, validation_id, 2).await;

    eprintln!(
        "experiments made and judged: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Lin epochs cost milliseconds once the features are computed: enough
    // of them, at a higher rate, to move the linear layers off their random
    // start on 240 triplets.
    let mut request = lin_request("nolin-observers", vec![train_id], vec![validation_id]);
    request.settings.epochs = 10;
    request.settings.learning_rate = 1e-3;
    let queued = training::enqueue(&pool, &request, None).await.unwrap();
    assert!(
        queued
            .warnings
            .iter()
            .any(|w| w.contains("reference images")),
        "the experiments cut the same photos: {:?}",
        queued.warnings
    );
    let outcome = training::runner(pool.clone(), weights.path().to_owned())
        .run_next(None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((outcome.job_id, outcome.error), (queued.job_id, None));
    eprintln!("trained: {:.1} s", started.elapsed().as_secs_f64());

    let model = training::get(&pool, queued.model_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(model.status, "done");
    assert_eq!(model.metric_name(), "lpips-alex:nolin-observers");
    assert_eq!(model.provenance["training"]["triplets"], 240);
    assert_eq!(model.provenance["training"]["judgments"], 240.0 * 5.0);
    assert_eq!(model.provenance["validation"]["triplets"], 240);
    let epochs = model.epochs.as_array().unwrap();
    assert_eq!(epochs.len(), 10);
    let record = training::record(&pool, model.id).await.unwrap().unwrap();
    eprintln!(
        "validation 2AFC: {:?} at the start, then per epoch {:?}",
        record.initial_validation_2afc,
        record
            .epochs
            .iter()
            .map(|e| (e.loss, e.validation_2afc))
            .collect::<Vec<_>>()
    );
    assert!(epochs[0]["validation_2afc"].as_f64().unwrap() > 0.5);
    // The weights are in the folder, with the stored hash, and their linear
    // layers are non-negative.
    let file = weights.path().join("nolin-observers.safetensors");
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(
        Some(training::content_hash(&bytes)),
        model.weights_sha256.clone()
    );
    assert!(weights.path().join("nolin-observers.json").exists());
    for (name, tensor) in tch::Tensor::read_safetensors(&file).unwrap() {
        if name.starts_with("lin") {
            assert!(f64::try_from(tensor.min()).unwrap() >= 0.0, "{name}");
        }
    }

    // Scored by name in another process's weights folder (written there
    // from the database), and reported like any metric.
    let elsewhere = weights_dir();
    score(&pool, validation_id, "lpips-alex", elsewhere.path()).await;
    score(
        &pool,
        validation_id,
        "lpips-alex:nolin-observers",
        elsewhere.path(),
    )
    .await;
    assert_eq!(
        std::fs::read(elsewhere.path().join("nolin-observers.safetensors")).unwrap(),
        bytes
    );
    eprintln!("scored: {:.1} s", started.elapsed().as_secs_f64());
    let report = server::reports::build(&pool, &[validation_id], false)
        .await
        .unwrap();
    let score_of = |metric: &str| {
        report
            .metrics
            .iter()
            .find(|m| m.metric == metric)
            .unwrap()
            .two_afc
            .value
    };
    let (trained, released) = (
        score_of("lpips-alex:nolin-observers"),
        score_of("lpips-alex"),
    );
    let comparison = report
        .comparisons
        .iter()
        .find(|c| {
            [c.a.as_str(), c.b.as_str()] == ["lpips-alex", "lpips-alex:nolin-observers"]
                || [c.a.as_str(), c.b.as_str()] == ["lpips-alex:nolin-observers", "lpips-alex"]
        })
        .unwrap();
    eprintln!(
        "validation 2AFC: trained {trained:.4}, released {released:.4}, difference {:?}, p {}",
        comparison.difference, comparison.p_value
    );
    assert!(trained > released, "{trained} vs {released}");
    assert!(comparison.significant, "{comparison:?}");
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn bad_training_requests_are_refused_with_the_reason(pool: PgPool) {
    let two_afc_settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &two_afc_settings, 1).await;
    let jnd_settings = NewExperiment {
        kind: ExperimentKind::Jnd(JndSettings::default()),
        ..two_afc_settings.clone()
    };
    let jnd_id = create_experiment(&pool, &jnd_settings, 1).await;
    let refused = |request: TrainingRequest| {
        let pool = pool.clone();
        async move {
            training::enqueue(&pool, &request, None)
                .await
                .unwrap_err()
                .to_string()
        }
    };

    let error = refused(lin_request("m", vec![experiment_id], vec![])).await;
    assert!(error.contains("no judged 2AFC triplets"), "{error}");
    let error = refused(lin_request("m", vec![jnd_id], vec![])).await;
    assert!(error.contains("JND experiment"), "{error}");
    let error = refused(lin_request("m", vec![experiment_id + 100], vec![])).await;
    assert!(error.contains("no experiment"), "{error}");
    let error = refused(lin_request("m", vec![experiment_id], vec![experiment_id])).await;
    assert!(error.contains("must not overlap"), "{error}");
    let error = refused(lin_request("../m", vec![experiment_id], vec![])).await;
    assert!(error.contains("cannot name a metric"), "{error}");
    let mut no_epochs = lin_request("m", vec![experiment_id], vec![]);
    no_epochs.settings.epochs = 0;
    let error = refused(no_epochs).await;
    assert!(error.contains("epochs"), "{error}");

    // With judgments it is queued once; the name is then taken.
    sqlx::query(
        "INSERT INTO imported_judgments (triplet_id, judgments, p1_share)
         SELECT id, 2, 0.5 FROM triplets WHERE experiment_id = $1",
    )
    .bind(experiment_id)
    .execute(&pool)
    .await
    .unwrap();
    training::enqueue(&pool, &lin_request("m", vec![experiment_id], vec![]), None)
        .await
        .unwrap();
    let error = refused(lin_request("m", vec![experiment_id], vec![])).await;
    assert!(error.contains("being trained"), "{error}");
    sqlx::query("UPDATE trained_models SET status = 'failed', error = 'stopped'")
        .execute(&pool)
        .await
        .unwrap();
    let error = refused(lin_request("m", vec![experiment_id], vec![])).await;
    assert!(error.contains("--overwrite"), "{error}");
    let mut overwrite = lin_request("m", vec![experiment_id], vec![]);
    overwrite.overwrite = true;
    sqlx::query("UPDATE jobs SET status = 'failed', error = 'stopped', finished_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    training::enqueue(&pool, &overwrite, None).await.unwrap();

    // The command line names an unknown net and a missing GPU.
    let output = std::process::Command::new(percept_tests::percept_binary())
        .args([
            "train",
            "--experiment",
            "1",
            "--net",
            "squeeze",
            "--mode",
            "lin",
            "--name",
            "x",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("squeeze"),
        "{stderr}"
    );
    if !tch::Cuda::is_available() {
        let output = std::process::Command::new(percept_tests::percept_binary())
            .args([
                "train",
                "--experiment",
                "1",
                "--net",
                "alex",
                "--mode",
                "lin",
                "--name",
                "x",
            ])
            .args([
                "--device",
                "cuda",
                "--database-url",
                "postgres://nowhere.invalid/x",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains("CUDA"),
            "{stderr}"
        );
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn researchers_train_on_collected_judgments_over_http(pool: PgPool) {
    use percept_tests::two_afc::judgment;
    use percept_tests::TestApp;
    use reqwest::StatusCode;
    use serde_json::{json, Value};

    let app = TestApp::spawn(pool.clone()).await;
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    // One worker judges the four triplets in the browser's way.
    let (_, assignment) = app.request_assignment(experiment_id, "w1").await;
    let token = assignment["token"].as_str().unwrap();
    for position in 0..4 {
        let side = if position % 2 == 0 { "left" } else { "right" };
        let (status, _) = app.submit_judgment(token, &judgment(position, side)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let owner = app.signed_in_as("owner@example.org").await;
    let stranger = app.signed_in(&pool, "stranger@example.org").await;
    let url = |path: &str| app.url(&format!("/api/experiments/{experiment_id}/{path}"));
    let body = json!({
        "name": "first", "net": "alex", "mode": "lin", "epochs": 1, "decay_epochs": 0,
        "validation_share": 0.25, "device": "cpu"
    });

    let response = stranger
        .post(url("training"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let bad = json!({ "name": "x", "net": "squeeze", "mode": "lin" });
    let response = owner.post(url("training")).json(&bad).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("squeeze"),
        "{error}"
    );

    let response = owner
        .post(url("training"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let queued: Value = response.json().await.unwrap();
    let again = owner
        .post(url("training"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);

    let weights = weights_dir();
    let outcome = training::runner(pool.clone(), weights.path().to_owned())
        .run_next(None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.error, None);
    assert_eq!(Some(outcome.job_id), queued["job_id"].as_i64());

    let models: Value = owner
        .get(url("training"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let model = &models[0];
    assert_eq!(model["status"], "done", "{model}");
    assert_eq!(model["metric"], "lpips-alex:first");
    assert_eq!(model["epochs"].as_array().unwrap().len(), 1);
    // Four judged triplets, one held out; one collected judgment each.
    assert_eq!(model["provenance"]["training"]["triplets"], 3);
    assert_eq!(model["provenance"]["training"]["judgments"], 3.0);
    assert_eq!(model["provenance"]["validation"]["triplets"], 1);

    let curve = owner
        .get(url(&format!("training/{}/curve.svg", model["id"])))
        .send()
        .await
        .unwrap();
    assert_eq!(curve.status(), StatusCode::OK);
    assert_eq!(curve.headers()["content-type"], "image/svg+xml");
    assert!(curve.text().await.unwrap().contains("validation 2AFC"));
    let jobs: Value = owner
        .get(app.url("/api/jobs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(jobs
        .as_array()
        .unwrap()
        .iter()
        .any(|job| job["kind"] == "training" && job["status"] == "done"));
}

/// The dashboard's **Train a metric** in headless Chromium: the form queues
/// the job, and once a worker has run it the page shows the metric with its
/// curve. With `PERCEPT_SCREENSHOTS` set, the section is saved to
/// `docs/training-curve.png`.
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_dashboard_trains_a_metric_and_draws_its_curve(pool: PgPool) {
    use fantoccini::Locator;
    use percept_tests::{fill, wait_until, Browser, TestApp};

    let app = TestApp::spawn(pool.clone()).await;
    let mut settings = experiment_settings(&pool).await;
    settings.patches_per_image = 20;
    let experiment_id = create_experiment(&pool, &settings, 2).await;
    judge_like_nolin(&pool, experiment_id, 4).await;

    let browser = Browser::start().await;
    let page = &browser.client;
    page.goto(&app.url("/sign-in")).await.unwrap();
    wait_until(
        page,
        "hydration",
        "!document.querySelector('#sign-in').disabled",
    )
    .await;
    fill(page, "#email", "owner@example.org").await;
    fill(page, "#password", "a long password").await;
    page.find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(page, "the dashboard", "location.pathname === '/dashboard'").await;
    page.goto(&app.url(&format!("/dashboard/experiments/{experiment_id}")))
        .await
        .unwrap();
    wait_until(
        page,
        "the training form",
        "document.querySelector('#start-training') && !document.querySelector('#start-training').disabled",
    )
    .await;
    fill(page, "#train-metric input[name=name]", "from-the-dashboard").await;
    fill(page, "#train-metric input[name=epochs]", "4").await;
    fill(page, "#train-metric input[name=decay_epochs]", "2").await;
    page.find(Locator::Id("start-training"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(
        page,
        "the queued job",
        "document.body.innerText.includes('lpips-alex:from-the-dashboard')",
    )
    .await;

    let weights = weights_dir();
    let outcome = training::runner(pool.clone(), weights.path().to_owned())
        .run_next(None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.error, None);
    wait_until(
        page,
        "the curve",
        "[...document.querySelectorAll('img.training-curve')].some(img => img.complete && img.naturalWidth > 0) \
         && document.body.innerText.includes('epoch 6')",
    )
    .await;
    if std::env::var_os("PERCEPT_SCREENSHOTS").is_some() {
        page.set_window_size(1280, 1100).await.unwrap();
        page.execute(
            "document.querySelector('#train-metric').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
        let png = page.screenshot().await.unwrap();
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/training-curve.png");
        std::fs::write(&path, png).unwrap();
    }
}

/// A `percept worker` taking only training jobs, on the CPU with one
/// thread, in a process of its own that the test can SIGKILL.
fn training_worker(pool: &PgPool, weights: &Path) -> std::process::Child {
    std::process::Command::new(percept_tests::percept_binary())
        .args(["worker", "--job-kinds", "training", "--device", "cpu"])
        .args(["--threads", "1", "--weights-dir"])
        .arg(weights)
        .env(
            "DATABASE_URL",
            percept_tests::server_process::database_url(pool),
        )
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting percept worker")
}

/// (status, epochs so far, weights) of a trained model's row.
async fn model_state(
    pool: &PgPool,
    model_id: i64,
) -> (String, Vec<serde_json::Value>, Option<Vec<u8>>) {
    let row = sqlx::query("SELECT status, epochs, weights FROM trained_models WHERE id = $1")
        .bind(model_id)
        .fetch_one(pool)
        .await
        .unwrap();
    let epochs: Option<serde_json::Value> = row.get("epochs");
    (
        row.get("status"),
        epochs
            .and_then(|e| e.as_array().cloned())
            .unwrap_or_default(),
        row.get("weights"),
    )
}

/// A worker process killed with SIGKILL mid-training leaves the job to the
/// next one, which carries on from the last epoch's checkpoint (the epochs
/// done before the kill are kept as they were, not run again) and ends with
/// the weights of a run that was never interrupted.
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_training_worker_killed_mid_run_leaves_the_rest_to_the_next_one(pool: PgPool) {
    use std::time::{Duration, Instant};

    let _turn = serial::take_turn(serial::Kind::LoadsEveryCore).await;
    let weights = weights_dir();
    let mut settings = experiment_settings(&pool).await;
    settings.patches_per_image = 10;
    let experiment_id = create_experiment_from_photos(&pool, &settings, 4).await;
    judge_like_nolin(&pool, experiment_id, 5).await;
    // Tune: the trunk in the loop makes each epoch long enough to be
    // killed in, on 30 training triplets in three steps.
    let request = |name: &str| {
        let mut request = lin_request(name, vec![experiment_id], vec![]);
        request.validation_share = 0.25;
        request.settings.mode = Mode::Tune;
        request.settings.epochs = 3;
        request.settings.decay_epochs = 1;
        request.settings.batch_size = 10;
        request
    };
    let interrupted = training::enqueue(&pool, &request("interrupted"), None)
        .await
        .unwrap();
    let total_epochs = 4;

    let mut first = training_worker(&pool, weights.path());
    let deadline = Instant::now() + Duration::from_secs(300);
    let epochs_at_kill = loop {
        let (status, epochs, _) = model_state(&pool, interrupted.model_id).await;
        assert_ne!(status, "failed");
        if !epochs.is_empty() {
            first.kill().unwrap();
            first.wait().unwrap();
            break model_state(&pool, interrupted.model_id).await.1;
        }
        assert!(Instant::now() < deadline, "no epoch finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        epochs_at_kill.len() < total_epochs,
        "the worker finished before it could be killed"
    );
    let (status, killed_owner): (String, String) =
        sqlx::query_as("SELECT status, owner_process FROM jobs WHERE id = $1")
            .bind(interrupted.job_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(status, "running", "the dead process still holds the job");

    // The uninterrupted run of the same request, queued behind it.
    let uninterrupted = training::enqueue(&pool, &request("uninterrupted"), None)
        .await
        .unwrap();
    let mut second = training_worker(&pool, weights.path());
    let deadline = Instant::now() + Duration::from_secs(600);
    // The jobs are marked done just after their models.
    loop {
        let statuses: Vec<String> =
            sqlx::query_scalar("SELECT status FROM jobs WHERE id = ANY($1) ORDER BY id")
                .bind([interrupted.job_id, uninterrupted.job_id])
                .fetch_all(&pool)
                .await
                .unwrap();
        assert!(!statuses.iter().any(|s| s == "failed"), "{statuses:?}");
        if statuses.iter().all(|s| s == "done") {
            break;
        }
        assert!(Instant::now() < deadline, "the training never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();

    let job = sqlx::query("SELECT status, owner_process, attempts FROM jobs WHERE id = $1")
        .bind(interrupted.job_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(job.get::<String, _>("status"), "done");
    assert_ne!(job.get::<String, _>("owner_process"), killed_owner);
    assert_eq!(job.get::<i32, _>("attempts"), 2);
    let (_, resumed_epochs, resumed_weights) = model_state(&pool, interrupted.model_id).await;
    let (_, whole_epochs, whole_weights) = model_state(&pool, uninterrupted.model_id).await;
    assert_eq!(resumed_epochs.len(), total_epochs);
    // The epochs done before the kill were not run again: their records,
    // wall times included, are the ones stored then.
    assert_eq!(resumed_epochs[..epochs_at_kill.len()], epochs_at_kill[..]);
    let losses = |epochs: &[serde_json::Value]| -> Vec<f64> {
        epochs.iter().map(|e| e["loss"].as_f64().unwrap()).collect()
    };
    assert_eq!(losses(&resumed_epochs), losses(&whole_epochs));
    let tensors = |bytes: Vec<u8>| {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        tch::Tensor::read_safetensors(file.path()).unwrap()
    };
    let whole: std::collections::HashMap<String, tch::Tensor> =
        tensors(whole_weights.unwrap()).into_iter().collect();
    let resumed = tensors(resumed_weights.unwrap());
    assert_eq!(resumed.len(), whole.len());
    let mut worst = 0.0f64;
    for (name, tensor) in &resumed {
        let difference = f64::try_from((tensor - &whole[name]).abs().max()).unwrap();
        assert!(difference <= 1e-7, "{name}: {difference}");
        worst = worst.max(difference);
    }
    eprintln!(
        "killed after {} of {total_epochs} epochs; resumed vs uninterrupted: max |difference| {worst:.2e} over {} tensors",
        epochs_at_kill.len(),
        resumed.len()
    );
}

/// `--device cuda` (or `PERCEPT_DEVICE=cuda`) on a machine without a GPU
/// is refused at start by every command that runs networks, saying so,
/// before it touches the database.
#[test]
fn cuda_without_a_gpu_is_refused_by_every_command_that_runs_networks() {
    if tch::Cuda::is_available() {
        return;
    }
    let nowhere = ["--database-url", "postgres://nowhere.invalid/x"];
    let runs: Vec<(Vec<&str>, Option<&str>)> = vec![
        (
            [
                &["score", "--experiment", "1", "--device", "cuda"][..],
                &nowhere,
            ]
            .concat(),
            None,
        ),
        ([&["worker"][..], &nowhere].concat(), Some("cuda")),
        (
            [
                &["worker", "--job-kinds", "scoring", "--device", "cuda"][..],
                &nowhere,
            ]
            .concat(),
            None,
        ),
        (
            vec![
                "distance",
                "a.png",
                "b.png",
                "--metric",
                "lpips-alex",
                "--device",
                "cuda",
            ],
            None,
        ),
        (
            vec![
                "simulate",
                "--experiment",
                "1",
                "--metric",
                "lpips-alex-nolin",
                "--device",
                "cuda",
            ],
            None,
        ),
    ];
    for (args, env) in runs {
        let mut command = std::process::Command::new(percept_tests::percept_binary());
        command.args(&args).env_remove("PERCEPT_DEVICE");
        if let Some(device) = env {
            command.env("PERCEPT_DEVICE", device);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success()
                && stderr.contains("no CUDA device")
                && !stderr.contains("PostgreSQL"),
            "{args:?}: {stderr}"
        );
    }
}
