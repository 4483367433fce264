//! `percept serve` as a user runs it: the binary, its private PostgreSQL
//! cluster, its signals and its error messages.

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use fantoccini::Locator;
use nix::{sys::signal::Signal, unistd::Pid};
use percept_tests::{percept_binary, wait_until, Browser};

/// A data directory the `postgres` user can reach even when the clone is under /root.
fn data_dir() -> tempfile::TempDir {
    percept_tests::cluster_temp_dir("percept-serve-")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn percept_serve(data_dir: &Path, port: u16) -> Command {
    let mut command = Command::new(percept_binary());
    command
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("DATABASE_URL");
    command
}

/// Waits for the line that tells the user where to point their browser.
fn wait_until_serving(server: &mut Child) -> String {
    let stdout = BufReader::new(server.stdout.take().unwrap());
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("Percept is running at ") {
            return url.to_string();
        }
    }
    panic!("percept serve exited before serving: {:?}", server.wait());
}

fn cluster_is_running(data_dir: &Path) -> bool {
    data_dir.join("postgres/postmaster.pid").exists()
}

#[tokio::test]
async fn serve_creates_its_private_database_serves_pages_and_stops_cleanly_on_sigterm() {
    let data_dir = data_dir();
    let mut server = percept_serve(data_dir.path(), free_port())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    let url = wait_until_serving(&mut server);
    assert!(
        cluster_is_running(data_dir.path()),
        "the private cluster should be running"
    );
    let health: serde_json::Value = reqwest::get(format!("{url}healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["database"], "up");
    let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign in to the dashboard"));

    nix::sys::signal::kill(Pid::from_raw(server.id() as i32), Signal::SIGTERM).unwrap();
    let status = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "percept serve should exit cleanly on SIGTERM: {status}"
    );
    assert!(
        !cluster_is_running(data_dir.path()),
        "the private cluster should be stopped"
    );
}

/// The binary carries its CSS and hydration bundle: started in an empty
/// folder outside the repository with no `--static-dir`, it serves them
/// (revalidated by ETag, the HTML compressed) and Chromium hydrates a page.
#[tokio::test]
async fn the_binary_serves_its_own_assets_from_any_folder() {
    let data_dir = data_dir();
    let elsewhere = tempfile::tempdir().unwrap();
    let mut server = percept_serve(data_dir.path(), free_port())
        .current_dir(elsewhere.path())
        .env_remove("PERCEPT_STATIC_DIR")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let url = wait_until_serving(&mut server);
    let http = reqwest::Client::new();

    let css = http.get(format!("{url}percept.css")).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css");
    assert_eq!(css.headers()["cache-control"], "no-cache");
    let etag = css.headers()["etag"].clone();
    assert!(css.text().await.unwrap().contains(".worker-page"));
    let revalidated = http
        .get(format!("{url}percept.css"))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        revalidated.status(),
        304,
        "an unchanged CSS is not sent again"
    );
    assert_eq!(revalidated.headers()["etag"], etag);
    assert!(revalidated.bytes().await.unwrap().is_empty());

    let page = http
        .get(format!("{url}sign-in"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()["content-encoding"],
        "gzip",
        "pages are compressed too"
    );

    let browser = Browser::start().await;
    let client = &browser.client;
    client.goto(&format!("{url}sign-in")).await.unwrap();
    wait_until(
        client,
        "the stylesheet",
        "[...document.styleSheets].some(sheet => sheet.href && \
         sheet.href.endsWith('/percept.css') && sheet.cssRules.length > 0)",
    )
    .await;
    wait_until(
        client,
        "the sign-in page to hydrate",
        "!document.querySelector('#sign-in').disabled",
    )
    .await;
    let wasm_loaded: bool = client
        .execute(
            "return performance.getEntriesByType('resource')\
                .some(entry => /\\/pkg\\/[0-9a-f]{16}\\/app_bg\\.wasm$/.test(entry.name));",
            vec![],
        )
        .await
        .unwrap()
        .as_bool()
        .unwrap();
    assert!(
        wasm_loaded,
        "the page hydrated with the content-hashed bundle"
    );
    assert!(client.find(Locator::Id("sign-in")).await.is_ok());
    browser.close().await;

    nix::sys::signal::kill(Pid::from_raw(server.id() as i32), Signal::SIGTERM).unwrap();
    let status = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

fn run_to_failure(mut command: Command) -> String {
    let output: Output = command.stdout(Stdio::null()).output().unwrap();
    assert!(!output.status.success(), "percept should have failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_port_in_use_is_reported_with_what_to_do() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let data_dir = data_dir();

    let stderr = run_to_failure(percept_serve(
        data_dir.path(),
        taken.local_addr().unwrap().port(),
    ));

    assert!(stderr.contains("already in use"), "{stderr}");
    assert!(stderr.contains("--addr"), "{stderr}");
    assert!(
        !cluster_is_running(data_dir.path()),
        "a failed start must not leave the cluster running"
    );
}

#[test]
fn missing_postgresql_binaries_are_reported_with_what_to_install() {
    let data_dir = data_dir();
    let mut command = percept_serve(data_dir.path(), free_port());
    command.env("PERCEPT_PG_BIN_DIR", "/nonexistent/postgresql/bin");

    let stderr = run_to_failure(command);

    assert!(stderr.contains("initdb"), "{stderr}");
    assert!(stderr.contains("apt-get install postgresql"), "{stderr}");
}

#[test]
fn a_database_directory_owned_by_someone_else_is_refused() {
    let data_dir = data_dir();
    let pgdata = data_dir.path().join("postgres");
    std::fs::create_dir(&pgdata).unwrap();
    std::fs::write(pgdata.join("PG_VERSION"), "15\n").unwrap();
    // Whoever we are, make the owner somebody else: nobody (65534).
    nix::unistd::chown(&pgdata, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();

    let stderr = run_to_failure(percept_serve(data_dir.path(), free_port()));

    assert!(stderr.contains("belongs to user"), "{stderr}");
    assert!(stderr.contains("--data-dir"), "{stderr}");
}

#[test]
fn db_start_prints_a_database_url_that_works_and_db_stop_stops_it() {
    let data_dir = data_dir();
    let start = Command::new(percept_binary())
        .args(["db", "start", "--data-dir"])
        .arg(data_dir.path())
        .output()
        .unwrap();
    assert!(
        start.status.success(),
        "{}",
        String::from_utf8_lossy(&start.stderr)
    );
    let url = String::from_utf8(start.stdout).unwrap().trim().to_string();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let tables: i64 = runtime.block_on(async {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let count = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        count
    });
    assert_eq!(
        tables as usize,
        server::db::MIGRATOR.iter().count(),
        "migrations applied"
    );

    let stop = Command::new(percept_binary())
        .args(["db", "stop", "--data-dir"])
        .arg(data_dir.path())
        .status()
        .unwrap();
    assert!(stop.success());
    std::thread::sleep(Duration::from_millis(100));
    assert!(!cluster_is_running(data_dir.path()));
}
