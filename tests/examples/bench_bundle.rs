//! What a crowd worker on a phone waits for (run by `cargo xtask
//! bench-bundle`): headless Chromium as a 390×844 @3× phone with a 4× slower
//! CPU, 1.6 Mbit/s down and 150 ms of latency (Lighthouse's mobile profile)
//! opens a 2AFC experiment's link, consents, starts the practice, and the
//! bench reports the bytes transferred and the time from the link until the
//! first trial accepts an answer.
//!
//! It measures each static folder given in `PERCEPT_BENCH_BUNDLES`
//! (`name=folder` pairs, `;`-separated), each served as `percept serve`
//! serves it, on a fresh browser profile (nothing cached).

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use fantoccini::{Client, Locator};
use percept_tests::two_afc::{create_experiment_from_photos, experiment_settings};
use percept_tests::{Browser, TestApp};
use server::http::{rate_limits::RateLimitSettings, static_files::StaticFiles};

const CPU_SLOWDOWN: f64 = 4.0;
const DOWNLOAD_KBPS: f64 = 1_600.0;
const LATENCY_MS: f64 = 150.0;
/// The goals of the issue: at most this much over the wire, and an
/// answerable first trial within this long.
const GOAL_BYTES: u64 = 400_000;
const GOAL_SECONDS: f64 = 3.0;

#[tokio::main]
async fn main() {
    let bundles = std::env::var("PERCEPT_BENCH_BUNDLES")
        .expect("PERCEPT_BENCH_BUNDLES: name=static-folder pairs, ;-separated");
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    let admin = sqlx::PgPool::connect_with(options.clone()).await.unwrap();
    for statement in [
        "DROP DATABASE IF EXISTS bundle_bench",
        "CREATE DATABASE bundle_bench",
    ] {
        sqlx::query(statement).execute(&admin).await.unwrap();
    }
    let pool = server::db::connect(options.database("bundle_bench"))
        .await
        .unwrap();
    let mut settings = experiment_settings(&pool).await;
    settings.patches_per_image = 20;
    let experiment_id = create_experiment_from_photos(&pool, &settings, 2).await;

    println!(
        "phone 390×844 @3×, {CPU_SLOWDOWN}× CPU slowdown, {DOWNLOAD_KBPS} kbit/s down, {LATENCY_MS} ms latency; \
         goal ≤ {} KB and < {GOAL_SECONDS} s",
        GOAL_BYTES / 1000
    );
    println!(
        "{:<28} {:>10} {:>10} {:>12} {:>12} {:>14}",
        "bundle", "wasm raw", "js raw", "transferred", "hydrated", "first trial"
    );
    for bundle in bundles.split(';').filter(|pair| !pair.is_empty()) {
        let (name, folder) = bundle.split_once('=').expect("name=folder");
        let folder = PathBuf::from(folder);
        let size =
            |file: &str| std::fs::metadata(folder.join("pkg").join(file)).map_or(0, |m| m.len());
        let app = TestApp::spawn_serving(
            pool.clone(),
            &RateLimitSettings::default(),
            StaticFiles::read_dir(&folder).unwrap(),
        )
        .await;
        let phone = Browser::start_phone().await;
        phone
            .throttle(CPU_SLOWDOWN, DOWNLOAD_KBPS, LATENCY_MS)
            .await;
        let (bytes, hydrated, answerable) =
            first_trial(&phone.client, &app.url(&format!("/e/{experiment_id}"))).await;
        phone.close().await;
        let verdict = if bytes <= GOAL_BYTES && answerable < GOAL_SECONDS {
            "meets the goal"
        } else {
            "misses the goal"
        };
        println!(
            "{name:<28} {:>7} KB {:>7} KB {:>9} KB {:>10.2} s {:>12.2} s  {verdict}",
            size("worker_bg.wasm") / 1000,
            size("worker.js") / 1000,
            bytes / 1000,
            hydrated,
            answerable,
        );
    }
}

/// Opens the link, consents and starts the practice; returns the bytes
/// transferred (page, code, CSS, API calls and images) and the seconds from
/// the link to hydration and to an answerable first trial.
async fn first_trial(page: &Client, link: &str) -> (u64, f64, f64) {
    page.goto(link).await.unwrap();
    wait_for(page, ".worker-page[data-hydrated='true']").await;
    let hydrated = now(page).await;
    wait_for(page, "#consent").await.click().await.unwrap();
    wait_for(page, "#begin-practice:not([disabled])")
        .await
        .click()
        .await
        .unwrap();
    wait_for(page, ".practice .trial-stage[data-accepting='true']").await;
    let answerable = now(page).await;
    let bytes = page
        .execute(
            "return performance.getEntriesByType('navigation')
                 .concat(performance.getEntriesByType('resource'))
                 .reduce((sum, entry) => sum + entry.transferSize, 0);",
            vec![],
        )
        .await
        .unwrap()
        .as_f64()
        .unwrap() as u64;
    (bytes, hydrated, answerable)
}

/// Seconds since the page's navigation began, by the page's clock.
async fn now(page: &Client) -> f64 {
    page.execute("return performance.now();", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap()
        / 1000.0
}

async fn wait_for(page: &Client, css: &str) -> fantoccini::elements::Element {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(element) = page.find(Locator::Css(css)).await {
            return element;
        }
        assert!(Instant::now() < deadline, "{css} never appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
