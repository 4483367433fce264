//! The CNN distortion bank in the app: building it as a `cnn-bank` job of
//! the queue, and running its networks for generation and `percept
//! distort`. The networks are rows of PostgreSQL (`percept_core::cnn_bank`,
//! migrations/0012), so every server and worker on one database applies the
//! same ones; training and inference are the `cnn_distortions` crate's.
//!
//! A build is resumable: each network is stored as soon as it is trained,
//! and a build (or a process taking over a killed one) keeps the networks
//! already stored after checking their spec and hash.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use cnn_distortions::{CnnNetwork, NetworkRecord, NetworkSpec, SpecSampler};
use distortions::image::RgbImage;
use futures_util::future::BoxFuture;
use percept_core::cnn_bank::{self, CnnDistorter, NetworkRef, StoredNetwork};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use indicatif::{ProgressBar, ProgressStyle};

use crate::jobs::{self, Handler, JobContext, JobError, JobKind, Runner};

/// What a `cnn-bank` job builds: networks `0..count` of bank `seed`,
/// trained on the images in `images` (a folder every process that may take
/// the job can read; the demo photos when absent), with the iteration range
/// narrowed when `iterations` is given (quick banks, tests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankBuild {
    pub count: u32,
    pub seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<(u32, u32)>,
}

impl BankBuild {
    /// The spec sampler the build draws from; refuses a bad range.
    pub fn sampler(&self) -> anyhow::Result<SpecSampler> {
        match self.iterations {
            None => Ok(SpecSampler::default()),
            Some((low, high)) => Ok(SpecSampler::with_iterations(low..=high)?),
        }
    }

    /// Checks what a build can check before it is queued.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=1000).contains(&self.count),
            "--count must be between 1 and 1000 networks, not {}",
            self.count
        );
        anyhow::ensure!(
            i64::try_from(self.seed).is_ok(),
            "--seed must be below 2^63, not {}",
            self.seed
        );
        self.sampler()?;
        Ok(())
    }
}

/// The folder of training photos: `images`, or the demo photos
/// (`PERCEPT_DEMO_PHOTOS`, set by `cargo xtask env`).
fn images_dir(images: Option<&Path>) -> anyhow::Result<PathBuf> {
    match images {
        Some(dir) => Ok(dir.to_owned()),
        None => std::env::var_os("PERCEPT_DEMO_PHOTOS")
            .map(PathBuf::from)
            .context("no --images folder and PERCEPT_DEMO_PHOTOS is not set: pass --images DIR, or run `eval \"$(cargo xtask env)\"` for the demo photos"),
    }
}

/// Every image in `dir` (sorted by name; files that are not images are
/// skipped), as RGB.
fn read_training_images(dir: &Path) -> anyhow::Result<Vec<RgbImage>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the training images folder {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    let images: Vec<RgbImage> = paths
        .iter()
        .filter_map(|path| distortions::image::open(path).ok())
        .map(|image| image.into_rgb8())
        .collect();
    anyhow::ensure!(
        !images.is_empty(),
        "no readable images (PNG, JPEG, BMP) in {}",
        dir.display()
    );
    Ok(images)
}

/// A stored row as the crate's record (the spec parsed and checked).
fn record(stored: &StoredNetwork) -> anyhow::Result<NetworkRecord> {
    let spec: NetworkSpec = serde_json::from_value(stored.spec.clone())
        .with_context(|| format!("the spec of CNN network `{}` is unreadable", stored.id))?;
    spec.validate()?;
    Ok(NetworkRecord {
        id: stored.id.clone(),
        bank_seed: stored.bank_seed as u64,
        index: stored.index as u32,
        spec,
        weights_sha256: stored.weights_sha256.clone(),
        training_loss: stored.training_loss,
        training_seconds: stored.training_seconds,
    })
}

/// Where a network's weights live, and how to replace altered ones.
fn location(id: &str) -> String {
    format!("row `{id}` of the database's cnn_networks table")
}

fn remedy(id: &str) -> String {
    format!("delete it (`DELETE FROM cnn_networks WHERE id = '{id}'`) and run the same `percept distort cnn-bank build` again to retrain it")
}

/// Network `id` of the bank in `pool`, its weights checked against its
/// record; with `expected`, also refused unless its hash is that one (the
/// hash a stimulus recorded).
pub async fn load(pool: &PgPool, id: &str, expected: Option<&str>) -> anyhow::Result<CnnNetwork> {
    let (stored, weights) = cnn_bank::require(pool, id).await?;
    if let Some(expected) = expected {
        anyhow::ensure!(
            stored.weights_sha256 == expected,
            "CNN network `{id}` in the bank has weights {}, not the {expected} asked for: the bank was rebuilt or altered since, so it is refused",
            stored.weights_sha256
        );
    }
    let record = record(&stored)?;
    tokio::task::spawn_blocking(move || {
        CnnNetwork::load(record, &weights, &location(&stored.id), &remedy(&stored.id))
    })
    .await?
    .map_err(Into::into)
}

/// Runs the bank's networks for generation, keeping each loaded network
/// (by weights hash, so one process serves any number of databases).
#[derive(Default)]
pub struct BankDistorter {
    loaded: Mutex<HashMap<String, Arc<Mutex<CnnNetwork>>>>,
}

