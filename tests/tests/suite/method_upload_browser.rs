//! A method comparison made from the dashboard in headless Chromium: the
//! researcher signs in, picks the kind *Method comparison* on the
//! new-experiment form, uploads a `.tar.gz` of `references/` and
//! `methods/<method>/` with an anchor, and, once simulated observers have
//! judged and the chosen metrics have scored, opens the report from the
//! experiment page and reads the ranking of the methods. A malformed `.zip`
//! through the same form is refused naming the file, and stores nothing.
//!
//! With `PERCEPT_SCREENSHOTS` set, the filled-in form is saved to
//! `docs/method-upload-form.png` and the report's ranking section to
//! `docs/method-ranking.png`.

use std::path::{Path, PathBuf};

use fantoccini::{Client, Locator};
use indicatif::ProgressBar;
use percept_tests::two_afc::synthetic_image;
use percept_tests::{fill, wait_until, Browser, TestApp};
use serde_json::Value;
use server::scoring;
use server::simulation::{self, ObserverMetric, SimulationSettings};
use server::stimuli::encode_png;
use sqlx::PgPool;

use super::method_ranking::noisy;
use super::method_upload::{tar_gz, zip};

const EMAIL: &str = "grace@example.org";
const PASSWORD: &str = "a long password";

/// The uploaded methods, named as a super-resolution study might name them,
/// with the noise amplitude (gray levels) that stands in for their output:
/// best first.
const METHODS: [(&str, u8); 3] = [("ours", 6), ("edsr", 18), ("bicubic", 40)];

/// The tree's files by relative path: two references, each method's output.
fn tree() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for (index, name) in ["butterfly", "comic"].iter().enumerate() {
        let reference = synthetic_image(128, 96, 40 + 90 * index as u8);
        files.push((
            format!("references/{name}.png"),
            encode_png(&reference).unwrap(),
        ));
        for (m, (method, amplitude)) in METHODS.iter().enumerate() {
            files.push((
                format!("methods/{method}/{name}.png"),
                encode_png(&noisy(&reference, *amplitude, (10 * index + m) as u32)).unwrap(),
            ));
        }
    }
    files
}

