//! `cargo xtask bench-bundle`: bytes and time to an answerable first trial
//! for a crowd worker on a throttled phone (`tests/examples/bench_bundle.rs`),
//! for the bundle `cargo xtask build` makes (wasm-release, wasm-opt,
//! precompressed) against the one the README's commands served before: the
//! debug build of the app, sent uncompressed.

use std::{fs, process::Command};

use crate::{
    build::{self, cargo, target_dir},
    process::{run, step, Result},
    setup,
    suite::TestDatabase,
    workspace_root,
};

pub fn run_bench() -> Result {
    setup::everything(setup::Purpose::Test)?;
    build::all()?;
    let before = debug_bundle()?;
    let database = TestDatabase::start("bundle-bench")?;
    step("bundle bench (headless Chromium, throttled phone)", false);
    let bundles = format!(
        "debug, uncompressed (before)={};wasm-release, wasm-opt, br (after)={}",
        before.display(),
        workspace_root().join("static").display()
    );
    let result = run(cargo()
        .args([
            "run",
            "--quiet",
            "--package",
            "percept-tests",
            "--example",
            "bench_bundle",
        ])
        .env("DATABASE_URL", &database.url)
        .env("PERCEPT_BENCH_BUNDLES", bundles));
    database.stop()?;
    result
}

/// The app built for the browser as it was before the size profile: the
/// dev profile with the app unoptimised, every page in one bundle,
/// wasm-bindgen'd, no compressed copies.
fn debug_bundle() -> Result<std::path::PathBuf> {
    step("debug hydration bundle (for comparison)", false);
    run(cargo().args([
        "build",
        "--package",
        "app",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
        "--no-default-features",
        "--features",
        "hydrate,researcher",
        "--config",
        "profile.dev.package.app.opt-level=0",
    ]))?;
    let folder = target_dir().join("bench-bundle/debug");
    let _ = fs::remove_dir_all(&folder);
    fs::create_dir_all(folder.join("pkg"))
        .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
    fs::copy(
        workspace_root().join("static/percept.css"),
        folder.join("percept.css"),
    )
    .map_err(|error| format!("cannot copy percept.css: {error}"))?;
    // Before, every page loaded the one bundle with every page in it.
    for (name, _) in build::BUNDLES {
        run(Command::new("wasm-bindgen")
            .args([
                "--target",
                "web",
                "--no-typescript",
                "--out-name",
                name,
                "--out-dir",
            ])
            .arg(folder.join("pkg"))
            .arg(target_dir().join("wasm32-unknown-unknown/debug/app.wasm")))?;
    }
    Ok(folder)
}
