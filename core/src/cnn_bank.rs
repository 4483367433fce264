//! The bank of CNN distortions in PostgreSQL (migrations/0012): every
//! server and worker on one database applies the same trained networks.
//!
//! This crate links no libtorch, so here the networks are rows: a spec as
//! JSON, the safetensors bytes and their hash. Training them (the
//! `cnn-bank` job) and running them ([`CnnDistorter`], which generation
//! calls for CNN-distorted patches) live in the server, on the
//! `cnn_distortions` crate.

use std::sync::{Arc, OnceLock};

use distortions::image::RgbImage;
use serde_json::Value;
use sqlx::PgPool;

use crate::error::{Error, Result};

/// How to build a bank, for every message that finds none.
pub const BUILD_HINT: &str =
    "build one with `percept distort cnn-bank build --count 24 --seed 0` (add `--images DIR` to train on your own photos)";

/// A network of the bank, without its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredNetwork {
    pub id: String,
    pub bank_seed: i64,
    pub index: i32,
    pub spec: Value,
    pub weights_sha256: String,
    pub training_loss: f64,
    pub training_seconds: f64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Every network of the bank, by id.
pub async fn list(pool: &PgPool) -> Result<Vec<StoredNetwork>> {
    Ok(sqlx::query_as!(
        StoredNetwork,
        "SELECT id, bank_seed, index, spec, weights_sha256, training_loss, training_seconds,
                created_at
         FROM cnn_networks ORDER BY id"
    )
    .fetch_all(pool)
    .await?)
}

/// Network `id` and its weights, if the bank has it.
pub async fn get(pool: &PgPool, id: &str) -> Result<Option<(StoredNetwork, Vec<u8>)>> {
    let row = sqlx::query!(
        "SELECT id, bank_seed, index, spec, weights, weights_sha256, training_loss,
                training_seconds, created_at
         FROM cnn_networks WHERE id = $1",
        id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| {
        (
            StoredNetwork {
                id: row.id,
                bank_seed: row.bank_seed,
                index: row.index,
                spec: row.spec,
                weights_sha256: row.weights_sha256,
                training_loss: row.training_loss,
                training_seconds: row.training_seconds,
                created_at: row.created_at,
            },
            row.weights,
        )
    }))
}

/// Network `id` and its weights; a clear error when the bank has no such
/// network (naming the ones it has) or no network at all.
pub async fn require(pool: &PgPool, id: &str) -> Result<(StoredNetwork, Vec<u8>)> {
    if let Some(found) = get(pool, id).await? {
        return Ok(found);
    }
    let ids: Vec<String> = list(pool).await?.into_iter().map(|n| n.id).collect();
    Err(Error::NotFound(if ids.is_empty() {
        format!("there is no CNN network `{id}`: the bank is empty; {BUILD_HINT}")
    } else {
        format!(
            "there is no CNN network `{id}` in the bank; it holds {}",
            ids.join(", ")
        )
    }))
}

/// Stores a trained network. A network already stored under its id (a
/// build that another process finished first) is kept: returns false.
pub async fn insert(pool: &PgPool, network: &StoredNetwork, weights: &[u8]) -> Result<bool> {
    let inserted = sqlx::query!(
        "INSERT INTO cnn_networks (id, bank_seed, index, spec, weights, weights_sha256,
                                   training_loss, training_seconds)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT DO NOTHING",
        network.id,
        network.bank_seed,
        network.index,
        network.spec,
        weights,
        network.weights_sha256,
        network.training_loss,
        network.training_seconds,
    )
    .execute(pool)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The networks a `cnn` or `mix` experiment draws from: the whole bank, or
/// a clear error when it is empty.
pub async fn networks_for_generation(pool: &PgPool) -> Result<Vec<NetworkRef>> {
    let networks: Vec<NetworkRef> = list(pool)
        .await?
        .into_iter()
        .map(|network| NetworkRef {
            id: network.id,
            weights_sha256: network.weights_sha256,
        })
        .collect();
    if networks.is_empty() {
        return Err(Error::Invalid(format!(
            "the CNN distortion bank is empty, so there is nothing to make CNN-distorted stimuli with; {BUILD_HINT}"
        )));
    }
    Ok(networks)
}

/// A network as a stimulus names it: its id and its weights' hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRef {
    pub id: String,
    pub weights_sha256: String,
}

/// Runs networks of the bank (the server's, on libtorch). Called off the
/// async executor, from generation's blocking task, inside the runtime.
pub trait CnnDistorter: Send + Sync {
    /// `patches` (all of one size) through `network` of the bank in `pool`,
    /// each after the input degradation of its seed in `seeds`. Refuses
    /// weights whose hash is not `network.weights_sha256`.
    fn distort(
        &self,
        pool: &PgPool,
        network: &NetworkRef,
        patches: &[&RgbImage],
        seeds: &[u64],
    ) -> anyhow::Result<Vec<RgbImage>>;
}

static DISTORTER: OnceLock<Arc<dyn CnnDistorter>> = OnceLock::new();

/// Makes `distorter` the one generation uses for CNN-distorted sides. The
/// `percept` binary installs its libtorch one at start; this crate links
/// no libtorch, so a process without one refuses `cnn` and `mix`
/// experiments' generation jobs with a clear error.
pub fn install_distorter(distorter: Arc<dyn CnnDistorter>) {
    let _ = DISTORTER.set(distorter);
}

/// The installed distorter, if any.
pub fn distorter() -> Option<&'static dyn CnnDistorter> {
    DISTORTER.get().map(|distorter| distorter.as_ref())
}
