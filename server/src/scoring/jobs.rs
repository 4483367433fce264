//! Scoring jobs kept in PostgreSQL: queued by anyone, taken by whichever
//! worker process gets there first (see migrations/0004_scoring.sql for how
//! a claim works and why a dead worker leaves no job stuck).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use distortions::image::{self, RgbImage};
use sqlx::PgPool;

use app::api::scoring::MetricProgress;

use super::metric::{LoadedMetric, Metric};

/// Triplets or pairs scored and committed at a time: a killed worker loses
/// at most this much.
const ITEMS_PER_BATCH: i64 = 256;

/// How often an idle worker looks for work.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Queues scoring `metric` on the experiment's triplets; returns the job id.
/// A job already pending for the same experiment and metric is reused.
pub async fn enqueue(
    pool: &PgPool,
    experiment_id: i64,
    metric: &Metric,
) -> crate::error::Result<i64> {
    let exists = sqlx::query_scalar!(
        "SELECT EXISTS (SELECT 1 FROM experiments WHERE id = $1) AS \"exists!\"",
        experiment_id
    )
    .fetch_one(pool)
    .await?;
    if !exists {
        return Err(crate::error::Error::NotFound(format!(
            "there is no experiment {experiment_id}"
        )));
    }
    Ok(sqlx::query_scalar!(
        "INSERT INTO scoring_jobs (experiment_id, metric) VALUES ($1, $2)
         ON CONFLICT (experiment_id, metric) WHERE state = 'pending'
         DO UPDATE SET metric = EXCLUDED.metric
         RETURNING id",
        experiment_id,
        metric.to_string(),
    )
    .fetch_one(pool)
    .await?)
}

/// For each metric with a job on the experiment: triplets scored so far.
pub async fn progress(
    pool: &PgPool,
    experiment_id: i64,
) -> crate::error::Result<Vec<MetricProgress>> {
    Ok(sqlx::query_as!(
        MetricProgress,
        r#"
        SELECT DISTINCT ON (j.metric)
               j.metric,
               (SELECT count(*) FROM triplet_distances d JOIN triplets t ON t.id = d.triplet_id
                WHERE t.experiment_id = j.experiment_id AND d.metric = j.metric)
               + (SELECT count(*) FROM pair_distances d JOIN pairs p ON p.id = d.pair_id
                  WHERE p.experiment_id = j.experiment_id AND d.metric = j.metric) AS "scored!",
               (SELECT count(*) FROM triplets t WHERE t.experiment_id = j.experiment_id)
               + (SELECT count(*) FROM pairs p WHERE p.experiment_id = j.experiment_id) AS "stimuli!",
               j.state AS "state?",
               j.error
        FROM scoring_jobs j
        WHERE j.experiment_id = $1
        ORDER BY j.metric, j.id DESC
        "#,
        experiment_id
    )
    .fetch_all(pool)
    .await?)
}

/// A scoring worker: takes pending jobs and computes their distances,
/// keeping loaded networks for the next job.
pub struct Worker {
    pool: PgPool,
    weights_dir: PathBuf,
    /// Networks stay loaded for the next job; a mutex because each batch is
    /// scored on a blocking thread.
    loaded: HashMap<Metric, Arc<Mutex<LoadedMetric>>>,
}

/// What became of a job this worker took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    pub job_id: i64,
    /// Triplets this worker scored (0 when an earlier run had done them all).
    pub scored: u64,
    pub error: Option<String>,
}

impl Worker {
    pub fn new(pool: PgPool, weights_dir: PathBuf) -> Self {
        Self {
            pool,
            weights_dir,
            loaded: HashMap::new(),
        }
    }

