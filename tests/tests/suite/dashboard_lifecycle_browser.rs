//! An experiment's life on the dashboard, in headless Chromium: the list's
//! id and kind columns and hidden archived experiments, failed jobs retried
//! and dismissed, the worker links and planning figures, closing with
//! running assignments cut off, edits and their refusals, deleting once the
//! name is typed; a JND experiment's pair browser; and the one message a
//! foreign experiment's page shows.
//!
//! With `PERCEPT_SCREENSHOTS` set, the experiment page with its lifecycle
//! controls is saved to `docs/dashboard-lifecycle.png`.

use std::path::PathBuf;

use fantoccini::{Client, Locator};
use percept_tests::two_afc::{create_experiment, experiment_settings, judgment};
use percept_tests::{fill, wait_until, Browser, TestApp};
use reqwest::StatusCode;
use server::experiments::{ExperimentKind, NewExperiment};
use server::jnd::JndSettings;
use sqlx::PgPool;

const PASSWORD: &str = "a long password";

async fn click(page: &Client, selector: &str) {
    page.find(Locator::Css(selector))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn text(page: &Client, selector: &str) -> String {
    page.find(Locator::Css(selector))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the page says `expected` somewhere.
async fn wait_for_text(page: &Client, expected: &str) {
    let expression = format!(
        "document.body.innerText.includes({})",
        serde_json::to_string(expected).unwrap()
    );
    wait_until(page, &format!("the text {expected:?}"), &expression).await;
}

async fn lifecycle(pool: &PgPool, id: i64) -> String {
    sqlx::query_scalar("SELECT lifecycle FROM experiments WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_researcher_runs_an_experiments_lifecycle_from_its_page(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let id = create_experiment(&pool, &settings, 2).await;
    let jnd_id = server::experiments::create(
        &pool,
        &NewExperiment {
            name: "pairs".into(),
            kind: ExperimentKind::Jnd(JndSettings {
                control_share: 0.0,
                source_experiment_id: Some(id),
                ..JndSettings::default()
            }),
            ..settings.clone()
        },
        Vec::new(),
        None,
    )
    .await
    .unwrap();
    let other = server::researchers::add(&pool, "other@example.org", PASSWORD)
        .await
        .unwrap();
    let foreign_id = create_experiment(
        &pool,
        &NewExperiment {
            owner_id: other,
            name: "someone else's".into(),
            ..settings.clone()
        },
        1,
    )
    .await;
    let app = TestApp::spawn(pool.clone()).await;
    // A worker is midway through an assignment: one judgment in.
    let (status, assignment) = app.request_assignment(id, "5f1e2d3c4b5a6978877601").await;
    assert_eq!(status, StatusCode::CREATED, "{assignment}");
    let token = assignment["token"].as_str().unwrap();
    let (status, receipt) = app.submit_judgment(token, &judgment(0, "left")).await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    // Two failed scoring jobs.
    let failed: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO jobs (kind, experiment_id, payload, status, error, finished_at)
         SELECT 'scoring', $1, jsonb_build_object('metric', m), 'failed', 'no weights', now()
         FROM unnest(ARRAY['lpips-alex:missing', 'lpips-vgg:missing']) AS m
         RETURNING id",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();

    let browser = Browser::start().await;
    let page = &browser.client;
    page.goto(&app.url("/sign-in")).await.unwrap();
    wait_until(
        page,
        "hydration",
        "!document.querySelector('#sign-in').disabled",
    )
    .await;
    fill(page, "#email", "owner@example.org").await;
    fill(page, "#password", PASSWORD).await;
    click(page, "#sign-in").await;
    wait_until(page, "the dashboard", "location.pathname === '/dashboard'").await;

    // The list: id and kind columns.
    wait_until(
        page,
        "the list",
        "document.querySelectorAll('#experiments tbody tr').length === 2",
    )
    .await;
    let headers = text(page, "#experiments thead").await;
    assert!(headers.starts_with("Id Kind Experiment"), "{headers:?}");
    let jnd_row = text(page, &format!("tr[data-experiment-id='{jnd_id}']")).await;
    assert!(
        jnd_row.starts_with(&format!("{jnd_id} JND pairs")),
        "{jnd_row:?}"
    );

    // Failed jobs: one dismissed, one retried.
    let job_button = |job: i64, button: &str| {
        format!(
            "[...document.querySelectorAll('#jobs tbody tr')]
               .find(row => row.cells[0].innerText === '{job}')?.querySelector('.{button}')"
        )
    };
    wait_until(
        page,
        "the failed jobs",
        &job_button(failed[1], "dismiss-job"),
    )
    .await;
    page.execute(
        &format!("{}.click()", job_button(failed[1], "dismiss-job")),
        vec![],
    )
    .await
    .unwrap();
    page.execute(
        &format!("{}.click()", job_button(failed[0], "retry-job")),
        vec![],
    )
    .await
    .unwrap();
    wait_until(
        page,
        "the dismissed job to leave the list",
        &format!(
            "!{} && !{}",
            job_button(failed[1], "dismiss-job"),
            job_button(failed[0], "retry-job")
        ),
    )
    .await;
    // (The experiments' own generation jobs are done and stay.)
    let jobs: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, status FROM jobs WHERE id = ANY($1) ORDER BY id")
            .bind(&failed)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(jobs, [(failed[0], "queued".to_owned())]);

    // The experiment's page: worker links, planning figures, lifecycle.
    page.goto(&app.url(&format!("/dashboard/experiments/{id}")))
        .await
        .unwrap();
    wait_until(
        page,
        "the worker links",
        "document.querySelector('#worker-link-prolific')",
    )
    .await;
    let origin = app.url("");
    let prolific: String = page
        .execute(
            "return document.querySelector('#worker-link-prolific').value",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        prolific,
        format!("{origin}/e/{id}?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}&STUDY_ID={{{{%STUDY_ID%}}}}&SESSION_ID={{{{%SESSION_ID%}}}}")
    );
    let anonymous = page
        .execute(
            "return document.querySelector('#worker-link-anonymous').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(anonymous, format!("{origin}/e/{id}"));
    // 8 triplets × 2 judgments, one in: 15 still needed, 4 assignments of 4.
    let planning = text(page, "#planning").await;
    assert!(
        planning.contains("Judgments still needed\n15"),
        "{planning}"
    );
    assert!(
        planning.contains("Worker-assignments to buy\n4 on Prolific or MTurk"),
        "{planning}"
    );
    assert!(text(page, "#lifecycle-state")
        .await
        .contains("1 assignment is running now."));

    if std::env::var_os("PERCEPT_SCREENSHOTS").is_some() {
        page.set_window_size(1280, 2200).await.unwrap();
        page.execute(
            "document.querySelector('#edit-settings').open = true;
             document.querySelector('#delete-experiment').open = true;
             document.querySelector('#lifecycle').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
        let png = page.screenshot().await.unwrap();
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/dashboard-lifecycle.png");
        std::fs::write(&path, png).unwrap();
    }

    // Close, cutting off the running assignment.
    click(page, "#cut-off").await;
    click(page, "#close").await;
    wait_until(
        page,
        "the closing notice",
        "document.querySelector('#lifecycle-notice')?.innerText.includes('1 running assignment(s) were cut off')",
    )
    .await;
    assert_eq!(lifecycle(&pool, id).await, "closed");
    let running: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM assignments WHERE experiment_id = $1 AND expires_at > now()",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(running, 0);
    wait_until(
        page,
        "the reopen button",
        "document.querySelector('#reopen')",
    )
    .await;

    // Edits: a refusal shown as the server gives it, then a saved change.
    page.execute(
        "document.querySelector('#edit-settings').open = true",
        vec![],
    )
    .await
    .unwrap();
    fill(page, "#edit-judgments", "0").await;
    click(page, "#save-settings").await;
    wait_until(page, "the refusal", "document.querySelector('#edit-error')").await;
    assert_eq!(
        text(page, "#edit-error").await,
        "judgments_per_stimulus must be at least 1 and below 2^31, not 0"
    );
    fill(page, "#edit-judgments", "3").await;
    fill(page, "#edit-name", "Street scenes v2").await;
    click(page, "#save-settings").await;
    wait_until(
        page,
        "the new name",
        "document.querySelector('h1')?.innerText === 'Street scenes v2'",
    )
    .await;
    let (name, wanted): (String, i32) =
        sqlx::query_as("SELECT name, judgments_per_stimulus FROM experiments WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((name.as_str(), wanted), ("Street scenes v2", 3));

    // Archived: hidden from the list unless asked for.
    wait_until(
        page,
        "the archive button",
        "document.querySelector('#archive')",
    )
    .await;
    click(page, "#archive").await;
    wait_until(
        page,
        "the archiving notice",
        "document.querySelector('#lifecycle-notice')?.innerText.startsWith('Archived')",
    )
    .await;
    assert_eq!(lifecycle(&pool, id).await, "archived");
    page.goto(&app.url("/dashboard")).await.unwrap();
    wait_until(
        page,
        "the archived toggle",
        "document.querySelector('#show-archived')",
    )
    .await;
    assert_eq!(
        page.execute(
            "return document.querySelectorAll('#experiments tbody tr').length",
            vec![]
        )
        .await
        .unwrap(),
        1
    );
    click(page, "#show-archived").await;
    wait_until(
        page,
        "the archived experiment",
        &format!("document.querySelector(\"tr[data-experiment-id='{id}']\")"),
    )
    .await;

    // The JND experiment: its pairs, counted and browsed.
    page.goto(&app.url(&format!("/dashboard/experiments/{jnd_id}")))
        .await
        .unwrap();
    wait_until(
        page,
        "the pair browser",
        "document.querySelector('#pair-range')",
    )
    .await;
    assert_eq!(text(page, "#pair-range").await, "Pairs 1–12 of 16");
    assert!(text(page, ".counts")
        .await
        .starts_with("2 reference images · 16 pairs"));
    wait_until(
        page,
        "the pairs' patches",
        "document.querySelectorAll('.pair img.patch').length === 24 && \
         [...document.querySelectorAll('.pair img.patch')].every(img => img.complete && img.naturalWidth === 64)",
    )
    .await;
    assert!(!text(page, "body").await.contains("No triplets yet"));

    // Another researcher's experiment: one message, no actions.
    page.goto(&app.url(&format!("/dashboard/experiments/{foreign_id}")))
        .await
        .unwrap();
    wait_until(
        page,
        "the refusal",
        "document.querySelector('#no-experiment')",
    )
    .await;
    let body = text(page, "section.dashboard").await;
    assert_eq!(
        body.matches(&format!("experiment {foreign_id}")).count(),
        1,
        "{body}"
    );
    for absent in [
        "#start-scoring",
        "#report-link",
        "#dataset-link",
        "#lifecycle",
        "#refresh",
    ] {
        let found = page
            .execute(
                &format!("return Boolean(document.querySelector('{absent}'))"),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(found, false, "{absent} on a foreign experiment's page");
    }

    // Deleting needs the name typed, and says what is lost.
    page.goto(&app.url(&format!("/dashboard/experiments/{id}")))
        .await
        .unwrap();
    wait_until(
        page,
        "the delete form",
        "document.querySelector('#delete-experiment')",
    )
    .await;
    page.execute(
        "document.querySelector('#delete-experiment').open = true",
        vec![],
    )
    .await
    .unwrap();
    let loss = text(page, "#delete-loss").await;
    assert!(
        loss.contains("1 collected judgment from 1 worker,"),
        "{loss}"
    );
    let disabled = "document.querySelector('#delete').disabled";
    assert_eq!(
        page.execute(&format!("return {disabled}"), vec![])
            .await
            .unwrap(),
        true
    );
    fill(page, "#delete-confirm", "Street scenes").await;
    assert_eq!(
        page.execute(&format!("return {disabled}"), vec![])
            .await
            .unwrap(),
        true
    );
    fill(page, "#delete-confirm", "Street scenes v2").await;
    wait_until(page, "the delete button", &format!("!{disabled}")).await;
    click(page, "#delete").await;
    wait_until(page, "the list", "location.pathname === '/dashboard'").await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    wait_for_text(page, "pairs").await;

    browser.close().await;
}
