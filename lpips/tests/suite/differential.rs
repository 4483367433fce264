//! Conformance 2: the official `lpips` package (run from the project's venv,
//! its backbone loaded from the converted weights) and this crate agree on
//! random and distorted pairs: LPIPS to 1e-5 for alex and vgg, with and
//! without lin, the spatial map, and the L2/DSSIM/PSNR baselines of the
//! `metrics` crate as the official harness computes them.

use crate::common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use image::RgbImage;
use lpips::{Net, Pair, Scorer, Weighting};
use metrics::baselines::{dssim, l2, psnr, ColorSpace};

const LPIPS_TOLERANCE: f64 = 1e-5;

struct Case {
    a: RgbImage,
    b: RgbImage,
    /// The official package's outputs, by column name.
    official: HashMap<String, f64>,
}

/// 100 noise pairs and 120 distorted smooth images at 64×64, and distorted
/// pairs at other sizes down to alex's minimum.
fn test_images() -> Vec<(RgbImage, RgbImage)> {
    let mut rng = common::Rng::new(7);
    let mut pairs = Vec::new();
    for _ in 0..100 {
        pairs.push((
            common::noise_image(&mut rng, 64, 64),
            common::noise_image(&mut rng, 64, 64),
        ));
    }
    for kind in 0..120 {
        let reference = common::smooth_image(&mut rng, 64, 64);
        let distorted = common::distort(&mut rng, &reference, kind);
        pairs.push((reference, distorted));
    }
    for (kind, (width, height)) in [(31, 31), (48, 80), (100, 67), (128, 128), (256, 192)]
        .into_iter()
        .enumerate()
    {
        let reference = common::smooth_image(&mut rng, width, height);
        let distorted = common::distort(&mut rng, &reference, kind as u64);
        pairs.push((reference, distorted));
    }
    pairs
}

/// Runs `python/lpips_official.py distances` once for all tests here.
fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let python = common::env_dir("PERCEPT_VENV").join("bin/python");
        let weights_dir = common::weights_dir();
        let dir = tempfile::tempdir().expect("temp dir");
        let images = test_images();
        let mut list = String::new();
        for (i, (a, b)) in images.iter().enumerate() {
            let (a_path, b_path) = (
                dir.path().join(format!("{i}a.png")),
                dir.path().join(format!("{i}b.png")),
            );
            a.save(&a_path).expect("write png");
            b.save(&b_path).expect("write png");
            list += &format!("{},{}\n", a_path.display(), b_path.display());
        }
        let (list_path, out_path) = (
            dir.path().join("pairs.csv"),
            dir.path().join("official.csv"),
        );
        std::fs::write(&list_path, list).expect("write pair list");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/lpips_official.py");
        let output = Command::new(&python)
            .arg(&script)
            .arg("distances")
            .args([&weights_dir, &list_path, &out_path])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        assert!(
            output.status.success(),
            "official lpips failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = std::fs::read_to_string(&out_path).expect("official output");
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().expect("header").split(',').collect();
        let rows: Vec<HashMap<String, f64>> = lines
            .map(|line| {
                header
                    .iter()
                    .zip(line.split(','))
                    .skip(2) // the two paths
                    .map(|(name, value)| (name.to_string(), value.parse().expect("number")))
                    .collect()
            })
            .collect();
        assert_eq!(rows.len(), images.len(), "one official row per pair");
        images
            .into_iter()
            .zip(rows)
            .map(|((a, b), official)| Case { a, b, official })
            .collect()
    })
}

/// The largest |ours - official| for `column`, with the case where it occurs.
fn max_difference(column: &str, ours: impl IntoIterator<Item = f64>) -> (f64, usize) {
    cases()
        .iter()
        .zip(ours)
        .enumerate()
        .map(|(i, (case, ours))| ((ours - case.official[column]).abs(), i))
        .fold((0.0, 0), |worst, current| {
            if current.0 > worst.0 || current.0.is_nan() {
                current
            } else {
                worst
            }
        })
}

