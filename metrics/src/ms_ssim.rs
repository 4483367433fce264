//! MS-SSIM, the multi-scale structural similarity of Wang, Simoncelli &
//! Bovik (2003), as piq 0.8's `multi_scale_ssim` computes it on the input
//! the authors' published values were computed from:
//!
//! - MATLAB's `rgb2gray` luminance rounded to 8-bit levels, scaled to [0, 1]
//!   (K1 = 0.01, K2 = 0.03) — piq on the three RGB channels misses the
//!   official values by up to 0.05;
//! - five scales weighted 0.0448, 0.2856, 0.3001, 0.2363, 0.1333; between
//!   scales, when a side is odd one row and one column are replicated at the
//!   top and left, then 2×2 average pooling;
//! - an 11×11 Gaussian window (σ = 1.5) inside the image only; the contrast-
//!   structure term at the four finer scales and SSIM at the coarsest, each
//!   averaged over the image and clipped at 0 before the weighted product.
//!
//! Stored as the distance `1 − MS-SSIM`. The window must still fit at the
//! fifth scale: like piq, images under 161×161 (`10 · 2⁴ + 1`) are refused —
//! a 64×64 BAPPS patch cannot be scored with MS-SSIM without changing the
//! metric (fewer scales or a smaller window), which piq does not do either.

use image::RgbImage;

use crate::error::{check_pair, Result};
use crate::plane::{gaussian_taps, matlab_gray, scratch, Moments};

/// The smallest side five scales of an 11×11 window fit in.
pub const MIN_SIDE: u32 = 161;
const WEIGHTS: [f64; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
const C1: f32 = 0.01 * 0.01;
const C2: f32 = 0.03 * 0.03;

#[derive(Default)]
struct Scratch {
    gray: Vec<u8>,
    planes: [Vec<f32>; 2],
    pooled: Vec<f32>,
    moments: Moments,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = Default::default();
}

/// `1 − MS-SSIM(a, b)` (see the module docs).
pub fn ms_ssim(a: &RgbImage, b: &RgbImage) -> Result<f64> {
    check_pair(
        a,
        b,
        MIN_SIDE,
        "ms-ssim (five scales of an 11×11 window, as piq)",
    )?;
    let taps = gaussian_taps(11, 1.5);
    SCRATCH.with_borrow_mut(|s| {
        matlab_gray(a, 1.0, &mut s.gray, &mut s.planes[0]);
        matlab_gray(b, 1.0, &mut s.gray, &mut s.planes[1]);
        let (mut width, mut height) = (a.width() as usize, a.height() as usize);
        let mut product = 1.0;
        for (level, weight) in WEIGHTS.iter().enumerate() {
            if level > 0 {
                let pad = (width % 2).max(height % 2);
                for plane in &mut s.planes {
                    pool_replicating_top_left(plane, width, height, pad, &mut s.pooled);
                    std::mem::swap(plane, &mut s.pooled);
                }
                (width, height) = ((width + pad) / 2, (height + pad) / 2);
            }
            let (ssim, cs) = level_means(s, width, height, &taps);
            let value = if level + 1 == WEIGHTS.len() { ssim } else { cs };
            product *= value.max(0.0).powf(*weight);
        }
        Ok(1.0 - product)
    })
}

/// The plane with `pad` rows and columns replicated at its top and left,
/// 2×2-average-pooled (piq's `F.pad(mode='replicate')` then `avg_pool2d`).
fn pool_replicating_top_left(
    plane: &[f32],
    width: usize,
    height: usize,
    pad: usize,
    out: &mut Vec<f32>,
) {
    let (out_width, out_height) = ((width + pad) / 2, (height + pad) / 2);
    let out = scratch(out, out_width * out_height);
    let source = |padded: usize| padded.saturating_sub(pad);
    for (y, dst) in out.chunks_exact_mut(out_width).enumerate() {
        let (top, bottom) = (
            &plane[source(2 * y) * width..][..width],
            &plane[source(2 * y + 1) * width..][..width],
        );
        for (x, value) in dst.iter_mut().enumerate() {
            let (left, right) = (source(2 * x), source(2 * x + 1));
            *value = (top[left] + top[right] + bottom[left] + bottom[right]) * 0.25;
        }
    }
}

/// The means over the image of the SSIM map and of the contrast-structure
/// map of `s.planes` at one scale.
fn level_means(s: &mut Scratch, width: usize, height: usize, taps: &[f32]) -> (f64, f64) {
    let [x, y] = &s.planes;
    s.moments.compute(x, y, width, height, taps);
    let [mu_x, mu_y, xx, yy, xy] = &s.moments.maps;
    let (mut ssim, mut cs) = (0.0f64, 0.0f64);
    for i in 0..mu_x.len() {
        let (mx, my) = (mu_x[i], mu_y[i]);
        let (mxx, myy, mxy) = (mx * mx, my * my, mx * my);
        let contrast_structure = (2.0 * (xy[i] - mxy) + C2) / ((xx[i] - mxx) + (yy[i] - myy) + C2);
        let luminance = (2.0 * mxy + C1) / (mxx + myy + C1);
        cs += f64::from(contrast_structure);
        ssim += f64::from(luminance * contrast_structure);
    }
    let count = mu_x.len() as f64;
    (ssim / count, cs / count)
}
