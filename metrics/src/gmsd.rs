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
//!
//! GMSD is cheap enough that the MATLAB luminance dominates it (issue 18
//! asks for 5× piq's pairs/s; a plain per-pixel float64 conversion left it
//! at 2.7×), so the computation is laid out for vectorisation: each pair of
//! image rows goes to gray levels (in 32-bit fixed point, exactly MATLAB's
//! levels: see `plane::matlab_gray_row`) and straight into the pooled plane,
//! stored with the zero border the gradient needs; both gradients and the
//! similarity are one pass over rows; the float64 mean and deviation sum
//! eight interleaved partial sums (the similarity map has the same bits as
//! before; only the sums' rounding differs from one running sum's). The
//! same source is compiled twice, for baseline x86-64 and for AVX2 (chosen
//! at run time, as builds target baseline x86-64): no instruction set
//! changes an operation or its order (Rust never fuses a multiply-add), so
//! both give the same bits, which a test checks.

use image::RgbImage;

use crate::error::{check_pair, Result};
use crate::plane::{gradient_row, matlab_gray_row, scratch, similarity};

const T: f32 = 170.0 / (255.0 * 255.0);
const PREWITT: [f32; 3] = [1.0 / 3.0; 3];

#[derive(Default)]
struct Scratch {
    /// The gray levels of the two image rows under a pooled row.
    gray_rows: [Vec<u8>; 2],
    /// Each image's pooled plane with a zero border of one pixel.
    pooled: [Vec<f32>; 2],
    /// Each image's gradient magnitude along one pooled row.
    gradient_rows: [Vec<f32>; 2],
    /// The gradient magnitude similarity map.
    similarity: Vec<f32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = Default::default();
}

/// GMSD of two images (see the module docs).
pub fn gmsd(a: &RgbImage, b: &RgbImage) -> Result<f64> {
    check_pair(a, b, 1, "gmsd")?;
    Ok(SCRATCH.with_borrow_mut(|s| {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { deviation_avx2(a, b, s) };
        }
        deviation(a, b, s)
    }))
}

/// [`deviation`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn deviation_avx2(a: &RgbImage, b: &RgbImage, s: &mut Scratch) -> f64 {
    deviation(a, b, s)
}

/// GMSD of two images of the same size; inlined into each instruction
/// set's entry point, as is everything it calls.
#[inline(always)]
fn deviation(a: &RgbImage, b: &RgbImage, s: &mut Scratch) -> f64 {
    let (width, height) = (a.width() as usize, a.height() as usize);
    let pad = (width % 2).max(height % 2);
    let (pooled_width, pooled_height) = ((width + pad) / 2, (height + pad) / 2);
    for (image, pooled) in [a, b].into_iter().zip(s.pooled.iter_mut()) {
        pool_gray_levels(image, pooled_width, pooled_height, &mut s.gray_rows, pooled);
    }
    let map = scratch(&mut s.similarity, pooled_width * pooled_height);
    let [ga, gb] = &mut s.gradient_rows;
    let (ga, gb) = (scratch(ga, pooled_width), scratch(gb, pooled_width));
    for (y, row) in map.chunks_exact_mut(pooled_width).enumerate() {
        gradient_row(&s.pooled[0], pooled_width, y, PREWITT, ga);
        gradient_row(&s.pooled[1], pooled_width, y, PREWITT, gb);
        for ((value, &magnitude_a), &magnitude_b) in row.iter_mut().zip(&*ga).zip(&*gb) {
            *value = similarity(magnitude_a, magnitude_b, T);
        }
    }
    let count = map.len() as f64;
    let mean = sum(map, |v| v) / count;
    let variance = sum(map, |v| (v - mean) * (v - mean)) / count;
    variance.sqrt()
}

