//! Scoring jobs: a metric's distances for an experiment's stimuli, as jobs
//! of the one queue (see `crate::jobs`), taken by whichever `percept serve`
//! or `percept worker` gets there first. Distances are committed batch by
//! batch with the job's progress, and a job only scores what has no distance
//! yet, so a job taken over from a killed process carries on where it stopped.

use percept_core::error::chain_message;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use distortions::image::{self, RgbImage};
use futures_util::future::BoxFuture;
use lpips::Device;
use sqlx::{PgConnection, PgPool};

use app::api::scoring::MetricProgress;

use super::metric::{LoadedMetric, Metric};
use crate::jobs::{self, Handler, JobContext, JobError, JobKind, Runner};
use crate::stimuli::StimulusKind;

/// Triplets or pairs scored and committed at a time: a killed worker loses
/// at most this much.
const ITEMS_PER_BATCH: i64 = 256;

/// Queues scoring `metric` on the experiment's stimuli; returns the job id
/// (see [`enqueue_all`]).
pub async fn enqueue(
    pool: &PgPool,
    experiment_id: i64,
    metric: &Metric,
) -> crate::error::Result<i64> {
    let job_ids = enqueue_all(pool, experiment_id, std::slice::from_ref(metric)).await?;
    Ok(job_ids[0])
}

/// Queues scoring each of `metrics` on the experiment's stimuli; returns
/// the job ids. A job already open for the same experiment and metric is
/// joined. A metric the experiment's patches are too small for is refused
/// up front, naming its minimum, and then none is queued.
pub async fn enqueue_all(
    pool: &PgPool,
    experiment_id: i64,
    metrics: &[Metric],
) -> crate::error::Result<Vec<i64>> {
    let patch_size = sqlx::query_scalar!(
        "SELECT patch_size FROM experiments WHERE id = $1",
        experiment_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        crate::error::Error::NotFound(format!("there is no experiment {experiment_id}"))
    })?;
    let too_small: Vec<String> = metrics
        .iter()
        .filter(|metric| patch_size < metric.min_side() as i32)
        .map(|metric| {
            let side = metric.min_side();
            format!("{metric} needs patches of at least {side}×{side}")
        })
        .collect();
    if !too_small.is_empty() {
        return Err(crate::error::Error::BadRequest(format!(
            "experiment {experiment_id} has {patch_size}×{patch_size} patches, too small to score: {}",
            too_small.join("; ")
        )));
    }
    let mut connection = pool.acquire().await?;
    let mut job_ids = Vec::with_capacity(metrics.len());
    for metric in metrics {
        job_ids.push(
            jobs::enqueue(
                &mut connection,
                JobKind::Scoring,
                Some(experiment_id),
                &serde_json::json!({ "metric": metric.to_string() }),
            )
            .await?,
        );
    }
    Ok(job_ids)
}

/// For each metric with a job on the experiment: stimuli scored so far, and
/// the latest job's status.
pub async fn progress(
    pool: &PgPool,
    experiment_id: i64,
) -> crate::error::Result<Vec<MetricProgress>> {
    Ok(sqlx::query_as!(
        MetricProgress,
        r#"
        SELECT DISTINCT ON (j.payload->>'metric')
               j.payload->>'metric' AS "metric!",
               (SELECT count(*) FROM triplet_distances d JOIN triplets t ON t.id = d.triplet_id
                WHERE t.experiment_id = j.experiment_id AND d.metric = j.payload->>'metric')
               + (SELECT count(*) FROM pair_distances d JOIN pairs p ON p.id = d.pair_id
                  WHERE p.experiment_id = j.experiment_id AND d.metric = j.payload->>'metric') AS "scored!",
               (SELECT count(*) FROM triplets t WHERE t.experiment_id = j.experiment_id)
               + (SELECT count(*) FROM pairs p WHERE p.experiment_id = j.experiment_id) AS "stimuli!",
               j.status AS "state?",
               j.error
        FROM jobs j
        WHERE j.experiment_id = $1 AND j.kind = 'scoring'
        ORDER BY j.payload->>'metric', j.id DESC
        "#,
        experiment_id
    )
    .fetch_all(pool)
    .await?)
}

/// A runner that takes only scoring jobs (`percept score`, and tests).
pub fn runner(pool: PgPool, weights_dir: PathBuf) -> Runner {
    Runner::new(pool).with(ScoringJobs::new(weights_dir))
}

/// The handler for `scoring` jobs: computes a metric's distances for every
/// stimulus that lacks them, keeping loaded networks for the next job.
pub struct ScoringJobs {
    weights_dir: PathBuf,
    /// Where the networks compute.
    device: Device,
    /// Networks stay loaded for the next job; a mutex because each batch is
    /// scored on a blocking thread.
    loaded: HashMap<Metric, Arc<Mutex<LoadedMetric>>>,
}

impl Handler for ScoringJobs {
    fn kind(&self) -> JobKind {
        JobKind::Scoring
    }

