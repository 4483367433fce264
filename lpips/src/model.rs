//! The LPIPS metric (version 0.1): scaling layer, backbone taps, unit
//! normalisation over channels, squared difference, linear layer (or channel
//! sum), spatial average or upsampled map, sum over taps.
//!
//! Operations mirror the official `lpips` package's order in float32 so that
//! distances agree with it to about 1e-6.

use std::path::Path;

use image::RgbImage;
use tch::{Device, Kind, Tensor};

use crate::backbone::{Backbone, Engine, Net};
use crate::error::Result;
use crate::image_input::{check_comparable, to_tensor};
use crate::weights::WeightFile;

/// Guards the unit normalisation against all-zero feature vectors; the
/// official `normalize_tensor`'s value.
pub(crate) const NORMALIZE_EPS: f64 = 1e-10;
/// The reference scaling layer's per-channel shift and scale, applied to
/// inputs in [-1, 1].
pub(crate) const INPUT_SHIFT: [f32; 3] = [-0.030, -0.088, -0.188];
pub(crate) const INPUT_SCALE: [f32; 3] = [0.458, 0.448, 0.450];

/// How the per-tap squared differences of the normalised features are weighed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Weighting {
    /// The learned 1×1 linear layers (LPIPS proper).
    Lin,
    /// A plain sum over channels (the paper's "baseline" variant, `lpips=False`).
    ChannelSum,
}

/// An LPIPS model: a backbone with its weights and, for [`Weighting::Lin`],
/// the linear layers.
pub struct Lpips {
    net: Net,
    backbone: Backbone,
    /// One tap's 1×1 linear layer as a (1, C, 1, 1) tensor, or `None` for
    /// [`Weighting::ChannelSum`].
    lins: Option<Vec<Tensor>>,
    /// [`INPUT_SHIFT`] and [`INPUT_SCALE`] shaped (1, 3, 1, 1) to broadcast,
    /// on the backbone's device, as are the linear layers.
    shift: Tensor,
    scale: Tensor,
}

/// Unit-normalised taps of a batch of images, computed once and compared
/// against many others.
pub struct Features {
    pub(crate) taps: Vec<Tensor>,
    pub(crate) height: i64,
    pub(crate) width: i64,
}

