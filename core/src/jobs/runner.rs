//! The loop every `percept serve` and `percept worker` runs: claim a job of
//! the kinds this process takes, run it while renewing the claim, and record
//! how it ended. What a kind does lives with the kind (stimulus generation
//! in `experiments::generation`, scoring in `scoring`), behind [`Handler`].

use std::future::Future;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::{PgConnection, PgPool};
use tracing::Instrument;

use super::{ClaimedJob, JobKind, HEARTBEAT_INTERVAL};
use crate::error::{Error, Result};

/// How often an idle process looks for work.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Told each time a job's progress moves: units done, of the total if known.
pub type ProgressObserver = std::sync::Arc<dyn Fn(i64, Option<i64>) + Send + Sync>;

/// Why a job stopped before its end.
#[derive(Debug)]
pub enum JobError {
    /// The database failed: the job goes back to the queue for another try.
    Database(sqlx::Error),
    /// The job itself cannot be done (no weights, an undecodable image): it
    /// fails with this reason.
    Failed(String),
}

impl From<sqlx::Error> for JobError {
    fn from(error: sqlx::Error) -> Self {
        JobError::Database(error)
    }
}

impl From<anyhow::Error> for JobError {
    fn from(error: anyhow::Error) -> Self {
        JobError::Failed(crate::error::chain_message(&error))
    }
}

impl From<Error> for JobError {
    fn from(error: Error) -> Self {
        match error {
            Error::DatabaseUnavailable(error) => JobError::Database(error),
            Error::Internal(error) => JobError::Failed(crate::error::chain_message(&error)),
            other => JobError::Failed(other.to_string()),
        }
    }
}

/// What a running job can reach: the database, its own row, and whoever
/// watches its progress.
pub struct JobContext {
    pub pool: PgPool,
    pub job: ClaimedJob,
    observer: Option<ProgressObserver>,
}

impl JobContext {
    /// Sets how much is done, of how much.
    pub async fn set_progress(&self, done: i64, total: i64) -> Result<(), JobError> {
        let mut connection = self.pool.acquire().await?;
        super::set_progress(&mut connection, self.job.id, done, total).await?;
        self.notify(done, Some(total));
        Ok(())
    }

    /// Adds `done` units, in the transaction that commits them.
    pub async fn advance(&self, connection: &mut PgConnection, done: i64) -> Result<(), JobError> {
        let (done, total) = super::advance(connection, self.job.id, done).await?;
        self.notify(done, total);
        Ok(())
    }

    fn notify(&self, done: i64, total: Option<i64>) {
        if let Some(observer) = &self.observer {
            observer(done, total);
        }
    }
}

/// The code for one kind of job.
pub trait Handler: Send + Sync {
    fn kind(&self) -> JobKind;

    /// Does what is left of the job (an earlier, killed run may have done
    /// part of it); returns the units of work this run did.
    fn run<'a>(&'a mut self, context: &'a JobContext) -> BoxFuture<'a, Result<u64, JobError>>;

    /// Records a failure beyond the job's row, in the transaction that marks
    /// the job failed (generation marks its experiment failed).
    fn record_failure<'a>(
        &'a self,
        _connection: &'a mut PgConnection,
        _job: &'a ClaimedJob,
        _message: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// What became of a job this process took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    pub job_id: i64,
    pub kind: JobKind,
    /// Units of work this process did (stimuli generated or scored; 0 when
    /// an earlier run had done them all).
    pub worked: u64,
    /// Why it failed, or why this process stopped working on it.
    pub error: Option<String>,
}

/// Takes jobs of the kinds it has handlers for.
pub struct Runner {
    pool: PgPool,
    owner: String,
    handlers: Vec<Box<dyn Handler>>,
    observer: Option<ProgressObserver>,
    /// The job being worked on, given back to the queue if the process stops.
    current: Option<i64>,
}

