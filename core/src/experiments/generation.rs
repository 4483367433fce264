//! Generating an experiment's stimuli, as a job of the queue.
//!
//! Every reference image's stimuli are reproducible on their own (image `i`
//! draws from stream `i` of the experiment seed), so the job goes image by
//! image and commits each image's stimuli in one transaction (one batched
//! insert) with the experiment's count and the job's progress. An image's
//! random choices are drawn first, in order, on one thread; rendering them
//! (distorting and encoding) then runs on all cores, while the previous
//! image's stimuli are being stored. A process that takes over a
//! killed job skips the images that have stimuli, so nothing is generated
//! twice, and the transaction that stores the last stimuli marks the
//! experiment `ready`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use distortions::rand_chacha::{rand_core::SeedableRng, ChaCha8Rng};
use futures_util::future::BoxFuture;
use sqlx::{PgConnection, PgPool};
use tokio::task::JoinHandle;

use super::StoredExperiment;
use crate::cnn_bank::{self, NetworkRef};
use crate::error::{Error, Result};
use crate::jnd;
use crate::jobs::{
    self, ClaimedJob, Handler, JobContext, JobError, JobKind, ProgressObserver, Runner,
};
use crate::stimuli::{
    generate_method_triplets, render_cnn, render_in_parallel, Distorter, MethodOutput, PairPlan,
    PairStimulus, ReferenceImage, SamplerSettings, TripletPlan, TripletStimulus,
};
use percept_api::experiments::DistortionFamily;

/// How often [`wait_for`] looks at a job another process works on.
const WAIT_POLL: Duration = Duration::from_millis(250);

/// The handler for `generation` jobs.
pub struct StimulusGeneration;

impl Handler for StimulusGeneration {
    fn kind(&self) -> JobKind {
        JobKind::Generation
    }

    fn run<'a>(&'a mut self, context: &'a JobContext) -> BoxFuture<'a, Result<u64, JobError>> {
        Box::pin(async move {
            let experiment_id = context
                .job
                .experiment_id
                .ok_or_else(|| JobError::Failed("a generation job needs an experiment".into()))?;
            generate(context, experiment_id).await
        })
    }

    /// Workers are never given a failed experiment; the dashboard shows why.
    fn record_failure<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        job: &'a ClaimedJob,
        message: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            sqlx::query!(
                "UPDATE experiments SET status = 'failed', generation_error = $2
                 WHERE id = $1 AND status = 'generating'",
                job.experiment_id,
                message,
            )
            .execute(connection)
            .await?;
            Ok(())
        })
    }
}

/// Works on the experiment's generation job in this process, or follows it
/// while another process does, until it ends; the error says why it failed.
/// `progress` hears of the stimuli generated (done, total).
pub async fn wait_for(
    pool: &PgPool,
    stored: &StoredExperiment,
    progress: Option<ProgressObserver>,
) -> Result<()> {
    let mut runner = Runner::new(pool.clone()).with(StimulusGeneration);
    if let Some(progress) = &progress {
        runner = runner.on_progress(progress.clone());
    }
    let job_id = stored.generation_job_id;
    loop {
        // Claims it if no live process holds it (also after one died).
        runner.run_next(Some(&[job_id])).await?;
        let job = jobs::get(pool, job_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("there is no job {job_id}")))?;
        if let Some(progress) = &progress {
            progress(job.progress_done, job.progress_total);
        }
        match (job.status.as_str(), job.error) {
            ("done", _) => return Ok(()),
            ("failed", error) => {
                return Err(Error::Internal(anyhow::anyhow!(
                    "generating the stimuli of experiment {} failed: {}",
                    stored.id,
                    error.unwrap_or_default()
                )))
            }
            _ => tokio::time::sleep(WAIT_POLL).await,
        }
    }
}

/// What generation needs to know about the experiment, as stored.
#[derive(Clone)]
struct Plan {
    experiment_id: i64,
    is_jnd: bool,
    seed: u64,
    patch_size: u32,
    patches_per_image: u32,
    sampler: distortions::Sampler,
    family: DistortionFamily,
    /// The bank's networks, for `cnn` and `mix` experiments (sorted by id,
    /// so a resumed job draws the same ones while the bank is unchanged).
    networks: Vec<NetworkRef>,
    sentinel_rate: f64,
    control_share: f64,
    /// A method comparison's methods (in stored order), pairs per patch and
    /// flat-patch threshold.
    methods: Option<Vec<String>>,
    pairs_per_patch: Option<u32>,
    min_patch_variance: Option<f64>,
}

