//! The one job queue: every long task (generating an experiment's stimuli,
//! scoring it with a metric, training a metric on its judgments) is a row of `jobs`,
//! worked by whichever `percept serve` or `percept worker` process takes it
//! first. migrations/0010_jobs.sql says how a claim, the heartbeat and a
//! takeover work; [`runner`] is the loop every process runs.
//!
//! Why our own queue rather than a job library: scoring already had the
//! semantics this needs (a claim with `FOR UPDATE SKIP LOCKED`, resumable
//! partial progress committed with the work), the jobs must join the rest
//! of the schema (an experiment's jobs go with it, the dashboard reads their
//! progress and owner in the same query as the experiment), and every kind's
//! resumption is specific to it (skip the images already generated, the
//! stimuli already scored), which no library can do for us.

pub mod runner;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use percept_api::jobs::JobSummary;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::error::{Error, Result};

pub use runner::{Handler, JobContext, JobError, JobOutcome, ProgressObserver, Runner};

/// A process that has not renewed its claim for this long is taken for dead,
/// and its job is given to the next process that looks.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often a process working on a job renews its claim.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);

/// Which code runs a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobKind {
    /// Cutting and distorting an experiment's stimuli.
    Generation,
    /// A metric's distances for an experiment's stimuli (links libtorch).
    Scoring,
    /// Learning an LPIPS metric from 2AFC judgments (links libtorch); the
    /// job's `trained_models` row holds what it needs and makes.
    Training,
    /// Training the networks of the CNN distortion bank (links libtorch).
    CnnBank,
}

impl JobKind {
    pub const ALL: [JobKind; 4] = [
        JobKind::Generation,
        JobKind::Scoring,
        JobKind::Training,
        JobKind::CnnBank,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Generation => "generation",
            JobKind::Scoring => "scoring",
            JobKind::Training => "training",
            JobKind::CnnBank => "cnn-bank",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        JobKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| {
                let kinds: Vec<&str> = JobKind::ALL.iter().map(|kind| kind.as_str()).collect();
                format!(
                    "unknown job kind {name:?}; the kinds are {}",
                    kinds.join(", ")
                )
            })
    }
}

/// A job a process has claimed.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: JobKind,
    pub experiment_id: Option<i64>,
    pub payload: Value,
    /// Claims so far, this one included.
    pub attempts: i32,
    pub max_attempts: i32,
    /// The process that had it before, when this claim takes it over.
    pub previous_owner: Option<String>,
}

/// Queues a job; returns its id. An open (queued or running) job of the
/// same kind, experiment and payload is joined instead.
pub async fn enqueue(
    connection: &mut PgConnection,
    kind: JobKind,
    experiment_id: Option<i64>,
    payload: &Value,
) -> Result<i64> {
    Ok(sqlx::query_scalar!(
        "INSERT INTO jobs (kind, experiment_id, payload) VALUES ($1, $2, $3)
         ON CONFLICT (kind, experiment_id, payload) WHERE status IN ('queued', 'running')
         DO UPDATE SET kind = EXCLUDED.kind
         RETURNING id",
        kind.as_str(),
        experiment_id,
        payload,
    )
    .fetch_one(connection)
    .await?)
}

