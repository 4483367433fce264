//! What a network of the family is: its task, architecture and learning
//! parameters, as JSON, and the sampler that draws them from a seed.
//!
//! The ranges are constants here and tabulated in the crate docs; only the
//! number of training iterations can be narrowed (tests and quick banks
//! train less), and the sampled spec records it, so a spec alone says how
//! its network was made.

use std::ops::RangeInclusive;

use distortions::rand_chacha::rand_core::{RngCore, SeedableRng};
use distortions::rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{CnnError, Result};

/// One network of the family: everything needed to build and train it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Seeds the weight initialisation and the training patches.
    pub seed: u64,
    pub task: Task,
    pub architecture: Architecture,
    pub learning: Learning,
}

/// What the network learns to undo: its input is the clean patch degraded
/// this way, its target the clean patch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Task {
    /// Input = target.
    Autoencoding,
    /// Additive noise, white or pink, of RMS `sigma` (fraction of full scale).
    Denoising { noise: Noise, sigma: f32 },
    /// Input = the patch's luma (BT.601) in all three channels.
    Colorization,
    /// Input = the patch box-averaged down `factor` times, then bilinearly
    /// resized back up.
    SuperResolution { factor: u32 },
    /// Input = the patch under a Gaussian blur of `sigma` pixels.
    Deblurring { sigma: f32 },
    /// Input = the patch through a JPEG round trip at `quality`.
    JpegArtifactRemoval { quality: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Noise {
    White,
    Pink,
}

/// An encoder-decoder: a stem convolution, `depth` levels down (each
/// halving the resolution), the same number up, and a head convolution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Architecture {
    /// Down/up-sampling levels; patch sides must be multiples of 2^depth.
    pub depth: u32,
    /// Channels of the stem; each level down doubles them, up to `max_width`.
    pub base_width: u32,
    pub max_width: u32,
    /// Side of every convolution kernel but the samplers'.
    pub kernel_size: u32,
    /// Convolutions after each resampling.
    pub convs_per_level: u32,
    pub downsampling: Downsampling,
    pub upsampling: Upsampling,
    /// U-Net concatenation of each encoder level into the decoder.
    pub skip_connections: bool,
    /// The network predicts a correction added to its input; its head then
    /// starts small (weights of standard deviation 0.01), so that an
    /// under-trained network disturbs its input rather than replacing it.
    pub global_residual: bool,
    pub normalization: Normalization,
    pub activation: Activation,
    pub output_activation: OutputActivation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Downsampling {
    /// A stride-2 convolution.
    StridedConv,
    /// 2×2 max pooling, then a convolution.
    MaxPool,
    /// 2×2 average pooling, then a convolution.
    AvgPool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Upsampling {
    /// A stride-2 transposed convolution with a 4×4 kernel (overlapping,
    /// prone to checkerboard artifacts).
    TransposedConv,
    /// Nearest-neighbour ×2, then a convolution.
    Nearest,
    /// Bilinear ×2, then a convolution.
    Bilinear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    None,
    /// Batch statistics in training, running averages at inference.
    Batch,
    /// Per image and channel (group norm with one group per channel).
    Instance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    /// Slope 0.2 below zero.
    LeakyRelu,
}

/// Maps the head's output onto the image range [-1, 1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputActivation {
    /// Unbounded in training, clamped at inference.
    None,
    Tanh,
    /// Clamped in training too (no gradient outside the range).
    Hardtanh,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Learning {
    pub loss: Loss,
    pub optimizer: Optimizer,
    pub learning_rate: f64,
    pub iterations: u32,
    /// Patches per training step.
    pub batch_size: u32,
    /// Side of the square training patches.
    pub patch_size: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    L1,
    L2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    Adam,
    /// SGD with momentum 0.9.
    SgdMomentum,
    RmsProp,
}

impl Optimizer {
    /// The learning-rate range drawn for this optimiser (log-uniform): plain
    /// momentum SGD needs larger steps than the adaptive ones.
    pub fn learning_rates(self) -> RangeInclusive<f64> {
        match self {
            Optimizer::Adam => 2e-4..=5e-3,
            Optimizer::SgdMomentum => 1e-3..=3e-2,
            Optimizer::RmsProp => 1e-4..=2e-3,
        }
    }
}

/// Training patches are this big, in batches of this many.
pub const TRAINING_PATCH_SIZE: u32 = 32;
pub const TRAINING_BATCH_SIZE: u32 = 8;
/// The iteration range drawn by default (log-uniform): the short end gives
/// clearly under-trained networks, the long end ones that have learnt
/// their task's coarse structure.
pub const DEFAULT_ITERATIONS: RangeInclusive<u32> = 20..=400;

/// Draws network specs from a seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecSampler {
    iterations: RangeInclusive<u32>,
}

impl Default for SpecSampler {
    fn default() -> Self {
        Self {
            iterations: DEFAULT_ITERATIONS,
        }
    }
}

impl SpecSampler {
    /// A sampler whose networks train for `iterations` steps (log-uniform);
    /// every other range is the family's.
    pub fn with_iterations(iterations: RangeInclusive<u32>) -> Result<Self> {
        if *iterations.start() == 0 || iterations.start() > iterations.end() {
            return Err(CnnError::InvalidInput(format!(
                "iterations must be a range 1 <= low <= high, got {}..={}",
                iterations.start(),
                iterations.end()
            )));
        }
        Ok(Self { iterations })
    }

    pub fn iterations(&self) -> &RangeInclusive<u32> {
        &self.iterations
    }

    /// The spec of the network with this seed.
    pub fn sample(&self, seed: u64) -> NetworkSpec {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let task = match below(&mut rng, 7) {
            0 => Task::Autoencoding,
            1 => Task::Denoising {
                noise: Noise::White,
                sigma: uniform(&mut rng, 0.02, 0.1) as f32,
            },
            2 => Task::Denoising {
                noise: Noise::Pink,
                sigma: uniform(&mut rng, 0.02, 0.1) as f32,
            },
            3 => Task::Colorization,
            4 => Task::SuperResolution {
                factor: pick(&mut rng, &[2, 4]),
            },
            5 => Task::Deblurring {
                sigma: uniform(&mut rng, 0.8, 2.5) as f32,
            },
            _ => Task::JpegArtifactRemoval {
                quality: 10 + below(&mut rng, 31) as u32,
            },
        };
        let architecture = Architecture {
            depth: 1 + below(&mut rng, 3) as u32,
            base_width: pick(&mut rng, &[8, 12, 16]),
            max_width: pick(&mut rng, &[32, 48]),
            kernel_size: pick(&mut rng, &[3, 5]),
            convs_per_level: 1 + below(&mut rng, 2) as u32,
            downsampling: pick(
                &mut rng,
                &[
                    Downsampling::StridedConv,
                    Downsampling::MaxPool,
                    Downsampling::AvgPool,
                ],
            ),
            upsampling: pick(
                &mut rng,
                &[
                    Upsampling::TransposedConv,
                    Upsampling::Nearest,
                    Upsampling::Bilinear,
                ],
            ),
            skip_connections: below(&mut rng, 2) == 1,
            global_residual: below(&mut rng, 4) != 0,
            normalization: pick(
                &mut rng,
                &[
                    Normalization::None,
                    Normalization::Batch,
                    Normalization::Instance,
                ],
            ),
            activation: pick(&mut rng, &[Activation::Relu, Activation::LeakyRelu]),
            output_activation: pick(
                &mut rng,
                &[
                    OutputActivation::None,
                    OutputActivation::Tanh,
                    OutputActivation::Hardtanh,
                ],
            ),
        };
        let optimizer = pick(
            &mut rng,
            &[Optimizer::Adam, Optimizer::SgdMomentum, Optimizer::RmsProp],
        );
        let rates = optimizer.learning_rates();
        let learning = Learning {
            loss: pick(&mut rng, &[Loss::L1, Loss::L2]),
            optimizer,
            learning_rate: significant(log_uniform(&mut rng, *rates.start(), *rates.end())),
            iterations: log_uniform(
                &mut rng,
                f64::from(*self.iterations.start()),
                f64::from(*self.iterations.end()) + 1.0,
            )
            .floor()
            .min(f64::from(*self.iterations.end())) as u32,
            batch_size: TRAINING_BATCH_SIZE,
            patch_size: TRAINING_PATCH_SIZE,
        };
        NetworkSpec {
            seed,
            task,
            architecture,
            learning,
        }
    }
}

impl NetworkSpec {
    /// Patch sides the network takes are multiples of this: the resampling
    /// levels halve it `depth` times, and super-resolution's input is
    /// downsampled `factor` times.
    pub fn side_multiple(&self) -> u32 {
        let levels = 1 << self.architecture.depth;
        match self.task {
            Task::SuperResolution { factor } => levels.max(factor),
            _ => levels,
        }
    }

    /// Checks that the spec describes a network this crate can build and
    /// train (a hand-edited record may not).
    pub fn validate(&self) -> Result<()> {
        let a = &self.architecture;
        let l = &self.learning;
        let problems = [
            ((1..=4).contains(&a.depth), "architecture.depth must be 1..=4"),
            (
                a.base_width >= 1 && a.base_width <= a.max_width && a.max_width <= 256,
                "widths must satisfy 1 <= base_width <= max_width <= 256",
            ),
            (
                a.kernel_size % 2 == 1 && a.kernel_size <= 7,
                "architecture.kernel_size must be odd and at most 7",
            ),
            (
                (1..=3).contains(&a.convs_per_level),
                "architecture.convs_per_level must be 1..=3",
            ),
            (
                l.learning_rate.is_finite() && l.learning_rate > 0.0,
                "learning.learning_rate must be positive",
            ),
            (
                l.iterations >= 1 && l.batch_size >= 1,
                "learning.iterations and learning.batch_size must be at least 1",
            ),
            (
                l.patch_size > 0 && l.patch_size.is_multiple_of(self.side_multiple()),
                "learning.patch_size must be a multiple of the side multiple",
            ),
            (
                match self.task {
                    Task::Denoising { sigma, .. } => (0.0..=0.1).contains(&sigma),
                    Task::SuperResolution { factor } => factor == 2 || factor == 4,
                    Task::Deblurring { sigma } => (0.0..=2.5).contains(&sigma),
                    Task::JpegArtifactRemoval { quality } => (10..=95).contains(&quality),
                    Task::Autoencoding | Task::Colorization => true,
                },
                "task parameters out of range (noise sigma 0..=0.1, factor 2 or 4, blur sigma 0..=2.5, quality 10..=95)",
            ),
        ];
        match problems.iter().find(|(ok, _)| !ok) {
            Some((_, problem)) => Err(CnnError::InvalidInput(format!(
                "invalid network spec: {problem}"
            ))),
            None => Ok(()),
        }
    }

    /// The task's name, e.g. for tables.
    pub fn task_name(&self) -> &'static str {
        match self.task {
            Task::Autoencoding => "autoencoding",
            Task::Denoising { .. } => "denoising",
            Task::Colorization => "colorization",
            Task::SuperResolution { .. } => "super_resolution",
            Task::Deblurring { .. } => "deblurring",
            Task::JpegArtifactRemoval { .. } => "jpeg_artifact_removal",
        }
    }

    /// The task with its parameter, e.g. `denoising pink σ=0.050`.
    pub fn task_summary(&self) -> String {
        match self.task {
            Task::Denoising { noise, sigma } => {
                format!(
                    "denoising {} σ={sigma:.3}",
                    format!("{noise:?}").to_lowercase()
                )
            }
            Task::SuperResolution { factor } => format!("super_resolution ×{factor}"),
            Task::Deblurring { sigma } => format!("deblurring σ={sigma:.2}"),
            Task::JpegArtifactRemoval { quality } => format!("jpeg_artifact_removal q={quality}"),
            _ => self.task_name().to_owned(),
        }
    }

    /// The architecture in one line, e.g.
    /// `depth 2, 12→48, 3×3, max_pool/bilinear, skips, residual`.
    pub fn architecture_summary(&self) -> String {
        let a = &self.architecture;
        // The JSON names, e.g. `strided_conv`.
        let name = |value: serde_json::Value| value.as_str().unwrap_or_default().to_owned();
        let mut summary = format!(
            "depth {}, {}→{}, {k}×{k}, {}/{}",
            a.depth,
            a.base_width,
            a.max_width,
            name(serde_json::json!(a.downsampling)),
            name(serde_json::json!(a.upsampling)),
            k = a.kernel_size,
        );
        if a.skip_connections {
            summary += ", skips";
        }
        if a.global_residual {
            summary += ", residual";
        }
        summary
    }
}

