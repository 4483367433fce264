//! DISTS against piq 0.8's (`python/dists_piq.py`, loaded with the same
//! converted weights) on 126 random and distorted pairs from 16×16 to
//! 256×192: to 1e-5 (measured 1.45e-6: the features are float32 on both
//! sides, the statistics float64 here and float32 in piq); sizes stay at most 256 on the
//! shorter side, past which piq resizes first (see `lpips::dists`).

use crate::common;

use std::path::Path;
use std::process::Command;

use image::RgbImage;
use lpips::{Dists, Pair, Scorer};

const TOLERANCE: f64 = 1e-5;

fn test_pairs() -> Vec<(RgbImage, RgbImage)> {
    let mut rng = common::Rng::new(20);
    let mut pairs = Vec::new();
    for _ in 0..40 {
        pairs.push((
            common::noise_image(&mut rng, 64, 64),
            common::noise_image(&mut rng, 64, 64),
        ));
    }
    for kind in 0..80 {
        let reference = common::smooth_image(&mut rng, 64, 64);
        let distorted = common::distort(&mut rng, &reference, kind);
        pairs.push((reference, distorted));
    }
    let sizes = [
        (16, 16),
        (31, 33),
        (48, 80),
        (100, 67),
        (128, 128),
        (256, 192),
    ];
    for (kind, (width, height)) in sizes.into_iter().enumerate() {
        let reference = common::smooth_image(&mut rng, width, height);
        let distorted = common::distort(&mut rng, &reference, kind as u64);
        pairs.push((reference, distorted));
    }
    pairs
}

/// piq's DISTS of each pair.
fn piq_distances(pairs: &[(RgbImage, RgbImage)]) -> Vec<f64> {
    let python = common::env_dir("PERCEPT_VENV").join("bin/python");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut list = String::new();
    for (i, (a, b)) in pairs.iter().enumerate() {
        let (a_path, b_path) = (
            dir.path().join(format!("{i}a.png")),
            dir.path().join(format!("{i}b.png")),
        );
        a.save(&a_path).expect("write png");
        b.save(&b_path).expect("write png");
        list += &format!("{},{}\n", a_path.display(), b_path.display());
    }
    let (list_path, out_path) = (dir.path().join("pairs.csv"), dir.path().join("piq.csv"));
    std::fs::write(&list_path, list).expect("write pair list");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/dists_piq.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg("distances")
        .args([&common::weights_dir(), &list_path, &out_path])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "piq DISTS failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(&out_path)
        .expect("piq output")
        .lines()
        .skip(1)
        .map(|line| line.rsplit(',').next().unwrap().parse().expect("number"))
        .collect()
}

#[test]
fn dists_matches_piq() {
    let pairs = test_pairs();
    let reference = piq_distances(&pairs);
    assert_eq!(reference.len(), pairs.len());
    let scorer =
        Scorer::new(Dists::from_weights_dir(&common::weights_dir()).expect("DISTS weights"));
    let patches: Vec<RgbImage> = pairs
        .iter()
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    let comparisons: Vec<Pair> = (0..pairs.len())
        .map(|i| Pair {
            p0: 2 * i,
            p1: 2 * i + 1,
        })
        .collect();
    let ours = scorer.score_pairs(&patches, &comparisons).expect("scoring");
    let (worst, at) = ours
        .iter()
        .zip(&reference)
        .enumerate()
        .map(|(i, (o, r))| ((f64::from(*o) - r).abs(), i))
        .fold(
            (0.0, 0),
            |w, c| if c.0 > w.0 || c.0.is_nan() { c } else { w },
        );
    eprintln!(
        "DISTS vs piq on {} pairs: largest difference {worst:.2e} (pair {at})",
        pairs.len()
    );
    assert!(
        worst <= TOLERANCE,
        "pair {at}: ours {}, piq {}",
        ours[at],
        reference[at]
    );
    // One at a time gives what the batches give.
    let single = scorer.model().distance(&pairs[at].0, &pairs[at].1).unwrap();
    assert!((f64::from(single) - f64::from(ours[at])).abs() < 1e-6);
}

#[test]
fn dists_of_identical_images_is_zero_and_sizes_must_match() {
    let model = Dists::from_weights_dir(&common::weights_dir()).expect("DISTS weights");
    let mut rng = common::Rng::new(3);
    let image = common::smooth_image(&mut rng, 40, 40);
    // Not exactly 0: α and β, normalised by their sum in float32, sum to 1
    // only up to rounding (the official module's float32 statistics add
    // more: its covariance E[xy] − μxμy and variances E[(x − μ)²] differ).
    let self_distance = model.distance(&image, &image).unwrap();
    assert!(self_distance.abs() < 1e-4, "{self_distance}");
    let other = common::smooth_image(&mut rng, 40, 41);
    let error = model.distance(&image, &other).unwrap_err().to_string();
    assert!(
        error.contains("40x40") && error.contains("40x41"),
        "{error}"
    );
}
