//! DISTS (Ding, Ma, Wang & Simoncelli 2020, *Image Quality Assessment:
//! Unifying Structure and Texture Similarity*) on tch, beside LPIPS because
//! it shares its trunk: torchvision's VGG16 (the weights of
//! `vgg.safetensors`) with every max pooling replaced by L2 pooling, and the
//! learned per-channel weights α and β of the official `DISTS_pytorch`
//! package (`dists.safetensors`, converted once at setup).
//!
//! As the official module computes it, in float32: the image in [0, 1] and
//! the five stages' outputs (relu1_2 … relu5_3 of the ImageNet-normalised
//! image) are six feature sets of 3 + 64 + 128 + 256 + 512 + 512 = 1475
//! channels; per channel, a structure term
//! `(2 μx μy + c) / (μx² + μy² + c)` and a texture term
//! `(2 σxy + c) / (σx² + σy² + c)` (c = 1e-6, population moments over the
//! whole map), weighted by α and β normalised by their total; DISTS is one
//! minus the weighted sum — a distance already, 0 for identical images.
//!
//! Images are scored at their own size. The official `DISTS_pt.py` script
//! (and piq) first shrink images whose shorter side exceeds 256 to 256; the
//! published values in pyiqa's calibration table are those of the module
//! without that step (pyiqa's own `DISTS` does not resize either, and
//! matches them), and BAPPS patches are far below it.
//!
//! On the CPU a batch is cut into one part per libtorch intra-op thread,
//! and each part goes through the whole trunk on its own thread with a
//! single intra-op thread (inter-op rather than intra-op parallelism). At
//! 64×64 the maps are small: split within each layer, oneDNN's two threads
//! meet at a barrier per layer and the layout conversions and pooling
//! between layers split poorly, whereas independent streams keep both cores
//! busy throughout; and the main thread then runs no libtorch parallel
//! region whose idle workers would spin against the streams. The parts'
//! feature sets are not joined: the statistics read each image's maps where
//! its part left them. Every image is computed alone either way, so the
//! values do not change.

use std::path::Path;
use std::thread;

use image::RgbImage;
use tch::{Device, Kind, Tensor};

use crate::backbone::{Backbone, Engine, Net, Pooling};
use crate::dists_kernels::{self, FeatureSet, C};
use crate::error::Result;
use crate::image_input::check_pair;
use crate::weights::WeightFile;

/// Channels of the six feature sets: the image, then the five stages.
pub const CHANNELS: [i64; 6] = [3, 64, 128, 256, 512, 512];
const TOTAL_CHANNELS: i64 = 1475;
const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// A loaded DISTS model.
pub struct Dists {
    stages: Stages,
    /// α and β divided by their joint sum, split per feature set.
    alpha: Vec<Vec<f32>>,
    beta: Vec<Vec<f32>>,
}

/// What turns images into feature sets: the ImageNet normalisation and the
/// trunk.
struct Stages {
    backbone: Backbone,
    mean: Tensor,
    std: Tensor,
}

impl Stages {
    /// The six feature sets of `images` (N, 3, H, W) in [0, 1], on the
    /// trunk's device: dense contiguous (N, C, H, W) tensors.
    fn feature_sets(&self, images: &Tensor) -> Vec<Tensor> {
        let images = images.contiguous();
        let normalised = (&images - &self.mean) / &self.std;
        let mut sets = vec![images];
        sets.extend(self.backbone.taps(&normalised));
        sets
    }

    /// Another handle on the same tensors, for another thread.
    fn shallow_clone(&self) -> Self {
        Self {
            backbone: self.backbone.shallow_clone(),
            mean: self.mean.shallow_clone(),
            std: self.std.shallow_clone(),
        }
    }
}

/// The six feature sets of a batch of images, as computed: for each
/// consecutive part of the batch (one per thread on the CPU, see the module
/// docs), its six dense (n, C, H, W) tensors.
pub struct FeatureSets {
    parts: Vec<Vec<Tensor>>,
}

impl FeatureSets {
    /// Each image's maps of feature set `k` (see [`dists_kernels::image_maps`]).
    fn image_maps(&self, k: usize) -> Vec<&[f32]> {
        dists_kernels::image_maps(self.parts.iter().map(|part| &part[k]))
    }

