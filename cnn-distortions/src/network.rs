//! A spec's architecture as tch layers: stem, `depth` levels down, as many
//! up (with optional U-Net skips), head, optional global residual, output
//! activation. Images enter and leave in [-1, 1], NCHW.

use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

use crate::spec::{
    Activation, Architecture, Downsampling, Normalization, OutputActivation, Upsampling,
};

/// The initial weights' standard deviation of a residual network's head.
const RESIDUAL_HEAD_STDEV: f64 = 0.01;

/// The layers of one network, registered in a `VarStore` under stable names
/// (`stem`, `down{l}`, `up{l}`, `head`), which are the tensor names of its
/// safetensors file.
#[derive(Debug)]
pub(crate) struct Network {
    architecture: Architecture,
    stem: Block,
    /// Each level's blocks after its downsampling (which, for strided
    /// convolutions, is its first block's stride).
    downs: Vec<Vec<Block>>,
    ups: Vec<UpLevel>,
    head: nn::Conv2D,
}

/// A convolution followed by normalisation and activation.
#[derive(Debug)]
struct Block {
    conv: nn::Conv2D,
    norm: Option<Norm>,
    activation: Activation,
}

#[derive(Debug)]
enum Norm {
    Batch(nn::BatchNorm),
    Instance(nn::GroupNorm),
}

/// One upsampling step and the convolutions after it.
#[derive(Debug)]
struct UpLevel {
    upsample: Upsample,
    blocks: Vec<Block>,
}

#[derive(Debug)]
enum Upsample {
    Transposed(nn::ConvTranspose2D),
    Nearest,
    Bilinear,
}

impl Network {
    pub(crate) fn new(root: &nn::Path, architecture: &Architecture) -> Self {
        let a = *architecture;
        let width = |level: u32| i64::from((a.base_width << level).min(a.max_width));
        let kernel = i64::from(a.kernel_size);
        let block = |path: nn::Path, input: i64, output: i64, stride: i64| {
            Block::new(&path, input, output, kernel, stride, &a)
        };
        let stem = block(root / "stem", 3, width(0), 1);
        let downs = (1..=a.depth)
            .map(|level| {
                let path = root / format!("down{level}");
                let (input, output) = (width(level - 1), width(level));
                let first_stride = if a.downsampling == Downsampling::StridedConv {
                    2
                } else {
                    1
                };
                (0..a.convs_per_level)
                    .map(|index| {
                        let (input, stride) = if index == 0 {
                            (input, first_stride)
                        } else {
                            (output, 1)
                        };
                        block(&path / format!("conv{index}"), input, output, stride)
                    })
                    .collect()
            })
            .collect();
        let ups = (1..=a.depth)
            .rev()
            .map(|level| {
                let path = root / format!("up{level}");
                let (input, output) = (width(level), width(level - 1));
                let upsample = match a.upsampling {
                    Upsampling::TransposedConv => Upsample::Transposed(nn::conv_transpose2d(
                        &path / "transposed",
                        input,
                        input,
                        4,
                        nn::ConvTransposeConfig {
                            stride: 2,
                            padding: 1,
                            ..Default::default()
                        },
                    )),
                    Upsampling::Nearest => Upsample::Nearest,
                    Upsampling::Bilinear => Upsample::Bilinear,
                };
                let skip = if a.skip_connections { output } else { 0 };
                let blocks = (0..a.convs_per_level)
                    .map(|index| {
                        let input = if index == 0 { input + skip } else { output };
                        block(&path / format!("conv{index}"), input, output, 1)
                    })
                    .collect();
                UpLevel { upsample, blocks }
            })
            .collect();
        let head = nn::conv2d(
            root / "head",
            width(0),
            3,
            kernel,
            nn::ConvConfig {
                padding: kernel / 2,
                ws_init: if a.global_residual {
                    nn::Init::Randn {
                        mean: 0.0,
                        stdev: RESIDUAL_HEAD_STDEV,
                    }
                } else {
                    nn::ConvConfig::default().ws_init
                },
                ..Default::default()
            },
        );
        Self {
            architecture: a,
            stem,
            downs,
            ups,
            head,
        }
    }

