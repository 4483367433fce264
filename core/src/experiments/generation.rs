//! Generating an experiment's stimuli, as a job of the queue.
//!
//! Every reference image's stimuli are reproducible on their own (image `i`
//! draws from stream `i` of the experiment seed), so the job goes image by
//! image and commits each image's stimuli in one transaction with the
//! experiment's count and the job's progress. Rendering and storing run at
//! once, as a pipeline: an image's random choices are drawn first, in order,
//! on one thread; they are then rendered (distorted and encoded) on all
//! cores a batch of [`RENDER_BATCH`] at a time, and each batch is streamed
//! into the image's binary `COPY` as soon as it is rendered, while the next
//! batches, and the next image, render. A process that takes over a killed
//! job skips the images that have stimuli (an uncommitted image leaves
//! nothing), so nothing is generated twice, and the transaction that stores
//! the last stimuli marks the experiment `ready`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use distortions::rand_chacha::{rand_core::SeedableRng, ChaCha8Rng};
use futures_util::future::BoxFuture;
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;

use super::StoredExperiment;
use crate::cnn_bank::{self, NetworkRef};
use crate::db::binary_copy::CopyRows;
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

/// Stimuli rendered at once and then streamed to the database: small enough
/// that storing starts soon after rendering does, large enough that the
/// threads rarely wait for each other at a batch's end.
const RENDER_BATCH: usize = 64;

/// Rendered batches that may wait for storing: rendering runs this far ahead
/// (across images) while a transaction commits.
const BATCHES_AHEAD: usize = 8;

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
    /// The transactions that store the stimuli (a binary COPY an image),
    /// less their waits for rendering.
    pub store: Duration,
    /// Time storing waited for the next rendered batch (what rendering
    /// beside storing did not hide).
    pub waiting_for_render: Duration,
    /// Time rendering waited for storing to take its batches.
    pub waiting_for_store: Duration,
}

