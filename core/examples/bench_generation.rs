//! Generation's speed, end to end against its kernels (run by `cargo xtask
//! bench-generation`, which starts a private PostgreSQL and passes
//! `DATABASE_URL` and the demo photos).
//!
//! - **Kernels:** the sampler and the pipelines with PNG encoding, on one
//!   thread, without the database: what one core can make.
//! - **End to end:** an experiment stored and generated as `percept
//!   experiment create` does it (the generation job, on all cores, storing
//!   into PostgreSQL), with the time split by stage.

use std::time::{Duration, Instant};

use anyhow::Context;
use distortions::rand_chacha::{rand_core::SeedableRng, ChaCha8Rng};
use percept_api::experiments::DistortionFamily;
use percept_core::experiments::{self, generation, ExperimentKind, NewExperiment, ReferenceFile};
use percept_core::stimuli::{
    crop, encode_stimulus_png, Distorter, DistortionPlan, PatchDistortion, ReferenceImage,
    SamplerSettings, TripletPlan,
};

const PATCH_SIZE: u32 = 64;
const KERNEL_TRIPLETS: usize = 1_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let patches_per_image: u32 = std::env::var("PERCEPT_BENCH_PATCHES_PER_IMAGE")
        .ok()
        .map(|value| value.parse())
        .transpose()
        .context("PERCEPT_BENCH_PATCHES_PER_IMAGE must be a whole number")?
        .unwrap_or(1_000);
    let photos = std::env::var_os("PERCEPT_DEMO_PHOTOS")
        .context("PERCEPT_DEMO_PHOTOS must name the demo photos' folder")?;
    let mut references = Vec::new();
    for entry in std::fs::read_dir(&photos)? {
        let path = entry?.path();
        references.push(ReferenceFile {
            file_name: path.file_name().unwrap().to_string_lossy().into_owned(),
            bytes: std::fs::read(&path)?,
        });
    }
    references.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    let sampler = SamplerSettings::default().sampler()?;
    let distorter = Distorter {
        family: DistortionFamily::Traditional,
        sampler: &sampler,
        networks: &[],
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);

    // Kernels: one thread, no database.
    let decoded: Vec<_> = references
        .iter()
        .map(|file| ReferenceImage::decode(&file.file_name, &file.bytes).map(|r| r.image))
        .collect::<Result<_, _>>()?;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let started = Instant::now();
    for index in 0..KERNEL_TRIPLETS {
        let reference = &decoded[index % decoded.len()];
        TripletPlan::draw(
            reference.dimensions(),
            PATCH_SIZE,
            &distorter,
            0.1,
            &mut rng,
        )?
        .render(reference, PATCH_SIZE)?;
    }
    let kernel_rate = KERNEL_TRIPLETS as f64 / started.elapsed().as_secs_f64();
    // The kernel's two parts: distorting (two patches a triplet) and PNG
    // encoding (three a triplet).
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut distorting, mut encoding) = (Duration::ZERO, Duration::ZERO);
    for index in 0..KERNEL_TRIPLETS {
        let reference = &decoded[index % decoded.len()];
        let plan = TripletPlan::draw(
            reference.dimensions(),
            PATCH_SIZE,
            &distorter,
            0.1,
            &mut rng,
        )?;
        let patch = crop(reference, plan.crop_x, plan.crop_y, PATCH_SIZE);
        let started = Instant::now();
        let p0 = traditional(&plan.p0).apply(&patch, plan.p0.seed)?;
        let p1 = traditional(&plan.p1).apply(&patch, plan.p1.seed)?;
        distorting += started.elapsed();
        let started = Instant::now();
        for image in [&patch, &p0, &p1] {
            encode_stimulus_png(image)?;
        }
        encoding += started.elapsed();
    }

    // End to end.
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL must name a database")?;
    let pool = fresh_database(&url, "generation_bench").await?;
    let owner_id =
        percept_core::researchers::add(&pool, "bench@percept.local", "generation-bench").await?;
    let settings = NewExperiment {
        owner_id,
        name: "generation bench".into(),
        kind: ExperimentKind::TwoAfc,
        split: "train".into(),
        category: None,
        patch_size: PATCH_SIZE,
        patches_per_image,
        sampler: SamplerSettings::default(),
        seed: 1,
        judgments_per_stimulus: 5,
        trials_per_assignment: 50,
        sentinel_rate: 0.1,
        max_assignments_per_worker: 5,
        assignment_ttl: Duration::from_secs(600),
        completion_redirect_url: None,
        max_sentinel_failure_share: 0.5,
    };
    let triplets = patches_per_image as usize * references.len();
    let started = Instant::now();
    let stored = experiments::store(&pool, &settings, references).await?;
    let storing_references = started.elapsed();
    let generating = Instant::now();
    generation::wait_for(&pool, &stored, None).await?;
    let generation_time = generating.elapsed();
    let total = started.elapsed();
    let stages = generation::stage_times();
    let rate = triplets as f64 / total.as_secs_f64();

    let seconds = |duration: Duration| duration.as_secs_f64();
    println!(
        "generation of {triplets} triplets (64×64, BAPPS' traditional distortions, {cores} cores)"
    );
    println!("  kernels, one thread, no database: {kernel_rate:>8.0} triplets/s ({:.0} on {cores} cores if they scaled perfectly)", kernel_rate * cores as f64);
    println!("  end to end (experiment create):   {rate:>8.0} triplets/s ({:.2} s; {:.2} of the kernels' {cores}-core rate)", seconds(total), rate / (kernel_rate * cores as f64));
    println!(
        "  of the kernels: distorting {:.0} patches/s, PNG encoding {:.0} patches/s (one thread)",
        2.0 * KERNEL_TRIPLETS as f64 / seconds(distorting),
        3.0 * KERNEL_TRIPLETS as f64 / seconds(encoding)
    );
    println!("where the time went (s):");
    println!(
        "  storing the experiment and its reference images {:>7.2}",
        seconds(storing_references)
    );
    println!(
        "  the generation job                              {:>7.2}",
        seconds(generation_time)
    );
    println!(
        "    draw: decode references, draw random choices  {:>7.2} (one thread, overlaps storing)",
        seconds(stages.draw)
    );
    println!("    render: distort and encode, wall              {:>7.2} ({:.2} s thread time on {cores} threads; overlaps storing)", seconds(stages.render), seconds(stages.render_cpu));
    println!(
        "    store: binary COPY, one transaction an image  {:>7.2} (overlaps rendering)",
        seconds(stages.store)
    );
    println!(
        "    storing waiting for rendering                 {:>7.2}",
        seconds(stages.waiting_for_render)
    );
    println!(
        "    rendering waiting for storing                 {:>7.2}",
        seconds(stages.waiting_for_store)
    );
    Ok(())
}

/// A new, empty, migrated database `name` on the server of `url` (dropped
/// first if a previous run left it).
async fn fresh_database(url: &str, name: &str) -> anyhow::Result<sqlx::PgPool> {
    let options: sqlx::postgres::PgConnectOptions = url.parse()?;
    let admin = sqlx::PgPool::connect_with(options.clone()).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&admin)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await?;
    admin.close().await;
    percept_core::db::connect(options.database(name)).await
}

/// The pipeline of a side drawn by the traditional family.
fn traditional(plan: &DistortionPlan) -> &distortions::Pipeline {
    match &plan.distortion {
        PatchDistortion::Pipeline(pipeline) => pipeline,
        PatchDistortion::Cnn(_) => unreachable!("the bench draws from the traditional family"),
    }
}
