//! The researcher's API over real HTTP on a database of each test's own:
//! sessions, creating experiments by upload, and following them.

use std::time::{Duration, Instant};

use percept_tests::researchers::{browser_like_client, PASSWORD};
use percept_tests::two_afc::{
    create_experiment, experiment_settings, judgment, reference_file, synthetic_image,
};
use percept_tests::TestApp;
use reqwest::{multipart, Client, StatusCode};
use serde_json::{json, Value};
use server::jobs::JobKind;
use server::stimuli::encode_png;
use sqlx::PgPool;

async fn get_json(client: &Client, app: &TestApp, path: &str) -> (StatusCode, Value) {
    let response = client.get(app.url(path)).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

fn png_part(file_name: &str, width: u32, height: u32, tint: u8) -> multipart::Part {
    multipart::Part::bytes(encode_png(&synthetic_image(width, height, tint)).unwrap())
        .file_name(file_name.to_owned())
        .mime_str("image/png")
        .unwrap()
}

fn upload(settings: &Value, images: Vec<multipart::Part>) -> multipart::Form {
    images.into_iter().fold(
        multipart::Form::new().text("settings", settings.to_string()),
        |form, image| form.part("images", image),
    )
}

fn small_settings() -> Value {
    json!({
        "name": "uploaded",
        "split": "val",
        "category": "synthetic",
        "patch_size": 32,
        "patches_per_image": 3,
        "judgments_per_stimulus": 5,
        "trials_per_assignment": 4,
        "sentinel_rate": 0.0,
        "max_assignments_per_worker": 3,
        "seed": 11,
    })
}

/// Polls the experiment until its generation is over; returns it.
async fn wait_until_generated(client: &Client, app: &TestApp, experiment_id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, experiment) =
            get_json(client, app, &format!("/api/experiments/{experiment_id}")).await;
        assert_eq!(status, StatusCode::OK, "{experiment}");
        if experiment["status"] != "generating" {
            return experiment;
        }
        assert!(Instant::now() < deadline, "generation never finished");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_it(pool: PgPool) {
    server::researchers::add(&pool, "ada@example.org", PASSWORD)
        .await
        .unwrap();
    let app = TestApp::spawn(pool.clone()).await;
    let client = browser_like_client();

    // An unknown email and a wrong password are told apart by nothing.
    let mut refusals = Vec::new();
    for (email, password) in [
        ("ada@example.org", "not her password"),
        ("nobody@example.org", PASSWORD),
    ] {
        let response = client
            .post(app.url("/api/session"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get("set-cookie").is_none());
        refusals.push(response.json::<Value>().await.unwrap());
    }
    assert_eq!(refusals[0], refusals[1]);
    assert_eq!(refusals[0]["error"], "wrong email or password");
    assert_eq!(
        get_json(&client, &app, "/api/session").await.0,
        StatusCode::UNAUTHORIZED
    );

    let response = client
        .post(app.url("/api/session"))
        .json(&json!({ "email": "ada@example.org", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("percept_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    // Only the token's hash is stored.
    let token = cookie["percept_session=".len()..]
        .split(';')
        .next()
        .unwrap();
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_sha256 FROM researcher_sessions")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token.as_bytes());
    assert_eq!(stored[0].len(), 32);

    let (status, me) = get_json(&client, &app, "/api/session").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "ada@example.org");

    let response = client.delete(app.url("/api/session")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let (status, error) = get_json(&client, &app, "/api/session").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"], "sign in first");
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM researcher_sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn cookies_are_secure_behind_https_and_expired_sessions_sign_nobody_in(pool: PgPool) {
    server::researchers::add(&pool, "ada@example.org", PASSWORD)
        .await
        .unwrap();
    let app = TestApp::spawn(pool.clone()).await;
    let client = browser_like_client();
    let response = client
        .post(app.url("/api/session"))
        .header("X-Forwarded-Proto", "https")
        .json(&json!({ "email": "ada@example.org", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let token = cookie["percept_session=".len()..]
        .split(';')
        .next()
        .unwrap();

    let with_cookie = |path: &str| {
        app.http
            .get(app.url(path))
            .header("Cookie", format!("percept_session={token}"))
            .send()
    };
    assert_eq!(
        with_cookie("/api/session").await.unwrap().status(),
        StatusCode::OK
    );
    sqlx::query("UPDATE researcher_sessions SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        with_cookie("/api/session").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn researcher_routes_refuse_anonymous_callers_and_other_researchers(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let triplet_id: i64 =
        sqlx::query_scalar("SELECT min(id) FROM triplets WHERE experiment_id = $1")
            .bind(experiment_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    let app = TestApp::spawn(pool.clone()).await;
    let owner = app.signed_in_as("owner@example.org").await;
    let stranger = app.signed_in(&pool, "stranger@example.org").await;
    let anonymous = browser_like_client();

    let experiment_paths = [
        format!("/api/experiments/{experiment_id}"),
        format!("/api/experiments/{experiment_id}/workers"),
        format!("/api/experiments/{experiment_id}/triplets"),
        format!("/api/experiments/{experiment_id}/triplets/{triplet_id}/ref.png"),
        format!("/api/experiments/{experiment_id}/triplets/{triplet_id}/p1.png"),
    ];
    for path in &experiment_paths {
        assert_eq!(
            owner.get(app.url(path)).send().await.unwrap().status(),
            StatusCode::OK,
            "{path}"
        );
        let (status, error) = get_json(&anonymous, &app, path).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(error["error"], "sign in first");
        let (status, error) = get_json(&stranger, &app, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            error["error"],
            format!("you have no experiment {experiment_id}")
        );
    }

    let (status, _) = get_json(&anonymous, &app, "/api/experiments").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, list) = get_json(&stranger, &app, "/api/experiments").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([]));
    let (status, list) = get_json(&owner, &app, "/api/experiments").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["id"], experiment_id);

    let response = anonymous
        .post(app.url("/api/experiments"))
        .multipart(upload(
            &small_settings(),
            vec![png_part("a.png", 80, 80, 0)],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let experiments: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(experiments, 1);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn an_uploaded_experiment_is_generated_in_the_background_until_ready(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let client = app.signed_in(&pool, "ada@example.org").await;
    let response = client
        .post(app.url("/api/experiments"))
        .multipart(upload(
            &small_settings(),
            vec![
                png_part("first.png", 80, 64, 0),
                png_part("second.png", 64, 96, 90),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let experiment_id = response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();

    let experiment = wait_until_generated(&client, &app, experiment_id).await;
    assert_eq!(experiment["status"], "ready", "{experiment}");
    assert_eq!(experiment["stimuli_total"], 6);
    assert_eq!(experiment["stimuli_generated"], 6);
    assert_eq!(experiment["reference_images"], 2);
    assert_eq!(experiment["split"], "val");
    assert_eq!(experiment["category"], "synthetic");
    assert_eq!(experiment["patch_size"], 32);
    assert_eq!(experiment["seed"], 11);
    assert_eq!(experiment["judgments_collected"], 0);
    assert_eq!(experiment["judgments_target"], 6 * 5);
    assert_eq!(experiment["worker_url"], format!("/e/{experiment_id}"));
    // Defaults fill in what the form left out.
    assert_eq!(experiment["assignment_ttl_minutes"], 30.0);
    assert_eq!(experiment["max_sentinel_failure_share"], 0.5);

    let (_, list) = get_json(&client, &app, "/api/experiments").await;
    assert_eq!(list[0]["id"], experiment_id);
    assert_eq!(list[0]["status"], "ready");
    assert_eq!(list[0]["judgments_target"], 30);

    let (status, page) = get_json(
        &client,
        &app,
        &format!("/api/experiments/{experiment_id}/triplets?offset=2&limit=3"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 6);
    let triplets = page["triplets"].as_array().unwrap();
    assert_eq!(triplets.len(), 3);
    assert_eq!(triplets[0]["reference_file_name"], "first.png");
    assert_eq!(triplets[2]["reference_file_name"], "second.png");
    assert!(triplets[0]["p0_pipeline"].is_array());
    let png = client
        .get(app.url(triplets[0]["p1_url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    let image = distortions::image::load_from_memory(&png.bytes().await.unwrap()).unwrap();
    assert_eq!((image.width(), image.height()), (32, 32));

    // Workers are welcome now.
    let (status, _) = app.request_assignment(experiment_id, "w1").await;
    assert_eq!(status, StatusCode::CREATED);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn bad_uploads_are_refused_with_what_is_wrong(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let client = app.signed_in(&pool, "ada@example.org").await;
    let good = || png_part("good.png", 80, 80, 0);
    let mut wrong_settings = small_settings();
    wrong_settings["sentinel_rate"] = json!(1.5);
    let mut misspelt = small_settings();
    misspelt["patch_sise"] = json!(32);
    let cases = [
        (
            upload(&small_settings(), vec![]),
            "at least one reference image",
        ),
        (
            multipart::Form::new().part("images", good()),
            "no `settings` field",
        ),
        (
            multipart::Form::new()
                .text("settings", "{not json")
                .part("images", good()),
            "the settings are not valid",
        ),
        (upload(&misspelt, vec![good()]), "patch_sise"),
        (upload(&wrong_settings, vec![good()]), "sentinel rate"),
        (
            upload(
                &small_settings(),
                vec![
                    good(),
                    multipart::Part::bytes(b"not an image".to_vec()).file_name("broken.png"),
                ],
            ),
            "broken.png cannot be decoded",
        ),
        (
            upload(&small_settings(), vec![png_part("tiny.png", 16, 16, 0)]),
            "tiny.png is 16×16",
        ),
        (
            upload(&small_settings(), vec![good(), good()]),
            "good.png is given twice",
        ),
    ];
    for (form, mention) in cases {
        let response = client
            .post(app.url("/api/experiments"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{mention}");
        let error: Value = response.json().await.unwrap();
        let message = error["error"].as_str().unwrap();
        assert!(message.contains(mention), "{message:?} lacks {mention:?}");
    }

    let response = client
        .post(app.url("/api/experiments"))
        .json(&small_settings())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("multipart"));

    let experiments: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(experiments, 0, "a refused upload stores nothing");
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn workers_failing_sentinels_are_flagged_and_left_out_of_the_counts(pool: PgPool) {
    let mut settings = experiment_settings(&pool).await;
    settings.patches_per_image = 10;
    settings.sentinel_rate = 0.5;
    settings.trials_per_assignment = 4;
    let experiment_id = create_experiment(&pool, &settings, 2).await;
    let app = TestApp::spawn(pool.clone()).await;
    let owner = app.signed_in_as("owner@example.org").await;

    // "careful" answers every sentinel right, "careless" every one wrong;
    // both pick the left side of real triplets.
    let mut worker_triplets = Vec::new();
    for (worker, right_answers) in [("careful", true), ("careless", false)] {
        let (status, assignment) = app.request_assignment(experiment_id, worker).await;
        assert_eq!(status, StatusCode::CREATED, "{assignment}");
        let token = assignment["token"].as_str().unwrap();
        let trials: Vec<(i32, bool, Option<i16>, i64)> = sqlx::query_as(
            "SELECT at.position, at.left_is_p0, t.sentinel_answer, t.id
             FROM assignment_trials at
             JOIN assignments a ON a.id = at.assignment_id
             JOIN triplets t ON t.id = at.triplet_id
             WHERE a.token = $1 ORDER BY at.position",
        )
        .bind(token)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(trials.iter().filter(|t| t.2.is_some()).count(), 2);
        for (position, left_is_p0, sentinel_answer, _) in &trials {
            let pick_left = match sentinel_answer {
                Some(answer) => ((*answer == 0) == *left_is_p0) == right_answers,
                None => true,
            };
            let side = if pick_left { "left" } else { "right" };
            let (status, body) = app
                .submit_judgment(token, &judgment(i64::from(*position), side))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        worker_triplets.push(trials);
    }

    let (status, workers) = get_json(
        &owner,
        &app,
        &format!("/api/experiments/{experiment_id}/workers"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let workers = workers.as_array().unwrap();
    assert_eq!(workers.len(), 2);
    let careful = &workers[0];
    let careless = &workers[1];
    assert_eq!(careful["external_id"], "careful");
    assert_eq!(careful["platform"], "prolific");
    assert_eq!(careful["assignments"], 1);
    assert_eq!(careful["assignments_completed"], 1);
    assert_eq!(careful["judgments"], 4);
    assert_eq!(careful["sentinels_judged"], 2);
    assert_eq!(careful["sentinels_passed"], 2);
    assert_eq!(careful["sentinel_pass_rate"], 1.0);
    assert_eq!(careful["median_response_ms"], 850.0);
    assert_eq!(careful["flagged"], false);
    assert_eq!(careless["external_id"], "careless");
    assert_eq!(careless["sentinels_passed"], 0);
    assert_eq!(careless["sentinel_pass_rate"], 0.0);
    assert_eq!(careless["flagged"], true);

    let flagged = server::quality::flagged_worker_ids(&pool, experiment_id)
        .await
        .unwrap();
    assert_eq!(flagged, vec![careless["id"].as_i64().unwrap()]);

    let (_, experiment) =
        get_json(&owner, &app, &format!("/api/experiments/{experiment_id}")).await;
    assert_eq!(experiment["flagged_workers"], 1);
    assert_eq!(experiment["workers"], 2);
    assert_eq!(experiment["judgments"], 8);
    assert_eq!(experiment["judgments_collected"], 4);

    // In the triplet browser the careless worker's judgments are shown, marked,
    // and not counted.
    let (_, page) = get_json(
        &owner,
        &app,
        &format!("/api/experiments/{experiment_id}/triplets?limit=200"),
    )
    .await;
    let careless_real_triplet = worker_triplets[1]
        .iter()
        .find(|trial| trial.2.is_none())
        .unwrap()
        .3;
    let triplet = page["triplets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|triplet| triplet["id"] == careless_real_triplet)
        .unwrap();
    let judgments = triplet["judgments"].as_array().unwrap();
    assert!(judgments
        .iter()
        .any(|j| j["worker_external_id"] == "careless" && j["flagged_worker"] == true));
    let counted = judgments
        .iter()
        .filter(|j| j["flagged_worker"] == false)
        .count();
    assert_eq!(triplet["judgments_counted"], counted);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn workers_get_no_assignments_until_generation_is_done(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let stored = server::experiments::store(
        &pool,
        &settings,
        vec![reference_file("only.png", 96, 80, 0)],
    )
    .await
    .unwrap();
    let experiment_id = stored.id;
    // Hold the generation job, as a process still working on it would.
    let held = server::jobs::claim(&pool, &[JobKind::Generation], None, "test:1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.id, stored.generation_job_id);
    let app = TestApp::spawn(pool.clone()).await;

    let (status, error) = app.request_assignment(experiment_id, "early").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(error["error"]
        .as_str()
        .unwrap()
        .contains("still being generated"));

    server::jobs::release(&pool, held.id, "test:1")
        .await
        .unwrap();
    server::experiments::generation::wait_for(&pool, &stored, None)
        .await
        .unwrap();
    let (status, _) = app.request_assignment(experiment_id, "early").await;
    assert_eq!(status, StatusCode::CREATED);
}
