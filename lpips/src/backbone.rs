//! The AlexNet and VGG16 feature extractors, cut into the five slices whose
//! ReLU outputs LPIPS compares.
//!
//! Both networks are described as data (the layers of torchvision's
//! `features`, grouped by slice), so loading, size checks and the forward pass
//! are shared.

use std::fmt;
use std::str::FromStr;

use tch::{Device, Tensor};

use crate::dists_kernels::l2_pool;
use crate::error::{LpipsError, Result};
use crate::weights::WeightFile;

/// The backbone network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Net {
    /// AlexNet, taps relu1–relu5 (the paper's and the package's default).
    Alex,
    /// VGG16, taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
    Vgg,
}

impl Net {
    pub const ALL: [Net; 2] = [Net::Alex, Net::Vgg];

    /// The name used by the official package, the CLI and the weight files
    /// (`alex.safetensors`, `vgg.safetensors`).
    pub fn name(self) -> &'static str {
        match self {
            Net::Alex => "alex",
            Net::Vgg => "vgg",
        }
    }

    /// Channels of the five taps.
    pub fn tap_channels(self) -> [i64; 5] {
        match self {
            Net::Alex => [64, 192, 384, 256, 256],
            Net::Vgg => [64, 128, 256, 512, 512],
        }
    }

    /// The smallest image side for which every tap is at least 1×1.
    pub fn min_side(self) -> u32 {
        (1..)
            .find(|&side| self.tap_sides(side).iter().all(|&s| s >= 1))
            .expect("some side is large enough")
    }

    /// Spatial side of each tap for a square input of `side` pixels
    /// (PyTorch's floor rule, possibly ≤ 0 when the input is too small).
    fn tap_sides(self, side: u32) -> Vec<i64> {
        let mut current = i64::from(side);
        slices(self)
            .iter()
            .map(|slice| {
                for layer in *slice {
                    let (kernel, stride, padding) = match *layer {
                        Layer::Conv(conv) => (conv.kernel, conv.stride, conv.padding),
                        Layer::MaxPool { kernel, stride } => (kernel, stride, 0),
                    };
                    current = if current + 2 * padding < kernel {
                        0
                    } else {
                        (current + 2 * padding - kernel) / stride + 1
                    };
                }
                current
            })
            .collect()
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Net {
    type Err = LpipsError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "alex" => Ok(Net::Alex),
            "vgg" | "vgg16" => Ok(Net::Vgg),
            other => Err(LpipsError::UnknownNet(other.to_owned())),
        }
    }
}

/// A convolution (always followed by an in-place ReLU in both networks).
#[derive(Clone, Copy)]
pub(crate) struct ConvSpec {
    /// Index in torchvision's `features`, which names the weights.
    pub(crate) index: usize,
    pub(crate) in_channels: i64,
    pub(crate) out_channels: i64,
    pub(crate) kernel: i64,
    pub(crate) stride: i64,
    pub(crate) padding: i64,
}

impl ConvSpec {
    /// The state-dict prefix of this convolution in tap slice `slice_number`
    /// (1-based): `net.slice{S}.{I}`.
    pub(crate) fn prefix(&self, slice_number: usize) -> String {
        format!("net.slice{slice_number}.{}", self.index)
    }

    /// Shape of the weight, OIHW.
    pub(crate) fn weight_shape(&self) -> [i64; 4] {
        [
            self.out_channels,
            self.in_channels,
            self.kernel,
            self.kernel,
        ]
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Layer {
    Conv(ConvSpec),
    /// Square max pooling without padding, floor mode.
    MaxPool {
        kernel: i64,
        stride: i64,
    },
}

const fn conv(
    index: usize,
    in_channels: i64,
    out_channels: i64,
    kernel: i64,
    stride: i64,
    padding: i64,
) -> Layer {
    Layer::Conv(ConvSpec {
        index,
        in_channels,
        out_channels,
        kernel,
        stride,
        padding,
    })
}

const fn vgg_conv(index: usize, in_channels: i64, out_channels: i64) -> Layer {
    conv(index, in_channels, out_channels, 3, 1, 1)
}

const ALEX_POOL: Layer = Layer::MaxPool {
    kernel: 3,
    stride: 2,
};
const VGG_POOL: Layer = Layer::MaxPool {
    kernel: 2,
    stride: 2,
};

const ALEX_SLICES: [&[Layer]; 5] = [
    &[conv(0, 3, 64, 11, 4, 2)],
    &[ALEX_POOL, conv(3, 64, 192, 5, 1, 2)],
    &[ALEX_POOL, conv(6, 192, 384, 3, 1, 1)],
    &[conv(8, 384, 256, 3, 1, 1)],
    &[conv(10, 256, 256, 3, 1, 1)],
];

const VGG_SLICES: [&[Layer]; 5] = [
    &[vgg_conv(0, 3, 64), vgg_conv(2, 64, 64)],
    &[VGG_POOL, vgg_conv(5, 64, 128), vgg_conv(7, 128, 128)],
    &[
        VGG_POOL,
        vgg_conv(10, 128, 256),
        vgg_conv(12, 256, 256),
        vgg_conv(14, 256, 256),
    ],
    &[
        VGG_POOL,
        vgg_conv(17, 256, 512),
        vgg_conv(19, 512, 512),
        vgg_conv(21, 512, 512),
    ],
    &[
        VGG_POOL,
        vgg_conv(24, 512, 512),
        vgg_conv(26, 512, 512),
        vgg_conv(28, 512, 512),
    ],
];

pub(crate) fn slices(net: Net) -> &'static [&'static [Layer]; 5] {
    match net {
        Net::Alex => &ALEX_SLICES,
        Net::Vgg => &VGG_SLICES,
    }
}

/// What runs where the network max-pools: its own max pooling (LPIPS), or
/// DISTS' L2 pooling.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pooling {
    Max,
    /// `sqrt(conv(x², g) + 1e-12)` per channel, `g` the normalised outer
    /// product of the Hann window [0.5, 1, 0.5], stride 2, padding 1: the
    /// official DISTS `L2pooling(filter_size=5)` (piq's `L2Pool2d`).
    L2,
}

