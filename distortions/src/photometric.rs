//! Photometric distortions: pointwise changes of lightness, colour, contrast
//! and saturation. None of them is random.

use image::RgbImage;

use crate::error::Result;
use crate::raster::{
    fixed_luma, luma_sum, offset_channels, round_offset, saturate_to_u8, LUMA_BITS,
};
use crate::rng::StepRng;
use crate::simd::multiversion;
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

/// Fraction bits of the fixed-point factors of contrast and saturation.
const FACTOR_BITS: u32 = 10;

/// A real factor in units of 2^-FACTOR_BITS.
fn fixed_factor(factor: f32) -> i32 {
    // Factors are validated non-negative, so truncation is floor.
    (factor * (1 << FACTOR_BITS) as f32 + 0.5) as i32
}

impl Distort for Contrast {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        // out = mean + f (v - mean) = f v + (1 - f) mean, in fixed point:
        // integer arithmetic that vectorises, unlike a table lookup.
        let factor = fixed_factor(self.factor);
        let pixels = f64::from(image.width()) * f64::from(image.height());
        let mean = luma_sum(image) as f64 / (f64::from(1u32 << LUMA_BITS) * pixels);
        // |(1 - f) mean| < 2^8, so the rounded offset fits comfortably.
        let offset = (f64::from((1 << FACTOR_BITS) - factor) * mean + 0.5).floor() as i32
            + (1 << (FACTOR_BITS - 1));
        let mut out = image.clone();
        scale_and_offset(&mut out, factor, offset);
        Ok(out)
    }
}

multiversion! {
    /// (factor v + offset) >> FACTOR_BITS for every value, saturated.
    fn scale_and_offset(values: &mut [u8], factor: i32, offset: i32) {
        for value in values {
            // The shift is a floor, so a half included in `offset` rounds half up.
            *value = saturate_to_u8((factor * i32::from(*value) + offset) >> FACTOR_BITS);
        }
    }
}

impl Distort for Saturation {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        // out = grey + f (v - grey) = (1 - f) grey + f v, in fixed point: the
        // factor in 2^-FACTOR_BITS steps and grey in 2^-GREY_BITS, exact i32
        // integers (below 2^28) until one rounding shift.
        let mut out = image.clone();
        saturate(&mut out, fixed_factor(self.factor));
        Ok(out)
    }
}

multiversion! {
    fn saturate(pixels: &mut [u8], factor: i32) {
        const GREY_BITS: u32 = 8;
        const SHIFT: u32 = FACTOR_BITS + GREY_BITS;
        for pixel in pixels.chunks_exact_mut(3) {
            let grey = ((fixed_luma(pixel) + (1 << (LUMA_BITS - GREY_BITS - 1)))
                >> (LUMA_BITS - GREY_BITS)) as i32;
            let grey_part = ((1 << FACTOR_BITS) - factor) * grey + (1 << (SHIFT - 1));
            for value in pixel.iter_mut() {
                let sum = grey_part + (factor << GREY_BITS) * i32::from(*value);
                *value = saturate_to_u8(sum >> SHIFT);
            }
        }
    }
}
