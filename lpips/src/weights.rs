//! Loading LPIPS weights from safetensors, validating every tensor by name.
//!
//! Tensor names follow the official `lpips` package's `LPIPS` state dict, in
//! torch layout (OIHW), so retrained official weights saved with
//! `safetensors.torch.save_file(model.state_dict(), …)` load unchanged:
//!
//! - `net.slice{S}.{I}.weight` and `.bias`: backbone convolution at index `I`
//!   of torchvision's `features`, in tap slice `S` (1-based);
//! - `lin{K}.model.1.weight`: the `(1, C, 1, 1)` linear layer of tap `K`.
//!
//! Other tensors in the file (e.g. `scaling_layer.shift`) are ignored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tch::{Kind, Tensor};

use crate::error::{LpipsError, Result};

/// The tensors of one safetensors file, handed out by name and expected shape.
pub(crate) struct WeightFile {
    path: PathBuf,
    net: &'static str,
    tensors: HashMap<String, Tensor>,
}

impl WeightFile {
    /// `net` only serves the error messages ("is it the vgg weights?").
    pub(crate) fn open(path: &Path, net: &'static str) -> Result<Self> {
        let tensors =
            Tensor::read_safetensors(path).map_err(|source| LpipsError::WeightsUnreadable {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self::from_tensors(path, net, tensors))
    }

    /// Named tensors already in memory; `origin` names them in errors.
    pub(crate) fn from_tensors(
        origin: &Path,
        net: &'static str,
        tensors: impl IntoIterator<Item = (String, Tensor)>,
    ) -> Self {
        Self {
            path: origin.to_owned(),
            net,
            tensors: tensors.into_iter().collect(),
        }
    }

    /// The float32 tensor `name`, which must have exactly `expected` shape and
    /// finite values.
    pub(crate) fn take(&mut self, name: &str, expected: &[i64]) -> Result<Tensor> {
        let tensor = self
            .tensors
            .remove(name)
            .ok_or_else(|| LpipsError::MissingTensor {
                path: self.path.clone(),
                name: name.to_owned(),
                net: self.net,
            })?;
        if tensor.size() != expected || tensor.kind() != Kind::Float {
            return Err(LpipsError::BadTensor {
                path: self.path.clone(),
                name: name.to_owned(),
                net: self.net,
                actual: tensor.size(),
                kind: tensor.kind(),
                expected: expected.to_vec(),
            });
        }
        if !bool::try_from(tensor.isfinite().all())? {
            return Err(LpipsError::NonFiniteTensor {
                path: self.path.clone(),
                name: name.to_owned(),
            });
        }
        Ok(tensor.contiguous())
    }
}