#[test]
fn lpips_matches_official_for_alex_and_vgg_with_and_without_lin() {
    let cases = cases();
    assert!(
        cases
            .iter()
            .filter(|c| c.a.dimensions() == (64, 64))
            .count()
            >= 200
    );
    let patches: Vec<RgbImage> = cases
        .iter()
        .flat_map(|c| [c.a.clone(), c.b.clone()])
        .collect();
    let pairs: Vec<Pair> = (0..cases.len())
        .map(|i| Pair {
            p0: 2 * i,
            p1: 2 * i + 1,
        })
        .collect();
    for net in Net::ALL {
        for (weighting, suffix) in [(Weighting::Lin, "lin"), (Weighting::ChannelSum, "sum")] {
            let column = format!("{net}_{suffix}");
            let scorer = Scorer::new(common::model(net, weighting));
            let ours = scorer.score_pairs(&patches, &pairs).expect("scoring");
            let (difference, case) = max_difference(&column, ours.iter().map(|&d| f64::from(d)));
            println!("{column}: max |ours - official| = {difference:.3e}");
            assert!(
                difference <= LPIPS_TOLERANCE,
                "{column}: pair {case} differs by {difference} (ours {}, official {})",
                ours[case],
                cases[case].official[&column]
            );
        }
    }
}

#[test]
fn spatial_map_matches_official() {
    let model = common::model(Net::Alex, Weighting::Lin);
    let maps: Vec<(f64, f64)> = cases()
        .iter()
        .map(|case| {
            let map = model.distance_map(&case.a, &case.b).expect("distance map");
            assert_eq!((map.width, map.height), case.a.dimensions());
            assert_eq!(map.values.len(), (map.width * map.height) as usize);
            let sum: f64 = map.values.iter().map(|&v| f64::from(v)).sum();
            let max = map.values.iter().copied().fold(f32::MIN, f32::max);
            (sum / map.values.len() as f64, f64::from(max))
        })
        .collect();
    for (column, ours) in [
        (
            "alex_lin_map_mean",
            maps.iter().map(|m| m.0).collect::<Vec<_>>(),
        ),
        ("alex_lin_map_max", maps.iter().map(|m| m.1).collect()),
    ] {
        let (difference, case) = max_difference(column, ours);
        println!("{column}: max |ours - official| = {difference:.3e}");
        assert!(
            difference <= LPIPS_TOLERANCE,
            "{column}: pair {case} differs by {difference}"
        );
    }
}

#[test]
fn baselines_match_official() {
    type Baseline = fn(&RgbImage, &RgbImage) -> f64;
    // The official harness returns its baselines as float32 tensors.
    let baselines: [(&str, Baseline, f64); 5] = [
        ("l2_rgb", |a, b| l2(a, b, ColorSpace::Rgb).unwrap(), 1e-7),
        ("l2_lab", |a, b| l2(a, b, ColorSpace::Lab).unwrap(), 1e-7),
        (
            "dssim_rgb",
            |a, b| dssim(a, b, ColorSpace::Rgb).unwrap(),
            1e-7,
        ),
        // The harness's Lab SSIM goes through float32 colour conversion:
        // 5.7e-7 apart at most here, inside the 1e-6 the issue asks for.
        (
            "dssim_lab",
            |a, b| dssim(a, b, ColorSpace::Lab).unwrap(),
            1e-6,
        ),
        ("psnr", |a, b| psnr(a, b).unwrap(), 1e-9),
    ];
    for (column, baseline, tolerance) in baselines {
        let (difference, case) =
            max_difference(column, cases().iter().map(|c| baseline(&c.a, &c.b)));
        println!("{column}: max |ours - official| = {difference:.3e}");
        assert!(
            difference <= tolerance,
            "{column}: pair {case} differs by {difference}"
        );
    }
}
