//! What training produces: the metric's weights, saved with the official
//! state-dict names, and the training record.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::backbone::Net;
use crate::error::Result;
use crate::model::{Lpips, Weighting};
use crate::training::error::TrainingError;
use crate::training::{Mode, Settings};

/// Trained LPIPS weights, on the CPU: the trunk (`net.slice{S}.{I}.weight`
/// and `.bias`) and the linear layers (`lin{K}.model.1.weight`), the names
/// of the official `LPIPS.state_dict()` and of this crate's weight files.
/// The trunk is included in every mode (frozen for lin), as in the official
/// `torch.save(net.state_dict())`, so the file is a complete metric.
pub struct TrainedMetric {
    net: Net,
    state: Vec<(String, Tensor)>,
}

impl TrainedMetric {
    pub(crate) fn new(net: Net, state: Vec<(String, Tensor)>) -> Self {
        Self { net, state }
    }

    pub fn net(&self) -> Net {
        self.net
    }

    /// The tensors by state-dict name.
    pub fn state_dict(&self) -> &[(String, Tensor)] {
        &self.state
    }

    /// The linear layers' weights, tap by tap.
    pub fn lin_weights(&self) -> Result<Vec<Vec<f32>>> {
        self.state
            .iter()
            .filter(|(name, _)| name.starts_with("lin"))
            .map(|(_, tensor)| Ok(Vec::<f32>::try_from(tensor.flatten(0, -1))?))
            .collect()
    }

    /// The metric, ready to score, without a round trip through a file.
    pub fn to_lpips(&self) -> Result<Lpips> {
        Lpips::from_state_dict(
            self.net,
            Weighting::Lin,
            Path::new("(trained weights)"),
            self.state
                .iter()
                .map(|(name, tensor)| (name.clone(), tensor.shallow_clone())),
        )
    }

    /// Writes the weights as safetensors, through a temporary file in the
    /// same folder, so `path` never holds a partial file. Loadable by
    /// [`Lpips::load`] (`lpips-alex:NAME`) and, in Python, by
    /// `lpips.LPIPS(net=…, pnet_rand=True).load_state_dict(
    /// safetensors.torch.load_file(path), strict=False)`.
    pub fn save(&self, path: &Path) -> Result<(), TrainingError> {
        let partial = partial_path(path);
        Tensor::write_safetensors(&self.state, &partial).map_err(|e| TrainingError::Write {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        std::fs::rename(&partial, path).map_err(|e| TrainingError::Write {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// One epoch of training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    pub learning_rate: f64,
    pub steps: usize,
    /// Mean of the steps' losses (with dropout, as trained).
    pub loss: f64,
    /// 2AFC score on the training triplets with the weights at the end of
    /// the epoch, dropout off.
    pub train_2afc: f64,
    /// The same on the validation triplets, if any.
    pub validation_2afc: Option<f64>,
    pub seconds: f64,
}

/// Where training stopped early.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stop {
    pub epoch: usize,
    pub step: usize,
    pub global_step: usize,
    pub reason: String,
}

/// The training record, written next to the weights as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    pub settings: Settings,
    /// The device actually used (`cpu`, `cuda:0`).
    pub device: String,
    /// How the official dropout was applied: `elementwise` (end to end) or
    /// `moment-matched channel means` (lin on precomputed features).
    pub dropout: String,
    pub training_triplets: usize,
    pub validation_triplets: usize,
    /// Time to run every distinct patch through the frozen trunk (lin only).
    pub feature_seconds: Option<f64>,
    /// 2AFC scores of the starting weights, before any step.
    pub initial_train_2afc: f64,
    pub initial_validation_2afc: Option<f64>,
    pub epochs: Vec<EpochRecord>,
    pub stopped: Option<Stop>,
    pub wall_seconds: f64,
}

impl TrainingRecord {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("records serialise")
    }

    /// Writes the record as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<(), TrainingError> {
        std::fs::write(path, self.to_json()).map_err(|e| TrainingError::Write {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    pub(crate) fn dropout_name(mode: Mode) -> &'static str {
        match mode {
            Mode::Lin => "moment-matched channel means",
            Mode::Tune | Mode::Scratch => "elementwise",
        }
    }
}

/// A finished (or stopped) training run.
pub struct Trained {
    pub metric: TrainedMetric,
    pub record: TrainingRecord,
}

impl std::fmt::Debug for Trained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trained")
            .field("net", &self.metric.net)
            .field("record", &self.record)
            .finish()
    }
}