/// MATLAB gray levels of `image`, 2×2 average pooled and scaled to [0, 1],
/// with zeros below and right of the image (piq's `F.pad` before
/// `avg_pool2d`), into `out` with a zero border of one pixel.
#[inline(always)]
fn pool_gray_levels(
    image: &RgbImage,
    pooled_width: usize,
    pooled_height: usize,
    gray_rows: &mut [Vec<u8>; 2],
    out: &mut Vec<f32>,
) {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let padded_width = pooled_width + 2;
    let out = scratch(out, padded_width * (pooled_height + 2));
    out[..padded_width].fill(0.0);
    out[(pooled_height + 1) * padded_width..].fill(0.0);
    let [top, bottom] = gray_rows;
    for row in [&mut *top, &mut *bottom] {
        // Past `width`, at most the one padding column: zero for good.
        row.clear();
        row.resize(2 * pooled_width, 0);
    }
    let rgb_row = |y: usize| &image.as_raw()[3 * width * y..3 * width * (y + 1)];
    for (y, dst) in out[padded_width..]
        .chunks_exact_mut(padded_width)
        .take(pooled_height)
        .enumerate()
    {
        matlab_gray_row(rgb_row(2 * y), top);
        if 2 * y + 1 < height {
            matlab_gray_row(rgb_row(2 * y + 1), bottom);
        } else {
            bottom.fill(0);
        }
        dst[0] = 0.0;
        dst[pooled_width + 1] = 0.0;
        for ((value, t), b) in dst[1..=pooled_width]
            .iter_mut()
            .zip(top.chunks_exact(2))
            .zip(bottom.chunks_exact(2))
        {
            let sum = u16::from(t[0]) + u16::from(t[1]) + u16::from(b[0]) + u16::from(b[1]);
            *value = f32::from(sum) * (0.25 / 255.0);
        }
    }
}

/// The float64 sum of `f` over `values`, in eight interleaved partial sums
/// added pairwise at the end: a fixed order (so the same bits on every
/// instruction set) that vectorises, where one running sum would wait on
/// each addition.
#[inline(always)]
fn sum(values: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    const LANES: usize = 8;
    let mut partial = [0.0f64; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (p, &v) in partial.iter_mut().zip(chunk) {
            *p += f(f64::from(v));
        }
    }
    for (p, &v) in partial.iter_mut().zip(rest) {
        *p += f(f64::from(v));
    }
    let [a, b, c, d, e, f, g, h] = partial;
    ((a + b) + (c + d)) + ((e + f) + (g + h))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic images of every parity of width and height, smooth and
    /// noisy, so that both paths meet padding, tails and vector bodies.
    fn test_pairs() -> Vec<(RgbImage, RgbImage)> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut pairs = Vec::new();
        for (width, height) in [
            (1, 1),
            (2, 3),
            (7, 5),
            (17, 16),
            (64, 64),
            (63, 64),
            (64, 61),
            (97, 33),
        ] {
            let reference = RgbImage::from_fn(width, height, |x, y| {
                image::Rgb([(x * 7 + y * 3) as u8, (x * y) as u8, (255 - x - y) as u8])
            });
            let mut distorted = reference.clone();
            for v in distorted.iter_mut() {
                *v = v.saturating_add((next() % 40) as u8).saturating_sub(20);
            }
            let noise = RgbImage::from_fn(width, height, |_, _| {
                let n = next();
                image::Rgb([n as u8, (n >> 8) as u8, (n >> 16) as u8])
            });
            pairs.push((reference.clone(), distorted));
            pairs.push((reference, noise));
        }
        pairs
    }

    #[test]
    fn identical_images_deviate_by_zero() {
        for (a, _) in test_pairs() {
            assert_eq!(gmsd(&a, &a).unwrap(), 0.0);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_path_gives_the_baseline_bits() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 on this CPU: only the baseline path runs");
            return;
        }
        let mut s = Scratch::default();
        for (a, b) in test_pairs() {
            let baseline = deviation(&a, &b, &mut s);
            // SAFETY: the CPU has AVX2.
            let avx2 = unsafe { deviation_avx2(&a, &b, &mut s) };
            if a.width().min(a.height()) >= 4 {
                assert!(baseline > 0.0, "{}x{}", a.width(), a.height());
            }
            assert_eq!(
                baseline.to_bits(),
                avx2.to_bits(),
                "{}x{}",
                a.width(),
                a.height()
            );
        }
    }
}
