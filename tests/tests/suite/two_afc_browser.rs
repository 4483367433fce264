//! The crowd worker's side of a 2AFC experiment in headless Chromium: the
//! landing page with the platform's parameters, consent, the practice trial,
//! whole assignments answered with the keyboard and with clicks, and what
//! the database holds afterwards.
//!
//! With `PERCEPT_SCREENSHOTS` set, a trial is also photographed on the
//! desktop and on the phone into `docs/`.

use std::{
    collections::HashMap,
    path::PathBuf,
    time::{Duration, Instant},
};

use distortions::image;
use fantoccini::{
    actions::{InputSource, KeyAction, KeyActions},
    elements::Element,
    key::Key,
    Client, Locator,
};
use percept_tests::two_afc::{
    create_experiment, create_experiment_from_photos, experiment_settings,
};
use percept_tests::{Browser, TestApp};
use serde_json::Value;
use sqlx::{PgPool, Row};

const TRIALS_PER_ASSIGNMENT: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answering {
    Keyboard,
    Clicks,
}

/// The first element matching `css`, waiting for it to appear.
async fn wait_for(page: &Client, css: &str) -> Element {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(element) = page.find(Locator::Css(css)).await {
            return element;
        }
        assert!(Instant::now() < deadline, "{css} never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a trial accepts an answer and returns its position, skipping
/// `answered` ones (the stage still shows the last trial for a moment).
async fn next_trial(page: &Client, stage_css: &str, answered: &[i64]) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = format!("{stage_css} .trial-stage[data-accepting='true']");
        if let Ok(stage) = page.find(Locator::Css(&ready)).await {
            let position = stage.attr("data-position").await.ok().flatten();
            if let Some(position) = position.and_then(|position| position.parse().ok()) {
                if !answered.contains(&position) {
                    return position;
                }
            }
        }
        assert!(Instant::now() < deadline, "no new trial became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn answer(page: &Client, how: Answering, side: &str) {
    match how {
        Answering::Keyboard => {
            let key: char = if side == "left" {
                Key::Left
            } else {
                Key::Right
            }
            .into();
            let keys = KeyActions::new("keyboard".into())
                .then(KeyAction::Down { value: key })
                .then(KeyAction::Up { value: key });
            page.perform_actions(keys).await.unwrap();
        }
        Answering::Clicks => {
            let id = format!("choice-{side}");
            page.find(Locator::Id(&id))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        }
    }
}

/// The three patches of the trial on screen (left, reference, right): their
/// boxes in CSS pixels (left, top, width, height) and image URLs; and the
/// device pixel ratio.
async fn patches_on_screen(page: &Client) -> (Vec<([f64; 4], String)>, f64) {
    let layout = page
        .execute(
            "return [Array.from(document.querySelectorAll('.trial-patches img.patch')).map(image => {
                 const box = image.getBoundingClientRect();
                 return [[box.left, box.top, box.width, box.height], image.src];
             }), window.devicePixelRatio];",
            vec![],
        )
        .await
        .unwrap();
    let patches = layout[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|patch| {
            let bounds = [0, 1, 2, 3].map(|i| patch[0][i].as_f64().unwrap());
            (bounds, patch[1].as_str().unwrap().to_owned())
        })
        .collect();
    (patches, layout[1].as_f64().unwrap())
}

/// Three patches in a row (left, reference, right), all the same size, and
/// the screen shows each pixel of the reference patch as a uniform block of
/// `scale`×`scale` device pixels: magnified by a whole factor, unsmoothed.
async fn assert_three_across_at_scale(page: &Client, app: &TestApp, scale: u32) {
    let (patches, device_pixel_ratio) = patches_on_screen(page).await;
    assert_eq!(patches.len(), 3);
    let [_, top, width, _] = patches[1].0;
    for ([_, patch_top, patch_width, patch_height], _) in &patches {
        assert_eq!(
            (patch_width, patch_height, patch_top),
            (&width, &width, &top)
        );
    }
    let [left, reference, right] = [0, 1, 2].map(|i| patches[i].0[0]);
    assert!(left + width <= reference && reference + width <= right);

    let screen = image::load_from_memory(&page.screenshot().await.unwrap())
        .unwrap()
        .into_rgb8();
    let reference_png = app.http.get(&patches[1].1).send().await.unwrap();
    let reference_patch = image::load_from_memory(&reference_png.bytes().await.unwrap())
        .unwrap()
        .into_rgb8();
    let device = |css: f64| (css * device_pixel_ratio).round() as u32;
    let (x0, y0) = (device(reference), device(top));
    for (x, y, expected) in reference_patch.enumerate_pixels() {
        for (dx, dy) in (0..scale).flat_map(|dx| (0..scale).map(move |dy| (dx, dy))) {
            let shown = screen.get_pixel(x0 + x * scale + dx, y0 + y * scale + dy);
            let close = (0..3).all(|c| shown[c].abs_diff(expected[c]) <= 2);
            assert!(
                close,
                "pixel ({x}, {y}) of the reference shows as {shown:?}, not {expected:?}"
            );
        }
    }
}

