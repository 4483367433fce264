//! JPEG compression artifacts via a real codec round trip.

use std::io::Cursor;

use image::codecs::jpeg::{JpegDecoder, JpegEncoder};
use image::{DynamicImage, ExtendedColorType, ImageEncoder, RgbImage};

use crate::error::Result;
use crate::rng::StepRng;
use crate::spec::{Distort, Jpeg};

impl Distort for Jpeg {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        let mut encoded = Vec::new();
        // `quality` is validated to 10..=95, so the narrowing is lossless.
        JpegEncoder::new_with_quality(&mut encoded, self.quality as u8).write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )?;
        let decoder = JpegDecoder::new(Cursor::new(encoded))?;
        Ok(DynamicImage::from_decoder(decoder)?.into_rgb8())
    }
}
