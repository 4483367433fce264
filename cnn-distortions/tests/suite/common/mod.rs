//! Shared by the integration tests: the demo photos `cargo xtask test` sets
//! up, patches cut from them, and a small bank built once per test binary.

#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;

use cnn_distortions::{Bank, BuildOptions, BuildProgress, SpecSampler};
use distortions::image::{self, imageops, RgbImage};

/// A directory named by `var`, which `cargo xtask test` sets up; missing it
/// is a failure, not a skip.
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

/// The demo photos, sorted by file name.
pub fn demo_photos() -> Vec<RgbImage> {
    let dir = env_dir("PERCEPT_DEMO_PHOTOS");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the demo photos folder lists")
        .map(|entry| entry.expect("a readable entry").path())
        .collect();
    paths.sort();
    let photos: Vec<RgbImage> = paths
        .iter()
        .filter_map(|path| image::open(path).ok())
        .map(|photo| photo.into_rgb8())
        .collect();
    assert!(!photos.is_empty(), "no photos in {}", dir.display());
    photos
}

/// `count` `side`×`side` patches spread over the photos, the same every run.
pub fn patches(photos: &[RgbImage], count: usize, side: u32) -> Vec<RgbImage> {
    (0..count)
        .map(|index| {
            let photo = &photos[index % photos.len()];
            let step = index / photos.len();
            let x = (37 + 89 * step as u32) % (photo.width() - side);
            let y = (53 + 61 * step as u32) % (photo.height() - side);
            imageops::crop_imm(photo, x, y, side, side).to_image()
        })
        .collect()
}

/// Builds `count` networks of seed `seed` training `iterations` steps each
/// into a fresh temporary folder.
pub fn build_bank(
    count: u32,
    seed: u64,
    iterations: std::ops::RangeInclusive<u32>,
) -> (tempfile::TempDir, Bank) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let options = BuildOptions {
        count,
        seed,
        sampler: SpecSampler::with_iterations(iterations).expect("a valid range"),
    };
    let bank = Bank::build(dir.path(), &options, &demo_photos(), |progress| {
        eprintln!("{}", progress_line(progress))
    })
    .expect("the bank builds");
    (dir, bank)
}

/// One line about a network a build has kept or trained.
pub fn progress_line(progress: &BuildProgress) -> String {
    let record = progress.record;
    format!(
        "{:>2}/{} {} {:<22} {:>3} iterations  loss {:.4}  {:>5.1} s{}",
        progress.done,
        progress.count,
        record.id,
        record.spec.task_name(),
        record.spec.learning.iterations,
        record.training_loss,
        record.training_seconds,
        if progress.trained { "" } else { "  (kept)" }
    )
}
