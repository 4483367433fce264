//! Rate limits on judgments (per worker, per address) and on sign-in (per
//! address, and a growing wait per email after failures).

use std::time::Duration;

use percept_tests::researchers::{browser_like_client, PASSWORD};
use percept_tests::serial;
use percept_tests::two_afc::{create_experiment, experiment_settings, judgment};
use percept_tests::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::http::rate_limits::RateLimitSettings;
use sqlx::PgPool;

fn limits() -> RateLimitSettings {
    RateLimitSettings {
        judgments_per_worker_per_second: 0.0,
        judgments_per_ip_per_second: 0.0,
        assignments_per_ip_per_minute: 0.0,
        sign_ins_per_ip_per_minute: 0.0,
        trust_forwarded_for: false,
    }
}

/// Status, Retry-After and JSON body of an answer.
async fn answer(response: reqwest::Response) -> (StatusCode, Option<String>, Value) {
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    (
        response.status(),
        retry_after,
        response.json().await.unwrap(),
    )
}

/// An experiment with room for ten assignments of eight trials.
async fn experiment(pool: &PgPool) -> i64 {
    let mut settings = experiment_settings(pool).await;
    settings.patches_per_image = 10;
    settings.judgments_per_stimulus = 4;
    settings.trials_per_assignment = 8;
    create_experiment(pool, &settings, 2).await
}

