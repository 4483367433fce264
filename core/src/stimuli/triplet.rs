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
}

/// A distorted patch before it is rendered: its pipeline and seed, which
/// are all that is random about it.
pub struct DistortionPlan {
    pub pipeline: Pipeline,
    pub seed: u64,
}

impl DistortionPlan {
    /// A pipeline drawn from `sampler`, or the empty pipeline when
    /// `undistorted` (the patch itself, stored like any other), and its seed.
    pub fn draw(sampler: &Sampler, undistorted: bool, rng: &mut impl RngCore) -> Self {
        let pipeline = if undistorted {
            Pipeline::default()
        } else {
            sampler.sample(rng)
        };
        // Below 2^53 so the seed survives JSON readers that parse numbers as doubles.
        let seed = rng.next_u64() >> 11;
        Self { pipeline, seed }
    }

    /// `patch` distorted by the plan, encoded.
    pub fn render(self, patch: &RgbImage) -> Result<DistortedPatch> {
        let distorted = self
            .pipeline
            .apply(patch, self.seed)
            .map_err(anyhow::Error::from)?;
        Ok(DistortedPatch {
            pipeline: self.pipeline,
            seed: self.seed,
            png: encode_png(&distorted)?,
        })
    }
}

/// A random corner of a `size`×`size` crop of an image of `dimensions`.
pub fn random_corner(dimensions: (u32, u32), size: u32, rng: &mut impl RngCore) -> (u32, u32) {
    let (width, height) = dimensions;
    let x = rng.random_range(0..=width - size);
    let y = rng.random_range(0..=height - size);
    (x, y)
}

/// The `size`×`size` patch of `image` whose top-left corner is (`x`, `y`).
pub fn crop(image: &RgbImage, x: u32, y: u32, size: u32) -> RgbImage {
    imageops::crop_imm(image, x, y, size, size).to_image()
}

/// A triplet before it is rendered: everything random about it, drawn from
/// the image's random stream in a fixed order. Rendering draws nothing, so
/// plans render on any number of threads and still reproduce byte for byte.
pub struct TripletPlan {
    pub crop_x: u32,
    pub crop_y: u32,
    pub sentinel_answer: Option<u8>,
    pub p0: DistortionPlan,
    pub p1: DistortionPlan,
}

impl TripletPlan {
    /// A random patch of a reference of `dimensions`, distorted twice with
    /// independently sampled pipelines. With probability `sentinel_rate` one
    /// side (chosen at random) is left undistorted instead, making a sentinel.
    pub fn draw(
        dimensions: (u32, u32),
        patch_size: u32,
        sampler: &Sampler,
        sentinel_rate: f64,
        rng: &mut impl RngCore,
    ) -> Self {
        let (crop_x, crop_y) = random_corner(dimensions, patch_size, rng);
        let sentinel_answer = rng
            .random_bool(sentinel_rate)
            .then(|| u8::from(rng.random_bool(0.5)));
        // The undistorted side of a sentinel is the empty pipeline, which
        // regenerates to the reference itself like any other spec.
        let p0 = DistortionPlan::draw(sampler, sentinel_answer == Some(0), rng);
        let p1 = DistortionPlan::draw(sampler, sentinel_answer == Some(1), rng);
        Self {
            crop_x,
            crop_y,
            sentinel_answer,
            p0,
            p1,
        }
    }

    /// Cuts the patch from `reference`, distorts and encodes it.
    pub fn render(self, reference: &RgbImage, patch_size: u32) -> Result<TripletStimulus> {
        let patch = crop(reference, self.crop_x, self.crop_y, patch_size);
        Ok(TripletStimulus {
            crop_x: self.crop_x,
            crop_y: self.crop_y,
            ref_png: encode_png(&patch)?,
            p0: self.p0.render(&patch)?,
            p1: self.p1.render(&patch)?,
            sentinel_answer: self.sentinel_answer,
        })
    }
}
