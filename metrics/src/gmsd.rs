//! GMSD, the Gradient Magnitude Similarity Deviation of Xue et al. (2014),
//! as piq 0.8's `gmsd` computes it (which is the authors' MATLAB code) on
//! the input the authors' published values were computed from:
//!
//! - MATLAB's `rgb2gray` luminance, rounded to 8-bit levels, scaled to
//!   [0, 1] — piq's own unrounded YIQ luminance misses the official values
//!   of nearly identical pairs by half (0.00028 for 0.0005 on pyiqa's I04);
//! - when a side is odd, one row and one column of zeros are added at the
//!   bottom and right (piq's `F.pad`), then 2×2 average pooling;
//! - Prewitt gradients (`[-1, 0, 1]` × `[1, 1, 1] / 3`) with zero padding;
//! - the similarity map `(2 m_a m_b + T) / (m_a² + m_b² + T)`,
//!   `T = 170 / 255²`, and its population standard deviation.
//!
//! Already a distance (0 for identical images); any size of at least 1×1.

use image::RgbImage;

use crate::error::{check_pair, Result};
use crate::plane::{average_pool_2, gradient_magnitude, matlab_gray, scratch, similarity};

const T: f32 = 170.0 / (255.0 * 255.0);
const PREWITT: [f32; 3] = [1.0 / 3.0; 3];

#[derive(Default)]
struct Scratch {
    luma: Vec<f32>,
    padded: Vec<f32>,
    pooled: [Vec<f32>; 2],
    gradient: [Vec<f32>; 2],
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = Default::default();
}

/// GMSD of two images (see the module docs).
pub fn gmsd(a: &RgbImage, b: &RgbImage) -> Result<f64> {
    check_pair(a, b, 1, "gmsd")?;
    SCRATCH.with_borrow_mut(|s| {
        let (width, height) = (a.width() as usize, a.height() as usize);
        let pad = (width % 2).max(height % 2);
        let (padded_width, padded_height) = (width + pad, height + pad);
        for (image, (pooled, gradient)) in [a, b]
            .into_iter()
            .zip(s.pooled.iter_mut().zip(s.gradient.iter_mut()))
        {
            matlab_gray(image, 1.0, &mut s.luma);
            let padded = scratch(&mut s.padded, padded_width * padded_height);
            padded.fill(0.0);
            for (dst, src) in padded
                .chunks_exact_mut(padded_width)
                .zip(s.luma.chunks_exact(width))
            {
                dst[..width].copy_from_slice(src);
            }
            average_pool_2(padded, padded_width, padded_height, pooled);
            gradient_magnitude(
                pooled,
                padded_width / 2,
                padded_height / 2,
                PREWITT,
                gradient,
            );
        }
        let [ga, gb] = &s.gradient;
        let count = ga.len() as f64;
        let map = || {
            ga.iter()
                .zip(gb)
                .map(|(&x, &y)| f64::from(similarity(x, y, T)))
        };
        let mean = map().sum::<f64>() / count;
        let variance = map().map(|v| (v - mean).powi(2)).sum::<f64>() / count;
        Ok(variance.sqrt())
    })
}
