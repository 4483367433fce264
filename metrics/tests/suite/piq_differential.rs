//! Conformance 2: piq 0.8 (run from the project's venv by
//! `python/piq_reference.py`) and this crate agree on random and distorted
//! pairs — 64×64 noise and distorted smooth images, and larger and odd sizes
//! that reach MS-SSIM's 161×161 minimum and FSIM's pooling — to 1e-4 for
//! every classic metric.

use crate::common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use image::RgbImage;
use metrics::NativeMetric;

const TOLERANCE: f64 = 1e-4;
const METRICS: [NativeMetric; 5] = [
    NativeMetric::Fsim,
    NativeMetric::Fsimc,
    NativeMetric::MsSsim,
    NativeMetric::Gmsd,
    NativeMetric::Vif,
];

/// 60 noise pairs and 150 distorted smooth images at 64×64, and distorted
/// pairs from 41×41 (VIF's minimum) to 400×390 (FSIM pools by 2), and 20
/// pairs around MS-SSIM's minimum.
fn test_pairs() -> Vec<(RgbImage, RgbImage)> {
    let mut rng = common::Rng::new(18);
    let mut pairs = Vec::new();
    for _ in 0..60 {
        pairs.push((
            common::noise_image(&mut rng, 64, 64),
            common::noise_image(&mut rng, 64, 64),
        ));
    }
    for kind in 0..150 {
        let reference = common::smooth_image(&mut rng, 64, 64);
        let distorted = common::distort(&mut rng, &reference, kind);
        pairs.push((reference, distorted));
    }
    let sizes = [
        (41, 41),
        (48, 80),
        (100, 67),
        (128, 128),
        (161, 161),
        (175, 162),
        (256, 192),
        (203, 240),
        (400, 390),
    ];
    for (kind, (width, height)) in sizes.into_iter().enumerate() {
        let reference = common::smooth_image(&mut rng, width, height);
        let distorted = common::distort(&mut rng, &reference, kind as u64);
        pairs.push((reference, distorted));
    }
    // MS-SSIM's smallest sizes, distorted and noise.
    for kind in 0..16 {
        let reference = common::smooth_image(&mut rng, 161 + kind as u32, 176);
        let distorted = common::distort(&mut rng, &reference, kind);
        pairs.push((reference, distorted));
    }
    for _ in 0..4 {
        pairs.push((
            common::noise_image(&mut rng, 176, 161),
            common::noise_image(&mut rng, 176, 161),
        ));
    }
    pairs
}

/// piq's distances per pair, by metric name (absent where piq refuses).
fn piq_distances(python: &Path, pairs: &[(RgbImage, RgbImage)]) -> Vec<HashMap<String, f64>> {
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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/piq_reference.py");
    let output = Command::new(python)
        .arg(&script)
        .arg("distances")
        .args([&list_path, &out_path])
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "{} failed (is piq==0.8.0 installed? `cargo xtask setup` installs python/requirements.txt): {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&out_path).expect("read piq output");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let rows: Vec<HashMap<String, f64>> = lines
        .map(|line| {
            header
                .iter()
                .zip(line.split(','))
                .skip(2)
                .filter(|(_, value)| !value.is_empty())
                .map(|(name, value)| (name.to_string(), value.parse().expect("number")))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), pairs.len(), "one row per pair");
    rows
}

#[test]
fn classic_metrics_match_piq() {
    let Some(python) = common::venv_python("classic_metrics_match_piq") else {
        return;
    };
    let pairs = test_pairs();
    let reference = piq_distances(&python, &pairs);
    let mut failures = Vec::new();
    for metric in METRICS {
        let (mut largest, mut at, mut compared) = (0.0f64, 0, 0);
        for (i, ((a, b), piq)) in pairs.iter().zip(&reference).enumerate() {
            let ours = metric.distance(a, b);
            match (piq.get(metric.name()), ours) {
                (Some(&theirs), Ok(ours)) => {
                    compared += 1;
                    let difference = (ours - theirs).abs();
                    if !(difference <= largest) {
                        (largest, at) = (difference, i);
                    }
                }
                (None, Err(error)) => {
                    assert!(error.to_string().contains("at least"), "{metric}: {error}")
                }
                (theirs, ours) => panic!(
                    "{metric} on pair {i} ({}x{}): piq {theirs:?}, ours {ours:?}",
                    a.width(),
                    a.height()
                ),
            }
        }
        println!(
            "{metric}: max |ours - piq| = {largest:.3e} over {compared} pairs (pair {at}, {}x{})",
            pairs[at].0.width(),
            pairs[at].0.height()
        );
        if !(largest <= TOLERANCE) {
            failures.push(format!("{metric}: pair {at} differs by {largest}"));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}
