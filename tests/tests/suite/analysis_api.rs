//! The researcher's analysis routes over real HTTP: scoring jobs, the
//! agreement report, and the streamed dataset download.

use std::io::Read;
use std::path::PathBuf;

use percept_tests::researchers::browser_like_client;
use percept_tests::two_afc::{create_experiment, experiment_settings, judgment};
use percept_tests::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::scoring;
use sqlx::PgPool;

/// An experiment owned by owner@example.org (the fixtures' researcher) with
/// one completed assignment.
async fn judged_experiment(pool: &PgPool, app: &TestApp) -> i64 {
    let settings = experiment_settings(pool).await;
    let experiment_id = create_experiment(pool, &settings, 1).await;
    let (_, assignment) = app.request_assignment(experiment_id, "w1").await;
    let token = assignment["token"].as_str().unwrap();
    for position in 0..4 {
        let side = if position % 2 == 0 { "left" } else { "right" };
        let (status, _) = app.submit_judgment(token, &judgment(position, side)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    experiment_id
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn analysis_routes_are_for_the_owner_only(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let experiment_id = judged_experiment(&pool, &app).await;
    let stranger = app.signed_in(&pool, "stranger@example.org").await;
    let anonymous = browser_like_client();
    for path in ["scoring", "report", "report.html", "export.tar.gz"] {
        let url = app.url(&format!("/api/experiments/{experiment_id}/{path}"));
        let response = anonymous.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        let response = stranger.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains(&experiment_id.to_string()),
            "{body}"
        );
    }
    let response = anonymous
        .post(app.url(&format!("/api/experiments/{experiment_id}/scoring")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_owner_scores_reads_the_report_and_downloads_the_dataset(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let experiment_id = judged_experiment(&pool, &app).await;
    let owner = app.signed_in_as("owner@example.org").await;
    let url = |path: &str| app.url(&format!("/api/experiments/{experiment_id}/{path}"));

    let response = owner
        .post(url("scoring"))
        .json(&json!({ "metrics": ["ssim"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("ssim-rgb"),
        "{body}"
    );

    let response = owner
        .post(url("scoring"))
        .json(&json!({ "metrics": ["l2-rgb", "ssim-lab"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let queued: Value = response.json().await.unwrap();
    assert_eq!(queued["job_ids"].as_array().unwrap().len(), 2);
    let mut worker = scoring::runner(pool.clone(), PathBuf::new());
    while worker.run_next(None).await.unwrap().is_some() {}
    let progress: Value = owner
        .get(url("scoring"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for metric in progress.as_array().unwrap() {
        assert_eq!(metric["state"], "done", "{metric}");
        assert_eq!(metric["scored"], metric["stimuli"], "{metric}");
    }

    let report: Value = owner
        .get(url("report"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let metrics: Vec<&str> = report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metric"].as_str().unwrap())
        .collect();
    assert_eq!(metrics.len(), 2, "{report}");
    assert!(metrics.contains(&"l2-rgb") && metrics.contains(&"ssim-lab"));
    assert_eq!(report["counts"]["judgments"], 4);
    assert_eq!(report["resample"], "triplets");

    // The report's options: the worker bootstrap, stated; a chosen pair.
    let report: Value = owner
        .get(url("report?resample=workers&versus=ssim-lab,l2-rgb"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["resample"], "workers", "{report}");
    assert_eq!(report["versus"]["a"], "ssim-lab", "{report}");
    assert_eq!(report["versus"]["b"], "l2-rgb", "{report}");
    let html = owner
        .get(url("report.html?resample=workers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("resamples of the workers"), "{html}");
    for (query, says) in [
        ("resample=people", "triplets"),
        ("versus=ssim-lab", "A,B"),
        ("versus=ssim-lab,dists", "dists"),
    ] {
        let response = owner
            .get(url(&format!("report?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains(says),
            "{query}: {body}"
        );
    }

    // The dashboard's metric choice: the whole catalogue, the defaults marked.
    let catalogue: Value = owner
        .get(app.url("/api/metrics"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = catalogue
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    for name in [
        "fsim",
        "fsimc",
        "ms-ssim",
        "gmsd",
        "vif",
        "dists",
        "lpips-alex",
    ] {
        assert!(names.contains(&name), "{name} missing: {catalogue}");
    }
    let ms_ssim = catalogue
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "ms-ssim")
        .unwrap();
    assert!(ms_ssim["description"].as_str().unwrap().contains("161×161"));
    assert_eq!(ms_ssim["default"], false);

    let html = owner.get(url("report.html")).send().await.unwrap();
    assert_eq!(html.headers()["content-type"], "text/html; charset=utf-8");
    let html = html.text().await.unwrap();
    assert!(
        html.contains("2AFC score") && html.contains("<svg"),
        "{html}"
    );

    let download = owner.get(url("export.tar.gz")).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()["content-type"], "application/gzip");
    let bytes = download.bytes().await.unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name == "manifest.json" {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            let manifest: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(manifest["items"].as_array().unwrap().len(), 4);
        }
        names.push(name);
    }
    for expected in ["ref", "p0", "p1"] {
        assert!(
            names.contains(&format!("2afc/train/uncategorised/{expected}/000003.png")),
            "{names:?}"
        );
    }
    assert!(names.contains(&"2afc/train/uncategorised/judge/000003.npy".to_owned()));
    assert!(names.contains(&"judgments.csv".to_owned()));
}
