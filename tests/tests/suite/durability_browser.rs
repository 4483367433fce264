//! A worker in headless Chromium keeps answering while the server is killed
//! (SIGKILL) under them: the answers wait in localStorage, the page carries
//! on, and once the server is back on the same port every answer reaches
//! the database exactly once and the worker gets the completion code.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use percept_tests::server_process::ServerProcess;
use percept_tests::two_afc::{create_experiment, experiment_settings};
use percept_tests::Browser;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{PgPool, Row};

const TRIALS: usize = 6;
/// Answered and acknowledged before the kill.
const ANSWERED_BEFORE_KILL: usize = 2;
/// Answered while the server is down: the trial on screen and the next one,
/// whose images were fetched in advance; the one after cannot load.
const ANSWERED_WHILE_DOWN: usize = 2;

/// Waits until `script` (which returns a JSON value) returns something that
/// `done` accepts; returns it.
async fn wait_until(
    page: &Client,
    what: &str,
    script: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let value = page.execute(script, vec![]).await.unwrap();
        if done(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The position of the trial that accepts an answer now, other than `answered`.
async fn next_trial(page: &Client, answered: &[i64]) -> i64 {
    let answered = Value::from(answered.to_vec());
    let script = format!(
        "const stage = document.querySelector(\".assignment .trial-stage[data-accepting='true']\");
         const position = stage && Number(stage.dataset.position);
         return stage && !{answered}.includes(position) ? position : null;"
    );
    wait_until(page, "the next trial", &script, Value::is_i64)
        .await
        .as_i64()
        .unwrap()
}

/// The side answered at `position`: varied, and known afterwards.
fn side_for(position: i64) -> &'static str {
    if position % 2 == 0 {
        "left"
    } else {
        "right"
    }
}

async fn answer(page: &Client, position: i64) {
    page.find(Locator::Id(&format!("choice-{}", side_for(position))))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The positions of the answers waiting in localStorage for the server.
fn pending_positions_script(token: &str) -> String {
    format!(
        "const pending = JSON.parse(localStorage.getItem('percept.pending-judgments.{token}') || '[]');
         return pending.map(judgment => judgment.position);"
    )
}

/// Waits until the images of the trial at `position` are in the browser.
async fn wait_until_fetched(page: &Client, token: &str, position: i64) {
    let script = format!(
        "return performance.getEntriesByType('resource')
             .filter(entry => entry.responseEnd > 0
                 && entry.name.includes('/api/assignments/{token}/trials/{position}/'))
             .length;"
    );
    wait_until(
        page,
        &format!("trial {position}'s images"),
        &script,
        |fetched| fetched.as_u64() == Some(3),
    )
    .await;
}

async fn phase(page: &Client) -> String {
    page.find(Locator::Css(".worker-page.assignment"))
        .await
        .unwrap()
        .attr("data-phase")
        .await
        .unwrap()
        .unwrap()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn answers_given_while_the_server_is_killed_are_stored_exactly_once(pool: PgPool) {
    let mut settings = experiment_settings(&pool).await;
    settings.patches_per_image = TRIALS as u32;
    settings.trials_per_assignment = TRIALS as u32;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let mut server = ServerProcess::start(&pool).await;
    let response = server
        .http
        .post(server.url(&format!("/api/experiments/{experiment_id}/assignments")))
        .json(&json!({ "platform": "prolific", "worker_id": "steadfast" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let token = response.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let pending_positions = pending_positions_script(&token);

    let browser = Browser::start().await;
    let page = &browser.client;
    page.goto(&server.url(&format!("/a/{token}")))
        .await
        .unwrap();
    let mut answered = Vec::new();
    for _ in 0..ANSWERED_BEFORE_KILL {
        let position = next_trial(page, &answered).await;
        answer(page, position).await;
        answered.push(position);
    }
    let on_screen = next_trial(page, &answered).await;
    wait_until_fetched(page, &token, on_screen + 1).await;
    wait_until(page, "acknowledgments", &pending_positions, |pending| {
        pending == &json!([])
    })
    .await;

    server.kill_9();
    for _ in 0..ANSWERED_WHILE_DOWN {
        let position = next_trial(page, &answered).await;
        answer(page, position).await;
        answered.push(position);
    }
    let waiting = wait_until(page, "answers queued", &pending_positions, |pending| {
        pending.as_array().unwrap().len() == ANSWERED_WHILE_DOWN
    })
    .await;
    assert_eq!(waiting, json!(answered[ANSWERED_BEFORE_KILL..]));
    assert_eq!(phase(page).await, "trials", "the page must carry on");

    // Down for longer than a quick restart, so the page must keep retrying
    // the next trial's images rather than give up.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        phase(page).await,
        "trials",
        "the page must still be waiting"
    );
    server.restart().await;
    while answered.len() < TRIALS {
        let position = next_trial(page, &answered).await;
        answer(page, position).await;
        answered.push(position);
    }
    let completion_code = wait_until(
        page,
        "the completion code",
        "const code = document.querySelector(\".worker-page[data-phase='completed'] #completion-code\");
         return code && code.textContent;",
        Value::is_string,
    )
    .await;
    assert_eq!(
        page.execute(&pending_positions, vec![]).await.unwrap(),
        json!([])
    );
    browser.close().await;

    let rows = sqlx::query(
        "SELECT j.position, j.chosen_side, a.completion_code
         FROM judgments j JOIN assignments a ON a.id = j.assignment_id
         WHERE a.token = $1 ORDER BY j.position",
    )
    .bind(&token)
    .fetch_all(&pool)
    .await
    .unwrap();
    let stored: Vec<(i64, String)> = rows
        .iter()
        .map(|row| {
            (
                i64::from(row.get::<i32, _>("position")),
                row.get("chosen_side"),
            )
        })
        .collect();
    let expected: Vec<(i64, String)> = (0..TRIALS as i64)
        .map(|position| (position, side_for(position).to_owned()))
        .collect();
    assert_eq!(stored, expected, "one judgment per trial, as answered");
    assert_eq!(
        rows[0]
            .get::<Option<String>, _>("completion_code")
            .as_deref(),
        completion_code.as_str()
    );
}