static STAGE_TIMES: Mutex<StageTimes> = Mutex::new(StageTimes {
    stimuli: 0,
    draw: Duration::ZERO,
    render: Duration::ZERO,
    render_cpu: Duration::ZERO,
    store: Duration::ZERO,
    waiting_for_render: Duration::ZERO,
    waiting_for_store: Duration::ZERO,
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
    let plan = Arc::new(plan);
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

/// Generates the stimuli of every image that has none, image by image:
/// rendering (a task of its own, on all cores) runs ahead of storing, which
/// streams each rendered batch into its image's COPY.
async fn generate_images(context: &JobContext, plan: &Arc<Plan>) -> Result<u64, JobError> {
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
    let (sender, mut receiver) = mpsc::channel(BATCHES_AHEAD);
    // Stops at its next batch once storing fails and drops the receiver.
    tokio::spawn(render_images(
        context.pool.clone(),
        plan.clone(),
        pending,
        sender,
    ));
    let mut generated = 0;
    while let Some(first) = next_batch(&mut receiver).await? {
        generated += store_image(context, plan, first, &mut receiver).await?;
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

/// Consecutive stimuli of one image, in order; `last` ends the image.
struct RenderedBatch {
    reference_image_id: i64,
    stimuli: Stimuli,
    last: bool,
}

type BatchSender = mpsc::Sender<Result<RenderedBatch>>;

/// Renders the `pending` images in order and sends their batches to
/// storing; an error is sent in place of the batch it spoiled, and ends it.
async fn render_images(
    pool: PgPool,
    plan: Arc<Plan>,
    pending: Vec<(usize, i64)>,
    sender: BatchSender,
) {
    for (index, reference_image_id) in pending {
        match render_reference(&pool, &plan, index, reference_image_id, &sender).await {
            Ok(true) => {}
            // Storing stopped.
            Ok(false) => return,
            Err(error) => {
                let _ = sender.send(Err(error)).await;
                return;
            }
        }
    }
}

/// Renders reference image `index`'s stimuli and sends them to storing in
/// batches; false when storing no longer takes them.
async fn render_reference(
    pool: &PgPool,
    plan: &Arc<Plan>,
    index: usize,
    reference_image_id: i64,
    sender: &BatchSender,
) -> Result<bool> {
    let image = sqlx::query!(
        "SELECT file_name, png FROM reference_images WHERE id = $1",
        reference_image_id
    )
    .fetch_one(pool)
    .await?;
    let outputs = method_outputs(pool, plan, &image.file_name, reference_image_id).await?;
    let (pool, plan, sender) = (pool.clone(), plan.clone(), sender.clone());
    // Distortions take milliseconds each: keep them off the executor.
    tokio::task::spawn_blocking(move || {
        render_image(
            &pool,
            &plan,
            index,
            &image.file_name,
            &image.png,
            outputs,
            &mut |stimuli, last| {
                let waiting = Instant::now();
                let taken = sender
                    .blocking_send(Ok(RenderedBatch {
                        reference_image_id,
                        stimuli,
                        last,
                    }))
                    .is_ok();
                add_stage_times(|times| times.waiting_for_store += waiting.elapsed());
                taken
            },
        )
    })
    .await
    .map_err(anyhow::Error::from)?
}

/// The next rendered batch, timing the wait; `None` when every image is
/// rendered.
async fn next_batch(
    receiver: &mut mpsc::Receiver<Result<RenderedBatch>>,
) -> Result<Option<RenderedBatch>> {
    let waiting = Instant::now();
    let batch = receiver.recv().await.transpose();
    add_stage_times(|times| times.waiting_for_render += waiting.elapsed());
    batch
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

/// Reference image `index`'s stimuli, handed to `send` in order in batches
/// (`send`'s flag marks the last; it returns false when storing stopped):
/// their random choices drawn in order from stream `index` of the
/// experiment's seed, then rendered on all cores (traditional distortions)
/// [`RENDER_BATCH`] at a time. An image with CNN-distorted sides is sent
/// whole, after each drawn network ran once over all its patches (batched);
/// a method comparison's triplets, cut from its methods' `outputs`, too.
fn render_image(
    pool: &PgPool,
    plan: &Plan,
    index: usize,
    file_name: &str,
    png: &[u8],
    outputs: Option<Vec<(String, Vec<u8>)>>,
    send: &mut dyn FnMut(Stimuli, bool) -> bool,
) -> Result<bool> {
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
        return Ok(send(Stimuli::Triplets(triplets), true));
    }
    let (dimensions, size) = (reference.dimensions(), plan.patch_size);
    let distorter = Distorter {
        family: plan.family,
        sampler: &plan.sampler,
        networks: &plan.networks,
    };
    let count = plan.patches_per_image as usize;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    // Whole when a network must run over all of them at once.
    let batch = match plan.family {
        DistortionFamily::Traditional => RENDER_BATCH,
        DistortionFamily::Cnn | DistortionFamily::Mix => count.max(1),
    };
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
    let mut plans: Box<dyn Iterator<Item = Plans>> = if plan.is_jnd {
        let plans = (0..count)
            .map(|_| PairPlan::draw(dimensions, size, &distorter, plan.control_share, &mut rng))
            .collect::<Result<Vec<_>>>()?;
        Box::new(in_batches(plans, batch).map(Plans::Pairs))
    } else {
        let plans = (0..count)
            .map(|_| TripletPlan::draw(dimensions, size, &distorter, plan.sentinel_rate, &mut rng))
            .collect::<Result<Vec<_>>>()?;
        Box::new(in_batches(plans, batch).map(Plans::Triplets))
    };
    add_stage_times(|times| times.draw += drawing.elapsed());
    let mut next = plans.next();
    while let Some(batch) = next {
        let rendering = Instant::now();
        let (mut stimuli, render_cpu) = match batch {
            Plans::Pairs(plans) => {
                let (pairs, cpu) = untimed(render_in_parallel(plans, threads, |pair| {
                    timed(|| pair.render(&reference, size))
                })?);
                (Stimuli::Pairs(pairs), cpu)
            }
            Plans::Triplets(plans) => {
                let (triplets, cpu) = untimed(render_in_parallel(plans, threads, |triplet| {
                    timed(|| triplet.render(&reference, size))
                })?);
                (Stimuli::Triplets(triplets), cpu)
            }
        };
        // The batch's CNN-distorted sides, each network once over its patches.
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
            times.render += rendering.elapsed();
            times.render_cpu += render_cpu;
        });
        next = plans.next();
        if !send(stimuli, next.is_none()) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// An image's drawn plans, or a batch of them.
enum Plans {
    Triplets(Vec<TripletPlan>),
    Pairs(Vec<PairPlan>),
}

/// `plans` in consecutive batches of `size` (one empty batch if there are
/// none, so that the image is still stored).
fn in_batches<P: 'static>(plans: Vec<P>, size: usize) -> impl Iterator<Item = Vec<P>> {
    let mut plans = plans.into_iter();
    let mut first = true;
    std::iter::from_fn(move || {
        let batch: Vec<P> = plans.by_ref().take(size).collect();
        let yielded = !batch.is_empty() || std::mem::take(&mut first);
        first = false;
        yielded.then_some(batch)
    })
}

/// Stores the image whose first rendered batch is `first`, taking its other
/// batches from `receiver` as they come, unless another process stored it
/// first; returns how many stimuli this call stored.
#[tracing::instrument(skip_all, fields(experiment_id = plan.experiment_id, reference_image_id = first.reference_image_id))]
async fn store_image(
    context: &JobContext,
    plan: &Plan,
    first: RenderedBatch,
    receiver: &mut mpsc::Receiver<Result<RenderedBatch>>,
) -> Result<u64, JobError> {
    let started = Instant::now();
    let mut waited = Duration::ZERO;
    let mut next = async |receiver: &mut mpsc::Receiver<Result<RenderedBatch>>| {
        let waiting = Instant::now();
        let batch = next_batch(receiver).await;
        waited += waiting.elapsed();
        batch
    };
    let reference_image_id = first.reference_image_id;
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
        let mut last = first.last;
        while !last {
            last = next(receiver)
                .await?
                .ok_or_else(|| anyhow::anyhow!("rendering stopped within an image"))?
                .last;
        }
        return Ok(0);
    }
    let statement = match first.stimuli {
        Stimuli::Triplets(_) => TRIPLET_COPY,
        Stimuli::Pairs(_) => PAIR_COPY,
    };
    let mut copy = transaction.copy_in_raw(statement).await?;
    let mut rows = CopyRows::new();
    let mut count = 0;
    let mut batch = first;
    loop {
        count += write_rows(
            &mut rows,
            plan.experiment_id,
            reference_image_id,
            &batch.stimuli,
        );
        if batch.last {
            break;
        }
        copy.send(rows.take()).await?;
        batch = match next(receiver).await {
            Ok(Some(batch)) => batch,
            Ok(None) => {
                copy.abort("rendering stopped within an image").await?;
                return Err(anyhow::anyhow!("rendering stopped within an image").into());
            }
            Err(error) => {
                copy.abort("rendering failed").await?;
                return Err(error.into());
            }
        };
    }
    copy.send(rows.finish()).await?;
    copy.finish().await?;
    count_generated(&mut transaction, plan.experiment_id, count).await?;
    context.advance(&mut transaction, count as i64).await?;
    transaction.commit().await?;
    add_stage_times(|times| {
        times.store += started.elapsed().saturating_sub(waited);
        times.stimuli += count as u64;
    });
    Ok(count as u64)
}

const TRIPLET_COPY: &str = "COPY triplets (
        experiment_id, reference_image_id, crop_x, crop_y, ref_png, p0_png, p1_png,
        p0_pipeline, p0_seed, p1_pipeline, p1_seed, sentinel_answer, p0_method, p1_method
    ) FROM STDIN (FORMAT binary)";

const PAIR_COPY: &str = "COPY pairs (
        experiment_id, reference_image_id, crop_x, crop_y, ref_png, distorted_png,
        pipeline, seed, is_control
    ) FROM STDIN (FORMAT binary)";

