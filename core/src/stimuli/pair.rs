use distortions::image::RgbImage;
use rand::{Rng, RngCore};

use super::{
    crop, encode_stimulus_png, triplet::random_corner, DistortedPatch, Distorter, DistortionPlan,
};
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

/// A pair before it is rendered (see [`super::TripletPlan`]).
pub struct PairPlan {
    pub crop_x: u32,
    pub crop_y: u32,
    pub distortion: DistortionPlan,
    pub is_control: bool,
}

impl PairPlan {
    /// A random patch of a reference of `dimensions` and a drawn distortion;
    /// with probability `control_share` the patch stays undistorted instead,
    /// making a control.
    pub fn draw(
        dimensions: (u32, u32),
        patch_size: u32,
        distorter: &Distorter,
        control_share: f64,
        rng: &mut impl RngCore,
    ) -> Result<Self> {
        let (crop_x, crop_y) = random_corner(dimensions, patch_size, rng);
        let is_control = rng.random_bool(control_share);
        let distortion = DistortionPlan::draw(distorter, is_control, rng)?;
        Ok(Self {
            crop_x,
            crop_y,
            distortion,
            is_control,
        })
    }

    /// Cuts the patch from `reference`, distorts and encodes it.
    pub fn render(self, reference: &RgbImage, patch_size: u32) -> Result<PairStimulus> {
        let patch = crop(reference, self.crop_x, self.crop_y, patch_size);
        let ref_png = encode_stimulus_png(&patch)?;
        Ok(PairStimulus {
            crop_x: self.crop_x,
            crop_y: self.crop_y,
            distorted: self.distortion.render(&patch, &ref_png)?,
            ref_png,
            is_control: self.is_control,
        })
    }
}
