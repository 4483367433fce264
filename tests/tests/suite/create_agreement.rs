//! `percept experiment create` and the dashboard's upload (`POST
//! /api/experiments`) take and refuse the same things: both read their
//! settings with `NewExperiment::from_settings` and check them, and every
//! image file, in `percept-core`. Chosen: the splits are train and val (as
//! the form offers, BAPPS' splits); a file that is not an image is refused
//! by name in both (the CLI no longer leaves it out unseen); the JND timing
//! flags are refused on a 2AFC experiment, which has no timed sequence.

use std::path::Path;
use std::process::{Command, Output};

use percept_tests::researchers::PASSWORD;
use percept_tests::server_process::database_url;
use percept_tests::two_afc::synthetic_image;
use percept_tests::{percept_binary, TestApp};
use reqwest::{multipart, StatusCode};
use serde_json::{json, Value};
use server::stimuli::encode_png;
use sqlx::PgPool;

const OWNER: &str = "owner@example.org";

/// `percept experiment create --kind 2afc` on `images` for OWNER, with `extra` flags.
fn cli_create(pool: &PgPool, images: &Path, extra: &[&str]) -> Output {
    Command::new(percept_binary())
        .args(["experiment", "create", "--kind", "2afc", "--owner", OWNER])
        .args([
            "--name",
            "agreement",
            "--patch-size",
            "32",
            "--patches-per-image",
            "2",
        ])
        .arg("--images")
        .arg(images)
        .args(extra)
        .env("DATABASE_URL", database_url(pool))
        .output()
        .unwrap()
}

/// The same through the upload: `settings` (the form's JSON) and the files
/// of `images` (all of them, as a researcher picking them would).
async fn upload(
    client: &reqwest::Client,
    app: &TestApp,
    images: &Path,
    settings: Value,
) -> (StatusCode, Value) {
    let mut form = multipart::Form::new().text("settings", settings.to_string());
    let mut paths: Vec<_> = std::fs::read_dir(images)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        form = form.part(
            "images",
            multipart::Part::bytes(std::fs::read(&path).unwrap()).file_name(name),
        );
    }
    let response = client
        .post(app.url("/api/experiments"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

fn settings(extra: Value) -> Value {
    let mut settings = json!({
        "name": "agreement",
        "patch_size": 32,
        "patches_per_image": 2,
    });
    settings
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    settings
}

/// A folder with two small photos.
fn photos() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, tint) in [("a.png", 0), ("b.png", 90)] {
        std::fs::write(
            dir.path().join(name),
            encode_png(&synthetic_image(48, 40, tint)).unwrap(),
        )
        .unwrap();
    }
    dir
}

