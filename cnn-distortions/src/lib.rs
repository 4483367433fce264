//! BAPPS' CNN-based distortions (Zhang et al., CVPR 2018, section 2.1): the
//! outputs of small "denoising autoencoders" whose task, architecture and
//! learning were drawn at random, so that they show the artifacts real deep
//! image-restoration networks make. BAPPS never released its 96 networks,
//! so this crate draws its own family from the paper's description.
//!
//! - A **network** is a [`NetworkSpec`] (JSON) drawn by [`SpecSampler`] from
//!   a seed; the table below lists what is drawn and from where.
//! - A **bank** is a set of trained networks: weights in safetensors beside
//!   a [`NetworkRecord`] with the spec, the SHA-256 of the weights, the
//!   training loss and time. [`train_network`] trains one with tch on random
//!   patches of the given images; [`CnnNetwork::load`] refuses weights that
//!   do not match their hash. [`Bank`] keeps them in a folder and resumes an
//!   interrupted build; the `percept` app keeps them in PostgreSQL.
//! - A **CNN distortion** is (network id, input-degradation seed):
//!   [`CnnNetwork::apply`] degrades each patch as the network's task says
//!   (the seed drives the noise of denoising tasks), then runs the network
//!   over the batch.
//!
//! ```no_run
//! use cnn_distortions::{Bank, BuildOptions, SpecSampler};
//! # fn photos() -> Vec<distortions::image::RgbImage> { vec![] }
//! let options = BuildOptions { count: 24, seed: 0, sampler: SpecSampler::default() };
//! let bank = Bank::build("data/cnn-bank", &options, &photos(), |progress| {
//!     println!("{}/{} {}", progress.done, progress.count, progress.record.id)
//! })?;
//! for record in bank.list()? {
//!     println!("{} {} loss {:.4}", record.id, record.spec.task_name(), record.training_loss);
//! }
//! let network = bank.load("s0-003")?;
//! let patch = distortions::image::RgbImage::new(64, 64);
//! let distorted = network.apply(&[&patch], &[42])?;
//! # Ok::<(), cnn_distortions::CnnError>(())
//! ```
//!
//! # The family
//!
//! Every choice is drawn independently and uniformly unless stated.
//!
//! | what | drawn from |
//! |---|---|
//! | task | autoencoding; denoising, white or pink Gaussian noise of RMS 0.02–0.10 of full scale; colorization from the luma; super-resolution ×2 or ×4 (box-averaged down, bilinear back up); deblurring a Gaussian blur of σ 0.8–2.5 px; JPEG artifact removal at quality 10–40 |
//! | depth | 1–3 levels down and as many up (sides must be multiples of 2^depth) |
//! | width | 8, 12 or 16 channels at full resolution, doubling per level up to 32 or 48 |
//! | kernels | 3×3 or 5×5 |
//! | convolutions per level | 1 or 2 |
//! | downsampling | stride-2 convolution, 2×2 max pooling or 2×2 average pooling |
//! | upsampling | 4×4 stride-2 transposed convolution, nearest or bilinear resize then a convolution |
//! | skip connections | U-Net concatenations, or none |
//! | global residual | output = input + correction (3 networks in 4, the correction's last layer starting small), or not |
//! | normalisation | none, batch norm, instance norm |
//! | activation | ReLU or leaky ReLU (0.2) |
//! | output activation | none (clamped at inference), tanh, hardtanh |
//! | loss | L1 or L2 |
//! | optimiser, learning rate (log-uniform) | Adam 2e-4–5e-3, SGD with momentum 0.9 1e-3–3e-2, RMSprop 1e-4–2e-3 |
//! | iterations (log-uniform) | 20–400 by default (short runs leave the networks under-trained on purpose) |
//! | batches | 8 random 32×32 patches of the training images per iteration |
//!
//! # Reproducibility
//!
//! Traditional distortions are byte-identical everywhere. CNN ones are
//! floating-point networks run by libtorch, whose kernels depend on the CPU,
//! so this is what holds:
//!
//! - the network input (the degradation) is byte-identical everywhere;
//! - the same (network, seed, patch) gives the same bytes on the same
//!   machine and libtorch build, in one process or another, whatever the
//!   other patches of the batch and the thread count (tested with 1 and 2
//!   threads);
//! - on another CPU (other vector instructions) outputs may differ by one
//!   8-bit level where a value falls near a rounding boundary (tested by
//!   running libtorch restricted to plain AVX2 and to its baseline kernels);
//! - training is not reproducible bit for bit (libtorch's initialisation
//!   and reductions), which is why the bank stores the weights and their
//!   hash: every server and worker applies the stored network.

mod bank;
mod degrade;
mod error;
mod inference;
mod network;
mod pixels;
mod spec;
mod training;

pub use bank::{
    expected_spec, network_id, network_seed, sha256_hex, train_network, Bank, BuildOptions,
    BuildProgress, NetworkRecord,
};
pub use degrade::degrade;
pub use error::{CnnError, Result};
pub use inference::{CnnNetwork, INFERENCE_BATCH, MAX_PATCH_SIDE};
pub use spec::{
    Activation, Architecture, Downsampling, Learning, Loss, NetworkSpec, Noise, Normalization,
    Optimizer, OutputActivation, SpecSampler, Task, Upsampling, DEFAULT_ITERATIONS,
    TRAINING_BATCH_SIZE, TRAINING_PATCH_SIZE,
};