/// Writes `stimuli` as rows of [`TRIPLET_COPY`] or [`PAIR_COPY`]; returns
/// how many.
fn write_rows(
    rows: &mut CopyRows,
    experiment_id: i64,
    reference_image_id: i64,
    stimuli: &Stimuli,
) -> usize {
    match stimuli {
        Stimuli::Triplets(triplets) => {
            for t in triplets {
                rows.row(14)
                    .int8(experiment_id)
                    .int8(reference_image_id)
                    .int4(t.crop_x as i32)
                    .int4(t.crop_y as i32)
                    .bytea(&t.ref_png)
                    .bytea(&t.p0.png)
                    .bytea(&t.p1.png)
                    .jsonb(&t.p0.distortion.to_json())
                    .int8(t.p0.seed as i64)
                    .jsonb(&t.p1.distortion.to_json())
                    .int8(t.p1.seed as i64);
                match t.sentinel_answer {
                    Some(answer) => rows.int2(i16::from(answer)),
                    None => rows.null(),
                };
                rows.text(t.p0.method.as_deref())
                    .text(t.p1.method.as_deref());
            }
            triplets.len()
        }
        Stimuli::Pairs(pairs) => {
            for p in pairs {
                rows.row(9)
                    .int8(experiment_id)
                    .int8(reference_image_id)
                    .int4(p.crop_x as i32)
                    .int4(p.crop_y as i32)
                    .bytea(&p.ref_png)
                    .bytea(&p.distorted.png)
                    .jsonb(&p.distorted.distortion.to_json())
                    .int8(p.distorted.seed as i64)
                    .bool(p.is_control);
            }
            pairs.len()
        }
    }
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
