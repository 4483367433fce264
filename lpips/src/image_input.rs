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
    check_pair(a, b, net.min_side(), &format!("the {net} network"))
}

/// Checks that two images have the same size with each side at least
/// `min_side`, which `needed_by` (named in the error) requires.
pub(crate) fn check_pair(a: &RgbImage, b: &RgbImage, min_side: u32, needed_by: &str) -> Result<()> {
    if a.dimensions() != b.dimensions() {
        return Err(LpipsError::SizeMismatch {
            a_width: a.width(),
            a_height: a.height(),
            b_width: b.width(),
            b_height: b.height(),
        });
    }
    if a.width() < min_side || a.height() < min_side {
        return Err(LpipsError::TooSmall {
            width: a.width(),
            height: a.height(),
            needed_by: needed_by.to_owned(),
            min_side,
        });
    }
    Ok(())
}

/// Stacks same-sized images into a float32 (N, 3, H, W) tensor in [-1, 1],
/// `x / 127.5 - 1` like the official `im2tensor`. The tensor is stored
/// channels-last, the images' own layout, so filling it is one lookup per
/// byte.
pub fn to_tensor(images: &[&RgbImage]) -> Result<Tensor> {
    // The official conversion runs in float64 and rounds once to float32.
    let levels: Vec<f32> = (0..=255u8)
        .map(|v| (f64::from(v) / 127.5 - 1.0) as f32)
        .collect();
    stack(images, &levels)
}

/// Stacks same-sized images into a float32 (N, 3, H, W) tensor, each 8-bit
/// level replaced by `levels[v]`.
pub(crate) fn stack(images: &[&RgbImage], levels: &[f32]) -> Result<Tensor> {
    let (width, height) = images.first().map_or((0, 0), |image| image.dimensions());
    let mut data = Vec::with_capacity(images.len() * 3 * (width * height) as usize);
    for image in images {
        if image.dimensions() != (width, height) {
            return Err(LpipsError::SizeMismatch {
                a_width: width,
                a_height: height,
                b_width: image.width(),
                b_height: image.height(),
            });
        }
        data.extend(image.as_raw().iter().map(|&v| levels[usize::from(v)]));
    }
    Ok(Tensor::from_slice(&data)
        .view([images.len() as i64, i64::from(height), i64::from(width), 3])
        .permute([0, 3, 1, 2]))
}

#[cfg(test)]
mod tests {
    use image::{GrayImage, Luma, Rgba, RgbaImage};

    use super::*;

    #[test]
    fn grayscale_is_replicated_and_alpha_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let gray_path = dir.path().join("gray.png");
        GrayImage::from_pixel(3, 2, Luma([77]))
            .save(&gray_path)
            .unwrap();
        let gray = load_rgb(&gray_path).unwrap();
        assert_eq!(gray.dimensions(), (3, 2));
        assert!(gray.pixels().all(|p| p.0 == [77, 77, 77]));

        let rgba_path = dir.path().join("rgba.png");
        RgbaImage::from_pixel(2, 2, Rgba([10, 20, 30, 0]))
            .save(&rgba_path)
            .unwrap();
        assert!(load_rgb(&rgba_path)
            .unwrap()
            .pixels()
            .all(|p| p.0 == [10, 20, 30]));
    }

    #[test]
    fn unreadable_files_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.png");
        std::fs::write(&path, b"\x89PNG not really").unwrap();
        let error = load_rgb(&path).unwrap_err();
        assert!(error.to_string().contains("broken.png"), "{error}");
        assert!(load_rgb(&dir.path().join("absent.png")).is_err());
    }

    #[test]
    fn tensor_is_nchw_in_minus_one_to_one() {
        let image = RgbImage::from_fn(2, 1, |x, _| {
            image::Rgb(if x == 0 { [0, 255, 51] } else { [255, 0, 204] })
        });
        let tensor = to_tensor(&[&image, &image]).unwrap();
        assert_eq!(tensor.size(), [2, 3, 1, 2]);
        let values = Vec::<f32>::try_from(tensor.get(1).flatten(0, -1)).unwrap();
        assert_eq!(
            values,
            [
                -1.0,
                1.0,
                1.0,
                -1.0,
                (51.0 / 127.5 - 1.0) as f32,
                (204.0 / 127.5 - 1.0) as f32
            ]
        );
        let other = RgbImage::new(3, 1);
        assert!(matches!(
            to_tensor(&[&image, &other]),
            Err(LpipsError::SizeMismatch { .. })
        ));
    }
}
