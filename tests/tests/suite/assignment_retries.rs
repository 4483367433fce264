//! A request for an assignment sent again, as a client does after a dropped
//! connection (`percept simulate` retries with the same body; a worker
//! reloads the same Prolific link), over real HTTP: the worker gets the
//! assignment their session already holds, no second one is made, and their
//! per-worker quota is used once. A new session, or a finished or expired
//! assignment, still gets a new one.

use percept_tests::two_afc::{create_experiment, experiment_settings, judgment};
use percept_tests::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::experiments::lifecycle::{self, Lifecycle};
use sqlx::PgPool;

const WORKER: &str = "5f1e2d3c4b5a69788776aa01";

fn request(session: &str) -> Value {
    json!({
        "platform": "prolific",
        "platform_worker_id": WORKER,
        "study_id": "STUDY-6543abcd01",
        "session_id": session,
    })
}

async fn ask(app: &TestApp, experiment_id: i64, body: &Value) -> (StatusCode, Value) {
    let response = app
        .post_json(
            &format!("/api/experiments/{experiment_id}/assignments"),
            body,
        )
        .await;
    (response.status(), response.json().await.unwrap())
}

/// The assignments the worker holds in the experiment, however they ended.
async fn assignments_of_worker(pool: &PgPool, experiment_id: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM assignments a JOIN workers w ON w.id = a.worker_id
         WHERE a.experiment_id = $1 AND w.external_id = $2",
    )
    .bind(experiment_id)
    .bind(WORKER)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The refusal the landing page shows (`data-refusal`), if any.
async fn landing_refusal(app: &TestApp, experiment_id: i64, session: &str) -> Option<String> {
    let html = app
        .get(&format!(
            "/e/{experiment_id}?PROLIFIC_PID={WORKER}&STUDY_ID=STUDY-6543abcd01&SESSION_ID={session}"
        ))
        .await
        .text()
        .await
        .unwrap();
    let start = html.find(r#"data-refusal=""#)? + r#"data-refusal=""#.len();
    Some(html[start..start + html[start..].find('"')?].to_owned())
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_repeated_request_gets_the_sessions_open_assignment_once(pool: PgPool) {
    // 12 triplets, 4 trials per assignment, at most 2 assignments per worker
    // (so a third assignment, after one expired, has triplets still unseen).
    let mut settings = experiment_settings(&pool).await;
    settings.max_assignments_per_worker = 2;
    let id = create_experiment(&pool, &settings, 3).await;
    let app = TestApp::spawn(pool.clone()).await;

    // The request, then the same request again (its answer was lost).
    let (status, first) = ask(&app, id, &request("SESSION-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = ask(&app, id, &request("SESSION-1")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first, "the same assignment, trials and expiry");
    assert_eq!(assignments_of_worker(&pool, id).await, 1);

    // Also once the worker has judged some of it: the same assignment,
    // where the trial page resumes.
    let token = first["token"].as_str().unwrap();
    let (status, _) = app.submit_judgment(token, &judgment(0, "left")).await;
    assert!(status.is_success());
    let (status, again) = ask(&app, id, &request("SESSION-1")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["token"], first["token"]);
    assert_eq!(assignments_of_worker(&pool, id).await, 1);

    // A retry racing its original: both wait their turn, one assignment.
    let body = request("SESSION-2");
    let ((status_a, a), (status_b, b)) = tokio::join!(ask(&app, id, &body), ask(&app, id, &body));
    let mut statuses = [status_a, status_b];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CREATED], "{a} {b}");
    assert_eq!(a["token"], b["token"]);
    assert_ne!(a["token"], first["token"]);
    assert_eq!(assignments_of_worker(&pool, id).await, 2);

    // The quota counted each assignment once: 2 of 2 are taken, so a third
    // session is refused, while both sessions still get theirs back.
    let (status, refusal) = ask(&app, id, &request("SESSION-3")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refusal}");
    assert!(
        refusal["error"].as_str().unwrap().contains("limit of 2"),
        "{refusal}"
    );
    assert_eq!(
        landing_refusal(&app, id, "SESSION-3").await.as_deref(),
        Some("worker_limit")
    );
    // The landing page agrees: the worker arriving for an open session is
    // not turned away at the limit.
    assert_eq!(landing_refusal(&app, id, "SESSION-1").await, None);
    for session in ["SESSION-1", "SESSION-2"] {
        let (status, again) = ask(&app, id, &request(session)).await;
        assert_eq!(status, StatusCode::OK, "{session}: {again}");
    }
    assert_eq!(assignments_of_worker(&pool, id).await, 2);

    // An assignment handed out before the experiment closed may still be
    // finished, so its session gets it back; a new session is refused.
    lifecycle::set_lifecycle(&pool, id, Lifecycle::Closed, false)
        .await
        .unwrap();
    let (status, again) = ask(&app, id, &request("SESSION-1")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["token"], first["token"]);
    assert_eq!(
        ask(&app, id, &request("SESSION-4")).await.0,
        StatusCode::GONE
    );
    lifecycle::set_lifecycle(&pool, id, Lifecycle::Open, false)
        .await
        .unwrap();

    // An expired assignment is not handed back: its session gets a new one
    // (the expired one no longer counts towards the quota).
    sqlx::query("UPDATE assignments SET expires_at = now() - interval '1 second' WHERE token = $1")
        .bind(token)
        .execute(&pool)
        .await
        .unwrap();
    let (status, renewed) = ask(&app, id, &request("SESSION-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{renewed}");
    assert_ne!(renewed["token"], first["token"]);
    assert_eq!(assignments_of_worker(&pool, id).await, 3);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_finished_assignment_is_not_handed_back(pool: PgPool) {
    let id = create_experiment(&pool, &experiment_settings(&pool).await, 2).await;
    let app = TestApp::spawn(pool.clone()).await;
    let (status, first) = ask(&app, id, &request("SESSION-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let token = first["token"].as_str().unwrap();
    let trials = first["trials"].as_array().unwrap().len();
    let mut completed = false;
    for position in 0..trials as i64 {
        let (status, receipt) = app
            .submit_judgment(token, &judgment(position, "left"))
            .await;
        assert!(status.is_success(), "{receipt}");
        completed = receipt["completed"] == true;
    }
    assert!(completed);
    // Within the same session, a worker who finished may take another.
    let (status, next) = ask(&app, id, &request("SESSION-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{next}");
    assert_ne!(next["token"], first["token"]);
    assert_eq!(assignments_of_worker(&pool, id).await, 2);
}