async fn click(page: &Client, selector: &str) {
    page.find(Locator::Css(selector))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn text(page: &Client, selector: &str) -> String {
    page.find(Locator::Css(selector))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Chooses `path` in the file input `selector` (WebDriver sends a file
/// input's keys as the path of the file to pick).
async fn choose_file(page: &Client, selector: &str, path: &Path) {
    page.find(Locator::Css(selector))
        .await
        .unwrap()
        .send_keys(&path.display().to_string())
        .await
        .unwrap();
}

async fn experiments(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM experiments")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn a_researcher_uploads_method_outputs_and_reads_their_ranking(pool: PgPool) {
    server::researchers::add(&pool, EMAIL, PASSWORD)
        .await
        .unwrap();
    let app = TestApp::spawn(pool.clone()).await;
    let files = tempfile::tempdir().unwrap();
    let archive = files.path().join("sr-study.tar.gz");
    std::fs::write(&archive, tar_gz(&tree(), "sr-study/")).unwrap();
    let broken = files.path().join("sr-broken.zip");
    let without_one: Vec<_> = tree()
        .into_iter()
        .filter(|(path, _)| path != "methods/edsr/comic.png")
        .collect();
    std::fs::write(&broken, zip(&without_one)).unwrap();

    let browser = Browser::start().await;
    let page = &browser.client;
    page.goto(&app.url("/dashboard")).await.unwrap();
    wait_until(page, "the sign-in page", "location.pathname === '/sign-in'").await;
    wait_until(
        page,
        "hydration",
        "!document.querySelector('#sign-in').disabled",
    )
    .await;
    fill(page, "#email", EMAIL).await;
    fill(page, "#password", PASSWORD).await;
    click(page, "#sign-in").await;
    wait_until(page, "the dashboard", "location.pathname === '/dashboard'").await;
    click(page, "#new-experiment").await;
    wait_until(page, "the form", "location.pathname === '/dashboard/new'").await;
    wait_until(
        page,
        "hydration",
        "!document.querySelector('#create-experiment').disabled",
    )
    .await;

    // The kind shows the method comparison's fields in place of the images
    // and of the distortion settings, which do not apply to it.
    let hidden = |selector: &str| {
        format!("document.querySelector('{selector}').closest('.hidden') !== null")
    };
    assert_eq!(
        page.execute(
            &format!(
                "return [{}, {}, {}]",
                hidden("#methods-archive"),
                hidden("#methods-folder"),
                hidden("#distortion-family")
            ),
            vec![]
        )
        .await
        .unwrap(),
        serde_json::json!([true, true, false])
    );
    page.find(Locator::Css("select[name=kind]"))
        .await
        .unwrap()
        .select_by_value("methods")
        .await
        .unwrap();
    wait_until(
        page,
        "the method comparison's fields",
        &format!(
            "!({}) && !({}) && {} && {} && {}",
            hidden("#methods-archive"),
            hidden("#methods-folder"),
            hidden("#images"),
            hidden("#distortion-family"),
            hidden("input[name=types]")
        ),
    )
    .await;
    assert_eq!(
        page.execute(
            "return document.querySelector('#methods-folder').hasAttribute('webkitdirectory')",
            vec![]
        )
        .await
        .unwrap(),
        true
    );
    fill(page, "input[name=name]", "SR x4, three methods").await;
    page.find(Locator::Css("select[name=split]"))
        .await
        .unwrap()
        .select_by_value("val")
        .await
        .unwrap();
    fill(page, "input[name=category]", "superres").await;
    fill(page, "input[name=min_patch_variance]", "50").await;
    fill(
        page,
        "textarea[name=anchors]",
        r#"jpeg-q30=[{"type":"jpeg","quality":30}]"#,
    )
    .await;
    fill(page, "input[name=patch_size]", "32").await;
    fill(page, "input[name=patches_per_image]", "4").await;
    fill(page, "input[name=seed]", "11").await;
    fill(page, "input[name=judgments_per_stimulus]", "3").await;
    fill(page, "input[name=trials_per_assignment]", "20").await;
    fill(page, "input[name=sentinel_rate]", "0.1").await;
    fill(page, "input[name=max_assignments_per_worker]", "20").await;

    // A tree missing one output: refused naming the file, nothing stored.
    choose_file(page, "#methods-archive", &broken).await;
    click(page, "#create-experiment").await;
    wait_until(
        page,
        "the refusal of the broken archive",
        "document.querySelector('.error')",
    )
    .await;
    let refusal = text(page, ".error").await;
    assert!(
        refusal.contains("methods/edsr/ has no output for references/comic.png"),
        "{refusal}"
    );
    assert_eq!(experiments(&pool).await, 0);
    assert_eq!(
        page.current_url().await.unwrap().path(),
        "/dashboard/new",
        "the form stays, filled in"
    );

    // The whole tree.
    choose_file(page, "#methods-archive", &archive).await;
    let chosen = page
        .execute(
            "return [...document.querySelector('#methods-archive').files].map(f => f.name)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(chosen, serde_json::json!(["sr-study.tar.gz"]));
    if std::env::var_os("PERCEPT_SCREENSHOTS").is_some() {
        page.set_window_size(1100, 1300).await.unwrap();
        page.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
        let png = page.screenshot().await.unwrap();
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/method-upload-form.png");
        std::fs::write(&path, png).unwrap();
    }
    click(page, "#create-experiment").await;
    wait_until(
        page,
        "the experiment page",
        "location.pathname.startsWith('/dashboard/experiments/')",
    )
    .await;
    let url = page.current_url().await.unwrap();
    let id: i64 = url.path().rsplit('/').next().unwrap().parse().unwrap();
    wait_until(
        page,
        "generation to finish",
        "document.querySelector('#experiment-status')?.innerText === 'ready'",
    )
    .await;
    let stored: (String, Option<String>, Vec<String>) =
        sqlx::query_as("SELECT split, category, methods FROM experiments WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        stored,
        (
            "val".into(),
            Some("superres".into()),
            vec![
                "bicubic".into(),
                "edsr".into(),
                "jpeg-q30".into(),
                "ours".into()
            ]
        )
    );

    // Observers who follow L2 judge every triplet.
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
    assert!(summary.judgments > 0);

    // Scoring with three metrics chosen on the page; a scoring worker (as
    // `percept serve --job-kinds scoring` runs) computes them.
    click(page, "#refresh").await;
    wait_until(
        page,
        "the metrics",
        "document.querySelectorAll('#metric-choice input[name=metric]').length > 0",
    )
    .await;
    page.execute(
        "for (const box of document.querySelectorAll('#metric-choice input[name=metric]')) {
             if (box.checked !== ['l2-rgb', 'ssim-rgb', 'psnr'].includes(box.value)) box.click();
         }",
        vec![],
    )
    .await
    .unwrap();
    click(page, "#start-scoring").await;
    wait_until(
        page,
        "the scoring jobs or a refusal",
        "[...document.querySelectorAll('.meter-name')].some(m => m.innerText === 'l2-rgb') || \
         document.querySelector('section.dashboard p.error')",
    )
    .await;
    let meters = page
        .execute(
            "return [...document.querySelectorAll('.meter-name')].map(m => m.innerText)
                 .filter(name => !['Judgments', 'Stimuli'].includes(name)).sort()",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        meters,
        serde_json::json!(["l2-rgb", "psnr", "ssim-rgb"]),
        "{}",
        text(page, "section.dashboard").await
    );
    let weights = std::env::temp_dir().join("percept-no-weights");
    let mut worker = scoring::runner(pool.clone(), weights);
    let mut scored = 0;
    while let Some(outcome) = worker.run_next(None).await.unwrap() {
        assert_eq!(outcome.error, None);
        scored += 1;
    }
    assert_eq!(scored, 3);

    // The report, as the experiment page links to it.
    let report = page
        .find(Locator::Id("report-link"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    page.goto(&app.url(&report)).await.unwrap();
    wait_until(page, "the ranking", "document.querySelector('#ranking')").await;
    let owner = app.signed_in_as(EMAIL).await;
    let json: Value = owner
        .get(app.url(&format!("/api/experiments/{id}/report")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let overall = &json["method_ranking"]["overall"];
    let rows = page
        .execute(
            "return [...document.querySelectorAll('#ranking table.ranking tr')].slice(1)
                 .map(row => [...row.cells].map(cell => cell.innerText))",
            vec![],
        )
        .await
        .unwrap();
    let rows: Vec<Vec<String>> = serde_json::from_value(rows).unwrap();
    let methods = overall["methods"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for (k, (row, method)) in rows.iter().zip(methods).enumerate() {
        let scale = &method["scale"];
        assert_eq!(row[0], (k + 1).to_string());
        assert_eq!(row[1], method["method"].as_str().unwrap());
        assert_eq!(
            row[2],
            format!("{:+.2}", scale["value"].as_f64().unwrap()),
            "{row:?}"
        );
        assert_eq!(
            row[3],
            format!(
                "{:+.2} – {:+.2}",
                scale["low"].as_f64().unwrap(),
                scale["high"].as_f64().unwrap()
            ),
            "{row:?}"
        );
    }
    // The people rank the three uploaded methods by their noise, and L2
    // ranks them as they do.
    let uploaded: Vec<&str> = rows
        .iter()
        .map(|row| row[1].as_str())
        .filter(|name| *name != "jpeg-q30")
        .collect();
    assert_eq!(uploaded, METHODS.map(|(name, _)| name));
    assert!(rows.iter().any(|row| row[1] == "jpeg-q30"), "{rows:?}");
    let headline = text(page, "#ranking .headline").await;
    assert!(headline.contains("l2-rgb"), "{headline}");
    let chart_labels = page
        .execute(
            "return [...document.querySelectorAll('#ranking svg text')].map(t => t.textContent.trim())",
            vec![],
        )
        .await
        .unwrap();
    // One row per method, and no empty one.
    assert!(
        !chart_labels
            .as_array()
            .unwrap()
            .iter()
            .any(|label| label == ""),
        "{chart_labels}"
    );
    for row in &rows {
        assert!(
            chart_labels
                .as_array()
                .unwrap()
                .iter()
                .any(|label| label == row[1].as_str()),
            "{} in the chart: {chart_labels}",
            row[1]
        );
    }

    if std::env::var_os("PERCEPT_SCREENSHOTS").is_some() {
        page.set_window_size(1100, 1500).await.unwrap();
        page.execute(
            "document.querySelector('#ranking').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
        let png = page.screenshot().await.unwrap();
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/method-ranking.png");
        std::fs::write(&path, png).unwrap();
    }

    browser.close().await;
}
