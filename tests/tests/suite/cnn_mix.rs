//! CNN distortions in experiments: a tiny bank built as a `cnn-bank` job
//! (and resumed), a `mix` experiment created through the API whose stimuli
//! and export manifest name both families and the network behind every
//! CNN-distorted patch, and the refusals (no bank, unknown network,
//! altered weights).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use percept_tests::two_afc::{experiment_settings, reference_file, synthetic_image};
use percept_tests::TestApp;
use reqwest::{multipart, StatusCode};
use serde_json::{json, Value};
use server::cnn::{self, BankBuild};
use server::datasets::{self, ExportOptions, FolderSink};
use server::simulation::{self, ObserverMetric, SimulationSettings};
use server::stimuli::encode_png;
use sqlx::PgPool;

/// Builds (or completes) networks `0..count` of bank `seed`, trained a
/// few iterations each on the demo photos, as `percept distort cnn-bank
/// build` does. (Each test has its own seed: the process keeps loaded
/// networks by weights hash across tests.)
async fn build_bank(pool: &PgPool, seed: u64, count: u32) {
    let build = BankBuild {
        count,
        seed,
        images: None,
        iterations: Some((5, 12)),
    };
    build.validate().unwrap();
    let job_id = cnn::enqueue(pool, &build).await.unwrap();
    cnn::wait_for(pool, job_id).await.unwrap();
}

fn upload(settings: &Value) -> multipart::Form {
    (0..3u8).fold(
        multipart::Form::new().text("settings", settings.to_string()),
        |form, index| {
            form.part(
                "images",
                multipart::Part::bytes(encode_png(&synthetic_image(96, 80, index * 70)).unwrap())
                    .file_name(format!("{index}.png"))
                    .mime_str("image/png")
                    .unwrap(),
            )
        },
    )
}

