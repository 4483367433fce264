//! Training LPIPS on the collected judgments (the issue "Learn the metric"):
//! `percept train` and `POST /api/experiments/{id}/training` queue a
//! `training` job of the one queue with a `trained_models` row that holds
//! everything it needs; any `percept serve` or `percept worker` runs it with
//! `lpips::training`, checkpointing after every epoch in that row, so a job
//! taken over from a killed process carries on from its last epoch. The
//! result, NAME.safetensors with the official state-dict names, is kept in
//! PostgreSQL (every server and worker reaches it) and written to the weights
//! folder of whoever trains or scores `lpips-alex:NAME` / `lpips-vgg:NAME`.

mod data;
mod jobs;

use std::path::{Path, PathBuf};

use anyhow::Context;
use lpips::training::{Mode, Settings, TrainingRecord};
use lpips::Net;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use app::api::training::{self as api, TrainedModelSummary};

use crate::error::{Error, Result};
use crate::jobs::JobKind;
pub use data::{Judged, StoredPatches};
pub use jobs::{runner, TrainingJobs};

/// Bounds on what a request may ask for (far beyond any useful run).
const MAX_EPOCHS: usize = 10_000;
const MAX_BATCH_SIZE: usize = 1_000_000;

/// What to train, on what: `percept train`'s flags, the API's body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingRequest {
    /// The metric's NAME (`lpips-alex:NAME`): a file stem.
    pub name: String,
    pub experiments: Vec<i64>,
    /// Experiments to validate on; none holds out `validation_share` of the
    /// training triplets instead.
    pub validate_on: Vec<i64>,
    pub validation_share: f64,
    pub include_flagged: bool,
    /// Replace a finished or failed model of the same name.
    pub overwrite: bool,
    pub settings: Settings,
}

/// The data options kept with the settings in `trained_models.options`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Options {
    pub settings: Settings,
    pub validation_share: f64,
    pub include_flagged: bool,
}

/// A queued training job.
#[derive(Debug, Clone, Serialize)]
pub struct Queued {
    pub model_id: i64,
    pub job_id: i64,
    /// Things worth knowing that do not stop training (overlaps).
    pub warnings: Vec<String>,
}

