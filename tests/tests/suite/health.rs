use percept_tests::TestApp;
use reqwest::StatusCode;
use sqlx::PgPool;

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn healthz_reports_the_database_up_with_its_schema_version(pool: PgPool) {
    let newest_migration = server::db::MIGRATOR
        .iter()
        .map(|migration| migration.version)
        .max();
    let app = TestApp::spawn(pool).await;

    let response = app.get("/healthz").await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["database"], "up");
    assert_eq!(body["schema_version"].as_i64(), newest_migration);
}

#[sqlx::test(migrator = "server::db::MIGRATOR")]
async fn healthz_answers_503_with_a_retry_hint_when_the_database_is_gone(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    pool.close().await;

    let response = app.get("/healthz").await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("database is unavailable"),
        "{body}"
    );
}