    /// Works until `stop` resolves, waiting for jobs when there are none.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        tokio::pin!(stop);
        loop {
            let outcome = tokio::select! {
                _ = &mut stop => return Ok(()),
                outcome = self.run_next(None) => outcome,
            };
            match outcome {
                Ok(Some(outcome)) => match &outcome.error {
                    None => tracing::info!(
                        job = outcome.job_id,
                        scored = outcome.scored,
                        "scoring job done"
                    ),
                    Some(error) => {
                        tracing::warn!(job = outcome.job_id, %error, "scoring job failed")
                    }
                },
                Ok(None) => tokio::select! {
                    _ = &mut stop => return Ok(()),
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                },
                // The database may be restarting: keep trying rather than die.
                Err(error) => {
                    tracing::warn!("scoring worker: {error:#}");
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
            }
        }
    }

    /// Takes the oldest pending job (of `only`, if given) that no other
    /// worker holds, and scores every triplet it still lacks. `None` when
    /// there is no such job.
    pub async fn run_next(&mut self, only: Option<&[i64]>) -> anyhow::Result<Option<JobOutcome>> {
        let mut claim = self.pool.begin().await?;
        // The claim lasts as long as this work does.
        sqlx::query!("SET LOCAL idle_in_transaction_session_timeout = 0")
            .execute(&mut *claim)
            .await?;
        let Some(job) = sqlx::query!(
            "SELECT id, experiment_id, metric FROM scoring_jobs
             WHERE state = 'pending' AND ($1::bigint[] IS NULL OR id = ANY($1))
             ORDER BY id
             LIMIT 1
             FOR UPDATE SKIP LOCKED",
            only,
        )
        .fetch_optional(&mut *claim)
        .await?
        else {
            return Ok(None);
        };
        let outcome = match self.score(job.experiment_id, &job.metric).await {
            Ok(scored) => {
                sqlx::query!(
                    "UPDATE scoring_jobs SET state = 'done', finished_at = now() WHERE id = $1",
                    job.id
                )
                .execute(&mut *claim)
                .await?;
                JobOutcome {
                    job_id: job.id,
                    scored,
                    error: None,
                }
            }
            Err(JobError::Database(error)) => return Err(error.into()),
            Err(JobError::Job(error)) => {
                let message = format!("{error:#}");
                sqlx::query!(
                    "UPDATE scoring_jobs SET state = 'failed', error = $2, finished_at = now() WHERE id = $1",
                    job.id,
                    message,
                )
                .execute(&mut *claim)
                .await?;
                JobOutcome {
                    job_id: job.id,
                    scored: 0,
                    error: Some(message),
                }
            }
        };
        claim.commit().await?;
        Ok(Some(outcome))
    }

    /// Scores the experiment's triplets and pairs that have no `metric`
    /// distance yet; returns how many.
    async fn score(&mut self, experiment_id: i64, metric_name: &str) -> Result<u64, JobError> {
        let metric: Metric = metric_name.parse().map_err(JobError::Job)?;
        let loaded = match self.loaded.get(&metric) {
            Some(loaded) => loaded.clone(),
            None => {
                let (to_load, dir) = (metric.clone(), self.weights_dir.clone());
                let loaded = Arc::new(Mutex::new(
                    blocking(move || LoadedMetric::load(&to_load, &dir)).await?,
                ));
                self.loaded.insert(metric, loaded.clone());
                loaded
            }
        };
        let triplets = self
            .score_triplets(experiment_id, metric_name, &loaded)
            .await?;
        let pairs = self
            .score_pairs(experiment_id, metric_name, &loaded)
            .await?;
        Ok(triplets + pairs)
    }

