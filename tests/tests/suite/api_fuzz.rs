//! The whole HTTP API fuzzed from its own OpenAPI document by schemathesis
//! (from the project's venv): no generated request, valid or malformed, gets
//! a server error, every answer matches the document, and every 4xx is a
//! JSON `{"error": "..."}` (the `rejections_are_json_errors` check of
//! `fuzz/schemathesis/hooks.py`).
//!
//! The app runs on a database with real data, and schemathesis draws the path
//! parameters mostly from it (experiments, a token of each kind, a triplet) and
//! is signed in as their owner, so requests reach past the 404s and 401s into
//! the handlers. Bounded for the suite; `cargo xtask fuzz` runs it longer with
//! `PERCEPT_API_FUZZ_EXAMPLES` and `PERCEPT_API_FUZZ_SEED`.

use std::path::{Path, PathBuf};

use percept_tests::researchers::PASSWORD;
use percept_tests::two_afc::{create_experiment, experiment_settings};
use percept_tests::TestApp;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use server::experiments::ExperimentKind;
use server::jnd::JndSettings;
use sqlx::PgPool;

/// Test cases per API operation and phase: enough to reach every kind of
/// malformed parameter and body within about a minute on a shared machine.
const DEFAULT_EXAMPLES: &str = "5";
const DEFAULT_SEED: &str = "20260101";

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn no_generated_request_gets_a_server_error_and_rejections_are_json_errors(pool: PgPool) {
    let venv = std::env::var_os("PERCEPT_VENV")
        .map(PathBuf::from)
        .expect("PERCEPT_VENV (cargo xtask test and `cargo xtask env` set it)");
    let app = TestApp::spawn(pool.clone()).await;

    let two_afc_settings = experiment_settings(&pool).await;
    let two_afc = create_experiment(&pool, &two_afc_settings, 2).await;
    let jnd_settings = server::experiments::NewExperiment {
        kind: ExperimentKind::Jnd(JndSettings::default()),
        ..two_afc_settings.clone()
    };
    let jnd = create_experiment(&pool, &jnd_settings, 2).await;
    let two_afc_token = assignment_token(&app, two_afc).await;
    let jnd_token = assignment_token(&app, jnd).await;
    let triplet_id: i64 =
        sqlx::query_scalar("SELECT id FROM triplets WHERE experiment_id = $1 ORDER BY id LIMIT 1")
            .bind(two_afc)
            .fetch_one(&pool)
            .await
            .unwrap();
    let session_cookie = session_cookie(&app).await;

    let work_dir = tempfile::tempdir().unwrap();
    let config = work_dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        schemathesis_config(&[two_afc, jnd], &[&two_afc_token, &jnd_token], triplet_id),
    )
    .unwrap();
    let examples =
        std::env::var("PERCEPT_API_FUZZ_EXAMPLES").unwrap_or_else(|_| DEFAULT_EXAMPLES.into());
    let seed = std::env::var("PERCEPT_API_FUZZ_SEED").unwrap_or_else(|_| DEFAULT_SEED.into());

    // Async: the app under test serves on this test's runtime.
    let run = tokio::process::Command::new(venv.join("bin/schemathesis"))
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(app.url("/api/openapi.json"))
        .args(["--url", &app.url("")])
        .args(["--header", &format!("Cookie: {session_cookie}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,rejections_are_json_errors",
        ])
        // Signing out would end the session every other researcher call rides on.
        .args(["--exclude-operation-id", "sign_out"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples, "--seed", &seed])
        // One worker: with several, the venv's CPython 3.11 intermittently
        // fails inside hypothesis ("AST constructor recursion depth mismatch").
        .args(["--generation-database", "none", "--workers", "1"])
        .args(["--no-color", "--output-truncate", "false"])
        .current_dir(work_dir.path())
        .output()
        .await
        .expect("running schemathesis from PERCEPT_VENV (cargo xtask setup installs it)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "schemathesis found failures (above)");
    let generated = test_cases_generated(&stdout);
    println!("api_fuzz: schemathesis generated {generated} test cases");
    assert!(generated > 0, "schemathesis generated no test case");
}

/// Requests outside the document, which schemathesis does not make: they
/// answer with the same JSON errors.
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn unknown_paths_wrong_methods_and_oversized_bodies_answer_json_errors(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let expect_json_error = |response: reqwest::Response, status: StatusCode| async move {
        assert_eq!(response.status(), status, "{}", response.url());
        let content_type = response.headers()[header::CONTENT_TYPE].clone();
        let body = response.text().await.unwrap();
        assert_eq!(content_type, "application/json", "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|error| !error.is_empty()),
            "{body}"
        );
    };

    expect_json_error(
        app.get("/api/no-such-endpoint").await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let wrong_method = app
        .http
        .delete(app.url("/api/experiments/1/report"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.headers()[header::ALLOW], "GET,HEAD");
    expect_json_error(wrong_method, StatusCode::METHOD_NOT_ALLOWED).await;

    // Past axum's default 2 MB limit for bodies other than the upload's.
    let oversized = format!(r#"{{"padding": "{}"}}"#, "x".repeat(3 << 20));
    let response = app
        .http
        .post(app.url("/api/assignments/some-token/judgments"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(oversized)
        .send()
        .await
        .unwrap();
    expect_json_error(response, StatusCode::PAYLOAD_TOO_LARGE).await;

    let head = app
        .http
        .head(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[header::CONTENT_TYPE], "application/json");
}

/// An assignment's token for a Prolific worker of `experiment_id`.
async fn assignment_token(app: &TestApp, experiment_id: i64) -> String {
    let (status, assignment) = app
        .request_assignment(experiment_id, &format!("fuzz-{experiment_id}"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{assignment}");
    assignment["token"].as_str().unwrap().to_owned()
}

/// `percept_session=…` for the owner of the fixtures' experiments.
async fn session_cookie(app: &TestApp) -> String {
    let response = app
        .post_json(
            "/api/session",
            &json!({ "email": "owner@example.org", "password": PASSWORD }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

/// The hooks with our own checks, and path parameters that exist nine times
/// in ten (generated ones the rest of the time, for the 404 and 400 paths).
fn schemathesis_config(experiments: &[i64], tokens: &[&str], triplet_id: i64) -> String {
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/schemathesis/hooks.py");
    let values = |values: Vec<Value>| Value::Array(values).to_string();
    format!(
        r#"hooks = {hooks:?}

[dictionaries.experiments]
values = {experiments}
[dictionaries.tokens]
values = {tokens}
[dictionaries.triplets]
values = [{triplet_id}]
[dictionaries.positions]
values = [0, 1, 2, 3]

[parameters]
"path.experiment_id" = {{ dictionary = "experiments", probability = 0.9 }}
"path.token" = {{ dictionary = "tokens", probability = 0.9 }}
"path.triplet_id" = {{ dictionary = "triplets", probability = 0.9 }}
"path.position" = {{ dictionary = "positions", probability = 0.9 }}
"#,
        hooks = hooks.canonicalize().unwrap().display().to_string(),
        experiments = values(experiments.iter().map(|id| json!(id)).collect()),
        tokens = values(tokens.iter().map(|token| json!(token)).collect()),
    )
}

/// The count from the summary's "Test cases:" section, e.g. "788 generated, …".
fn test_cases_generated(output: &str) -> usize {
    output
        .lines()
        .skip_while(|line| line.trim() != "Test cases:")
        .find_map(|line| {
            let (count, _) = line.trim().split_once(" generated")?;
            count.parse().ok()
        })
        .expect("schemathesis printed its test case count")
}

/// PostgreSQL cannot hold NUL characters in text, so they are refused before
/// any query sees them, wherever they come in.
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn text_with_nul_characters_is_a_bad_request(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let responses = [
        app.get("/api/assignments/a%00b").await,
        app.get("/api/assignments/a%00b/trials/0/left.png").await,
        app.post_json(
            "/api/session",
            &json!({ "email": "a\u{0}b@example.org", "password": PASSWORD }),
        )
        .await,
    ];
    for response in responses {
        let url = response.url().clone();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("NUL"),
            "{url}: {body}"
        );
    }
}
