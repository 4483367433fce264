use std::collections::BTreeMap;

use distortions::image::{imageops, RgbImage};
use distortions::{Pipeline, Sampler};
use percept_api::experiments::DistortionFamily;
use rand::{Rng, RngCore};
use sqlx::PgPool;

use super::encode_stimulus_png;
use crate::cnn_bank::{CnnDistorter, NetworkRef, BUILD_HINT};
use crate::error::{Error, Result};

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
    pub distortion: PatchDistortion,
    pub seed: u64,
    /// Empty until [`render_cnn`] runs the patch's network.
    pub png: Vec<u8>,
    /// The clean patch, kept for its network while `png` is empty.
    pub(super) pending: Option<RgbImage>,
    /// In a method comparison, the method whose output this patch was cut
    /// from (its pipeline then empty, its seed 0).
    pub method: Option<String>,
}

/// What made a distorted patch, stored as JSON with the stimulus (with its
/// seed beside it) so that every stimulus says exactly what made it.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchDistortion {
    /// A pipeline of traditional distortions (empty: the patch itself),
    /// stored as the pipeline's JSON array; byte-identical everywhere.
    Pipeline(Pipeline),
    /// A network of the CNN bank, stored as
    /// `{"cnn_network": id, "weights_sha256": hash}`: the seed drives its
    /// input degradation.
    Cnn(NetworkRef),
}

impl PatchDistortion {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            PatchDistortion::Pipeline(pipeline) => {
                serde_json::to_value(pipeline).expect("pipelines serialise")
            }
            PatchDistortion::Cnn(network) => serde_json::json!({
                "cnn_network": network.id,
                "weights_sha256": network.weights_sha256,
            }),
        }
    }
}

/// Where distorted sides come from: the experiment's family, its pipeline
/// sampler, and for `cnn` and `mix` the bank's networks (never empty then).
pub struct Distorter<'a> {
    pub family: DistortionFamily,
    pub sampler: &'a Sampler,
    pub networks: &'a [NetworkRef],
}

/// A distorted patch before it is rendered: what distorts it and its seed,
/// which are all that is random about it.
pub struct DistortionPlan {
    pub distortion: PatchDistortion,
    pub seed: u64,
}

impl DistortionPlan {
    /// What `distorter` draws, or the empty pipeline when `undistorted` (the
    /// patch itself, stored like any other), and its seed. The traditional
    /// family draws from `rng` exactly as before the CNN family existed, so
    /// its experiments regenerate to the same bytes.
    pub fn draw(distorter: &Distorter, undistorted: bool, rng: &mut impl RngCore) -> Result<Self> {
        let use_cnn = !undistorted
            && match distorter.family {
                DistortionFamily::Traditional => false,
                DistortionFamily::Cnn => true,
                DistortionFamily::Mix => rng.random_bool(0.5),
            };
        let distortion = if undistorted {
            PatchDistortion::Pipeline(Pipeline::default())
        } else if use_cnn {
            let count = distorter.networks.len();
            if count == 0 {
                return Err(Error::Invalid(format!(
                    "the CNN distortion bank is empty; {BUILD_HINT}"
                )));
            }
            PatchDistortion::Cnn(distorter.networks[rng.random_range(0..count)].clone())
        } else {
            PatchDistortion::Pipeline(distorter.sampler.sample(rng))
        };
        // Below 2^53 so the seed survives JSON readers that parse numbers as doubles.
        let seed = rng.next_u64() >> 11;
        Ok(Self { distortion, seed })
    }

