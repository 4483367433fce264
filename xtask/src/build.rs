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

/// The app crate built for the browser, for size (the `wasm-release`
/// profile), then wasm-bindgen'd into the files Leptos' hydration script
/// loads, `static/pkg/app.js` and `app_bg.wasm`, shrunk by wasm-opt, and
/// precompressed (`.br`, `.gz`) with the CSS for the server to send as is.
fn wasm_bundle() -> Result {
    step("hydration bundle (static/pkg)", false);
    run(cargo().args([
        "build",
        "--package",
        "app",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "wasm-release",
        "--no-default-features",
        "--features",
        "hydrate",
    ]))?;
    let wasm = target_dir().join("wasm32-unknown-unknown/wasm-release/app.wasm");
    let root = workspace_root().join("static");
    let bundle = root.join("pkg");
    let assets = [
        bundle.join("app.js"),
        bundle.join("app_bg.wasm"),
        root.join("percept.css"),
    ];
    let modified = |path: &PathBuf| fs::metadata(path).and_then(|meta| meta.modified()).ok();
    let compressed = |asset: &PathBuf, extension: &str| {
        let mut name = asset.clone().into_os_string();
        name.push(extension);
        PathBuf::from(name)
    };
    if modified(&bundle.join("app_bg.wasm")) < modified(&wasm) || !bundle.join("app.js").exists() {
        run(Command::new("wasm-bindgen")
            .args(["--target", "web", "--out-name", "app", "--out-dir"])
            .arg(&bundle)
            .arg(&wasm))?;
        let optimised = bundle.join("app_bg.opt.wasm");
        run(Command::new(setup::wasm_opt()?)
            .args(["-Oz", "--strip-debug", "--strip-producers"])
            .args(WASM_FEATURES)
            .arg(bundle.join("app_bg.wasm"))
            .arg("-o")
            .arg(&optimised))?;
        fs::rename(&optimised, bundle.join("app_bg.wasm"))
            .map_err(|error| format!("cannot replace app_bg.wasm: {error}"))?;
    }
    for asset in &assets {
        for (extension, command) in [
            (".br", ["brotli", "--best", "--force", "--keep"]),
            (".gz", ["gzip", "--best", "--force", "--keep"]),
        ] {
            if modified(&compressed(asset, extension)) >= modified(asset) {
                continue;
            }
            run(Command::new(command[0]).args(&command[1..]).arg(asset))?;
        }
    }
    Ok(())
}

/// The WebAssembly features rustc's wasm32 target emits by default, which
/// wasm-opt must accept (and every browser the workers use supports).
const WASM_FEATURES: [&str; 6] = [
    "--enable-bulk-memory",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-reference-types",
    "--enable-multivalue",
];
