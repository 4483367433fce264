use std::io::Cursor;

use distortions::image::{ImageFormat, RgbImage};

use crate::error::Result;

pub fn encode_png(image: &RgbImage) -> Result<Vec<u8>> {
    let mut bytes = Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, ImageFormat::Png)
        .map_err(anyhow::Error::from)?;
    Ok(bytes.into_inner())
}
