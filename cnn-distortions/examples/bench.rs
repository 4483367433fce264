//! Bank build time for 24 networks at the default ranges, then CNN-distorted
//! 64×64 patches per second beside the traditional family's in the same run.
//!
//! `cargo run -p cnn_distortions --example bench` (with
//! `eval "$(cargo xtask env)"`): both families' pixel code is optimised in
//! the dev profile (opt-level 3) and libtorch is a release build, so the
//! numbers are release numbers. Set `CNN_BENCH_BANK=DIR` to keep the bank
//! there (a second run then reuses it and only measures inference), and
//! `CNN_BENCH_THREADS=N` to set libtorch's thread count.

#[path = "../tests/suite/common/mod.rs"]
mod common;

use std::time::Instant;

use cnn_distortions::{Bank, BuildOptions, SpecSampler};
use common::{demo_photos, patches, progress_line};
use distortions::image::RgbImage;
use distortions::Sampler;

const NETWORKS: u32 = 24;
const PATCHES_PER_NETWORK: usize = 64;

fn main() {
    if let Some(threads) = std::env::var_os("CNN_BENCH_THREADS") {
        let threads = threads.to_str().and_then(|t| t.parse().ok());
        tch::set_num_threads(threads.expect("CNN_BENCH_THREADS is a number"));
    }
    let photos = demo_photos();
    let temporary = tempfile::tempdir().expect("a temporary folder");
    let dir = std::env::var_os("CNN_BENCH_BANK")
        .map(Into::into)
        .unwrap_or_else(|| temporary.path().to_owned());
    println!(
        "{} libtorch threads, bank in {}",
        tch::get_num_threads(),
        dir.display()
    );

    let options = BuildOptions {
        count: NETWORKS,
        seed: 0,
        sampler: SpecSampler::default(),
    };
    let started = Instant::now();
    let mut trained = 0;
    let bank = Bank::build(&dir, &options, &photos, |progress| {
        trained += u32::from(progress.trained);
        println!("{}", progress_line(progress));
    })
    .expect("the bank builds");
    println!(
        "bank build: {trained} of {NETWORKS} networks trained in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let records = bank.list().expect("the bank lists");
    let total = records.len() * PATCHES_PER_NETWORK;
    let references = patches(&photos, total, 64);
    let started = Instant::now();
    let networks: Vec<_> = records
        .iter()
        .map(|record| bank.load(&record.id).expect("the network loads"))
        .collect();
    println!(
        "loading {} networks (hash check included): {:.2} s",
        networks.len(),
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    for (network, chunk) in networks.iter().zip(references.chunks(PATCHES_PER_NETWORK)) {
        let chunk: Vec<&RgbImage> = chunk.iter().collect();
        let seeds: Vec<u64> = (0..chunk.len() as u64).collect();
        network.apply(&chunk, &seeds).expect("the network applies");
    }
    let cnn_rate = total as f64 / started.elapsed().as_secs_f64();

    let sampler = Sampler::default();
    let started = Instant::now();
    for (index, reference) in references.iter().enumerate() {
        let pipeline = sampler.sample_seeded(index as u64);
        pipeline
            .apply(reference, index as u64)
            .expect("the pipeline applies");
    }
    let traditional_rate = total as f64 / started.elapsed().as_secs_f64();
    println!("64x64 patches/s: cnn {cnn_rate:.0}, traditional {traditional_rate:.0} (cnn/traditional {:.2})", cnn_rate / traditional_rate);
}
