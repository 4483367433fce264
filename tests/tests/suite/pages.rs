use percept_tests::TestApp;
use reqwest::StatusCode;
use sqlx::PgPool;

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
    assert!(
        html.contains(r#"href="/pkg/app.js""#),
        "the page must load the hydration bundle"
    );
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn the_hydration_bundle_and_stylesheet_are_served(pool: PgPool) {
    let app = TestApp::spawn(pool).await;

    for (path, content_type) in [
        ("/pkg/app.js", "text/javascript"),
        ("/pkg/app_bg.wasm", "application/wasm"),
        ("/percept.css", "text/css"),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
    }
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
