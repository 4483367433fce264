//! A worker arriving at `/e/{id}`: the page the server renders (what a
//! browser shows before, or without, any script) has the instructions of the
//! experiment's kind, and says at once, before consent and practice, when
//! the experiment has no work for them, with the link back to their
//! platform where the researcher set one.

use fantoccini::Locator;
use percept_tests::jnd::jnd_experiment_settings;
use percept_tests::two_afc::{create_experiment, experiment_settings};
use percept_tests::{Browser, TestApp};
use reqwest::StatusCode;
use server::experiments::lifecycle::{self, Lifecycle};
use server::experiments::{ExperimentKind, NewExperiment};
use sqlx::PgPool;

const JND_HEADING: &str = "Did the patch change?";
const JND_TASK: &str = "Say whether the two patches were the same or different";
const TWO_AFC_HEADING: &str = "Which patch looks closer?";
const TWO_AFC_TASK: &str = "Choose the patch that looks more like the middle one";
const RETURN_URL: &str = "https://app.prolific.com/submissions/complete?cc=C0DE";

/// The landing page as the server sends it: 404 for an experiment that
/// does not exist (or a link with no id), 200 otherwise.
async fn landing(app: &TestApp, path_and_query: &str) -> String {
    let response = app.get(path_and_query).await;
    let expected =
        if path_and_query.starts_with("/e/999999") || path_and_query.starts_with("/e/abc") {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
    assert_eq!(response.status(), expected, "{path_and_query}");
    response.text().await.unwrap()
}

/// Whether the page offers consent and the practice trial.
fn offers_consent(html: &str) -> bool {
    html.contains(r#"id="consent""#) || html.contains(r#"id="begin-practice""#)
}

/// The refusal the page shows (`data-refusal`), if any.
fn refusal(html: &str) -> Option<&str> {
    let start = html.find(r#"data-refusal=""#)? + r#"data-refusal=""#.len();
    Some(&html[start..start + html[start..].find('"')?])
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_server_renders_the_instructions_of_the_experiments_kind(pool: PgPool) {
    let jnd_settings = jnd_experiment_settings(&pool, 0.1).await;
    let jnd = create_experiment(&pool, &jnd_settings, 1).await;
    let two_afc_settings = NewExperiment {
        kind: ExperimentKind::TwoAfc,
        ..jnd_settings
    };
    let two_afc = create_experiment(&pool, &two_afc_settings, 1).await;
    let app = TestApp::spawn(pool).await;

    let html = landing(&app, &format!("/e/{jnd}?PROLIFIC_PID=p1")).await;
    assert!(
        html.contains(JND_HEADING) && html.contains(JND_TASK),
        "{html}"
    );
    assert!(
        !html.contains(TWO_AFC_HEADING) && !html.contains(TWO_AFC_TASK),
        "{html}"
    );
    assert!(offers_consent(&html) && refusal(&html).is_none(), "{html}");

    let html = landing(&app, &format!("/e/{two_afc}")).await;
    assert!(
        html.contains(TWO_AFC_HEADING) && html.contains(TWO_AFC_TASK),
        "{html}"
    );
    assert!(!html.contains(JND_HEADING), "{html}");
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_worker_is_told_on_arrival_when_there_is_nothing_to_do(pool: PgPool) {
    // 8 triplets, one judgment each, 4 per assignment, one assignment per worker.
    let mut settings = experiment_settings(&pool).await;
    settings.judgments_per_stimulus = 1;
    settings.max_assignments_per_worker = 1;
    settings.completion_redirect_url = Some(RETURN_URL.into());
    let with_return = create_experiment(&pool, &settings, 2).await;
    settings.completion_redirect_url = None;
    let without_return = create_experiment(&pool, &settings, 2).await;
    let app = TestApp::spawn(pool.clone()).await;

    // No such experiment: no consent, and (nothing configured) how to return it.
    let html = landing(&app, "/e/999999?PROLIFIC_PID=p1").await;
    assert_eq!(refusal(&html), Some("not_found"), "{html}");
    assert!(html.contains("There is no study at this link."), "{html}");
    assert!(html.contains("Return submission"), "{html}");
    assert!(!offers_consent(&html), "{html}");
    // A link whose id is no number leads nowhere either: 404 as well.
    let html = landing(&app, "/e/abc?PROLIFIC_PID=p1").await;
    assert!(!offers_consent(&html), "{html}");

    // Open: consent and practice.
    let html = landing(&app, &format!("/e/{with_return}?PROLIFIC_PID=p1")).await;
    assert!(offers_consent(&html) && refusal(&html).is_none(), "{html}");

    // A worker who reached the per-worker limit is told so; another is not.
    let (status, _) = app.request_assignment(with_return, "p1").await;
    assert_eq!(status, StatusCode::CREATED);
    let html = landing(&app, &format!("/e/{with_return}?PROLIFIC_PID=p1")).await;
    assert_eq!(refusal(&html), Some("worker_limit"), "{html}");
    assert!(!offers_consent(&html), "{html}");
    assert!(
        html.contains(r#"id="return-to-platform""#)
            && html.contains(&format!(r#"href="{RETURN_URL}""#)),
        "{html}"
    );
    let html = landing(
        &app,
        &format!("/e/{with_return}?workerId=p1&assignmentId=a&hitId=h"),
    )
    .await;
    assert!(
        offers_consent(&html),
        "the limit is per platform id: {html}"
    );

    // Full: every triplet is in an assignment (the other 4 go to p2).
    let (status, _) = app.request_assignment(with_return, "p2").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app.request_assignment(with_return, "p3").await;
    assert_eq!(status, StatusCode::CONFLICT, "the server agrees it is full");
    for query in ["?PROLIFIC_PID=p3", ""] {
        let html = landing(&app, &format!("/e/{with_return}{query}")).await;
        assert_eq!(refusal(&html), Some("full"), "{html}");
        assert!(html.contains("has all the answers it needs"), "{html}");
        assert!(html.contains(RETURN_URL), "{html}");
        assert!(!offers_consent(&html), "{html}");
    }

    // Closed, then archived: no consent, the way back where one is set.
    for (state, message) in [
        (Lifecycle::Closed, "closed"),
        (Lifecycle::Archived, "closed"),
    ] {
        for experiment_id in [with_return, without_return] {
            lifecycle::set_lifecycle(&pool, experiment_id, state, false)
                .await
                .unwrap();
            let html = landing(&app, &format!("/e/{experiment_id}?PROLIFIC_PID=p9")).await;
            assert_eq!(refusal(&html), Some(message), "{state:?}: {html}");
            assert!(html.contains("This study has closed"), "{html}");
            assert!(!offers_consent(&html), "{html}");
            assert_eq!(
                html.contains(RETURN_URL),
                experiment_id == with_return,
                "{html}"
            );
            // The server refuses the assignment too.
            let (status, _) = app.request_assignment(experiment_id, "p9").await;
            assert_eq!(status, StatusCode::GONE);
        }
    }
}

/// Headless Chromium with scripts off shows the JND instructions; with
/// scripts on, the hydrated page keeps them, and a closed experiment's page
/// keeps its refusal and return link.
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn chromium_shows_the_jnd_instructions_without_scripts_and_after_hydration(pool: PgPool) {
    let mut settings = jnd_experiment_settings(&pool, 0.1).await;
    settings.completion_redirect_url = Some(RETURN_URL.into());
    let jnd = create_experiment(&pool, &settings, 1).await;
    let closed = create_experiment(&pool, &settings, 1).await;
    lifecycle::set_lifecycle(&pool, closed, Lifecycle::Closed, false)
        .await
        .unwrap();
    let app = TestApp::spawn(pool).await;
    let browser = Browser::start().await;
    let page = &browser.client;

    let text = |selector: &'static str| async move {
        page.find(Locator::Css(selector))
            .await
            .unwrap_or_else(|error| panic!("{selector}: {error}"))
            .text()
            .await
            .unwrap()
    };
    browser.disable_javascript(true).await;
    page.goto(&app.url(&format!("/e/{jnd}?PROLIFIC_PID=p1")))
        .await
        .unwrap();
    assert_eq!(text("h1").await, JND_HEADING);
    assert!(text(".instructions").await.contains(JND_TASK));
    assert!(
        page.find(Locator::Css("[data-hydrated='true']"))
            .await
            .is_err(),
        "no script ran"
    );

    browser.disable_javascript(false).await;
    page.goto(&app.url(&format!("/e/{jnd}?PROLIFIC_PID=p1")))
        .await
        .unwrap();
    percept_tests::wait_until(
        page,
        "hydration",
        "document.querySelector(\".worker-page[data-hydrated='true']\")",
    )
    .await;
    assert_eq!(text("h1").await, JND_HEADING);
    assert!(text(".instructions").await.contains(JND_TASK));

    page.goto(&app.url(&format!("/e/{closed}?PROLIFIC_PID=p1")))
        .await
        .unwrap();
    percept_tests::wait_until(
        page,
        "hydration",
        "document.querySelector(\".worker-page[data-hydrated='true']\")",
    )
    .await;
    assert!(text("#arrival-refusal")
        .await
        .contains("This study has closed"));
    let link = page.find(Locator::Id("return-to-platform")).await.unwrap();
    assert_eq!(
        link.attr("href").await.unwrap().as_deref(),
        Some(RETURN_URL)
    );
    assert!(page.find(Locator::Id("consent")).await.is_err());
    browser.close().await;
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn an_assignment_link_with_an_unknown_token_is_a_404_saying_so(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let app = TestApp::spawn(pool).await;
    let invalid = "This link is not valid";

    for path in ["/a/no-such-token", "/a/0000000000000000"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains(invalid), "{html}");
        assert!(html.contains(r#"data-phase="failed""#), "{html}");
    }

    let (status, assignment) = app.request_assignment(experiment_id, "w1").await;
    assert_eq!(status, StatusCode::CREATED);
    let path = format!("/a/{}", assignment["token"].as_str().unwrap());
    let response = app.get(&path).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(!html.contains(invalid), "{html}");
    assert!(html.contains(r#"data-phase="loading""#), "{html}");
}