/// Where generation's time goes, summed over every generation this process
/// ran (`cargo xtask bench-generation` prints it).
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    /// Stimuli stored.
    pub stimuli: u64,
    /// Reading and decoding reference images, and drawing every stimulus's
    /// random choices (one thread per image).
    pub draw: Duration,
    /// Distorting and encoding the patches, wall time on all cores.
    pub render: Duration,
    /// The same, summed over the rendering threads.
    pub render_cpu: Duration,
    /// The transactions that store the stimuli (batched inserts).
    pub store: Duration,
    /// Time storing waited for the next image's rendering (what rendering
    /// behind storing did not hide).
    pub waiting_for_render: Duration,
}

static STAGE_TIMES: Mutex<StageTimes> = Mutex::new(StageTimes {
    stimuli: 0,
    draw: Duration::ZERO,
    render: Duration::ZERO,
    render_cpu: Duration::ZERO,
    store: Duration::ZERO,
    waiting_for_render: Duration::ZERO,
});

/// Where generation's time went in this process so far.
pub fn stage_times() -> StageTimes {
    *STAGE_TIMES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn add_stage_times(update: impl FnOnce(&mut StageTimes)) {
    update(
        &mut STAGE_TIMES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    );
}

/// Generates what the experiment still lacks; returns how many stimuli.
#[tracing::instrument(skip(context), fields(job_id = context.job.id))]
async fn generate(context: &JobContext, experiment_id: i64) -> Result<u64, JobError> {
    let pool = &context.pool;
    let Some(row) = sqlx::query!(
        "SELECT kind, status, seed, patch_size, patches_per_image, sampler, sentinel_rate,
                control_share, source_experiment_id, stimuli_total, stimuli_generated,
                methods, pairs_per_patch, min_patch_variance
         FROM experiments WHERE id = $1",
        experiment_id
    )
    .fetch_optional(pool)
    .await?
    else {
        return Err(JobError::Failed(format!(
            "there is no experiment {experiment_id}"
        )));
    };
    if row.status != "generating" {
        return Ok(0);
    }
    context
        .set_progress(row.stimuli_generated.into(), row.stimuli_total.into())
        .await?;
    let sampler_settings: SamplerSettings = serde_json::from_value(row.sampler)
        .map_err(|error| JobError::Failed(format!("the stored sampler is unreadable: {error}")))?;
    let networks = match sampler_settings.family {
        DistortionFamily::Traditional => Vec::new(),
        DistortionFamily::Cnn | DistortionFamily::Mix => {
            cnn_bank::networks_for_generation(pool).await?
        }
    };
    let plan = Plan {
        experiment_id,
        is_jnd: row.kind == "jnd",
        seed: row.seed as u64,
        patch_size: row.patch_size as u32,
        patches_per_image: row.patches_per_image as u32,
        sampler: sampler_settings.sampler()?,
        family: sampler_settings.family,
        networks,
        sentinel_rate: f64::from(row.sentinel_rate),
        control_share: f64::from(row.control_share),
        methods: row.methods,
        pairs_per_patch: row.pairs_per_patch.map(|k| k as u32),
        min_patch_variance: row.min_patch_variance.map(f64::from),
    };
    let generated = match row.source_experiment_id {
        Some(source_id) => copy_from_source(context, &plan, source_id).await?,
        None => generate_images(context, &plan).await?,
    };
    let counts = sqlx::query!(
        "SELECT status, stimuli_generated, stimuli_total FROM experiments WHERE id = $1",
        experiment_id
    )
    .fetch_one(pool)
    .await?;
    if counts.status != "ready" {
        return Err(JobError::Failed(format!(
            "{} of the {} stimuli were generated",
            counts.stimuli_generated, counts.stimuli_total
        )));
    }
    Ok(generated)
}

/// Generates the stimuli of every image that has none, image by image: while
/// one image's stimuli are stored, the next image's render on all cores.
async fn generate_images(context: &JobContext, plan: &Plan) -> Result<u64, JobError> {
    let pending: Vec<(usize, i64)> = sqlx::query!(
        r#"SELECT r.id,
                          EXISTS (SELECT 1 FROM triplets t WHERE t.reference_image_id = r.id)
                          OR EXISTS (SELECT 1 FROM pairs p WHERE p.reference_image_id = r.id)
                          AS "generated!"
                   FROM reference_images r WHERE r.experiment_id = $1 ORDER BY r.id"#,
        plan.experiment_id
    )
    .fetch_all(&context.pool)
    .await?
    .into_iter()
    .enumerate()
    .filter(|(_, image)| !image.generated)
    .map(|(index, image)| (index, image.id))
    .collect();
    let mut generated = 0;
    let mut next = pending
        .first()
        .map(|&(index, id)| start_rendering(context.pool.clone(), plan.clone(), index, id));
    for (position, &(_, reference_image_id)) in pending.iter().enumerate() {
        let waiting = Instant::now();
        let stimuli = match next.take() {
            Some(rendering) => rendering
                .await
                .map_err(anyhow::Error::from)
                .map_err(Error::from)??,
            None => break,
        };
        let storing = Instant::now();
        if let Some(&(index, id)) = pending.get(position + 1) {
            next = Some(start_rendering(
                context.pool.clone(),
                plan.clone(),
                index,
                id,
            ));
        }
        let stored = store_image(context, plan, reference_image_id, stimuli).await?;
        generated += stored;
        add_stage_times(|times| {
            times.waiting_for_render += storing - waiting;
            times.store += storing.elapsed();
            times.stimuli += stored;
        });
    }
    Ok(generated)
}

/// A JND experiment's pairs taken from its source's triplets, all in one
/// transaction (nothing to generate, only rows to copy).
async fn copy_from_source(
    context: &JobContext,
    plan: &Plan,
    source_id: i64,
) -> Result<u64, JobError> {
    let mut transaction = context.pool.begin().await?;
    let generated = sqlx::query_scalar!(
        "SELECT stimuli_generated FROM experiments WHERE id = $1 FOR UPDATE",
        plan.experiment_id
    )
    .fetch_one(&mut *transaction)
    .await?;
    if generated > 0 {
        return Ok(0);
    }
    let count = jnd::copy_pairs_from_source(
        &mut transaction,
        plan.experiment_id,
        source_id,
        plan.control_share,
        plan.seed,
    )
    .await?;
    count_generated(&mut transaction, plan.experiment_id, count).await?;
    context.advance(&mut transaction, count as i64).await?;
    transaction.commit().await?;
    Ok(count as u64)
}

enum Stimuli {
    Triplets(Vec<TripletStimulus>),
    Pairs(Vec<PairStimulus>),
}

/// Starts rendering reference image `index`'s stimuli in the background.
fn start_rendering(
    pool: PgPool,
    plan: Plan,
    index: usize,
    reference_image_id: i64,
) -> JoinHandle<Result<Stimuli>> {
    tokio::spawn(async move {
        let image = sqlx::query!(
            "SELECT file_name, png FROM reference_images WHERE id = $1",
            reference_image_id
        )
        .fetch_one(&pool)
        .await?;
        let outputs = method_outputs(&pool, &plan, &image.file_name, reference_image_id).await?;
        // Distortions take milliseconds each: keep them off the executor.
        tokio::task::spawn_blocking(move || {
            render_image(&pool, &plan, index, &image.file_name, &image.png, outputs)
        })
        .await
        .map_err(anyhow::Error::from)?
    })
}

/// A method comparison's outputs for reference image `reference_image_id`,
/// in the plan's method order (`None` for other experiments).
async fn method_outputs(
    pool: &PgPool,
    plan: &Plan,
    file_name: &str,
    reference_image_id: i64,
) -> Result<Option<Vec<(String, Vec<u8>)>>> {
    let Some(methods) = &plan.methods else {
        return Ok(None);
    };
    let mut rows = sqlx::query!(
        "SELECT method, png FROM method_outputs WHERE reference_image_id = $1",
        reference_image_id
    )
    .fetch_all(pool)
    .await?;
    let mut outputs = Vec::with_capacity(methods.len());
    for method in methods {
        let position = rows
            .iter()
            .position(|row| &row.method == method)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "reference image {file_name} has no stored output of method {method}"
                ))
            })?;
        let row = rows.swap_remove(position);
        outputs.push((row.method, row.png));
    }
    Ok(Some(outputs))
}

