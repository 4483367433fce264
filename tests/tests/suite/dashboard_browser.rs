//! The researcher's dashboard in headless Chromium: sign in, create an
//! experiment by uploading two PNGs through the form, watch it become ready,
//! and see its triplets and judgments.
//!
//! With `PERCEPT_SCREENSHOTS` set, the experiment page is saved to
//! `docs/dashboard.png`.

use std::path::PathBuf;

use fantoccini::Locator;
use percept_tests::two_afc::{judgment, synthetic_image};
use percept_tests::{fill, wait_until, Browser, TestApp};
use reqwest::StatusCode;
use server::stimuli::encode_png;
use sqlx::PgPool;

const EMAIL: &str = "ada@example.org";
const PASSWORD: &str = "a long password";

/// A worker takes an assignment and answers every trial: sentinels right or
/// wrong as asked, real triplets by the patch on the left.
async fn answer_assignment(
    app: &TestApp,
    pool: &PgPool,
    experiment_id: i64,
    worker: &str,
    right: bool,
) {
    let (status, assignment) = app.request_assignment(experiment_id, worker).await;
    assert_eq!(status, StatusCode::CREATED, "{assignment}");
    let token = assignment["token"].as_str().unwrap();
    let trials: Vec<(i32, bool, Option<i16>)> = sqlx::query_as(
        "SELECT at.position, at.left_is_p0, t.sentinel_answer FROM assignment_trials at
         JOIN assignments a ON a.id = at.assignment_id JOIN triplets t ON t.id = at.triplet_id
         WHERE a.token = $1",
    )
    .bind(token)
    .fetch_all(pool)
    .await
    .unwrap();
    for (position, left_is_p0, sentinel_answer) in trials {
        let pick_left = match sentinel_answer {
            Some(answer) => ((answer == 0) == left_is_p0) == right,
            None => true,
        };
        let mut body = judgment(
            i64::from(position),
            if pick_left { "left" } else { "right" },
        );
        body["response_ms"] = (700 + 97 * position).into();
        let (status, receipt) = app.submit_judgment(token, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{receipt}");
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_researcher_creates_an_experiment_and_browses_its_triplets(pool: PgPool) {
    server::researchers::add(&pool, EMAIL, PASSWORD)
        .await
        .unwrap();
    let app = TestApp::spawn(pool.clone()).await;
    let images = tempfile::tempdir().unwrap();
    let image_paths: Vec<PathBuf> = [("street.png", 0), ("meadow.png", 120)]
        .into_iter()
        .map(|(name, tint)| {
            let path = images.path().join(name);
            std::fs::write(&path, encode_png(&synthetic_image(160, 120, tint)).unwrap()).unwrap();
            path
        })
        .collect();
    let browser = Browser::start().await;
    let page = &browser.client;

    // Anonymous visitors of the dashboard are sent to sign in.
    page.goto(&app.url("/dashboard")).await.unwrap();
    wait_until(page, "the sign-in page", "location.pathname === '/sign-in'").await;
    wait_until(
        page,
        "hydration",
        "!document.querySelector('#sign-in').disabled",
    )
    .await;
    fill(page, "#email", EMAIL).await;
    fill(page, "#password", "not the password").await;
    page.find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(page, "the refusal", "document.querySelector('.error')").await;
    let refusal = page
        .find(Locator::Css(".error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(refusal, "wrong email or password");
    fill(page, "#password", PASSWORD).await;
    page.find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(page, "the dashboard", "location.pathname === '/dashboard'").await;
    wait_until(
        page,
        "the empty list",
        "document.body.innerText.includes('No experiments yet.')",
    )
    .await;

    page.find(Locator::Id("new-experiment"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(page, "the form", "location.pathname === '/dashboard/new'").await;
    wait_until(
        page,
        "hydration",
        "!document.querySelector('#create-experiment').disabled",
    )
    .await;
    fill(page, "input[name=name]", "Street and meadow").await;
    fill(page, "input[name=category]", "synthetic").await;
    fill(page, "input[name=patches_per_image]", "4").await;
    fill(page, "input[name=sentinel_rate]", "0.25").await;
    fill(page, "input[name=judgments_per_stimulus]", "5").await;
    fill(page, "input[name=trials_per_assignment]", "4").await;
    fill(page, "input[name=seed]", "3").await;
    let paths: Vec<String> = image_paths
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    page.find(Locator::Id("images"))
        .await
        .unwrap()
        .send_keys(&paths.join("\n"))
        .await
        .unwrap();
    // The distortion family reaches the server: a mix with no CNN bank is
    // refused with how to build one, and nothing is created.
    let family = page.find(Locator::Id("distortion-family")).await.unwrap();
    family.clone().select_by_value("mix").await.unwrap();
    page.find(Locator::Id("create-experiment"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(
        page,
        "the refusal of a mix without a bank",
        "document.querySelector('.error')?.innerText.includes('percept distort cnn-bank build')",
    )
    .await;
    let created: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(created, 0);
    family.select_by_value("traditional").await.unwrap();
    page.find(Locator::Id("create-experiment"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    wait_until(
        page,
        "the experiment page",
        "location.pathname.startsWith('/dashboard/experiments/')",
    )
    .await;
    let url = page.current_url().await.unwrap();
    let experiment_id: i64 = url.path().rsplit('/').next().unwrap().parse().unwrap();
    wait_until(
        page,
        "generation to finish",
        "document.querySelector('#experiment-status')?.innerText === 'ready'",
    )
    .await;
    wait_until(
        page,
        "the triplet browser's images",
        "document.querySelectorAll('.triplet img.patch').length === 24 && \
         [...document.querySelectorAll('.triplet img.patch')].every(img => img.complete && img.naturalWidth === 64)",
    )
    .await;
    let range = page
        .find(Locator::Id("triplet-range"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(range, "Triplets 1–8 of 8");
    let stored: (String, Option<String>, i32) =
        sqlx::query_as("SELECT name, category, patches_per_image FROM experiments WHERE id = $1")
            .bind(experiment_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        stored,
        ("Street and meadow".into(), Some("synthetic".into()), 4)
    );

    // Two workers answer; the one failing every sentinel is flagged.
    answer_assignment(&app, &pool, experiment_id, "5f2a9c-careful", true).await;
    answer_assignment(&app, &pool, experiment_id, "77e1b0-careless", false).await;
    answer_assignment(&app, &pool, experiment_id, "a93d4e-steady", true).await;
    page.find(Locator::Id("refresh"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(
        page,
        "the workers",
        "document.querySelectorAll('table.workers tbody tr').length === 3",
    )
    .await;
    wait_until(
        page,
        "the judgments",
        "document.querySelectorAll('.judgments li').length === 12",
    )
    .await;
    let flagged = page
        .find(Locator::Css("table.workers tr.flagged"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(flagged.contains("77e1b0-careless"), "{flagged}");

    if std::env::var_os("PERCEPT_SCREENSHOTS").is_some() {
        page.goto(url.as_str()).await.unwrap();
        page.set_window_size(1280, 1900).await.unwrap();
        wait_until(
            page,
            "the page after reload",
            "document.querySelectorAll('.judgments li').length === 12 && \
             [...document.querySelectorAll('.triplet img.patch')].every(img => img.complete && img.naturalWidth === 64)",
        )
        .await;
        let png = page.screenshot().await.unwrap();
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/dashboard.png");
        std::fs::write(&path, png).unwrap();
    }

    // Sharing with a colleague through the form lists them and gives them access.
    server::researchers::add(&pool, "colleague@example.org", PASSWORD)
        .await
        .unwrap();
    fill(page, "#share-email", "colleague@example.org").await;
    page.find(Locator::Id("share"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(
        page,
        "the share",
        "document.querySelector('#shared-with').innerText.includes('colleague@example.org')",
    )
    .await;
    let shared_with: Vec<String> = sqlx::query_scalar(
        "SELECT r.email FROM experiment_shares s JOIN researchers r ON r.id = s.researcher_id
         WHERE s.experiment_id = $1",
    )
    .bind(experiment_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(shared_with, ["colleague@example.org"]);

    // Signing out ends the session: the dashboard sends the browser back.
    page.find(Locator::Id("sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(page, "the sign-in page", "location.pathname === '/sign-in'").await;
    page.goto(&app.url("/dashboard")).await.unwrap();
    wait_until(page, "the sign-in page", "location.pathname === '/sign-in'").await;

    browser.close().await;
}
