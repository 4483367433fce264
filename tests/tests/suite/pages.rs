use std::io::Read;

use percept_tests::{static_dir, TestApp};
use reqwest::StatusCode;
use sqlx::PgPool;

/// The hydration bundle's folder as the page names it: `/pkg/<hash>`.
async fn bundle_path(app: &TestApp) -> String {
    let html = app.get("/").await.text().await.unwrap();
    let end = html
        .find("/app.js\"")
        .expect("the page must load the hydration bundle");
    let start = html[..end].rfind('"').unwrap() + 1;
    html[start..end].to_owned()
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn home_page_is_rendered_on_the_server_with_the_hydration_scripts(pool: PgPool) {
    let app = TestApp::spawn(pool).await;

    let response = app.get("/").await;

    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.contains(r#"<a id="sign-in-link" href="/sign-in">Sign in to the dashboard</a>"#),
        "{html}"
    );
    let bundle = bundle_path(&app).await;
    let hash = bundle.strip_prefix("/pkg/").unwrap();
    assert!(
        hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "the bundle's folder is named by its content: {bundle}"
    );
}

/// The JavaScript, wasm and CSS go out compressed when the client accepts
/// it (brotli before gzip), as they are when it does not, and the bundle,
/// named by its content, may be cached for a year.
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_hydration_bundle_and_stylesheet_are_served_compressed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let bundle = bundle_path(&app).await;

    for (path, file, content_type, cache_control) in [
        (
            format!("{bundle}/app.js"),
            "pkg/app.js",
            "text/javascript",
            "public, max-age=31536000, immutable",
        ),
        (
            format!("{bundle}/app_bg.wasm"),
            "pkg/app_bg.wasm",
            "application/wasm",
            "public, max-age=31536000, immutable",
        ),
        (
            "/percept.css".to_owned(),
            "percept.css",
            "text/css",
            "no-cache",
        ),
    ] {
        let original = std::fs::read(static_dir().join(file)).unwrap();
        let path = path.as_str();
        let fetch = |accept_encoding: &'static str| {
            let request = app.http.get(app.url(path));
            async move {
                let request = match accept_encoding {
                    "" => request,
                    accepted => request.header("accept-encoding", accepted),
                };
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{path}");
                let headers = response.headers().clone();
                assert_eq!(headers["content-type"], content_type, "{path}");
                assert_eq!(headers["cache-control"], cache_control, "{path}");
                assert_eq!(headers["vary"], "accept-encoding", "{path}");
                let encoding = headers
                    .get("content-encoding")
                    .map(|value| value.to_str().unwrap().to_owned());
                (encoding, response.bytes().await.unwrap().to_vec())
            }
        };

        let (encoding, body) = fetch("").await;
        assert_eq!(encoding, None, "{path} without Accept-Encoding");
        assert_eq!(body, original, "{path}");

        let (encoding, body) = fetch("gzip").await;
        assert_eq!(encoding.as_deref(), Some("gzip"), "{path}");
        assert!(
            body.len() < original.len() / 2,
            "{path}: {} bytes gzipped",
            body.len()
        );
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(body.as_slice())
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, original, "{path} gzipped");

        let (encoding, brotli) = fetch("gzip, deflate, br").await;
        assert_eq!(encoding.as_deref(), Some("br"), "{path}");
        assert!(brotli.len() < body.len(), "{path}: brotli is the smaller");
        let precompressed = std::fs::read(static_dir().join(format!("{file}.br"))).unwrap();
        assert_eq!(
            brotli, precompressed,
            "{path}: the file cargo xtask build compressed"
        );
    }
}

/// A crowd worker's pages load the `worker` bundle, which leaves out the
/// researcher's pages and so is smaller; every other page loads `app`.
#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn worker_pages_load_the_smaller_worker_bundle(pool: PgPool) {
    let settings = percept_tests::two_afc::experiment_settings(&pool).await;
    let id = percept_tests::two_afc::create_experiment(&pool, &settings, 1).await;
    let app = TestApp::spawn(pool).await;
    let bundle = bundle_path(&app).await;

    let landing = app.get(&format!("/e/{id}")).await.text().await.unwrap();
    assert!(
        landing.contains(&format!("{bundle}/worker.js")),
        "{landing}"
    );
    assert!(landing.contains(&format!("{bundle}/worker_bg.wasm")));
    assert!(!landing.contains("/app.js"));
    let sign_in = app.get("/sign-in").await.text().await.unwrap();
    assert!(sign_in.contains(&format!("{bundle}/app.js")));

    let brotli_size = |name: &'static str| {
        let request = app
            .http
            .get(app.url(&format!("{bundle}/{name}")))
            .header("accept-encoding", "br");
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            response.bytes().await.unwrap().len()
        }
    };
    let (worker, every_page) = (
        brotli_size("worker_bg.wasm").await,
        brotli_size("app_bg.wasm").await,
    );
    assert!(
        worker < every_page,
        "the worker bundle ({worker} bytes) is smaller than every page's ({every_page})"
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn unknown_pages_are_404(pool: PgPool) {
    let app = TestApp::spawn(pool).await;

    assert_eq!(
        app.get("/no-such-page").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_consent_names_a_platform_id_only_to_platform_workers(pool: PgPool) {
    let settings = percept_tests::two_afc::experiment_settings(&pool).await;
    let id = percept_tests::two_afc::create_experiment(&pool, &settings, 1).await;
    let app = TestApp::spawn(pool).await;

    // An anonymous worker's consent is drawn once the browser code has
    // given them an id; whatever the server renders never claims a platform ID.
    let anonymous = app.get(&format!("/e/{id}")).await.text().await.unwrap();
    assert!(!anonymous.contains("with my platform ID"));
    let prolific = app
        .get(&format!("/e/{id}?PROLIFIC_PID=p1&STUDY_ID=s&SESSION_ID=x"))
        .await
        .text()
        .await
        .unwrap();
    // Text nodes are separated by hydration markers (`<!>`).
    assert!(
        prolific.contains("with my platform ID<!>, for research"),
        "{prolific}"
    );
}
