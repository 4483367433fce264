//! Triplets of a method comparison: a patch cut at one random place in the
//! reference and, at the same place, in every method's output; each triplet
//! pairs two methods' patches against the reference patch.
//!
//! Which pairs a patch gets: all of them, or `pairs_per_patch` dealt from a
//! shuffled cycle of all pairs, so that over an image's patches every pair
//! comes up equally often (to within one), a balanced incomplete design.
//! Which method is p0 is drawn per triplet. Sentinels are as in 2AFC: one
//! side (drawn) replaced by the reference patch itself.

use distortions::image::RgbImage;
use distortions::Pipeline;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore};

use super::triplet::{crop, random_corner};
use super::{encode_stimulus_png, DistortedPatch, PatchDistortion, TripletStimulus};
use crate::error::{Error, Result};

/// Crops tried per patch before a flat image is given up on.
const MAX_CROP_TRIES: usize = 200;

/// One method's output for a reference image, decoded, the reference's size.
pub struct MethodOutput {
    pub method: String,
    pub image: RgbImage,
}

/// The variance of the patch's gray levels (mean of R, G, B; 0–255 units):
/// what the flat-patch threshold is compared with.
pub fn patch_variance(patch: &RgbImage) -> f64 {
    let levels: Vec<f64> = patch
        .pixels()
        .map(|p| (f64::from(p[0]) + f64::from(p[1]) + f64::from(p[2])) / 3.0)
        .collect();
    let mean = levels.iter().sum::<f64>() / levels.len() as f64;
    levels.iter().map(|l| (l - mean) * (l - mean)).sum::<f64>() / levels.len() as f64
}

/// Every unordered pair of `methods` methods, in order.
pub fn method_pairs(methods: usize) -> Vec<(usize, usize)> {
    (0..methods)
        .flat_map(|a| (a + 1..methods).map(move |b| (a, b)))
        .collect()
}

/// The triplets of `patches` patches of one reference image (named
/// `file_name` in errors).
#[allow(clippy::too_many_arguments)]
pub fn generate_method_triplets(
    file_name: &str,
    reference: &RgbImage,
    outputs: &[MethodOutput],
    patch_size: u32,
    patches: u32,
    pairs_per_patch: Option<u32>,
    min_patch_variance: Option<f64>,
    sentinel_rate: f64,
    rng: &mut impl RngCore,
) -> Result<Vec<TripletStimulus>> {
    let all_pairs = method_pairs(outputs.len());
    let per_patch = pairs_per_patch.map_or(all_pairs.len(), |k| k as usize);
    let mut cycle: Vec<(usize, usize)> = Vec::new();
    let mut triplets = Vec::new();
    for _ in 0..patches {
        let (x, y, reference_patch) =
            textured_crop(file_name, reference, patch_size, min_patch_variance, rng)?;
        let method_patches: Vec<RgbImage> = outputs
            .iter()
            .map(|output| crop(&output.image, x, y, patch_size))
            .collect();
        let ref_png = encode_stimulus_png(&reference_patch)?;
        let pairs: Vec<(usize, usize)> = if per_patch == all_pairs.len() {
            all_pairs.clone()
        } else {
            (0..per_patch)
                .map(|_| {
                    if cycle.is_empty() {
                        cycle = all_pairs.clone();
                        cycle.shuffle(rng);
                    }
                    cycle.pop().expect("refilled")
                })
                .collect()
        };
        for (a, b) in pairs {
            let (first, second) = if rng.random_bool(0.5) { (a, b) } else { (b, a) };
            let sentinel_answer = rng
                .random_bool(sentinel_rate)
                .then(|| u8::from(rng.random_bool(0.5)));
            let side = |method: usize, is_reference: bool| -> Result<DistortedPatch> {
                Ok(if is_reference {
                    DistortedPatch {
                        distortion: PatchDistortion::Pipeline(Pipeline::default()),
                        seed: 0,
                        png: ref_png.clone(),
                        pending: None,
                        method: None,
                    }
                } else {
                    DistortedPatch {
                        distortion: PatchDistortion::Pipeline(Pipeline::default()),
                        seed: 0,
                        png: encode_stimulus_png(&method_patches[method])?,
                        pending: None,
                        method: Some(outputs[method].method.clone()),
                    }
                })
            };
            triplets.push(TripletStimulus {
                crop_x: x,
                crop_y: y,
                ref_png: ref_png.clone(),
                p0: side(first, sentinel_answer == Some(0))?,
                p1: side(second, sentinel_answer == Some(1))?,
                sentinel_answer,
            });
        }
    }
    Ok(triplets)
}

/// A random crop whose gray-level variance reaches `min_variance`, if set.
/// A random `size`×`size` crop of `image`: its corner and the patch.
fn random_crop(image: &RgbImage, size: u32, rng: &mut impl RngCore) -> (u32, u32, RgbImage) {
    let (x, y) = random_corner(image.dimensions(), size, rng);
    (x, y, crop(image, x, y, size))
}

fn textured_crop(
    file_name: &str,
    reference: &RgbImage,
    size: u32,
    min_variance: Option<f64>,
    rng: &mut impl RngCore,
) -> Result<(u32, u32, RgbImage)> {
    let Some(min_variance) = min_variance else {
        return Ok(random_crop(reference, size, rng));
    };
    for _ in 0..MAX_CROP_TRIES {
        let (x, y, patch) = random_crop(reference, size, rng);
        if patch_variance(&patch) >= min_variance {
            return Ok((x, y, patch));
        }
    }
    Err(Error::Invalid(format!(
        "reference image {file_name}: none of {MAX_CROP_TRIES} random {size}×{size} patches has a \
         gray-level variance of at least {min_variance} (lower --min-patch-variance, or leave it out)"
    )))
}
