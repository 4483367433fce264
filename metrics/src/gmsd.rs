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
use crate::plane::{gradient_magnitude, matlab_gray_levels, scratch, similarity};

const T: f32 = 170.0 / (255.0 * 255.0);
const PREWITT: [f32; 3] = [1.0 / 3.0; 3];

#[derive(Default)]
struct Scratch {
    gray: Vec<u8>,
    pooled: Vec<f32>,
    padded: Vec<f32>,
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
        let (pooled_width, pooled_height) = ((width + pad) / 2, (height + pad) / 2);
        for (image, gradient) in [a, b].into_iter().zip(s.gradient.iter_mut()) {
            matlab_gray_levels(image, &mut s.gray);
            pool_zero_padded(
                &s.gray,
                width,
                height,
                pooled_width,
                pooled_height,
                &mut s.pooled,
            );
            gradient_magnitude(
                &s.pooled,
                pooled_width,
                pooled_height,
                PREWITT,
                &mut s.padded,
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

/// 2×2 average pooling of gray levels scaled to [0, 1], with zeros below and
/// right of the image (piq's `F.pad` before `avg_pool2d`).
fn pool_zero_padded(
    gray: &[u8],
    width: usize,
    height: usize,
    pooled_width: usize,
    pooled_height: usize,
    out: &mut Vec<f32>,
) {
    let out = scratch(out, pooled_width * pooled_height);
    let at = |x: usize, y: usize| -> u32 {
        if x < width && y < height {
            u32::from(gray[y * width + x])
        } else {
            0
        }
    };
    for (y, row) in out.chunks_exact_mut(pooled_width).enumerate() {
        let (top, bottom) = (2 * y, 2 * y + 1);
        for (x, value) in row.iter_mut().enumerate() {
            let (left, right) = (2 * x, 2 * x + 1);
            let sum = if right < width && bottom < height {
                let (t, b) = (&gray[top * width + left..], &gray[bottom * width + left..]);
                u32::from(t[0]) + u32::from(t[1]) + u32::from(b[0]) + u32::from(b[1])
            } else {
                at(left, top) + at(right, top) + at(left, bottom) + at(right, bottom)
            };
            *value = sum as f32 * (0.25 / 255.0);
        }
    }
}
