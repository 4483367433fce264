use distortions::image::RgbImage;

use super::image_decoding::{decode_rgb8, MAX_SIDE};
use crate::error::{Error, Result};

/// A reference image as uploaded, decoded to 8-bit RGB.
pub struct ReferenceImage {
    pub file_name: String,
    pub image: RgbImage,
}

impl ReferenceImage {
    /// Decodes PNG or JPEG bytes of at most [`MAX_SIDE`] pixels a side; the
    /// error names the file.
    pub fn decode(file_name: &str, bytes: &[u8]) -> Result<Self> {
        let image = decode_rgb8(bytes).map_err(|error| {
            Error::Invalid(format!(
                "reference image {file_name} cannot be decoded (PNG or JPEG of at most \
                 {MAX_SIDE}×{MAX_SIDE} pixels): {error}"
            ))
        })?;
        Ok(Self {
            file_name: file_name.to_owned(),
            image,
        })
    }

    /// Patches are cut whole from the image, so it must be at least as large as one.
    pub fn ensure_fits_patch(&self, patch_size: u32) -> Result<()> {
        let (width, height) = self.image.dimensions();
        if width < patch_size || height < patch_size {
            return Err(Error::Invalid(format!(
                "reference image {} is {width}×{height}, smaller than the {patch_size}×{patch_size} patches",
                self.file_name
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stimuli::encode_png;

    #[test]
    fn an_image_wider_than_the_limit_is_refused_by_name() {
        let wide = encode_png(&RgbImage::new(MAX_SIDE + 1, 2)).unwrap();
        let error = ReferenceImage::decode("wide.png", &wide)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("wide.png") && error.contains("8192×8192"),
            "{error}"
        );
        let fine = encode_png(&RgbImage::new(MAX_SIDE, 2)).unwrap();
        assert_eq!(
            ReferenceImage::decode("fine.png", &fine)
                .unwrap()
                .image
                .width(),
            MAX_SIDE
        );
    }

    #[test]
    fn bytes_that_are_no_image_are_refused_by_name() {
        let error = ReferenceImage::decode("notes.txt", b"hello")
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("notes.txt cannot be decoded"), "{error}");
    }
}
