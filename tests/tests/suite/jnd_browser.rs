//! JND trials in headless Chromium: whole assignments on a desktop (keys)
//! and a phone (taps), checked against the timing the page measured and the
//! server stored; and a trial during which the page is hidden, which must be
//! stored as invalid and served again.

use std::time::{Duration, Instant};

use fantoccini::{
    actions::{InputSource, KeyAction, KeyActions},
    elements::Element,
    Client, Locator,
};
use percept_tests::jnd::jnd_experiment_settings;
use percept_tests::serial;
use percept_tests::two_afc::create_experiment;
use percept_tests::{Browser, TestApp};
use sqlx::{PgPool, Row};

/// The first element matching `css`, waiting for it to appear.
async fn wait_for(page: &Client, css: &str) -> Element {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(element) = page.find(Locator::Css(css)).await {
            return element;
        }
        assert!(Instant::now() < deadline, "{css} never appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until a trial asks its question and returns its position, skipping
/// `answered` ones.
async fn next_question(page: &Client, answered: &[i64]) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(stage) = page
            .find(Locator::Css(".jnd-stage[data-accepting='true']"))
            .await
        {
            let position = stage.attr("data-position").await.ok().flatten();
            if let Some(position) = position.and_then(|position| position.parse().ok()) {
                if !answered.contains(&position) {
                    return position;
                }
            }
        }
        assert!(Instant::now() < deadline, "no new question was asked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Answering {
    Keys,
    Taps,
}

/// "Same" at even positions, "different" at odd ones.
async fn answer(page: &Client, how: Answering, position: i64) {
    let same = position % 2 == 0;
    match how {
        Answering::Keys => {
            let key = if same { 's' } else { 'd' };
            let keys = KeyActions::new("keyboard".into())
                .then(KeyAction::Down { value: key })
                .then(KeyAction::Up { value: key });
            page.perform_actions(keys).await.unwrap();
        }
        Answering::Taps => {
            let id = if same {
                "answer-same"
            } else {
                "answer-different"
            };
            page.find(Locator::Id(id))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        }
    }
}

/// Goes through the landing page as Prolific worker `worker`: consent, the
/// practice trial (answered "same", wrongly, then told so), and the start;
/// returns the assignment's token once its page is open.
async fn begin_assignment(
    page: &Client,
    app: &TestApp,
    experiment_id: i64,
    worker: &str,
    how: Answering,
) -> String {
    page.goto(&app.url(&format!(
        "/e/{experiment_id}?PROLIFIC_PID={worker}&STUDY_ID=s&SESSION_ID=x"
    )))
    .await
    .unwrap();
    wait_for(page, ".worker-page[data-hydrated='true']").await;
    // The page learns the experiment's kind with its practice trial.
    let deadline = Instant::now() + Duration::from_secs(30);
    while wait_for(page, "h1").await.text().await.unwrap() != "Did the patch change?" {
        assert!(
            Instant::now() < deadline,
            "the landing page never explained a JND task"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
    wait_for(page, ".practice .jnd-stage[data-accepting='true']").await;
    answer(page, how, 0).await;
    let feedback = wait_for(page, "#practice-feedback:not(:empty)").await;
    let feedback = feedback.text().await.unwrap();
    assert!(
        feedback.starts_with("Not quite: the second patch was a changed version"),
        "{feedback}"
    );
    wait_for(page, "#start-assignment")
        .await
        .click()
        .await
        .unwrap();
    wait_for(page, ".worker-page.assignment").await;
    let url = page.current_url().await.unwrap();
    url.path().strip_prefix("/a/").unwrap().to_owned()
}

/// Answers every question until the page shows the completion code; returns
/// the positions answered, in order, after the `answered` ones.
async fn answer_all(page: &Client, how: Answering, mut answered: Vec<i64>) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(
            Instant::now() < deadline,
            "the assignment was not completed"
        );
        let done = page
            .find(Locator::Css(
                ".worker-page[data-phase='completed'] #completion-code",
            ))
            .await
            .is_ok();
        if done {
            return answered;
        }
        let accepting = page
            .find(Locator::Css(".jnd-stage[data-accepting='true']"))
            .await;
        if let Ok(stage) = accepting {
            let position: Option<i64> = stage
                .attr("data-position")
                .await
                .ok()
                .flatten()
                .and_then(|position| position.parse().ok());
            if let Some(position) = position.filter(|position| !answered.contains(position)) {
                answer(page, how, position).await;
                answered.push(position);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The stored timing errors of an assignment's judgments, in ms: measured
/// minus configured reference exposure, gap and distorted exposure; with
/// each judgment's refresh interval and validity.
async fn timing_errors(pool: &PgPool, token: &str) -> Vec<([f64; 3], f64, bool)> {
    sqlx::query(
        "SELECT j.reference_exposure_ms - e.reference_ms AS reference_error,
                j.measured_gap_ms - e.gap_ms AS gap_error,
                j.distorted_exposure_ms - e.distorted_ms AS distorted_error,
                j.refresh_interval_ms, j.valid
         FROM jnd_judgments j
         JOIN assignments a ON a.id = j.assignment_id
         JOIN experiments e ON e.id = a.experiment_id
         WHERE a.token = $1
         ORDER BY j.position",
    )
    .bind(token)
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|row| {
        (
            [
                row.get::<f64, _>("reference_error"),
                row.get::<f64, _>("gap_error"),
                row.get::<f64, _>("distorted_error"),
            ],
            row.get::<f64, _>("refresh_interval_ms"),
            row.get::<bool, _>("valid"),
        )
    })
    .collect()
}

/// Mean, 99th percentile and maximum of the absolute values.
fn distribution(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted: Vec<f64> = values.iter().map(|value| value.abs()).collect();
    sorted.sort_by(f64::total_cmp);
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    let p99 = sorted[((sorted.len() as f64 * 0.99).ceil() as usize).clamp(1, sorted.len()) - 1];
    (mean, p99, *sorted.last().unwrap())
}

/// Prints the error distribution and checks that at least 99 % of the
/// trials had every duration within one frame of its setting.
fn assert_within_a_frame(device: &str, errors: &[([f64; 3], f64, bool)]) {
    for (index, name) in ["reference exposure", "gap", "distorted exposure"]
        .iter()
        .enumerate()
    {
        let values: Vec<f64> = errors.iter().map(|(error, _, _)| error[index]).collect();
        let (mean, p99, max) = distribution(&values);
        println!(
            "{device}: {name} |error| over {} trials: mean {mean:.2} ms, p99 {p99:.2} ms, max {max:.2} ms",
            values.len()
        );
    }
    let interval = errors[0].1;
    println!("{device}: estimated refresh interval {interval:.3} ms");
    let within = errors
        .iter()
        .filter(|(error, interval, _)| error.iter().all(|error| error.abs() <= interval + 0.5))
        .count();
    assert!(
        within as f64 >= 0.99 * errors.len() as f64,
        "only {within} of {} trials were within one frame: {errors:?}",
        errors.len()
    );
    // The server's verdict agrees with the durations.
    let valid = errors.iter().filter(|(_, _, valid)| *valid).count();
    assert_eq!(valid, within);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn desktop_and_phone_workers_complete_jnd_assignments_with_the_configured_timing(
    pool: PgPool,
) {
    let _turn = serial::take_turn(serial::Kind::MeasuresWallClock).await;
    let app = TestApp::spawn(pool.clone()).await;
    let mut settings = jnd_experiment_settings(&pool, 0.25).await;
    settings.patches_per_image = 20;
    settings.trials_per_assignment = 20;
    let experiment_id = create_experiment(&pool, &settings, 2).await;

    for (device, how) in [("desktop", Answering::Keys), ("phone", Answering::Taps)] {
        let browser = if how == Answering::Keys {
            Browser::start().await
        } else {
            Browser::start_phone().await
        };
        let page = &browser.client;
        let token = begin_assignment(page, &app, experiment_id, device, how).await;
        let answered = answer_all(page, how, Vec::new()).await;
        browser.close().await;

        let errors = timing_errors(&pool, &token).await;
        assert_eq!(errors.len(), answered.len());
        assert!(answered.len() >= 20);
        assert_within_a_frame(device, &errors);
        let said_same: Vec<(i32, bool)> = sqlx::query_as(
            "SELECT j.position, j.said_same FROM jnd_judgments j
             JOIN assignments a ON a.id = j.assignment_id WHERE a.token = $1 ORDER BY j.position",
        )
        .bind(&token)
        .fetch_all(&pool)
        .await
        .unwrap();
        for (position, same) in said_same {
            assert_eq!(same, position % 2 == 0, "the answer stored at {position}");
        }
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_trial_during_which_the_page_is_hidden_is_invalid_and_served_again(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut settings = jnd_experiment_settings(&pool, 0.0).await;
    settings.trials_per_assignment = 3;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let browser = Browser::start().await;
    let page = &browser.client;
    let token = begin_assignment(page, &app, experiment_id, "w1", Answering::Keys).await;

    // Hide the page while the reference of the first trial is on screen.
    let stage = wait_for(page, ".jnd-stage[data-phase='reference']").await;
    let hidden_position: i64 = stage
        .attr("data-position")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    let original = page.window().await.unwrap();
    let other = page.new_window(true).await.unwrap();
    page.switch_to_window(other.handle).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    page.close_window().await.unwrap();
    page.switch_to_window(original).await.unwrap();

    let position = next_question(page, &[]).await;
    assert_eq!(position, hidden_position);
    answer(page, Answering::Keys, position).await;
    let answered = answer_all(page, Answering::Keys, vec![position]).await;
    browser.close().await;

    let rows = sqlx::query(
        "SELECT jt.position, jt.pair_id, jt.retry_of, j.valid, j.invalid_reason, j.lost_visibility
         FROM jnd_trials jt JOIN assignments a ON a.id = jt.assignment_id
         JOIN jnd_judgments j ON j.assignment_id = jt.assignment_id AND j.position = jt.position
         WHERE a.token = $1 ORDER BY jt.position",
    )
    .bind(&token)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 4, "three trials and the repeat, all judged");
    let hidden_row = &rows[hidden_position as usize];
    assert!(!hidden_row.get::<bool, _>("valid"));
    assert!(hidden_row.get::<bool, _>("lost_visibility"));
    assert_eq!(
        hidden_row
            .get::<Option<String>, _>("invalid_reason")
            .as_deref(),
        Some("the page was hidden during the sequence")
    );
    let repeat = &rows[3];
    assert_eq!(
        repeat.get::<Option<i32>, _>("retry_of"),
        Some(hidden_position as i32)
    );
    assert_eq!(
        repeat.get::<i64, _>("pair_id"),
        hidden_row.get::<i64, _>("pair_id")
    );
    assert!(
        repeat.get::<bool, _>("valid"),
        "the repeat was shown undisturbed"
    );
    assert_eq!(answered.len(), 4);
    assert_eq!(answered[3], 3);
}
