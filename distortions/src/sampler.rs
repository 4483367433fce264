//! Random pipelines the BAPPS way: a random number of distinct distortion
//! types, in random order, each with parameters drawn uniformly from their
//! valid ranges. The result is a fully resolved `Pipeline`, so a stimulus is
//! regenerated from (reference, pipeline JSON, seed) alone.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{DistortionError, Result};
use crate::rng::{below, unit_f64};
use crate::spec::{kind_named, Distortion, DistortionKind, Pipeline, KINDS};

/// Draws random pipelines.
#[derive(Debug, Clone)]
pub struct Sampler {
    min_steps: usize,
    max_steps: usize,
    kinds: Vec<&'static DistortionKind>,
}

impl Default for Sampler {
    /// One to three steps over all 20 types.
    fn default() -> Self {
        Self {
            min_steps: 1,
            max_steps: 3,
            kinds: KINDS.iter().collect(),
        }
    }
}

/// Sampled real parameters are rounded to this many decimals, which keeps
/// specs readable and loses nothing perceptible.
const DECIMALS: f64 = 1000.0;

impl Sampler {
    /// A sampler drawing `min_steps..=max_steps` distinct types among
    /// `type_names`.
    pub fn new(min_steps: usize, max_steps: usize, type_names: &[&str]) -> Result<Self> {
        let kinds = type_names
            .iter()
            .map(|name| {
                kind_named(name).ok_or_else(|| {
                    DistortionError::InvalidSampler(format!("unknown distortion type `{name}`"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if min_steps == 0 || min_steps > max_steps || max_steps > kinds.len() {
            return Err(DistortionError::InvalidSampler(format!(
                "steps must satisfy 1 <= min_steps ({min_steps}) <= max_steps ({max_steps}) <= number of types ({})",
                kinds.len()
            )));
        }
        Ok(Self {
            min_steps,
            max_steps,
            kinds,
        })
    }

    /// Draws one pipeline.
    pub fn sample(&self, rng: &mut impl RngCore) -> Pipeline {
        let count = self.min_steps + below(rng, self.max_steps - self.min_steps + 1);
        // A partial Fisher-Yates shuffle picks distinct types in random order.
        let mut kinds = self.kinds.clone();
        for i in 0..count {
            let j = i + below(rng, kinds.len() - i);
            kinds.swap(i, j);
        }
        let steps = kinds[..count]
            .iter()
            .map(|kind| sample_distortion(kind, rng))
            .collect();
        Pipeline::new(steps)
    }

    /// Draws one pipeline from `seed` alone. It uses a ChaCha stream that
    /// `Pipeline::apply` never uses, so the same seed can also drive the
    /// pipeline's noise without correlating the two.
    pub fn sample_seeded(&self, seed: u64) -> Pipeline {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(u64::MAX);
        self.sample(&mut rng)
    }
}

fn sample_distortion(kind: &DistortionKind, rng: &mut impl RngCore) -> Distortion {
    let values: Vec<f64> = kind
        .params
        .iter()
        .map(|param| {
            if param.integer {
                param.min + below(rng, (param.max - param.min) as usize + 1) as f64
            } else {
                let value = param.min + unit_f64(rng) * (param.max - param.min);
                ((value * DECIMALS).round() / DECIMALS).clamp(param.min, param.max)
            }
        })
        .collect();
    Distortion::from_param_values(kind.name, &values)
        .expect("values drawn inside the catalogue's own ranges always validate")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelines_have_distinct_types_within_the_step_bounds() {
        let sampler =
            Sampler::new(2, 4, &KINDS.iter().map(|k| k.name).collect::<Vec<_>>()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for _ in 0..200 {
            let pipeline = sampler.sample(&mut rng);
            assert!((2..=4).contains(&pipeline.steps.len()));
            let mut names: Vec<_> = pipeline.steps.iter().map(|s| s.kind().name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(
                names.len(),
                pipeline.steps.len(),
                "repeated type in {pipeline:?}"
            );
        }
    }

    #[test]
    fn every_type_and_both_ends_of_the_step_range_are_drawn() {
        let sampler = Sampler::default();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let pipelines: Vec<Pipeline> = (0..500).map(|_| sampler.sample(&mut rng)).collect();
        for kind in KINDS {
            assert!(
                pipelines
                    .iter()
                    .any(|p| p.steps.iter().any(|s| s.kind().name == kind.name)),
                "{} never drawn",
                kind.name
            );
        }
        assert!(pipelines.iter().any(|p| p.steps.len() == 1));
        assert!(pipelines.iter().any(|p| p.steps.len() == 3));
    }

    #[test]
    fn sampled_specs_survive_a_json_round_trip_exactly() {
        let sampler = Sampler::default();
        for seed in 0..100 {
            let pipeline = sampler.sample_seeded(seed);
            assert_eq!(Pipeline::from_json(&pipeline.to_json()).unwrap(), pipeline);
        }
    }

    #[test]
    fn invalid_configurations_are_rejected() {
        assert!(Sampler::new(0, 2, &["jpeg", "shift"]).is_err());
        assert!(Sampler::new(2, 1, &["jpeg", "shift"]).is_err());
        assert!(Sampler::new(1, 3, &["jpeg", "shift"]).is_err());
        let error = Sampler::new(1, 1, &["sharpen"]).unwrap_err().to_string();
        assert!(error.contains("sharpen"), "{error}");
    }
}
