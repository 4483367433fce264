//! Shared by the integration tests: where the reference data and the Python
//! venv are, and reproducible test images.

#![allow(dead_code)] // the benches use a different part

mod images;

use std::path::PathBuf;

pub use images::*;

/// `$var`, or `~/.cache/percept/{name}` (where `cargo xtask setup` puts it)
/// when unset.
fn cache_path(var: &str, name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .expect("neither XDG_CACHE_HOME nor HOME is set");
    cache.join("percept").join(name)
}

/// pyiqa 0.1.16's extracted sdist (`PERCEPT_PYIQA_DIR`); missing it is a
/// failure: `cargo xtask setup` fetches it.
pub fn pyiqa_dir() -> PathBuf {
    let dir = cache_path("PERCEPT_PYIQA_DIR", "pyiqa-0.1.16");
    assert!(
        dir.is_dir(),
        "no pyiqa 0.1.16 sdist at {}: run `cargo xtask setup` (or set PERCEPT_PYIQA_DIR)",
        dir.display()
    );
    dir
}

/// The venv's python with piq importable, or `None` after a loud message
/// when there is no venv (`cargo xtask setup` makes it; `cargo xtask test`
/// always has it).
pub fn venv_python(test: &str) -> Option<PathBuf> {
    let python = cache_path("PERCEPT_VENV", "venv").join("bin/python");
    if python.exists() {
        Some(python)
    } else {
        eprintln!(
            "\n*** SKIPPED {test}: no Python venv at {} — run `cargo xtask setup` \
             (or set PERCEPT_VENV); `cargo xtask test` always runs this test ***\n",
            python.display()
        );
        None
    }
}
