//! Checkpoints: the state after a finished epoch, so that a training run cut
//! short (a killed worker, a lost machine) carries on from the last epoch it
//! finished instead of from the start, with the same result.
//!
//! A checkpoint holds every weight by state-dict name (trunk, linear layers,
//! G), the optimiser's moments and step count, and the record so far. The
//! shuffles are replayed from the seed and the dropout is reseeded per epoch
//! (see [`super::train_resumable`]), so epoch e+1 after a resume draws what
//! it would have drawn without one. For lin, the trunk's features are
//! computed again on resume (one pass per distinct patch).
//!
//! [`Checkpoint::to_bytes`] is a safetensors file (the tensors) whose
//! metadata is not used; the record travels separately as JSON, as callers
//! store it anyway.

use std::sync::atomic::{AtomicU64, Ordering};

use tch::{Kind, Tensor};

use crate::training::error::TrainingError;
use crate::training::output::TrainingRecord;

const ADAM_STEPS: &str = "adam.steps";

fn moment_names(index: usize) -> (String, String) {
    (format!("adam.m.{index}"), format!("adam.v.{index}"))
}

/// The state after `record.epochs.len()` finished epochs.
pub struct Checkpoint {
    pub record: TrainingRecord,
    /// Weights by state-dict name (on the CPU).
    pub(crate) weights: Vec<(String, Tensor)>,
    pub(crate) adam_steps: i32,
    /// The optimiser's (m, v) per parameter, in its order.
    pub(crate) moments: Vec<(Tensor, Tensor)>,
}

impl Checkpoint {
    /// Finished epochs.
    pub fn epochs_done(&self) -> usize {
        self.record.epochs.len()
    }

    /// The tensors as a safetensors file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, TrainingError> {
        let mut tensors: Vec<(String, Tensor)> = self
            .weights
            .iter()
            .map(|(name, tensor)| (name.clone(), tensor.shallow_clone()))
            .collect();
        for (index, (m, v)) in self.moments.iter().enumerate() {
            let (m_name, v_name) = moment_names(index);
            tensors.push((m_name, m.to_device(tch::Device::Cpu).contiguous()));
            tensors.push((v_name, v.to_device(tch::Device::Cpu).contiguous()));
        }
        tensors.push((
            ADAM_STEPS.to_owned(),
            Tensor::from_slice(&[i64::from(self.adam_steps)]),
        ));
        let path = scratch_path();
        let written = Tensor::write_safetensors(&tensors, &path)
            .map_err(TrainingError::from)
            .and_then(|()| {
                std::fs::read(&path).map_err(|e| TrainingError::Write {
                    path: path.clone(),
                    reason: e.to_string(),
                })
            });
        let _ = std::fs::remove_file(&path);
        written
    }

    /// Reads [`Self::to_bytes`]' output back, with the record stored beside it.
    pub fn from_bytes(bytes: &[u8], record: TrainingRecord) -> Result<Self, TrainingError> {
        let path = scratch_path();
        std::fs::write(&path, bytes).map_err(|e| TrainingError::Write {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let read = Tensor::read_safetensors(&path);
        let _ = std::fs::remove_file(&path);
        let mut tensors: std::collections::HashMap<String, Tensor> = read?.into_iter().collect();
        let bad =
            |what: &str| TrainingError::Settings(format!("the checkpoint is damaged: {what}"));
        let steps = tensors
            .remove(ADAM_STEPS)
            .ok_or_else(|| bad("no adam.steps"))?;
        let adam_steps = i32::try_from(i64::try_from(
            &steps.to_kind(Kind::Int64).view([-1]).get(0),
        )?)
        .map_err(|_| bad("adam.steps out of range"))?;
        let mut moments = Vec::new();
        for index in 0.. {
            let (m_name, v_name) = moment_names(index);
            match (tensors.remove(&m_name), tensors.remove(&v_name)) {
                (Some(m), Some(v)) => moments.push((m, v)),
                (None, None) => break,
                _ => return Err(bad("an optimiser moment without its pair")),
            }
        }
        let mut weights: Vec<(String, Tensor)> = tensors.into_iter().collect();
        weights.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self {
            record,
            weights,
            adam_steps,
            moments,
        })
    }
}

/// A file name of our own in the temporary folder (tch reads and writes
/// safetensors by path only).
fn scratch_path() -> std::path::PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "percept-checkpoint-{}-{}.safetensors",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}
