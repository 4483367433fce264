//! Triplet throughput of this crate against the official `lpips` package, in
//! one run on the same 64×64 triplets, and peak RSS for scoring 10,000
//! triplets.
//!
//! ```text
//! cargo bench -p lpips --bench compare_official
//! ```
//!
//! Needs `PERCEPT_VENV` and `PERCEPT_WEIGHTS_DIR` (set by `cargo xtask`), and
//! libtorch on `LD_LIBRARY_PATH`. `PERCEPT_BENCH_THREADS` sets the thread count
//! of both sides (default 2). `PERCEPT_BENCH_RSS_TRIPLETS` sets how many
//! triplets the RSS runs score (default 10000 for alex, 1000 for vgg, whose
//! peak is reached in the first batches anyway).
//!
//! The official API compares two batches of images, so a triplet costs it two
//! pair evaluations (four backbone passes); ours computes the three patches'
//! features once. Each of our triplets has three distinct patches, the
//! BAPPS layout and our worst case, except in the row whose references are
//! shared by four triplets.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use image::RgbImage;
use lpips::{Lpips, Net, Scorer, Triplet, Weighting};

const SIDE: u32 = 64;
/// Every figure is the best of this many rounds: on a shared machine a burst
/// of other work only ever slows a round down.
const ROUNDS: usize = 3;

/// How much each side scores: VGG is ~10x slower than alex, so it gets fewer
/// triplets and batch sizes to keep the run to a few minutes.
struct Plan {
    our_triplets: usize,
    /// Distinct patches per forward pass.
    our_batches: &'static [usize],
    official_triplets: usize,
    /// Comma-separated pair batch sizes; must include 1.
    official_batches: &'static str,
}

fn plan(net: Net) -> Plan {
    match net {
        Net::Alex => Plan {
            our_triplets: 600,
            our_batches: &[48, 96, 192],
            official_triplets: 200,
            official_batches: "1,25,50,100",
        },
        Net::Vgg => Plan {
            our_triplets: 48,
            our_batches: &[24, 48],
            official_triplets: 20,
            official_batches: "1,10,20",
        },
    }
}

fn env_dir(var: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{var} is not set: run `cargo xtask bench` (or `cargo xtask test` once)")
    })
}

fn threads() -> usize {
    std::env::var("PERCEPT_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2)
}

/// Reproducible noise patches (content does not change the cost).
fn patches(count: usize, seed: u64) -> Vec<RgbImage> {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    };
    (0..count)
        .map(|_| RgbImage::from_fn(SIDE, SIDE, |_, _| image::Rgb([next(), next(), next()])))
        .collect()
}

/// Triplets over `patches` in (ref, p0, p1) order; with `refs_shared_by` > 1
/// that many consecutive triplets share a reference.
fn triplets(count: usize, refs_shared_by: usize) -> Vec<Triplet> {
    let patches_per_group = 1 + 2 * refs_shared_by;
    (0..count)
        .map(|i| {
            let (group, member) = (i / refs_shared_by, i % refs_shared_by);
            let base = group * patches_per_group;
            Triplet {
                reference: base,
                p0: base + 1 + 2 * member,
                p1: base + 2 + 2 * member,
            }
        })
        .collect()
}

fn model(net: Net) -> Lpips {
    Lpips::from_weights_dir(net, Weighting::Lin, &env_dir("PERCEPT_WEIGHTS_DIR")).expect("weights")
}

/// Our triplets/s scoring `triplets` in calls of `per_call` triplets.
fn ours(
    net: Net,
    batch_size: usize,
    per_call: usize,
    patches: &[RgbImage],
    triplets: &[Triplet],
) -> f64 {
    let scorer = Scorer::new(model(net)).with_batch_size(batch_size);
    scorer
        .score_triplets(patches, &triplets[..per_call.min(triplets.len())])
        .expect("warm-up");
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for chunk in triplets.chunks(per_call) {
                scorer.score_triplets(patches, chunk).expect("scoring");
            }
            triplets.len() as f64 / start.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

/// The official package's triplets/s at each batch size, on the same patches.
fn official(net: Net, patches: &[RgbImage], count: usize, batches: &str) -> Vec<(usize, f64)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let raw_path = dir.path().join("patches.raw");
    let raw: Vec<u8> = patches[..3 * count]
        .iter()
        .flat_map(|p| p.as_raw().iter().copied())
        .collect();
    std::fs::write(&raw_path, raw).expect("write patches");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/lpips_official.py");
    let output = Command::new(env_dir("PERCEPT_VENV").join("bin/python"))
        .arg(script)
        .arg("bench")
        .arg(env_dir("PERCEPT_WEIGHTS_DIR"))
        .arg(net.name())
        .arg(&raw_path)
        .args([
            count.to_string(),
            SIDE.to_string(),
            batches.to_string(),
            threads().to_string(),
            ROUNDS.to_string(),
        ])
        .output()
        .expect("run the official package");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            // {"batch": B, "triplets_per_s": X}
            let numbers: Vec<f64> = line
                .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
                .filter_map(|s| s.parse().ok())
                .collect();
            (numbers[0] as usize, numbers[1])
        })
        .collect()
}

