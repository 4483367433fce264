//! JND experiments over HTTP: pairs generated fresh or taken from a 2AFC
//! experiment, assignments of JND trials, judgments with their measured
//! timing (validity decided by the server, invalid trials served again),
//! exactly-once storage, and clear refusals.

use distortions::image;
use percept_tests::jnd::{jnd_experiment_settings, jnd_judgment, timing, FRAME_MS};
use percept_tests::two_afc::{create_experiment, experiment_settings, judgment};
use percept_tests::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::experiments::{ExperimentKind, NewExperiment};
use server::jnd::JndSettings;
use sqlx::{PgPool, Row};

async fn post_jnd_judgment(app: &TestApp, token: &str, body: &Value) -> (StatusCode, Value) {
    let response = app
        .post_json(&format!("/api/assignments/{token}/jnd-judgments"), body)
        .await;
    (response.status(), response.json().await.unwrap())
}

/// A JND experiment (4 pairs per image, 4 trials per assignment) and an
/// assignment for worker `w1`: the app, the experiment's settings and the
/// assignment.
async fn jnd_assignment(pool: &PgPool, judgments_per_pair: u32) -> (TestApp, NewExperiment, Value) {
    let mut settings = jnd_experiment_settings(pool, 0.25).await;
    settings.judgments_per_stimulus = judgments_per_pair;
    let experiment_id = create_experiment(pool, &settings, 1).await;
    let app = TestApp::spawn(pool.clone()).await;
    let (status, assignment) = app.request_assignment(experiment_id, "w1").await;
    assert_eq!(status, StatusCode::CREATED, "{assignment}");
    (app, settings, assignment)
}

