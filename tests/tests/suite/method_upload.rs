//! A method comparison uploaded to `POST /api/experiments` as the dashboard
//! sends it: a `.zip` or `.tar.gz` of `references/` and `methods/<method>/`
//! (or a folder's files by relative path), with its design in
//! `method_settings`. Malformed trees are refused naming the file, as the
//! CLI refuses them, and nothing is stored.

use std::io::Write;
use std::time::{Duration, Instant};

use percept_tests::two_afc::synthetic_image;
use percept_tests::TestApp;
use reqwest::{multipart, Client, StatusCode};
use serde_json::{json, Value};
use server::stimuli::encode_png;
use sqlx::PgPool;

const METHODS: [&str; 3] = ["bicubic", "edsr", "ours"];

/// The tree's files by relative path: two references, three methods.
fn tree() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for (index, name) in ["a", "b"].iter().enumerate() {
        let tint = 50 * index as u8;
        files.push((
            format!("references/{name}.png"),
            encode_png(&synthetic_image(96, 80, tint)).unwrap(),
        ));
        for (m, method) in METHODS.iter().enumerate() {
            files.push((
                format!("methods/{method}/{name}.png"),
                encode_png(&synthetic_image(96, 80, tint + 7 * (m as u8 + 1))).unwrap(),
            ));
        }
    }
    files
}

pub(super) fn tar_gz(files: &[(String, Vec<u8>)], wrapper: &str) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("{wrapper}{path}"), &bytes[..])
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

