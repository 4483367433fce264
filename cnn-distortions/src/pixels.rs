//! Patches to tensors and back: 8-bit levels map to [-1, 1] as
//! `level / 127.5 - 1`, and back with rounding to the nearest level.

use distortions::image::RgbImage;
use tch::{Kind, Tensor};

/// Same-sized patches as a float32 (N, 3, H, W) batch in [-1, 1], with
/// `padding` extra all-zero (mid-grey) images at the end.
pub(crate) fn to_batch(patches: &[&RgbImage], padding: usize) -> Tensor {
    let (width, height) = patches[0].dimensions();
    let plane = (width * height) as usize;
    let mut values = vec![0f32; (patches.len() + padding) * 3 * plane];
    for (patch, image_values) in patches.iter().zip(values.chunks_exact_mut(3 * plane)) {
        for (index, pixel) in patch.pixels().enumerate() {
            for channel in 0..3 {
                image_values[channel * plane + index] = f32::from(pixel[channel]) / 127.5 - 1.0;
            }
        }
    }
    Tensor::from_slice(&values).view([
        (patches.len() + padding) as i64,
        3,
        i64::from(height),
        i64::from(width),
    ])
}

/// The first `count` images of an (N, 3, H, W) batch in [-1, 1] as patches.
pub(crate) fn from_batch(batch: &Tensor, count: usize) -> Vec<RgbImage> {
    let size = batch.size();
    let (height, width) = (size[2] as u32, size[3] as u32);
    let levels = ((batch.narrow(0, 0, count as i64) + 1.0) * 127.5)
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
        .contiguous();
    let bytes = Vec::<u8>::try_from(levels.view([-1])).expect("a uint8 CPU tensor converts");
    let plane = (width * height) as usize;
    bytes
        .chunks_exact(3 * plane)
        .map(|image| {
            RgbImage::from_fn(width, height, |x, y| {
                let index = (y * width + x) as usize;
                distortions::image::Rgb([0, 1, 2].map(|channel| image[channel * plane + index]))
            })
        })
        .collect()
}
