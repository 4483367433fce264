//! Photometric distortions: pointwise changes of lightness, colour, contrast
//! and saturation. None of them is random.

use image::RgbImage;

use crate::error::Result;
use crate::raster::{
    fixed_luma, lookup_table, map_values, mean_luma, offset_channels, round_offset, LUMA_BITS,
};
use crate::rng::StepRng;
use crate::spec::{ColorShift, Contrast, Distort, LightnessShift, Saturation};

impl Distort for LightnessShift {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        Ok(offset_channels(
            image,
            [round_offset(self.amount * 255.0); 3],
        ))
    }
}

impl Distort for ColorShift {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        // The inverse BT.601 (JFIF) transform's chroma columns: adding (cb, cr)
        // in YCbCr is this constant RGB offset, with luma untouched.
        let (cb, cr) = (self.cb * 255.0, self.cr * 255.0);
        Ok(offset_channels(
            image,
            [1.402 * cr, -0.344_136 * cb - 0.714_136 * cr, 1.772 * cb].map(round_offset),
        ))
    }
}

impl Distort for Contrast {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        let mean = mean_luma(image);
        Ok(map_values(
            image,
            &lookup_table(|v| mean + self.factor * (v - mean)),
        ))
    }
}

impl Distort for Saturation {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        // out = grey + f (v - grey) = (1 - f) grey + f v, in fixed point: the
        // factor in 2^-FACTOR_BITS steps and luma in 2^-LUMA_BITS, exact
        // integers until one rounding shift.
        const FACTOR_BITS: u32 = 10;
        const SHIFT: u32 = FACTOR_BITS + LUMA_BITS;
        let factor = i64::from((self.factor * (1 << FACTOR_BITS) as f32 + 0.5) as u32);
        let mut out = image.clone();
        for pixel in out.chunks_exact_mut(3) {
            let grey_part = ((1 << FACTOR_BITS) - factor) * i64::from(fixed_luma(pixel));
            for value in pixel.iter_mut() {
                let sum = grey_part + (factor << LUMA_BITS) * i64::from(*value);
                // The shift is a floor, so adding half rounds half up.
                *value = ((sum + (1 << (SHIFT - 1))) >> SHIFT).clamp(0, 255) as u8;
            }
        }
        Ok(out)
    }
}