/// Uniform integer in `0..n`.
fn below(rng: &mut impl RngCore, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

fn pick<T: Copy>(rng: &mut impl RngCore, choices: &[T]) -> T {
    choices[below(rng, choices.len() as u64) as usize]
}

/// Uniform in [low, high), rounded to three decimals.
fn uniform(rng: &mut impl RngCore, low: f64, high: f64) -> f64 {
    let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    ((low + unit * (high - low)) * 1000.0).round() / 1000.0
}

/// Log-uniform in [low, high).
fn log_uniform(rng: &mut impl RngCore, low: f64, high: f64) -> f64 {
    let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (low.ln() + unit * (high.ln() - low.ln())).exp()
}

/// Rounded to three significant digits, which keeps JSON readable.
fn significant(value: f64) -> f64 {
    let scale = 10f64.powi(2 - value.log10().floor() as i32);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_through_json_and_validate() {
        let sampler = SpecSampler::default();
        for seed in 0..200 {
            let spec = sampler.sample(seed);
            spec.validate().unwrap();
            let json = serde_json::to_string(&spec).unwrap();
            assert_eq!(serde_json::from_str::<NetworkSpec>(&json).unwrap(), spec);
            assert!(DEFAULT_ITERATIONS.contains(&spec.learning.iterations));
            assert!(spec
                .learning
                .optimizer
                .learning_rates()
                .contains(&spec.learning.learning_rate));
        }
    }

    #[test]
    fn narrowed_iterations_are_respected_and_bad_ranges_refused() {
        let sampler = SpecSampler::with_iterations(5..=5).unwrap();
        assert!((0..50).all(|seed| sampler.sample(seed).learning.iterations == 5));
        assert!(SpecSampler::with_iterations(0..=5).is_err());
        assert!(SpecSampler::with_iterations(RangeInclusive::new(9, 5)).is_err());
    }
}
