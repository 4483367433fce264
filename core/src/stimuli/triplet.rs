use distortions::image::{imageops, RgbImage};
use distortions::{Pipeline, Sampler};
use rand::{Rng, RngCore};

use super::encode_png;
use crate::error::Result;

/// One reference patch and its two distorted versions, ready to store.
pub struct TripletStimulus {
    pub crop_x: u32,
    pub crop_y: u32,
    pub ref_png: Vec<u8>,
    pub p0: DistortedPatch,
    pub p1: DistortedPatch,
    /// For a sentinel, the side identical to the reference (0 = p0, 1 = p1).
    pub sentinel_answer: Option<u8>,
}

pub struct DistortedPatch {
    pub pipeline: Pipeline,
    pub seed: u64,
    pub png: Vec<u8>,
    /// In a method comparison, the method whose output this patch was cut
    /// from (its pipeline then empty, its seed 0).
    pub method: Option<String>,
}

impl DistortedPatch {
    /// `patch` distorted by a pipeline drawn from `sampler`, or by the empty
    /// pipeline when `undistorted` (the patch itself, stored like any other).
    pub fn generate(
        patch: &RgbImage,
        sampler: &Sampler,
        undistorted: bool,
        rng: &mut impl RngCore,
    ) -> Result<Self> {
        let pipeline = if undistorted {
            Pipeline::default()
        } else {
            sampler.sample(rng)
        };
        // Below 2^53 so the seed survives JSON readers that parse numbers as doubles.
        let seed = rng.next_u64() >> 11;
        let distorted = pipeline.apply(patch, seed).map_err(anyhow::Error::from)?;
        Ok(DistortedPatch {
            pipeline,
            seed,
            png: encode_png(&distorted)?,
            method: None,
        })
    }
}

/// A random `size`×`size` crop of `image`: its corner and the patch.
pub fn random_crop(image: &RgbImage, size: u32, rng: &mut impl RngCore) -> (u32, u32, RgbImage) {
    let (width, height) = image.dimensions();
    let x = rng.random_range(0..=width - size);
    let y = rng.random_range(0..=height - size);
    (x, y, crop(image, x, y, size))
}

/// The `size`×`size` patch of `image` whose top-left corner is (`x`, `y`).
pub fn crop(image: &RgbImage, x: u32, y: u32, size: u32) -> RgbImage {
    imageops::crop_imm(image, x, y, size, size).to_image()
}

impl TripletStimulus {
    /// Cuts a random patch of `reference` and distorts it twice with
    /// independently sampled pipelines. With probability `sentinel_rate` one
    /// side (chosen at random) is left undistorted instead, making a sentinel.
    /// Everything random is drawn from `rng`, so a seeded `rng` reproduces it.
    pub fn generate(
        reference: &RgbImage,
        patch_size: u32,
        sampler: &Sampler,
        sentinel_rate: f64,
        rng: &mut impl RngCore,
    ) -> Result<Self> {
        let (crop_x, crop_y, patch) = random_crop(reference, patch_size, rng);
        let sentinel_answer = rng
            .random_bool(sentinel_rate)
            .then(|| u8::from(rng.random_bool(0.5)));
        // The undistorted side of a sentinel is the empty pipeline, which
        // regenerates to the reference itself like any other spec.
        let p0 = DistortedPatch::generate(&patch, sampler, sentinel_answer == Some(0), rng)?;
        let p1 = DistortedPatch::generate(&patch, sampler, sentinel_answer == Some(1), rng)?;
        Ok(Self {
            crop_x,
            crop_y,
            ref_png: encode_png(&patch)?,
            p0,
            p1,
            sentinel_answer,
        })
    }
}