    async fn score_triplets(
        &self,
        experiment_id: i64,
        metric_name: &str,
        loaded: &Arc<Mutex<LoadedMetric>>,
    ) -> Result<u64, JobError> {
        let mut scored = 0;
        loop {
            let batch = sqlx::query!(
                "SELECT t.id, t.ref_png, t.p0_png, t.p1_png FROM triplets t
                 WHERE t.experiment_id = $1 AND NOT EXISTS (
                     SELECT 1 FROM triplet_distances d WHERE d.triplet_id = t.id AND d.metric = $2
                 )
                 ORDER BY t.id LIMIT $3",
                experiment_id,
                metric_name,
                ITEMS_PER_BATCH,
            )
            .fetch_all(&self.pool)
            .await?;
            if batch.is_empty() {
                return Ok(scored);
            }
            let ids: Vec<i64> = batch.iter().map(|row| row.id).collect();
            let pngs: Vec<[Vec<u8>; 3]> = batch
                .into_iter()
                .map(|row| [row.ref_png, row.p0_png, row.p1_png])
                .collect();
            let (loaded, batch_ids) = (loaded.clone(), ids.clone());
            let distances = blocking(move || {
                let triplets = decode_all(&pngs, &batch_ids, "triplet")?;
                lock(&loaded)?.score(&triplets)
            })
            .await?;
            let (d0, d1): (Vec<f64>, Vec<f64>) = distances.into_iter().unzip();
            sqlx::query!(
                "INSERT INTO triplet_distances (triplet_id, metric, d0, d1)
                 SELECT triplet_id, $2, d0, d1
                 FROM UNNEST($1::bigint[], $3::float8[], $4::float8[]) AS t(triplet_id, d0, d1)
                 ON CONFLICT DO NOTHING",
                &ids,
                metric_name,
                &d0,
                &d1,
            )
            .execute(&self.pool)
            .await?;
            scored += ids.len() as u64;
        }
    }

    async fn score_pairs(
        &self,
        experiment_id: i64,
        metric_name: &str,
        loaded: &Arc<Mutex<LoadedMetric>>,
    ) -> Result<u64, JobError> {
        let mut scored = 0;
        loop {
            let batch = sqlx::query!(
                "SELECT p.id, p.ref_png, p.distorted_png FROM pairs p
                 WHERE p.experiment_id = $1 AND NOT EXISTS (
                     SELECT 1 FROM pair_distances d WHERE d.pair_id = p.id AND d.metric = $2
                 )
                 ORDER BY p.id LIMIT $3",
                experiment_id,
                metric_name,
                ITEMS_PER_BATCH,
            )
            .fetch_all(&self.pool)
            .await?;
            if batch.is_empty() {
                return Ok(scored);
            }
            let ids: Vec<i64> = batch.iter().map(|row| row.id).collect();
            let pngs: Vec<[Vec<u8>; 2]> = batch
                .into_iter()
                .map(|row| [row.ref_png, row.distorted_png])
                .collect();
            let (loaded, batch_ids) = (loaded.clone(), ids.clone());
            let distances = blocking(move || {
                let pairs = decode_all(&pngs, &batch_ids, "pair")?;
                lock(&loaded)?.score_pairs(&pairs)
            })
            .await?;
            sqlx::query!(
                "INSERT INTO pair_distances (pair_id, metric, distance)
                 SELECT pair_id, $2, distance
                 FROM UNNEST($1::bigint[], $3::float8[]) AS t(pair_id, distance)
                 ON CONFLICT DO NOTHING",
                &ids,
                metric_name,
                &distances,
            )
            .execute(&self.pool)
            .await?;
            scored += ids.len() as u64;
        }
    }
}

enum JobError {
    /// The database failed: the job stays pending for the next try.
    Database(sqlx::Error),
    /// The job itself cannot be done (no weights, a corrupt patch): it fails.
    Job(anyhow::Error),
}

impl From<sqlx::Error> for JobError {
    fn from(error: sqlx::Error) -> Self {
        JobError::Database(error)
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
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| JobError::Job(error.into()))?
        .map_err(JobError::Job)
}

/// Decodes each stimulus's PNGs; an error names the stimulus (`kind` and id).
fn decode_all<const N: usize>(
    pngs: &[[Vec<u8>; N]],
    ids: &[i64],
    kind: &str,
) -> anyhow::Result<Vec<[RgbImage; N]>> {
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
