//! The `training` job: reads the model's row, its triplets and judgments,
//! trains on a blocking thread with `lpips::training::train_resumable`, and
//! keeps what the run makes in the row as it goes: the progress in steps
//! (the job's), after every epoch its record and a checkpoint, and at the
//! end the weights with their hash. A claim on a job whose process died
//! resumes from the last checkpoint.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use lpips::training::{
    train_resumable, Checkpoint, Progress, Start, StartingWeights, TrainingError, TrainingRecord,
    TripletSet,
};
use lpips::{DeviceChoice, Net};
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;

use super::data::{Judged, StoredPatches};
use super::{content_hash, materialise, pretrained_path, Options};
use crate::jobs::{ClaimedJob, Handler, JobContext, JobError, JobKind, Runner};

/// How often step progress is written to the job's row.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

/// A runner that takes only training jobs (`percept train`, tests).
pub fn runner(pool: PgPool, weights_dir: PathBuf) -> Runner {
    Runner::new(pool).with(TrainingJobs::new(weights_dir))
}

/// The handler for `training` jobs; `weights_dir` has the official weights
/// the trunk starts from and receives NAME.safetensors and NAME.json.
pub struct TrainingJobs {
    weights_dir: PathBuf,
    /// This process's `--device`: what jobs that asked for `auto` train on.
    device: DeviceChoice,
}

impl TrainingJobs {
    pub fn new(weights_dir: PathBuf) -> Self {
        Self {
            weights_dir,
            device: DeviceChoice::Auto,
        }
    }

    /// Jobs that asked for `auto` train on `device` (a worker's `--device`);
    /// a job that named cpu or cuda keeps it.
    pub fn on(self, device: DeviceChoice) -> Self {
        Self { device, ..self }
    }
}

impl Handler for TrainingJobs {
    fn kind(&self) -> JobKind {
        JobKind::Training
    }

    fn run<'a>(&'a mut self, context: &'a JobContext) -> BoxFuture<'a, Result<u64, JobError>> {
        Box::pin(async move {
            let model_id = context.job.payload["trained_model_id"]
                .as_i64()
                .ok_or_else(|| {
                    JobError::Failed("a training job needs a trained_model_id".into())
                })?;
            train(context, model_id, &self.weights_dir, self.device).await
        })
    }

    fn record_failure<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        job: &'a ClaimedJob,
        message: &'a str,
    ) -> BoxFuture<'a, percept_core::Result<()>> {
        Box::pin(async move {
            if let Some(model_id) = job.payload["trained_model_id"].as_i64() {
                sqlx::query!(
                    "UPDATE trained_models SET status = 'failed', error = $2, checkpoint = NULL,
                            finished_at = now()
                     WHERE id = $1",
                    model_id,
                    message,
                )
                .execute(connection)
                .await?;
            }
            Ok(())
        })
    }
}

/// What the training thread tells the job.
enum Event {
    Steps {
        done: i64,
        total: i64,
    },
    Epoch {
        checkpoint: Vec<u8>,
        record: serde_json::Value,
        epochs: serde_json::Value,
    },
}

/// What the training thread ends with.
struct Outcome {
    weights: Vec<u8>,
    record: TrainingRecord,
    /// Set when a non-finite step stopped training (the weights are the
    /// last good ones).
    stopped: Option<String>,
}

