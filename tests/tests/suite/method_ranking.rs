//! The report's ranking of methods: simulated observers who follow L2 judge
//! four methods whose outputs are the reference plus noise of four
//! strengths; the report (JSON from the HTTP route, and HTML) ranks the
//! methods in the noise order with intervals and a significance matrix, and
//! says that `l2-rgb` ranks them as the people do. Exported in the BAPPS
//! layout under the experiment's category and imported again, the triplets
//! keep their methods and the imported judgments rank them the same.

use std::path::PathBuf;

use distortions::image::{Rgb, RgbImage};
use indicatif::ProgressBar;
use percept_tests::two_afc::{experiment_settings, synthetic_image};
use percept_tests::TestApp;
use serde_json::Value;
use server::datasets::{self, ExportOptions, FolderSink, ImportOptions};
use server::experiments::{self, MethodComparison, MethodOutputFile, ReferenceFile};
use server::scoring::{self, Metric};
use server::simulation::{self, ObserverMetric, SimulationSettings};
use server::stimuli::encode_png;
use sqlx::PgPool;

/// Methods named by their noise amplitude (gray levels), best first.
const METHODS: [(&str, u8); 4] = [
    ("denoise-a", 6),
    ("denoise-b", 16),
    ("denoise-c", 32),
    ("denoise-d", 56),
];

/// `image` plus uniform noise in ±`amplitude` from a fixed generator.
pub(super) fn noisy(image: &RgbImage, amplitude: u8, seed: u32) -> RgbImage {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    RgbImage::from_fn(image.width(), image.height(), |x, y| {
        let pixel = image.get_pixel(x, y);
        Rgb(pixel.0.map(|level| {
            let span = 2 * u32::from(amplitude) + 1;
            let offset = (next() % span) as i32 - i32::from(amplitude);
            (i32::from(level) + offset).clamp(0, 255) as u8
        }))
    })
}

