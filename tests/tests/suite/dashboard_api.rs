//! What the dashboard's experiment page reads, over real HTTP: a JND
//! experiment's counts and pair browser, imported experiments (their
//! judgments shown as imported, their stimuli not handed out unless the
//! researcher asks), and the CSVs downloadable on their own, pseudonymised
//! unless identifiers are asked for.

use indicatif::ProgressBar;
use percept_tests::jnd::{jnd_judgment, timing};
use percept_tests::two_afc::{create_experiment, experiment_settings, judgment};
use percept_tests::TestApp;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use server::datasets::{self, ExportOptions, FolderSink, ImportOptions};
use server::experiments::{ExperimentKind, NewExperiment};
use server::jnd::JndSettings;
use sqlx::PgPool;

async fn get_json(client: &Client, app: &TestApp, path: &str) -> (StatusCode, Value) {
    let response = client.get(app.url(path)).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn get_text(client: &Client, app: &TestApp, path: &str) -> (StatusCode, String, String) {
    let response = client.get(app.url(path)).send().await.unwrap();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        response.status(),
        content_type,
        response.text().await.unwrap(),
    )
}

/// A Prolific worker takes an assignment and answers every trial "left".
async fn judge_all(app: &TestApp, experiment_id: i64, worker: &str, study: &str, session: &str) {
    let assignment: Value = app
        .post_json(
            &format!("/api/experiments/{experiment_id}/assignments"),
            &json!({ "platform": "prolific", "platform_worker_id": worker,
                     "study_id": study, "session_id": session }),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = assignment["token"].as_str().expect("an assignment");
    for position in 0..assignment["trials"].as_array().unwrap().len() {
        let (status, receipt) = app
            .submit_judgment(token, &judgment(position as i64, "left"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{receipt}");
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_jnd_experiments_page_counts_its_pairs_and_browses_them_with_timing(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let source_id = create_experiment(&pool, &settings, 2).await;
    let jnd_id = server::experiments::create(
        &pool,
        &NewExperiment {
            name: "from triplets".into(),
            kind: ExperimentKind::Jnd(JndSettings {
                control_share: 0.0,
                source_experiment_id: Some(source_id),
                ..JndSettings::default()
            }),
            ..settings.clone()
        },
        Vec::new(),
        None,
    )
    .await
    .unwrap();
    let app = TestApp::spawn(pool.clone()).await;
    // One valid and one invalid judgment (the gap 40 ms long).
    let (status, assignment) = app.request_assignment(jnd_id, "w1").await;
    assert_eq!(status, StatusCode::CREATED, "{assignment}");
    let token = assignment["token"].as_str().unwrap();
    for (position, gap_error) in [(0, 0.0), (1, 40.0)] {
        let response = app
            .post_json(
                &format!("/api/assignments/{token}/jnd-judgments"),
                &jnd_judgment(position, position == 0, timing(gap_error)),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let owner = app.signed_in_as("owner@example.org").await;

    let (status, detail) = get_json(&owner, &app, &format!("/api/experiments/{jnd_id}")).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    // Its pairs come from the source's 2 images: 8 triplets, 16 pairs.
    assert_eq!(detail["reference_images"], 2, "{detail}");
    assert_eq!(detail["jnd"]["pairs"], 16);

    let (status, page) = get_json(
        &owner,
        &app,
        &format!("/api/experiments/{jnd_id}/pairs?limit=200"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 16);
    let pairs = page["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 16);
    assert!(pairs.iter().all(|pair| pair["source_triplet_id"].is_i64()
        && pair["reference_file_name"]
            .as_str()
            .is_some_and(|name| name.ends_with(".png"))));
    let judged: Vec<&Value> = pairs
        .iter()
        .flat_map(|pair| pair["judgments"].as_array().unwrap())
        .collect();
    assert_eq!(judged.len(), 2);
    let valid = judged
        .iter()
        .find(|j| j["invalid_reason"].is_null())
        .unwrap();
    assert_eq!(valid["said_same"], true);
    assert!((valid["reference_exposure_ms"].as_f64().unwrap() - 1000.0).abs() < 1e-9);
    assert!((valid["gap_ms"].as_f64().unwrap() - 250.0).abs() < 1e-9);
    let invalid = judged
        .iter()
        .find(|j| !j["invalid_reason"].is_null())
        .unwrap();
    assert!((invalid["gap_ms"].as_f64().unwrap() - 290.0).abs() < 1e-9);
    assert!(
        invalid["invalid_reason"].as_str().unwrap().contains("gap"),
        "{invalid}"
    );
    let counted: i64 = pairs
        .iter()
        .map(|pair| pair["judgments_counted"].as_i64().unwrap())
        .sum();
    assert_eq!(counted, 1);

    // Both patches of a pair, as PNG.
    for url in [&pairs[0]["ref_url"], &pairs[0]["distorted_url"]] {
        let response = owner
            .get(app.url(url.as_str().unwrap()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "image/png");
        assert!(response.bytes().await.unwrap().starts_with(b"\x89PNG"));
    }
    let (status, refusal) = get_json(
        &owner,
        &app,
        &format!("/api/experiments/{jnd_id}/pairs/{}/p0.png", pairs[0]["id"]),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        refusal["error"],
        "a pair's images are ref.png and distorted.png"
    );

    // Each browser on the other kind's experiment: 404, pointing to the
    // right one (an empty page would read as no stimuli at all).
    for (id, wrong, kind, right) in [
        (jnd_id, "triplets", "a JND experiment", "pairs"),
        (source_id, "pairs", "a 2AFC experiment", "triplets"),
    ] {
        let (status, refusal) =
            get_json(&owner, &app, &format!("/api/experiments/{id}/{wrong}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{wrong}: {refusal}");
        let error = refusal["error"].as_str().unwrap();
        assert!(
            error.contains(kind) && error.contains(&format!("/api/experiments/{id}/{right}")),
            "{error}"
        );
    }

    // Another researcher: no such experiment.
    let stranger = app.signed_in(&pool, "stranger@example.org").await;
    let (status, _) = get_json(&stranger, &app, &format!("/api/experiments/{jnd_id}/pairs")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn imported_stimuli_show_their_judgments_and_are_served_only_when_asked(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let judged_id = create_experiment(&pool, &settings, 1).await;
    let app = TestApp::spawn(pool.clone()).await;
    judge_all(&app, judged_id, "first", "s", "x").await;
    judge_all(&app, judged_id, "second", "s", "y").await;
    let tree = tempfile::tempdir().unwrap();
    datasets::export(
        &pool,
        &ExportOptions {
            experiment_ids: vec![judged_id],
            include_flagged: true,
            with_identifiers: false,
        },
        &mut FolderSink::new(tree.path().to_owned()),
    )
    .await
    .unwrap();
    let imported = datasets::import_bapps(
        &pool,
        &ImportOptions {
            root: tree.path().to_owned(),
            owner_id: settings.owner_id,
            judgments_per_stimulus: Some(5),
            name: Some("imported".into()),
        },
        &ProgressBar::hidden(),
    )
    .await
    .unwrap();
    let id = imported[0].id;
    let owner = app.signed_in_as("owner@example.org").await;

    // Shown as imported: 2 judgments on each of the 4 triplets.
    let (_, detail) = get_json(&owner, &app, &format!("/api/experiments/{id}")).await;
    assert_eq!(detail["judgments_imported"], 8, "{detail}");
    assert_eq!(detail["imported_stimuli"], 4);
    assert_eq!(detail["judgments_collected"], 0);
    assert_eq!(detail["serve_imported_stimuli"], false);
    assert_eq!(detail["planning"]["judgments_still_needed"], 12);
    let (_, list) = get_json(&owner, &app, "/api/experiments").await;
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap();
    assert_eq!(listed["judgments_imported"], 8);

    // Not handed out to workers, and the refusal says why.
    let (status, refusal) = app.request_assignment(id, "newcomer").await;
    assert_eq!(status, StatusCode::CONFLICT, "{refusal}");
    assert!(
        refusal["error"]
            .as_str()
            .unwrap()
            .contains("imported stimuli are not handed out"),
        "{refusal}"
    );

    // Unless the researcher asks.
    let response = owner
        .patch(app.url(&format!("/api/experiments/{id}")))
        .json(&json!({ "serve_imported_stimuli": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["experiment"]["serve_imported_stimuli"], true);
    let (status, assignment) = app.request_assignment(id, "newcomer").await;
    assert_eq!(status, StatusCode::CREATED, "{assignment}");
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn csvs_download_from_the_page_pseudonymised_unless_identifiers_are_asked(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let id = create_experiment(&pool, &settings, 1).await;
    let app = TestApp::spawn(pool.clone()).await;
    judge_all(
        &app,
        id,
        "5f1e2d3c4b5a69788776cc01",
        "STUDY-77aa01",
        "SESSION-99bb01",
    )
    .await;
    judge_all(
        &app,
        id,
        "5f1e2d3c4b5a69788776cc02",
        "STUDY-77aa01",
        "SESSION-99bb02",
    )
    .await;
    let owner = app.signed_in_as("owner@example.org").await;
    let identifiers = [
        "5f1e2d3c4b5a69788776cc01",
        "5f1e2d3c4b5a69788776cc02",
        "STUDY-77aa01",
        "SESSION-99bb01",
    ];

    let (status, content_type, judgments) = get_text(
        &owner,
        &app,
        &format!("/api/experiments/{id}/judgments.csv"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{judgments}");
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    assert_eq!(judgments.lines().count(), 1 + 8);
    let (_, _, workers) =
        get_text(&owner, &app, &format!("/api/experiments/{id}/workers.csv")).await;
    assert_eq!(
        workers.lines().next().unwrap(),
        "experiment_id,worker_platform,worker_id,worker_flagged,assignments,\
         assignments_completed,judgments,sentinels_judged,sentinels_passed,\
         median_response_ms,first_seen"
    );
    let rows: Vec<Vec<&str>> = workers
        .lines()
        .skip(1)
        .map(|row| row.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2);
    // The pseudonyms are those of judgments.csv.
    for row in &rows {
        assert!(row[2].starts_with('w') && row[2].len() == 5, "{row:?}");
        assert!(
            judgments.contains(&format!(",{},", row[2])),
            "{} not in judgments.csv",
            row[2]
        );
        assert_eq!(row[6], "4");
    }
    for identifier in identifiers {
        assert!(
            !judgments.contains(identifier),
            "{identifier} leaks into judgments.csv"
        );
        assert!(
            !workers.contains(identifier),
            "{identifier} leaks into workers.csv"
        );
    }

    // With identifiers: the platform's ids are there.
    let (_, _, kept) = get_text(
        &owner,
        &app,
        &format!("/api/experiments/{id}/judgments.csv?with_identifiers=true"),
    )
    .await;
    for identifier in identifiers {
        assert!(kept.contains(identifier), "{identifier} missing");
    }
    let (_, _, kept_workers) = get_text(
        &owner,
        &app,
        &format!("/api/experiments/{id}/workers.csv?with_identifiers=true"),
    )
    .await;
    assert!(kept_workers.contains("5f1e2d3c4b5a69788776cc01"));

    // A 2AFC experiment has no JND CSV; a stranger has no experiment.
    let (status, refusal) = get_json(
        &owner,
        &app,
        &format!("/api/experiments/{id}/jnd_judgments.csv"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        refusal["error"].as_str().unwrap().contains("judgments.csv"),
        "{refusal}"
    );
    let stranger = app.signed_in(&pool, "stranger@example.org").await;
    let (status, _) = get_json(
        &stranger,
        &app,
        &format!("/api/experiments/{id}/judgments.csv"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The files of a `.tar.gz`, by path.
fn unpacked(archive: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        files.insert(path, bytes);
    }
    files
}

/// Records the paths an export writes.
#[derive(Default)]
struct Paths(Vec<String>);

impl datasets::DatasetSink for Paths {
    async fn add(&mut self, path: &str, _: &[u8]) -> anyhow::Result<()> {
        self.0.push(path.to_owned());
        Ok(())
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn csv_downloads_are_the_archives_tables_made_without_reading_a_patch(pool: PgPool) {
    let settings = experiment_settings(&pool).await;
    let two_afc_id = create_experiment(&pool, &settings, 1).await;
    let jnd_id = server::experiments::create(
        &pool,
        &NewExperiment {
            name: "from triplets".into(),
            kind: ExperimentKind::Jnd(JndSettings {
                control_share: 0.0,
                source_experiment_id: Some(two_afc_id),
                ..JndSettings::default()
            }),
            ..settings.clone()
        },
        Vec::new(),
        None,
    )
    .await
    .unwrap();
    let app = TestApp::spawn(pool.clone()).await;
    judge_all(&app, two_afc_id, "PID-aa01", "STUDY-aa", "SESSION-aa01").await;
    judge_all(&app, two_afc_id, "PID-aa02", "STUDY-aa", "SESSION-aa02").await;
    let assignment: Value = app
        .post_json(
            &format!("/api/experiments/{jnd_id}/assignments"),
            &json!({ "platform": "prolific", "platform_worker_id": "PID-bb01",
                     "study_id": "STUDY-bb", "session_id": "SESSION-bb01" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = assignment["token"].as_str().expect("an assignment");
    for position in 0..2 {
        let response = app
            .post_json(
                &format!("/api/assignments/{token}/jnd-judgments"),
                &jnd_judgment(position, position == 0, timing(0.0)),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let owner = app.signed_in_as("owner@example.org").await;

    for (id, tables) in [
        (two_afc_id, &["judgments.csv", "workers.csv"][..]),
        (
            jnd_id,
            &["judgments.csv", "workers.csv", "jnd_judgments.csv"][..],
        ),
    ] {
        for query in ["", "?with_identifiers=true"] {
            let archive = owner
                .get(app.url(&format!("/api/experiments/{id}/export.tar.gz{query}")))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let archived = unpacked(&archive);
            for table in tables {
                let (status, _, csv) = get_text(
                    &owner,
                    &app,
                    &format!("/api/experiments/{id}/{table}{query}"),
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{table}: {csv}");
                assert_eq!(
                    csv.as_bytes(),
                    archived[*table].as_slice(),
                    "experiment {id}: {table}{query} differs from the archive's"
                );
                // Pseudonymised by default; identifiers only when asked.
                for identifier in ["PID-aa01", "PID-bb01", "SESSION-aa01", "SESSION-bb01"] {
                    let judged_here = (id == two_afc_id) == identifier.contains("aa");
                    let in_table = match *table {
                        "workers.csv" => identifier.starts_with("PID"),
                        "judgments.csv" => id == two_afc_id,
                        _ => true,
                    };
                    let expected = !query.is_empty() && judged_here && in_table;
                    assert_eq!(
                        csv.contains(identifier),
                        expected,
                        "experiment {id}: {identifier} in {table}{query}"
                    );
                }
            }
        }
        // The tables alone: not one patch, share file or manifest.
        let mut written = Paths::default();
        datasets::export_tables(
            &pool,
            &ExportOptions {
                experiment_ids: vec![id],
                include_flagged: false,
                with_identifiers: false,
            },
            &mut written,
        )
        .await
        .unwrap();
        let mut expected: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
        expected.sort();
        written.0.sort();
        assert_eq!(written.0, expected);
    }
}
