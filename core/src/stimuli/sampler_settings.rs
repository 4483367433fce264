use distortions::{Sampler, KINDS};
use percept_api::experiments::DistortionFamily;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How an experiment draws its distortion pipelines, stored with it (the
/// `Sampler` itself is not serialisable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplerSettings {
    pub min_steps: usize,
    pub max_steps: usize,
    /// Distortion type names, as `percept distort list` shows them.
    pub types: Vec<String>,
    /// Which family makes the distorted sides (experiments stored before
    /// there was a choice are traditional).
    #[serde(default, skip_serializing_if = "is_traditional")]
    pub family: DistortionFamily,
}

impl Default for SamplerSettings {
    /// BAPPS' traditional distortions: one to three of all 20 types.
    fn default() -> Self {
        Self {
            min_steps: 1,
            max_steps: 3,
            types: KINDS.iter().map(|kind| kind.name.to_owned()).collect(),
            family: DistortionFamily::Traditional,
        }
    }
}

impl SamplerSettings {
    pub fn sampler(&self) -> Result<Sampler> {
        let type_names: Vec<&str> = self.types.iter().map(String::as_str).collect();
        Sampler::new(self.min_steps, self.max_steps, &type_names).map_err(|error| {
            let known: Vec<&str> = KINDS.iter().map(|kind| kind.name).collect();
            // The sampler's own message, without its "sampler: " prefix,
            // which would say "sampler" twice.
            let cause = match error {
                distortions::DistortionError::InvalidSampler(message) => message,
                other => other.to_string(),
            };
            Error::Invalid(format!(
                "invalid distortion sampler: {cause} (the types are {})",
                known.join(", ")
            ))
        })
    }
}

fn is_traditional(family: &DistortionFamily) -> bool {
    *family == DistortionFamily::Traditional
}