async fn experiments(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM experiments")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_cli_and_the_upload_refuse_the_same_settings_and_files(pool: PgPool) {
    server::researchers::add(&pool, OWNER, PASSWORD)
        .await
        .unwrap();
    let app = TestApp::spawn(pool.clone()).await;
    let client = app.signed_in_as(OWNER).await;
    let clean = photos();
    let stray = photos();
    std::fs::write(stray.path().join("notes.txt"), "shot list").unwrap();

    for (what, images, flags, form, expected) in [
        (
            "a split other than train or val",
            clean.path(),
            vec!["--split", "test"],
            json!({ "split": "test" }),
            r#"the split is train or val (BAPPS' splits, the folders its loaders and `percept train` read), not "test""#,
        ),
        (
            "an unknown distortion type",
            clean.path(),
            vec!["--types", "gaussian_blur,sepia"],
            json!({ "sampler": { "min_steps": 1, "max_steps": 1, "types": ["gaussian_blur", "sepia"] } }),
            "unknown distortion type `sepia` (the types are ",
        ),
        (
            "more steps than types",
            clean.path(),
            vec!["--types", "jpeg", "--min-steps", "1", "--max-steps", "2"],
            json!({ "sampler": { "min_steps": 1, "max_steps": 2, "types": ["jpeg"] } }),
            "steps must satisfy 1 <= min_steps (1) <= max_steps (2) <= number of types (1)",
        ),
        (
            "no steps",
            clean.path(),
            vec!["--min-steps", "0"],
            json!({ "sampler": { "min_steps": 0, "max_steps": 3 } }),
            "steps must satisfy 1 <= min_steps (0)",
        ),
        (
            "a file that is not an image",
            stray.path(),
            vec![],
            json!({}),
            "reference image notes.txt cannot be decoded (PNG or JPEG",
        ),
    ] {
        let output = cli_create(&pool, images, &flags);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{what}: the CLI took it");
        assert!(stderr.contains(expected), "{what}: CLI said {stderr}");
        let (status, body) = upload(&client, &app, images, settings(form)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "{what}: the upload said {message}"
        );
        assert_eq!(experiments(&pool).await, 0, "{what}: something was stored");
    }
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_cli_takes_the_forms_sampler_and_skips_only_hidden_files(pool: PgPool) {
    server::researchers::add(&pool, OWNER, PASSWORD)
        .await
        .unwrap();
    let app = TestApp::spawn(pool.clone()).await;
    let client = app.signed_in_as(OWNER).await;
    let images = photos();
    // What the system leaves in a folder of photos is not looked at.
    std::fs::write(images.path().join(".DS_Store"), "Finder's").unwrap();
    std::fs::create_dir(images.path().join("rejected")).unwrap();

    let output = cli_create(
        &pool,
        images.path(),
        &[
            "--split",
            "val",
            "--types",
            "jpeg,gaussian_blur",
            "--types",
            "shift",
            "--min-steps",
            "2",
            "--max-steps",
            "3",
            "--seed",
            "5",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let cli_id: i64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();

    std::fs::remove_file(images.path().join(".DS_Store")).unwrap();
    std::fs::remove_dir(images.path().join("rejected")).unwrap();
    let (status, body) = upload(
        &client,
        &app,
        images.path(),
        settings(json!({
            "split": "val",
            "seed": 5,
            "sampler": { "min_steps": 2, "max_steps": 3, "types": ["jpeg", "gaussian_blur", "shift"] },
        })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let upload_id = body["id"].as_i64().unwrap();

    let stored = |id: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (Value, String, i64)>(
                "SELECT sampler, split, (SELECT count(*) FROM reference_images r WHERE r.experiment_id = e.id)
                 FROM experiments e WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let from_cli = stored(cli_id).await;
    assert_eq!(from_cli, stored(upload_id).await);
    assert_eq!(
        from_cli.0,
        json!({ "min_steps": 2, "max_steps": 3, "types": ["jpeg", "gaussian_blur", "shift"] })
    );
    assert_eq!((from_cli.1.as_str(), from_cli.2), ("val", 2));
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn jnd_timing_on_a_2afc_experiment_is_refused(pool: PgPool) {
    server::researchers::add(&pool, OWNER, PASSWORD)
        .await
        .unwrap();
    let images = photos();
    let output = cli_create(&pool, images.path(), &["--reference-ms", "500"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--reference-ms is for JND experiments (--kind jnd): a 2AFC trial shows the reference and both patches together"),
        "{stderr}"
    );
    let output = cli_create(
        &pool,
        images.path(),
        &["--gap-ms", "100", "--control-share", "0.2"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--gap-ms, --control-share are for JND experiments"),
        "{stderr}"
    );
    assert_eq!(experiments(&pool).await, 0);

    // A JND experiment takes them.
    let output = Command::new(percept_binary())
        .args(["experiment", "create", "--kind", "jnd", "--owner", OWNER])
        .args([
            "--name",
            "timed",
            "--patch-size",
            "32",
            "--patches-per-image",
            "2",
        ])
        .args(["--reference-ms", "500", "--gap-ms", "100"])
        .arg("--images")
        .arg(images.path())
        .env("DATABASE_URL", database_url(&pool))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let timing: (i32, i32, i32) =
        sqlx::query_as("SELECT reference_ms, gap_ms, distorted_ms FROM experiments")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(timing, (500, 100, 1000));
}
