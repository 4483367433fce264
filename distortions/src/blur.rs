//! Blurs: separable Gaussian and the edge-preserving bilateral filter. Both
//! replicate border pixels. Neither is random.

use image::RgbImage;

use crate::error::Result;
use crate::raster::{convolve_separable, round_to_u8, Kernel};
use crate::rng::StepRng;
use crate::simd::multiversion;
use crate::spec::{BilateralFilter, Distort, GaussianBlur};

impl Distort for GaussianBlur {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        if self.sigma == 0.0 {
            return Ok(image.clone());
        }
        let radius = (3.0 * self.sigma).ceil() as isize;
        let taps: Vec<f32> = (-radius..=radius)
            .map(|d| libm::expf(-(d * d) as f32 / (2.0 * self.sigma * self.sigma)))
            .collect();
        let kernel = Kernel::from_taps(-radius, &taps);
        Ok(convolve_separable(image, &kernel, &kernel))
    }
}

/// One channel of the image grown by `radius` pixels on every side, repeating
/// edge pixels.
fn padded_plane(image: &RgbImage, channel: usize, radius: usize) -> Vec<u8> {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let padded_width = width + 2 * radius;
    let mut plane = Vec::with_capacity(padded_width * (height + 2 * radius));
    for y in 0..height + 2 * radius {
        let source_y = y.saturating_sub(radius).min(height - 1);
        let row = &image.as_raw()[source_y * width * 3..(source_y + 1) * width * 3];
        let (first, last) = (row[channel], row[row.len() - 3 + channel]);
        plane.extend(std::iter::repeat_n(first, radius));
        plane.extend(row.chunks_exact(3).map(|pixel| pixel[channel]));
        plane.extend(std::iter::repeat_n(last, radius));
    }
    plane
}

/// exp(-d^2 / (2 sigma^2)) for d in 0..count, by the recurrence
/// w(d+1) = w(d) e^{-(2d+1)c}: two libm calls instead of `count`, in f64 so
/// the accumulated error stays far below f32's precision.
fn gaussian_of_distance(sigma: f32, count: usize) -> Vec<f32> {
    let c = 1.0 / (2.0 * f64::from(sigma) * f64::from(sigma));
    let step_squared = libm::exp(-2.0 * c);
    let mut ratio = libm::exp(-c);
    let mut weight = 1.0f64;
    (0..count)
        .map(|_| {
            let value = weight as f32;
            weight *= ratio;
            ratio *= step_squared;
            value
        })
        .collect()
}

/// Entries of the range table: distances are at most 3 * 255 = 765.
const RANGE_TABLE: usize = 1024;

impl Distort for BilateralFilter {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        if self.sigma_spatial == 0.0 || self.sigma_range == 0.0 {
            return Ok(image.clone());
        }
        let radius = (2.0 * self.sigma_spatial).ceil() as usize;
        let spatial_coefficient = -1.0 / (2.0 * self.sigma_spatial * self.sigma_spatial);
        // Indexed by the L1 colour distance 0..=765, as OpenCV does for colour
        // images; padded to a power of two so a masked index needs no bounds
        // check in the inner loop.
        let mut range = [0f32; RANGE_TABLE];
        range[..766].copy_from_slice(&gaussian_of_distance(self.sigma_range * 255.0, 766));
        // A disc of taps, as OpenCV: (dx, dy) with dx^2 + dy^2 <= radius^2.
        let reach = radius as isize;
        let taps: Vec<(usize, usize, f32)> = (-reach..=reach)
            .flat_map(|dy| (-reach..=reach).map(move |dx| (dx, dy)))
            .filter(|(dx, dy)| (dx * dx + dy * dy) as usize <= radius * radius)
            .map(|(dx, dy)| {
                let squared = (dx * dx + dy * dy) as f32;
                let spatial_weight = libm::expf(spatial_coefficient * squared);
                ((dx + reach) as usize, (dy + reach) as usize, spatial_weight)
            })
            .collect();

        // Planar, border-replicated channels: every tap of a row of outputs
        // is then a contiguous slice, and the loops below vectorise except
        // for the range-table lookup.
        let planes = [0, 1, 2].map(|channel| padded_plane(image, channel, radius));
        let mut out = RgbImage::new(image.width(), image.height());
        bilateral_rows(
            &planes,
            image.width() as usize,
            radius,
            &taps,
            &range,
            &mut out,
        );
        Ok(out)
    }
}

multiversion! {
    /// The bilateral sums for every output row, from `padded_plane`s.
    fn bilateral_rows(
        planes: &[Vec<u8>; 3],
        width: usize,
        radius: usize,
        taps: &[(usize, usize, f32)],
        range: &[f32; RANGE_TABLE],
        out: &mut [u8],
    ) {
        let padded_width = width + 2 * radius;
        let mut distance = vec![0u16; width];
        let mut weight = vec![0f32; width];
        let mut sums = [0, 1, 2, 3].map(|_| vec![0f32; width]);
        for (y, out_row) in out.chunks_exact_mut(width * 3).enumerate() {
            let centre_at = (y + radius) * padded_width + radius;
            let centre = planes
                .each_ref()
                .map(|plane| &plane[centre_at..centre_at + width]);
            for sum in &mut sums {
                sum.fill(0.0);
            }
            for &(tap_x, tap_y, spatial_weight) in taps {
                let at = (y + tap_y) * padded_width + tap_x;
                let neighbour = planes.each_ref().map(|plane| &plane[at..at + width]);
                distance.fill(0);
                for (n, c) in neighbour.iter().zip(&centre) {
                    for ((d, &n), &c) in distance.iter_mut().zip(*n).zip(*c) {
                        *d += u16::from(n.abs_diff(c));
                    }
                }
                for (w, &d) in weight.iter_mut().zip(&distance) {
                    *w = spatial_weight * range[usize::from(d) & (RANGE_TABLE - 1)];
                }
                let (values, total) = sums.split_at_mut(3);
                for (sum, n) in values.iter_mut().zip(&neighbour) {
                    for ((s, &w), &n) in sum.iter_mut().zip(&weight).zip(*n) {
                        *s += w * f32::from(n);
                    }
                }
                for (t, &w) in total[0].iter_mut().zip(&weight) {
                    *t += w;
                }
            }
            // The centre tap has weight 1, so the total is never zero.
            for (x, pixel) in out_row.chunks_exact_mut(3).enumerate() {
                for (value, sum) in pixel.iter_mut().zip(&sums) {
                    *value = round_to_u8(sum[x] / sums[3][x]);
                }
            }
        }
    }
}