pub(super) fn zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, bytes) in files {
        writer
            .start_file(path.as_str(), zip::write::FileOptions::default())
            .unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn settings() -> Value {
    json!({
        "name": "SR uploaded",
        "split": "val",
        "category": "superres",
        "patch_size": 32,
        "patches_per_image": 2,
        "judgments_per_stimulus": 3,
        "trials_per_assignment": 4,
        "sentinel_rate": 0.0,
        "max_assignments_per_worker": 3,
        "seed": 4,
    })
}

fn upload(archive_name: &str, archive: Vec<u8>, method_settings: Option<Value>) -> multipart::Form {
    let form = multipart::Form::new()
        .text("settings", settings().to_string())
        .part(
            "methods_archive",
            multipart::Part::bytes(archive).file_name(archive_name.to_owned()),
        );
    match method_settings {
        Some(value) => form.text("method_settings", value.to_string()),
        None => form,
    }
}

async fn post(client: &Client, app: &TestApp, form: multipart::Form) -> (StatusCode, Value) {
    let response = client
        .post(app.url("/api/experiments"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn generated(client: &Client, app: &TestApp, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let experiment: Value = client
            .get(app.url(&format!("/api/experiments/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if experiment["status"] != "generating" {
            return experiment;
        }
        assert!(Instant::now() < deadline, "generation never finished");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn method_sides(pool: &PgPool, id: i64) -> Vec<(String, String)> {
    sqlx::query_as("SELECT p0_method, p1_method FROM triplets WHERE experiment_id = $1")
        .bind(id)
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn archives_and_folder_uploads_become_method_comparisons(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let client = app.signed_in(&pool, "owner@example.org").await;

    // A .tar.gz wrapped in a top folder, with a design.
    let design =
        json!({"pairs_per_patch": 2, "anchors": {"jpeg-q30": [{"type": "jpeg", "quality": 30}]}});
    let (status, created) = post(
        &client,
        &app,
        upload(
            "sr-study.tar.gz",
            tar_gz(&tree(), "sr-study/"),
            Some(design),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let experiment = generated(&client, &app, id).await;
    assert_eq!(experiment["status"], "ready", "{experiment}");
    let methods: Vec<String> =
        sqlx::query_scalar("SELECT unnest(methods) FROM experiments WHERE id = $1")
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(methods, ["bicubic", "edsr", "jpeg-q30", "ours"]);
    // 2 references × 2 patches × 2 pairs.
    let mut sides = method_sides(&pool, id).await;
    assert_eq!(sides.len(), 8);
    // The dashboard's triplet browser names each side's method.
    let page: Value = client
        .get(app.url(&format!("/api/experiments/{id}/triplets?limit=20")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut shown: Vec<(String, String)> = page["triplets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let side = |key: &str| t[key].as_str().unwrap_or_else(|| panic!("{t}")).to_owned();
            (side("p0_method"), side("p1_method"))
        })
        .collect();
    shown.sort();
    sides.sort();
    assert_eq!(shown, sides);

    // A .zip, all pairs.
    let (status, created) = post(&client, &app, upload("sr.zip", zip(&tree()), None)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let id = created["id"].as_i64().unwrap();
    generated(&client, &app, id).await;
    assert_eq!(method_sides(&pool, id).await.len(), 2 * 2 * 3);

    // A folder upload: one part per file, named by its relative path. What
    // a Mac adds on its own (.DS_Store, ._ files, __MACOSX/) is left out.
    let mut files = tree();
    for system_file in [
        "references/.DS_Store",
        "methods/ours/._a.png",
        "__MACOSX/methods/ours/._a.png",
    ] {
        files.push((system_file.to_owned(), b"not an image".to_vec()));
    }
    let form = files.into_iter().fold(
        multipart::Form::new().text("settings", settings().to_string()),
        |form, (path, bytes)| {
            form.part(
                "method_files",
                multipart::Part::bytes(bytes).file_name(path),
            )
        },
    );
    let (status, created) = post(&client, &app, form).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let id = created["id"].as_i64().unwrap();
    generated(&client, &app, id).await;
    let sides = method_sides(&pool, id).await;
    assert_eq!(sides.len(), 12);
    assert!(sides
        .iter()
        .all(|(a, b)| a != b && METHODS.contains(&a.as_str())));
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn malformed_uploads_are_refused_by_file_name_and_store_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let client = app.signed_in(&pool, "owner@example.org").await;
    let without = |path: &str| -> Vec<(String, Vec<u8>)> {
        tree().into_iter().filter(|(p, _)| p != path).collect()
    };
    let with = |path: &str, bytes: Vec<u8>| -> Vec<(String, Vec<u8>)> {
        let mut files = tree();
        files.push((path.to_owned(), bytes));
        files
    };
    let cases: Vec<(&str, Vec<(String, Vec<u8>)>, &str)> = vec![
        (
            "missing output",
            without("methods/edsr/b.png"),
            "methods/edsr/ has no output for references/b.png",
        ),
        (
            "extra file",
            with("methods/ours/notes.txt", b"hello".to_vec()),
            "methods/ours/notes.txt has no reference of the same name",
        ),
        (
            "unreadable image",
            tree()
                .into_iter()
                .map(|(path, bytes)| {
                    if path == "methods/ours/a.png" {
                        (path, b"not a png".to_vec())
                    } else {
                        (path, bytes)
                    }
                })
                .collect(),
            "methods/ours/a.png cannot be decoded",
        ),
        (
            "wrong size",
            tree()
                .into_iter()
                .map(|(path, bytes)| {
                    if path == "methods/bicubic/a.png" {
                        (path, encode_png(&synthetic_image(48, 40, 3)).unwrap())
                    } else {
                        (path, bytes)
                    }
                })
                .collect(),
            "methods/bicubic/a.png is 48×40 but references/a.png is 96×80",
        ),
        (
            "stray entry",
            with("README.txt", b"notes".to_vec()),
            "README.txt does not belong in a method comparison",
        ),
        (
            "file directly under methods/",
            with("methods/README.txt", b"notes".to_vec()),
            "methods/README.txt is not a folder",
        ),
    ];
    for (what, files, expected) in cases {
        for (name, archive) in [("t.tar.gz", tar_gz(&files, "")), ("t.zip", zip(&files))] {
            let (status, error) = post(&client, &app, upload(name, archive, None)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{what} in {name}: {error}");
            let message = error["error"].as_str().unwrap();
            assert!(message.contains(expected), "{what} in {name}: {message}");
        }
    }
    for (form, expected) in [
        (
            upload("t.rar", b"Rar!\x1a\x07".to_vec(), None),
            "t.rar: neither a zip nor a gzip-compressed tar archive",
        ),
        (
            upload(
                "t.zip",
                zip(&tree()),
                Some(json!({"method_scales": {"nosuch": 4}})),
            ),
            "methods/ has no folder nosuch/",
        ),
        (
            upload("t.zip", zip(&tree()), Some(json!({"pairs_per_patch": 9}))),
            "pairs per patch must be between 1 and 3",
        ),
    ] {
        let (status, error) = post(&client, &app, form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert!(
            error["error"].as_str().unwrap().contains(expected),
            "{error}"
        );
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing stored");
}