async fn save_screenshot(page: &Client, name: &str) {
    if std::env::var_os("PERCEPT_SCREENSHOTS").is_none() {
        return;
    }
    let png = page.screenshot().await.unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name);
    std::fs::write(&path, png).unwrap();
}

/// The side the test answers at `position`: varied, and known afterwards.
fn side_for(position: i64, how: Answering) -> &'static str {
    let left = (position % 2 == 0) == (how == Answering::Keyboard);
    if left {
        "left"
    } else {
        "right"
    }
}

/// Waits until the images of the trial at `position` have been fetched, which
/// must happen while the trial before it is on screen (trials come in order).
async fn assert_fetched_in_advance(page: &Client, token: &str, position: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fetched = page
            .execute(
                "return performance.getEntriesByType('resource')
                     .filter(entry => entry.responseEnd > 0 && entry.name.includes(arguments[0]))
                     .length;",
                vec![Value::from(format!(
                    "/api/assignments/{token}/trials/{position}/"
                ))],
            )
            .await
            .unwrap();
        if fetched.as_u64() == Some(3) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "trial {position}'s images were not fetched in advance"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One worker's visit: the landing page's query string, how they answer,
/// whether they get the practice right, and where to save a screenshot of
/// their first trial.
struct Visit<'a> {
    query: &'a str,
    how: Answering,
    practise_correctly: bool,
    screenshot: Option<&'a str>,
}

/// What a visit left behind: the assignment's token, the side chosen at
/// each position and the completion code shown.
struct Outcome {
    token: String,
    chosen: HashMap<i64, &'static str>,
    completion_code: String,
}

