//! An experiment's life after creation, over real HTTP and through the
//! `percept` binary: closing (no new assignments; running ones finish or are
//! cut off), reopening, archiving, safe edits and refused ones, the planning
//! figures, and deleting with confirmation, owner only.

use std::process::{Command, Output};

use percept_tests::server_process::database_url;
use percept_tests::two_afc::{create_experiment, experiment_settings, judgment};
use percept_tests::{percept_binary, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

async fn patch(client: &Client, app: &TestApp, id: i64, body: Value) -> (StatusCode, Value) {
    let response = client
        .patch(app.url(&format!("/api/experiments/{id}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn delete(client: &Client, app: &TestApp, path: &str) -> (StatusCode, Value) {
    let response = client.delete(app.url(path)).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

/// Rows left anywhere that belong to the experiment.
async fn rows_of(pool: &PgPool, id: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM experiments WHERE id = $1)
              + (SELECT count(*) FROM triplets WHERE experiment_id = $1)
              + (SELECT count(*) FROM reference_images WHERE experiment_id = $1)
              + (SELECT count(*) FROM workers WHERE experiment_id = $1)
              + (SELECT count(*) FROM assignments WHERE experiment_id = $1)
              + (SELECT count(*) FROM jobs WHERE experiment_id = $1)
              + (SELECT count(*) FROM judgments)",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_owner_closes_reopens_edits_and_deletes_an_experiment_over_http(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let id = create_experiment(&pool, &settings, 2).await;
    let app = TestApp::spawn(pool.clone()).await;
    let owner = app.signed_in_as("owner@example.org").await;
    let reader = app.signed_in(&pool, "reader@example.org").await;
    let response = owner
        .post(app.url(&format!("/api/experiments/{id}/shares")))
        .json(&json!({ "email": "reader@example.org" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    // Planning before any judgment: 8 triplets × 2 judgments, 4 per assignment.
    let detail: Value = owner
        .get(app.url(&format!("/api/experiments/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["lifecycle"], "open");
    assert_eq!(detail["planning"]["judgments_still_needed"], 16);
    assert_eq!(detail["planning"]["assignments_still_needed"], 4);
    assert_eq!(detail["planning"]["worker_assignments_to_buy"], 4);
    assert_eq!(detail["planning"]["median_response_ms"], Value::Null);
    assert_eq!(
        detail["worker_links"]["prolific"],
        format!("/e/{id}?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}&STUDY_ID={{{{%STUDY_ID%}}}}&SESSION_ID={{{{%SESSION_ID%}}}}")
    );

    // A worker starts an assignment and judges one trial.
    let (status, first) = app.request_assignment(id, "worker-a").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first_token = first["token"].as_str().unwrap().to_owned();
    let (status, _) = app
        .submit_judgment(&first_token, &judgment(0, "left"))
        .await;
    assert!(status.is_success());
    let detail: Value = owner
        .get(app.url(&format!("/api/experiments/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["planning"]["judgments_still_needed"], 15);
    assert_eq!(detail["planning"]["open_assignments"], 1);
    assert_eq!(detail["planning"]["median_response_ms"], 850.0);
    // 4 trials × 850 ms.
    let minutes = detail["planning"]["expected_minutes_per_assignment"]
        .as_f64()
        .unwrap();
    assert!((minutes - 4.0 * 850.0 / 60_000.0).abs() < 1e-9, "{minutes}");

    // A researcher it is shared with may neither change nor delete it.
    let (status, error) = patch(&reader, &app, id, json!({ "lifecycle": "closed" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    assert!(error["error"]
        .as_str()
        .unwrap()
        .contains("only its owner can change it"));
    let (status, error) = delete(
        &reader,
        &app,
        &format!("/api/experiments/{id}?confirm=test%20experiment"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    assert!(error["error"]
        .as_str()
        .unwrap()
        .contains("only its owner can delete it"));

    // The settings that define the stimuli are refused with the reason, and
    // nothing of the patch is applied.
    let (status, error) = patch(
        &owner,
        &app,
        id,
        json!({ "name": "not applied", "patch_size": 32, "seed": 3, "colour": "red" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let message = error["error"].as_str().unwrap();
    for expected in [
        "patch_size cannot change after creation: it defines the stimuli",
        "seed cannot change after creation: it defines the stimuli",
        "there is no setting \"colour\"",
    ] {
        assert!(message.contains(expected), "{message} lacks {expected}");
    }
    let (status, error) = patch(&owner, &app, id, json!({ "judgments_per_stimulus": 0 })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["error"]
        .as_str()
        .unwrap()
        .contains("judgments_per_stimulus must be at least 1"));

    // Safe edits.
    let (status, patched) = patch(
        &owner,
        &app,
        id,
        json!({
            "name": "renamed",
            "completion_redirect_url": "https://app.prolific.com/submissions/complete?cc=ABC",
            "max_assignments_per_worker": 2,
            "judgments_per_stimulus": 3,
            "assignment_ttl_minutes": 45,
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let experiment = &patched["experiment"];
    assert_eq!(experiment["name"], "renamed");
    assert_eq!(
        experiment["completion_redirect_url"],
        "https://app.prolific.com/submissions/complete?cc=ABC"
    );
    assert_eq!(experiment["max_assignments_per_worker"], 2);
    assert_eq!(experiment["judgments_per_stimulus"], 3);
    assert_eq!(experiment["assignment_ttl_minutes"], 45.0);
    assert_eq!(experiment["patch_size"], 64);
    assert_eq!(experiment["planning"]["judgments_still_needed"], 23);

    // Closed: no new assignments, but the running one may be finished.
    let (status, patched) = patch(&owner, &app, id, json!({ "lifecycle": "closed" })).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["experiment"]["lifecycle"], "closed");
    assert_eq!(patched["assignments_cut_off"], 0);
    let (status, refusal) = app.request_assignment(id, "worker-b").await;
    assert_eq!(status, StatusCode::GONE, "{refusal}");
    assert_eq!(
        refusal["error"],
        format!("experiment {id} is closed: it takes no more judgments")
    );
    let (status, body) = app
        .submit_judgment(&first_token, &judgment(1, "right"))
        .await;
    assert!(status.is_success(), "{body}");

    // Reopened, then closed with the running assignments cut off.
    let (status, _) = patch(&owner, &app, id, json!({ "lifecycle": "open" })).await;
    assert_eq!(status, StatusCode::OK);
    let (status, second) = app.request_assignment(id, "worker-b").await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second_token = second["token"].as_str().unwrap().to_owned();
    let (status, patched) = patch(
        &owner,
        &app,
        id,
        json!({ "lifecycle": "closed", "cut_off_open_assignments": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    // worker-a's assignment and worker-b's.
    assert_eq!(patched["assignments_cut_off"], 2);
    let (status, body) = app
        .submit_judgment(&second_token, &judgment(0, "left"))
        .await;
    assert_eq!(status, StatusCode::GONE, "{body}");

    // Archived: closed and marked so in the list.
    let (status, _) = patch(&owner, &app, id, json!({ "lifecycle": "archived" })).await;
    assert_eq!(status, StatusCode::OK);
    let listed: Value = owner
        .get(app.url("/api/experiments"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["lifecycle"], "archived");
    assert_eq!(listed[0]["kind"], "2afc");

    // Deleting what holds judgments needs its name, and says what is lost.
    let path = format!("/api/experiments/{id}");
    let (status, refusal) = delete(&owner, &app, &path).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refusal}");
    let message = refusal["error"].as_str().unwrap();
    assert!(
        message.contains("holds 2 judgments from 2 workers in 2 assignments"),
        "{message}"
    );
    // Its one job (the generation) is counted in the singular.
    assert!(
        message.contains("0 metric distances and 1 job: deleting it"),
        "{message}"
    );
    assert!(
        message.contains("send ?confirm= with its name"),
        "{message}"
    );
    let (status, _) = delete(&owner, &app, &format!("{path}?confirm=test%20experiment")).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the old name no longer confirms"
    );
    assert!(rows_of(&pool, id).await > 0);
    let (status, deleted) = delete(&owner, &app, &format!("{path}?confirm=renamed")).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["judgments"], 2);
    assert_eq!(deleted["stimuli"], 8);
    assert_eq!(rows_of(&pool, id).await, 0);
    let response = owner.get(app.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

fn percept(pool: &PgPool, args: &[&str]) -> Output {
    Command::new(percept_binary())
        .args(args)
        .env("DATABASE_URL", database_url(pool))
        .output()
        .unwrap()
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_cli_lists_shows_closes_reopens_archives_and_deletes(pool: PgPool) {
    let mut settings = experiment_settings(&pool).await;
    settings.sentinel_rate = 0.25;
    settings.name = "Street scenes".into();
    let id = create_experiment(&pool, &settings, 2).await;
    let id_arg = id.to_string();
    let app = TestApp::spawn(pool.clone()).await;
    let (status, assignment) = app.request_assignment(id, "worker-a").await;
    assert_eq!(status, StatusCode::CREATED, "{assignment}");
    let token = assignment["token"].as_str().unwrap();
    let (status, _) = app.submit_judgment(token, &judgment(0, "left")).await;
    assert!(status.is_success());

    let listed: Value = serde_json::from_str(&succeeded(&percept(
        &pool,
        &["experiment", "list", "--json"],
    )))
    .unwrap();
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["kind"], "2afc");
    assert_eq!(listed[0]["lifecycle"], "open");
    assert_eq!(listed[0]["owner_email"], "owner@example.org");
    let table = succeeded(&percept(&pool, &["experiment", "list"]));
    let row = table.lines().nth(1).unwrap();
    for expected in [
        &id_arg as &str,
        "2afc",
        "Street scenes",
        "train",
        "open",
        "owner@example.org",
    ] {
        assert!(row.contains(expected), "{row} lacks {expected}");
    }

    let shown: Value = serde_json::from_str(&succeeded(&percept(
        &pool,
        &[
            "experiment",
            "show",
            &id_arg,
            "--json",
            "--base-url",
            "https://study.example.org/",
        ],
    )))
    .unwrap();
    let experiment = &shown["experiment"];
    assert_eq!(experiment["name"], "Street scenes");
    assert_eq!(
        experiment["worker_links"]["mturk"],
        format!("https://study.example.org/e/{id}")
    );
    assert!(experiment["worker_links"]["prolific"]
        .as_str()
        .unwrap()
        .starts_with(&format!(
            "https://study.example.org/e/{id}?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}"
        )));
    let real_triplets: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM triplets WHERE experiment_id = $1 AND sentinel_answer IS NULL",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    let judged_real: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM judgments j JOIN assignment_trials at USING (assignment_id, position)
         JOIN triplets t ON t.id = at.triplet_id WHERE t.sentinel_answer IS NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let planning = &experiment["planning"];
    let still_needed = real_triplets * 2 - judged_real;
    assert_eq!(planning["judgments_still_needed"], still_needed);
    // 4 trials, a quarter of them sentinels: 3 real trials per assignment.
    assert_eq!(planning["real_trials_per_assignment"], 3.0);
    assert_eq!(planning["assignments_still_needed"], (still_needed + 2) / 3);
    assert_eq!(shown["jobs"][0]["kind"], "generation");
    assert_eq!(shown["jobs"][0]["status"], "done");
    let text = succeeded(&percept(&pool, &["experiment", "show", &id_arg]));
    for expected in [
        "judgments still needed:",
        "expected minutes per assignment: 0.1 (median response 850 ms",
        "worker-assignments to buy:",
        &format!("Prolific:  http://127.0.0.1:3000/e/{id}?PROLIFIC_PID="),
    ] {
        assert!(text.contains(expected), "{text} lacks {expected}");
    }

    let lifecycle = |pool: &PgPool| {
        let shown: Value = serde_json::from_str(&succeeded(&percept(
            pool,
            &["experiment", "show", &id_arg, "--json"],
        )))
        .unwrap();
        shown["experiment"]["lifecycle"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let closed = percept(&pool, &["experiment", "close", &id_arg]);
    succeeded(&closed);
    assert!(String::from_utf8_lossy(&closed.stderr).contains("those running may be finished"));
    assert_eq!(lifecycle(&pool), "closed");
    assert_eq!(
        app.request_assignment(id, "worker-b").await.0,
        StatusCode::GONE
    );
    succeeded(&percept(&pool, &["experiment", "reopen", &id_arg]));
    assert_eq!(lifecycle(&pool), "open");
    assert_eq!(
        app.request_assignment(id, "worker-b").await.0,
        StatusCode::CREATED
    );
    let archived = percept(
        &pool,
        &[
            "experiment",
            "archive",
            &id_arg,
            "--cut-off-open-assignments",
        ],
    );
    succeeded(&archived);
    assert!(String::from_utf8_lossy(&archived.stderr).contains("the 2 running were cut off"));
    assert_eq!(lifecycle(&pool), "archived");

    let edited = percept(
        &pool,
        &[
            "experiment",
            "edit",
            &id_arg,
            "--name",
            "Renamed",
            "--judgments-per-stimulus",
            "4",
        ],
    );
    succeeded(&edited);
    let shown: Value = serde_json::from_str(&succeeded(&percept(
        &pool,
        &["experiment", "show", &id_arg, "--json"],
    )))
    .unwrap();
    assert_eq!(shown["experiment"]["name"], "Renamed");
    assert_eq!(shown["experiment"]["judgments_per_stimulus"], 4);

    let refused = percept(&pool, &["experiment", "delete", &id_arg]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("holds 1 judgment from 2 workers"),
        "{message}"
    );
    assert!(
        message.contains("pass --confirm with its name"),
        "{message}"
    );
    assert_eq!(
        message.matches("holds").count(),
        1,
        "the reason is said once: {message}"
    );
    let deleted = percept(
        &pool,
        &["experiment", "delete", &id_arg, "--confirm", "Renamed"],
    );
    succeeded(&deleted);
    assert!(String::from_utf8_lossy(&deleted.stderr).contains("deleted: experiment"));
    assert_eq!(rows_of(&pool, id).await, 0);
    let missing = percept(&pool, &["experiment", "show", &id_arg]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains(&format!("there is no experiment {id}"))
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_cli_shows_imported_judgments_as_imported(pool: PgPool) {
    // One worker judges each of the 4 triplets once; the export of that is
    // imported, through the CLI, as a new experiment wanting 5 per triplet.
    let mut settings = experiment_settings(&pool).await;
    settings.judgments_per_stimulus = 1;
    let judged = create_experiment(&pool, &settings, 1).await;
    let app = TestApp::spawn(pool.clone()).await;
    let (status, assignment) = app.request_assignment(judged, "worker-a").await;
    assert_eq!(status, StatusCode::CREATED, "{assignment}");
    let token = assignment["token"].as_str().unwrap();
    for position in 0..assignment["trials"].as_array().unwrap().len() as i64 {
        let (status, receipt) = app
            .submit_judgment(token, &judgment(position, "left"))
            .await;
        assert!(status.is_success(), "{receipt}");
    }
    let tree = tempfile::tempdir().unwrap();
    let out = tree.path().join("export");
    succeeded(&percept(
        &pool,
        &[
            "export",
            "--experiment",
            &judged.to_string(),
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    let imported = succeeded(&percept(
        &pool,
        &[
            "import-bapps",
            out.to_str().unwrap(),
            "--owner",
            "owner@example.org",
            "--judgments-per-stimulus",
            "5",
            "--name",
            "Imported scenes",
        ],
    ));
    let id: i64 = imported
        .strip_prefix("experiment ")
        .and_then(|rest| rest.split(':').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no experiment id in {imported:?}"));
    let id_arg = id.to_string();

    // JSON: the imported judgments and stimuli, apart from those collected.
    let shown: Value = serde_json::from_str(&succeeded(&percept(
        &pool,
        &["experiment", "show", &id_arg, "--json"],
    )))
    .unwrap();
    let experiment = &shown["experiment"];
    assert_eq!(experiment["judgments_imported"], 4, "{experiment}");
    assert_eq!(experiment["imported_stimuli"], 4);
    assert_eq!(experiment["judgments_collected"], 0);
    assert_eq!(experiment["judgments_target"], 20);
    assert_eq!(experiment["serve_imported_stimuli"], false);
    assert_eq!(experiment["planning"]["judgments_still_needed"], 16);

    // Text: imported, not "0/20 counted".
    let text = succeeded(&percept(&pool, &["experiment", "show", &id_arg]));
    for expected in [
        "judgments: 4 imported + 0 collected here, of 20 wanted",
        "imported: 4 triplets came with 4 judgments made elsewhere",
        &format!("not handed out to workers (`percept experiment edit {id} --serve-imported-stimuli true` would)"),
    ] {
        assert!(text.contains(expected), "{text} lacks {expected}");
    }
    assert!(!text.contains("0/20 counted"), "{text}");

    // The list says so too, as the dashboard's list does.
    let table = succeeded(&percept(&pool, &["experiment", "list"]));
    let row = table
        .lines()
        .find(|line| line.contains("Imported scenes"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("0/20 + 4 imported"), "{row}");
    let listed: Value = serde_json::from_str(&succeeded(&percept(
        &pool,
        &["experiment", "list", "--json"],
    )))
    .unwrap();
    let listed = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap();
    assert_eq!(listed["judgments_imported"], 4);

    // Once they are handed out, show says so.
    succeeded(&percept(
        &pool,
        &[
            "experiment",
            "edit",
            &id_arg,
            "--serve-imported-stimuli",
            "true",
        ],
    ));
    let text = succeeded(&percept(&pool, &["experiment", "show", &id_arg]));
    assert!(
        text.contains("they are handed out to workers too"),
        "{text}"
    );

    // An experiment with nothing imported reads as before.
    let text = succeeded(&percept(
        &pool,
        &["experiment", "show", &judged.to_string()],
    ));
    assert!(
        text.contains("judgments: 4/4 counted toward the target"),
        "{text}"
    );
    assert!(!text.contains("imported"), "{text}");
}
