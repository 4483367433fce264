//! The bank: trained networks, each stored as its safetensors weights beside
//! a [`NetworkRecord`] (spec, SHA-256 of the weights, training loss and
//! time). A network whose weights do not hash to its record is refused.
//!
//! [`train_network`] and [`CnnNetwork::load`] are the storage-free core;
//! [`Bank`] keeps them in a folder, `<id>.safetensors` beside `<id>.json`
//! (library use, the bench and this crate's tests). The `percept` app keeps
//! the same records and bytes in PostgreSQL instead, so that every server
//! and worker on one database applies the same networks.
//!
//! Building is resumable: the record is written last (weights and record
//! each through a temporary file and a rename), so a network with a record
//! is complete, and building again skips it after checking its spec and
//! hash. Run one build per folder at a time: two builds racing on the same
//! network could pair one's record with the other's weights, which loading
//! then refuses (hash mismatch) rather than applies.

use std::fs;
use std::path::{Path, PathBuf};

use distortions::image::RgbImage;
use distortions::rand_chacha::rand_core::{RngCore, SeedableRng};
use distortions::rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{io_error, CnnError, Result};
use crate::inference::CnnNetwork;
use crate::spec::{NetworkSpec, SpecSampler};
use crate::training::train;

/// What the bank stores about one network, as `<id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkRecord {
    pub id: String,
    /// The bank seed and index this network was drawn with.
    pub bank_seed: u64,
    pub index: u32,
    pub spec: NetworkSpec,
    /// Lowercase hex SHA-256 of `<id>.safetensors`, byte for byte.
    pub weights_sha256: String,
    /// Mean training loss over the last steps (L1 or L2 as the spec says,
    /// on images in [-1, 1]).
    pub training_loss: f64,
    pub training_seconds: f64,
}

/// How many networks to build, from which seed and family ranges.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub count: u32,
    pub seed: u64,
    pub sampler: SpecSampler,
}

/// Reported after each network of a build.
#[derive(Debug, Clone)]
pub struct BuildProgress<'a> {
    /// Networks done so far, this one included, out of `count`.
    pub done: u32,
    pub count: u32,
    pub record: &'a NetworkRecord,
    /// False when the network was already in the bank and was kept.
    pub trained: bool,
}

/// A bank folder.
#[derive(Debug, Clone)]
pub struct Bank {
    dir: PathBuf,
}

/// The id of network `index` of the bank built with `bank_seed`.
pub fn network_id(bank_seed: u64, index: u32) -> String {
    format!("s{bank_seed}-{index:03}")
}

/// The seed of network `index`'s spec: ChaCha stream `index` of the bank
/// seed, so growing a bank keeps the networks it had.
pub fn network_seed(bank_seed: u64, index: u32) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(bank_seed);
    rng.set_stream(u64::from(index));
    // Below 2^53 so the seed survives JSON readers that parse doubles.
    rng.next_u64() >> 11
}

