//! What the integration tests share: the app served over real HTTP on a
//! database of its own, the `percept` binary, and headless Chromium.

mod browser;
pub mod jnd;
pub mod researchers;
pub mod serial;
pub mod server_process;
pub mod two_afc;

use std::{net::SocketAddr, path::PathBuf};

use server::experiments::generation::StimulusGeneration;
use server::http::{self, rate_limits::RateLimitSettings, static_files::StaticFiles, AppState};
use server::jobs::Runner;
use sqlx::PgPool;

pub use browser::{fill, wait_until, Browser};

/// The web app on a loopback port, backed by the test's own database.
pub struct TestApp {
    pub address: SocketAddr,
    pub http: reqwest::Client,
}

impl TestApp {
    /// With the rate limits a server has by default.
    pub async fn spawn(pool: PgPool) -> Self {
        Self::spawn_with_limits(pool, &RateLimitSettings::default()).await
    }

    /// With the rate limits given; like `percept serve --job-kinds
    /// generation`, it generates the stimuli of experiments created through it.
    pub async fn spawn_with_limits(pool: PgPool, limits: &RateLimitSettings) -> Self {
        Self::spawn_serving(pool, limits, StaticFiles::embedded()).await
    }

    /// With these static files (the CSS and wasm bundle embedded in the
    /// binary, as `percept serve` sends them, or a folder's: the bundle bench
    /// compares bundles).
    pub async fn spawn_serving(
        pool: PgPool,
        limits: &RateLimitSettings,
        static_files: StaticFiles,
    ) -> Self {
        let runner = Runner::new(pool.clone()).with(StimulusGeneration);
        tokio::spawn(runner.run(std::future::pending()));
        let state = AppState::new(pool, static_files, limits);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let address = listener.local_addr().unwrap();
        let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            address,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request to the test app")
    }
}

/// The repository's `static/`, where `cargo xtask build` puts the wasm bundle.
pub fn static_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../static")
}

/// The project venv's Python (`PERCEPT_VENV`), with numpy and the official
/// packages the tests compare against.
pub fn python() -> PathBuf {
    PathBuf::from(
        std::env::var_os("PERCEPT_VENV").expect("PERCEPT_VENV (cargo xtask test sets it)"),
    )
    .join("bin/python")
}

/// The `percept` binary of this build (`target/<profile>/percept`), which
/// `cargo xtask test` builds before running the tests.
pub fn percept_binary() -> PathBuf {
    let test_executable = std::env::current_exe().expect("locating the test executable");
    let profile_dir = test_executable
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executables live in target/<profile>/deps");
    let binary = profile_dir.join("percept");
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p server` (cargo xtask test does)",
        binary.display()
    );
    binary
}

/// A temporary directory for a PostgreSQL cluster: in /tmp with a short
/// name, since the `postgres` user (whom PostgreSQL runs as when the tests
/// run as root) must reach it and a unix socket's path must stay under 108
/// bytes.
pub fn cluster_temp_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .expect("creating a directory in /tmp");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("opening it to the postgres user");
    dir
}