/// Claims the oldest job of `kinds` (and of `only`, if given) that is queued
/// or whose process stopped renewing its claim, for the process `owner`.
pub async fn claim(
    pool: &PgPool,
    kinds: &[JobKind],
    only: Option<&[i64]>,
    owner: &str,
) -> Result<Option<ClaimedJob>> {
    let kind_names: Vec<String> = kinds.iter().map(|kind| kind.as_str().to_owned()).collect();
    let row = sqlx::query!(
        r#"
        WITH candidate AS (
            SELECT id, owner_process FROM jobs
            WHERE kind = ANY($1)
              AND ($3::bigint[] IS NULL OR id = ANY($3))
              AND (status = 'queued'
                   OR (status = 'running' AND heartbeat_at < now() - make_interval(secs => $4)))
            ORDER BY id
            LIMIT 1
            FOR UPDATE SKIP LOCKED
        )
        UPDATE jobs j
        SET status = 'running', owner_process = $2, heartbeat_at = now(),
            started_at = coalesce(j.started_at, now()), attempts = j.attempts + 1
        FROM candidate c
        WHERE j.id = c.id
        RETURNING j.id, j.kind, j.experiment_id, j.payload, j.attempts, j.max_attempts,
                  c.owner_process AS previous_owner
        "#,
        &kind_names,
        owner,
        only,
        LEASE.as_secs_f64(),
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let kind = row
        .kind
        .parse()
        .map_err(|message: String| Error::Internal(anyhow::anyhow!("job {}: {message}", row.id)))?;
    Ok(Some(ClaimedJob {
        id: row.id,
        kind,
        experiment_id: row.experiment_id,
        payload: row.payload,
        attempts: row.attempts,
        max_attempts: row.max_attempts,
        previous_owner: row.previous_owner,
    }))
}

/// Renews `owner`'s claim on the job; false when it is no longer theirs
/// (another process took it over after a missed lease, or it ended).
pub async fn heartbeat(pool: &PgPool, job_id: i64, owner: &str) -> Result<bool> {
    let renewed = sqlx::query!(
        "UPDATE jobs SET heartbeat_at = now()
         WHERE id = $1 AND owner_process = $2 AND status = 'running'",
        job_id,
        owner,
    )
    .execute(pool)
    .await?;
    Ok(renewed.rows_affected() == 1)
}

/// Sets how much of the job is done, of how much.
pub async fn set_progress(
    connection: &mut PgConnection,
    job_id: i64,
    done: i64,
    total: i64,
) -> Result<()> {
    sqlx::query!(
        "UPDATE jobs SET progress_done = $2, progress_total = $3 WHERE id = $1",
        job_id,
        done,
        total,
    )
    .execute(connection)
    .await?;
    Ok(())
}

/// Adds `done` units to the job's progress (in the transaction that commits
/// them, so progress and work never disagree); returns done and total.
pub async fn advance(
    connection: &mut PgConnection,
    job_id: i64,
    done: i64,
) -> Result<(i64, Option<i64>)> {
    let row = sqlx::query!(
        "UPDATE jobs SET progress_done = progress_done + $2 WHERE id = $1
         RETURNING progress_done, progress_total",
        job_id,
        done,
    )
    .fetch_one(connection)
    .await?;
    Ok((row.progress_done, row.progress_total))
}

/// Marks `owner`'s job done.
pub async fn finish(pool: &PgPool, job_id: i64, owner: &str) -> Result<()> {
    sqlx::query!(
        "UPDATE jobs SET status = 'done', finished_at = now()
         WHERE id = $1 AND owner_process = $2 AND status = 'running'",
        job_id,
        owner,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks the job failed with the reason.
pub async fn fail(connection: &mut PgConnection, job_id: i64, message: &str) -> Result<()> {
    sqlx::query!(
        "UPDATE jobs SET status = 'failed', error = $2, finished_at = now() WHERE id = $1",
        job_id,
        message,
    )
    .execute(connection)
    .await?;
    Ok(())
}

/// Gives `owner`'s job back to the queue (the process is stopping, or lost
/// the database), without counting the claim as an attempt.
pub async fn release(pool: &PgPool, job_id: i64, owner: &str) -> Result<()> {
    sqlx::query!(
        "UPDATE jobs SET status = 'queued', owner_process = NULL, heartbeat_at = NULL,
                         attempts = greatest(attempts - 1, 0)
         WHERE id = $1 AND owner_process = $2 AND status = 'running'",
        job_id,
        owner,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// How many of `job_ids` are still queued or running.
pub async fn open_count(pool: &PgPool, job_ids: &[i64]) -> Result<i64> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM jobs
           WHERE id = ANY($1) AND status IN ('queued', 'running')"#,
        job_ids
    )
    .fetch_one(pool)
    .await?)
}

/// One job as it stands.
pub async fn get(pool: &PgPool, job_id: i64) -> Result<Option<JobSummary>> {
    Ok(sqlx::query_as!(
        JobSummary,
        "SELECT id, kind, experiment_id, payload, status, progress_done, progress_total,
                owner_process, attempts, max_attempts, error, created_at, heartbeat_at, finished_at
         FROM jobs WHERE id = $1",
        job_id
    )
    .fetch_optional(pool)
    .await?)
}

/// The jobs on experiments `researcher_id` owns or has shared with them and
/// the jobs on no experiment (building the shared CNN bank) — every job for
/// `None` — of `experiment_id` alone if given, open ones first, then the
/// newest.
pub async fn list(
    pool: &PgPool,
    researcher_id: Option<i64>,
    experiment_id: Option<i64>,
) -> Result<Vec<JobSummary>> {
    Ok(sqlx::query_as!(
        JobSummary,
        "SELECT j.id, j.kind, j.experiment_id, j.payload, j.status, j.progress_done,
                j.progress_total, j.owner_process, j.attempts, j.max_attempts, j.error,
                j.created_at, j.heartbeat_at, j.finished_at
         FROM jobs j
         WHERE ($1::bigint IS NULL
                OR j.experiment_id IS NULL
                OR EXISTS (SELECT 1 FROM experiment_access x
                           WHERE x.experiment_id = j.experiment_id AND x.researcher_id = $1))
           AND ($2::bigint IS NULL OR j.experiment_id = $2)
         ORDER BY j.status IN ('queued', 'running') DESC, j.id DESC
         LIMIT 200",
        researcher_id,
        experiment_id
    )
    .fetch_all(pool)
    .await?)
}

/// Whether `researcher_id` sees job `job_id` (it is on an experiment they
/// own or have shared with them); `None` when there is no such job for them.
pub async fn visible_to(pool: &PgPool, job_id: i64, researcher_id: i64) -> Result<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (
               SELECT 1 FROM jobs j JOIN experiment_access x ON x.experiment_id = j.experiment_id
               WHERE j.id = $1 AND x.researcher_id = $2
           ) AS "visible!""#,
        job_id,
        researcher_id
    )
    .fetch_one(pool)
    .await?)
}

