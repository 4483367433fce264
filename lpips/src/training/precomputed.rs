//! Lin training without the trunk in the loop.
//!
//! With the trunk frozen, a patch's normalised taps never change, so each
//! distinct patch goes through the trunk once (batched, on the scorer's fast
//! path on CPU), and training then only needs what the linear layers see.
//!
//! What they see is, per pair and tap, the squared difference map x of the
//! normalised taps, (C, H, W), after the official elementwise dropout
//! (p = 0.5, kept values doubled), weighted over channels and averaged over
//! space: d = Σ_c w_c · mean_hw(drop(x))_c. Keeping the maps would cost
//! 31,872 floats per pair for alex at 64×64 (38 GB for BAPPS' 151k
//! triplets), so per channel we keep only the two numbers that fix the
//! distribution of mean_hw(drop(x))_c to second order:
//!
//! - its mean, m_c = mean_hw(x_c), exact, float32: without dropout (for
//!   scoring, and the optimiser-step test) distances use it alone;
//! - its spread, s_c = √(mean_hw(x_c²) / HW): with keep probability
//!   q = 1 − p, the dropped mean has variance (p/q) · mean_hw(x_c²) / HW,
//!   i.e. s_c² for p = ½. Stored as bfloat16 (a noise scale needs range,
//!   not digits).
//!
//! A training step draws mean_hw(drop(x))_c ≈ max(0, m_c + √(p/q) · s_c · ε)
//! with ε ~ N(0, 1), independently per channel and pair, as the official
//! masks are independent per element. The draw has the official dropout's
//! mean and variance (the clamp, needed because the true value is never
//! negative, only touches the 3×3 taps' rare large draws); only its shape
//! differs, a Gaussian where the official one is a scaled binomial sum over
//! HW terms (225, 49 and 9 for alex's taps at 64×64). The benchmark compares
//! held-out 2AFC scores with the official trainer's.
//!
//! Memory: 2 pairs × Σ channels × (4 + 2) bytes per triplet: 13.8 KB for
//! alex (1,152 channels), 17.7 KB for vgg (1,472), whatever the patch size;
//! 2.09 GB (alex) or 2.67 GB (vgg) for 151k triplets, plus 9.2 KB (alex)
//! per validation triplet, which needs means only.

use tch::{Device, Kind, Tensor};

use crate::backbone::Net;
use crate::model::{Lpips, Weighting};
use crate::training::data::TripletSet;
use crate::training::error::TrainingError;
use crate::training::network::{Trunk, DROPOUT};
use crate::training::random::Draws;
use crate::training::Progress;

/// Triplets per trunk pass: up to 96 distinct patches, the scorer's batch.
const TRIPLETS_PER_PASS: usize = 32;

/// How the frozen trunk's taps are computed: oneDNN (the scorer's path) on
/// the CPU, plain convolutions elsewhere.
pub(crate) enum Extractor {
    OneDnn(Lpips),
    Plain(Trunk),
}

impl Extractor {
    /// `trunk` holds the trunk's weights by state-dict name.
    pub(crate) fn new(net: Net, trunk: Trunk, device: Device) -> Result<Self, TrainingError> {
        Ok(match device {
            Device::Cpu => {
                let state = trunk
                    .parameters()
                    .into_iter()
                    .map(|(name, tensor)| (name, tensor.shallow_clone()));
                Extractor::OneDnn(Lpips::from_state_dict(
                    net,
                    Weighting::ChannelSum,
                    std::path::Path::new("(training trunk)"),
                    state,
                )?)
            }
            _ => Extractor::Plain(trunk),
        })
    }

    fn taps(&self, images: &Tensor) -> Vec<Tensor> {
        let _no_grad = tch::no_grad_guard();
        match self {
            Extractor::OneDnn(model) => model.features(images).taps,
            Extractor::Plain(trunk) => trunk.normalised_taps(images),
        }
    }
}

/// Per triplet, pair (d0, d1) and channel (all taps' channels in order): the
/// mean of the squared normalised difference, and for training sets its
/// dropout spread (see the module docs).
pub(crate) struct PairStatistics {
    /// (N, 2, C) float32.
    mean: Tensor,
    /// (N, 2, C) bfloat16, for training sets.
    spread: Option<Tensor>,
}

impl PairStatistics {
    /// Runs every distinct patch of `set` through the trunk once; reports
    /// progress in triplets.
    pub(crate) fn compute(
        net: Net,
        set: &TripletSet,
        extractor: &Extractor,
        device: Device,
        with_spread: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Self, TrainingError> {
        let count = set.len() as i64;
        let channels: i64 = net.tap_channels().iter().sum();
        let mean = Tensor::zeros([count, 2, channels], (Kind::Float, device));
        let spread =
            with_spread.then(|| Tensor::zeros([count, 2, channels], (Kind::BFloat16, device)));
        let all: Vec<usize> = (0..set.len()).collect();
        for (pass, chunk) in all.chunks(TRIPLETS_PER_PASS).enumerate() {
            let (images, slots) = set.load_distinct(net, chunk, device)?;
            let taps = extractor.taps(&images);
            let start = (pass * TRIPLETS_PER_PASS) as i64;
            let length = chunk.len() as i64;
            let _no_grad = tch::no_grad_guard();
            let mut means = Vec::new();
            let mut spreads = Vec::new();
            for tap in &taps {
                let area = (tap.size()[2] * tap.size()[3]) as f64;
                let reference = tap.index_select(0, &slots[0]);
                let (mut tap_means, mut tap_spreads) = (Vec::new(), Vec::new());
                for slot in &slots[1..] {
                    let diff = (&reference - tap.index_select(0, slot)).square();
                    tap_means.push(diff.mean_dim(&[2i64, 3][..], false, Kind::Float));
                    if with_spread {
                        tap_spreads.push(
                            (diff.square().mean_dim(&[2i64, 3][..], false, Kind::Float) / area)
                                .sqrt(),
                        );
                    }
                }
                means.push(Tensor::stack(&tap_means, 1));
                if with_spread {
                    spreads.push(Tensor::stack(&tap_spreads, 1));
                }
            }
            mean.narrow(0, start, length).copy_(&Tensor::cat(&means, 2));
            if let Some(spread) = &spread {
                spread
                    .narrow(0, start, length)
                    .copy_(&Tensor::cat(&spreads, 2).to_kind(Kind::BFloat16));
            }
            progress(Progress::Features {
                done: (start + length) as usize,
                total: set.len(),
            });
        }
        Ok(Self { mean, spread })
    }

    /// Distances (B, 2) of the triplets at `index` (int64 on the device)
    /// under `weights` (C); with `dropout` (training sets only), a draw of
    /// the official dropout from the run's stream (see the module docs).
    pub(crate) fn distances(
        &self,
        index: &Tensor,
        weights: &Tensor,
        dropout: Option<&mut Draws>,
    ) -> Tensor {
        let mean = self.mean.index_select(0, index);
        let values = match (&self.spread, dropout) {
            (Some(spread), Some(draws)) => {
                let spread = spread.index_select(0, index).to_kind(Kind::Float);
                let scale = (DROPOUT / (1.0 - DROPOUT)).sqrt();
                let noise = draws.normal(&mean.size(), mean.device());
                (&mean + spread * noise * scale).clamp_min(0.0)
            }
            _ => mean,
        };
        values.matmul(weights)
    }

    /// Distances (N, 2) of every triplet, without dropout.
    pub(crate) fn all_distances(&self, weights: &Tensor) -> Tensor {
        let _no_grad = tch::no_grad_guard();
        self.mean.matmul(weights)
    }
}
