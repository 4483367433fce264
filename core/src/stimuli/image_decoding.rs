//! Decoding untrusted image bytes within fixed limits (fuzzed by `fuzz/`'s
//! `reference_image` target).

use std::io::Cursor;

use distortions::image::{ImageReader, ImageResult, Limits, RgbImage};

/// The largest reference image side accepted: beyond any photo a patch
/// experiment needs, and the decoder checks it before allocating, so a
/// small file claiming huge dimensions (a decompression bomb) costs nothing.
pub const MAX_SIDE: u32 = 8192;
/// Decoder memory ceiling: an 8192×8192 RGBA image with room to spare.
const MAX_DECODE_BYTES: u64 = 512 << 20;

/// Decodes PNG or JPEG (or BMP) bytes of at most [`MAX_SIDE`] pixels a side
/// to 8-bit RGB.
pub fn decode_rgb8(bytes: &[u8]) -> ImageResult<RgbImage> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    reader.limits(limits);
    Ok(reader.decode()?.into_rgb8())
}