/// Queues a failed job again, from a clean slate (its attempts too); a
/// failed generation job also puts its experiment back to `generating`.
/// Only failed jobs can be retried.
pub async fn retry(pool: &PgPool, job_id: i64) -> Result<JobSummary> {
    let mut transaction = pool.begin().await?;
    let job = sqlx::query!(
        "SELECT kind, status, experiment_id FROM jobs WHERE id = $1 FOR UPDATE",
        job_id
    )
    .fetch_optional(&mut *transaction)
    .await?
    .ok_or_else(|| Error::NotFound(format!("there is no job {job_id}")))?;
    if job.status != "failed" {
        return Err(Error::Conflict(format!(
            "job {job_id} is {}: only failed jobs can be retried",
            job.status
        )));
    }
    sqlx::query!(
        "UPDATE jobs SET status = 'queued', error = NULL, finished_at = NULL, started_at = NULL,
                         attempts = 0, owner_process = NULL, heartbeat_at = NULL
         WHERE id = $1",
        job_id
    )
    .execute(&mut *transaction)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict(format!(
            "the same work is already queued or running in another job: job {job_id} stays failed"
        )),
        _ => error.into(),
    })?;
    if job.kind == JobKind::Generation.as_str() {
        sqlx::query!(
            "UPDATE experiments SET status = 'generating', generation_error = NULL
             WHERE id = $1 AND status = 'failed'",
            job.experiment_id
        )
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await?;
    get(pool, job_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("there is no job {job_id}")))
}

/// Removes a finished (failed or done) job from the list; a queued or
/// running one is refused.
pub async fn dismiss(pool: &PgPool, job_id: i64) -> Result<()> {
    let status = sqlx::query_scalar!("SELECT status FROM jobs WHERE id = $1", job_id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("there is no job {job_id}")))?;
    let deleted = sqlx::query!(
        "DELETE FROM jobs WHERE id = $1 AND status IN ('failed', 'done')",
        job_id
    )
    .execute(pool)
    .await?
    .rows_affected();
    if deleted == 0 {
        return Err(Error::Conflict(format!(
            "job {job_id} is {status}: only failed or done jobs can be dismissed"
        )));
    }
    Ok(())
}

/// The name a process claims jobs under: `host:pid`.
pub fn process_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}

#[cfg(test)]
mod tests;
