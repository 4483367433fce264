//! Shared by the integration tests: the environment `cargo xtask test`
//! provides, and reproducible test images.

#![allow(dead_code, unused_imports)] // each test binary uses a different part

use std::path::PathBuf;

use lpips::{Lpips, Net, Weighting};

/// A directory named by `var`, which `cargo xtask test` sets up; missing it is
/// a failure, not a skip.
pub fn env_dir(var: &str) -> PathBuf {
    let dir = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{var} is not set: run `cargo xtask test`, which downloads and sets it up")
    });
    assert!(
        dir.is_dir(),
        "{var}={} is not a directory: run `cargo xtask test`",
        dir.display()
    );
    dir
}

pub fn weights_dir() -> PathBuf {
    env_dir("PERCEPT_WEIGHTS_DIR")
}

pub fn model(net: Net, weighting: Weighting) -> Lpips {
    Lpips::from_weights_dir(net, weighting, &weights_dir()).expect("converted weights load")
}

#[path = "../../../metrics/tests/common/images.rs"]
mod images;
pub use images::*;