/// Child process: scores `count` triplets of distinct patches, 1,000 at a
/// time as the server would, and prints its peak RSS.
fn rss_child(net: Net, count: usize) {
    lpips::Scorer::set_threads(threads());
    let scorer = Scorer::new(model(net));
    let chunk = 1000.min(count);
    let layout = triplets(chunk, 1);
    for (i, start) in (0..count).step_by(chunk).enumerate() {
        let n = chunk.min(count - start);
        let chunk_patches = patches(3 * n, 1 + i as u64);
        scorer
            .score_triplets(&chunk_patches, &layout[..n])
            .expect("scoring");
    }
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .expect("VmHWM");
    println!("{}", peak.split_whitespace().nth(1).expect("kB"));
}

fn peak_rss_mib(net: Net, count: usize) -> f64 {
    let output = Command::new(std::env::current_exe().expect("own path"))
        .args(["--rss-child", net.name(), &count.to_string()])
        .output()
        .expect("run the RSS child");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse::<f64>()
        .expect("kB")
        / 1024.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(position) = args.iter().position(|a| a == "--rss-child") {
        let net: Net = args[position + 1].parse().expect("net");
        rss_child(net, args[position + 2].parse().expect("count"));
        return;
    }
    Scorer::set_threads(threads());
    println!(
        "threads: {}, {SIDE}x{SIDE} triplets, LPIPS v0.1 with lin",
        threads()
    );
    println!("{:<5} {:<44} {:>12}", "net", "configuration", "triplets/s");
    for net in Net::ALL {
        let plan = plan(net);
        let (our_count, official_count) = (plan.our_triplets, plan.official_triplets);
        let distinct = patches(3 * our_count, 42);
        let distinct_triplets = triplets(our_count, 1);
        let official = official(net, &distinct, official_count, plan.official_batches);
        for (batch, rate) in &official {
            println!(
                "{:<5} {:<44} {:>12.1}",
                net.name(),
                format!("official, batch {batch}"),
                rate
            );
        }
        let official_batch1 = official.iter().find(|(b, _)| *b == 1).expect("batch 1").1;
        let official_best = official
            .iter()
            .filter(|(b, _)| *b > 1)
            .map(|(_, r)| *r)
            .fold(0.0, f64::max);

        let our_one = ours(net, 3, 1, &distinct, &distinct_triplets[..official_count]);
        println!(
            "{:<5} {:<44} {:>12.1}",
            net.name(),
            "ours, one triplet per call",
            our_one
        );
        let mut our_best = (0, 0.0);
        for &batch in plan.our_batches {
            let rate = ours(net, batch, our_count, &distinct, &distinct_triplets);
            println!(
                "{:<5} {:<44} {:>12.1}",
                net.name(),
                format!("ours, {batch} patches per pass"),
                rate
            );
            if rate > our_best.1 {
                our_best = (batch, rate);
            }
        }
        let shared_triplets = triplets(our_count, 4);
        let shared_rate = ours(net, our_best.0, our_count, &distinct, &shared_triplets);
        println!(
            "{:<5} {:<44} {:>12.1}",
            net.name(),
            format!("ours, {} per pass, refs shared by 4", our_best.0),
            shared_rate
        );
        println!(
            "{:<5} ratios: best/official best {:.2}x, best/official batch 1 {:.2}x, one-per-call/official batch 1 {:.2}x",
            net.name(),
            our_best.1 / official_best,
            our_best.1 / official_batch1,
            our_one / official_batch1
        );
    }
    for net in Net::ALL {
        let count = std::env::var("PERCEPT_BENCH_RSS_TRIPLETS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(match net {
                Net::Alex => 10_000,
                Net::Vgg => 1_000,
            });
        println!(
            "{:<5} peak RSS scoring {count} triplets: {:.0} MiB",
            net.name(),
            peak_rss_mib(net, count)
        );
    }
}