    /// Feature set `k` of the whole batch, computed in one part (as off the
    /// CPU).
    fn whole(&self, k: usize) -> &Tensor {
        match self.parts.as_slice() {
            [part] => &part[k],
            _ => panic!("a batch computed in parts is only read in place"),
        }
    }
}

impl Dists {
    /// Loads the VGG16 trunk from `vgg_path` (LPIPS' `vgg.safetensors`) and
    /// α, β from `dists_path` (`alpha`, `beta`, each (1, 1475, 1, 1)).
    /// Computes on the CPU; see [`Self::load_on`].
    pub fn load(vgg_path: &Path, dists_path: &Path) -> Result<Self> {
        Self::load_on(vgg_path, dists_path, Device::Cpu)
    }

    /// [`Self::load`], computing on `device` (oneDNN on the CPU, plain
    /// convolutions on a GPU); distances come back to the CPU.
    pub fn load_on(vgg_path: &Path, dists_path: &Path, device: Device) -> Result<Self> {
        let backbone = Backbone::load_pooled(
            Net::Vgg,
            &mut WeightFile::open(vgg_path, "vgg")?,
            Pooling::L2,
            Engine::for_device(device),
        )?;
        let mut learned = WeightFile::open(dists_path, "dists")?;
        let shape = [1, TOTAL_CHANNELS, 1, 1];
        let (alpha, beta) = (
            learned.take("alpha", &shape)?,
            learned.take("beta", &shape)?,
        );
        let total = alpha.sum(Kind::Float) + beta.sum(Kind::Float);
        let split = |weights: Tensor| -> Result<Vec<Vec<f32>>> {
            Ok((weights / &total)
                .view([1, TOTAL_CHANNELS])
                .split_with_sizes(CHANNELS, 1)
                .iter()
                .map(|part| Vec::<f32>::try_from(part.contiguous().view([-1])))
                .collect::<std::result::Result<_, _>>()?)
        };
        Ok(Self {
            stages: Stages {
                backbone,
                mean: Tensor::from_slice(&IMAGENET_MEAN)
                    .view([1, 3, 1, 1])
                    .to(device),
                std: Tensor::from_slice(&IMAGENET_STD)
                    .view([1, 3, 1, 1])
                    .to(device),
            },
            alpha: split(alpha)?,
            beta: split(beta)?,
        })
    }

    /// `DIR/vgg.safetensors` and `DIR/dists.safetensors`, as the setup
    /// writes them.
    pub fn from_weights_dir(dir: &Path) -> Result<Self> {
        Self::load(&dir.join("vgg.safetensors"), &dir.join("dists.safetensors"))
    }

    /// Where the model computes.
    pub fn device(&self) -> Device {
        self.stages.backbone.device()
    }

    /// Checks that two images can be compared: equal sizes (any size works,
    /// every stage's output is at least 1×1).
    pub fn check_comparable(a: &RgbImage, b: &RgbImage) -> Result<()> {
        check_pair(a, b, 1, "dists")
    }

    /// The distance between two images of the same size.
    pub fn distance(&self, a: &RgbImage, b: &RgbImage) -> Result<f32> {
        Self::check_comparable(a, b)?;
        let features = self.features(&to_unit_tensor(&[a, b])?);
        let (a_index, b_index) = (Tensor::from_slice(&[0i64]), Tensor::from_slice(&[1i64]));
        Ok(f32::try_from(
            self.distances(&features, &a_index, &features, &b_index)
                .to(Device::Cpu),
        )?)
    }

