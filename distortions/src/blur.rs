//! Blurs: separable Gaussian and the edge-preserving bilateral filter. Both
//! replicate border pixels. Neither is random.

use image::RgbImage;

use crate::error::Result;
use crate::raster::{convolve_separable, round_to_u8};
use crate::rng::StepRng;
use crate::spec::{BilateralFilter, Distort, GaussianBlur};

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
        Ok(convolve_separable(image, &gaussian_kernel(self.sigma, radius)))
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
                let (dx, dy) = ((i % window) as f32 - radius as f32, (i / window) as f32 - radius as f32);
                libm::expf(-(dx * dx + dy * dy) / (2.0 * self.sigma_spatial * self.sigma_spatial))
            })
            .collect();
        // Indexed by the L1 colour distance 0..=765, as OpenCV does for colour images.
        let sigma_range = self.sigma_range * 255.0;
        let range: Vec<f32> = (0..=765)
            .map(|d| libm::expf(-(d * d) as f32 / (2.0 * sigma_range * sigma_range)))
            .collect();

        let (width, height) = (image.width() as isize, image.height() as isize);
        let mut out = RgbImage::new(image.width(), image.height());
        for (x, y, target) in out.enumerate_pixels_mut() {
            let centre = image.get_pixel(x, y).0;
            let mut sum = [0f32; 3];
            let mut total = 0f32;
            for (i, &spatial_weight) in spatial.iter().enumerate() {
                let sx = (x as isize + (i % window) as isize - radius).clamp(0, width - 1);
                let sy = (y as isize + (i / window) as isize - radius).clamp(0, height - 1);
                let neighbour = image.get_pixel(sx as u32, sy as u32).0;
                let distance: usize = (0..3).map(|c| usize::from(centre[c].abs_diff(neighbour[c]))).sum();
                let weight = spatial_weight * range[distance];
                for (s, &n) in sum.iter_mut().zip(&neighbour) {
                    *s += weight * f32::from(n);
                }
                total += weight;
            }
            // The centre tap has weight 1, so `total` is never zero.
            target.0 = sum.map(|s| round_to_u8(s / total));
        }
        Ok(out)
    }
}
