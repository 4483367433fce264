//! Timer for `benches/compare_python.py`: writes the benchmark patch and the
//! settings it uses, then prints one JSON line per type with the median time
//! per patch, so the Python side can run the very same operations.
//!
//! Usage: time_distortions PATCH_PNG [FILTER]: with FILTER, only the timings
//! whose name contains it (for profiling one type).

#[path = "../benches/shared.rs"]
mod shared;

use std::time::Instant;

use distortions::{step_rng, Pipeline, Sampler};

/// Median over batches of the mean seconds per call.
fn median_seconds(mut run: impl FnMut()) -> f64 {
    let started = Instant::now();
    let mut calls_per_batch = 0u32;
    while started.elapsed().as_secs_f64() < 0.05 {
        run();
        calls_per_batch += 1;
    }
    let mut batches: Vec<f64> = (0..15)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..calls_per_batch {
                run();
            }
            start.elapsed().as_secs_f64() / f64::from(calls_per_batch)
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    batches[batches.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let patch_path = std::env::args()
        .nth(1)
        .ok_or("usage: time_distortions PATCH_PNG [FILTER]")?;
    let filter = std::env::args().nth(2).unwrap_or_default();
    let selected = |name: &str| name.contains(&filter);
    let patch = shared::patch();
    patch.save(&patch_path)?;
    for distortion in shared::representative_settings() {
        if !selected(distortion.kind().name) {
            continue;
        }
        let mut rng = step_rng(1, 0);
        let seconds = median_seconds(|| {
            std::hint::black_box(distortion.apply(&patch, &mut rng).unwrap());
        });
        println!(
            r#"{{"name":"{}","spec":{},"seconds":{seconds}}}"#,
            distortion.kind().name,
            serde_json::to_string(&distortion)?
        );
    }
    if !filter.is_empty() {
        return Ok(());
    }
    let pipeline = Pipeline::from_json(shared::THREE_STEP_PIPELINE)?;
    let mut seed = 0;
    let seconds = median_seconds(|| {
        seed += 1;
        std::hint::black_box(pipeline.apply(&patch, seed).unwrap());
    });
    println!(
        r#"{{"name":"three_step_pipeline","spec":{},"seconds":{seconds}}}"#,
        pipeline.to_json()
    );
    let sampler = Sampler::default();
    let seconds = median_seconds(|| {
        seed += 1;
        std::hint::black_box(sampler.sample_seeded(seed).apply(&patch, seed).unwrap());
    });
    println!(r#"{{"name":"sample_and_apply","spec":null,"seconds":{seconds}}}"#);
    Ok(())
}
