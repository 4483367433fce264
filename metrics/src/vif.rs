//! VIFp, the pixel-domain Visual Information Fidelity of Sheikh & Bovik
//! (2006), as piq 0.8's `vif_p` computes it (after the authors' `vifp_mscale.m`):
//!
//! - luminance `Y = 0.299 R + 0.587 G + 0.114 B` on levels in [0, 255];
//! - four scales; scale `s` uses a Gaussian window of side `2^(4-s) + 1` and
//!   σ = side / 5, and scales after the first are the previous one filtered
//!   with that window (inside the image only) and subsampled by 2;
//! - local statistics inside the image only, negative variances clipped, the
//!   published guards against vanishing variances (ε = 1e-8) and the noise
//!   variance σ_n² = 2;
//! - VIF = (Σ log10(1 + g² σ_y² / (σ_v² + σ_n²)) + ε) / (Σ log10(1 + σ_y² / σ_n²) + ε)
//!   over all scales, with `y` the first (reference) image.
//!
//! Stored as the distance `1 − VIF`. piq refuses images under 41×41 (the
//! coarsest scale's window no longer fits), and so does this.

use image::RgbImage;

use crate::error::{check_pair, Result};
use crate::plane::{gaussian_taps, yiq_component, Moments};

/// The smallest side piq's `vif_p` accepts.
pub const MIN_SIDE: u32 = 41;
const EPS: f32 = 1e-8;
const SIGMA_N_SQ: f32 = 2.0;

#[derive(Default)]
struct Scratch {
    planes: [Vec<f32>; 2],
    moments: Moments,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = Default::default();
}

/// `1 − VIFp(reference, distorted)` (see the module docs).
pub fn vif(reference: &RgbImage, distorted: &RgbImage) -> Result<f64> {
    check_pair(reference, distorted, MIN_SIDE, "vif (four scales)")?;
    SCRATCH.with_borrow_mut(|s| {
        // piq's `x` is the distorted image and `y` the reference.
        yiq_component(distorted, 0, 255.0, &mut s.planes[0]);
        yiq_component(reference, 0, 255.0, &mut s.planes[1]);
        // VIF depends on (co)variances only, which a constant shift leaves
        // alone: centring each plane keeps E[x²] − μ² from cancelling away
        // float32's precision (piq, uncentred in float32, is off by up to
        // 8e-4 from its own float64 result on smooth images).
        for plane in &mut s.planes {
            let mean = plane.iter().map(|&v| f64::from(v)).sum::<f64>() / plane.len() as f64;
            for v in plane.iter_mut() {
                *v -= mean as f32;
            }
        }
        let (mut width, mut height) = (reference.width() as usize, reference.height() as usize);
        let (mut numerator, mut denominator) = (0.0f64, 0.0f64);
        for scale in 0..4 {
            let side = (1 << (4 - scale)) + 1;
            let taps = gaussian_taps(side, side as f64 / 5.0);
            if scale > 0 {
                let [x, y] = &mut s.planes;
                s.moments.filter_and_subsample(x, width, height, &taps);
                (width, height) = s.moments.filter_and_subsample(y, width, height, &taps);
            }
            let [x, y] = &s.planes;
            s.moments.compute(x, y, width, height, &taps);
            let (scale_numerator, scale_denominator) = scale_sums(&s.moments.maps);
            numerator += scale_numerator;
            denominator += scale_denominator;
        }
        let eps = f64::from(EPS);
        Ok(1.0 - (numerator + eps) / (denominator + eps))
    })
}

/// One scale's two sums, from the windowed moments of `x` (distorted) and
/// `y` (reference), with piq's guards.
fn scale_sums(moments: &[Vec<f32>; 5]) -> (f64, f64) {
    let [mu_x, mu_y, xx, yy, xy] = moments;
    let (mut numerator, mut denominator) = (0.0f64, 0.0f64);
    for i in 0..mu_x.len() {
        let sigma_x_sq = (xx[i] - mu_x[i] * mu_x[i]).max(0.0);
        let mut sigma_y_sq = (yy[i] - mu_y[i] * mu_y[i]).max(0.0);
        let sigma_xy = xy[i] - mu_x[i] * mu_y[i];
        let mut g = sigma_xy / (sigma_y_sq + EPS);
        let mut sigma_v_sq = sigma_x_sq - g * sigma_xy;
        if sigma_y_sq < EPS {
            g = 0.0;
            sigma_v_sq = sigma_x_sq;
            sigma_y_sq = 0.0;
        }
        if sigma_x_sq < EPS {
            g = 0.0;
            sigma_v_sq = 0.0;
        }
        if g < 0.0 {
            sigma_v_sq = sigma_x_sq;
            g = 0.0;
        }
        if sigma_v_sq <= EPS {
            sigma_v_sq = EPS;
        }
        numerator += f64::from((1.0 + g * g * sigma_y_sq / (sigma_v_sq + SIGMA_N_SQ)).log10());
        denominator += f64::from((1.0 + sigma_y_sq / SIGMA_N_SQ).log10());
    }
    (numerator, denominator)
}
