//! `percept distance`: the one-off command for any metric of the catalogue,
//! run as a whole process on PNG files.

use std::path::Path;
use std::process::{Command, Output};

use distortions::image::{Rgb, RgbImage};
use metrics::NativeMetric;
use percept_tests::percept_binary;

fn percept_distance(args: &[&str]) -> Output {
    Command::new(percept_binary())
        .arg("distance")
        .args(args)
        .output()
        .expect("running percept distance")
}

fn patch(seed: u32) -> RgbImage {
    RgbImage::from_fn(64, 64, |x, y| {
        let v = (x * 3 + y * 5 + seed * ((x * y) % 7)) % 256;
        Rgb([v as u8, (255 - v) as u8, ((v * 7) % 256) as u8])
    })
}

fn save(image: &RgbImage, path: &Path) -> String {
    image.save(path).expect("write png");
    path.display().to_string()
}

#[test]
fn prints_every_metric_as_json_and_as_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (patch(1), patch(2));
    let (a_path, b_path) = (
        save(&a, &dir.path().join("a.png")),
        save(&b, &dir.path().join("b.png")),
    );
    let names = [
        "gmsd",
        "fsimc",
        "vif",
        "ssim-rgb",
        "psnr",
        "dists",
        "lpips-alex",
    ];
    let mut args = vec![a_path.as_str(), b_path.as_str(), "--json"];
    for name in names {
        args.extend(["--metric", name]);
    }
    let output = percept_distance(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(json.len(), names.len(), "{json:?}");
    for name in ["gmsd", "fsimc", "vif", "ssim-rgb", "psnr"] {
        let native: NativeMetric = name.parse().unwrap();
        assert_eq!(
            json[name].as_f64(),
            Some(native.distance(&a, &b).unwrap()),
            "{name}"
        );
    }
    let weights = lpips::Dists::from_weights_dir(&weights_dir()).unwrap();
    let dists = f64::from(weights.distance(&a, &b).unwrap());
    assert!(
        (json["dists"].as_f64().unwrap() - dists).abs() < 1e-6,
        "{json:?} vs {dists}"
    );
    assert!(json["lpips-alex"].as_f64().unwrap() > 0.0);

    // Without --json: one `name<TAB>distance` line per metric, in order.
    let output = percept_distance(&[&a_path, &a_path, "--metric", "gmsd", "--metric", "psnr"]);
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "gmsd\t0\npsnr\t-inf\n"
    );
}

#[test]
fn refuses_what_a_metric_cannot_score_and_unknown_names() {
    let dir = tempfile::tempdir().unwrap();
    let a_path = save(&patch(1), &dir.path().join("a.png"));
    let output = percept_distance(&[&a_path, &a_path, "--metric", "ms-ssim"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("64x64") && stderr.contains("161x161"),
        "{stderr}"
    );

    let output = percept_distance(&[&a_path, &a_path, "--metric", "ssim"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("unknown metric \"ssim\"") && stderr.contains("ssim-rgb"),
        "{stderr}"
    );

    let output = percept_distance(&[&a_path, &a_path]);
    assert!(!output.status.success(), "--metric is required");
}

/// Where the binary looks: `PERCEPT_WEIGHTS_DIR`, else the cache.
fn weights_dir() -> std::path::PathBuf {
    std::env::var_os("PERCEPT_WEIGHTS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| server::scoring::default_weights_dir().unwrap())
}
