//! Building the site: the hydration bundles (wasm + js, in `static/pkg`) and the
//! percept binary, which embeds them (so it is built after them).

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

/// The hydration bundles, by output name, with the app crate's features
/// each is built with: `worker`, which the crowd worker's pages load, has
/// only their routes (a worker downloads no dashboard code); `app` has every
/// page. `app::bundle_for` says which page loads which.
pub const BUNDLES: [(&str, &str); 2] = [("app", "hydrate,researcher"), ("worker", "hydrate")];

/// The app crate built for the browser, for size (the `wasm-release`
/// profile), once per bundle of [`BUNDLES`], then wasm-bindgen'd into the
/// files Leptos' hydration script loads (`static/pkg/NAME.js` and
/// `NAME_bg.wasm`), shrunk by wasm-opt, and precompressed (`.br`, `.gz`) with
/// the CSS for the server to embed and send as is.
fn wasm_bundle() -> Result {
    let root = workspace_root().join("static");
    let bundle = root.join("pkg");
    let mut assets = vec![root.join("percept.css")];
    for (name, features) in BUNDLES {
        step(&format!("hydration bundle static/pkg/{name}.js"), false);
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
            features,
        ]))?;
        // Both builds write app.wasm: keep each one's, and redo the rest
        // only when it changed.
        let built = target_dir().join("wasm32-unknown-unknown/wasm-release");
        let wasm = fs::read(built.join("app.wasm"))
            .map_err(|error| format!("cannot read the built app.wasm: {error}"))?;
        let kept = built.join(format!("bundle-{name}.wasm"));
        let js = bundle.join(format!("{name}.js"));
        let optimised = bundle.join(format!("{name}_bg.wasm"));
        if fs::read(&kept).ok().as_ref() != Some(&wasm) || !js.exists() || !optimised.exists() {
            fs::write(&kept, &wasm)
                .map_err(|error| format!("cannot write {}: {error}", kept.display()))?;
            run(Command::new("wasm-bindgen")
                .args([
                    "--target",
                    "web",
                    "--no-typescript",
                    "--out-name",
                    name,
                    "--out-dir",
                ])
                .arg(&bundle)
                .arg(&kept))?;
            let shrunk = bundle.join(format!("{name}_bg.opt.wasm"));
            run(Command::new(setup::wasm_opt()?)
                .args(["-Oz", "--strip-debug", "--strip-producers"])
                .args(WASM_FEATURES)
                .arg(&optimised)
                .arg("-o")
                .arg(&shrunk))?;
            fs::rename(&shrunk, &optimised)
                .map_err(|error| format!("cannot replace {}: {error}", optimised.display()))?;
        }
        assets.extend([js, optimised]);
    }
    let modified = |path: &PathBuf| fs::metadata(path).and_then(|meta| meta.modified()).ok();
    let compressed = |asset: &PathBuf, extension: &str| {
        let mut name = asset.clone().into_os_string();
        name.push(extension);
        PathBuf::from(name)
    };
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
