use std::time::{Duration, Instant};

use fantoccini::Locator;
use percept_tests::{Browser, TestApp};
use sqlx::PgPool;

/// The control only responds once the wasm bundle has hydrated the
/// server-rendered page, so a changing count proves hydration worked.
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn headless_chromium_uses_the_hydrated_control(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = Browser::start().await;
    let page = &browser.client;
    page.goto(&app.url("/")).await.unwrap();
    let status = || async {
        let element = page.find(Locator::Id("hydration-status")).await.unwrap();
        element.text().await.unwrap()
    };
    let click = || async {
        let button = page.find(Locator::Id("hydration-check")).await.unwrap();
        button.click().await.unwrap();
    };
    assert_eq!(status().await, "Not checked yet.");

    // Clicks before hydration finishes are inert; keep clicking until one lands.
    let deadline = Instant::now() + Duration::from_secs(30);
    while status().await == "Not checked yet." {
        assert!(Instant::now() < deadline, "the page never hydrated");
        click().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status().await, "Interactive: checked 1 time(s).");
    click().await;
    assert_eq!(status().await, "Interactive: checked 2 time(s).");

    browser.close().await;
}