/// Checks the request against the data and queues the job; `created_by` is
/// the researcher asking (the CLI asks as nobody in particular).
pub async fn enqueue(
    pool: &PgPool,
    request: &TrainingRequest,
    created_by: Option<i64>,
) -> Result<Queued> {
    let bad = |message: String| Err(Error::BadRequest(message));
    if !is_file_stem(&request.name) {
        return bad(format!(
            "{:?} cannot name a metric: use up to 100 letters, digits, '-', '_' and '.', not starting with '.'",
            request.name
        ));
    }
    if request.experiments.is_empty() {
        return bad("name at least one experiment to train on".into());
    }
    if !(0.0..1.0).contains(&request.validation_share) {
        return bad(format!(
            "the validation share must be at least 0 and below 1, not {}",
            request.validation_share
        ));
    }
    if let Some(both) = request
        .validate_on
        .iter()
        .find(|id| request.experiments.contains(id))
    {
        return bad(format!(
            "experiment {both} is both trained and validated on: the validation set must not overlap the training set"
        ));
    }
    let settings = &request.settings;
    if settings.epochs > MAX_EPOCHS || settings.decay_epochs > MAX_EPOCHS {
        return bad(format!(
            "epochs and decay epochs must each be at most {MAX_EPOCHS}, not {} and {}",
            settings.epochs, settings.decay_epochs
        ));
    }
    if settings.batch_size > MAX_BATCH_SIZE || settings.threads.is_some_and(|t| t > 1024) {
        return bad(format!(
            "the batch size must be at most {MAX_BATCH_SIZE} and threads at most 1024"
        ));
    }
    request
        .settings
        .check()
        .map_err(|error| Error::BadRequest(error.to_string()))?;
    for &id in request.experiments.iter().chain(&request.validate_on) {
        check_two_afc(pool, id).await?;
    }
    let training = Judged::read(pool, &request.experiments, request.include_flagged).await?;
    if training.tallies.is_empty() {
        return bad(format!(
            "experiments {:?} have no judged 2AFC triplets to train on{}",
            request.experiments,
            flagged_hint(request.include_flagged)
        ));
    }
    if request.validate_on.is_empty()
        && training.tallies.len() < 2
        && request.validation_share > 0.0
    {
        return bad(
            "one judged triplet cannot be split into training and validation; \
             add judgments, pass --validate-on, or --validation-share 0"
                .to_owned(),
        );
    }
    if !request.validate_on.is_empty()
        && Judged::read(pool, &request.validate_on, request.include_flagged)
            .await?
            .tallies
            .is_empty()
    {
        return bad(format!(
            "validation experiments {:?} have no judged 2AFC triplets{}",
            request.validate_on,
            flagged_hint(request.include_flagged)
        ));
    }
    let warnings = overlap_warnings(pool, &request.experiments, &request.validate_on).await?;

    let mut transaction = pool.begin().await?;
    let existing = sqlx::query!(
        "SELECT id, status FROM trained_models WHERE name = $1 FOR UPDATE",
        request.name
    )
    .fetch_optional(&mut *transaction)
    .await?;
    if let Some(existing) = existing {
        if matches!(existing.status.as_str(), "queued" | "training") {
            return Err(Error::Conflict(format!(
                "a metric named {:?} is being trained now; choose another name",
                request.name
            )));
        }
        if !request.overwrite {
            return Err(Error::Conflict(format!(
                "a trained metric named {:?} exists ({}); choose another name, or pass --overwrite (API: \"overwrite\": true) to replace it",
                request.name, existing.status
            )));
        }
        sqlx::query!("DELETE FROM trained_models WHERE id = $1", existing.id)
            .execute(&mut *transaction)
            .await?;
    }
    let options = Options {
        settings: request.settings.clone(),
        validation_share: request.validation_share,
        include_flagged: request.include_flagged,
    };
    let model_id = sqlx::query_scalar!(
        "INSERT INTO trained_models
             (name, net, mode, options, training_experiment_ids, validation_experiment_ids, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        request.name,
        request.settings.net.name(),
        request.settings.mode.name(),
        serde_json::to_value(&options).expect("options serialise"),
        &request.experiments,
        &request.validate_on,
        created_by,
    )
    .fetch_one(&mut *transaction)
    .await?;
    let job_id = crate::jobs::enqueue(
        &mut transaction,
        JobKind::Training,
        Some(request.experiments[0]),
        &serde_json::json!({ "trained_model_id": model_id }),
    )
    .await?;
    transaction.commit().await?;
    Ok(Queued {
        model_id,
        job_id,
        warnings,
    })
}

fn flagged_hint(include_flagged: bool) -> &'static str {
    if include_flagged {
        ""
    } else {
        " (flagged workers' judgments are left out; --include-flagged counts them)"
    }
}

