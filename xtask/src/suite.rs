//! `cargo xtask test`: the whole suite against a private PostgreSQL cluster.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    process::Command,
};

use crate::{
    build::{self, cargo, target_dir},
    cache::Cache,
    process::{output, run, step, Result},
    setup, workspace_root,
};

pub fn run_test_suite(cargo_test_args: &[String]) -> Result {
    setup::everything(setup::Purpose::Test)?;
    build::all()?;
    let database = TestDatabase::start("test")?;
    let result = check_query_metadata(&database.url).and_then(|_| {
        step("cargo test --workspace", false);
        run(cargo()
            .args(["test", "--workspace"])
            .args(cargo_test_args)
            .env("DATABASE_URL", &database.url))
    });
    database.stop()?;
    result
}

/// `cargo sqlx prepare --check`: fails if a query changed without its
/// committed `.sqlx` metadata (which is what lets builds skip the database).
fn check_query_metadata(database_url: &str) -> Result {
    step("sqlx query metadata (.sqlx) is up to date", false);
    run(cargo()
        .args(["sqlx", "prepare", "--workspace", "--check"])
        .env_remove("SQLX_OFFLINE")
        .env("DATABASE_URL", database_url))
}

/// A private cluster for the test run, in the temp directory (which the
/// `postgres` user can reach even when the clone sits under `/root`). Each
/// test makes its own database in it.
pub struct TestDatabase {
    data_dir: String,
    pub url: String,
}

impl TestDatabase {
    /// `purpose` names the cluster (`test`, or a bench's), so a bench never
    /// fills the test cluster.
    pub fn start(purpose: &str) -> Result<Self> {
        // One cluster per checkout, so two clones can run their suites at once.
        let mut checkout = DefaultHasher::new();
        workspace_root()
            .canonicalize()
            .unwrap_or_else(|_| workspace_root())
            .hash(&mut checkout);
        let data_dir = format!(
            "{}/percept-{purpose}-db-{:016x}",
            std::env::temp_dir().display(),
            checkout.finish()
        );
        step(&format!("test database in {data_dir}"), false);
        let url = output(percept().args(["db", "start", "--data-dir", &data_dir]))?;
        Ok(Self { data_dir, url })
    }

    pub fn stop(self) -> Result {
        run(percept().args(["db", "stop", "--data-dir", &self.data_dir]))
    }
}

pub fn percept() -> Command {
    let mut command = Command::new(target_dir().join("debug/percept"));
    if let Ok(env) = Cache::locate().and_then(|cache| cache.runtime_env()) {
        command.envs(env);
    }
    command
}
