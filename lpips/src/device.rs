//! Which device libtorch computes on, as `--device cpu|cuda|auto` names it.
//!
//! The choice is resolved once, up front, to a [`tch::Device`] that every
//! tensor is then created on or moved to explicitly, so a CPU run exercises
//! the same code path as a CUDA one. Asking for CUDA where libtorch sees no
//! GPU is an error, not a silent fall-back to the CPU.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::{Cuda, Device};

use crate::error::{LpipsError, Result};

/// The requested device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    Cpu,
    /// The first CUDA GPU; an error without one.
    Cuda,
    /// CUDA when libtorch sees a GPU, else the CPU.
    #[default]
    Auto,
}

impl DeviceChoice {
    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
            DeviceChoice::Auto => "auto",
        }
    }

    /// The device to compute on.
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda if Cuda::is_available() => Ok(Device::Cuda(0)),
            DeviceChoice::Cuda => Err(LpipsError::CudaUnavailable),
            DeviceChoice::Auto => Ok(Device::cuda_if_available()),
        }
    }
}

/// A resolved device as the CLI and records name it: `cpu` or `cuda:N`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(index) => format!("cuda:{index}"),
        _ => "cpu".to_owned(),
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DeviceChoice {
    type Err = LpipsError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            "auto" => Ok(DeviceChoice::Auto),
            other => Err(LpipsError::UnknownDevice(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for choice in [DeviceChoice::Cpu, DeviceChoice::Cuda, DeviceChoice::Auto] {
            assert_eq!(choice.name().parse::<DeviceChoice>().unwrap(), choice);
        }
        let error = "gpu".parse::<DeviceChoice>().unwrap_err();
        assert!(error.to_string().contains("cpu, cuda or auto"), "{error}");
        assert_eq!(DeviceChoice::Cpu.resolve().unwrap(), Device::Cpu);
    }

    #[test]
    fn cuda_without_a_gpu_is_an_error() {
        if !Cuda::is_available() {
            let error = DeviceChoice::Cuda.resolve().unwrap_err();
            assert!(error.to_string().contains("no CUDA device"), "{error}");
            assert_eq!(DeviceChoice::Auto.resolve().unwrap(), Device::Cpu);
        }
    }
}