impl Bank {
    /// The bank in `dir`, which must hold at least one network.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let bank = Self { dir: dir.into() };
        if !bank.dir.is_dir() || bank.ids()?.is_empty() {
            return Err(CnnError::NoBank { dir: bank.dir });
        }
        Ok(bank)
    }

    /// Builds (or completes) the bank in `dir`: networks `0..count` of
    /// `options.seed`, trained on random patches of `images`. Networks
    /// already there are checked (same spec, weights matching their hash)
    /// and kept. `progress` hears about every network, kept or trained.
    pub fn build(
        dir: impl Into<PathBuf>,
        options: &BuildOptions,
        images: &[RgbImage],
        mut progress: impl FnMut(&BuildProgress),
    ) -> Result<Self> {
        let bank = Self { dir: dir.into() };
        fs::create_dir_all(&bank.dir).map_err(io_error(&bank.dir))?;
        for index in 0..options.count {
            let id = network_id(options.seed, index);
            let spec = expected_spec(options.seed, index, &options.sampler);
            let (record, trained) = if bank.record_path(&id).exists() {
                let record = bank.record(&id)?;
                if record.spec != spec {
                    return Err(CnnError::SpecMismatch {
                        id,
                        bank_seed: options.seed,
                    });
                }
                bank.verified_weights(&record)?;
                (record, false)
            } else {
                let (record, weights) =
                    train_network(options.seed, index, &options.sampler, images)?;
                bank.store(&record, &weights)?;
                (record, true)
            };
            progress(&BuildProgress {
                done: index + 1,
                count: options.count,
                record: &record,
                trained,
            });
        }
        Ok(bank)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every network's record, by id.
    pub fn list(&self) -> Result<Vec<NetworkRecord>> {
        self.ids()?.iter().map(|id| self.record(id)).collect()
    }

    /// The record of network `id`.
    pub fn record(&self, id: &str) -> Result<NetworkRecord> {
        let path = self.record_path(id);
        if !is_plain_id(id) || !path.is_file() {
            return Err(CnnError::UnknownNetwork {
                id: id.to_owned(),
                dir: self.dir.clone(),
                available: self.ids()?.join(", "),
            });
        }
        let text = fs::read_to_string(&path).map_err(io_error(&path))?;
        let record: NetworkRecord =
            serde_json::from_str(&text).map_err(|source| CnnError::BadRecord { path, source })?;
        record.spec.validate()?;
        Ok(record)
    }

    /// Network `id`, ready to apply, after checking its weights against the
    /// hash in its record.
    pub fn load(&self, id: &str) -> Result<CnnNetwork> {
        let record = self.record(id)?;
        let path = self.weights_path(id);
        let bytes = fs::read(&path).map_err(io_error(&path))?;
        CnnNetwork::load(
            record,
            &bytes,
            &path.display().to_string(),
            &self.remedy(id),
        )
    }

    /// The ids of the networks with a record, sorted.
    fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        if !self.dir.is_dir() {
            return Ok(ids);
        }
        for entry in fs::read_dir(&self.dir).map_err(io_error(&self.dir))? {
            let path = entry.map_err(io_error(&self.dir))?.path();
            if path
                .extension()
                .is_some_and(|extension| extension == "json")
            {
                if let Some(stem) = path.file_stem().and_then(|stem| stem.to_str()) {
                    ids.push(stem.to_owned());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The bytes of `record`'s weights file, if they hash to its record.
    fn verified_weights(&self, record: &NetworkRecord) -> Result<Vec<u8>> {
        let path = self.weights_path(&record.id);
        let bytes = fs::read(&path).map_err(io_error(&path))?;
        check_weights(
            record,
            &bytes,
            &path.display().to_string(),
            &self.remedy(&record.id),
        )?;
        Ok(bytes)
    }

    fn remedy(&self, id: &str) -> String {
        format!(
            "delete `{id}.json` and `{id}.safetensors` in {} and build again to retrain it",
            self.dir.display()
        )
    }

    /// Stores a trained network: the weights, then the record.
    fn store(&self, record: &NetworkRecord, weights: &[u8]) -> Result<()> {
        let weights_path = self.weights_path(&record.id);
        let temporary = with_suffix(&weights_path, ".tmp");
        fs::write(&temporary, weights).map_err(io_error(&temporary))?;
        fs::rename(&temporary, &weights_path).map_err(io_error(&weights_path))?;
        let record_path = self.record_path(&record.id);
        let temporary = with_suffix(&record_path, ".tmp");
        let json = serde_json::to_string_pretty(record).expect("records serialise");
        fs::write(&temporary, json + "\n").map_err(io_error(&temporary))?;
        fs::rename(&temporary, &record_path).map_err(io_error(&record_path))?;
        Ok(())
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn weights_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.safetensors"))
    }
}

/// Ids name files, so only letters, digits, `-` and `_` (no paths).
fn is_plain_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Draws network `index` of the bank `bank_seed` from `sampler` and trains
/// it on random patches of `images`: its record and its weights as
/// safetensors bytes (tensors sorted by name, so the bytes depend only on
/// the weights). A build that keeps networks checks them against
/// [`expected_spec`].
pub fn train_network(
    bank_seed: u64,
    index: u32,
    sampler: &SpecSampler,
    images: &[RgbImage],
) -> Result<(NetworkRecord, Vec<u8>)> {
    let spec = expected_spec(bank_seed, index, sampler);
    let trained = train(&spec, images)?;
    let mut named: Vec<(String, tch::Tensor)> = trained.vars.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = named
        .iter()
        .map(|(name, tensor)| {
            let shape: Vec<usize> = tensor.size().iter().map(|&side| side as usize).collect();
            let values = Vec::<f32>::try_from(tensor.flatten(0, -1))?;
            let bytes = values
                .iter()
                .flat_map(|value| value.to_le_bytes())
                .collect();
            Ok((name.clone(), shape, bytes))
        })
        .collect::<Result<_>>()?;
    let views = data
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| CnnError::InvalidInput(format!("serialising weights: {error:?}")))?;
    let weights = safetensors::serialize(views, &None)
        .map_err(|error| CnnError::InvalidInput(format!("serialising weights: {error:?}")))?;
    let record = NetworkRecord {
        id: network_id(bank_seed, index),
        bank_seed,
        index,
        spec,
        weights_sha256: sha256_hex(&weights),
        training_loss: trained.loss,
        training_seconds: trained.seconds,
    };
    Ok((record, weights))
}

/// The spec of network `index` of the bank `bank_seed` under `sampler`: a
/// kept network whose record says otherwise was built with other ranges.
pub fn expected_spec(bank_seed: u64, index: u32, sampler: &SpecSampler) -> NetworkSpec {
    sampler.sample(network_seed(bank_seed, index))
}

/// Refuses `bytes` unless they hash to `record.weights_sha256`.
pub(crate) fn check_weights(
    record: &NetworkRecord,
    bytes: &[u8],
    location: &str,
    remedy: &str,
) -> Result<()> {
    let actual = sha256_hex(bytes);
    if actual != record.weights_sha256 {
        return Err(CnnError::HashMismatch {
            id: record.id.clone(),
            location: location.to_owned(),
            remedy: remedy.to_owned(),
            expected: record.weights_sha256.clone(),
            actual,
        });
    }
    Ok(())
}

/// Lowercase hex SHA-256, as records store it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
