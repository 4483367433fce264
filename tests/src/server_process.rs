//! `percept serve` as a separate process that a test can kill for real
//! (SIGKILL, no shutdown code runs) and start again on the same port, and a
//! PostgreSQL cluster of one test's own that it can crash and restart
//! without disturbing the tests sharing the main cluster.

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use sqlx::PgPool;

use crate::percept_binary;

/// How long a server or cluster gets to come up before the test gives up.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// `percept serve` in a child process on a fixed loopback port; killed when
/// dropped.
pub struct ServerProcess {
    port: u16,
    database_url: String,
    child: Option<Child>,
    /// The server's stdout and stderr, shown when it fails to start.
    log: tempfile::NamedTempFile,
    pub http: reqwest::Client,
}

impl ServerProcess {
    /// Serves the database `pool` is connected to (e.g. an `#[sqlx::test]`
    /// database) and waits until `/healthz` answers.
    pub async fn start(pool: &PgPool) -> Self {
        Self::start_with_url(&database_url(pool)).await
    }

    /// Serves the database at `database_url` and waits until `/healthz` answers.
    pub async fn start_with_url(database_url: &str) -> Self {
        let mut server = Self {
            port: free_port(),
            database_url: database_url.to_owned(),
            child: None,
            log: tempfile::NamedTempFile::new().unwrap(),
            http: reqwest::Client::new(),
        };
        server.spawn().await;
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// SIGKILL (`Child::kill` on unix): no graceful shutdown, open requests
    /// and transactions are cut wherever they are.
    pub fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("killing percept serve");
            child.wait().expect("reaping percept serve");
        }
    }

    /// Kills the server if it still runs and starts it again on the same port.
    pub async fn restart(&mut self) {
        self.kill_9();
        self.spawn().await;
    }

    async fn spawn(&mut self) {
        let log = self.log.reopen().unwrap();
        let child = Command::new(percept_binary())
            .args(["serve", "--job-kinds", "generation", "--addr"])
            .arg(format!("127.0.0.1:{}", self.port))
            .env("DATABASE_URL", &self.database_url)
            // Simulated workers answer as fast as the server lets them, all
            // from 127.0.0.1: lift the judgment rate limits (0 turns one off)
            // so that what is tested is durability, not throttling.
            .env("PERCEPT_JUDGMENTS_PER_WORKER_PER_SECOND", "0")
            .env("PERCEPT_JUDGMENTS_PER_IP_PER_SECOND", "0")
            .env("PERCEPT_ASSIGNMENTS_PER_IP_PER_MINUTE", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting percept serve");
        self.child = Some(child);
        self.wait_until_healthy().await;
    }

    async fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let response = self.http.get(self.url("/healthz")).send().await;
            if response.is_ok_and(|response| response.status().is_success()) {
                return;
            }
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "percept serve did not become healthy ({}):\n{}",
                    exited.map_or("timed out".into(), |status| status.to_string()),
                    std::fs::read_to_string(self.log.path()).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A `DATABASE_URL` for the database `pool` connects to. The test clusters
/// trust local connections, so no password is needed.
pub fn database_url(pool: &PgPool) -> String {
    let options = pool.connect_options();
    let user = options.get_username();
    let database = options.get_database().expect("the pool names a database");
    let port = options.get_port();
    match options.get_socket() {
        Some(socket_dir) => format!(
            "postgres://{user}@localhost:{port}/{database}?host={}",
            socket_dir.display()
        ),
        None => format!("postgres://{user}@{}:{port}/{database}", options.get_host()),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A PostgreSQL cluster in a temporary directory, made and run by `percept
/// db start`; stopped and deleted when dropped.
pub struct PrivateCluster {
    data_dir: tempfile::TempDir,
    url: String,
}

impl PrivateCluster {
    pub fn start() -> Self {
        let data_dir = crate::cluster_temp_dir("percept-pg-");
        let url = percept_db(data_dir.path(), "start");
        Self { data_dir, url }
    }

    /// The cluster's `DATABASE_URL` (migrated by `percept db start`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops PostgreSQL as `pg_ctl stop -m MODE` does, by signalling the
    /// postmaster; returns once it is down.
    pub fn stop(&self, mode: Shutdown) {
        let pid_file = self.data_dir.path().join("postgres/postmaster.pid");
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .expect("reading postmaster.pid: is the cluster running?")
            .lines()
            .next()
            .and_then(|line| line.trim().parse().ok())
            .expect("postmaster.pid starts with the postmaster's pid");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), mode.signal())
            .expect("signalling the postmaster");
        // The postmaster removes its pid file last, as pg_ctl relies on.
        wait_for("PostgreSQL to stop", || !pid_file.exists());
    }

    /// Starts the cluster again (recovering from the WAL after an immediate stop).
    pub fn start_again(&self) {
        percept_db(self.data_dir.path(), "start");
    }
}

/// How PostgreSQL goes down.
#[derive(Debug, Clone, Copy)]
pub enum Shutdown {
    /// Like a crash: every backend is cut off without a checkpoint, and the
    /// next start replays the WAL.
    Immediate,
    /// A clean restart: sessions are told the server is shutting down
    /// (57P01), which pooled connections report on their next query.
    Fast,
}

impl Shutdown {
    fn signal(self) -> nix::sys::signal::Signal {
        match self {
            Shutdown::Immediate => nix::sys::signal::Signal::SIGQUIT,
            Shutdown::Fast => nix::sys::signal::Signal::SIGINT,
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        percept_db(self.data_dir.path(), "stop");
    }
}

/// Runs `percept db COMMAND --data-dir DATA_DIR`; returns its output.
fn percept_db(data_dir: &Path, command: &str) -> String {
    let output = Command::new(percept_binary())
        .args(["db", command, "--data-dir"])
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .output()
        .expect("running percept db");
    assert!(
        output.status.success(),
        "percept db {command} failed: {}\nPostgreSQL's log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(data_dir.join("postgres.log")).unwrap_or_default()
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