async fn stored_judgments(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM judgments")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Status, Retry-After and body of a judgment submitted through `client`.
async fn submit(
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
    body: &Value,
    forwarded_for: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = client
        .post(app.url(&format!("/api/assignments/{token}/judgments")))
        .json(body);
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    answer(request.send().await.unwrap()).await
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_worker_going_too_fast_is_told_when_to_retry_and_loses_nothing(pool: PgPool) {
    let _turn = serial::take_turn(serial::Kind::MeasuresWallClock).await;
    let experiment_id = experiment(&pool).await;
    // Half a judgment per second: bursts of five.
    let settings = RateLimitSettings {
        judgments_per_worker_per_second: 0.5,
        ..limits()
    };
    let app = TestApp::spawn_with_limits(pool.clone(), &settings).await;
    let (_, fast) = app.request_assignment(experiment_id, "fast").await;
    let (_, other) = app.request_assignment(experiment_id, "other").await;
    let fast = fast["token"].as_str().unwrap();

    for position in 0..5 {
        let (status, _, _) = submit(&app, &app.http, fast, &judgment(position, "left"), None).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "judgment {position} of the burst"
        );
    }
    let sixth = judgment(5, "left");
    let (status, retry_after, error) = submit(&app, &app.http, fast, &sixth, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Two seconds for a token, less the time the burst took.
    assert!(
        matches!(retry_after.as_deref(), Some("1" | "2")),
        "{retry_after:?}"
    );
    assert_eq!(
        error["error"],
        "too many judgments from this worker: at most 0.5 per second, in bursts of up to 5"
    );
    assert_eq!(stored_judgments(&pool).await, 5);

    // Another worker from the same address is not held back.
    let (status, _, _) = submit(
        &app,
        &app.http,
        other["token"].as_str().unwrap(),
        &judgment(0, "right"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // After the wait the same judgment goes through, once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, _, _) = submit(&app, &app.http, fast, &sixth, None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(stored_judgments(&pool).await, 7);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn an_address_is_limited_across_its_workers_and_proxies_are_trusted_only_when_told(
    pool: PgPool,
) {
    let _turn = serial::take_turn(serial::Kind::MeasuresWallClock).await;
    let experiment_id = experiment(&pool).await;
    for trust_forwarded_for in [false, true] {
        let settings = RateLimitSettings {
            judgments_per_ip_per_second: 0.3,
            trust_forwarded_for,
            ..limits()
        };
        let app = TestApp::spawn_with_limits(pool.clone(), &settings).await;
        let mut tokens = Vec::new();
        for worker in 0..4 {
            let (_, assignment) = app
                .request_assignment(experiment_id, &format!("{trust_forwarded_for}-{worker}"))
                .await;
            tokens.push(assignment["token"].as_str().unwrap().to_owned());
        }
        // A burst of three from one address, spread over workers.
        for token in &tokens[..3] {
            let (status, _, _) = submit(
                &app,
                &app.http,
                token,
                &judgment(0, "left"),
                Some("203.0.113.7"),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED);
        }
        let (status, _, error) = submit(
            &app,
            &app.http,
            &tokens[3],
            &judgment(0, "left"),
            Some("203.0.113.7"),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            error["error"]
                .as_str()
                .unwrap()
                .contains("from this address"),
            "{error}"
        );
        // Claiming another address helps only behind a proxy the server trusts.
        let (status, _, _) = submit(
            &app,
            &app.http,
            &tokens[3],
            &judgment(0, "left"),
            Some("198.51.100.1"),
        )
        .await;
        let expected = if trust_forwarded_for {
            StatusCode::CREATED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(
            status, expected,
            "trusting X-Forwarded-For: {trust_forwarded_for}"
        );
    }
}

async fn sign_in(
    app: &TestApp,
    email: &str,
    password: &str,
) -> (StatusCode, Option<String>, Value) {
    let response = browser_like_client()
        .post(app.url("/api/session"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    answer(response).await
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn sign_ins_are_limited_per_address(pool: PgPool) {
    let _turn = serial::take_turn(serial::Kind::MeasuresWallClock).await;
    server::researchers::add(&pool, "owner@example.org", PASSWORD)
        .await
        .unwrap();
    let settings = RateLimitSettings {
        sign_ins_per_ip_per_minute: 3.0,
        ..limits()
    };
    let app = TestApp::spawn_with_limits(pool, &settings).await;
    // Different emails, so the per-email wait plays no part.
    for attempt in 0..3 {
        let (status, _, _) =
            sign_in(&app, &format!("guess{attempt}@example.org"), "wrong guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, retry_after, error) = sign_in(&app, "owner@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{error}");
    // Twenty seconds for a token, less the time the three attempts took.
    let retry_after: u64 = retry_after.unwrap().parse().unwrap();
    assert!((10..=20).contains(&retry_after), "{retry_after}");
    assert!(error["error"]
        .as_str()
        .unwrap()
        .contains("sign-in attempts from this address"));
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn failed_sign_ins_make_the_next_attempts_for_that_email_wait(pool: PgPool) {
    let _turn = serial::take_turn(serial::Kind::MeasuresWallClock).await;
    server::researchers::add(&pool, "owner@example.org", PASSWORD)
        .await
        .unwrap();
    let app = TestApp::spawn_with_limits(pool.clone(), &limits()).await;

    // Known and unknown emails are treated alike, so the wait tells nobody
    // which emails have accounts.
    for email in ["owner@example.org", "nobody@example.org"] {
        for _ in 0..3 {
            let (status, _, _) = sign_in(&app, email, "wrong guess").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{email}");
        }
        // Even the right password must wait now.
        let (status, retry_after, error) = sign_in(&app, email, PASSWORD).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{email}: {error}");
        assert_eq!(retry_after.as_deref(), Some("1"), "{email}");
        assert!(error["error"]
            .as_str()
            .unwrap()
            .contains("too many failed sign-ins"));
        // The email's case and surrounding spaces do not open a fresh count.
        let variant = format!(" {}", email.to_uppercase());
        let (status, _, _) = sign_in(&app, &variant, PASSWORD).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{variant}");
    }

    // After the wait, one more failure doubles it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, _) = sign_in(&app, "owner@example.org", "wrong again").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, retry_after, _) = sign_in(&app, "owner@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.as_deref(), Some("2"));

    // The right password after the wait signs in and clears the count.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _, _) = sign_in(&app, "owner@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = sign_in(&app, "owner@example.org", "a typo").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let remembered: Vec<(String, i32)> =
        sqlx::query_as("SELECT email, failures FROM sign_in_failures ORDER BY email")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        remembered,
        [
            ("nobody@example.org".to_owned(), 3),
            ("owner@example.org".to_owned(), 1)
        ]
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn an_address_asking_for_many_assignments_is_told_to_wait(pool: PgPool) {
    let experiment_id = experiment(&pool).await;
    let settings = RateLimitSettings {
        assignments_per_ip_per_minute: 2.0,
        ..limits()
    };
    let app = TestApp::spawn_with_limits(pool.clone(), &settings).await;
    for worker in ["first", "second"] {
        let (status, _) = app.request_assignment(experiment_id, worker).await;
        assert_eq!(status, StatusCode::CREATED, "{worker}");
    }
    let (status, error) = app.request_assignment(experiment_id, "third").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        error["error"],
        "too many assignment requests from this address: at most 2 per minute, in bursts of up to 2"
    );
    let assignments: i64 = sqlx::query_scalar("SELECT count(*) FROM assignments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(assignments, 2);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn overlong_sign_in_input_is_refused_before_it_is_counted(pool: PgPool) {
    let app = TestApp::spawn_with_limits(pool.clone(), &limits()).await;
    let long_email = format!("{}@example.org", "a".repeat(10_000));
    let (status, _, error) = sign_in(&app, &long_email, "a guess").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error["error"]
        .as_str()
        .unwrap()
        .contains("at most 254 characters"));
    let (status, _, _) = sign_in(&app, "owner@example.org", &"p".repeat(5_000)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM sign_in_failures")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(counted, 0);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_wait_stays_at_a_minute_however_many_failures_piled_up(pool: PgPool) {
    server::researchers::add(&pool, "owner@example.org", PASSWORD)
        .await
        .unwrap();
    // Days of one guess a minute: far past where 2^n would overflow.
    sqlx::query(
        "INSERT INTO sign_in_failures (email, failures, last_attempt_at)
         VALUES ('owner@example.org', 5000, now())",
    )
    .execute(&pool)
    .await
    .unwrap();
    let app = TestApp::spawn_with_limits(pool.clone(), &limits()).await;
    let (status, retry_after, _) = sign_in(&app, "owner@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.as_deref(), Some("60"));

    sqlx::query("UPDATE sign_in_failures SET last_attempt_at = now() - interval '61 seconds'")
        .execute(&pool)
        .await
        .unwrap();
    let (status, _, _) = sign_in(&app, "owner@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
}