fn token(assignment: &Value) -> &str {
    assignment["token"].as_str().unwrap()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn fresh_pairs_are_crops_with_one_distorted_version_and_controls_are_identical(pool: PgPool) {
    let mut settings = jnd_experiment_settings(&pool, 0.5).await;
    settings.patches_per_image = 20;
    let experiment_id = create_experiment(&pool, &settings, 2).await;
    let rows = sqlx::query(
        "SELECT ref_png, distorted_png, pipeline, is_control, reference_image_id, source_triplet_id
         FROM pairs WHERE experiment_id = $1",
    )
    .bind(experiment_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 40);
    let controls = rows
        .iter()
        .filter(|row| row.get::<bool, _>("is_control"))
        .count();
    // Binomial(40, 0.5): far inside these bounds for any seed worth keeping.
    assert!((8..=32).contains(&controls), "{controls} controls");
    for row in &rows {
        let (reference, distorted): (Vec<u8>, Vec<u8>) =
            (row.get("ref_png"), row.get("distorted_png"));
        let pipeline: Value = row.get("pipeline");
        assert!(row.get::<Option<i64>, _>("reference_image_id").is_some());
        assert!(row.get::<Option<i64>, _>("source_triplet_id").is_none());
        assert_eq!(image::load_from_memory(&reference).unwrap().width(), 64);
        if row.get::<bool, _>("is_control") {
            assert_eq!(pipeline, json!([]));
            assert_eq!(reference, distorted);
        } else {
            assert!(!pipeline.as_array().unwrap().is_empty());
        }
    }
    let (kind, total, generated, status): (String, i32, i32, String) = sqlx::query_as(
        "SELECT kind, stimuli_total, stimuli_generated, status FROM experiments WHERE id = $1",
    )
    .bind(experiment_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (kind.as_str(), total, generated, status.as_str()),
        ("jnd", 40, 40, "ready")
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn pairs_can_be_taken_from_a_two_afc_experiments_triplets(pool: PgPool) {
    let two_afc = experiment_settings(&pool).await;
    let source_id = create_experiment(&pool, &two_afc, 1).await;
    let settings = NewExperiment {
        kind: ExperimentKind::Jnd(JndSettings {
            control_share: 0.2,
            source_experiment_id: Some(source_id),
            ..JndSettings::default()
        }),
        ..two_afc
    };
    let experiment_id = server::experiments::create(&pool, &settings, Vec::new(), None)
        .await
        .unwrap();
    // 4 triplets: 8 distorted pairs, and 2 controls make 20 %.
    let rows = sqlx::query(
        "SELECT p.distorted_png, p.is_control, p.pipeline,
                t.ref_png = p.ref_png AS same_reference,
                p.distorted_png IN (t.p0_png, t.p1_png) AS from_triplet
         FROM pairs p JOIN triplets t ON t.id = p.source_triplet_id
         WHERE p.experiment_id = $1",
    )
    .bind(experiment_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(
        rows.iter()
            .filter(|row| row.get::<bool, _>("is_control"))
            .count(),
        2
    );
    for row in &rows {
        assert!(row.get::<bool, _>("same_reference"));
        assert_eq!(
            row.get::<bool, _>("from_triplet"),
            !row.get::<bool, _>("is_control")
        );
    }

    // Pairs come from the source or from images, not both; and only from 2AFC.
    let refused = server::experiments::create(
        &pool,
        &NewExperiment {
            kind: ExperimentKind::Jnd(JndSettings {
                source_experiment_id: Some(experiment_id),
                ..JndSettings::default()
            }),
            ..settings.clone()
        },
        Vec::new(),
        None,
    )
    .await
    .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("only be taken from a ready 2AFC experiment"),
        "{refused}"
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn bad_jnd_settings_are_refused_with_the_reason(pool: PgPool) {
    for (jnd, expected) in [
        (
            JndSettings {
                reference_ms: 0,
                ..JndSettings::default()
            },
            "the reference duration must be between 1 and 10000 ms, not 0",
        ),
        (
            JndSettings {
                gap_ms: 20_000,
                ..JndSettings::default()
            },
            "the gap must be between 0 and 10000 ms, not 20000",
        ),
        (
            JndSettings {
                control_share: 1.0,
                ..JndSettings::default()
            },
            "the control share must be at least 0 and below 1, not 1",
        ),
    ] {
        let settings = NewExperiment {
            kind: ExperimentKind::Jnd(jnd),
            ..experiment_settings(&pool).await
        };
        let error = server::experiments::create(
            &pool,
            &settings,
            vec![percept_tests::two_afc::reference_file("a.png", 96, 80, 0)],
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(error.to_string(), expected);
        sqlx::query("DELETE FROM researchers")
            .execute(&pool)
            .await
            .unwrap();
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_jnd_assignment_says_so_and_serves_its_two_images_per_trial(pool: PgPool) {
    let (app, _, assignment) = jnd_assignment(&pool, 2).await;
    assert_eq!(assignment["trials"], json!([]));
    assert_eq!(
        assignment["jnd"]["presentation"],
        json!({ "reference_ms": 1000, "gap_ms": 250, "distorted_ms": 1000 })
    );
    let trials = assignment["jnd"]["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 4);
    let token = token(&assignment);
    for (index, trial) in trials.iter().enumerate() {
        assert_eq!(trial["position"], index as i64);
        for url in ["reference_url", "distorted_url"] {
            let response = app.get(trial[url].as_str().unwrap()).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()["content-type"], "image/png");
            let patch = image::load_from_memory(&response.bytes().await.unwrap()).unwrap();
            assert_eq!((patch.width(), patch.height()), (64, 64));
        }
    }
    let response = app
        .get(&format!("/api/assignments/{token}/trials/0/left.png"))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"],
        "the assignment has no trial at position 0 with an image left.png"
    );

    let progress: Value = app
        .get(&format!("/api/assignments/{token}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(progress["jnd"], assignment["jnd"]);
    assert_eq!(progress["trials"], json!([]));

    // The 2AFC judgment route has no trials here.
    let (status, body) = app.submit_judgment(token, &judgment(0, "left")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "this assignment has no trial at position 0");
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn judgments_are_stored_once_with_their_timing_and_complete_the_assignment(pool: PgPool) {
    let (app, _, assignment) = jnd_assignment(&pool, 2).await;
    let token = token(&assignment);
    let first = jnd_judgment(0, true, timing(0.0));
    let (status, receipt) = post_jnd_judgment(&app, token, &first).await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    assert_eq!(receipt["valid"], true);
    assert!(receipt["invalid_reason"].is_null() && receipt["retry"].is_null());
    assert_eq!(receipt["completed"], false);

    // A retried submission: the same receipt, nothing stored twice.
    let (status, again) = post_jnd_judgment(&app, token, &first).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, receipt);
    let mut altered = first.clone();
    altered["said_same"] = json!(false);
    let (status, body) = post_jnd_judgment(&app, token, &altered).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .ends_with("was already submitted with different content"));
    let (status, body) = post_jnd_judgment(&app, token, &jnd_judgment(0, false, timing(0.0))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .starts_with("the trial at position 0 was already judged"));

    let mut receipt = Value::Null;
    for position in 1..4 {
        (_, receipt) = post_jnd_judgment(
            &app,
            token,
            &jnd_judgment(position, false, timing(FRAME_MS)),
        )
        .await;
        assert_eq!(
            receipt["valid"], true,
            "one frame off still counts: {receipt}"
        );
    }
    assert_eq!(receipt["completed"], true);
    assert!(receipt["completion_code"].as_str().unwrap().len() >= 10);

    let row = sqlx::query(
        "SELECT j.said_same, j.response_ms, j.refresh_interval_ms, j.reference_exposure_ms,
                j.measured_gap_ms, j.distorted_exposure_ms, j.valid, j.user_agent
         FROM jnd_judgments j WHERE j.id = $1",
    )
    .bind(first["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(row.get::<bool, _>("said_same"));
    assert_eq!(row.get::<i32, _>("response_ms"), 640);
    assert!((row.get::<f64, _>("refresh_interval_ms") - FRAME_MS).abs() < 1e-9);
    assert_eq!(row.get::<f64, _>("reference_exposure_ms"), 1000.0);
    assert_eq!(row.get::<f64, _>("measured_gap_ms"), 250.0);
    assert_eq!(row.get::<f64, _>("distorted_exposure_ms"), 1000.0);
    assert!(row.get::<bool, _>("valid"));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM jnd_judgments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 4);

    let (status, body) = post_jnd_judgment(&app, token, &jnd_judgment(1, true, timing(0.0))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "this assignment is already complete");
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn an_invalid_trial_is_stored_with_its_reason_and_its_pair_served_again_twice_at_most(
    pool: PgPool,
) {
    let (app, _, assignment) = jnd_assignment(&pool, 1).await;
    let token = token(&assignment);
    let experiment_id: i64 =
        sqlx::query_scalar("SELECT experiment_id FROM assignments WHERE token = $1")
            .bind(token)
            .fetch_one(&pool)
            .await
            .unwrap();
    let pair_at = |position: i64| {
        let pool = pool.clone();
        let token = token.to_owned();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT jt.pair_id FROM jnd_trials jt JOIN assignments a ON a.id = jt.assignment_id
                 WHERE a.token = $1 AND jt.position = $2",
            )
            .bind(token)
            .bind(position as i32)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    // Two frames late on the gap; then hidden; then a lost focus.
    let mut hidden = timing(0.0);
    hidden["lost_visibility"] = json!(true);
    let mut blurred = timing(0.0);
    blurred["lost_focus"] = json!(true);
    let (status, receipt) =
        post_jnd_judgment(&app, token, &jnd_judgment(2, true, timing(2.0 * FRAME_MS))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(receipt["valid"], false);
    assert_eq!(
        receipt["invalid_reason"],
        "the gap lasted 283.3 ms instead of 250 ms, more than one frame (16.7 ms) off"
    );
    assert_eq!(receipt["retry"]["position"], 4);
    assert!(receipt["retry"]["distorted_url"]
        .as_str()
        .unwrap()
        .ends_with("/trials/4/distorted.png"));
    assert_eq!(pair_at(4).await, pair_at(2).await);

    let (_, receipt) = post_jnd_judgment(&app, token, &jnd_judgment(4, true, hidden)).await;
    assert_eq!(
        receipt["invalid_reason"],
        "the page was hidden during the sequence"
    );
    assert_eq!(receipt["retry"]["position"], 5);
    let (_, receipt) = post_jnd_judgment(&app, token, &jnd_judgment(5, true, blurred)).await;
    assert_eq!(
        receipt["invalid_reason"],
        "the page lost the focus during the sequence"
    );
    // Shown three times: no more retries.
    assert!(receipt["retry"].is_null());

    let progress: Value = app
        .get(&format!("/api/assignments/{token}"))
        .await
        .json()
        .await
        .unwrap();
    let positions: Vec<i64> = progress["jnd"]["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|trial| trial["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, [0, 1, 2, 3, 4, 5]);
    assert_eq!(progress["judged_positions"], json!([2, 4, 5]));

    let mut receipt = Value::Null;
    for position in [0, 1, 3] {
        (_, receipt) =
            post_jnd_judgment(&app, token, &jnd_judgment(position, false, timing(0.0))).await;
    }
    assert_eq!(receipt["completed"], true);

    // With one judgment wanted per pair, the pair judged only invalidly is
    // the one still open: the next worker gets it and nothing else.
    let pair = pair_at(2).await;
    let load: i64 = sqlx::query_scalar("SELECT load FROM pair_loads WHERE pair_id = $1")
        .bind(pair)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(load, 0);
    let (status, next) = app.request_assignment(experiment_id, "w2").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(next["jnd"]["trials"].as_array().unwrap().len(), 1);
    let next_pair: i64 = sqlx::query_scalar(
        "SELECT jt.pair_id FROM jnd_trials jt JOIN assignments a ON a.id = jt.assignment_id
         WHERE a.token = $1",
    )
    .bind(next["token"].as_str().unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(next_pair, pair);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn impossible_timings_and_wrong_trials_are_refused_with_the_reason(pool: PgPool) {
    let (app, settings, assignment) = jnd_assignment(&pool, 2).await;
    let token = token(&assignment);
    let cases = [
        (
            json!({ "refresh_interval_ms": 0.0 }),
            "refresh_interval_ms must be above 0 and at most 1000, not 0",
        ),
        (
            json!({ "distorted_on_at_ms": 1.0 }),
            "the timing's timestamps must be in order: reference on, reference off, distorted on, distorted off",
        ),
    ];
    for (change, expected) in cases {
        let mut timing = timing(0.0);
        for (key, value) in change.as_object().unwrap() {
            timing[key] = value.clone();
        }
        let (status, body) = post_jnd_judgment(&app, token, &jnd_judgment(0, true, timing)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], expected);
    }
    let mut negative = jnd_judgment(0, true, timing(0.0));
    negative["response_ms"] = json!(-5);
    let (status, body) = post_jnd_judgment(&app, token, &negative).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "response_ms must not be negative, not -5");

    let (status, body) = post_jnd_judgment(&app, token, &jnd_judgment(9, true, timing(0.0))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "this assignment has no JND trial at position 9"
    );

    let mut untimed = jnd_judgment(0, true, timing(0.0));
    untimed.as_object_mut().unwrap().remove("timing");
    let (status, body) = post_jnd_judgment(&app, token, &untimed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("timing"), "{body}");

    let (status, body) = post_jnd_judgment(
        &app,
        "no-such-token-0123456789",
        &jnd_judgment(0, true, timing(0.0)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "there is no assignment with this token");

    // A 2AFC assignment has no JND trials.
    let two_afc_settings = NewExperiment {
        kind: ExperimentKind::TwoAfc,
        ..settings
    };
    let two_afc = create_experiment(&pool, &two_afc_settings, 1).await;
    let (_, two_afc_assignment) = app.request_assignment(two_afc, "w1").await;
    let (status, body) = post_jnd_judgment(
        &app,
        two_afc_assignment["token"].as_str().unwrap(),
        &jnd_judgment(0, true, timing(0.0)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "this assignment has no JND trial at position 0"
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_dashboard_api_shows_pair_progress_invalid_share_and_timing_errors(pool: PgPool) {
    let (app, _, assignment) = jnd_assignment(&pool, 2).await;
    let token = token(&assignment);
    post_jnd_judgment(&app, token, &jnd_judgment(0, true, timing(0.0))).await;
    post_jnd_judgment(&app, token, &jnd_judgment(1, true, timing(2.0 * FRAME_MS))).await;
    let experiment_id: i64 =
        sqlx::query_scalar("SELECT experiment_id FROM assignments WHERE token = $1")
            .bind(token)
            .fetch_one(&pool)
            .await
            .unwrap();

    let researcher = app.signed_in_as("owner@example.org").await;
    let detail: Value = researcher
        .get(app.url(&format!("/api/experiments/{experiment_id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["kind"], "jnd");
    assert_eq!(
        (
            detail["judgments"].as_i64(),
            detail["judgments_collected"].as_i64()
        ),
        (Some(2), Some(1))
    );
    // 4 pairs × 2 judgments.
    assert_eq!(detail["judgments_target"], 8);
    let jnd = &detail["jnd"];
    assert_eq!(
        jnd["presentation"],
        json!({ "reference_ms": 1000, "gap_ms": 250, "distorted_ms": 1000 })
    );
    assert_eq!(jnd["pairs"], 4);
    assert_eq!(
        (
            jnd["valid_judgments"].as_i64(),
            jnd["invalid_judgments"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(jnd["invalid_share"], 0.5);
    let errors = jnd["timing_errors"].as_array().unwrap();
    let phases: Vec<&str> = errors
        .iter()
        .map(|error| error["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["reference exposure", "gap", "distorted exposure"]);
    assert_eq!(errors[0]["max_ms"], 0.0);
    assert!((errors[1]["max_ms"].as_f64().unwrap() - 2.0 * FRAME_MS).abs() < 1e-6);
    assert!((errors[1]["mean_ms"].as_f64().unwrap() - FRAME_MS).abs() < 1e-6);

    let list: Value = researcher
        .get(app.url("/api/experiments"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            list[0]["judgments_collected"].as_i64(),
            list[0]["judgments_target"].as_i64()
        ),
        (Some(1), Some(8))
    );
}

/// Uploads an experiment as the dashboard does; returns the status and body.
async fn upload_experiment(
    client: &reqwest::Client,
    app: &TestApp,
    settings: Value,
    images: u8,
) -> (StatusCode, Value) {
    let form = (0..images).fold(
        reqwest::multipart::Form::new().text("settings", settings.to_string()),
        |form, index| {
            let png = server::stimuli::encode_png(&percept_tests::two_afc::synthetic_image(
                96,
                80,
                index * 40,
            ))
            .unwrap();
            form.part(
                "images",
                reqwest::multipart::Part::bytes(png).file_name(format!("{index}.png")),
            )
        },
    );
    let response = client
        .post(app.url("/api/experiments"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

/// The experiment's detail once generation has finished.
async fn generated(client: &reqwest::Client, app: &TestApp, id: &Value) -> Value {
    loop {
        let detail: Value = client
            .get(app.url(&format!("/api/experiments/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if detail["status"] != "generating" {
            return detail;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn researchers_upload_jnd_experiments_from_images_or_from_a_two_afc_experiment(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let client = app.signed_in(&pool, "ada@example.org").await;
    let (status, created) = upload_experiment(
        &client,
        &app,
        json!({ "name": "jnd", "patches_per_image": 3, "jnd": { "gap_ms": 500 } }),
        2,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let detail = generated(&client, &app, &created["id"]).await;
    assert_eq!(detail["status"], "ready", "{detail}");
    assert_eq!(detail["kind"], "jnd");
    assert_eq!(
        detail["jnd"]["presentation"],
        json!({ "reference_ms": 1000, "gap_ms": 500, "distorted_ms": 1000 })
    );
    assert_eq!(detail["jnd"]["pairs"], 6);
    assert_eq!(detail["jnd"]["invalid_share"], Value::Null);

    let (_, two_afc) = upload_experiment(
        &client,
        &app,
        json!({ "name": "2afc", "patches_per_image": 3, "sentinel_rate": 0.0 }),
        1,
    )
    .await;
    generated(&client, &app, &two_afc["id"]).await;
    let (status, sourced) = upload_experiment(
        &client,
        &app,
        json!({ "name": "sourced", "jnd": { "source_experiment_id": two_afc["id"], "control_share": 0.0 } }),
        0,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sourced}");
    let detail = generated(&client, &app, &sourced["id"]).await;
    assert_eq!(detail["jnd"]["pairs"], 6);
    assert_eq!(detail["jnd"]["source_experiment_id"], two_afc["id"]);

    for (settings, images, expected) in [
        (
            json!({ "name": "both", "jnd": { "source_experiment_id": two_afc["id"] } }),
            1,
            "a JND experiment takes its pairs either from a source experiment or from uploaded images, not both",
        ),
        (
            json!({ "name": "from jnd", "jnd": { "source_experiment_id": sourced["id"] } }),
            0,
            "pairs can only be taken from a ready 2AFC experiment",
        ),
        (
            json!({ "name": "none", "jnd": { "source_experiment_id": 999999 } }),
            0,
            "there is no experiment 999999 of yours, or shared with you, to take pairs from",
        ),
        (
            json!({ "name": "typo", "jnd": { "gap": 500 } }),
            1,
            "the settings are not valid: unknown field `gap`",
        ),
    ] {
        let (status, body) = upload_experiment(&client, &app, settings, images).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["error"].as_str().unwrap().starts_with(expected), "{body}");
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_practice_of_a_jnd_experiment_is_a_pair_that_differs(pool: PgPool) {
    let settings = jnd_experiment_settings(&pool, 0.5).await;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let app = TestApp::spawn(pool.clone()).await;
    let practice: Value = app
        .get(&format!("/api/experiments/{experiment_id}/practice"))
        .await
        .json()
        .await
        .unwrap();
    let base = format!("/api/experiments/{experiment_id}/practice");
    assert_eq!(
        practice,
        json!({
            "kind": "jnd",
            "presentation": { "reference_ms": 1000, "gap_ms": 250, "distorted_ms": 1000 },
            "reference_url": format!("{base}/reference.png"),
            "distorted_url": format!("{base}/distorted.png"),
        })
    );
    let (ref_png, distorted_png): (Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT ref_png, distorted_png FROM pairs
         WHERE experiment_id = $1 AND NOT is_control ORDER BY id LIMIT 1",
    )
    .bind(experiment_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_ne!(ref_png, distorted_png);
    for (image, expected) in [("reference", &ref_png), ("distorted", &distorted_png)] {
        let response = app.get(&format!("{base}/{image}.png")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(&response.bytes().await.unwrap()[..], &expected[..]);
    }
    let response = app.get(&format!("{base}/left.png")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"],
        "the practice trial's images are reference.png, distorted.png"
    );
}