/// Reference image `index`'s stimuli: their random choices drawn in order
/// from stream `index` of the experiment's seed, then rendered on all cores
/// (traditional distortions) and by each drawn network, batched (CNN ones).
/// A method comparison's triplets are cut from its methods' `outputs`.
fn render_image(
    pool: &PgPool,
    plan: &Plan,
    index: usize,
    file_name: &str,
    png: &[u8],
    outputs: Option<Vec<(String, Vec<u8>)>>,
) -> Result<Stimuli> {
    let drawing = Instant::now();
    let reference = ReferenceImage::decode(file_name, png)?.image;
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    rng.set_stream(index as u64);
    if let Some(outputs) = outputs {
        let outputs = outputs
            .into_iter()
            .map(|(method, png)| {
                Ok(MethodOutput {
                    image: ReferenceImage::decode(&method, &png)?.image,
                    method,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let triplets = generate_method_triplets(
            file_name,
            &reference,
            &outputs,
            plan.patch_size,
            plan.patches_per_image,
            plan.pairs_per_patch,
            plan.min_patch_variance,
            plan.sentinel_rate,
            &mut rng,
        )?;
        add_stage_times(|times| times.render += drawing.elapsed());
        return Ok(Stimuli::Triplets(triplets));
    }
    let (dimensions, size) = (reference.dimensions(), plan.patch_size);
    let distorter = Distorter {
        family: plan.family,
        sampler: &plan.sampler,
        networks: &plan.networks,
    };
    let count = plan.patches_per_image as usize;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    // Each rendered stimulus with the thread time it took.
    fn timed<S>(render: impl FnOnce() -> Result<S>) -> Result<(S, Duration)> {
        let started = Instant::now();
        Ok((render()?, started.elapsed()))
    }
    fn untimed<S>(rendered: Vec<(S, Duration)>) -> (Vec<S>, Duration) {
        let cpu = rendered.iter().map(|(_, took)| *took).sum();
        (
            rendered.into_iter().map(|(stimulus, _)| stimulus).collect(),
            cpu,
        )
    }
    let (stimuli, rendering, render_cpu) = if plan.is_jnd {
        let plans = (0..count)
            .map(|_| PairPlan::draw(dimensions, size, &distorter, plan.control_share, &mut rng))
            .collect::<Result<_>>()?;
        let rendering = Instant::now();
        let (pairs, cpu) = untimed(render_in_parallel(plans, threads, |pair| {
            timed(|| pair.render(&reference, size))
        })?);
        (Stimuli::Pairs(pairs), rendering, cpu)
    } else {
        let plans = (0..count)
            .map(|_| TripletPlan::draw(dimensions, size, &distorter, plan.sentinel_rate, &mut rng))
            .collect::<Result<_>>()?;
        let rendering = Instant::now();
        let (triplets, cpu) = untimed(render_in_parallel(plans, threads, |triplet| {
            timed(|| triplet.render(&reference, size))
        })?);
        (Stimuli::Triplets(triplets), rendering, cpu)
    };
    // The image's CNN-distorted sides, each network once over its patches.
    let mut stimuli = stimuli;
    match &mut stimuli {
        Stimuli::Pairs(pairs) => render_cnn(
            pairs.iter_mut().map(|pair| &mut pair.distorted),
            pool,
            cnn_bank::distorter(),
        )?,
        Stimuli::Triplets(triplets) => render_cnn(
            triplets
                .iter_mut()
                .flat_map(|triplet| [&mut triplet.p0, &mut triplet.p1]),
            pool,
            cnn_bank::distorter(),
        )?,
    }
    add_stage_times(|times| {
        times.draw += rendering - drawing;
        times.render += rendering.elapsed();
        times.render_cpu += render_cpu;
    });
    Ok(stimuli)
}

/// Stores reference image `reference_image_id`'s stimuli, unless another
/// process stored them first; returns how many this call stored.
#[tracing::instrument(skip(context, plan, stimuli), fields(experiment_id = plan.experiment_id))]
async fn store_image(
    context: &JobContext,
    plan: &Plan,
    reference_image_id: i64,
    stimuli: Stimuli,
) -> Result<u64, JobError> {
    let mut transaction = context.pool.begin().await?;
    // The image's row lock makes a process that took the job over wait for
    // this transaction, and then see its stimuli.
    sqlx::query!(
        "SELECT id FROM reference_images WHERE id = $1 FOR UPDATE",
        reference_image_id
    )
    .fetch_one(&mut *transaction)
    .await?;
    let already = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM triplets WHERE reference_image_id = $1)
                  OR EXISTS (SELECT 1 FROM pairs WHERE reference_image_id = $1) AS "already!""#,
        reference_image_id
    )
    .fetch_one(&mut *transaction)
    .await?;
    if already {
        return Ok(0);
    }
    let count = match stimuli {
        Stimuli::Triplets(triplets) => {
            insert_triplets(
                &mut transaction,
                plan.experiment_id,
                reference_image_id,
                &triplets,
            )
            .await?;
            triplets.len()
        }
        Stimuli::Pairs(pairs) => {
            jnd::insert_pairs(
                &mut transaction,
                plan.experiment_id,
                reference_image_id,
                &pairs,
            )
            .await?;
            pairs.len()
        }
    };
    count_generated(&mut transaction, plan.experiment_id, count).await?;
    context.advance(&mut transaction, count as i64).await?;
    transaction.commit().await?;
    Ok(count as u64)
}

/// Counts `count` more stimuli generated; the experiment is `ready` when
/// they are all there.
async fn count_generated(
    transaction: &mut PgConnection,
    experiment_id: i64,
    count: usize,
) -> Result<()> {
    sqlx::query!(
        "UPDATE experiments
         SET stimuli_generated = stimuli_generated + $2,
             status = CASE WHEN stimuli_generated + $2 = stimuli_total THEN 'ready' ELSE status END
         WHERE id = $1",
        experiment_id,
        count as i32,
    )
    .execute(&mut *transaction)
    .await?;
    Ok(())
}

async fn insert_triplets(
    transaction: &mut sqlx::PgConnection,
    experiment_id: i64,
    reference_image_id: i64,
    triplets: &[TripletStimulus],
) -> Result<()> {
    let p0_pipelines: Vec<_> = triplets.iter().map(|t| t.p0.distortion.to_json()).collect();
    let p1_pipelines: Vec<_> = triplets.iter().map(|t| t.p1.distortion.to_json()).collect();
    sqlx::query!(
        "INSERT INTO triplets (
             experiment_id, reference_image_id, crop_x, crop_y, ref_png, p0_png, p1_png,
             p0_pipeline, p0_seed, p1_pipeline, p1_seed, sentinel_answer, p0_method, p1_method
         )
         SELECT $1, $2, * FROM UNNEST(
             $3::int[], $4::int[], $5::bytea[], $6::bytea[], $7::bytea[],
             $8::jsonb[], $9::bigint[], $10::jsonb[], $11::bigint[], $12::smallint[],
             $13::text[], $14::text[]
         )",
        experiment_id,
        reference_image_id,
        &triplets.iter().map(|t| t.crop_x as i32).collect::<Vec<_>>(),
        &triplets.iter().map(|t| t.crop_y as i32).collect::<Vec<_>>(),
        &triplets
            .iter()
            .map(|t| t.ref_png.as_slice())
            .collect::<Vec<_>>() as &[&[u8]],
        &triplets
            .iter()
            .map(|t| t.p0.png.as_slice())
            .collect::<Vec<_>>() as &[&[u8]],
        &triplets
            .iter()
            .map(|t| t.p1.png.as_slice())
            .collect::<Vec<_>>() as &[&[u8]],
        &p0_pipelines,
        &triplets
            .iter()
            .map(|t| t.p0.seed as i64)
            .collect::<Vec<_>>(),
        &p1_pipelines,
        &triplets
            .iter()
            .map(|t| t.p1.seed as i64)
            .collect::<Vec<_>>(),
        &triplets
            .iter()
            .map(|t| t.sentinel_answer.map(i16::from))
            .collect::<Vec<_>>() as &[Option<i16>],
        &triplets
            .iter()
            .map(|t| t.p0.method.clone())
            .collect::<Vec<_>>() as &[Option<String>],
        &triplets
            .iter()
            .map(|t| t.p1.method.clone())
            .collect::<Vec<_>>() as &[Option<String>],
    )
    .execute(&mut *transaction)
    .await?;
    Ok(())
}
