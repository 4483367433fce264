//! JPEG compression artifacts via a real codec round trip: `jpeg-encoder` to
//! encode, `zune-jpeg` to decode. Both are pure Rust; the decoder's run-time
//! AVX2 paths are switched off so the bytes cannot depend on the machine.

use std::io::Cursor;

use image::RgbImage;
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::error::{DistortionError, Result};
use crate::rng::StepRng;
use crate::spec::{Distort, Jpeg};

impl Distort for Jpeg {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        let codec = |message: String| DistortionError::Codec(message);
        let (width, height) = image.dimensions();
        let too_large = |_| codec(format!("{width}x{height} exceeds JPEG's 65535x65535"));
        let mut encoded = Vec::new();
        // `quality` is validated to 10..=95, so the narrowing is lossless.
        let mut encoder = Encoder::new(&mut encoded, self.quality as u8);
        encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
        encoder
            .encode(
                image.as_raw(),
                u16::try_from(width).map_err(too_large)?,
                u16::try_from(height).map_err(too_large)?,
                ColorType::Rgb,
            )
            .map_err(|error| codec(error.to_string()))?;
        let options = DecoderOptions::new_cmd()
            .jpeg_set_out_colorspace(ColorSpace::RGB)
            .set_use_unsafe(false);
        let decoded = JpegDecoder::new_with_options(Cursor::new(&encoded), options)
            .decode()
            .map_err(|error| codec(error.to_string()))?;
        RgbImage::from_raw(width, height, decoded)
            .ok_or_else(|| codec("the decoder returned the wrong size".into()))
    }
}
