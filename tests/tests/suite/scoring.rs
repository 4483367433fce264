//! Scoring jobs on real PostgreSQL and libtorch: distances equal the metric
//! computed directly, re-running does no work, and a worker killed mid-job
//! leaves it to the next one.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use distortions::image::{self, RgbImage};
use lpips::{Lpips, Net, Weighting};
use metrics::baselines::{self, ColorSpace};
use percept_tests::percept_binary;
use percept_tests::serial;
use percept_tests::server_process::database_url;
use percept_tests::two_afc::{create_experiment, experiment_settings};
use server::scoring::{self, Metric};
use sqlx::{PgPool, Row};

fn weights_dir() -> PathBuf {
    std::env::var_os("PERCEPT_WEIGHTS_DIR")
        .map(PathBuf::from)
        .expect("PERCEPT_WEIGHTS_DIR (cargo xtask test sets it)")
}

fn decode(png: &[u8]) -> RgbImage {
    image::load_from_memory(png).unwrap().to_rgb8()
}

async fn distance_count(pool: &PgPool, metric: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM triplet_distances WHERE metric = $1")
        .bind(metric)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn jobs_store_the_metrics_distances_and_rescoring_does_nothing(pool: PgPool) {
    let _turn = serial::take_turn(serial::Kind::LoadsEveryCore).await;
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 2).await;
    let metrics: Vec<Metric> = ["lpips-alex", "l2-rgb", "psnr"]
        .iter()
        .map(|name| name.parse().unwrap())
        .collect();
    let mut worker = scoring::runner(pool.clone(), weights_dir());
    for metric in &metrics {
        let job = scoring::enqueue(&pool, experiment_id, metric)
            .await
            .unwrap();
        let outcome = worker.run_next(None).await.unwrap().unwrap();
        assert_eq!(
            (outcome.job_id, outcome.worked, outcome.error),
            (job, 8, None)
        );
    }
    assert!(
        worker.run_next(None).await.unwrap().is_none(),
        "no job left"
    );

    let alex = Lpips::from_weights_dir(Net::Alex, Weighting::Lin, &weights_dir()).unwrap();
    let rows = sqlx::query(
        "SELECT t.ref_png, t.p0_png, t.p1_png, d.metric, d.d0, d.d1
         FROM triplet_distances d JOIN triplets t ON t.id = d.triplet_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3 * 8);
    for row in rows {
        let [reference, p0, p1] =
            ["ref_png", "p0_png", "p1_png"].map(|column| decode(row.get::<&[u8], _>(column)));
        let expected = |patch: &RgbImage| match row.get::<&str, _>("metric") {
            "lpips-alex" => f64::from(alex.distance(&reference, patch).unwrap()),
            "l2-rgb" => baselines::l2(&reference, patch, ColorSpace::Rgb).unwrap(),
            "psnr" => -baselines::psnr(&reference, patch).unwrap(),
            other => panic!("unexpected metric {other}"),
        };
        let (d0, d1): (f64, f64) = (row.get("d0"), row.get("d1"));
        assert!(
            (d0 - expected(&p0)).abs() < 1e-6,
            "{d0} vs {}",
            expected(&p0)
        );
        assert!(
            (d1 - expected(&p1)).abs() < 1e-6,
            "{d1} vs {}",
            expected(&p1)
        );
    }

    // Asking again queues a job that finds nothing left to do.
    scoring::enqueue(&pool, experiment_id, &metrics[0])
        .await
        .unwrap();
    let outcome = worker.run_next(None).await.unwrap().unwrap();
    assert_eq!((outcome.worked, outcome.error), (0, None));
    assert_eq!(distance_count(&pool, "lpips-alex").await, 8);
    let progress = scoring::progress(&pool, experiment_id).await.unwrap();
    assert_eq!(progress.len(), 3);
    assert!(progress
        .iter()
        .all(|row| row.scored == 8 && row.stimuli == 8));
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_job_that_cannot_be_done_fails_with_the_reason(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let metric: Metric = "lpips-alex:missing-weights".parse().unwrap();
    scoring::enqueue(&pool, experiment_id, &metric)
        .await
        .unwrap();
    let outcome = scoring::runner(pool.clone(), weights_dir())
        .run_next(None)
        .await
        .unwrap()
        .unwrap();
    let error = outcome.error.unwrap();
    assert!(error.contains("missing-weights.safetensors"), "{error}");
    let state: String = sqlx::query_scalar("SELECT status FROM jobs WHERE kind = 'scoring'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "failed");

    let unknown = scoring::enqueue(&pool, experiment_id + 1, &metric).await;
    assert!(unknown.unwrap_err().to_string().contains("no experiment"));
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_killed_worker_leaves_its_job_to_the_next(pool: PgPool) {
    let _turn = serial::take_turn(serial::Kind::LoadsEveryCore).await;
    let mut settings = experiment_settings(&pool).await;
    settings.patches_per_image = 400;
    let experiment_id = create_experiment(&pool, &settings, 2).await;
    let total = 800;
    let metric: Metric = "lpips-alex".parse().unwrap();
    scoring::enqueue(&pool, experiment_id, &metric)
        .await
        .unwrap();

    let mut worker_process = Some(KilledOnDrop(
        Command::new(percept_binary())
            .args(["worker", "--threads", "1", "--weights-dir"])
            .arg(weights_dir())
            .env("DATABASE_URL", database_url(&pool))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    // Kill it -9 once its first batch is committed.
    let deadline = Instant::now() + Duration::from_secs(120);
    let scored_at_kill = loop {
        let scored = distance_count(&pool, "lpips-alex").await;
        if scored > 0 || Instant::now() > deadline {
            worker_process.take();
            assert!(scored > 0, "the worker scored nothing");
            break distance_count(&pool, "lpips-alex").await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        scored_at_kill < total,
        "the worker finished before it could be killed"
    );

    // Its heartbeat stopped with it: once the lease runs out, the next
    // worker takes the job over and scores only what is missing.
    let outcome = tokio::time::timeout(Duration::from_secs(120), async {
        let mut worker = scoring::runner(pool.clone(), weights_dir());
        loop {
            if let Some(outcome) = worker.run_next(None).await.unwrap() {
                break outcome;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the killed worker's job was never released");
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.worked as i64, total - scored_at_kill);
    assert_eq!(distance_count(&pool, "lpips-alex").await, total);
}

/// A child process killed (SIGKILL) when dropped, so a failing test leaves
/// no worker behind.
struct KilledOnDrop(std::process::Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn percept_score_without_a_terminal_prints_a_line_per_metric_and_each_cause_once(
    pool: PgPool,
) {
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let no_weights = tempfile::tempdir().unwrap();
    let output = Command::new(percept_binary())
        .args(["score", "--experiment", &experiment_id.to_string()])
        .args([
            "--metric",
            "l2-rgb",
            "--metric",
            "lpips-alex:absent",
            "--weights-dir",
        ])
        .arg(no_weights.path())
        .env("DATABASE_URL", database_url(&pool))
        .output()
        .unwrap();
    // Piped: not a terminal.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.contains(&"l2-rgb: 4/4 stimuli scored"), "{stdout}");
    assert!(lines.contains(&"lpips-alex:absent: failed"), "{stdout}");
    assert_eq!(lines.len(), 2, "{stdout}");
    // The error (after the log lines) names the metric and its cause once.
    let error = &stderr[stderr.find("error: ").expect("an error line")..];
    assert_eq!(error.matches("lpips-alex:absent:").count(), 1, "{error}");
    assert_eq!(error.matches("no weights at").count(), 1, "{error}");
}

/// Runs the queue's next job with no weights at hand; returns its error.
async fn fail_next_job(pool: &PgPool) -> Option<String> {
    let no_weights = tempfile::tempdir().unwrap();
    scoring::runner(pool.clone(), no_weights.path().to_owned())
        .run_next(None)
        .await
        .unwrap()
        .unwrap()
        .error
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn failed_jobs_are_retried_or_dismissed_over_http_and_the_cli(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let metric: Metric = "lpips-alex:absent".parse().unwrap();
    let job_id = scoring::enqueue(&pool, experiment_id, &metric)
        .await
        .unwrap();
    assert!(fail_next_job(&pool).await.is_some());
    let app = percept_tests::TestApp::spawn(pool.clone()).await;
    let owner = app.signed_in_as("owner@example.org").await;
    let stranger = app.signed_in(&pool, "stranger@example.org").await;
    let retry_path = app.url(&format!("/api/jobs/{job_id}/retry"));
    let job_path = app.url(&format!("/api/jobs/{job_id}"));

    // Someone who does not see the experiment does not see its jobs.
    let response = stranger.post(&retry_path).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::NOT_FOUND);
    let response = stranger.delete(&job_path).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::NOT_FOUND);

    let response = owner.post(&retry_path).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let job: serde_json::Value = response.json().await.unwrap();
    assert_eq!(job["status"], "queued");
    assert_eq!(job["attempts"], 0);
    assert_eq!(job["error"], serde_json::Value::Null);
    // Queued: neither retried nor dismissed.
    let response = owner.post(&retry_path).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CONFLICT);
    let response = owner.delete(&job_path).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CONFLICT);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        error["error"],
        format!("job {job_id} is queued: only failed or done jobs can be dismissed")
    );

    // Failed again: dismissed, it leaves the list.
    assert!(fail_next_job(&pool).await.is_some());
    let response = owner.delete(&job_path).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);
    let listed: serde_json::Value = owner
        .get(app.url("/api/jobs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|job| job["id"] != job_id));

    // The same through the CLI.
    let job_id = scoring::enqueue(&pool, experiment_id, &metric)
        .await
        .unwrap();
    assert!(fail_next_job(&pool).await.is_some());
    let percept = |args: &[&str]| {
        Command::new(percept_binary())
            .args(args)
            .env("DATABASE_URL", database_url(&pool))
            .output()
            .unwrap()
    };
    let id = job_id.to_string();
    let retried = percept(&["job", "retry", &id]);
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    assert!(String::from_utf8_lossy(&retried.stderr).contains("is queued again"));
    let refused = percept(&["job", "dismiss", &id]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("only failed or done jobs"));
    assert!(fail_next_job(&pool).await.is_some());
    let dismissed = percept(&["job", "dismiss", &id]);
    assert!(
        dismissed.status.success(),
        "{}",
        String::from_utf8_lossy(&dismissed.stderr)
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE id = $1")
        .bind(job_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// A metric the experiment's patches are too small for is refused when it is
/// asked for, from the CLI and the API alike, naming the metric, the patch
/// size and its minimum; nothing is queued (not even the metrics that fit).
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_metric_too_big_for_the_patches_is_refused_up_front(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    assert_eq!(settings.patch_size, 64);
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let expected = |error: &str| {
        for part in ["ms-ssim", "64×64", "161×161"] {
            assert!(error.contains(part), "{part} missing from {error}");
        }
        assert!(!error.contains("l2-rgb"), "{error}");
    };

    let output = Command::new(percept_binary())
        .args(["score", "--experiment", &experiment_id.to_string()])
        .args(["--metric", "l2-rgb", "--metric", "ms-ssim", "--no-wait"])
        .env("DATABASE_URL", database_url(&pool))
        .output()
        .unwrap();
    assert!(!output.status.success());
    expected(&String::from_utf8_lossy(&output.stderr));

    let app = percept_tests::TestApp::spawn(pool.clone()).await;
    let owner = app.signed_in_as("owner@example.org").await;
    let response = owner
        .post(app.url(&format!("/api/experiments/{experiment_id}/scoring")))
        .json(&serde_json::json!({ "metrics": ["l2-rgb", "ms-ssim"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    expected(body["error"].as_str().unwrap());

    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'scoring'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(jobs, 0);
    // What fits is queued as before.
    let metric: Metric = "vif".parse().unwrap();
    assert!(scoring::enqueue(&pool, experiment_id, &metric)
        .await
        .is_ok());
}