impl CnnDistorter for BankDistorter {
    fn distort(
        &self,
        pool: &PgPool,
        network: &NetworkRef,
        patches: &[&RgbImage],
        seeds: &[u64],
    ) -> anyhow::Result<Vec<RgbImage>> {
        let cached = self
            .loaded
            .lock()
            .expect("the network cache")
            .get(&network.weights_sha256)
            .cloned();
        let loaded = match cached {
            Some(loaded) => loaded,
            None => {
                let loaded = tokio::runtime::Handle::current().block_on(load(
                    pool,
                    &network.id,
                    Some(&network.weights_sha256),
                ))?;
                let loaded = Arc::new(Mutex::new(loaded));
                self.loaded
                    .lock()
                    .expect("the network cache")
                    .insert(network.weights_sha256.clone(), loaded.clone());
                loaded
            }
        };
        let loaded = loaded.lock().expect("a network");
        Ok(loaded.apply(patches, seeds)?)
    }
}

/// Makes generation in this process apply CNN networks (`cnn` and `mix`
/// experiments). Every command of the binary does this at start.
pub fn install() {
    cnn_bank::install_distorter(Arc::new(BankDistorter::default()));
}

/// The handler for `cnn-bank` jobs.
pub struct BankBuildJobs;

impl Handler for BankBuildJobs {
    fn kind(&self) -> JobKind {
        JobKind::CnnBank
    }

    fn run<'a>(&'a mut self, context: &'a JobContext) -> BoxFuture<'a, Result<u64, JobError>> {
        Box::pin(async move {
            let build: BankBuild = serde_json::from_value(context.job.payload.clone())
                .map_err(|error| JobError::Failed(format!("unreadable cnn-bank job: {error}")))?;
            build_bank(context, &build).await
        })
    }
}

/// Trains what the bank lacks of `build`, network by network; returns how
/// many networks this run trained.
async fn build_bank(context: &JobContext, build: &BankBuild) -> Result<u64, JobError> {
    let pool = &context.pool;
    let sampler = build.sampler()?;
    let total = i64::from(build.count);
    let mut images: Option<Arc<Vec<RgbImage>>> = None;
    let mut trained = 0;
    for index in 0..build.count {
        let id = cnn_distortions::network_id(build.seed, index);
        if let Some((stored, weights)) = cnn_bank::get(pool, &id).await? {
            let kept = record(&stored)?;
            if kept.spec != cnn_distortions::expected_spec(build.seed, index, &sampler) {
                return Err(JobError::Failed(format!(
                    "CNN network `{id}` in the bank was built with other ranges (e.g. another --iterations) than this build's; build with another --seed, or the same ranges as before"
                )));
            }
            // Refuses altered weights here, rather than at generation.
            if cnn_distortions::sha256_hex(&weights) != kept.weights_sha256 {
                return Err(JobError::Failed(format!(
                    "the weights of CNN network `{id}` no longer match their hash; {}",
                    remedy(&id)
                )));
            }
        } else {
            let photos = match &images {
                Some(photos) => photos.clone(),
                None => {
                    let dir = images_dir(build.images.as_deref())?;
                    let photos = tokio::task::spawn_blocking(move || read_training_images(&dir))
                        .await
                        .map_err(anyhow::Error::from)??;
                    images.insert(Arc::new(photos)).clone()
                }
            };
            let (seed, sampler) = (build.seed, sampler.clone());
            let (record, weights) = tokio::task::spawn_blocking(move || {
                cnn_distortions::train_network(seed, index, &sampler, &photos)
            })
            .await
            .map_err(anyhow::Error::from)?
            .map_err(anyhow::Error::from)?;
            let stored = StoredNetwork {
                id: record.id.clone(),
                bank_seed: record.bank_seed as i64,
                index: record.index as i32,
                spec: serde_json::to_value(&record.spec).map_err(anyhow::Error::from)?,
                weights_sha256: record.weights_sha256.clone(),
                training_loss: record.training_loss,
                training_seconds: record.training_seconds,
                created_at: chrono::Utc::now(),
            };
            if cnn_bank::insert(pool, &stored, &weights).await? {
                trained += 1;
            }
            tracing::info!(
                network = %record.id,
                task = record.spec.task_name(),
                loss = record.training_loss,
                seconds = record.training_seconds,
                "CNN network trained"
            );
        }
        context.set_progress(i64::from(index) + 1, total).await?;
    }
    Ok(trained)
}

/// Queues `build` (joining an open job of the same build); returns its id.
pub async fn enqueue(pool: &PgPool, build: &BankBuild) -> anyhow::Result<i64> {
    let mut connection = pool.acquire().await?;
    Ok(jobs::enqueue(
        &mut connection,
        JobKind::CnnBank,
        None,
        &serde_json::to_value(build)?,
    )
    .await?)
}

/// Works on the `cnn-bank` job in this process, or follows it while another
/// process does, with a progress bar, until it ends; the error says why it
/// failed.
pub async fn wait_for(pool: &PgPool, job_id: i64) -> anyhow::Result<()> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("networks {bar:30} {pos}/{len} {elapsed}")
            .expect("a valid template"),
    );
    let observer = {
        let bar = bar.clone();
        Arc::new(move |done: i64, total: Option<i64>| {
            if let Some(total) = total {
                bar.set_length(total as u64);
            }
            bar.set_position(done as u64);
        })
    };
    let mut runner = Runner::new(pool.clone())
        .with(BankBuildJobs)
        .on_progress(observer);
    loop {
        // Claims it if no live process holds it (also after one died).
        runner.run_next(Some(&[job_id])).await?;
        let job = jobs::get(pool, job_id)
            .await?
            .with_context(|| format!("there is no job {job_id}"))?;
        if let Some(total) = job.progress_total {
            bar.set_length(total as u64);
        }
        bar.set_position(job.progress_done as u64);
        match job.status.as_str() {
            "done" => {
                bar.finish();
                return Ok(());
            }
            "failed" => {
                bar.abandon();
                anyhow::bail!(
                    "building the CNN bank failed: {}",
                    job.error.unwrap_or_default()
                )
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
        }
    }
}
