//! `percept simulate`: synthetic workers driving the worker API, on a real
//! server and database.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use percept_tests::jnd::jnd_experiment_settings;
use percept_tests::server_process::ServerProcess;
use percept_tests::two_afc::{create_experiment, experiment_settings};
use percept_tests::{percept_binary, serial, TestApp};
use server::simulation::{self, NoWork, ObserverMetric, SimulationSettings};
use sqlx::PgPool;

fn settings(workers: u32, careless_share: f64) -> SimulationSettings {
    SimulationSettings {
        workers,
        careless_share,
        metric: ObserverMetric::DSSIM,
        noise: 0.3,
        assignments_per_worker: None,
        concurrency: 3,
        seed: 11,
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn simulated_workers_fill_the_experiment_and_careless_ones_fail_sentinels(pool: PgPool) {
    let mut experiment = experiment_settings(&pool).await;
    experiment.patches_per_image = 6;
    experiment.sentinel_rate = 0.25;
    experiment.trials_per_assignment = 4;
    experiment.judgments_per_stimulus = 2;
    experiment.max_assignments_per_worker = 10;
    let experiment_id = create_experiment(&pool, &experiment, 2).await;
    let app = TestApp::spawn(pool.clone()).await;

    let summary = simulation::run(
        &app.url(""),
        experiment_id,
        &settings(6, 0.5),
        &ProgressBar::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(summary.workers, 6);
    assert_eq!(summary.careless_workers.len(), 3);

    // Every judgment the simulation counted is stored, and every real triplet
    // got exactly the judgments it needs: the workers stop when it is full.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM judgments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, i64::from(summary.judgments));
    let completed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM assignments WHERE completed_at IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(completed, i64::from(summary.assignments_completed));
    let per_triplet: Vec<i64> = sqlx::query_scalar(
        "SELECT count(j.id) FROM triplets t
         LEFT JOIN assignment_trials at ON at.triplet_id = t.id
         LEFT JOIN judgments j USING (assignment_id, position)
         WHERE t.sentinel_answer IS NULL GROUP BY t.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        per_triplet.len(),
        2 * 6 - sentinel_count(&pool).await as usize
    );
    assert!(
        per_triplet.iter().all(|&count| count == 2),
        "{per_triplet:?}"
    );

    // Careful observers always see the identical side of a sentinel as closer.
    let scores = server::quality::sentinel_scores(&pool, experiment_id)
        .await
        .unwrap();
    let careful: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM workers WHERE NOT (external_id = ANY($1))")
            .bind(&summary.careless_workers)
            .fetch_all(&pool)
            .await
            .unwrap();
    // Workers who came after the experiment was full never got a row.
    assert!((1..=3).contains(&careful.len()), "{careful:?}");
    let careful_scores: Vec<_> = scores
        .iter()
        .filter(|score| careful.contains(&score.worker_id))
        .collect();
    assert!(
        !careful_scores.is_empty(),
        "no careful worker judged a sentinel"
    );
    for score in careful_scores {
        assert_eq!(
            score.passed, score.judged,
            "careful worker {} failed a sentinel",
            score.worker_id
        );
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn simulated_workers_fill_a_jnd_experiment_with_valid_judgments(pool: PgPool) {
    let mut experiment = jnd_experiment_settings(&pool, 0.3).await;
    experiment.patches_per_image = 6;
    experiment.trials_per_assignment = 4;
    experiment.judgments_per_stimulus = 2;
    experiment.max_assignments_per_worker = 10;
    let experiment_id = create_experiment(&pool, &experiment, 2).await;
    let app = TestApp::spawn(pool.clone()).await;

    let summary = simulation::run(
        &app.url(""),
        experiment_id,
        &settings(4, 0.0),
        &ProgressBar::hidden(),
    )
    .await
    .unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM jnd_judgments WHERE valid")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, i64::from(summary.judgments));
    // Every pair got exactly its two judgments.
    let per_pair: Vec<i64> = sqlx::query_scalar(
        "SELECT count(j.id) FROM pairs p
         LEFT JOIN jnd_trials jt ON jt.pair_id = p.id
         LEFT JOIN jnd_judgments j USING (assignment_id, position)
         GROUP BY p.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(per_pair.len(), 12);
    assert!(per_pair.iter().all(|&count| count == 2), "{per_pair:?}");
    // Careful observers never see a difference between identical patches.
    let controls_said_different: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jnd_judgments j
         JOIN jnd_trials jt USING (assignment_id, position)
         JOIN pairs p ON p.id = jt.pair_id
         WHERE p.is_control AND NOT j.said_same",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(controls_said_different, 0);
}

async fn sentinel_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM triplets WHERE sentinel_answer IS NOT NULL")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_cli_drives_a_running_server(pool: PgPool) {
    let experiment = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &experiment, 1).await;
    let app = TestApp::spawn(pool.clone()).await;

    let simulate = |experiment: i64| {
        let url = app.url("");
        let percept = percept_binary();
        async move {
            tokio::task::spawn_blocking(move || {
                Command::new(percept)
                    .args(["simulate", "--url", &url, "--workers", "2"])
                    .args(["--assignments-per-worker", "1", "--careless-share", "0"])
                    .args(["--experiment", &experiment.to_string()])
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let output = simulate(experiment_id).await;
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Two workers, one assignment of 4 trials each.
    assert!(
        stdout.contains("2 workers (0 careless) completed 2 assignments with 8 judgments"),
        "{stdout}"
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM judgments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 8);

    let output = simulate(experiment_id + 1000).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("404")
            && stderr.contains(&format!("no experiment {}", experiment_id + 1000)),
        "{stderr}"
    );
}

/// Observers may follow a network metric: with `lpips-alex-nolin` (loaded
/// from the weights folder), the stored judgments agree with that metric,
/// by the report's 2AFC score, far more than chance and more than with L2.
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn observers_follow_a_network_metric(pool: PgPool) {
    let weights = std::path::PathBuf::from(
        std::env::var_os("PERCEPT_WEIGHTS_DIR")
            .expect("PERCEPT_WEIGHTS_DIR (cargo xtask test sets it)"),
    );
    let mut experiment = experiment_settings(&pool).await;
    experiment.patches_per_image = 15;
    experiment.sentinel_rate = 0.0;
    experiment.judgments_per_stimulus = 3;
    experiment.max_assignments_per_worker = 20;
    let experiment_id = create_experiment(&pool, &experiment, 2).await;
    let app = TestApp::spawn(pool.clone()).await;
    let metric: ObserverMetric = "lpips-alex-nolin".parse().unwrap();
    assert!(metric.needs_network());
    let metric = metric.load(&weights, lpips::Device::Cpu).unwrap();
    let summary = simulation::run(
        &app.url(""),
        experiment_id,
        &SimulationSettings {
            metric,
            noise: 0.2,
            ..settings(6, 0.0)
        },
        &ProgressBar::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(summary.judgments, 30 * 3);

    for name in ["lpips-alex-nolin", "l2-rgb"] {
        let metric: server::scoring::Metric = name.parse().unwrap();
        server::scoring::enqueue(&pool, experiment_id, &metric)
            .await
            .unwrap();
        let outcome = server::scoring::runner(pool.clone(), weights.clone())
            .run_next(None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome.error, None, "{name}");
    }
    let report = server::reports::build(&pool, &[experiment_id], false)
        .await
        .unwrap();
    let score = |name: &str| {
        report
            .metrics
            .iter()
            .find(|m| m.metric == name)
            .unwrap()
            .two_afc
            .value
    };
    let (followed, l2) = (score("lpips-alex-nolin"), score("l2-rgb"));
    eprintln!("2AFC of the judgments: lpips-alex-nolin {followed:.3}, l2-rgb {l2:.3}");
    assert!(followed > 0.8 && followed > l2, "{followed} vs {l2}");
}

/// The summary says how many workers got no work and why: here those who
/// came after the experiment was full, then (same worker ids, a second run)
/// those at their per-worker limit, and everyone once it is closed.
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_summary_says_who_got_no_work_and_why(pool: PgPool) {
    // 4 triplets, one judgment each, 4 trials per assignment: one worker fills it.
    let mut experiment = experiment_settings(&pool).await;
    experiment.judgments_per_stimulus = 1;
    experiment.max_assignments_per_worker = 1;
    let full = create_experiment(&pool, &experiment, 1).await;
    // 32 triplets: room for everyone, but one assignment each.
    experiment.patches_per_image = 16;
    let capped = create_experiment(&pool, &experiment, 2).await;
    let app = TestApp::spawn(pool.clone()).await;

    let mut one_at_a_time = settings(5, 0.0);
    one_at_a_time.concurrency = 1;
    let summary = simulation::run(&app.url(""), full, &one_at_a_time, &ProgressBar::hidden())
        .await
        .unwrap();
    assert_eq!(summary.assignments_completed, 1);
    assert_eq!(
        summary.workers_without_work,
        BTreeMap::from([(NoWork::ExperimentFull, 4)])
    );
    let line = summary.to_string();
    assert!(
        line.contains("4 of them got no work (4 because the experiment needed no more judgments)"),
        "{line}"
    );

    let first = simulation::run(
        &app.url(""),
        capped,
        &settings(3, 0.0),
        &ProgressBar::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(first.assignments_completed, 3);
    assert_eq!(first.workers_without_work_total(), 0);
    assert!(
        first.to_string().contains("every worker got work"),
        "{first}"
    );
    let again = simulation::run(
        &app.url(""),
        capped,
        &settings(3, 0.0),
        &ProgressBar::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(
        again.workers_without_work,
        BTreeMap::from([(NoWork::WorkerCapReached, 3)])
    );
    assert!(
        again
            .to_string()
            .contains("3 because their per-worker limit of assignments was reached"),
        "{again}"
    );

    server::experiments::lifecycle::set_lifecycle(
        &pool,
        capped,
        server::experiments::lifecycle::Lifecycle::Closed,
        false,
    )
    .await
    .unwrap();
    let mut newcomers = settings(2, 0.0);
    newcomers.seed = 12;
    let closed = simulation::run(&app.url(""), capped, &newcomers, &ProgressBar::hidden())
        .await
        .unwrap();
    assert_eq!(
        closed.workers_without_work,
        BTreeMap::from([(NoWork::ExperimentClosed, 2)])
    );
    assert!(
        closed
            .to_string()
            .contains("2 because the experiment is closed"),
        "{closed}"
    );
}

/// `percept simulate` rides out a server killed (SIGKILL) and restarted
/// under it: connection errors and 5xx are retried with the same judgment
/// id, so the judgments its summary counts as acknowledged are exactly the
/// ones stored, none twice.
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_simulation_survives_a_server_restart_and_its_summary_matches_what_is_stored(
    pool: PgPool,
) {
    let _turn = serial::take_turn(serial::Kind::LoadsEveryCore).await;
    // 64 triplets × 8 judgments: long enough a run to kill the server in it.
    let mut experiment = experiment_settings(&pool).await;
    experiment.patches_per_image = 16;
    experiment.judgments_per_stimulus = 8;
    experiment.trials_per_assignment = 8;
    experiment.max_assignments_per_worker = 20;
    let experiment_id = create_experiment(&pool, &experiment, 4).await;
    let mut server = ServerProcess::start(&pool).await;

    let mut simulate = Command::new(percept_binary())
        .args(["simulate", "--url", &server.url(""), "--workers", "16"])
        .args(["--concurrency", "8", "--careless-share", "0.25"])
        .args(["--experiment", &experiment_id.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stored = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM judgments")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored().await < 60 {
        assert!(
            Instant::now() < deadline,
            "the simulation did not get going"
        );
        assert!(
            simulate.try_wait().unwrap().is_none(),
            "the simulation ended before the kill"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill_9();
    let stored_at_kill = stored().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart().await;

    let output = tokio::task::spawn_blocking(move || simulate.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let acknowledged: i64 = stdout
        .split(" judgments")
        .next()
        .and_then(|start| start.rsplit(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no judgment count in {stdout:?}"));
    assert!(
        stdout.contains("requests were sent again after a connection error"),
        "the kill should have cut the workers off: {stdout}"
    );
    let stored_now = stored().await;
    assert_eq!(acknowledged, stored_now, "{stdout}");
    assert!(stored_now > stored_at_kill, "{stdout}");
    // Each trial judged once, and no trial left unanswered in an assignment
    // a worker finished.
    let (trials, ids): (i64, i64) = sqlx::query_as(
        "SELECT count(DISTINCT (assignment_id, position)), count(DISTINCT id) FROM judgments",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((trials, ids), (stored_now, stored_now));
    let unanswered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM assignment_trials t
         JOIN assignments a ON a.id = t.assignment_id
         LEFT JOIN judgments j USING (assignment_id, position)
         WHERE a.completed_at IS NOT NULL AND j.id IS NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(unanswered, 0);
    println!("killed at {stored_at_kill} stored judgments; {stdout}");
}