impl Runner {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            owner: super::process_name(),
            handlers: Vec::new(),
            observer: None,
            current: None,
        }
    }

    /// Takes jobs of `handler`'s kind too.
    pub fn with(mut self, handler: impl Handler + 'static) -> Self {
        self.handlers.push(Box::new(handler));
        self
    }

    /// Calls `observer` each time the progress of a job this runner works on moves.
    pub fn on_progress(mut self, observer: ProgressObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn kinds(&self) -> Vec<JobKind> {
        self.handlers.iter().map(|handler| handler.kind()).collect()
    }

    /// Works until `stop` resolves, waiting for jobs when there are none. A
    /// job cut short by `stop` goes back to the queue.
    pub async fn run(mut self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::pin!(stop);
        let kinds: Vec<&str> = self.kinds().iter().map(|kind| kind.as_str()).collect();
        tracing::info!(owner = %self.owner, kinds = %kinds.join(","), "job runner waiting for jobs");
        loop {
            let outcome = tokio::select! {
                _ = &mut stop => break,
                outcome = self.run_next(None) => outcome,
            };
            match outcome {
                Ok(Some(_)) => {}
                Ok(None) => tokio::select! {
                    _ = &mut stop => break,
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                },
                // The database may be restarting: keep trying rather than die.
                Err(error) => {
                    tracing::warn!("job runner: {error:#}");
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
            }
        }
        if let Some(job_id) = self.current.take() {
            super::release(&self.pool, job_id, &self.owner).await?;
            tracing::info!(job_id, "stopping: job given back to the queue");
        }
        Ok(())
    }

    /// Takes the oldest job of this runner's kinds (and of `only`, if given)
    /// that no live process holds, and works on it to its end. `None` when
    /// there is no such job.
    pub async fn run_next(&mut self, only: Option<&[i64]>) -> Result<Option<JobOutcome>> {
        let kinds = self.kinds();
        let Some(job) = super::claim(&self.pool, &kinds, only, &self.owner).await? else {
            return Ok(None);
        };
        self.current = Some(job.id);
        let span = tracing::info_span!(
            "job",
            job_id = job.id,
            kind = %job.kind,
            experiment_id = job.experiment_id,
            attempt = job.attempts,
        );
        let outcome = self.work(job).instrument(span).await;
        self.current = None;
        outcome.map(Some)
    }

    async fn work(&mut self, job: ClaimedJob) -> Result<JobOutcome> {
        let index = self
            .handlers
            .iter()
            .position(|handler| handler.kind() == job.kind)
            .expect("a runner claims only the kinds it has handlers for");
        let outcome = |worked, error| JobOutcome {
            job_id: job.id,
            kind: job.kind,
            worked,
            error,
        };
        if job.attempts > job.max_attempts {
            let message = format!(
                "gave up after {} attempts: the processes working on it stopped (the last was {})",
                job.max_attempts,
                job.previous_owner.as_deref().unwrap_or("unknown"),
            );
            self.fail(index, &job, &message).await?;
            return Ok(outcome(0, Some(message)));
        }
        if let Some(previous_owner) = &job.previous_owner {
            tracing::warn!(
                previous_owner,
                "taking over a job whose process stopped renewing its claim"
            );
        } else {
            tracing::info!("job started");
        }
        let context = JobContext {
            pool: self.pool.clone(),
            job: job.clone(),
            observer: self.observer.clone(),
        };
        let handler = &mut self.handlers[index];
        let result = tokio::select! {
            result = handler.run(&context) => Some(result),
            () = keep_claim(&self.pool, job.id, &self.owner) => None,
        };
        match result {
            None => {
                let message = "another process took the job over (this one missed its heartbeats)";
                tracing::warn!("{message}");
                Ok(outcome(0, Some(message.into())))
            }
            Some(Ok(worked)) => {
                super::finish(&self.pool, job.id, &self.owner).await?;
                tracing::info!(worked, "job done");
                Ok(outcome(worked, None))
            }
            Some(Err(JobError::Database(error))) => {
                // Give it back at once if the database lets us; otherwise the
                // lease runs out and it is taken over.
                let _ = super::release(&self.pool, job.id, &self.owner).await;
                Err(error.into())
            }
            Some(Err(JobError::Failed(message))) => {
                tracing::warn!(error = %message, "job failed");
                self.fail(index, &job, &message).await?;
                Ok(outcome(0, Some(message)))
            }
        }
    }

    async fn fail(&self, index: usize, job: &ClaimedJob, message: &str) -> Result<()> {
        let mut transaction = self.pool.begin().await?;
        super::fail(&mut transaction, job.id, message).await?;
        self.handlers[index]
            .record_failure(&mut transaction, job, message)
            .await?;
        transaction.commit().await?;
        Ok(())
    }
}

/// Renews the claim every [`HEARTBEAT_INTERVAL`]; returns only when the
/// claim is lost (another process took the job over).
async fn keep_claim(pool: &PgPool, job_id: i64, owner: &str) {
    loop {
        tokio::time::sleep(HEARTBEAT_INTERVAL).await;
        match super::heartbeat(pool, job_id, owner).await {
            Ok(true) => {}
            Ok(false) => return,
            // The database may be restarting; the work will notice too.
            Err(error) => tracing::warn!("renewing the claim on job {job_id}: {error}"),
        }
    }
}
