//! Reading images for LPIPS and turning them into network input.
//!
//! Like the official `lpips.load_image` (OpenCV's `imread` in colour mode),
//! grayscale images are replicated to three channels, an alpha channel is
//! discarded (not composited) and 16-bit images are reduced to 8 bits.

use std::path::Path;

use image::RgbImage;
use tch::Tensor;

use crate::backbone::Net;
use crate::error::{LpipsError, Result};

/// Reads an image file as 8-bit RGB (see the module docs for conversions).
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    let image = image::open(path).map_err(|source| LpipsError::ImageUnreadable {
        path: path.to_owned(),
        source,
    })?;
    Ok(image.to_rgb8())
}

/// Checks that two images can be compared by `net`: equal sizes, each side at
/// least [`Net::min_side`].
pub fn check_comparable(net: Net, a: &RgbImage, b: &RgbImage) -> Result<()> {
    if a.dimensions() != b.dimensions() {
        return Err(LpipsError::SizeMismatch {
            a_width: a.width(),
            a_height: a.height(),
            b_width: b.width(),
            b_height: b.height(),
        });
    }
    let min_side = net.min_side();
    if a.width() < min_side || a.height() < min_side {
        return Err(LpipsError::TooSmall {
            width: a.width(),
            height: a.height(),
            needed_by: format!("the {net} network"),
            min_side,
        });
    }
    Ok(())
}

/// Stacks same-sized images into a float32 (N, 3, H, W) tensor in [-1, 1],
/// `x / 127.5 - 1` like the official `im2tensor`.
pub fn to_tensor(images: &[&RgbImage]) -> Result<Tensor> {
    // The official conversion runs in float64 and rounds once to float32.
    let levels: Vec<f32> = (0..=255u8)
        .map(|v| (f64::from(v) / 127.5 - 1.0) as f32)
        .collect();
    let (width, height) = images.first().map_or((0, 0), |image| image.dimensions());
    let plane = (width * height) as usize;
    let mut data = vec![0f32; images.len() * 3 * plane];
    for (image, out) in images.iter().zip(data.chunks_exact_mut(3 * plane)) {
        if image.dimensions() != (width, height) {
            return Err(LpipsError::SizeMismatch {
                a_width: width,
                a_height: height,
                b_width: image.width(),
                b_height: image.height(),
            });
        }
        for (pixel_index, pixel) in image.pixels().enumerate() {
            for channel in 0..3 {
                out[channel * plane + pixel_index] = levels[usize::from(pixel.0[channel])];
            }
        }
    }
    Ok(Tensor::from_slice(&data).view([
        images.len() as i64,
        3,
        i64::from(height),
        i64::from(width),
    ]))
}