impl Features {
    /// Number of images in the batch.
    pub fn len(&self) -> i64 {
        self.taps[0].size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A distance map at input resolution (the official `spatial=True` output).
#[derive(Debug, Clone, PartialEq)]
pub struct DistanceMap {
    pub width: u32,
    pub height: u32,
    /// Row-major, `width * height` values.
    pub values: Vec<f32>,
}

impl Lpips {
    /// Loads `net`'s weights from a safetensors file (see [`crate::weights`]
    /// for the tensor names) to compute on the CPU. With
    /// [`Weighting::ChannelSum`] the file need not hold the linear layers.
    pub fn load(net: Net, weighting: Weighting, weights_path: &Path) -> Result<Self> {
        Self::load_on(net, weighting, weights_path, Device::Cpu)
    }

    /// [`Self::load`], computing on `device` (see [`crate::DeviceChoice`]):
    /// oneDNN on the CPU, plain convolutions on a GPU. Images go to the
    /// device as they come in; distances come back to the CPU.
    pub fn load_on(
        net: Net,
        weighting: Weighting,
        weights_path: &Path,
        device: Device,
    ) -> Result<Self> {
        Self::from_weights(
            net,
            weighting,
            WeightFile::open(weights_path, net.name())?,
            Engine::for_device(device),
        )
    }

    /// A model from named tensors in memory (a state dict with the names of
    /// [`crate::weights`]), e.g. weights just trained; `origin` names them in
    /// errors.
    pub fn from_state_dict(
        net: Net,
        weighting: Weighting,
        origin: &Path,
        tensors: impl IntoIterator<Item = (String, Tensor)>,
    ) -> Result<Self> {
        Self::from_weights(
            net,
            weighting,
            WeightFile::from_tensors(origin, net.name(), tensors),
            Engine::OneDnn,
        )
    }

    /// The plain-convolution path (what runs on CUDA) on the CPU, so that
    /// the CPU tests can check it against the oneDNN one.
    #[doc(hidden)]
    pub fn load_plain_on_cpu(net: Net, weighting: Weighting, weights_path: &Path) -> Result<Self> {
        Self::from_weights(
            net,
            weighting,
            WeightFile::open(weights_path, net.name())?,
            Engine::Plain(Device::Cpu),
        )
    }

    fn from_weights(
        net: Net,
        weighting: Weighting,
        mut weights: WeightFile,
        engine: Engine,
    ) -> Result<Self> {
        let device = engine.device();
        let backbone = Backbone::load(net, &mut weights, engine)?;
        let lins = match weighting {
            Weighting::Lin => Some(
                net.tap_channels()
                    .iter()
                    .enumerate()
                    .map(|(tap, &channels)| {
                        Ok(weights
                            .take(&format!("lin{tap}.model.1.weight"), &[1, channels, 1, 1])?
                            .to(device))
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Weighting::ChannelSum => None,
        };
        Ok(Self {
            net,
            backbone,
            lins,
            shift: Tensor::from_slice(&INPUT_SHIFT)
                .view([1, 3, 1, 1])
                .to(device),
            scale: Tensor::from_slice(&INPUT_SCALE)
                .view([1, 3, 1, 1])
                .to(device),
        })
    }

    /// Loads `DIR/{net}.safetensors`, the layout the setup's conversion writes.
    pub fn from_weights_dir(net: Net, weighting: Weighting, dir: &Path) -> Result<Self> {
        Self::load(
            net,
            weighting,
            &dir.join(format!("{}.safetensors", net.name())),
        )
    }

    pub fn net(&self) -> Net {
        self.net
    }

    /// Where the model computes.
    pub fn device(&self) -> Device {
        self.backbone.device()
    }

    pub fn weighting(&self) -> Weighting {
        match self.lins {
            Some(_) => Weighting::Lin,
            None => Weighting::ChannelSum,
        }
    }

    /// The distance between two images of the same size; for many
    /// comparisons use [`crate::Scorer`], which batches them.
    pub fn distance(&self, a: &RgbImage, b: &RgbImage) -> Result<f32> {
        let (a, b) = self.single_features(a, b)?;
        let index = Tensor::from_slice(&[0i64]);
        Ok(f32::try_from(
            self.distances(&a, &index, &b, &index).to(Device::Cpu),
        )?)
    }

    /// The distance map of two images of the same size.
    pub fn distance_map(&self, a_image: &RgbImage, b_image: &RgbImage) -> Result<DistanceMap> {
        let (a, b) = self.single_features(a_image, b_image)?;
        let index = Tensor::from_slice(&[0i64]);
        let map = self.distance_maps(&a, &index, &b, &index);
        Ok(DistanceMap {
            width: a_image.width(),
            height: a_image.height(),
            values: Vec::<f32>::try_from(map.flatten(0, -1).to(Device::Cpu))?,
        })
    }

    fn single_features(&self, a: &RgbImage, b: &RgbImage) -> Result<(Features, Features)> {
        check_comparable(self.net, a, b)?;
        Ok((
            self.features(&to_tensor(&[a])?),
            self.features(&to_tensor(&[b])?),
        ))
    }

    /// Normalised taps of `images`, a float32 (N, 3, H, W) batch in [-1, 1]
    /// in any memory layout (see [`crate::image_input::to_tensor`]) on any
    /// device (it is moved to the model's). Callers check the size against
    /// [`Net::min_side`]; gradients are not tracked.
    pub fn features(&self, images: &Tensor) -> Features {
        let _no_grad = tch::no_grad_guard();
        let size = images.size();
        let scaled = (images.to(self.device()).contiguous() - &self.shift) / &self.scale;
        let taps = self
            .backbone
            .taps(&scaled)
            .into_iter()
            .map(|mut tap| {
                // sqrt(Σ x²) in one pass over the tap, then divided in place.
                let norm = tap.norm_scalaropt_dim(2, [1], true) + NORMALIZE_EPS;
                tap /= norm;
                tap
            })
            .collect();
        Features {
            taps,
            height: size[2],
            width: size[3],
        }
    }

    /// Distances between image `a_index[k]` of `a` and image `b_index[k]` of
    /// `b` for every k (int64 index tensors of equal length, on any device);
    /// a float32 tensor of that length on the model's device.
    pub fn distances(
        &self,
        a: &Features,
        a_index: &Tensor,
        b: &Features,
        b_index: &Tensor,
    ) -> Tensor {
        // The spatial mean commutes with the weighting over channels; taken
        // first, the weighting is over (K, C) means instead of (K, C, H, W)
        // maps. The summation order differs from the official package's, by
        // float32 rounding only.
        self.per_tap_sum(a, a_index, b, b_index, |tap, diff| {
            self.weigh(tap, diff.mean_dim(&[2i64, 3][..], true, Kind::Float))
        })
        .view([-1])
    }

    /// Like [`Self::distances`], but each distance is a (1, H, W) map at the
    /// input resolution (the official `spatial=True`): per-tap maps are
    /// bilinearly upsampled before summing. Returns (K, 1, H, W).
    pub fn distance_maps(
        &self,
        a: &Features,
        a_index: &Tensor,
        b: &Features,
        b_index: &Tensor,
    ) -> Tensor {
        let size = [a.height, a.width];
        self.per_tap_sum(a, a_index, b, b_index, |tap, diff| {
            self.weigh(tap, diff)
                .upsample_bilinear2d(size, false, None, None)
        })
    }

    /// Sums `reduce(tap, squared difference)` over the taps, where the
    /// squared difference of the normalised taps is (K, C, H, W).
    ///
    /// The taps are contiguous NCHW, so gathering a comparison's image is one
    /// block copy.
    fn per_tap_sum(
        &self,
        a: &Features,
        a_index: &Tensor,
        b: &Features,
        b_index: &Tensor,
        reduce: impl Fn(usize, Tensor) -> Tensor,
    ) -> Tensor {
        let _no_grad = tch::no_grad_guard();
        let (a_index, b_index) = (a_index.to(self.device()), b_index.to(self.device()));
        a.taps
            .iter()
            .zip(&b.taps)
            .enumerate()
            .map(|(tap, (a_tap, b_tap))| {
                let diff =
                    (a_tap.index_select(0, &a_index) - b_tap.index_select(0, &b_index)).square_();
                reduce(tap, diff)
            })
            .reduce(|sum, term| sum + term)
            .expect("five taps")
    }

    /// `tap`'s linear layer (or channel sum) applied to `values`, (K, C, …)
    /// with channels in dimension 1, which is kept.
    fn weigh(&self, tap: usize, values: Tensor) -> Tensor {
        match &self.lins {
            Some(lins) => (values * &lins[tap]).sum_dim_intlist(1, true, Kind::Float),
            None => values.sum_dim_intlist(1, true, Kind::Float),
        }
    }
}
