//! `percept simulate`: synthetic workers driving the worker API, on a real
//! server and database.

use std::process::Command;

use indicatif::ProgressBar;
use percept_tests::jnd::jnd_experiment_settings;
use percept_tests::two_afc::{create_experiment, experiment_settings};
use percept_tests::{percept_binary, TestApp};
use server::simulation::{self, ObserverMetric, SimulationSettings};
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