fn is_file_stem(stem: &str) -> bool {
    !stem.is_empty()
        && stem.len() <= 100
        && !stem.starts_with('.')
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Refuses a missing or JND experiment.
async fn check_two_afc(pool: &PgPool, experiment_id: i64) -> Result<()> {
    let kind = sqlx::query_scalar!("SELECT kind FROM experiments WHERE id = $1", experiment_id)
        .fetch_optional(pool)
        .await?;
    match kind.as_deref() {
        None => Err(Error::NotFound(format!(
            "there is no experiment {experiment_id}"
        ))),
        Some("2afc") => Ok(()),
        Some(kind) => Err(Error::BadRequest(format!(
            "experiment {experiment_id} is a {} experiment: training needs 2AFC judgments (which of two patches is closer)",
            kind.to_uppercase()
        ))),
    }
}

/// Warnings when validation experiments share reference images (the same
/// PNG) or stimuli (the same triplet PNGs) with the training experiments:
/// then the validation score says less about new images.
async fn overlap_warnings(
    pool: &PgPool,
    training: &[i64],
    validation: &[i64],
) -> Result<Vec<String>> {
    if validation.is_empty() {
        return Ok(Vec::new());
    }
    let row = sqlx::query!(
        r#"SELECT
             (SELECT count(DISTINCT md5(v.png)) FROM reference_images v
              WHERE v.experiment_id = ANY($2) AND md5(v.png) IN
                    (SELECT md5(t.png) FROM reference_images t WHERE t.experiment_id = ANY($1)))
               AS "images!",
             (SELECT count(*) FROM triplets v
              WHERE v.experiment_id = ANY($2) AND v.sentinel_answer IS NULL
                AND md5(v.ref_png || v.p0_png || v.p1_png) IN
                    (SELECT md5(t.ref_png || t.p0_png || t.p1_png) FROM triplets t
                     WHERE t.experiment_id = ANY($1)))
               AS "stimuli!""#,
        training,
        validation,
    )
    .fetch_one(pool)
    .await?;
    let mut warnings = Vec::new();
    if row.stimuli > 0 {
        warnings.push(format!(
            "{} validation triplets are also training triplets (the same three patches): their score is not evidence",
            row.stimuli
        ));
    }
    if row.images > 0 {
        warnings.push(format!(
            "the validation experiments share {} reference images with the training experiments: \
             the validation score measures less how the metric does on new images",
            row.images
        ));
    }
    Ok(warnings)
}

/// A trained model's row, as the CLI, the API and reports read it.
#[derive(Debug, Clone, Serialize)]
pub struct TrainedModel {
    pub id: i64,
    pub name: String,
    pub net: String,
    pub mode: String,
    pub status: String,
    pub training_experiment_ids: Vec<i64>,
    pub validation_experiment_ids: Vec<i64>,
    pub options: serde_json::Value,
    pub provenance: serde_json::Value,
    /// Per finished epoch: epoch, learning_rate, steps, loss, train_2afc,
    /// validation_2afc, seconds.
    pub epochs: serde_json::Value,
    pub weights_sha256: Option<String>,
    pub error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl TrainedModel {
    /// The metric name to score it with: `lpips-alex:NAME`.
    pub fn metric_name(&self) -> String {
        format!("lpips-{}:{}", self.net, self.name)
    }

    /// As the API shows it.
    pub fn summary(&self) -> TrainedModelSummary {
        let options: Option<Options> = serde_json::from_value(self.options.clone()).ok();
        TrainedModelSummary {
            id: self.id,
            name: self.name.clone(),
            metric: self.metric_name(),
            net: self.net.clone(),
            mode: self.mode.clone(),
            status: self.status.clone(),
            training_experiment_ids: self.training_experiment_ids.clone(),
            validation_experiment_ids: self.validation_experiment_ids.clone(),
            total_epochs: options.map_or(0, |o| o.settings.total_epochs()),
            epochs: serde_json::from_value(self.epochs.clone()).unwrap_or_default(),
            provenance: self.provenance.clone(),
            weights_sha256: self.weights_sha256.clone(),
            error: self.error.clone(),
            created_at: self.created_at,
            finished_at: self.finished_at,
        }
    }
}

impl TrainingRequest {
    /// The API's body for experiment `experiment_id`, with the official
    /// defaults for what it leaves out.
    pub fn from_api(experiment_id: i64, body: api::TrainingRequest) -> Result<Self> {
        let invalid = |message: String| Error::BadRequest(message);
        let net: Net = body
            .net
            .parse()
            .map_err(|error: lpips::LpipsError| invalid(error.to_string()))?;
        let mode: Mode = body
            .mode
            .parse()
            .map_err(|error: lpips::training::TrainingError| invalid(error.to_string()))?;
        let defaults = Settings::new(net, mode);
        let device = match &body.device {
            Some(device) => device
                .parse()
                .map_err(|error: lpips::LpipsError| invalid(error.to_string()))?,
            None => defaults.device,
        };
        let mut experiments = vec![experiment_id];
        experiments.extend(body.also_train_on.iter().filter(|&&id| id != experiment_id));
        Ok(Self {
            name: body.name,
            experiments,
            validate_on: body.validate_on,
            validation_share: body.validation_share.unwrap_or(0.1),
            include_flagged: body.include_flagged,
            overwrite: body.overwrite,
            settings: Settings {
                epochs: body.epochs.unwrap_or(defaults.epochs),
                decay_epochs: body.decay_epochs.unwrap_or(defaults.decay_epochs),
                batch_size: body.batch_size.unwrap_or(defaults.batch_size),
                learning_rate: body.learning_rate.unwrap_or(defaults.learning_rate),
                seed: body.seed.unwrap_or(defaults.seed),
                device,
                ..defaults
            },
        })
    }
}

/// The model by id.
pub async fn get(pool: &PgPool, model_id: i64) -> Result<Option<TrainedModel>> {
    Ok(sqlx::query_as!(
        TrainedModel,
        "SELECT id, name, net, mode, status, training_experiment_ids, validation_experiment_ids,
                options, provenance, epochs, weights_sha256, error, created_at, finished_at
         FROM trained_models WHERE id = $1",
        model_id
    )
    .fetch_optional(pool)
    .await?)
}

/// The models trained on an experiment, newest first.
pub async fn for_experiment(pool: &PgPool, experiment_id: i64) -> Result<Vec<TrainedModel>> {
    Ok(sqlx::query_as!(
        TrainedModel,
        "SELECT id, name, net, mode, status, training_experiment_ids, validation_experiment_ids,
                options, provenance, epochs, weights_sha256, error, created_at, finished_at
         FROM trained_models WHERE $1 = ANY(training_experiment_ids)
         ORDER BY id DESC",
        experiment_id
    )
    .fetch_all(pool)
    .await?)
}

/// Hex SHA-256 of the weights' bytes.
pub fn content_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Makes sure `weights_dir` holds trained model `name`'s weights
/// (NAME.safetensors, with the hash stored with them) and its training
/// record (NAME.json), writing them from the database when missing or
/// different. `net` is the network the caller will load it as. Returns
/// `None` when no finished model has that name (a NAME.safetensors of
/// one's own is then used as it is).
pub async fn materialise(
    pool: &PgPool,
    name: &str,
    net: Net,
    weights_dir: &Path,
) -> anyhow::Result<Option<PathBuf>> {
    let Some(row) = sqlx::query!(
        r#"SELECT net, weights AS "weights!", weights_sha256 AS "weights_sha256!", record
           FROM trained_models WHERE name = $1 AND status = 'done'"#,
        name
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    if row.net != net.name() {
        anyhow::bail!(
            "{name:?} is a trained {} metric: score it as lpips-{}:{name}",
            row.net,
            row.net
        );
    }
    if content_hash(&row.weights) != row.weights_sha256 {
        anyhow::bail!("the stored weights of {name:?} do not match their hash");
    }
    let path = weights_dir.join(format!("{name}.safetensors"));
    let current = std::fs::read(&path).ok();
    if current.as_deref().map(content_hash).as_deref() != Some(row.weights_sha256.as_str()) {
        std::fs::create_dir_all(weights_dir)
            .with_context(|| format!("creating {}", weights_dir.display()))?;
        write_atomically(&path, &row.weights)?;
    }
    if let Some(record) = row.record {
        write_atomically(
            &weights_dir.join(format!("{name}.json")),
            serde_json::to_string_pretty(&record)?.as_bytes(),
        )?;
    }
    Ok(Some(path))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, bytes).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The record of a finished model, as stored.
pub async fn record(pool: &PgPool, model_id: i64) -> Result<Option<TrainingRecord>> {
    let record = sqlx::query_scalar!("SELECT record FROM trained_models WHERE id = $1", model_id)
        .fetch_optional(pool)
        .await?
        .flatten();
    Ok(record.and_then(|value| serde_json::from_value(value).ok()))
}

/// The official weights file a mode starts from (none for scratch).
pub fn pretrained_path(weights_dir: &Path, net: Net, mode: Mode) -> Option<PathBuf> {
    mode.needs_pretrained_trunk()
        .then(|| weights_dir.join(format!("{}.safetensors", net.name())))
}

/// What a report says of a metric trained here.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrainedMetricNote {
    pub metric: String,
    pub net: String,
    pub mode: String,
    pub training_experiment_ids: Vec<i64>,
    pub validation_experiment_ids: Vec<i64>,
    pub training_triplets: i64,
    /// The report's triplets that were training triplets.
    pub overlapping_triplets: i64,
}

/// Notes on those of `metrics` that are trained models here, against the
/// report's `triplet_ids`.
pub async fn notes(
    pool: &PgPool,
    metrics: &[String],
    triplet_ids: &[i64],
) -> percept_core::Result<Vec<TrainedMetricNote>> {
    let names: Vec<String> = metrics
        .iter()
        .filter(|metric| metric.starts_with("lpips-"))
        .filter_map(|metric| Some(metric.split_once(':')?.1.to_owned()))
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query!(
        r#"SELECT name, net, mode, training_experiment_ids, validation_experiment_ids,
                  cardinality(training_triplet_ids) AS "training_triplets!",
                  (SELECT count(*) FROM unnest(training_triplet_ids) AS t(id)
                   WHERE t.id = ANY($2)) AS "overlapping!"
           FROM trained_models WHERE name = ANY($1) AND status = 'done'
           ORDER BY name"#,
        &names,
        triplet_ids,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| TrainedMetricNote {
            metric: format!("lpips-{}:{}", row.net, row.name),
            net: row.net,
            mode: row.mode,
            training_experiment_ids: row.training_experiment_ids,
            validation_experiment_ids: row.validation_experiment_ids,
            training_triplets: i64::from(row.training_triplets),
            overlapping_triplets: row.overlapping,
        })
        // Only the metrics the report shows under that net.
        .filter(|note| metrics.contains(&note.metric))
        .collect())
}
