use distortions::image::{self, RgbImage};

use crate::error::{Error, Result};

/// A reference image as uploaded, decoded to 8-bit RGB.
pub struct ReferenceImage {
    pub file_name: String,
    pub image: RgbImage,
}

impl ReferenceImage {
    /// Decodes PNG or JPEG bytes; the error names the file.
    pub fn decode(file_name: &str, bytes: &[u8]) -> Result<Self> {
        let image = image::load_from_memory(bytes)
            .map_err(|error| {
                Error::BadRequest(format!(
                    "reference image {file_name} cannot be decoded: {error}"
                ))
            })?
            .into_rgb8();
        Ok(Self {
            file_name: file_name.to_owned(),
            image,
        })
    }

    /// Patches are cut whole from the image, so it must be at least as large as one.
    pub fn ensure_fits_patch(&self, patch_size: u32) -> Result<()> {
        let (width, height) = self.image.dimensions();
        if width < patch_size || height < patch_size {
            return Err(Error::BadRequest(format!(
                "reference image {} is {width}×{height}, smaller than the {patch_size}×{patch_size} patches",
                self.file_name
            )));
        }
        Ok(())
    }
}