    fn run<'a>(&'a mut self, context: &'a JobContext) -> BoxFuture<'a, Result<u64, JobError>> {
        Box::pin(async move {
            let experiment_id = context
                .job
                .experiment_id
                .ok_or_else(|| JobError::Failed("a scoring job needs an experiment".into()))?;
            let metric = context.job.payload["metric"]
                .as_str()
                .ok_or_else(|| JobError::Failed("a scoring job needs a metric".into()))?
                .to_owned();
            self.score(context, experiment_id, &metric).await
        })
    }
}

impl ScoringJobs {
    /// Networks compute on the CPU unless [`Self::on`] says otherwise.
    pub fn new(weights_dir: PathBuf) -> Self {
        Self {
            weights_dir,
            device: Device::Cpu,
            loaded: HashMap::new(),
        }
    }

    /// Networks compute on `device` (resolved from `--device`).
    pub fn on(self, device: Device) -> Self {
        Self { device, ..self }
    }

    /// Scores the experiment's triplets and pairs that have no `metric`
    /// distance yet; returns how many.
    #[tracing::instrument(skip(self, context), fields(job_id = context.job.id))]
    async fn score(
        &mut self,
        context: &JobContext,
        experiment_id: i64,
        metric_name: &str,
    ) -> Result<u64, JobError> {
        let metric: Metric = metric_name
            .parse()
            .map_err(|error: anyhow::Error| JobError::Failed(chain_message(&error)))?;
        if let Metric::Lpips {
            net,
            weights: Some(name),
            ..
        } = &metric
        {
            // A metric trained here is in the database: its weights are
            // written to this process's weights folder, and loaded afresh
            // (it may have been retrained under its name).
            if crate::training::materialise(&context.pool, name, *net, &self.weights_dir)
                .await?
                .is_some()
            {
                self.loaded.remove(&metric);
            }
        }
        let loaded = match self.loaded.get(&metric) {
            Some(loaded) => loaded.clone(),
            None => {
                let (to_load, dir, device) =
                    (metric.clone(), self.weights_dir.clone(), self.device);
                let loaded = Arc::new(Mutex::new(
                    blocking(move || LoadedMetric::load(&to_load, &dir, device)).await?,
                ));
                self.loaded.insert(metric, loaded.clone());
                loaded
            }
        };
        let (done, total) = counts(&context.pool, experiment_id, metric_name).await?;
        context.set_progress(done, total).await?;
        let mut scored = 0;
        for kind in [StimulusKind::Triplet, StimulusKind::Pair] {
            scored += score_kind(context, kind, experiment_id, metric_name, &loaded).await?;
        }
        Ok(scored)
    }
}

/// Stimuli scored with `metric_name` so far, and all the experiment's.
async fn counts(pool: &PgPool, experiment_id: i64, metric_name: &str) -> sqlx::Result<(i64, i64)> {
    let row = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM triplet_distances d JOIN triplets t ON t.id = d.triplet_id
                   WHERE t.experiment_id = $1 AND d.metric = $2)
                  + (SELECT count(*) FROM pair_distances d JOIN pairs p ON p.id = d.pair_id
                     WHERE p.experiment_id = $1 AND d.metric = $2) AS "done!",
                  (SELECT count(*) FROM triplets WHERE experiment_id = $1)
                  + (SELECT count(*) FROM pairs WHERE experiment_id = $1) AS "total!""#,
        experiment_id,
        metric_name,
    )
    .fetch_one(pool)
    .await?;
    Ok((row.done, row.total))
}

/// Scores the experiment's stimuli of `kind` that have no `metric_name`
/// distance yet, a batch per transaction (with the job's progress); returns
/// how many this call stored.
async fn score_kind(
    context: &JobContext,
    kind: StimulusKind,
    experiment_id: i64,
    metric_name: &str,
    loaded: &Arc<Mutex<LoadedMetric>>,
) -> Result<u64, JobError> {
    let mut scored = 0;
    loop {
        let (ids, pngs) = kind
            .unscored(&context.pool, experiment_id, metric_name)
            .await?;
        if ids.is_empty() {
            return Ok(scored);
        }
        let (loaded, batch_ids) = (loaded.clone(), ids.clone());
        let distances = blocking(move || {
            let metric = lock(&loaded)?;
            kind.score(&metric, &batch_ids, &pngs)
        })
        .await?;
        let mut transaction = context.pool.begin().await?;
        let stored = kind
            .store(&mut transaction, &ids, metric_name, &distances)
            .await?;
        context.advance(&mut transaction, stored as i64).await?;
        transaction.commit().await?;
        scored += stored;
    }
}

/// Distances for a batch, in the shape of its kind.
enum Distances {
    Triplets(Vec<(f64, f64)>),
    Pairs(Vec<f64>),
}

/// Where a kind of stimuli and its distances are stored: one scoring loop,
/// two tables.
trait ScoringTables {
    async fn unscored(
        self,
        pool: &PgPool,
        experiment_id: i64,
        metric_name: &str,
    ) -> sqlx::Result<(Vec<i64>, Vec<Vec<Vec<u8>>>)>;

    fn score(
        self,
        metric: &LoadedMetric,
        ids: &[i64],
        pngs: &[Vec<Vec<u8>>],
    ) -> anyhow::Result<Distances>;

