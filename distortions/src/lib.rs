//! BAPPS' traditional distortions (Zhang et al., CVPR 2018, supplementary):
//! 20 types in five families, each a typed, range-checked parameter struct
//! with a JSON form, composed into pipelines that are a pure function of
//! (reference image, spec, seed).
//!
//! ```
//! use distortions::{Pipeline, Sampler};
//! let reference = image::RgbImage::from_pixel(64, 64, image::Rgb([120, 80, 40]));
//! let pipeline = Sampler::default().sample_seeded(7);
//! let distorted = pipeline.apply(&reference, 7).unwrap();
//! let again = Pipeline::from_json(&pipeline.to_json()).unwrap().apply(&reference, 7).unwrap();
//! assert_eq!(distorted, again);
//! ```
//!
//! Reproducibility: every step draws from its own ChaCha8 stream of the seed,
//! all pixel loops are sequential, and every transcendental function comes
//! from the pure-Rust `libm`, so the bytes do not depend on the machine or on
//! how many threads the caller uses.

mod blur;
mod compression;
mod contact_sheet;
mod error;
mod fft;
mod noise;
mod photometric;
mod raster;
mod rng;
mod sampler;
mod simd;
mod spatial;
mod spec;
mod warp;

// Re-exported so callers read, write and seed with the exact versions used here.
pub use image;
pub use rand_chacha;

pub use contact_sheet::contact_sheet;
pub use error::{DistortionError, Result};
pub use rng::{step_rng, StepRng};
pub use sampler::Sampler;
pub use spec::{
    kind_named, AffineWarp, BilateralFilter, BlueNoise, Checkerboard, ChromaticAberration,
    ColorShift, ColoredNoise, Contrast, CubicWarp, Distortion, DistortionKind, Family,
    GaussianBlur, GaussianNoise, Ghosting, Homography, Jpeg, LightnessShift, LinearWarp, ParamSpec,
    PinkNoise, Pipeline, Saturation, Shift, UniformNoise, KINDS,
};