/// A loaded layer: the convolution's weights, or a pooling window.
enum LoadedLayer {
    Conv {
        /// On oneDNN, a oneDNN tensor in the layout its convolution reads
        /// (see [`Backbone::taps`]); otherwise a plain OIHW tensor.
        weight: Tensor,
        bias: Tensor,
        stride: i64,
        padding: i64,
    },
    MaxPool {
        kernel: i64,
        stride: i64,
    },
    /// DISTS' L2 pooling with its (C, 1, 3, 3) depthwise filter.
    L2Pool {
        filter: Tensor,
        channels: i64,
    },
}

impl LoadedLayer {
    fn shallow_clone(&self) -> Self {
        match self {
            LoadedLayer::Conv {
                weight,
                bias,
                stride,
                padding,
            } => LoadedLayer::Conv {
                weight: weight.shallow_clone(),
                bias: bias.shallow_clone(),
                stride: *stride,
                padding: *padding,
            },
            LoadedLayer::MaxPool { kernel, stride } => LoadedLayer::MaxPool {
                kernel: *kernel,
                stride: *stride,
            },
            LoadedLayer::L2Pool { filter, channels } => LoadedLayer::L2Pool {
                filter: filter.shallow_clone(),
                channels: *channels,
            },
        }
    }
}

/// How the layers run: oneDNN's blocked tensors (the CPU's fast path), or
/// plain strided convolutions, which run on any device (CUDA).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Engine {
    OneDnn,
    Plain(Device),
}

impl Engine {
    /// oneDNN on the CPU, plain convolutions elsewhere.
    pub(crate) fn for_device(device: Device) -> Self {
        match device {
            Device::Cpu => Engine::OneDnn,
            other => Engine::Plain(other),
        }
    }

    pub(crate) fn device(self) -> Device {
        match self {
            Engine::OneDnn => Device::Cpu,
            Engine::Plain(device) => device,
        }
    }
}

/// The backbone with its weights, producing the five (unnormalised) taps.
pub(crate) struct Backbone {
    slices: Vec<Vec<LoadedLayer>>,
    engine: Engine,
}

impl Backbone {
    pub(crate) fn load(net: Net, weights: &mut WeightFile, engine: Engine) -> Result<Self> {
        Self::load_pooled(net, weights, Pooling::Max, engine)
    }

