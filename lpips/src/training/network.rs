//! The trainable pieces, as the official trainer builds them: the trunk
//! (plain, differentiable convolutions on any device), the five 1×1 linear
//! layers, and the rank network G, with the official initialisations.
//!
//! Initialisation, following `lpips.Trainer(is_train=True)`:
//! - linear layers: `nn.Conv2d(C, 1, 1, bias=False)`'s default, uniform in
//!   ±1/√C (PyTorch's `kaiming_uniform_(a=√5)`), not the released weights;
//! - G: the same default for its three 1×1 convolutions, biases uniform in
//!   ±1/√fan_in;
//! - the trunk for `scratch` (`pnet_rand=True`): what torchvision's
//!   constructors do without pretrained weights. AlexNet has no
//!   initialisation of its own, so its convolutions keep PyTorch's default
//!   (uniform weights and biases in ±1/√fan_in, *not* a Gaussian); VGG16's
//!   `init_weights` draws weights from a Gaussian, `kaiming_normal_` with
//!   `mode="fan_out"` (σ = √(2 / (out·k·k))), and zeroes the biases.

use std::path::{Path, PathBuf};

use tch::{Device, Kind, Reduction, Tensor};

use crate::backbone::{slices, Layer, Net};
use crate::error::Result;
use crate::model::{INPUT_SCALE, INPUT_SHIFT, NORMALIZE_EPS};
use crate::training::error::TrainingError;
use crate::training::random::Draws;
use crate::training::Mode;
use crate::weights::WeightFile;

/// The official `nn.Dropout()` before each linear layer: p = ½ (the masks
/// are [`Draws::half_dropout_mask`]).
pub(crate) const DROPOUT: f64 = 0.5;

/// G's layers: state-dict prefix (the official `BCERankingLoss.net`'s names
/// under `rank.`), input and output channels.
const RANK_LAYERS: [(&str, i64, i64); 3] = [
    ("rank.model.0", 5, 32),
    ("rank.model.2", 32, 32),
    ("rank.model.4", 32, 1),
];
/// G's LeakyReLU slope.
const RANK_SLOPE: f64 = 0.2;
/// The official `Dist2LogitLayer`'s guard in d0/(d1+ε).
const RANK_EPS: f64 = 0.1;

/// The state-dict name of tap `tap`'s linear layer.
pub(crate) fn lin_name(tap: usize) -> String {
    format!("lin{tap}.model.1.weight")
}

/// The weights training starts from, by official state-dict name: trunk
/// (`net.slice*`), linear layers (`lin{K}.model.1.weight`) and G
/// (`rank.model.{0,2,4}.{weight,bias}`).
pub struct StartingWeights {
    origin: PathBuf,
    tensors: Vec<(String, Tensor)>,
}

impl StartingWeights {
    /// What the official trainer starts from (see the module docs), drawn
    /// from `seed`: the trunk is read from `pretrained` (the official
    /// weights file) for [`Mode::Lin`] and [`Mode::Tune`] and drawn at random
    /// for [`Mode::Scratch`], which ignores `pretrained`.
    pub fn official(
        net: Net,
        mode: Mode,
        pretrained: Option<&Path>,
        seed: u64,
    ) -> Result<Self, TrainingError> {
        // The run's own stream (see `random`), not libtorch's generator.
        let draws = std::cell::RefCell::new(Draws::new(seed));
        let uniform = |shape: &[i64], fan_in: i64| {
            draws
                .borrow_mut()
                .uniform(shape, 1.0 / (fan_in as f64).sqrt())
        };
        let mut tensors = Vec::new();
        match (mode, pretrained) {
            (Mode::Scratch, _) => {
                for (slice, layers) in slices(net).iter().enumerate() {
                    for layer in layers.iter() {
                        let Layer::Conv(spec) = layer else { continue };
                        let prefix = spec.prefix(slice + 1);
                        let shape = spec.weight_shape();
                        let (weight, bias) = match net {
                            Net::Alex => {
                                let fan_in = spec.in_channels * spec.kernel * spec.kernel;
                                (uniform(&shape, fan_in), uniform(&[spec.out_channels], fan_in))
                            }
                            Net::Vgg => {
                                let fan_out = spec.out_channels * spec.kernel * spec.kernel;
                                let std = (2.0 / fan_out as f64).sqrt();
                                (
                                    draws.borrow_mut().normal(&shape, Device::Cpu) * std,
                                    Tensor::zeros([spec.out_channels], (Kind::Float, Device::Cpu)),
                                )
                            }
                        };
                        tensors.push((format!("{prefix}.weight"), weight));
                        tensors.push((format!("{prefix}.bias"), bias));
                    }
                }
            }
            (_, Some(path)) => {
                let all = Tensor::read_safetensors(path).map_err(|source| {
                    crate::error::LpipsError::WeightsUnreadable {
                        path: path.to_owned(),
                        source,
                    }
                })?;
                tensors.extend(all.into_iter().filter(|(name, _)| name.starts_with("net.")));
            }
            (_, None) => {
                return Err(TrainingError::Settings(format!(
                    "{mode} training starts from the pretrained {net} trunk: give the official weights file"
                )))
            }
        }
        for (tap, &channels) in net.tap_channels().iter().enumerate() {
            tensors.push((lin_name(tap), uniform(&[1, channels, 1, 1], channels)));
        }
        for (prefix, inputs, outputs) in RANK_LAYERS {
            tensors.push((
                format!("{prefix}.weight"),
                uniform(&[outputs, inputs, 1, 1], inputs),
            ));
            tensors.push((format!("{prefix}.bias"), uniform(&[outputs], inputs)));
        }
        Ok(Self {
            origin: pretrained
                .map_or_else(|| PathBuf::from("(random initialisation)"), Path::to_owned),
            tensors,
        })
    }

