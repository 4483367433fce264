//! 2AFC: stimulus generation, assignments and judgments over real HTTP on a
//! database of each test's own.

use std::collections::{HashMap, HashSet};

use distortions::image::{self, RgbImage};
use distortions::Pipeline;
use percept_tests::two_afc::{
    create_experiment, experiment_settings, judgment, reference_file, synthetic_image,
};
use percept_tests::{percept_binary, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::stimuli::{crop, encode_stimulus_png};
use sqlx::{PgPool, Row};

fn decode(png: &[u8]) -> RgbImage {
    image::load_from_memory(png).unwrap().into_rgb8()
}

/// Each triplet's load: judgments plus open trials, by triplet id.
async fn loads(pool: &PgPool, experiment_id: i64) -> HashMap<i64, i64> {
    sqlx::query("SELECT triplet_id, load FROM triplet_loads WHERE experiment_id = $1")
        .bind(experiment_id)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.get("triplet_id"), row.get("load")))
        .collect()
}

async fn assigned_triplets(pool: &PgPool, token: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT at.triplet_id FROM assignment_trials at
         JOIN assignments a ON a.id = at.assignment_id WHERE a.token = $1",
    )
    .bind(token)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn token(assignment: &Value) -> String {
    assignment["token"].as_str().unwrap().to_owned()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn stimuli_regenerate_byte_for_byte_and_sentinels_copy_the_reference(pool: PgPool) {
    let mut settings = experiment_settings(&pool).await;
    settings.patches_per_image = 8;
    settings.sentinel_rate = 0.3;
    let experiment_id = create_experiment(&pool, &settings, 2).await;

    let rows = sqlx::query(
        "SELECT r.png AS reference, t.crop_x, t.crop_y, t.ref_png, t.p0_png, t.p1_png,
                t.p0_pipeline::text AS p0_pipeline, t.p0_seed,
                t.p1_pipeline::text AS p1_pipeline, t.p1_seed, t.sentinel_answer
         FROM triplets t JOIN reference_images r ON r.id = t.reference_image_id
         WHERE t.experiment_id = $1",
    )
    .bind(experiment_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 16);
    let mut sentinels = 0;
    for row in &rows {
        let reference = decode(row.get("reference"));
        let (x, y): (i32, i32) = (row.get("crop_x"), row.get("crop_y"));
        let patch = crop(&reference, x as u32, y as u32, 64);
        let ref_png: Vec<u8> = row.get("ref_png");
        assert_eq!(decode(&ref_png), patch);
        for side in ["p0", "p1"] {
            let stored: Vec<u8> = row.get(format!("{side}_png").as_str());
            assert_eq!(decode(&stored).dimensions(), (64, 64));
            let pipeline =
                Pipeline::from_json(row.get(format!("{side}_pipeline").as_str())).unwrap();
            let seed: i64 = row.get(format!("{side}_seed").as_str());
            let regenerated = pipeline.apply(&patch, seed as u64).unwrap();
            assert_eq!(
                encode_stimulus_png(&regenerated).unwrap(),
                stored,
                "{side} of a triplet"
            );
        }
        if let Some(answer) = row.get::<Option<i16>, _>("sentinel_answer") {
            sentinels += 1;
            let (same, other) = if answer == 0 {
                ("p0_png", "p1_png")
            } else {
                ("p1_png", "p0_png")
            };
            assert_eq!(row.get::<Vec<u8>, _>(same), ref_png);
            assert_ne!(row.get::<Vec<u8>, _>(other), ref_png);
        } else {
            assert_ne!(row.get::<Vec<u8>, _>("p0_png"), ref_png);
            assert_ne!(row.get::<Vec<u8>, _>("p1_png"), ref_png);
        }
    }
    assert!((1..16).contains(&sentinels), "{sentinels} sentinels of 16");
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn an_image_smaller_than_a_patch_is_refused_by_name_and_nothing_is_stored(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let references = vec![
        reference_file("big.png", 96, 96, 0),
        reference_file("tiny.png", 64, 40, 0),
    ];

    let error = server::experiments::create(&pool, &settings, references, None)
        .await
        .unwrap_err();

    let message = error.to_string();
    assert!(
        message.contains("tiny.png") && message.contains("64×40"),
        "{message}"
    );
    let experiments: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(experiments, 0);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn assignments_spread_judgments_evenly_until_every_triplet_has_its_target(pool: PgPool) {
    // 2 images × 5 patches = 10 triplets × 2 judgments = 20 slots = 5 assignments of 4.
    let mut settings = experiment_settings(&pool).await;
    settings.patches_per_image = 5;
    let experiment_id = create_experiment(&pool, &settings, 2).await;
    let app = TestApp::spawn(pool.clone()).await;

    for worker in 0..5 {
        let (status, assignment) = app
            .request_assignment(experiment_id, &format!("worker-{worker}"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{assignment}");
        assert_eq!(assignment["trials"].as_array().unwrap().len(), 4);
        let loads = loads(&pool, experiment_id).await;
        let (min, max) = (loads.values().min().unwrap(), loads.values().max().unwrap());
        assert!(
            max - min <= 1,
            "uneven after {} assignments: {loads:?}",
            worker + 1
        );
    }
    assert!(loads(&pool, experiment_id)
        .await
        .values()
        .all(|&load| load == 2));

    let (status, body) = app.request_assignment(experiment_id, "worker-late").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "this experiment needs no more judgments");
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_worker_never_sees_a_triplet_twice_and_stops_at_the_limit(pool: PgPool) {
    let mut settings = experiment_settings(&pool).await;
    settings.patches_per_image = 6;
    settings.judgments_per_stimulus = 5;
    settings.max_assignments_per_worker = 3;
    let experiment_id = create_experiment(&pool, &settings, 2).await;
    let app = TestApp::spawn(pool.clone()).await;

    let mut seen = HashSet::new();
    for _ in 0..3 {
        let (status, assignment) = app.request_assignment(experiment_id, "repeat").await;
        assert_eq!(status, StatusCode::CREATED, "{assignment}");
        for triplet in assigned_triplets(&pool, &token(&assignment)).await {
            assert!(seen.insert(triplet), "triplet {triplet} given twice");
        }
    }
    assert_eq!(seen.len(), 12);

    let (status, body) = app.request_assignment(experiment_id, "repeat").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"].as_str().unwrap().contains("limit of 3"),
        "{body}"
    );
    // Another worker is not held back by the first one's limit.
    let (status, _) = app.request_assignment(experiment_id, "someone-else").await;
    assert_eq!(status, StatusCode::CREATED);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn an_expired_assignment_returns_its_trials_and_refuses_judgments(pool: PgPool) {
    let mut settings = experiment_settings(&pool).await;
    settings.judgments_per_stimulus = 1;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let app = TestApp::spawn(pool.clone()).await;
    let (_, abandoned) = app.request_assignment(experiment_id, "leaves").await;
    let (status, _) = app.request_assignment(experiment_id, "waits").await;
    assert_eq!(status, StatusCode::CONFLICT, "all 4 triplets are out");

    sqlx::query("UPDATE assignments SET expires_at = now() - interval '1 second' WHERE token = $1")
        .bind(token(&abandoned))
        .execute(&pool)
        .await
        .unwrap();

    let (status, retaken) = app.request_assignment(experiment_id, "waits").await;
    assert_eq!(status, StatusCode::CREATED, "{retaken}");
    let mut returned = assigned_triplets(&pool, &token(&retaken)).await;
    let mut given_up = assigned_triplets(&pool, &token(&abandoned)).await;
    returned.sort();
    given_up.sort();
    assert_eq!(returned, given_up);
    let (status, body) = app
        .submit_judgment(&token(&abandoned), &judgment(0, "left"))
        .await;
    assert_eq!(status, StatusCode::GONE);
    assert!(
        body["error"].as_str().unwrap().contains("expired"),
        "{body}"
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn trial_images_are_served_only_through_their_assignment(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let app = TestApp::spawn(pool.clone()).await;
    let (_, assignment) = app.request_assignment(experiment_id, "viewer").await;
    let trial = &assignment["trials"][0];

    let mut images = HashMap::new();
    for key in ["reference_url", "left_url", "right_url"] {
        let response = app.get(trial[key].as_str().unwrap()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "image/png");
        let png = response.bytes().await.unwrap().to_vec();
        assert_eq!(decode(&png).dimensions(), (64, 64));
        images.insert(key, png);
    }
    let stored = sqlx::query(
        "SELECT t.ref_png, t.p0_png, t.p1_png, at.left_is_p0 FROM assignment_trials at
         JOIN assignments a ON a.id = at.assignment_id JOIN triplets t ON t.id = at.triplet_id
         WHERE a.token = $1 AND at.position = 0",
    )
    .bind(token(&assignment))
    .fetch_one(&pool)
    .await
    .unwrap();
    let (p0, p1): (Vec<u8>, Vec<u8>) = (stored.get("p0_png"), stored.get("p1_png"));
    let (left, right) = if stored.get("left_is_p0") {
        (p0, p1)
    } else {
        (p1, p0)
    };
    assert_eq!(images["reference_url"], stored.get::<Vec<u8>, _>("ref_png"));
    assert_eq!(images["left_url"], left);
    assert_eq!(images["right_url"], right);

    let position_elsewhere = format!("/api/assignments/{}/trials/99/left.png", token(&assignment));
    let response = app.get(&position_elsewhere).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("position 99"),
        "{body}"
    );
    let response = app
        .get("/api/assignments/not-a-token/trials/0/left.png")
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("token"), "{body}");
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn judgments_are_stored_once_and_the_last_one_completes_the_assignment(pool: PgPool) {
    let mut settings = experiment_settings(&pool).await;
    settings.completion_redirect_url = Some("https://app.prolific.com/submissions/complete".into());
    let experiment_id = create_experiment(&pool, &settings, 2).await;
    let app = TestApp::spawn(pool.clone()).await;
    let (_, assignment) = app.request_assignment(experiment_id, "judge").await;
    let (_, other) = app.request_assignment(experiment_id, "other-judge").await;
    let token = token(&assignment);

    let first = judgment(0, "right");
    let (status, receipt) = app.submit_judgment(&token, &first).await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    assert_eq!(receipt["completed"], false);
    let (status, retried) = app.submit_judgment(&token, &first).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(retried, receipt);
    let stored: (i64, bool) = sqlx::query_as(
        "SELECT count(*) OVER (), chose_p1 = ((chosen_side = 'right') = at.left_is_p0)
         FROM judgments j JOIN assignment_trials at USING (assignment_id, position)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored.0, 1, "a retry must not add a row");
    assert!(stored.1, "chose_p1 must follow the side shown");

    let mut changed = first.clone();
    changed["chosen_side"] = json!("left");
    let (status, body) = app.submit_judgment(&token, &changed).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("different content"),
        "{body}"
    );
    let (status, body) = app.submit_judgment(&token, &judgment(0, "left")).await;
    assert_eq!(status, StatusCode::CONFLICT, "position 0 is judged already");
    assert!(
        body["error"].as_str().unwrap().contains("already judged"),
        "{body}"
    );
    let (status, body) = app.submit_judgment(&token, &judgment(4, "left")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("position 4"),
        "{body}"
    );
    let (status, _) = app
        .submit_judgment("not-a-token", &judgment(1, "left"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .submit_judgment(&token, &json!({ "id": "x", "position": 1 }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let mut negative = judgment(1, "left");
    negative["response_ms"] = json!(-5);
    let (status, _) = app.submit_judgment(&token, &negative).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The same judgment id sent to another assignment is a different judgment.
    let (status, _) = app.submit_judgment(&self::token(&other), &first).await;
    assert_eq!(status, StatusCode::CONFLICT);

    for position in 1..3 {
        let (status, receipt) = app
            .submit_judgment(&token, &judgment(position, "left"))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(receipt["completed"], false);
        assert!(receipt["completion_code"].is_null());
    }
    let (status, receipt) = app.submit_judgment(&token, &judgment(3, "left")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(receipt["completed"], true);
    let code = receipt["completion_code"].as_str().unwrap();
    assert_eq!(code.len(), 10);
    assert_eq!(
        receipt["redirect_url"],
        "https://app.prolific.com/submissions/complete"
    );
    let (stored_code,): (String,) =
        sqlx::query_as("SELECT completion_code FROM assignments WHERE token = $1")
            .bind(&token)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stored_code, code);
    let (status, body) = app.submit_judgment(&token, &judgment(3, "right")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"].as_str().unwrap().contains("complete"),
        "{body}"
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn concurrent_requests_never_assign_a_triplet_beyond_its_target(pool: PgPool) {
    // 4 images × 4 patches = 16 triplets × 2 judgments = 32 slots = 8 assignments of 4.
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 4).await;
    let app = std::sync::Arc::new(TestApp::spawn(pool.clone()).await);

    let requests = (0..10).map(|worker| {
        let app = app.clone();
        tokio::spawn(async move {
            app.request_assignment(experiment_id, &format!("racer-{worker}"))
                .await
                .0
        })
    });
    let mut statuses = Vec::new();
    for request in requests.collect::<Vec<_>>() {
        statuses.push(request.await.unwrap());
    }

    let created = statuses
        .iter()
        .filter(|&&s| s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|&&s| s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, refused), (8, 2), "{statuses:?}");
    assert!(loads(&pool, experiment_id)
        .await
        .values()
        .all(|&load| load == 2));
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn sentinel_scores_count_picks_of_the_undistorted_side(pool: PgPool) {
    let mut settings = experiment_settings(&pool).await;
    settings.patches_per_image = 10;
    settings.sentinel_rate = 0.5;
    settings.trials_per_assignment = 6;
    let experiment_id = create_experiment(&pool, &settings, 2).await;
    let app = TestApp::spawn(pool.clone()).await;
    let (_, assignment) = app.request_assignment(experiment_id, "checked").await;
    let trials: Vec<(i32, bool, Option<i16>)> = sqlx::query_as(
        "SELECT at.position, at.left_is_p0, t.sentinel_answer FROM assignment_trials at
         JOIN assignments a ON a.id = at.assignment_id JOIN triplets t ON t.id = at.triplet_id
         WHERE a.token = $1",
    )
    .bind(token(&assignment))
    .fetch_all(&pool)
    .await
    .unwrap();
    let sentinel_trials: Vec<_> = trials.iter().filter(|trial| trial.2.is_some()).collect();
    assert!(!sentinel_trials.is_empty(), "{trials:?}");

    // Pass the first sentinel, fail the others.
    for (index, (position, left_is_p0, answer)) in sentinel_trials.iter().enumerate() {
        let correct_is_left = (*answer == Some(0)) == *left_is_p0;
        let pick_left = correct_is_left == (index == 0);
        let side = if pick_left { "left" } else { "right" };
        let (status, _) = app
            .submit_judgment(&token(&assignment), &judgment(i64::from(*position), side))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }

    let scores = server::quality::sentinel_scores(&pool, experiment_id)
        .await
        .unwrap();
    assert_eq!(scores.len(), 1);
    assert_eq!(scores[0].judged, sentinel_trials.len() as i64);
    assert_eq!(scores[0].passed, 1);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn malformed_assignment_requests_get_json_errors(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let app = TestApp::spawn(pool).await;
    let path = format!("/api/experiments/{experiment_id}/assignments");

    for (body, expected_status, mention) in [
        (
            json!({ "platform": "prolific" }),
            StatusCode::BAD_REQUEST,
            "worker_id",
        ),
        (
            json!({ "platform": "myspace", "worker_id": "a" }),
            StatusCode::BAD_REQUEST,
            "platform",
        ),
    ] {
        let response = app.post_json(&path, &body).await;
        assert_eq!(response.status(), expected_status);
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(mention),
            "{error}"
        );
    }
    let response = app
        .post_json(
            "/api/experiments/999/assignments",
            &json!({ "platform": "anonymous" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app
        .post_json(&path, &json!({ "platform": "anonymous" }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let assignment: Value = response.json().await.unwrap();
    assert!(!assignment["platform_worker_id"]
        .as_str()
        .unwrap()
        .is_empty());
    assert!(assignment["token"].as_str().unwrap().len() >= 43);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_cli_adds_a_researcher_and_creates_an_experiment_from_a_folder(pool: PgPool) {
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut url = reqwest::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    url.set_path(&database);
    let images = tempfile::tempdir().unwrap();
    for (name, tint) in [("a.png", 0), ("b.jpg", 90)] {
        synthetic_image(80, 80, tint)
            .save(images.path().join(name))
            .unwrap();
    }
    let percept = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(percept_binary())
            .args(args)
            .env("DATABASE_URL", url.as_str())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };

    let added = percept(
        &[
            "researcher",
            "add",
            "--email",
            "cli@example.org",
            "--password-stdin",
        ],
        "correct horse battery\n",
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let images_arg = images.path().to_str().unwrap();
    let created = percept(
        &[
            "experiment",
            "create",
            "--kind",
            "2afc",
            "--images",
            images_arg,
            "--owner",
            "cli@example.org",
            "--name",
            "from the CLI",
            "--patches-per-image",
            "3",
            "--seed",
            "11",
        ],
        "",
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let id: i64 = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (triplets, references): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM triplets WHERE experiment_id = $1),
                (SELECT count(*) FROM reference_images WHERE experiment_id = $1)",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((triplets, references), (6, 2));

    let jnd = percept(
        &[
            "experiment",
            "create",
            "--kind",
            "jnd",
            "--images",
            images_arg,
            "--owner",
            "cli@example.org",
            "--name",
            "jnd",
            "--patches-per-image",
            "3",
            "--gap-ms",
            "500",
        ],
        "",
    );
    assert!(
        jnd.status.success(),
        "{}",
        String::from_utf8_lossy(&jnd.stderr)
    );
    let jnd_id: i64 = String::from_utf8(jnd.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (kind, gap_ms, pairs): (String, i32, i64) = sqlx::query_as(
        "SELECT kind, gap_ms, (SELECT count(*) FROM pairs WHERE experiment_id = $1)
         FROM experiments WHERE id = $1",
    )
    .bind(jnd_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((kind.as_str(), gap_ms, pairs), ("jnd", 500, 6));

    // Pairs from the 2AFC experiment's real triplets: two each (reference
    // with p0, with p1), and controls making 10 % of all.
    let sourced = percept(
        &[
            "experiment",
            "create",
            "--kind",
            "jnd",
            "--source-experiment",
            &id.to_string(),
            "--owner",
            "cli@example.org",
            "--name",
            "jnd from 2afc",
        ],
        "",
    );
    assert!(
        sourced.status.success(),
        "{}",
        String::from_utf8_lossy(&sourced.stderr)
    );
    let sourced_id: i64 = String::from_utf8(sourced.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (distorted, controls, real_triplets): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE NOT is_control), count(*) FILTER (WHERE is_control),
                (SELECT count(*) FROM triplets WHERE experiment_id = $2 AND sentinel_answer IS NULL)
         FROM pairs WHERE experiment_id = $1",
    )
    .bind(sourced_id)
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(distorted, 2 * real_triplets);
    assert_eq!(controls, (distorted as f64 / 9.0).round() as i64);
}
