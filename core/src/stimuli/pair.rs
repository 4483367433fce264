use distortions::image::RgbImage;
use rand::{Rng, RngCore};

use super::{encode_png, triplet::random_crop, DistortedPatch, Distorter};
use crate::error::Result;

/// One JND pair, ready to store: a reference patch and a distorted version
/// of it, or for a control the reference itself (an empty pipeline).
pub struct PairStimulus {
    pub crop_x: u32,
    pub crop_y: u32,
    pub ref_png: Vec<u8>,
    pub distorted: DistortedPatch,
    pub is_control: bool,
}

impl PairStimulus {
    /// Cuts a random patch of `reference` and distorts it with a sampled
    /// pipeline; with probability `control_share` leaves it undistorted
    /// instead, making a control. Everything random is drawn from `rng`.
    pub fn generate(
        reference: &RgbImage,
        patch_size: u32,
        distorter: &Distorter,
        control_share: f64,
        rng: &mut impl RngCore,
    ) -> Result<Self> {
        let (crop_x, crop_y, patch) = random_crop(reference, patch_size, rng);
        let is_control = rng.random_bool(control_share);
        let distorted = DistortedPatch::generate(&patch, distorter, is_control, rng)?;
        Ok(Self {
            crop_x,
            crop_y,
            ref_png: encode_png(&patch)?,
            distorted,
            is_control,
        })
    }
}
