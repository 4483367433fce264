//! Photometric distortions: pointwise changes of lightness, colour, contrast
//! and saturation. None of them is random.

use image::RgbImage;

use crate::error::Result;
use crate::raster::{lookup_table, luma, map_channels, mean_luma, round_to_u8};
use crate::rng::StepRng;
use crate::spec::{ColorShift, Contrast, Distort, LightnessShift, Saturation};

/// Adds a constant to each channel (clipped), via one lookup table per channel.
fn offset_channels(image: &RgbImage, offsets: [f32; 3]) -> RgbImage {
    map_channels(image, &offsets.map(|offset| lookup_table(|v| v + offset)))
}

impl Distort for LightnessShift {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        Ok(offset_channels(image, [self.amount * 255.0; 3]))
    }
}

impl Distort for ColorShift {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        // The inverse BT.601 (JFIF) transform's chroma columns: adding (cb, cr)
        // in YCbCr is this constant RGB offset, with luma untouched.
        let (cb, cr) = (self.cb * 255.0, self.cr * 255.0);
        Ok(offset_channels(
            image,
            [1.402 * cr, -0.344_136 * cb - 0.714_136 * cr, 1.772 * cb],
        ))
    }
}

impl Distort for Contrast {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        let mean = mean_luma(image);
        let table = lookup_table(|v| mean + self.factor * (v - mean));
        Ok(map_channels(image, &[table; 3]))
    }
}

impl Distort for Saturation {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        let mut out = image.clone();
        for pixel in out.pixels_mut() {
            let grey = luma(pixel.0);
            pixel.0 = pixel
                .0
                .map(|v| round_to_u8(grey + self.factor * (f32::from(v) - grey)));
        }
        Ok(out)
    }
}
