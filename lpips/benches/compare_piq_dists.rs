//! DISTS pair throughput of this crate against piq 0.8's `DISTS` (loaded
//! with the same converted weights by `python/dists_piq.py`), in one run on
//! the same 64×64 pairs, each side at its best batch size.
//!
//! Then the same on what a 2AFC scoring job scores: triplets, whose two
//! distances share the reference. Percept's scorer computes each patch's
//! features once per batch (three trunk passes per triplet); piq's
//! `DISTS(x, y)` takes pairs, so it is given the triplets' (reference, p0)
//! and (reference, p1) pairs (four passes). Both rates are distances/s.
//!
//! ```text
//! cargo bench -p lpips --bench compare_piq_dists
//! ```
//!
//! Needs `PERCEPT_VENV` and `PERCEPT_WEIGHTS_DIR` (set by `cargo xtask`), and
//! libtorch on `LD_LIBRARY_PATH`. `PERCEPT_BENCH_THREADS` sets both sides'
//! thread count (default 2).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use image::RgbImage;
use lpips::{Dists, Pair, Scorer, Triplet};

const SIDE: u32 = 64;
const PAIRS: usize = 128;
/// Triplets of the triplet run: 128 distances, as many as the pair run's.
const TRIPLETS: usize = 64;
const ROUNDS: usize = 3;

fn env_path(var: &str) -> PathBuf {
    PathBuf::from(
        std::env::var_os(var)
            .unwrap_or_else(|| panic!("{var} is not set: run under `cargo xtask env`")),
    )
}

fn main() {
    let threads: usize = std::env::var("PERCEPT_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    Scorer::set_threads(threads);
    let weights = env_path("PERCEPT_WEIGHTS_DIR");
    // Reproducible noise patches (xorshift).
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let patches: Vec<RgbImage> = (0..PAIRS * 2)
        .map(|_| {
            RgbImage::from_fn(SIDE, SIDE, |_, _| {
                image::Rgb([next() as u8, next() as u8, next() as u8])
            })
        })
        .collect();
    let pairs: Vec<Pair> = (0..PAIRS)
        .map(|i| Pair {
            p0: 2 * i,
            p1: 2 * i + 1,
        })
        .collect();

    let model = Dists::from_weights_dir(&weights).expect("DISTS weights");
    let mut scorer = Scorer::new(model);
    let mut ours_best = 0.0f64;
    for batch in [32, 64, 128, 256] {
        scorer = scorer.with_batch_size(batch);
        let rate = PAIRS as f64
            / best_seconds(|| {
                scorer.score_pairs(&patches, &pairs).expect("scoring");
            });
        println!("ours  batch {batch:>3} patches: {rate:8.1} pairs/s");
        ours_best = ours_best.max(rate);
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let piq_best = piq_rates(&weights, &dir.path().join("pairs.raw"), &patches, threads);
    println!(
        "DISTS, {PAIRS} pairs of {SIDE}x{SIDE}, {threads} threads: ours {ours_best:.1} pairs/s, piq {piq_best:.1} pairs/s, ratio {:.2} (goal 1.3)",
        ours_best / piq_best
    );

    // The triplets: reference 3i, p0 3i + 1, p1 3i + 2 of the same patches.
    let triplets: Vec<Triplet> = (0..TRIPLETS)
        .map(|i| Triplet {
            reference: 3 * i,
            p0: 3 * i + 1,
            p1: 3 * i + 2,
        })
        .collect();
    let mut ours_triplets = 0.0f64;
    for batch in [48, 96, 192] {
        scorer = scorer.with_batch_size(batch);
        let rate = (2 * TRIPLETS) as f64
            / best_seconds(|| {
                scorer.score_triplets(&patches, &triplets).expect("scoring");
            });
        println!("ours  batch {batch:>3} patches: {rate:8.1} distances/s on triplets");
        ours_triplets = ours_triplets.max(rate);
    }
    let triplet_pairs: Vec<RgbImage> = triplets
        .iter()
        .flat_map(|t| [t.reference, t.p0, t.reference, t.p1])
        .map(|index| patches[index].clone())
        .collect();
    let piq_triplets = piq_rates(
        &weights,
        &dir.path().join("triplet-pairs.raw"),
        &triplet_pairs,
        threads,
    );
    println!(
        "DISTS, {TRIPLETS} triplets of {SIDE}x{SIDE} ({} distances), {threads} threads: ours {ours_triplets:.1} distances/s, piq {piq_triplets:.1} distances/s, ratio {:.2}",
        2 * TRIPLETS,
        ours_triplets / piq_triplets
    );
}

/// The shortest of `ROUNDS` runs of `run`, in seconds.
fn best_seconds(mut run: impl FnMut()) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// piq's best pairs/s on `patches` taken two by two (written to `raw` for
/// `python/dists_piq.py bench`), printing each batch size's rate.
fn piq_rates(
    weights: &std::path::Path,
    raw: &std::path::Path,
    patches: &[RgbImage],
    threads: usize,
) -> f64 {
    let bytes: Vec<u8> = patches
        .iter()
        .flat_map(|p| p.as_raw().iter().copied())
        .collect();
    std::fs::write(raw, bytes).expect("write patches");
    let output = Command::new(env_path("PERCEPT_VENV").join("bin/python"))
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../python/dists_piq.py"))
        .arg("bench")
        .arg(weights)
        .arg(raw)
        .args([
            (patches.len() / 2).to_string(),
            SIDE.to_string(),
            "1,16,32,64,128".into(),
            threads.to_string(),
        ])
        .output()
        .expect("running piq");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut best = 0.0f64;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let rate = value["pairs_per_second"].as_f64().unwrap();
        println!(
            "piq   batch {:>3} pairs:   {rate:8.1} pairs/s",
            value["batch"]
        );
        best = best.max(rate);
    }
    best
}