    /// The six feature sets of `images`, a float32 (N, 3, H, W) batch in
    /// [0, 1] (see [`to_unit_tensor`]). On the CPU with more than one
    /// libtorch intra-op thread, the batch is cut into that many parts, each
    /// computed on its own thread with one intra-op thread (see the module
    /// docs).
    pub fn features(&self, images: &Tensor) -> FeatureSets {
        let _no_grad = tch::no_grad_guard();
        let images = images.to(self.device());
        let count = images.size()[0];
        let threads = tch::get_num_threads();
        if self.device() != Device::Cpu || threads < 2 || count < 2 {
            return FeatureSets {
                parts: vec![self.stages.feature_sets(&images)],
            };
        }
        let parts = thread::scope(|scope| {
            let workers: Vec<_> = images
                .chunk(i64::from(threads).min(count), 0)
                .into_iter()
                .map(|part| {
                    let stages = self.stages.shallow_clone();
                    scope.spawn(move || {
                        let _no_grad = tch::no_grad_guard();
                        // This thread's own intra-op count.
                        tch::set_num_threads(1);
                        stages.feature_sets(&part)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| {
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        // `set_num_threads` also sets the count threads created later start
        // with, which the workers lowered.
        tch::set_num_threads(threads);
        FeatureSets { parts }
    }

    /// DISTS between image `a_index[k]` of `a` and `b_index[k]` of `b` for
    /// every k; a float32 tensor of that length (on the CPU, where the
    /// features are, by the single-pass kernels of `dists_kernels`; elsewhere by tensor ops
    /// on the device).
    pub fn distances(
        &self,
        a: &FeatureSets,
        a_index: &Tensor,
        b: &FeatureSets,
        b_index: &Tensor,
    ) -> Tensor {
        if self.device() != Device::Cpu {
            return self.device_distances(a, a_index, b, b_index);
        }
        let indices = |index: &Tensor| Vec::<i64>::try_from(index).expect("int64 indices");
        let sets: Vec<FeatureSet<'_>> = (0..CHANNELS.len())
            .map(|k| FeatureSet {
                a: a.image_maps(k),
                b: b.image_maps(k),
                alpha: &self.alpha[k],
                beta: &self.beta[k],
            })
            .collect();
        dists_kernels::distances(&sets, &indices(a_index), &indices(b_index))
    }

    /// [`Self::distances`] as tensor ops, as the official module computes
    /// it, for features on a GPU.
    fn device_distances(
        &self,
        a: &FeatureSets,
        a_index: &Tensor,
        b: &FeatureSets,
        b_index: &Tensor,
    ) -> Tensor {
        let _no_grad = tch::no_grad_guard();
        let device = self.device();
        let dims = &[2i64, 3][..];
        let (a_index, b_index) = (a_index.to(device), b_index.to(device));
        let similarity = (0..CHANNELS.len())
            .map(|k| {
                let (x, y) = (
                    a.whole(k).index_select(0, &a_index),
                    b.whole(k).index_select(0, &b_index),
                );
                let (x_mean, y_mean) = (
                    x.mean_dim(dims, true, Kind::Float),
                    y.mean_dim(dims, true, Kind::Float),
                );
                let structure =
                    (&x_mean * &y_mean * 2.0 + C) / (x_mean.square() + y_mean.square() + C);
                let x_var = (&x - &x_mean).square().mean_dim(dims, true, Kind::Float);
                let y_var = (&y - &y_mean).square().mean_dim(dims, true, Kind::Float);
                let covariance = (&x * &y).mean_dim(dims, true, Kind::Float) - &x_mean * &y_mean;
                let texture = (covariance * 2.0 + C) / (x_var + y_var + C);
                let weigh =
                    |weights: &[f32], term: Tensor| {
                        (term.flatten(1, -1) * Tensor::from_slice(weights).to(device))
                            .sum_dim_intlist(1, false, Kind::Float)
                    };
                (
                    weigh(&self.alpha[k], structure),
                    weigh(&self.beta[k], texture),
                )
            })
            .reduce(|(s1, t1), (s2, t2)| (s1 + s2, t1 + t2))
            .expect("six feature sets");
        1.0 - (similarity.0 + similarity.1)
    }
}

/// Stacks same-sized images into a float32 (N, 3, H, W) tensor in [0, 1],
/// `v / 255` as torchvision's `ToTensor` computes it.
pub fn to_unit_tensor(images: &[&RgbImage]) -> Result<Tensor> {
    let levels: Vec<f32> = (0..=255u8).map(|v| f32::from(v) / 255.0).collect();
    crate::image_input::stack(images, &levels)
}