/// The family of a stored distortion spec: `cnn` with its network and
/// hash, or `traditional`.
fn family(spec: &Value) -> (&'static str, Option<(String, String)>) {
    match spec.get("cnn_network") {
        Some(network) => (
            "cnn",
            Some((
                network.as_str().unwrap().to_owned(),
                spec["weights_sha256"].as_str().unwrap().to_owned(),
            )),
        ),
        None => {
            assert!(spec.is_array(), "a pipeline: {spec}");
            ("traditional", None)
        }
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_mix_experiment_names_both_families_and_every_network(pool: PgPool) {
    cnn::install();
    let app = TestApp::spawn(pool.clone()).await;
    let client = app.signed_in(&pool, "ada@example.org").await;
    let settings = json!({
        "name": "mixed",
        "split": "train",
        "category": "mix",
        "patch_size": 64,
        "patches_per_image": 8,
        "judgments_per_stimulus": 1,
        "trials_per_assignment": 8,
        "sentinel_rate": 0.0,
        "max_assignments_per_worker": 10,
        "seed": 3,
        "distortion_family": "mix",
    });

    // No bank yet: refused, saying how to build one.
    let response = client
        .post(app.url("/api/experiments"))
        .multipart(upload(&settings))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error = response.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("percept distort cnn-bank build"), "{error}");
    let response = client
        .post(app.url("/api/experiments"))
        .multipart(upload(&json!({ "name": "x", "distortion_family": "gan" })))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    let error = response.text().await.unwrap();
    assert!(
        error.contains("`gan`") && error.contains("`mix`"),
        "{error}"
    );

    // A bank of 3, then grown to 4: the first three are kept, not retrained.
    build_bank(&pool, 5, 3).await;
    let first: Vec<(String, String)> =
        sqlx::query_as("SELECT id, weights_sha256 FROM cnn_networks ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(first.len(), 3);
    build_bank(&pool, 5, 4).await;
    let bank: Vec<(String, String)> =
        sqlx::query_as("SELECT id, weights_sha256 FROM cnn_networks ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(bank.len(), 4);
    assert_eq!(bank[..3], first[..]);

    // The mix experiment, through the API as the dashboard sends it.
    let response = client
        .post(app.url("/api/experiments"))
        .multipart(upload(&settings))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let experiment_id = response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let experiment: Value = client
            .get(app.url(&format!("/api/experiments/{experiment_id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        match experiment["status"].as_str().unwrap() {
            "ready" => break,
            "generating" => {}
            other => panic!("generation ended {other}: {experiment}"),
        }
        assert!(Instant::now() < deadline, "generation never finished");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Both families in the specs; every CNN side names a network of the
    // bank with its hash, and its PNG differs from the reference.
    type Row = (Value, Value, Vec<u8>, Vec<u8>, Vec<u8>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT p0_pipeline, p1_pipeline, ref_png, p0_png, p1_png FROM triplets
         WHERE experiment_id = $1",
    )
    .bind(experiment_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 24);
    let mut families = BTreeSet::new();
    let mut networks = BTreeSet::new();
    for (p0, p1, reference, p0_png, p1_png) in &rows {
        for (spec, png) in [(p0, p0_png), (p1, p1_png)] {
            let (name, network) = family(spec);
            families.insert(name);
            if let Some(network) = network {
                assert!(bank.contains(&network), "{network:?} is not in the bank");
                assert_ne!(png, reference, "a CNN side equals its reference");
                networks.insert(network.0);
            }
        }
    }
    assert_eq!(families, BTreeSet::from(["cnn", "traditional"]));
    assert!(networks.len() >= 2, "only {networks:?} were drawn");

    // Workers judge it like any other; the export's manifest names the
    // network behind every CNN-distorted patch.
    let simulation = SimulationSettings {
        workers: 3,
        careless_share: 0.0,
        metric: ObserverMetric::DSSIM,
        noise: 0.5,
        assignments_per_worker: None,
        concurrency: 2,
        seed: 5,
    };
    simulation::run(
        &app.url(""),
        experiment_id,
        &simulation,
        &ProgressBar::hidden(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = ExportOptions {
        experiment_ids: vec![experiment_id],
        include_flagged: true,
        with_identifiers: false,
    };
    datasets::export(&pool, &options, &mut FolderSink::new(dir.path().to_owned()))
        .await
        .unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    let items = manifest["items"].as_array().unwrap();
    assert_eq!(items.len(), 24, "every triplet was judged and exported");
    let mut exported = BTreeSet::new();
    for item in items {
        for side in [&item["p0"], &item["p1"]] {
            let name = side["family"].as_str().unwrap();
            exported.insert(name.to_owned());
            if name == "cnn" {
                let network = (
                    side["network"].as_str().unwrap().to_owned(),
                    side["weights_sha256"].as_str().unwrap().to_owned(),
                );
                assert!(bank.contains(&network), "{side}");
            }
        }
    }
    assert_eq!(
        exported,
        BTreeSet::from(["cnn".into(), "traditional".into()])
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn unknown_networks_altered_weights_and_unfit_patches_are_refused(pool: PgPool) {
    cnn::install();
    let error = cnn::load(&pool, "s6-000", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("percept distort cnn-bank build"), "{error}");
    build_bank(&pool, 6, 2).await;

    let error = cnn::load(&pool, "s6-999", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("s6-000, s6-001"), "{error}");
    let network = cnn::load(&pool, "s6-000", None).await.unwrap();
    let multiple = network.record().spec.side_multiple();
    let error = network
        .apply_one(&synthetic_image(multiple * 8 + 1, 64, 0), 0)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!("multiples of {multiple}")),
        "{error}"
    );

    // A hash other than the one a stimulus recorded is refused.
    let error = cnn::load(&pool, "s6-000", Some(&"0".repeat(64)))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("refused"), "{error}");

    // Weights altered in the database: refused when loaded, when a build
    // would keep them, and when an experiment is generated with them.
    sqlx::query("UPDATE cnn_networks SET weights = weights || '\\x00'::bytea")
        .execute(&pool)
        .await
        .unwrap();
    let error = cnn::load(&pool, "s6-001", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("SHA-256") && error.contains("refused"),
        "{error}"
    );
    let build = BankBuild {
        count: 2,
        seed: 6,
        images: None,
        iterations: Some((5, 12)),
    };
    let job_id = cnn::enqueue(&pool, &build).await.unwrap();
    let error = cnn::wait_for(&pool, job_id).await.unwrap_err().to_string();
    assert!(error.contains("no longer match their hash"), "{error}");

    let mut settings = experiment_settings(&pool).await;
    settings.sampler.family = percept_api::experiments::DistortionFamily::Cnn;
    settings.patch_size = 60;
    let refs = vec![reference_file("a.png", 96, 80, 0)];
    let error = server::experiments::create(&pool, &settings, refs, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("multiples of 8"), "{error}");
    settings.patch_size = 64;
    let refs = vec![reference_file("a.png", 96, 80, 0)];
    let error = format!(
        "{:#}",
        anyhow::Error::from(
            server::experiments::create(&pool, &settings, refs, None)
                .await
                .unwrap_err()
        )
    );
    assert!(error.contains("SHA-256"), "{error}");
}

/// The researcher's CLI path, whole processes on the test's database: a bank
/// built by `percept distort cnn-bank build`, listed by `cnn-bank list`, and
/// a `mix` experiment made by `percept experiment create
/// --distortion-family mix` whose stimuli hold both families.
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_cli_builds_a_bank_and_creates_a_mix_experiment(pool: PgPool) {
    use percept_tests::percept_binary;
    use std::process::{Command, Output};

    let url = percept_tests::server_process::database_url(&pool);
    let percept = |args: &[&str]| -> String {
        let output: Output = Command::new(percept_binary())
            .args(args)
            .env("DATABASE_URL", &url)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "percept {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };

    percept(&[
        "distort",
        "cnn-bank",
        "build",
        "--count",
        "2",
        "--seed",
        "11",
        "--iterations",
        "5-12",
    ]);
    let listed: Value = serde_json::from_str(&percept(&["distort", "cnn-bank", "list", "--json"]))
        .expect("cnn-bank list --json prints JSON");
    let listed = listed.as_array().expect("a list of networks");
    assert_eq!(listed.len(), 2, "{listed:?}");

    server::researchers::add(&pool, "cli@example.org", "a long enough password")
        .await
        .unwrap();
    let images = tempfile::tempdir().unwrap();
    for (index, tint) in [0u8, 90, 180].into_iter().enumerate() {
        let file = reference_file(&format!("ref{index}.png"), 96, 96, tint);
        std::fs::write(images.path().join(&file.file_name), &file.bytes).unwrap();
    }
    percept(&[
        "experiment",
        "create",
        "--kind",
        "2afc",
        "--images",
        images.path().to_str().unwrap(),
        "--owner",
        "cli@example.org",
        "--name",
        "mixed by the CLI",
        "--patches-per-image",
        "8",
        "--sentinel-rate",
        "0",
        "--distortion-family",
        "mix",
    ]);
    let specs: Vec<(Value, Value)> =
        sqlx::query_as("SELECT p0_pipeline, p1_pipeline FROM triplets")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(specs.len(), 24);
    let families: BTreeSet<&str> = specs
        .iter()
        .flat_map(|(p0, p1)| [family(p0).0, family(p1).0])
        .collect();
    assert_eq!(families, BTreeSet::from(["cnn", "traditional"]));
}
