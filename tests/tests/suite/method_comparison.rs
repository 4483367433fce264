//! Method comparisons: an experiment from `references/` and
//! `methods/<method>/` (through `percept experiment create --methods`),
//! patches cut at the same place in every image, the pairs of methods per
//! patch, and malformed trees refused by file name with nothing stored.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

use distortions::image::{imageops, RgbImage};
use percept_tests::percept_binary;
use percept_tests::server_process::database_url;
use percept_tests::two_afc::{experiment_settings, synthetic_image};
use server::experiments::{self, MethodComparison, MethodOutputFile, ReferenceFile};
use server::stimuli::{encode_png, image_decoding::decode_rgb8};
use sqlx::PgPool;

#[derive(sqlx::FromRow)]
struct StoredTriplet {
    crop_x: i32,
    crop_y: i32,
    ref_png: Vec<u8>,
    p0_png: Vec<u8>,
    p1_png: Vec<u8>,
    p0_method: String,
    p1_method: String,
    file_name: String,
}

#[derive(sqlx::FromRow)]
struct SentinelRow {
    p0_method: Option<String>,
    p1_method: Option<String>,
    sentinel_answer: Option<i16>,
    ref_png: Vec<u8>,
    p0_png: Vec<u8>,
    p1_png: Vec<u8>,
}

const METHODS: [&str; 3] = ["bicubic", "edsr", "lanczos"];

/// Reference `index` and method `m`'s output for it: distinct images of one size.
fn image(index: u8, method: Option<usize>) -> RgbImage {
    let tint = index * 70 + method.map_or(0, |m| 13 * (m as u8 + 1));
    synthetic_image(120, 90, tint)
}

/// `dir/references/{a,b}.png` and `dir/methods/<m>/{a,b}.png`.
fn write_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("references")).unwrap();
    for (index, name) in ["a", "b"].iter().enumerate() {
        image(index as u8, None)
            .save(dir.join(format!("references/{name}.png")))
            .unwrap();
        for (m, method) in METHODS.iter().enumerate() {
            let folder = dir.join("methods").join(method);
            std::fs::create_dir_all(&folder).unwrap();
            image(index as u8, Some(m))
                .save(folder.join(format!("{name}.png")))
                .unwrap();
        }
    }
}

fn percept(pool: &PgPool, args: &[&str]) -> std::process::Output {
    Command::new(percept_binary())
        .args(args)
        .env("DATABASE_URL", database_url(pool))
        .output()
        .expect("run percept")
}

