//! Who gets in where: every researcher route against anonymous callers,
//! strangers and researchers an experiment is shared with; workers' tokens;
//! and requests forged by other sites.

use std::collections::BTreeSet;

use percept_tests::researchers::browser_like_client;
use percept_tests::two_afc::{create_experiment, experiment_settings, judgment};
use percept_tests::TestApp;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

/// Every operation the OpenAPI document says needs the session cookie, as
/// (method, path template).
async fn researcher_operations(app: &TestApp) -> Vec<(Method, String)> {
    let document: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let needs_session = operation["security"].as_array().is_some_and(|schemes| {
                schemes
                    .iter()
                    .all(|scheme| scheme.get("percept_session").is_some())
            });
            if needs_session {
                operations.push((method.to_uppercase().parse().unwrap(), path.clone()));
            }
        }
    }
    operations
}

/// A request that would succeed for someone allowed to make it.
fn request(
    client: &Client,
    app: &TestApp,
    method: &Method,
    path: &str,
    body: Option<&Value>,
) -> reqwest::RequestBuilder {
    let builder = client.request(method.clone(), app.url(path));
    match body {
        Some(body) => builder.json(body),
        None => builder,
    }
}

async fn counts(pool: &PgPool) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM experiments), (SELECT count(*) FROM experiment_shares),
                (SELECT count(*) FROM jobs WHERE kind = 'scoring')",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn researcher_routes_admit_only_the_owner_and_those_it_is_shared_with(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let triplet_id: i64 =
        sqlx::query_scalar("SELECT min(id) FROM triplets WHERE experiment_id = $1")
            .bind(experiment_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    let app = TestApp::spawn(pool.clone()).await;
    let owner = app.signed_in_as("owner@example.org").await;
    let colleague = app.signed_in(&pool, "colleague@example.org").await;
    let stranger = app.signed_in(&pool, "stranger@example.org").await;
    let colleague_id = server::researchers::id_by_email(&pool, "colleague@example.org")
        .await
        .unwrap();
    let anonymous = browser_like_client();

    let operations = researcher_operations(&app).await;
    let scoped: Vec<(Method, String, Option<Value>)> = operations
        .iter()
        .filter(|(_, template)| template.contains("{experiment_id}"))
        .map(|(method, template)| {
            let path = template
                .replace("{experiment_id}", &experiment_id.to_string())
                .replace("{triplet_id}", &triplet_id.to_string())
                .replace("{pair_id}", "1")
                .replace("{image}", "ref.png")
                .replace("{researcher_id}", &colleague_id.to_string())
                // No metric is trained here: the training tests draw curves.
                .replace("{model_id}", "1");
            assert!(
                !path.contains('{'),
                "no value for a parameter of {template}: add one"
            );
            let body = match (method.as_str(), template.as_str()) {
                ("POST", "/api/experiments/{experiment_id}/shares") => {
                    Some(json!({ "email": "colleague@example.org" }))
                }
                ("POST", "/api/experiments/{experiment_id}/scoring") => {
                    Some(json!({ "metrics": ["l2-rgb"] }))
                }
                ("PATCH", "/api/experiments/{experiment_id}") => Some(json!({ "name": "renamed" })),
                ("POST", "/api/experiments/{experiment_id}/training") => {
                    Some(json!({ "name": "learned", "net": "alex", "mode": "lin" }))
                }
                ("POST" | "PUT" | "PATCH", _) => {
                    panic!("no request body for {method} {template}: add one")
                }
                _ => None,
            };
            (method.clone(), path, body)
        })
        .collect();
    let covered: BTreeSet<&str> = operations.iter().map(|(_, path)| path.as_str()).collect();
    for expected in [
        "/api/experiments",
        "/api/experiments/{experiment_id}/report",
        "/api/experiments/{experiment_id}/export.tar.gz",
        "/api/experiments/{experiment_id}/shares/{researcher_id}",
    ] {
        assert!(
            covered.contains(expected),
            "{expected} is not documented as a researcher route"
        );
    }

    // Nobody but the owner gets anything, and refused writes change nothing.
    let before = counts(&pool).await;
    for (method, path, body) in &scoped {
        let body = body.as_ref();
        let response = request(&anonymous, &app, method, path, body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "anonymous {method} {path}"
        );
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "sign in first", "{method} {path}");

        for (who, client) in [
            ("stranger", &stranger),
            ("colleague before sharing", &colleague),
        ] {
            let response = request(client, &app, method, path, body)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::NOT_FOUND,
                "{who}: {method} {path}"
            );
            let error: Value = response.json().await.unwrap();
            assert_eq!(
                error["error"],
                format!("you have no experiment {experiment_id}")
            );
        }
    }
    for (method, path) in operations.iter().filter(|(_, path)| !path.contains('{')) {
        let body = (method == Method::POST).then(|| json!({}));
        let response = request(&anonymous, &app, method, path, body.as_ref())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "anonymous {method} {path}"
        );
    }
    assert_eq!(counts(&pool).await, before);

    // Shared: the colleague reads and scores as the owner does, but cannot
    // change who else sees it.
    let response = owner
        .post(app.url(&format!("/api/experiments/{experiment_id}/shares")))
        .json(&json!({ "email": "colleague@example.org" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let listed: Value = colleague
        .get(app.url("/api/experiments"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["id"], experiment_id);
    assert_eq!(listed[0]["owner_email"], "owner@example.org");
    // A 2AFC experiment has no JND pairs: those routes answer 404 to anyone
    // admitted, and were checked for refusals above.
    let jnd_only = |path: &str| {
        path.contains("/pairs/") || path.ends_with("/pairs") || path.ends_with("/jnd_judgments.csv")
    };
    for (_, path, _) in scoped.iter().filter(|(method, path, _)| {
        method == Method::GET && !path.ends_with("curve.svg") && !jnd_only(path)
    }) {
        let response = colleague.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "colleague: GET {path}");
    }
    let detail: Value = colleague
        .get(app.url(&format!("/api/experiments/{experiment_id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["owned_by_you"], false);
    let scoring = colleague
        .post(app.url(&format!("/api/experiments/{experiment_id}/scoring")))
        .json(&json!({ "metrics": ["l2-rgb"] }))
        .send()
        .await
        .unwrap();
    assert!(scoring.status().is_success(), "{}", scoring.status());
    for (method, path, body) in scoped
        .iter()
        .filter(|(_, path, _)| path.contains("/shares"))
    {
        if method == Method::GET {
            continue;
        }
        let response = request(&colleague, &app, method, path, body.as_ref())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "colleague: {method} {path}"
        );
    }
    // The stranger still sees nothing, and sharing with the owner is refused.
    let response = stranger
        .get(app.url(&format!("/api/experiments/{experiment_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = owner
        .post(app.url(&format!("/api/experiments/{experiment_id}/shares")))
        .json(&json!({ "email": "owner@example.org" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Revoked: back to nothing.
    let response = owner
        .delete(app.url(&format!(
            "/api/experiments/{experiment_id}/shares/{colleague_id}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = colleague
        .get(app.url(&format!("/api/experiments/{experiment_id}/report")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_worker_token_reaches_only_its_own_assignment(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 2).await;
    let app = TestApp::spawn(pool.clone()).await;
    let (_, first) = app.request_assignment(experiment_id, "worker-a").await;
    let (_, second) = app.request_assignment(experiment_id, "worker-b").await;
    let first_token = first["token"].as_str().unwrap();
    let second_token = second["token"].as_str().unwrap();
    // 256 random bits, URL-safe: not guessable, not derived from anything.
    for token in [first_token, second_token] {
        assert!(token.len() >= 43, "{token}");
        assert!(token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)));
    }

    // The second worker's judgment, replayed through the first worker's
    // token, is refused and stays the second worker's.
    let second_judgment = judgment(0, "left");
    let (status, _) = app.submit_judgment(second_token, &second_judgment).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, error) = app.submit_judgment(first_token, &second_judgment).await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    let owners: Vec<String> = sqlx::query_scalar(
        "SELECT a.token FROM judgments j JOIN assignments a ON a.id = j.assignment_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(owners, [second_token]);

    // A token that is not an assignment's gets nothing, nor does a guess one
    // character off.
    let mut guessed = first_token.to_owned();
    let last = guessed.pop().unwrap();
    guessed.push(if last == 'A' { 'B' } else { 'A' });
    for token in ["nonsense", guessed.as_str()] {
        assert_eq!(
            app.get(&format!("/api/assignments/{token}")).await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.get(&format!("/api/assignments/{token}/trials/0/reference.png"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        let (status, _) = app.submit_judgment(token, &judgment(0, "left")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    // What a worker reads about their assignment says nothing of other
    // workers or of how the stimuli were made.
    let progress = app
        .get(&format!("/api/assignments/{first_token}"))
        .await
        .text()
        .await
        .unwrap();
    for secret in [
        second_token,
        "seed",
        "pipeline",
        "sentinel",
        "worker-b",
        "owner@example.org",
    ] {
        assert!(!progress.contains(secret), "{secret} in {progress}");
    }
    assert!(
        !progress.contains("\"judged_positions\":[0]"),
        "the other worker's judgment shows: {progress}"
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn other_sites_cannot_make_a_signed_in_browser_change_anything(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let app = TestApp::spawn(pool.clone()).await;
    let owner = app.signed_in_as("owner@example.org").await;
    server::researchers::add(&pool, "colleague@example.org", "a long password")
        .await
        .unwrap();
    let shares = app.url(&format!("/api/experiments/{experiment_id}/shares"));
    let body = json!({ "email": "colleague@example.org" });

    let forged = [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ];
    for (header, value) in forged {
        let response = owner
            .post(&shares)
            .header(header, value)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{header}: {value}"
        );
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains("another site"),
            "{error}"
        );

        let response = browser_like_client()
            .post(app.url("/api/session"))
            .header(header, value)
            .json(&json!({ "email": "owner@example.org", "password": "a long password" }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "sign-in with {header}: {value}"
        );
        assert!(response.headers().get("set-cookie").is_none());

        let response = owner
            .delete(app.url("/api/session"))
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "sign-out with {header}: {value}"
        );
    }
    let shared: i64 = sqlx::query_scalar("SELECT count(*) FROM experiment_shares")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(shared, 0);

    // Reading is harmless; the session survived the forged sign-outs; and
    // this site's own pages (same origin) go through.
    let response = owner
        .get(app.url("/api/session"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let this_site = format!("http://{}", app.address);
    let response = owner
        .post(&shares)
        .header("origin", this_site)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = owner
        .delete(app.url(&format!(
            "/api/experiments/{experiment_id}/shares/{}",
            server::researchers::id_by_email(&pool, "colleague@example.org").await.unwrap()
        )))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

async fn job_list(app: &TestApp, client: &Client) -> Value {
    let response = client.get(app.url("/api/jobs")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_job_list_shows_the_jobs_of_the_experiments_a_researcher_sees(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let experiment_id = create_experiment(&pool, &settings, 1).await;
    let metric = "l2-rgb".parse().unwrap();
    server::scoring::enqueue(&pool, experiment_id, &metric)
        .await
        .unwrap();
    // The test app takes generation jobs only: the scoring job stays queued.
    let app = TestApp::spawn(pool.clone()).await;
    let owner = app.signed_in_as("owner@example.org").await;
    let colleague = app.signed_in(&pool, "colleague@example.org").await;

    let jobs = job_list(&app, &owner).await;
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    // Open jobs first.
    assert_eq!(
        (
            &jobs[0]["kind"],
            &jobs[0]["status"],
            &jobs[0]["payload"]["metric"]
        ),
        (&json!("scoring"), &json!("queued"), &json!("l2-rgb"))
    );
    assert_eq!(jobs[0]["owner_process"], Value::Null);
    assert_eq!(
        (&jobs[1]["kind"], &jobs[1]["status"], &jobs[1]["error"]),
        (&json!("generation"), &json!("done"), &Value::Null)
    );
    assert_eq!(
        (&jobs[1]["progress_done"], &jobs[1]["progress_total"]),
        (&json!(4), &json!(4))
    );
    let process = jobs[1]["owner_process"].as_str().unwrap();
    assert!(
        process.ends_with(&format!(":{}", std::process::id())),
        "{process}"
    );

    assert_eq!(job_list(&app, &colleague).await, json!([]));
    server::sharing::share(&pool, experiment_id, "colleague@example.org")
        .await
        .unwrap();
    assert_eq!(
        job_list(&app, &colleague).await.as_array().unwrap().len(),
        2
    );
    let anonymous = browser_like_client()
        .get(app.url("/api/jobs"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
