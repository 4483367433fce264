use std::time::{Duration, Instant};

use fantoccini::Locator;
use percept_tests::{Browser, TestApp};
use sqlx::PgPool;

/// The sign-in button is rendered disabled on the server and enabled by the
/// wasm bundle once it has hydrated the page: seeing it enabled proves
/// hydration worked.
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn headless_chromium_hydrates_the_server_rendered_page(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = Browser::start().await;
    let page = &browser.client;
    page.goto(&app.url("/")).await.unwrap();
    page.find(Locator::Id("sign-in-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let button = page.find(Locator::Id("sign-in")).await.unwrap();
        if button.is_enabled().await.unwrap() {
            break;
        }
        assert!(Instant::now() < deadline, "the sign-in page never hydrated");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(page.current_url().await.unwrap().path(), "/sign-in");

    browser.close().await;
}