    /// Every tensor from a safetensors file (e.g. to resume, or to start from
    /// another trainer's weights).
    pub fn from_safetensors(path: &Path) -> Result<Self> {
        let tensors = Tensor::read_safetensors(path).map_err(|source| {
            crate::error::LpipsError::WeightsUnreadable {
                path: path.to_owned(),
                source,
            }
        })?;
        Ok(Self {
            origin: path.to_owned(),
            tensors,
        })
    }

    /// Named tensors already in memory (a checkpoint's); `origin` names
    /// them in errors.
    pub fn from_tensors(origin: &str, tensors: Vec<(String, Tensor)>) -> Self {
        Self {
            origin: PathBuf::from(origin),
            tensors,
        }
    }

    pub(crate) fn into_weight_file(self, net: Net) -> WeightFile {
        WeightFile::from_tensors(&self.origin, net.name(), self.tensors)
    }
}

/// `tensor` on `device` as a leaf that tracks gradients when `trainable`.
fn parameter(tensor: Tensor, device: Device, trainable: bool) -> Tensor {
    tensor.to(device).detach().set_requires_grad(trainable)
}

enum TrunkLayer {
    Conv {
        name: String,
        weight: Tensor,
        bias: Tensor,
        stride: i64,
        padding: i64,
    },
    MaxPool {
        kernel: i64,
        stride: i64,
    },
}

/// The scaling layer and backbone with plain (differentiable) convolutions.
pub(crate) struct Trunk {
    slices: Vec<Vec<TrunkLayer>>,
    shift: Tensor,
    scale: Tensor,
}

