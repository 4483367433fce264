//! Criterion benches: each type on a 64x64 patch, a typical 3-step pipeline,
//! and sampler + pipeline (the per-stimulus cost of generating BAPPS data).

#[path = "shared.rs"]
mod shared;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use distortions::{step_rng, Pipeline, Sampler};

fn each_type(c: &mut Criterion) {
    let patch = shared::patch();
    let mut group = c.benchmark_group("type_64x64");
    for distortion in shared::representative_settings() {
        group.bench_function(distortion.kind().name, |b| {
            let mut rng = step_rng(1, 0);
            b.iter(|| distortion.apply(black_box(&patch), &mut rng).unwrap());
        });
    }
    group.finish();
}

fn pipelines(c: &mut Criterion) {
    let patch = shared::patch();
    let pipeline = Pipeline::from_json(shared::THREE_STEP_PIPELINE).unwrap();
    let sampler = Sampler::default();
    let mut group = c.benchmark_group("pipeline_64x64");
    group.throughput(Throughput::Elements(1));
    group.bench_function("three_steps", |b| {
        let mut seed = 0u64;
        b.iter(|| {
            seed += 1;
            pipeline.apply(black_box(&patch), seed).unwrap()
        });
    });
    group.bench_function("sample_and_apply", |b| {
        let mut seed = 0u64;
        b.iter(|| {
            seed += 1;
            sampler
                .sample_seeded(seed)
                .apply(black_box(&patch), seed)
                .unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, each_type, pipelines);
criterion_main!(benches);