    /// The network's output for a batch in [-1, 1]: in training the raw
    /// output of the output activation, at inference clamped to [-1, 1].
    pub(crate) fn forward(&self, input: &Tensor, train: bool) -> Tensor {
        let mut x = self.stem.forward(input, train);
        let mut skips = Vec::with_capacity(self.downs.len());
        for blocks in &self.downs {
            let resampled = match self.architecture.downsampling {
                Downsampling::MaxPool => x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false),
                Downsampling::AvgPool => {
                    x.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>)
                }
                Downsampling::StridedConv => x.shallow_clone(),
            };
            skips.push(x);
            x = run_blocks(blocks, resampled, train);
        }
        for level in &self.ups {
            let skip = skips.pop().expect("one skip per level");
            let size = [skip.size()[2], skip.size()[3]];
            let mut up = match &level.upsample {
                Upsample::Transposed(conv) => conv.forward(&x),
                Upsample::Nearest => x.upsample_nearest2d(size, None, None),
                Upsample::Bilinear => x.upsample_bilinear2d(size, false, None, None),
            };
            if self.architecture.skip_connections {
                up = Tensor::cat(&[up, skip], 1);
            }
            x = run_blocks(&level.blocks, up, train);
        }
        let mut output = self.head.forward(&x);
        if self.architecture.global_residual {
            output += input;
        }
        let output = match self.architecture.output_activation {
            OutputActivation::None => output,
            OutputActivation::Tanh => output.tanh(),
            OutputActivation::Hardtanh => output.hardtanh(),
        };
        if train {
            output
        } else {
            output.clamp(-1.0, 1.0)
        }
    }
}

fn run_blocks(blocks: &[Block], input: Tensor, train: bool) -> Tensor {
    blocks
        .iter()
        .fold(input, |x, block| block.forward(&x, train))
}

impl Block {
    fn new(
        path: &nn::Path,
        input: i64,
        output: i64,
        kernel: i64,
        stride: i64,
        architecture: &Architecture,
    ) -> Self {
        let conv = nn::conv2d(
            path / "conv",
            input,
            output,
            kernel,
            nn::ConvConfig {
                stride,
                padding: kernel / 2,
                ..Default::default()
            },
        );
        let norm = match architecture.normalization {
            Normalization::None => None,
            Normalization::Batch => Some(Norm::Batch(nn::batch_norm2d(
                path / "norm",
                output,
                Default::default(),
            ))),
            Normalization::Instance => Some(Norm::Instance(nn::group_norm(
                path / "norm",
                output,
                output,
                Default::default(),
            ))),
        };
        Self {
            conv,
            norm,
            activation: architecture.activation,
        }
    }

    fn forward(&self, input: &Tensor, train: bool) -> Tensor {
        let x = self.conv.forward(input);
        let x = match &self.norm {
            None => x,
            Some(Norm::Batch(norm)) => norm.forward_t(&x, train),
            Some(Norm::Instance(norm)) => norm.forward(&x),
        };
        match self.activation {
            Activation::Relu => x.relu(),
            Activation::LeakyRelu => x.maximum(&(&x * 0.2)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SpecSampler;
    use tch::{Device, Kind};

    #[test]
    fn every_sampled_architecture_maps_patches_to_same_sized_patches() {
        let sampler = SpecSampler::default();
        for seed in 0..30 {
            let spec = sampler.sample(seed);
            let vars = nn::VarStore::new(Device::Cpu);
            let network = Network::new(&vars.root(), &spec.architecture);
            let side = 2 * i64::from(spec.side_multiple());
            let input = Tensor::rand([2, 3, side, side], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
            for train in [true, false] {
                let output = tch::no_grad(|| network.forward(&input, train));
                assert_eq!(output.size(), input.size(), "{spec:?}");
            }
            let output = tch::no_grad(|| network.forward(&input, false));
            assert!(f64::try_from(output.abs().max()).unwrap() <= 1.0);
        }
    }
}
