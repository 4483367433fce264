//! LPIPS (Zhang et al. 2018, version 0.1) on tch, with AlexNet and VGG16
//! backbones, matching the official `lpips` package to about 1e-6. The
//! paper's L2, SSIM and PSNR baselines need no libtorch and live in the
//! `metrics` crate.
//!
//! - [`Lpips`] loads a model from safetensors weights (see [`weights`] for
//!   the tensor names) and compares batches of images;
//! - [`Scorer`] scores 2AFC triplets and JND pairs over a set of patches,
//!   computing each patch's features once per batch;
//! - [`image_input`] reads images and turns them into network input;
//! - [`Dists`] is DISTS (Ding et al. 2020) on the same VGG16 trunk;
//! - [`training`] learns LPIPS from 2AFC judgments (lin, tune, scratch) as
//!   the official trainer does.

pub mod backbone;
pub mod device;
pub mod dists;
mod dists_kernels;
pub mod error;
pub mod image_input;
pub mod model;
pub mod scoring;
pub mod training;
pub mod weights;

pub use backbone::Net;
pub use device::DeviceChoice;
pub use dists::Dists;
pub use error::{LpipsError, Result};
/// The `image` crate this API takes images from.
pub use image;
pub use model::{DistanceMap, Features, Lpips, Weighting};
pub use scoring::{Network, Pair, Scorer, Triplet, TripletDistances};
/// libtorch's device, as [`DeviceChoice::resolve`] gives it.
pub use tch::Device;
