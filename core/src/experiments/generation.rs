//! Generating an experiment's stimuli, as a job of the queue.
//!
//! Every reference image's stimuli are reproducible on their own (image `i`
//! draws from stream `i` of the experiment seed), so the job goes image by
//! image and commits each image's stimuli in one transaction with the
//! experiment's count and the job's progress. A process that takes over a
//! killed job skips the images that have stimuli, so nothing is generated
//! twice, and the transaction that stores the last stimuli marks the
//! experiment `ready`.

use std::time::Duration;

use distortions::rand_chacha::{rand_core::SeedableRng, ChaCha8Rng};
use futures_util::future::BoxFuture;
use sqlx::{PgConnection, PgPool};

use super::StoredExperiment;
use crate::error::{Error, Result};
use crate::jnd;
use crate::jobs::{
    self, ClaimedJob, Handler, JobContext, JobError, JobKind, ProgressObserver, Runner,
};
use crate::stimuli::{
    generate_method_triplets, MethodOutput, PairStimulus, ReferenceImage, SamplerSettings,
    TripletStimulus,
};

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
struct Plan {
    experiment_id: i64,
    is_jnd: bool,
    seed: u64,
    patch_size: u32,
    patches_per_image: u32,
    sampler: distortions::Sampler,
    sentinel_rate: f64,
    control_share: f64,
    /// A method comparison's methods (in stored order), pairs per patch and
    /// flat-patch threshold.
    methods: Option<Vec<String>>,
    pairs_per_patch: Option<u32>,
    min_patch_variance: Option<f64>,
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
    let plan = Plan {
        experiment_id,
        is_jnd: row.kind == "jnd",
        seed: row.seed as u64,
        patch_size: row.patch_size as u32,
        patches_per_image: row.patches_per_image as u32,
        sampler: sampler_settings.sampler()?,
        sentinel_rate: f64::from(row.sentinel_rate),
        control_share: f64::from(row.control_share),
        methods: row.methods,
        pairs_per_patch: row.pairs_per_patch.map(|k| k as u32),
        min_patch_variance: row.min_patch_variance.map(f64::from),
    };
    let mut generated = 0;
    match row.source_experiment_id {
        Some(source_id) => generated += copy_from_source(context, &plan, source_id).await?,
        None => {
            let images = sqlx::query!(
                r#"SELECT r.id,
                          EXISTS (SELECT 1 FROM triplets t WHERE t.reference_image_id = r.id)
                          OR EXISTS (SELECT 1 FROM pairs p WHERE p.reference_image_id = r.id)
                          AS "generated!"
                   FROM reference_images r WHERE r.experiment_id = $1 ORDER BY r.id"#,
                experiment_id
            )
            .fetch_all(pool)
            .await?;
            for (index, image) in images.iter().enumerate() {
                if !image.generated {
                    generated += generate_image(context, &plan, index, image.id).await?;
                }
            }
        }
    }
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

/// Generates and stores reference image `index`'s stimuli, unless another
/// process stored them first; returns how many this call stored.
#[tracing::instrument(skip(context, plan), fields(experiment_id = plan.experiment_id))]
async fn generate_image(
    context: &JobContext,
    plan: &Plan,
    index: usize,
    reference_image_id: i64,
) -> Result<u64, JobError> {
    let image = sqlx::query!(
        "SELECT file_name, png FROM reference_images WHERE id = $1",
        reference_image_id
    )
    .fetch_one(&context.pool)
    .await?;
    // A method comparison's outputs for this image, in the plan's method order.
    let outputs = match &plan.methods {
        None => None,
        Some(methods) => {
            let rows = sqlx::query!(
                "SELECT method, png FROM method_outputs WHERE reference_image_id = $1",
                reference_image_id
            )
            .fetch_all(&context.pool)
            .await?;
            let mut outputs = Vec::with_capacity(methods.len());
            for method in methods {
                let row = rows.iter().find(|row| &row.method == method).ok_or_else(|| {
                    JobError::Failed(format!(
                        "reference image {} has no stored output of method {method}",
                        image.file_name
                    ))
                })?;
                outputs.push((method.clone(), row.png.clone()));
            }
            Some(outputs)
        }
    };
    let (pairs_per_patch, min_patch_variance) = (plan.pairs_per_patch, plan.min_patch_variance);
    let (seed, count, patch_size) = (plan.seed, plan.patches_per_image, plan.patch_size);
    let (sampler, is_jnd) = (plan.sampler.clone(), plan.is_jnd);
    let (sentinel_rate, control_share) = (plan.sentinel_rate, plan.control_share);
    // Distortions take tens of milliseconds each: keep them off the executor.
    let stimuli = tokio::task::spawn_blocking(move || -> Result<Stimuli> {
        let reference = ReferenceImage::decode(&image.file_name, &image.png)?.image;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
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
            return Ok(Stimuli::Triplets(generate_method_triplets(
                &image.file_name,
                &reference,
                &outputs,
                patch_size,
                count,
                pairs_per_patch,
                min_patch_variance,
                sentinel_rate,
                &mut rng,
            )?));
        }
        Ok(if is_jnd {
            Stimuli::Pairs(
                (0..count)
                    .map(|_| {
                        PairStimulus::generate(
                            &reference,
                            patch_size,
                            &sampler,
                            control_share,
                            &mut rng,
                        )
                    })
                    .collect::<Result<_>>()?,
            )
        } else {
            Stimuli::Triplets(
                (0..count)
                    .map(|_| {
                        TripletStimulus::generate(
                            &reference,
                            patch_size,
                            &sampler,
                            sentinel_rate,
                            &mut rng,
                        )
                    })
                    .collect::<Result<_>>()?,
            )
        })
    })
    .await
    .map_err(anyhow::Error::from)
    .map_err(Error::from)??;

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
    let pipeline_json = |pipeline: &distortions::Pipeline| {
        serde_json::to_value(pipeline).map_err(anyhow::Error::from)
    };
    let p0_pipelines = triplets
        .iter()
        .map(|t| pipeline_json(&t.p0.pipeline))
        .collect::<Result<Vec<_>, _>>()?;
    let p1_pipelines = triplets
        .iter()
        .map(|t| pipeline_json(&t.p1.pipeline))
        .collect::<Result<Vec<_>, _>>()?;
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
