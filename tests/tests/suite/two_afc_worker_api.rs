//! The API the worker pages read besides assignments and judgments: an
//! assignment's progress (to resume after a reload) and the practice trial.

use distortions::image;
use percept_tests::two_afc::{create_experiment, experiment_settings, judgment};
use percept_tests::TestApp;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

async fn get_json(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let response = app.get(path).await;
    (response.status(), response.json().await.unwrap())
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn progress_lists_the_trials_and_which_are_judged_until_completion(pool: PgPool) {
    let mut settings = experiment_settings(&pool).await;
    settings.completion_redirect_url = Some("https://example.org/done".into());
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let app = TestApp::spawn(pool).await;
    let (status, assignment) = app.request_assignment(experiment_id, "w1").await;
    assert_eq!(status, StatusCode::CREATED);
    let token = assignment["token"].as_str().unwrap();
    let path = format!("/api/assignments/{token}");

    let (status, progress) = get_json(&app, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(progress["trials"], assignment["trials"]);
    assert_eq!(progress["expires_at"], assignment["expires_at"]);
    assert_eq!(progress["judged_positions"], serde_json::json!([]));
    assert_eq!(progress["completed"], false);
    assert_eq!(progress["expired"], false);
    assert!(progress["completion_code"].is_null());
    assert!(progress["redirect_url"].is_null());

    let judgments = format!("/api/assignments/{token}/judgments");
    let trial_count = progress["trials"].as_array().unwrap().len() as i64;
    for position in [2, 0] {
        let (status, _) = app
            .submit_judgment(token, &judgment(position, "left"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{judgments}");
    }
    let (_, progress) = get_json(&app, &path).await;
    assert_eq!(progress["judged_positions"], serde_json::json!([0, 2]));
    assert_eq!(progress["completed"], false);

    let mut receipt = Value::Null;
    for position in (1..trial_count).filter(|position| *position != 2) {
        (_, receipt) = app
            .submit_judgment(token, &judgment(position, "right"))
            .await;
    }
    assert_eq!(receipt["completed"], true);
    let (_, progress) = get_json(&app, &path).await;
    assert_eq!(progress["completed"], true);
    assert_eq!(progress["completion_code"], receipt["completion_code"]);
    assert_eq!(progress["redirect_url"], "https://example.org/done");
    assert_eq!(
        progress["judged_positions"].as_array().unwrap().len() as i64,
        trial_count
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn progress_says_when_an_unfinished_assignment_expired(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let app = TestApp::spawn(pool.clone()).await;
    let (_, assignment) = app.request_assignment(experiment_id, "w1").await;
    let token = assignment["token"].as_str().unwrap();
    sqlx::query("UPDATE assignments SET expires_at = now() - interval '1 minute' WHERE token = $1")
        .bind(token)
        .execute(&pool)
        .await
        .unwrap();
    let (status, progress) = get_json(&app, &format!("/api/assignments/{token}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(progress["expired"], true);
    assert_eq!(progress["completed"], false);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn an_unknown_token_is_a_json_404(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (status, body) = get_json(&app, "/api/assignments/no-such-token-at-all-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "there is no assignment with this token");
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn practice_shows_a_reference_patch_beside_itself_and_its_p0(pool: PgPool) {
    let mut settings = experiment_settings(&pool).await;
    // Sentinels are made at random; the practice must skip them.
    settings.sentinel_rate = 0.5;
    settings.patches_per_image = 8;
    let experiment_id = create_experiment(&pool, &settings, 2).await;
    let app = TestApp::spawn(pool.clone()).await;

    let (status, practice) =
        get_json(&app, &format!("/api/experiments/{experiment_id}/practice")).await;
    assert_eq!(status, StatusCode::OK);
    let fields: Vec<&String> = practice.as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        [
            "identical_side",
            "kind",
            "left_url",
            "reference_url",
            "right_url"
        ],
        "the practice exposes only what the trial needs"
    );
    let (ref_png, p0_png): (Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT ref_png, p0_png FROM triplets
         WHERE experiment_id = $1 AND sentinel_answer IS NULL ORDER BY id LIMIT 1",
    )
    .bind(experiment_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_ne!(ref_png, p0_png);

    let identical = practice["identical_side"].as_str().unwrap();
    let other = if identical == "left" { "right" } else { "left" };
    for (image, expected) in [
        ("reference", &ref_png),
        (identical, &ref_png),
        (other, &p0_png),
    ] {
        let url = practice[format!("{image}_url")].as_str().unwrap();
        let response = app.get(url).await;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert_eq!(response.headers()["content-type"], "image/png");
        let png = response.bytes().await.unwrap();
        assert_eq!(&png[..], &expected[..], "{image}");
        image::load_from_memory(&png).unwrap();
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn practice_of_an_unknown_experiment_or_image_is_a_json_404(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let app = TestApp::spawn(pool).await;
    for path in [
        "/api/experiments/999999/practice".to_string(),
        "/api/experiments/999999/practice/left.png".to_string(),
        format!("/api/experiments/{experiment_id}/practice/middle.png"),
    ] {
        let (status, body) = get_json(&app, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body["error"].is_string(), "{path}");
    }
}