    async fn store(
        self,
        transaction: &mut PgConnection,
        ids: &[i64],
        metric_name: &str,
        distances: &Distances,
    ) -> sqlx::Result<u64>;
}

impl ScoringTables for StimulusKind {
    /// Up to [`ITEMS_PER_BATCH`] stimuli without a `metric_name` distance:
    /// their ids and PNGs (reference first).
    async fn unscored(
        self,
        pool: &PgPool,
        experiment_id: i64,
        metric_name: &str,
    ) -> sqlx::Result<(Vec<i64>, Vec<Vec<Vec<u8>>>)> {
        Ok(match self {
            StimulusKind::Triplet => sqlx::query!(
                "SELECT t.id, t.ref_png, t.p0_png, t.p1_png FROM triplets t
                 WHERE t.experiment_id = $1 AND NOT EXISTS (
                     SELECT 1 FROM triplet_distances d WHERE d.triplet_id = t.id AND d.metric = $2
                 )
                 ORDER BY t.id LIMIT $3",
                experiment_id,
                metric_name,
                ITEMS_PER_BATCH,
            )
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| (row.id, vec![row.ref_png, row.p0_png, row.p1_png]))
            .unzip(),
            StimulusKind::Pair => sqlx::query!(
                "SELECT p.id, p.ref_png, p.distorted_png FROM pairs p
                 WHERE p.experiment_id = $1 AND NOT EXISTS (
                     SELECT 1 FROM pair_distances d WHERE d.pair_id = p.id AND d.metric = $2
                 )
                 ORDER BY p.id LIMIT $3",
                experiment_id,
                metric_name,
                ITEMS_PER_BATCH,
            )
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| (row.id, vec![row.ref_png, row.distorted_png]))
            .unzip(),
        })
    }

    /// Decodes the batch and scores it (on a blocking thread).
    fn score(
        self,
        metric: &LoadedMetric,
        ids: &[i64],
        pngs: &[Vec<Vec<u8>>],
    ) -> anyhow::Result<Distances> {
        Ok(match self {
            StimulusKind::Triplet => {
                Distances::Triplets(metric.score(&decode_all(pngs, ids, self)?)?)
            }
            StimulusKind::Pair => {
                Distances::Pairs(metric.score_pairs(&decode_all(pngs, ids, self)?)?)
            }
        })
    }

    /// Stores the batch's distances (a row another process stored first
    /// stays as it is); returns how many rows this call added.
    async fn store(
        self,
        transaction: &mut PgConnection,
        ids: &[i64],
        metric_name: &str,
        distances: &Distances,
    ) -> sqlx::Result<u64> {
        let inserted = match distances {
            Distances::Triplets(distances) => {
                let (d0, d1): (Vec<f64>, Vec<f64>) = distances.iter().copied().unzip();
                sqlx::query!(
                    "INSERT INTO triplet_distances (triplet_id, metric, d0, d1)
                     SELECT triplet_id, $2, d0, d1
                     FROM UNNEST($1::bigint[], $3::float8[], $4::float8[]) AS t(triplet_id, d0, d1)
                     ON CONFLICT DO NOTHING",
                    ids,
                    metric_name,
                    &d0,
                    &d1,
                )
                .execute(&mut *transaction)
                .await?
            }
            Distances::Pairs(distances) => {
                sqlx::query!(
                    "INSERT INTO pair_distances (pair_id, metric, distance)
                     SELECT pair_id, $2, distance
                     FROM UNNEST($1::bigint[], $3::float8[]) AS t(pair_id, distance)
                     ON CONFLICT DO NOTHING",
                    ids,
                    metric_name,
                    distances,
                )
                .execute(&mut *transaction)
                .await?
            }
        };
        Ok(inserted.rows_affected())
    }
}

fn lock(loaded: &Mutex<LoadedMetric>) -> anyhow::Result<std::sync::MutexGuard<'_, LoadedMetric>> {
    loaded
        .lock()
        .map_err(|_| anyhow::anyhow!("an earlier scoring batch crashed while using this metric"))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, JobError> {
    Ok(tokio::task::spawn_blocking(work)
        .await
        .map_err(anyhow::Error::from)??)
}

/// Decodes each stimulus's PNGs; an error names the stimulus (kind and id).
fn decode_all<const N: usize>(
    pngs: &[Vec<Vec<u8>>],
    ids: &[i64],
    kind: StimulusKind,
) -> anyhow::Result<Vec<[RgbImage; N]>> {
    let kind = kind.as_str();
    pngs.iter()
        .zip(ids)
        .map(|(pngs, id)| {
            let patches = pngs
                .iter()
                .map(|png| {
                    Ok(
                        image::load_from_memory_with_format(png, image::ImageFormat::Png)
                            .with_context(|| format!("{kind} {id}"))?
                            .to_rgb8(),
                    )
                })
                .collect::<anyhow::Result<Vec<RgbImage>>>()?;
            <[RgbImage; N]>::try_from(patches)
                .map_err(|_| anyhow::anyhow!("{kind} {id}: expected {N} patches"))
        })
        .collect()
}