impl Trunk {
    pub(crate) fn take(
        net: Net,
        weights: &mut WeightFile,
        device: Device,
        trainable: bool,
    ) -> Result<Self> {
        let slices = slices(net)
            .iter()
            .enumerate()
            .map(|(slice, layers)| {
                layers
                    .iter()
                    .map(|layer| {
                        Ok(match *layer {
                            Layer::Conv(spec) => {
                                let name = spec.prefix(slice + 1);
                                let weight = weights
                                    .take(&format!("{name}.weight"), &spec.weight_shape())?;
                                let bias =
                                    weights.take(&format!("{name}.bias"), &[spec.out_channels])?;
                                TrunkLayer::Conv {
                                    name,
                                    weight: parameter(weight, device, trainable),
                                    bias: parameter(bias, device, trainable),
                                    stride: spec.stride,
                                    padding: spec.padding,
                                }
                            }
                            Layer::MaxPool { kernel, stride } => {
                                TrunkLayer::MaxPool { kernel, stride }
                            }
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            slices,
            shift: Tensor::from_slice(&INPUT_SHIFT)
                .view([1, 3, 1, 1])
                .to(device),
            scale: Tensor::from_slice(&INPUT_SCALE)
                .view([1, 3, 1, 1])
                .to(device),
        })
    }

    /// Weights and biases by state-dict name.
    pub(crate) fn parameters(&self) -> Vec<(String, &Tensor)> {
        self.slices
            .iter()
            .flatten()
            .flat_map(|layer| match layer {
                TrunkLayer::Conv {
                    name, weight, bias, ..
                } => vec![
                    (format!("{name}.weight"), weight),
                    (format!("{name}.bias"), bias),
                ],
                TrunkLayer::MaxPool { .. } => vec![],
            })
            .collect()
    }

    /// The five unit-normalised taps of `images` (N, 3, H, W) in [-1, 1],
    /// with the official `normalize_tensor` (x / (‖x‖ + 1e-10), the norm as
    /// √Σx², which is also how its gradient flows).
    pub(crate) fn normalised_taps(&self, images: &Tensor) -> Vec<Tensor> {
        let mut current = (images - &self.shift) / &self.scale;
        self.slices
            .iter()
            .map(|layers| {
                for layer in layers {
                    current = match layer {
                        TrunkLayer::Conv {
                            weight,
                            bias,
                            stride,
                            padding,
                            ..
                        } => current
                            .conv2d(weight, Some(bias), [*stride; 2], [*padding; 2], [1, 1], 1)
                            .relu(),
                        TrunkLayer::MaxPool { kernel, stride } => {
                            current.max_pool2d([*kernel; 2], [*stride; 2], [0, 0], [1, 1], false)
                        }
                    };
                }
                let norm = current
                    .square()
                    .sum_dim_intlist(1, true, Kind::Float)
                    .sqrt();
                &current / (norm + NORMALIZE_EPS)
            })
            .collect()
    }
}

/// The five linear layers, (1, C, 1, 1) each.
pub(crate) fn take_lins(net: Net, weights: &mut WeightFile, device: Device) -> Result<Vec<Tensor>> {
    net.tap_channels()
        .iter()
        .enumerate()
        .map(|(tap, &channels)| {
            Ok(parameter(
                weights.take(&lin_name(tap), &[1, channels, 1, 1])?,
                device,
                true,
            ))
        })
        .collect()
}

/// LPIPS distances (K, 2) of each triplet's two pairs, from normalised
/// `taps` of a batch of patches and the positions of the triplets'
/// reference, p0 and p1 in it (`slots`); with `dropout`, the official
/// elementwise dropout (p = ½) before each linear layer, its masks drawn
/// from the run's stream. Same order as the official `LPIPS.forward`:
/// linear layer, then spatial mean, then sum over taps.
pub(crate) fn pair_distances(
    taps: &[Tensor],
    slots: &[Tensor; 3],
    lins: &[Tensor],
    mut dropout: Option<&mut Draws>,
) -> Tensor {
    let mut per_pair = |pair: usize| {
        taps.iter()
            .zip(lins)
            .map(|(tap, lin)| {
                let reference = tap.index_select(0, &slots[0]);
                let squared = (reference - tap.index_select(0, &slots[pair])).square();
                let diff = match dropout.as_deref_mut() {
                    Some(draws) => {
                        let mask = draws.half_dropout_mask(&squared.size(), squared.device());
                        squared * mask
                    }
                    None => squared,
                };
                (diff * lin).sum_dim_intlist(1, true, Kind::Float).mean_dim(
                    &[2i64, 3][..],
                    false,
                    Kind::Float,
                )
            })
            .reduce(|sum, term| sum + term)
            .expect("five taps")
    };
    let (d0, d1) = (per_pair(1), per_pair(2));
    Tensor::cat(&[d0, d1], 1)
}

/// The official rank network G with its loss: maps (d0, d1) to the
/// probability that people prefer p1, trained with binary cross-entropy
/// against the judge.
pub(crate) struct RankNet {
    /// (weight (out, in, 1, 1), bias) per layer.
    layers: Vec<(Tensor, Tensor)>,
}

impl RankNet {
    pub(crate) fn take(weights: &mut WeightFile, device: Device) -> Result<Self> {
        let layers = RANK_LAYERS
            .iter()
            .map(|&(prefix, inputs, outputs)| {
                Ok((
                    parameter(
                        weights.take(&format!("{prefix}.weight"), &[outputs, inputs, 1, 1])?,
                        device,
                        true,
                    ),
                    parameter(
                        weights.take(&format!("{prefix}.bias"), &[outputs])?,
                        device,
                        true,
                    ),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers })
    }

    pub(crate) fn parameters(&self) -> Vec<(String, &Tensor)> {
        RANK_LAYERS
            .iter()
            .zip(&self.layers)
            .flat_map(|(&(prefix, ..), (weight, bias))| {
                [
                    (format!("{prefix}.weight"), weight),
                    (format!("{prefix}.bias"), bias),
                ]
            })
            .collect()
    }

    /// Mean BCE of G's prediction from `distances` (B, 2) against `judges`
    /// (B): the official `BCERankingLoss`.
    pub(crate) fn loss(&self, distances: &Tensor, judges: &Tensor) -> Tensor {
        let (d0, d1) = (distances.select(1, 0), distances.select(1, 1));
        let mut x = Tensor::stack(
            &[
                &d0,
                &d1,
                &(&d0 - &d1),
                &(&d0 / (&d1 + RANK_EPS)),
                &(&d1 / (&d0 + RANK_EPS)),
            ],
            1,
        );
        let last = self.layers.len() - 1;
        for (index, (weight, bias)) in self.layers.iter().enumerate() {
            x = x.linear(&weight.flatten(1, -1), Some(bias));
            if index < last {
                x = x.maximum(&(&x * RANK_SLOPE));
            }
        }
        // The trainer passes judge·2−1 and the loss maps it back with
        // (j+1)/2; the same rounding here.
        let target = ((judges * 2.0 - 1.0) + 1.0) / 2.0;
        x.sigmoid()
            .binary_cross_entropy::<Tensor>(&target.view([-1, 1]), None, Reduction::Mean)
    }
}
