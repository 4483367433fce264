//! Blurs: separable Gaussian and the edge-preserving bilateral filter. Both
//! replicate border pixels. Neither is random.

use image::RgbImage;

use crate::error::Result;
use crate::raster::{convolve_separable, round_to_u8};
use crate::rng::StepRng;
use crate::spec::{BilateralFilter, Distort, GaussianBlur};

/// The image grown by `radius` pixels on every side, repeating edge pixels.
fn pad_replicate(image: &RgbImage, radius: usize) -> Vec<u8> {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let mut padded = Vec::with_capacity((width + 2 * radius) * (height + 2 * radius) * 3);
    for y in 0..height + 2 * radius {
        let row = y.saturating_sub(radius).min(height - 1);
        for x in 0..width + 2 * radius {
            let col = x.saturating_sub(radius).min(width - 1);
            padded.extend_from_slice(
                &image.as_raw()[(row * width + col) * 3..(row * width + col) * 3 + 3],
            );
        }
    }
    padded
}

/// Normalised 1-D Gaussian taps over `-radius..=radius`.
fn gaussian_kernel(sigma: f32, radius: usize) -> Vec<f32> {
    let taps: Vec<f32> = (0..=2 * radius)
        .map(|i| {
            let d = i as f32 - radius as f32;
            libm::expf(-d * d / (2.0 * sigma * sigma))
        })
        .collect();
    let total: f32 = taps.iter().sum();
    taps.into_iter().map(|t| t / total).collect()
}

impl Distort for GaussianBlur {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        if self.sigma == 0.0 {
            return Ok(image.clone());
        }
        let radius = (3.0 * self.sigma).ceil() as usize;
        Ok(convolve_separable(
            image,
            &gaussian_kernel(self.sigma, radius),
        ))
    }
}

impl Distort for BilateralFilter {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        if self.sigma_spatial == 0.0 || self.sigma_range == 0.0 {
            return Ok(image.clone());
        }
        let radius = (2.0 * self.sigma_spatial).ceil() as isize;
        let window = (2 * radius + 1) as usize;
        let spatial: Vec<f32> = (0..window * window)
            .map(|i| {
                let (dx, dy) = (
                    (i % window) as f32 - radius as f32,
                    (i / window) as f32 - radius as f32,
                );
                libm::expf(-(dx * dx + dy * dy) / (2.0 * self.sigma_spatial * self.sigma_spatial))
            })
            .collect();
        // Indexed by the L1 colour distance 0..=765, as OpenCV does for colour images.
        let sigma_range = self.sigma_range * 255.0;
        let range: Vec<f32> = (0..=765)
            .map(|d| libm::expf(-(d * d) as f32 / (2.0 * sigma_range * sigma_range)))
            .collect();

        // A border-replicated copy lets the inner loop index without clamping.
        let padded = pad_replicate(image, radius as usize);
        let padded_stride = (image.width() as usize + 2 * radius as usize) * 3;
        let tap_offsets: Vec<usize> = (0..window * window)
            .map(|i| (i / window) * padded_stride + (i % window) * 3)
            .collect();
        let mut out = RgbImage::new(image.width(), image.height());
        for (x, y, target) in out.enumerate_pixels_mut() {
            let corner = y as usize * padded_stride + x as usize * 3;
            let centre_at = corner + radius as usize * (padded_stride + 3);
            let centre = &padded[centre_at..centre_at + 3];
            let mut sum = [0f32; 3];
            let mut total = 0f32;
            for (&offset, &spatial_weight) in tap_offsets.iter().zip(&spatial) {
                let neighbour = &padded[corner + offset..corner + offset + 3];
                let distance = usize::from(centre[0].abs_diff(neighbour[0]))
                    + usize::from(centre[1].abs_diff(neighbour[1]))
                    + usize::from(centre[2].abs_diff(neighbour[2]));
                let weight = spatial_weight * range[distance];
                sum[0] += weight * f32::from(neighbour[0]);
                sum[1] += weight * f32::from(neighbour[1]);
                sum[2] += weight * f32::from(neighbour[2]);
                total += weight;
            }
            // The centre tap has weight 1, so `total` is never zero.
            target.0 = sum.map(|s| round_to_u8(s / total));
        }
        Ok(out)
    }
}
