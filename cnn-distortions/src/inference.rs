//! Applying a network of the bank: (network, input-degradation seed) →
//! output patch, batched.
//!
//! Patches go through the network in batches of exactly
//! [`INFERENCE_BATCH`] (the last one padded with blank images), so every
//! patch meets the same tensor shapes, hence the same libtorch kernels,
//! whatever the number of patches asked for and wherever a patch sits in
//! the request.

use std::collections::HashSet;

use distortions::image::RgbImage;
use safetensors::SafeTensors;
use tch::{nn, Device, Kind, Tensor};

use crate::bank::{check_weights, NetworkRecord};
use crate::degrade::degrade;
use crate::error::{CnnError, Result};
use crate::network::Network;
use crate::pixels::{from_batch, to_batch};

/// Patches per forward pass.
pub const INFERENCE_BATCH: usize = 16;
/// The largest patch side accepted, which bounds a batch's memory.
pub const MAX_PATCH_SIDE: u32 = 1024;

/// A network of the bank with verified weights.
#[derive(Debug)]
pub struct CnnNetwork {
    record: NetworkRecord,
    network: Network,
    // Owns the tensors `network` uses.
    _vars: nn::VarStore,
}

impl CnnNetwork {
    /// Builds `record`'s network from safetensors `bytes` read from
    /// `location` (a file, a database row), after checking that they hash to
    /// the record's `weights_sha256`; `remedy` says how to get a sound
    /// network back if they do not. The bytes must hold exactly the
    /// network's tensors.
    pub fn load(record: NetworkRecord, bytes: &[u8], location: &str, remedy: &str) -> Result<Self> {
        check_weights(&record, bytes, location, remedy)?;
        let bad_file = |message: String| CnnError::BadWeightsFile {
            location: location.to_owned(),
            message,
        };
        let file =
            SafeTensors::deserialize(bytes).map_err(|error| bad_file(format!("{error:?}")))?;
        let vars = nn::VarStore::new(Device::Cpu);
        let network = Network::new(&vars.root(), &record.spec.architecture);
        let mismatch = |message: String| CnnError::WeightsMismatch {
            id: record.id.clone(),
            message,
        };
        let variables = vars.variables();
        let expected: HashSet<&str> = variables.keys().map(String::as_str).collect();
        if let Some(extra) = file
            .names()
            .into_iter()
            .find(|name| !expected.contains(name.as_str()))
        {
            return Err(mismatch(format!(
                "the file has a tensor `{extra}` the network has not"
            )));
        }
        tch::no_grad(|| {
            for (name, mut variable) in variables {
                let view = file
                    .tensor(&name)
                    .map_err(|_| mismatch(format!("tensor `{name}` is missing")))?;
                let tensor = Tensor::try_from(view)?;
                if tensor.size() != variable.size() || tensor.kind() != Kind::Float {
                    return Err(mismatch(format!(
                        "tensor `{name}` is {:?} {:?}, the network needs {:?} Float",
                        tensor.kind(),
                        tensor.size(),
                        variable.size()
                    )));
                }
                variable.copy_(&tensor);
            }
            Ok(())
        })?;
        Ok(Self {
            record,
            network,
            _vars: vars,
        })
    }

    pub fn id(&self) -> &str {
        &self.record.id
    }

    pub fn record(&self) -> &NetworkRecord {
        &self.record
    }

    /// Whether the network takes `width`×`height` patches; the error says
    /// which sizes it takes.
    pub fn check_patch_size(&self, width: u32, height: u32) -> Result<()> {
        let multiple = self.record.spec.side_multiple();
        let fits = |side: u32| {
            side.is_multiple_of(multiple) && (multiple..=MAX_PATCH_SIDE).contains(&side)
        };
        if fits(width) && fits(height) {
            return Ok(());
        }
        Err(CnnError::UnsupportedPatchSize {
            id: self.record.id.clone(),
            width,
            height,
            needs: format!(
                "both sides must be multiples of {multiple} from {multiple} to {MAX_PATCH_SIDE} (e.g. 64x64)"
            ),
        })
    }

    /// The network's input for `patch` with input-degradation `seed`.
    pub fn input(&self, patch: &RgbImage, seed: u64) -> Result<RgbImage> {
        self.check_patch_size(patch.width(), patch.height())?;
        degrade(&self.record.spec.task, patch, seed)
    }

    /// Distorts each of `patches` (all of one size) with its seed in
    /// `seeds`: the task's degradation of the patch, then the network.
    pub fn apply(&self, patches: &[&RgbImage], seeds: &[u64]) -> Result<Vec<RgbImage>> {
        if patches.len() != seeds.len() {
            return Err(CnnError::InvalidInput(format!(
                "{} patches but {} seeds: give one seed per patch",
                patches.len(),
                seeds.len()
            )));
        }
        let Some(first) = patches.first() else {
            return Ok(Vec::new());
        };
        if let Some(other) = patches
            .iter()
            .find(|p| p.dimensions() != first.dimensions())
        {
            return Err(CnnError::InvalidInput(format!(
                "patches of one call must share a size: {}x{} and {}x{}",
                first.width(),
                first.height(),
                other.width(),
                other.height()
            )));
        }
        let inputs = patches
            .iter()
            .zip(seeds)
            .map(|(patch, &seed)| self.input(patch, seed))
            .collect::<Result<Vec<_>>>()?;
        let _no_grad = tch::no_grad_guard();
        let mut outputs = Vec::with_capacity(patches.len());
        for chunk in inputs.chunks(INFERENCE_BATCH) {
            let chunk: Vec<&RgbImage> = chunk.iter().collect();
            let batch = to_batch(&chunk, INFERENCE_BATCH - chunk.len());
            outputs.extend(from_batch(
                &self.network.forward(&batch, false),
                chunk.len(),
            ));
        }
        Ok(outputs)
    }

    /// [`Self::apply`] for one patch.
    pub fn apply_one(&self, patch: &RgbImage, seed: u64) -> Result<RgbImage> {
        Ok(self.apply(&[patch], &[seed])?.remove(0))
    }
}
