//! Records libtorch's directory in the `percept` binary (an rpath) so that it
//! runs without LD_LIBRARY_PATH; `cargo xtask` sets LIBTORCH for every build.
//! Also rebuilds the crate when a migration changes: `sqlx::migrate!` embeds
//! them, but cargo does not know to watch that folder.
//!
//! And embeds the site's static files (`static/`: the CSS, and the hydration
//! bundle with its precompressed copies that `cargo xtask build` makes before
//! it builds this crate), so that `percept serve` runs from any folder. The
//! crate is rebuilt whenever anything under `static/` changes.
use std::{fmt::Write, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{libtorch}/lib");
    }
    embed_static_files();
}

/// Writes `$OUT_DIR/static_files.rs`: `EMBEDDED`, every file under `static/`
/// as (path relative to `static/`, bytes), for `http::static_files`.
fn embed_static_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../static");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let mut source = String::from("pub static EMBEDDED: &[(&str, &[u8])] = &[\n");
    for (relative, absolute) in &files {
        writeln!(source, "    ({relative:?}, include_bytes!({absolute:?})),").unwrap();
    }
    source.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("static_files.rs");
    fs::write(out, source).unwrap();
    let bundled = |name: &str| files.iter().any(|(relative, _)| relative == name);
    let bundle = ["app.js", "app_bg.wasm", "worker.js", "worker_bg.wasm"];
    if !bundle.iter().all(|name| bundled(&format!("pkg/{name}"))) {
        // Not an error, so that `cargo check`/`clippy` work in a fresh
        // clone; the binary refuses to serve without a bundle (see
        // `StaticFiles::require_bundle`).
        println!(
            "cargo:warning=static/pkg lacks a hydration bundle (app.js, app_bg.wasm, worker.js, worker_bg.wasm): this \
             percept binary will refuse to serve; build with `cargo xtask build`, which \
             builds the bundle first"
        );
    }
}

fn collect(root: &Path, folder: &Path, files: &mut Vec<(String, String)>) {
    let Ok(entries) = fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if !path.to_string_lossy().ends_with(".d.ts") {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let absolute = path.canonicalize().unwrap().to_string_lossy().into_owned();
            files.push((relative, absolute));
        }
    }
}
