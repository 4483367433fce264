//! Building the site: the hydration bundle (wasm + js, in `static/pkg`) and the percept binary.

use std::{fs, os::unix::process::CommandExt, path::PathBuf, process::Command};

use crate::{
    cache::Cache,
    process::{run, step, Result},
    setup, workspace_root,
};

pub fn all() -> Result {
    wasm_bundle()?;
    step("percept binary", false);
    run(cargo().args(["build", "--package", "server"]))
}

/// Sets up, builds, and replaces this process with `percept demo` (so Ctrl-C
/// reaches the server, which then shuts the private database down cleanly).
pub fn demo(serve_args: &[String]) -> Result {
    setup::everything(setup::Purpose::Demo)?;
    all()?;
    let cache = Cache::locate()?;
    let error = Command::new(target_dir().join("debug/percept"))
        .arg("demo")
        .arg("--images")
        .arg(cache.demo_photos())
        .args(serve_args)
        .envs(cache.runtime_env()?)
        .current_dir(workspace_root())
        .exec();
    Err(format!("cannot start percept: {error}"))
}

/// `cargo` with the environment every build here needs: libtorch for tch, and
/// the committed sqlx query metadata instead of a live database.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(workspace_root())
        .env("SQLX_OFFLINE", "true");
    if let Ok(env) = Cache::locate().and_then(|cache| cache.runtime_env()) {
        command.envs(env);
    }
    command
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The app crate built for the browser, then wasm-bindgen'd into the files
/// Leptos' hydration script loads: `static/pkg/app.js` and `app_bg.wasm`.
fn wasm_bundle() -> Result {
    step("hydration bundle (static/pkg)", false);
    run(cargo().args([
        "build",
        "--package",
        "app",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
        "--no-default-features",
        "--features",
        "hydrate",
    ]))?;
    let wasm = target_dir().join("wasm32-unknown-unknown/debug/app.wasm");
    let bundle = workspace_root().join("static/pkg");
    let modified = |path: &PathBuf| fs::metadata(path).and_then(|meta| meta.modified()).ok();
    if modified(&bundle.join("app_bg.wasm")) >= modified(&wasm) && bundle.join("app.js").exists() {
        return Ok(());
    }
    run(Command::new("wasm-bindgen")
        .args(["--target", "web", "--out-name", "app", "--out-dir"])
        .arg(&bundle)
        .arg(&wasm))
}