/// Goes through the landing page, consent and the practice, and starts an
/// assignment; returns its token once its page is open.
async fn begin_assignment(
    page: &Client,
    app: &TestApp,
    experiment_id: i64,
    visit: &Visit<'_>,
) -> String {
    let how = visit.how;
    page.goto(&app.url(&format!("/e/{experiment_id}?{}", visit.query)))
        .await
        .unwrap();
    wait_for(page, ".worker-page[data-hydrated='true']").await;
    assert_bundle_came_compressed(page).await;
    page.find(Locator::Id("consent"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(page, "#begin-practice:not([disabled])")
        .await
        .click()
        .await
        .unwrap();

    let practice: Value = app
        .get(&format!("/api/experiments/{experiment_id}/practice"))
        .await
        .json()
        .await
        .unwrap();
    let identical = practice["identical_side"].as_str().unwrap();
    let other = if identical == "left" { "right" } else { "left" };
    next_trial(page, ".practice", &[]).await;
    answer(
        page,
        how,
        if visit.practise_correctly {
            identical
        } else {
            other
        },
    )
    .await;
    let feedback = wait_for(page, "#practice-feedback:not(:empty)").await;
    let feedback = feedback.text().await.unwrap();
    let expected = if visit.practise_correctly {
        format!("Correct: the {identical} patch is identical")
    } else {
        format!("Not quite: the {identical} patch is identical")
    };
    assert!(feedback.starts_with(&expected), "feedback: {feedback}");

    wait_for(page, "#start-assignment")
        .await
        .click()
        .await
        .unwrap();
    wait_for(page, ".worker-page.assignment").await;
    let url = page.current_url().await.unwrap();
    url.path().strip_prefix("/a/").unwrap().to_owned()
}

/// The page hydrated with the optimised bundle, which Chromium received
/// compressed: fewer bytes over the wire than it decoded.
async fn assert_bundle_came_compressed(page: &Client) {
    let entries = page
        .execute(
            "return performance.getEntriesByType('resource')
                 .filter(e => e.name.includes('/pkg/'))
                 .map(e => [e.name, e.encodedBodySize, e.decodedBodySize]);",
            vec![],
        )
        .await
        .unwrap();
    let entries: Vec<(String, u64, u64)> = serde_json::from_value(entries).unwrap();
    // Workers get the worker-only bundle (see `app::bundle_for`).
    for suffix in ["/worker.js", "/worker_bg.wasm"] {
        let (name, encoded, decoded) = entries
            .iter()
            .find(|(name, _, _)| name.ends_with(suffix))
            .unwrap_or_else(|| panic!("the page never loaded {suffix}: {entries:?}"));
        assert!(
            encoded < decoded,
            "{name} came uncompressed ({encoded} bytes for {decoded})"
        );
    }
}

async fn completion_code(page: &Client) -> String {
    wait_for(
        page,
        ".worker-page[data-phase='completed'] #completion-code",
    )
    .await
    .text()
    .await
    .unwrap()
}

/// Goes through the landing page, consent and the practice, then answers a
/// whole assignment.
async fn take_part(page: &Client, app: &TestApp, experiment_id: i64, visit: Visit<'_>) -> Outcome {
    let how = visit.how;
    let token = begin_assignment(page, app, experiment_id, &visit).await;
    let mut chosen = HashMap::new();
    let mut answered = Vec::new();
    while answered.len() < TRIALS_PER_ASSIGNMENT {
        let position = next_trial(page, ".assignment", &answered).await;
        if answered.is_empty() {
            // 4× the 64-pixel patch on both screens: the largest scale, which
            // both have room for.
            assert_three_across_at_scale(page, app, 4).await;
            if let Some(screenshot) = visit.screenshot {
                save_screenshot(page, screenshot).await;
            }
        }
        if answered.len() + 1 < TRIALS_PER_ASSIGNMENT {
            assert_fetched_in_advance(page, &token, position + 1).await;
        }
        let side = side_for(position, how);
        answer(page, how, side).await;
        chosen.insert(position, side);
        answered.push(position);
        if how == Answering::Keyboard && answered.len() == 2 {
            // A reload resumes after the answered trials, whether or not
            // the server has acknowledged them yet.
            page.refresh().await.unwrap();
        }
    }
    let completion_code = completion_code(page).await;
    Outcome {
        token,
        chosen,
        completion_code,
    }
}

/// Who a worker is in the database; `external_id` None for an anonymous
/// worker, whose id the server made.
struct WorkerRecord<'a> {
    platform: &'a str,
    external_id: Option<&'a str>,
    study_id: Option<&'a str>,
    session_id: Option<&'a str>,
}

/// What the database holds for the visit's assignment, checked against what
/// the worker pressed.
async fn assert_judgments_stored(pool: &PgPool, outcome: &Outcome, worker: WorkerRecord<'_>) {
    let rows = sqlx::query(
        "SELECT j.position, j.chosen_side, j.chose_p1, j.response_ms, j.user_agent,
                at.left_is_p0, w.platform, w.external_id, a.study_id, a.session_id,
                a.completion_code
         FROM judgments j
         JOIN assignment_trials at ON at.assignment_id = j.assignment_id AND at.position = j.position
         JOIN assignments a ON a.id = j.assignment_id
         JOIN workers w ON w.id = a.worker_id
         WHERE a.token = $1
         ORDER BY j.position",
    )
    .bind(&outcome.token)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), TRIALS_PER_ASSIGNMENT);
    for (index, row) in rows.iter().enumerate() {
        let position: i32 = row.get("position");
        assert_eq!(position as usize, index);
        let side: String = row.get("chosen_side");
        assert_eq!(
            side,
            outcome.chosen[&i64::from(position)],
            "position {position}"
        );
        let left_is_p0: bool = row.get("left_is_p0");
        assert_eq!(
            row.get::<bool, _>("chose_p1"),
            (side == "right") == left_is_p0
        );
        assert!(row.get::<i32, _>("response_ms") > 0);
        let user_agent: Option<String> = row.get("user_agent");
        assert!(user_agent.unwrap().contains("Chrome"));
        assert_eq!(row.get::<String, _>("platform"), worker.platform);
        let external_id: String = row.get("external_id");
        if let Some(expected) = worker.external_id {
            assert_eq!(external_id, expected);
        }
        assert_eq!(
            row.get::<Option<String>, _>("study_id").as_deref(),
            worker.study_id
        );
        assert_eq!(
            row.get::<Option<String>, _>("session_id").as_deref(),
            worker.session_id
        );
        assert_eq!(
            row.get::<Option<String>, _>("completion_code").unwrap(),
            outcome.completion_code
        );
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn workers_on_desktop_and_phone_practise_and_complete_assignments(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut settings = experiment_settings(&pool).await;
    settings.trials_per_assignment = TRIALS_PER_ASSIGNMENT as u32;
    let platform_page = app.url("/?returned-from-percept");
    settings.completion_redirect_url = Some(platform_page.clone());
    let experiment_id = create_experiment_from_photos(&pool, &settings, 2).await;

    let desktop = Browser::start().await;
    let visit = Visit {
        query: "PROLIFIC_PID=prolific-worker&STUDY_ID=study-7&SESSION_ID=session-9",
        how: Answering::Keyboard,
        practise_correctly: true,
        screenshot: Some("trial-desktop.png"),
    };
    let outcome = take_part(&desktop.client, &app, experiment_id, visit).await;
    assert_eq!(outcome.completion_code.len(), 10);
    let worker = WorkerRecord {
        platform: "prolific",
        external_id: Some("prolific-worker"),
        study_id: Some("study-7"),
        session_id: Some("session-9"),
    };
    assert_judgments_stored(&pool, &outcome, worker).await;
    desktop.close().await;

    // Another worker, on a phone, tapping; then sent back to the platform.
    let phone = Browser::start_phone().await;
    let page = &phone.client;
    let visit = Visit {
        query: "workerId=mturk-worker&assignmentId=mturk-assignment&hitId=mturk-hit",
        how: Answering::Clicks,
        practise_correctly: false,
        screenshot: Some("trial-phone.png"),
    };
    let outcome = take_part(page, &app, experiment_id, visit).await;
    let worker = WorkerRecord {
        platform: "mturk",
        external_id: Some("mturk-worker"),
        study_id: Some("mturk-hit"),
        session_id: Some("mturk-assignment"),
    };
    assert_judgments_stored(&pool, &outcome, worker).await;
    let redirect = page.find(Locator::Id("completion-redirect")).await.unwrap();
    assert_eq!(redirect.attr("href").await.unwrap().unwrap(), platform_page);
    let deadline = Instant::now() + Duration::from_secs(30);
    while page.current_url().await.unwrap().as_str() != platform_page {
        assert!(Instant::now() < deadline, "never sent back to the platform");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A link to an assignment that does not exist says so (the server
    // renders that page, answered with 404).
    page.goto(&app.url("/a/no-such-assignment-token-at-all"))
        .await
        .unwrap();
    let error = wait_for(page, "#assignment-error")
        .await
        .text()
        .await
        .unwrap();
    assert!(error.contains("This link is not valid"), "{error}");

    // An anonymous worker, twice: the browser keeps the id the server gave.
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let visit = Visit {
            query: "",
            how: Answering::Clicks,
            practise_correctly: true,
            screenshot: None,
        };
        let outcome = take_part(page, &app, experiment_id, visit).await;
        let worker = WorkerRecord {
            platform: "anonymous",
            external_id: None,
            study_id: None,
            session_id: None,
        };
        assert_judgments_stored(&pool, &outcome, worker).await;
        tokens.push(outcome.token);
    }
    let anonymous_workers: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT worker_id) FROM assignments WHERE token = ANY($1)",
    )
    .bind(&tokens)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(anonymous_workers, 1);

    let judgments: i64 = sqlx::query_scalar("SELECT count(*) FROM judgments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(judgments, 4 * TRIALS_PER_ASSIGNMENT as i64);
    phone.close().await;
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_worker_who_leaves_is_offered_their_unfinished_assignment(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut settings = experiment_settings(&pool).await;
    settings.trials_per_assignment = TRIALS_PER_ASSIGNMENT as u32;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let browser = Browser::start().await;
    let page = &browser.client;
    let visit = Visit {
        query: "PROLIFIC_PID=returning-worker&STUDY_ID=study-1&SESSION_ID=session-1",
        how: Answering::Clicks,
        practise_correctly: true,
        screenshot: None,
    };
    let token = begin_assignment(page, &app, experiment_id, &visit).await;
    let mut chosen = HashMap::new();
    let first = next_trial(page, ".assignment", &[]).await;
    answer(page, visit.how, side_for(first, visit.how)).await;
    chosen.insert(first, side_for(first, visit.how));

    // Back through the platform's link: the landing page offers the rest.
    page.goto(&app.url(&format!("/e/{experiment_id}?{}", visit.query)))
        .await
        .unwrap();
    wait_for(page, "#resume-assignment")
        .await
        .click()
        .await
        .unwrap();
    wait_for(page, ".worker-page.assignment").await;
    let url = page.current_url().await.unwrap();
    assert_eq!(url.path(), format!("/a/{token}"));
    while chosen.len() < TRIALS_PER_ASSIGNMENT {
        let answered: Vec<i64> = chosen.keys().copied().collect();
        let position = next_trial(page, ".assignment", &answered).await;
        let side = side_for(position, visit.how);
        answer(page, visit.how, side).await;
        chosen.insert(position, side);
    }
    let outcome = Outcome {
        completion_code: completion_code(page).await,
        token,
        chosen,
    };
    let worker = WorkerRecord {
        platform: "prolific",
        external_id: Some("returning-worker"),
        study_id: Some("study-1"),
        session_id: Some("session-1"),
    };
    assert_judgments_stored(&pool, &outcome, worker).await;
    let assignments: i64 = sqlx::query_scalar("SELECT count(*) FROM assignments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(assignments, 1);
    browser.close().await;
}