    /// `patch` distorted by the plan's pipeline and encoded; a CNN side
    /// keeps the clean patch for [`render_cnn`], which runs its network.
    /// `patch_png` is `patch` encoded, which the empty pipeline (the patch
    /// itself) reuses instead of encoding it again.
    pub fn render(self, patch: &RgbImage, patch_png: &[u8]) -> Result<DistortedPatch> {
        Ok(match self.distortion {
            PatchDistortion::Pipeline(pipeline) if pipeline.steps.is_empty() => DistortedPatch {
                distortion: PatchDistortion::Pipeline(pipeline),
                seed: self.seed,
                png: patch_png.to_vec(),
                pending: None,
                method: None,
            },
            PatchDistortion::Pipeline(pipeline) => {
                let distorted = pipeline
                    .apply(patch, self.seed)
                    .map_err(anyhow::Error::from)?;
                DistortedPatch {
                    distortion: PatchDistortion::Pipeline(pipeline),
                    seed: self.seed,
                    png: encode_stimulus_png(&distorted)?,
                    pending: None,
                    method: None,
                }
            }
            cnn => DistortedPatch {
                distortion: cnn,
                seed: self.seed,
                png: Vec::new(),
                pending: Some(patch.clone()),
                method: None,
            },
        })
    }
}

/// Makes the CNN-distorted sides among `patches`: each network runs once
/// over all of its patches (batched), then the outputs are encoded.
pub fn render_cnn<'a>(
    patches: impl IntoIterator<Item = &'a mut DistortedPatch>,
    pool: &PgPool,
    cnn: Option<&dyn CnnDistorter>,
) -> Result<()> {
    let mut by_network: BTreeMap<String, Vec<&'a mut DistortedPatch>> = BTreeMap::new();
    for patch in patches {
        if let (PatchDistortion::Cnn(network), Some(_)) = (&patch.distortion, &patch.pending) {
            by_network
                .entry(network.id.clone())
                .or_default()
                .push(patch);
        }
    }
    if by_network.is_empty() {
        return Ok(());
    }
    let Some(cnn) = cnn else {
        return Err(Error::Invalid(
            "this process cannot run CNN distortions (no libtorch distorter is installed); let `percept serve` or `percept worker` generate the experiment".into(),
        ));
    };
    for patches in by_network.into_values() {
        let PatchDistortion::Cnn(network) = patches[0].distortion.clone() else {
            unreachable!("grouped by network")
        };
        let outputs = {
            let inputs: Vec<&RgbImage> = patches
                .iter()
                .map(|patch| patch.pending.as_ref().expect("pending"))
                .collect();
            let seeds: Vec<u64> = patches.iter().map(|patch| patch.seed).collect();
            cnn.distort(pool, &network, &inputs, &seeds)?
        };
        for (patch, output) in patches.into_iter().zip(outputs) {
            patch.png = encode_stimulus_png(&output)?;
            patch.pending = None;
        }
    }
    Ok(())
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
    /// independently drawn distortions (CNN sides are made after rendering,
    /// by [`render_cnn`]). With probability `sentinel_rate` one side (chosen
    /// at random) is left undistorted instead, making a sentinel.
    pub fn draw(
        dimensions: (u32, u32),
        patch_size: u32,
        distorter: &Distorter,
        sentinel_rate: f64,
        rng: &mut impl RngCore,
    ) -> Result<Self> {
        let (crop_x, crop_y) = random_corner(dimensions, patch_size, rng);
        let sentinel_answer = rng
            .random_bool(sentinel_rate)
            .then(|| u8::from(rng.random_bool(0.5)));
        // The undistorted side of a sentinel is the empty pipeline, which
        // regenerates to the reference itself like any other spec.
        let p0 = DistortionPlan::draw(distorter, sentinel_answer == Some(0), rng)?;
        let p1 = DistortionPlan::draw(distorter, sentinel_answer == Some(1), rng)?;
        Ok(Self {
            crop_x,
            crop_y,
            sentinel_answer,
            p0,
            p1,
        })
    }

    /// Cuts the patch from `reference`, distorts and encodes it.
    pub fn render(self, reference: &RgbImage, patch_size: u32) -> Result<TripletStimulus> {
        let patch = crop(reference, self.crop_x, self.crop_y, patch_size);
        let ref_png = encode_stimulus_png(&patch)?;
        Ok(TripletStimulus {
            crop_x: self.crop_x,
            crop_y: self.crop_y,
            p0: self.p0.render(&patch, &ref_png)?,
            p1: self.p1.render(&patch, &ref_png)?,
            ref_png,
            sentinel_answer: self.sentinel_answer,
        })
    }
}
