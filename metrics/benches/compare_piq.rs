//! Pair throughput of this crate against piq 0.8, in one run on the same
//! pairs: 64×64 (BAPPS patches) for every metric but MS-SSIM, which needs
//! 161×161 and runs at 192×192 on both sides.
//!
//! ```text
//! cargo bench -p metrics --bench compare_piq
//! ```
//!
//! Needs the venv with piq (`PERCEPT_VENV`, default `~/.cache/percept/venv`).
//! Both sides run on one thread (piq: `torch.set_num_threads(1)`), piq at
//! each of several batch sizes, of which the best counts. Each figure is the
//! best of three rounds, in pairs per second of wall clock and of the
//! process's CPU time: on a shared machine the load changes between the two
//! sides' runs, and CPU time is what stays comparable, so the ratio is taken
//! on it.

#[path = "../tests/suite/common/images.rs"]
#[allow(dead_code)] // the bench needs only smooth images
mod images;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use image::RgbImage;
use metrics::NativeMetric;

const ROUNDS: usize = 3;
const PIQ_BATCHES: &str = "1,8,32,128";

struct Case {
    metric: NativeMetric,
    side: u32,
    our_pairs: usize,
    piq_pairs: usize,
}

fn cases() -> Vec<Case> {
    let case = |metric, side, our_pairs, piq_pairs| Case {
        metric,
        side,
        our_pairs,
        piq_pairs,
    };
    vec![
        case(NativeMetric::Fsim, 64, 2000, 256),
        case(NativeMetric::Fsimc, 64, 2000, 256),
        case(NativeMetric::MsSsim, 192, 1000, 256),
        case(NativeMetric::Gmsd, 64, 20000, 1024),
        case(NativeMetric::Vif, 64, 5000, 512),
    ]
}

/// The main thread's CPU time, from `/proc/self/schedstat` (nanoseconds on
/// the CPU); ours runs on the main thread.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/schedstat").expect("/proc/self/schedstat");
    let nanoseconds: f64 = stat
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("schedstat's first field");
    nanoseconds * 1e-9
}

fn venv_python() -> PathBuf {
    let venv = std::env::var_os("PERCEPT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/percept/venv")
        });
    venv.join("bin/python")
}

/// `count` (reference, distorted) pairs of smooth images under the test
/// distortions.
fn pairs(count: usize, side: u32) -> Vec<(RgbImage, RgbImage)> {
    let mut rng = images::Rng::new(42);
    (0..count)
        .map(|kind| {
            let reference = images::smooth_image(&mut rng, side, side);
            let distorted = images::distort(&mut rng, &reference, kind as u64);
            (reference, distorted)
        })
        .collect()
}

/// Our pairs per second of wall clock and of CPU time, each the best of
/// `ROUNDS`, on this (the main) thread.
fn ours(metric: NativeMetric, pairs: &[(RgbImage, RgbImage)]) -> Rate {
    let run = || {
        for (a, b) in pairs {
            std::hint::black_box(metric.distance(a, b).expect("distance"));
        }
    };
    run(); // warm-up: scratch buffers and filter banks
    (0..ROUNDS)
        .map(|_| {
            let (wall, cpu) = (Instant::now(), cpu_seconds());
            run();
            let count = pairs.len() as f64;
            Rate {
                wall: count / wall.elapsed().as_secs_f64(),
                cpu: count / (cpu_seconds() - cpu),
            }
        })
        .fold(Rate::default(), Rate::best)
}

#[derive(Debug, Clone, Copy, Default)]
struct Rate {
    wall: f64,
    cpu: f64,
}

impl Rate {
    fn best(self, other: Rate) -> Rate {
        Rate {
            wall: self.wall.max(other.wall),
            cpu: self.cpu.max(other.cpu),
        }
    }
}

/// piq's rates at each batch size.
fn piq(metric: NativeMetric, pairs: &[(RgbImage, RgbImage)], side: u32) -> Vec<(usize, Rate)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let raw_path = dir.path().join("pairs.raw");
    let raw: Vec<u8> = pairs
        .iter()
        .flat_map(|(a, b)| a.as_raw().iter().chain(b.as_raw()).copied())
        .collect();
    std::fs::write(&raw_path, raw).expect("write pairs");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/piq_reference.py");
    let output = Command::new(venv_python())
        .arg(script)
        .arg("bench")
        .arg(&raw_path)
        .args([
            pairs.len().to_string(),
            side.to_string(),
            metric.name().to_owned(),
            PIQ_BATCHES.to_owned(),
            "1".to_owned(),
            ROUNDS.to_string(),
        ])
        .output()
        .expect("run piq");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            // {"metric": "NAME", "batch": B, "pairs_per_s": X, "pairs_per_cpu_s": Y}
            let numbers: Vec<f64> = line
                .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e'))
                .filter_map(|s| s.parse().ok())
                .collect();
            let rate = Rate {
                wall: numbers[1],
                cpu: numbers[2],
            };
            (numbers[0] as usize, rate)
        })
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    println!(
        "pairs/s, best of {ROUNDS} rounds, one thread per side; piq 0.8 float32 at batch sizes {PIQ_BATCHES} (best)"
    );
    println!(
        "{:<8} {:>8} {:>11} {:>11} {:>11} {:>11} {:>6} {:>7}",
        "metric", "size", "ours wall", "piq wall", "ours cpu", "piq cpu", "batch", "ratio"
    );
    for case in cases() {
        let all = pairs(case.our_pairs.max(case.piq_pairs), case.side);
        let our_rate = ours(case.metric, &all[..case.our_pairs]);
        let (batch, piq_rate) = piq(case.metric, &all[..case.piq_pairs], case.side)
            .into_iter()
            .fold((0, Rate::default()), |best, run| {
                if run.1.cpu > best.1.cpu {
                    run
                } else {
                    best
                }
            });
        println!(
            "{:<8} {:>8} {:>11.0} {:>11.0} {:>11.0} {:>11.0} {:>6} {:>6.1}x",
            case.metric.name(),
            format!("{0}x{0}", case.side),
            our_rate.wall,
            piq_rate.wall,
            our_rate.cpu,
            piq_rate.cpu,
            batch,
            our_rate.cpu / piq_rate.cpu
        );
    }
}