fn crop(image: &RgbImage, x: i32, y: i32, size: u32) -> RgbImage {
    imageops::crop_imm(image, x as u32, y as u32, size, size).to_image()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_folder_of_method_outputs_becomes_triplets_cut_at_one_place(pool: PgPool) {
    experiment_settings(&pool).await; // the owner
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path());
    let output = percept(
        &pool,
        &[
            "experiment",
            "create",
            "--kind",
            "2afc",
            "--methods",
            dir.path().to_str().unwrap(),
            "--owner",
            "owner@example.org",
            "--name",
            "sr",
            "--patches-per-image",
            "4",
            "--sentinel-rate",
            "0",
            "--seed",
            "3",
            "--category",
            "superres",
            "--split",
            "val",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id: i64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();

    let triplets: Vec<StoredTriplet> = sqlx::query_as(
        "SELECT t.crop_x, t.crop_y, t.ref_png, t.p0_png, t.p1_png, t.p0_method, t.p1_method,
                r.file_name
         FROM triplets t JOIN reference_images r ON r.id = t.reference_image_id
         WHERE t.experiment_id = $1 ORDER BY t.id",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    // 2 references × 4 patches × 3 pairs of methods.
    assert_eq!(triplets.len(), 24);
    let mut pairs: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let mut crops: HashMap<(i32, i32, String), usize> = HashMap::new();
    for t in &triplets {
        let index = if t.file_name == "a.png" { 0 } else { 1 };
        let method = |name: &str| METHODS.iter().position(|m| *m == name).unwrap();
        // Every patch equals its source image at the recorded crop, pixel for pixel.
        assert_eq!(
            decode_rgb8(&t.ref_png).unwrap(),
            crop(&image(index, None), t.crop_x, t.crop_y, 64)
        );
        assert_eq!(
            decode_rgb8(&t.p0_png).unwrap(),
            crop(
                &image(index, Some(method(&t.p0_method))),
                t.crop_x,
                t.crop_y,
                64
            )
        );
        assert_eq!(
            decode_rgb8(&t.p1_png).unwrap(),
            crop(
                &image(index, Some(method(&t.p1_method))),
                t.crop_x,
                t.crop_y,
                64
            )
        );
        assert_ne!(t.p0_method, t.p1_method);
        let (a, b) = if t.p0_method < t.p1_method {
            (t.p0_method.clone(), t.p1_method.clone())
        } else {
            (t.p1_method.clone(), t.p0_method.clone())
        };
        *pairs.entry((t.file_name.clone(), a, b)).or_default() += 1;
        *crops
            .entry((t.crop_x, t.crop_y, t.file_name.clone()))
            .or_default() += 1;
    }
    // All pairs on every patch: each pair 4 times per image, each crop 3 times.
    assert_eq!(pairs.len(), 6);
    assert!(pairs.values().all(|&n| n == 4), "{pairs:?}");
    assert!(crops.values().all(|&n| n % 3 == 0), "{crops:?}");
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_set_number_of_pairs_per_patch_is_balanced(pool: PgPool) {
    let mut settings = experiment_settings(&pool).await;
    settings.patches_per_image = 6;
    settings.sentinel_rate = 0.2;
    let references = vec![ReferenceFile {
        file_name: "a.png".into(),
        bytes: encode_png(&image(0, None)).unwrap(),
    }];
    let outputs = METHODS
        .iter()
        .enumerate()
        .map(|(m, method)| MethodOutputFile {
            method: method.to_string(),
            file_name: "a.png".into(),
            bytes: encode_png(&image(0, Some(m))).unwrap(),
        })
        .collect();
    let comparison = MethodComparison {
        pairs_per_patch: Some(1),
        min_patch_variance: Some(100.0),
        outputs,
        ..Default::default()
    };
    let id = experiments::create_with_methods(&pool, &settings, references, comparison, None)
        .await
        .unwrap();
    let rows: Vec<SentinelRow> = sqlx::query_as(
        "SELECT p0_method, p1_method, sentinel_answer, ref_png, p0_png, p1_png
         FROM triplets WHERE experiment_id = $1",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 6, "6 patches × 1 pair");
    let mut seen: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for row in &rows {
        match row.sentinel_answer {
            // A sentinel's reference side is the reference patch, with no method.
            Some(0) => assert!(row.p0_method.is_none() && row.p0_png == row.ref_png),
            Some(1) => assert!(row.p1_method.is_none() && row.p1_png == row.ref_png),
            _ => {}
        }
        let mut pair: Vec<String> = [row.p0_method.clone(), row.p1_method.clone()]
            .into_iter()
            .flatten()
            .collect();
        pair.sort();
        if pair.len() == 2 {
            *seen.entry(pair).or_default() += 1;
        }
    }
    // Without sentinels each of the 3 pairs would come up exactly twice.
    assert!(seen.values().all(|&n| n <= 2), "{seen:?}");
}

/// The refusal of `store_with_methods` for a tree, and that nothing was stored.
async fn refusal(
    pool: &PgPool,
    references: Vec<ReferenceFile>,
    outputs: Vec<MethodOutputFile>,
) -> String {
    let settings = experiment_settings(pool).await;
    let comparison = MethodComparison {
        pairs_per_patch: None,
        min_patch_variance: None,
        outputs,
        ..Default::default()
    };
    let error = experiments::store_with_methods(pool, &settings, references, Some(comparison))
        .await
        .err()
        .expect("refused")
        .to_string();
    let stored = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM experiments")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing stored after: {error}");
    error
}

fn references() -> Vec<ReferenceFile> {
    ["a.png", "b.png"]
        .iter()
        .enumerate()
        .map(|(index, name)| ReferenceFile {
            file_name: name.to_string(),
            bytes: encode_png(&image(index as u8, None)).unwrap(),
        })
        .collect()
}

fn outputs(skip: Option<(&str, &str)>) -> Vec<MethodOutputFile> {
    let mut outputs = Vec::new();
    for (m, method) in METHODS.iter().enumerate() {
        for (index, name) in ["a.png", "b.png"].iter().enumerate() {
            if skip == Some((method, name)) {
                continue;
            }
            outputs.push(MethodOutputFile {
                method: method.to_string(),
                file_name: name.to_string(),
                bytes: encode_png(&image(index as u8, Some(m))).unwrap(),
            });
        }
    }
    outputs
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_missing_output_is_refused_by_name(pool: PgPool) {
    let error = refusal(&pool, references(), outputs(Some(("edsr", "b.png")))).await;
    assert!(
        error.contains("methods/edsr/") && error.contains("references/b.png"),
        "{error}"
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn an_extra_file_is_refused_by_name(pool: PgPool) {
    let mut outputs = outputs(None);
    outputs.push(MethodOutputFile {
        method: "edsr".into(),
        file_name: "notes.txt".into(),
        bytes: b"hello".to_vec(),
    });
    let error = refusal(&pool, references(), outputs).await;
    assert!(error.contains("methods/edsr/notes.txt"), "{error}");
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn an_unreadable_output_is_refused_by_name(pool: PgPool) {
    let mut outputs = outputs(Some(("lanczos", "a.png")));
    outputs.push(MethodOutputFile {
        method: "lanczos".into(),
        file_name: "a.png".into(),
        bytes: b"not a png".to_vec(),
    });
    let error = refusal(&pool, references(), outputs).await;
    assert!(
        error.contains("methods/lanczos/a.png cannot be decoded"),
        "{error}"
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn an_output_of_another_size_is_refused_by_name(pool: PgPool) {
    let mut outputs = outputs(Some(("bicubic", "a.png")));
    outputs.push(MethodOutputFile {
        method: "bicubic".into(),
        file_name: "a.png".into(),
        bytes: encode_png(&synthetic_image(60, 45, 0)).unwrap(),
    });
    let error = refusal(&pool, references(), outputs).await;
    assert!(
        error.contains("methods/bicubic/a.png is 60×45 but references/a.png is 120×90"),
        "{error}"
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn one_method_or_too_many_pairs_are_refused(pool: PgPool) {
    let only_one: Vec<MethodOutputFile> = outputs(None)
        .into_iter()
        .filter(|o| o.method == "edsr")
        .collect();
    let error = refusal(&pool, references(), only_one).await;
    assert!(error.contains("at least two methods"), "{error}");
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_stray_entry_in_the_folder_is_refused_by_the_cli(pool: PgPool) {
    experiment_settings(&pool).await;
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path());
    std::fs::write(dir.path().join("methods/README.txt"), "notes").unwrap();
    let output = percept(
        &pool,
        &[
            "experiment",
            "create",
            "--kind",
            "2afc",
            "--methods",
            dir.path().to_str().unwrap(),
            "--owner",
            "owner@example.org",
            "--name",
            "sr",
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("methods/README.txt is not a folder"),
        "{stderr}"
    );
    let stored = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM experiments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

/// `dir/references/a.png` (128×96) with `methods/sharp/a.png` at full size
/// and `methods/lr-x4/a.png` four times smaller.
fn write_scaled_tree(dir: &Path) -> (RgbImage, RgbImage, RgbImage) {
    let reference = synthetic_image(128, 96, 30);
    let sharp = synthetic_image(128, 96, 45);
    let small = imageops::resize(&reference, 32, 24, imageops::FilterType::Triangle);
    for (folder, image) in [
        ("references", &reference),
        ("methods/sharp", &sharp),
        ("methods/lr-x4", &small),
    ] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
        image.save(dir.join(folder).join("a.png")).unwrap();
    }
    (reference, sharp, small)
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_declared_scale_enlarges_smaller_outputs_and_an_anchor_is_one_more_method(pool: PgPool) {
    experiment_settings(&pool).await;
    let dir = tempfile::tempdir().unwrap();
    let (reference, sharp, small) = write_scaled_tree(dir.path());
    let tree = dir.path().to_str().unwrap();
    let create = |extra: &[&str]| {
        let mut args = vec![
            "experiment",
            "create",
            "--kind",
            "2afc",
            "--methods",
            tree,
            "--owner",
            "owner@example.org",
            "--name",
            "sr",
            "--patches-per-image",
            "3",
            "--sentinel-rate",
            "0",
            "--seed",
            "9",
        ];
        args.extend_from_slice(extra);
        percept(&pool, &args)
    };
    // Undeclared: refused naming the file and the flag.
    let output = create(&[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success()
            && stderr.contains("methods/lr-x4/a.png is 32×24 but references/a.png is 128×96")
            && stderr.contains("--method-scale lr-x4=FACTOR"),
        "{stderr}"
    );
    // Declared wrongly: refused with the size expected.
    let output = create(&["--method-scale", "lr-x4=2"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("must be 64×48"),
        "{stderr}"
    );
    for (flags, expected) in [
        (
            ["--method-scale", "nosuch=4"],
            "methods/ has no folder nosuch/",
        ),
        (["--method-scale", "lr-x4=1"], "from 2 to 16"),
        (
            ["--anchor", "jpeg-q30=[{\"type\":\"jpg\"}]"],
            "anchor jpeg-q30",
        ),
        (
            ["--anchor", "sharp=[{\"type\":\"jpeg\",\"quality\":30}]"],
            "folder methods/sharp/",
        ),
    ] {
        let output = create(&flags);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(expected),
            "{flags:?}: {stderr}"
        );
    }
    let stored = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM experiments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing stored by the refusals");

    let spec = r#"[{"type":"jpeg","quality":30}]"#;
    let anchor = format!("jpeg-q30={spec}");
    let output = create(&["--method-scale", "lr-x4=4", "--anchor", &anchor]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id: i64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();
    let methods: Vec<String> =
        sqlx::query_scalar("SELECT unnest(methods) FROM experiments WHERE id = $1")
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(methods, ["jpeg-q30", "lr-x4", "sharp"]);
    let enlarged = imageops::resize(&small, 128, 96, imageops::FilterType::Nearest);
    let jpeg = distortions::Pipeline::from_json(spec)
        .unwrap()
        .apply(&reference, 0)
        .unwrap();
    let expected = |method: &str| match method {
        "sharp" => &sharp,
        "lr-x4" => &enlarged,
        "jpeg-q30" => &jpeg,
        other => panic!("{other}"),
    };
    let triplets: Vec<StoredTriplet> = sqlx::query_as(
        "SELECT t.crop_x, t.crop_y, t.ref_png, t.p0_png, t.p1_png, t.p0_method, t.p1_method,
                r.file_name
         FROM triplets t JOIN reference_images r ON r.id = t.reference_image_id
         WHERE t.experiment_id = $1 ORDER BY t.id",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(triplets.len(), 3 * 3);
    for t in &triplets {
        for (png, method) in [(&t.p0_png, &t.p0_method), (&t.p1_png, &t.p1_method)] {
            assert_eq!(
                decode_rgb8(png).unwrap(),
                crop(expected(method), t.crop_x, t.crop_y, 64),
                "{method}"
            );
        }
    }
    // The experiment records the anchor's pipeline and seed; its outputs
    // have no file.
    let anchors = || async {
        sqlx::query_scalar::<_, Option<serde_json::Value>>(
            "SELECT anchors FROM experiments WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let pipeline = distortions::Pipeline::from_json(spec).unwrap();
    let expected_anchors = serde_json::json!({ "jpeg-q30": { "pipeline": pipeline, "seed": 0 } });
    assert_eq!(anchors().await, Some(expected_anchors.clone()));
    let file_names: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT o.method, o.file_name FROM method_outputs o
         JOIN reference_images r ON r.id = o.reference_image_id
         WHERE r.experiment_id = $1 ORDER BY o.method, r.id",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        file_names,
        [
            ("jpeg-q30".into(), None),
            ("lr-x4".into(), Some("a.png".into())),
            ("sharp".into(), Some("a.png".into())),
        ]
    );

    // An experiment stored before the column (the spec in the output's
    // file_name) gets it from the migration.
    sqlx::raw_sql("ALTER TABLE experiments DROP COLUMN anchors")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE method_outputs SET file_name = $1 WHERE method = 'jpeg-q30'")
        .bind(format!("anchor: {} seed 0", pipeline.to_json()))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::raw_sql(include_str!("../../../migrations/0018_anchor_specs.sql"))
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(anchors().await, Some(expected_anchors.clone()));
    let old_names: i64 =
        sqlx::query_scalar("SELECT count(*) FROM method_outputs WHERE file_name LIKE 'anchor:%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(old_names, 0);

    // The export's manifest names the anchor, and an import keeps it.
    sqlx::query(
        "INSERT INTO imported_judgments (triplet_id, judgments, p1_share)
         SELECT id, 1, 0.5 FROM triplets WHERE experiment_id = $1",
    )
    .bind(id)
    .execute(&pool)
    .await
    .unwrap();
    let export = tempfile::tempdir().unwrap();
    server::datasets::export(
        &pool,
        &server::datasets::ExportOptions {
            experiment_ids: vec![id],
            include_flagged: true,
            with_identifiers: false,
        },
        &mut server::datasets::FolderSink::new(export.path().to_owned()),
    )
    .await
    .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.path().join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["experiments"][0]["anchors"], expected_anchors);
    let owner_id: i64 = sqlx::query_scalar("SELECT owner_id FROM experiments WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let imported = server::datasets::import_bapps(
        &pool,
        &server::datasets::ImportOptions {
            root: export.path().to_owned(),
            owner_id,
            judgments_per_stimulus: None,
            name: None,
        },
        &indicatif::ProgressBar::hidden(),
    )
    .await
    .unwrap();
    let again: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT anchors FROM experiments WHERE id = $1")
            .bind(imported[0].id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(again, Some(expected_anchors));
}