    /// The backbone with `pooling` in place of its max pooling.
    pub(crate) fn load_pooled(
        net: Net,
        weights: &mut WeightFile,
        pooling: Pooling,
        engine: Engine,
    ) -> Result<Self> {
        let device = engine.device();
        // Channels entering each layer: what a pooling layer filters.
        let mut channels = 3;
        let slices = slices(net)
            .iter()
            .enumerate()
            .map(|(slice_index, layers)| {
                layers
                    .iter()
                    .map(|layer| {
                        if let Layer::Conv(spec) = layer {
                            channels = spec.out_channels;
                        }
                        match (layer, pooling) {
                            (Layer::MaxPool { .. }, Pooling::L2) => Ok(LoadedLayer::L2Pool {
                                filter: hann_filter().repeat([channels, 1, 1, 1]).to(device),
                                channels,
                            }),
                            _ => load_layer(*layer, slice_index + 1, weights, engine),
                        }
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { slices, engine })
    }

    pub(crate) fn device(&self) -> Device {
        self.engine.device()
    }

    /// The five taps of `input` (N, 3, H, W), already scaled, in any memory
    /// layout; each tap is a dense contiguous (N, C, H, W) tensor.
    ///
    /// The layers run on oneDNN (mkldnn) tensors, whose blocked layout is
    /// oneDNN's native one, against weights reordered once at load: the
    /// convolutions then neither convert their input and output nor reorder
    /// their weights on every call, as they do on strided tensors. Only the
    /// taps are converted back.
    pub(crate) fn taps(&self, input: &Tensor) -> Vec<Tensor> {
        match self.engine {
            Engine::OneDnn => self.onednn_taps(input),
            Engine::Plain(device) => self.plain_taps(&input.to(device)),
        }
    }

    /// Another handle on the same weights, without copying them, for
    /// another thread (tch's tensors may move between threads but not be
    /// shared by them).
    pub(crate) fn shallow_clone(&self) -> Self {
        Self {
            slices: self
                .slices
                .iter()
                .map(|layers| layers.iter().map(LoadedLayer::shallow_clone).collect())
                .collect(),
            engine: self.engine,
        }
    }

    fn onednn_taps(&self, input: &Tensor) -> Vec<Tensor> {
        let mut current = input.contiguous().to_mkldnn();
        // The previous slice's tap: `current` in dense form, until a layer
        // runs (DISTS' pooling reads it instead of converting again).
        let mut tap: Option<Tensor> = None;
        self.slices
            .iter()
            .map(|layers| {
                for layer in layers {
                    current = match layer {
                        LoadedLayer::Conv {
                            weight,
                            bias,
                            stride,
                            padding,
                        } => current
                            .mkldnn_convolution(
                                weight,
                                Some(bias),
                                [*padding; 2],
                                [*stride; 2],
                                [1, 1],
                                1,
                            )
                            .relu_(),
                        LoadedLayer::MaxPool { kernel, stride } => current.mkldnn_max_pool2d(
                            [*kernel; 2],
                            [*stride; 2],
                            [0, 0],
                            [1, 1],
                            false,
                        ),
                        // One pass over the dense map: see `dists_kernels`.
                        LoadedLayer::L2Pool { .. } => {
                            let dense = tap.take().unwrap_or_else(|| current.to_dense(None, false));
                            l2_pool(&dense).to_mkldnn()
                        }
                    };
                    tap = None;
                }
                let dense = current.to_dense(None, false);
                tap = Some(dense.shallow_clone());
                dense
            })
            .collect()
    }

    /// The same layers with strided tensors on the backbone's device.
    fn plain_taps(&self, input: &Tensor) -> Vec<Tensor> {
        let mut current = input.contiguous();
        self.slices
            .iter()
            .map(|layers| {
                for layer in layers {
                    current = match layer {
                        LoadedLayer::Conv {
                            weight,
                            bias,
                            stride,
                            padding,
                        } => current
                            .conv2d(weight, Some(bias), [*stride; 2], [*padding; 2], [1, 1], 1)
                            .relu_(),
                        LoadedLayer::MaxPool { kernel, stride } => {
                            current.max_pool2d([*kernel; 2], [*stride; 2], [0, 0], [1, 1], false)
                        }
                        LoadedLayer::L2Pool { filter, channels } => (current.square().conv2d(
                            filter,
                            None::<Tensor>,
                            [2, 2],
                            [1, 1],
                            [1, 1],
                            *channels,
                        ) + 1e-12)
                            .sqrt(),
                    };
                }
                current.contiguous()
            })
            .collect()
    }
}

/// DISTS' 3×3 pooling filter: `np.hanning(5)[1:-1]`'s outer product,
/// normalised to sum 1, shaped (1, 1, 3, 3).
fn hann_filter() -> Tensor {
    let window = [0.5f32, 1.0, 0.5];
    let outer: Vec<f32> = window
        .iter()
        .flat_map(|a| window.iter().map(move |b| a * b / 4.0))
        .collect();
    Tensor::from_slice(&outer).view([1, 1, 3, 3])
}

fn load_layer(
    layer: Layer,
    slice_number: usize,
    weights: &mut WeightFile,
    engine: Engine,
) -> Result<LoadedLayer> {
    Ok(match layer {
        Layer::Conv(spec) => {
            let prefix = spec.prefix(slice_number);
            let weight = weights.take(&format!("{prefix}.weight"), &spec.weight_shape())?;
            let (stride, padding) = ([spec.stride; 2], [spec.padding; 2]);
            let bias = weights.take(&format!("{prefix}.bias"), &[spec.out_channels])?;
            LoadedLayer::Conv {
                weight: match engine {
                    Engine::OneDnn => weight.to_mkldnn().mkldnn_reorder_conv2d_weight(
                        padding,
                        stride,
                        [1, 1],
                        1,
                        None::<&[i64]>,
                    ),
                    Engine::Plain(device) => weight.to(device),
                },
                bias: bias.to(engine.device()),
                stride: spec.stride,
                padding: spec.padding,
            }
        }
        Layer::MaxPool { kernel, stride } => LoadedLayer::MaxPool { kernel, stride },
    })
}