async fn train(
    context: &JobContext,
    model_id: i64,
    weights_dir: &std::path::Path,
    device: DeviceChoice,
) -> Result<u64, JobError> {
    let pool = &context.pool;
    let row = sqlx::query!(
        "SELECT name, net, options, training_experiment_ids, validation_experiment_ids,
                checkpoint, record, status
         FROM trained_models WHERE id = $1",
        model_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| JobError::Failed(format!("trained model {model_id} was deleted")))?;
    if row.status == "done" {
        return Ok(0);
    }
    let options: Options = serde_json::from_value(row.options)
        .map_err(|error| JobError::Failed(format!("the stored options are unreadable: {error}")))?;
    let mut settings = options.settings.clone();
    if settings.device == DeviceChoice::Auto {
        settings.device = device;
    }
    // The data, read as reports read it.
    let training =
        Judged::read(pool, &row.training_experiment_ids, options.include_flagged).await?;
    let (training, validation) = if row.validation_experiment_ids.is_empty() {
        training.hold_out(options.validation_share, settings.seed)
    } else {
        (
            training,
            Judged::read(
                pool,
                &row.validation_experiment_ids,
                options.include_flagged,
            )
            .await?,
        )
    };
    if training.tallies.is_empty() {
        return Err(JobError::Failed(format!(
            "experiments {:?} have no judged 2AFC triplets to train on",
            row.training_experiment_ids
        )));
    }
    let ids: Vec<i64> = training
        .tallies
        .iter()
        .chain(&validation.tallies)
        .map(|(id, _)| *id)
        .collect();
    let patches = StoredPatches::new(pool, ids);
    let training_triplets = patches.judged(0, &training.tallies);
    let validation_triplets = patches.judged(training.tallies.len(), &validation.tallies);
    let provenance = serde_json::json!({
        "training": {
            "experiments": row.training_experiment_ids,
            "triplets": training.tallies.len(),
            "judgments": training.judgments(),
        },
        "validation": {
            "experiments": row.validation_experiment_ids,
            "held_out_share": row.validation_experiment_ids.is_empty().then_some(options.validation_share),
            "triplets": validation.tallies.len(),
            "judgments": validation.judgments(),
        },
        "include_flagged": options.include_flagged,
        "seed": settings.seed,
        "percept_version": env!("CARGO_PKG_VERSION"),
        "source_commit": source_commit(),
        "trained_by": crate::jobs::process_name(),
    });
    let training_ids: Vec<i64> = training.tallies.iter().map(|(id, _)| *id).collect();
    sqlx::query!(
        "UPDATE trained_models SET status = 'training', provenance = $2, training_triplet_ids = $3
         WHERE id = $1",
        model_id,
        provenance,
        &training_ids,
    )
    .execute(pool)
    .await?;
    let steps_per_epoch = training_triplets.len().div_ceil(settings.batch_size.max(1)) as i64;
    let total_steps = steps_per_epoch * settings.total_epochs() as i64;

    let start = match (row.checkpoint, row.record) {
        (Some(bytes), Some(record)) => {
            let record: TrainingRecord = serde_json::from_value(record).map_err(|error| {
                JobError::Failed(format!("the checkpoint's record is unreadable: {error}"))
            })?;
            tracing::info!(
                epochs_done = record.epochs.len(),
                "resuming from a checkpoint"
            );
            context
                .set_progress(steps_per_epoch * record.epochs.len() as i64, total_steps)
                .await?;
            Some((bytes, record))
        }
        _ => {
            context.set_progress(0, total_steps).await?;
            None
        }
    };
    let pretrained = pretrained_path(weights_dir, settings.net, settings.mode);
    if let Some(path) = &pretrained {
        if !path.exists() {
            return Err(JobError::Failed(format!(
                "{} training starts from the official {} weights, which are not at {} \
                 (`cargo xtask setup` puts them there; --weights-dir looks elsewhere)",
                settings.mode,
                settings.net,
                path.display()
            )));
        }
    }

    let (events, mut received) = mpsc::unbounded_channel();
    let worker = tokio::task::spawn_blocking(move || -> Result<Outcome, String> {
        let start = match start {
            Some((bytes, record)) => Start::Resume(Box::new(
                Checkpoint::from_bytes(&bytes, record).map_err(|error| error.to_string())?,
            )),
            None => Start::Fresh(
                StartingWeights::official(
                    settings.net,
                    settings.mode,
                    pretrained.as_deref(),
                    settings.seed,
                )
                .map_err(|error| error.to_string())?,
            ),
        };
        let validation_set = (!validation_triplets.is_empty())
            .then(|| TripletSet::new(&patches, &validation_triplets));
        let mut last_sent = Instant::now();
        let mut progress = |progress: Progress| {
            if let Progress::Step {
                epoch,
                step,
                steps_per_epoch,
                ..
            } = progress
            {
                let done = ((epoch - 1) * steps_per_epoch + step) as i64;
                if last_sent.elapsed() >= PROGRESS_INTERVAL || done == total_steps {
                    last_sent = Instant::now();
                    let _ = events.send(Event::Steps {
                        done,
                        total: total_steps,
                    });
                }
            }
        };
        let mut keep = |checkpoint: &Checkpoint| -> Result<(), lpips::training::BoxError> {
            let record = serde_json::to_value(&checkpoint.record)?;
            let epochs = serde_json::to_value(&checkpoint.record.epochs)?;
            events
                .send(Event::Epoch {
                    checkpoint: checkpoint.to_bytes().map_err(|error| error.to_string())?,
                    record,
                    epochs,
                })
                .map_err(|_| "the job stopped listening")?;
            Ok(())
        };
        let result = train_resumable(
            &settings,
            start,
            TripletSet::new(&patches, &training_triplets),
            validation_set,
            &mut progress,
            &mut keep,
        );
        let (trained, stopped) = match result {
            Ok(trained) => (trained, None),
            Err(error @ TrainingError::NonFinite { .. }) => {
                let message = error.to_string();
                let TrainingError::NonFinite { last_good, .. } = error else {
                    unreachable!()
                };
                (*last_good, Some(message))
            }
            Err(error) => return Err(error.to_string()),
        };
        let weights = safetensors_bytes(&trained.metric).map_err(|error| error.to_string())?;
        Ok(Outcome {
            weights,
            record: trained.record,
            stopped,
        })
    });

    // Keep the row up to date while the thread trains.
    while let Some(event) = received.recv().await {
        match event {
            Event::Steps { done, total } => context.set_progress(done, total).await?,
            Event::Epoch {
                checkpoint,
                record,
                epochs,
            } => {
                sqlx::query!(
                    "UPDATE trained_models SET checkpoint = $2, record = $3, epochs = $4 WHERE id = $1",
                    model_id,
                    checkpoint,
                    record,
                    epochs,
                )
                .execute(pool)
                .await?;
            }
        }
    }
    let outcome = worker
        .await
        .map_err(|error| JobError::Failed(format!("the training thread crashed: {error}")))?
        .map_err(JobError::Failed)?;
    let hash = content_hash(&outcome.weights);
    let record = serde_json::to_value(&outcome.record).expect("records serialise");
    let epochs = serde_json::to_value(&outcome.record.epochs).expect("records serialise");
    let status = if outcome.stopped.is_some() {
        "failed"
    } else {
        "done"
    };
    sqlx::query!(
        "UPDATE trained_models
         SET status = $2, weights = $3, weights_sha256 = $4, record = $5, epochs = $6,
             checkpoint = NULL, error = $7, finished_at = now()
         WHERE id = $1",
        model_id,
        status,
        outcome.weights,
        hash,
        record,
        epochs,
        outcome.stopped,
    )
    .execute(pool)
    .await?;
    if let Some(message) = outcome.stopped {
        return Err(JobError::Failed(message));
    }
    let net: Net = row
        .net
        .parse()
        .map_err(|_| JobError::Failed(format!("unknown net {}", row.net)))?;
    materialise(pool, &row.name, net, weights_dir).await?;
    Ok(outcome.record.epochs.len() as u64)
}

/// The metric's weights as NAME.safetensors bytes.
fn safetensors_bytes(metric: &lpips::training::TrainedMetric) -> Result<Vec<u8>, TrainingError> {
    let path = std::env::temp_dir().join(format!(
        "percept-trained-{}-{}.safetensors",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    metric.save(&path)?;
    let bytes = std::fs::read(&path).map_err(|error| TrainingError::Write {
        path: path.clone(),
        reason: error.to_string(),
    });
    let _ = std::fs::remove_file(&path);
    bytes
}

/// The git commit of the source tree the binary was built from, when it is
/// still there to ask.
fn source_commit() -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
