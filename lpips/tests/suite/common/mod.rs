//! Shared by the integration tests: the environment `cargo xtask test`
//! provides, and reproducible test images.

use std::path::PathBuf;

use image::RgbImage;
use lpips::training::JudgedTriplet;
use lpips::{Lpips, Net, Scorer, Triplet, Weighting};

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

/// The number after `"key": ` in a child's JSON output.
pub fn json_number(text: &str, key: &str) -> f64 {
    let start = text
        .find(&format!("\"{key}\": "))
        .unwrap_or_else(|| panic!("no {key:?} in {text:?}"))
        + key.len()
        + 4;
    text[start..]
        .split([',', '}', '\n'])
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {text:?}"))
}

#[path = "../../../../metrics/tests/suite/common/images.rs"]
mod images;
pub use images::*;

/// `count` 64×64 triplets of a smooth reference and two distortions of it,
/// judged by five simulated observers who follow `observer`'s distances with
/// multiplicative Gaussian noise of relative size `noise`; the judge is the
/// share preferring p1.
pub fn observed_triplets(
    rng: &mut Rng,
    observer: &Scorer,
    count: usize,
    noise: f64,
) -> (Vec<RgbImage>, Vec<JudgedTriplet>) {
    let mut patches = Vec::new();
    let mut layout = Vec::new();
    for _ in 0..count {
        let reference = smooth_image(rng, 64, 64);
        let (kind0, kind1) = (rng.below(4), rng.below(4));
        let p0 = distort(rng, &reference, kind0);
        let p1 = distort(rng, &reference, kind1);
        let base = patches.len();
        patches.extend([reference, p0, p1]);
        layout.push(Triplet {
            reference: base,
            p0: base + 1,
            p1: base + 2,
        });
    }
    let distances = observer.score_triplets(&patches, &layout).expect("scoring");
    let judged = layout
        .into_iter()
        .zip(distances)
        .map(|(triplet, d)| {
            // Irwin–Hall: a cheap, reproducible standard normal.
            let mut gaussian = || (0..12).map(|_| rng.unit()).sum::<f64>() - 6.0;
            let votes = (0..5)
                .filter(|_| {
                    let d0 = f64::from(d.d0) * (1.0 + noise * gaussian());
                    let d1 = f64::from(d.d1) * (1.0 + noise * gaussian());
                    d1 < d0
                })
                .count();
            JudgedTriplet {
                triplet,
                judge: votes as f32 / 5.0,
            }
        })
        .collect();
    (patches, judged)
}