fn weights_dir() -> PathBuf {
    std::env::var_os("PERCEPT_WEIGHTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("percept-no-weights"))
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_report_ranks_methods_as_observers_following_a_metric_do(pool: PgPool) {
    let mut settings = experiment_settings(&pool).await;
    settings.category = Some("denoising".into());
    settings.split = "val".into();
    settings.patches_per_image = 5;
    settings.judgments_per_stimulus = 3;
    settings.trials_per_assignment = 20;
    settings.max_assignments_per_worker = 20;
    let references: Vec<RgbImage> = (0..2)
        .map(|i| synthetic_image(128, 96, 40 + 90 * i))
        .collect();
    let mut outputs = Vec::new();
    for (index, reference) in references.iter().enumerate() {
        for (m, (method, amplitude)) in METHODS.iter().enumerate() {
            outputs.push(MethodOutputFile {
                method: method.to_string(),
                file_name: format!("{index}.png"),
                bytes: encode_png(&noisy(reference, *amplitude, (10 * index + m) as u32)).unwrap(),
            });
        }
    }
    let reference_files = references
        .iter()
        .enumerate()
        .map(|(index, image)| ReferenceFile {
            file_name: format!("{index}.png"),
            bytes: encode_png(image).unwrap(),
        })
        .collect();
    let comparison = MethodComparison {
        pairs_per_patch: None,
        min_patch_variance: None,
        outputs,
        ..Default::default()
    };
    let id = experiments::create_with_methods(&pool, &settings, reference_files, comparison, None)
        .await
        .unwrap();

    // 2 references × 5 patches × 6 pairs, 3 judgments each from observers
    // following L2 with little noise.
    let app = TestApp::spawn(pool.clone()).await;
    let simulation = SimulationSettings {
        workers: 8,
        careless_share: 0.0,
        metric: ObserverMetric::L2,
        noise: 0.1,
        assignments_per_worker: None,
        concurrency: 4,
        seed: 5,
    };
    let summary = simulation::run(&app.url(""), id, &simulation, &ProgressBar::hidden())
        .await
        .unwrap();
    assert_eq!(summary.judgments, 60 * 3);
    let mut worker = scoring::runner(pool.clone(), weights_dir());
    for name in ["l2-rgb", "ssim-rgb"] {
        let metric: Metric = name.parse().unwrap();
        scoring::enqueue(&pool, id, &metric).await.unwrap();
        let outcome = worker.run_next(None).await.unwrap().unwrap();
        assert_eq!(outcome.error, None);
    }

    // The JSON of the HTTP route.
    let owner = app.signed_in_as("owner@example.org").await;
    let report: Value = owner
        .get(app.url(&format!("/api/experiments/{id}/report")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ranking = &report["method_ranking"];
    assert_eq!(ranking["unit"], "JOD", "{ranking}");
    let overall = &ranking["overall"];
    let order: Vec<&str> = overall["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(order, METHODS.map(|(name, _)| name), "{overall}");
    assert_eq!(overall["judgments"], 180.0);
    let workers: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT a.worker_id) FROM judgments j JOIN assignments a ON a.id = j.assignment_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(workers >= 2);
    assert_eq!(overall["workers"], workers);
    for method in overall["methods"].as_array().unwrap() {
        let scale = &method["scale"];
        assert!(
            scale["low"].as_f64() <= scale["value"].as_f64()
                && scale["value"].as_f64() <= scale["high"].as_f64(),
            "{method}"
        );
    }
    // Best against worst is a real difference.
    let extremes = overall["significance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["a"] == "denoise-a" && d["b"] == "denoise-d")
        .unwrap();
    assert_eq!(extremes["significant"], true, "{extremes}");
    assert!(extremes["difference"]["value"].as_f64().unwrap() > 0.0);
    assert_eq!(overall["significance"].as_array().unwrap().len(), 6);
    let l2 = overall["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "l2-rgb")
        .unwrap();
    assert_eq!(l2["kendall_tau"]["value"], 1.0, "{l2}");
    assert_eq!(l2["spearman_rho"]["value"], 1.0, "{l2}");
    let ranks: Vec<u64> = l2["mean_distances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rank"].as_u64().unwrap())
        .collect();
    assert_eq!(ranks, [1, 2, 3, 4]);
    assert!(
        overall["best_metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "l2-rgb"),
        "{overall}"
    );
    // One category: no per-category repeat.
    assert_eq!(ranking["per_category"].as_array().unwrap().len(), 0);

    // The HTML: the section, its chart and headline.
    let html = owner
        .get(app.url(&format!("/api/experiments/{id}/report.html")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let section = &html[html
        .find("<section id=\"ranking\">")
        .expect("the ranking section")..];
    assert!(section.contains("Ranking the methods"), "{section}");
    assert!(section.contains("<svg"), "a ranking chart");
    assert!(
        section.contains("<b>l2-rgb</b>") && section.contains("exactly as people do"),
        "{}",
        &section[..section.len().min(2000)]
    );
    for (method, _) in METHODS {
        assert!(section.contains(method), "{method}");
    }

    // Export (BAPPS layout, the experiment's category) and import again.
    let dir = tempfile::tempdir().unwrap();
    let options = ExportOptions {
        experiment_ids: vec![id],
        include_flagged: true,
        with_identifiers: false,
    };
    datasets::export(&pool, &options, &mut FolderSink::new(dir.path().to_owned()))
        .await
        .unwrap();
    for part in ["ref", "p0", "p1", "judge"] {
        assert!(
            dir.path().join("2afc/val/denoising").join(part).is_dir(),
            "{part}"
        );
    }
    let owner_id: i64 = sqlx::query_scalar("SELECT owner_id FROM experiments WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let import = ImportOptions {
        root: dir.path().to_owned(),
        owner_id,
        judgments_per_stimulus: None,
        name: Some("denoisers, again".into()),
    };
    let imported = datasets::import_bapps(&pool, &import, &ProgressBar::hidden())
        .await
        .unwrap();
    let again = imported[0].id;
    let methods: Vec<String> =
        sqlx::query_scalar("SELECT unnest(methods) FROM experiments WHERE id = $1")
            .bind(again)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(methods, METHODS.map(|(name, _)| name));
    let sides = |experiment: i64| {
        let pool = pool.clone();
        async move {
            let mut sides: Vec<(String, String)> = sqlx::query_as(
                "SELECT p0_method, p1_method FROM triplets
                 WHERE experiment_id = $1 AND sentinel_answer IS NULL",
            )
            .bind(experiment)
            .fetch_all(&pool)
            .await
            .unwrap();
            sides.sort();
            sides
        }
    };
    assert_eq!(sides(again).await, sides(id).await);
    let report = server::reports::build(&pool, &[again], false)
        .await
        .unwrap();
    let ranking = report
        .method_ranking
        .expect("the imported experiment is ranked");
    let order: Vec<&str> = ranking
        .overall
        .methods
        .iter()
        .map(|m| m.method.as_str())
        .collect();
    assert_eq!(order, METHODS.map(|(name, _)| name));
    assert_eq!(ranking.overall.judgments, 180.0);
}
