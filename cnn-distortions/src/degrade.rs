//! A task's input: the clean patch degraded the way the network learnt to
//! undo. Everything here is integer arithmetic or the `distortions` crate,
//! so the network's input is byte-identical on every machine; only the
//! network itself is floating point.

use distortions::image::{Rgb, RgbImage};
use distortions::{Distortion, GaussianBlur, GaussianNoise, Jpeg, PinkNoise, Pipeline, Saturation};

use crate::error::Result;
use crate::spec::{Noise, Task};

/// The network input for `patch` under `task`; `seed` drives the noise of
/// denoising tasks (the other degradations are not random).
pub fn degrade(task: &Task, patch: &RgbImage, seed: u64) -> Result<RgbImage> {
    let step = match *task {
        Task::Autoencoding => return Ok(patch.clone()),
        Task::SuperResolution { factor } => return Ok(resample_down_up(patch, factor)),
        Task::Denoising {
            noise: Noise::White,
            sigma,
        } => Distortion::GaussianNoise(GaussianNoise { sigma }),
        Task::Denoising {
            noise: Noise::Pink,
            sigma,
        } => Distortion::PinkNoise(PinkNoise { sigma }),
        Task::Colorization => Distortion::Saturation(Saturation { factor: 0.0 }),
        Task::Deblurring { sigma } => Distortion::GaussianBlur(GaussianBlur { sigma }),
        Task::JpegArtifactRemoval { quality } => Distortion::Jpeg(Jpeg { quality }),
    };
    Ok(Pipeline::new(vec![step]).apply(patch, seed)?)
}

/// Box-averages `factor`×`factor` blocks, then resizes back up bilinearly
/// (half-pixel centres, edges clamped, like OpenCV's `INTER_LINEAR`). The
/// bilinear weights are multiples of 1/(2·factor), so integer sums with a
/// single rounded division give exact results. Sides must be multiples of
/// `factor` (checked by the caller through the spec's side multiple).
fn resample_down_up(patch: &RgbImage, factor: u32) -> RgbImage {
    let (width, height) = patch.dimensions();
    let (small_width, small_height) = (width / factor, height / factor);
    let block = factor * factor;
    let small: Vec<[u32; 3]> = (0..small_height)
        .flat_map(|sy| (0..small_width).map(move |sx| (sx, sy)))
        .map(|(sx, sy)| {
            let mut sum = [0u32; 3];
            for y in sy * factor..(sy + 1) * factor {
                for x in sx * factor..(sx + 1) * factor {
                    let pixel = patch.get_pixel(x, y).0;
                    for c in 0..3 {
                        sum[c] += u32::from(pixel[c]);
                    }
                }
            }
            sum.map(|s| (s + block / 2) / block)
        })
        .collect();
    let x_taps: Vec<Tap> = (0..width)
        .map(|x| Tap::new(x, factor, small_width))
        .collect();
    let y_taps: Vec<Tap> = (0..height)
        .map(|y| Tap::new(y, factor, small_height))
        .collect();
    let denominator = (2 * factor) * (2 * factor);
    RgbImage::from_fn(width, height, |x, y| {
        let (tx, ty) = (x_taps[x as usize], y_taps[y as usize]);
        let at = |sx: u32, sy: u32| small[(sy * small_width + sx) as usize];
        let corners = [
            (at(tx.low, ty.low), tx.low_weight * ty.low_weight),
            (at(tx.high, ty.low), tx.high_weight * ty.low_weight),
            (at(tx.low, ty.high), tx.low_weight * ty.high_weight),
            (at(tx.high, ty.high), tx.high_weight * ty.high_weight),
        ];
        let mut pixel = [0u8; 3];
        for (c, level) in pixel.iter_mut().enumerate() {
            let sum: u32 = corners
                .iter()
                .map(|(value, weight)| value[c] * weight)
                .sum();
            *level = ((sum + denominator / 2) / denominator) as u8;
        }
        Rgb(pixel)
    })
}

/// One output coordinate's two source samples and their weights out of
/// 2·factor.
#[derive(Clone, Copy)]
struct Tap {
    low: u32,
    high: u32,
    low_weight: u32,
    high_weight: u32,
}

impl Tap {
    fn new(output: u32, factor: u32, small_len: u32) -> Self {
        // The source position (output + 1/2) / factor - 1/2, in units of
        // 1/(2·factor): 2·output + 1 - factor.
        let scaled = i64::from(2 * output + 1) - i64::from(factor);
        let span = i64::from(2 * factor);
        let low = scaled.div_euclid(span);
        let high_weight = scaled.rem_euclid(span) as u32;
        let last = i64::from(small_len) - 1;
        Self {
            low: low.clamp(0, last) as u32,
            high: (low + 1).clamp(0, last) as u32,
            low_weight: 2 * factor - high_weight,
            high_weight,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_up_keeps_flat_images_and_smooths_steps() {
        let flat = RgbImage::from_pixel(16, 8, Rgb([10, 200, 77]));
        assert_eq!(resample_down_up(&flat, 4), flat);
        // A vertical edge at x = 8 becomes a ramp after ×4 down and up.
        let edge = RgbImage::from_fn(16, 4, |x, _| Rgb([if x < 8 { 0 } else { 240 }; 3]));
        let smoothed = resample_down_up(&edge, 4);
        let row: Vec<u8> = (0..16).map(|x| smoothed.get_pixel(x, 0)[0]).collect();
        assert_eq!(row[0], 0);
        assert_eq!(row[15], 240);
        assert!(row.windows(2).all(|pair| pair[0] <= pair[1]), "{row:?}");
        assert!(row.iter().any(|&v| v > 0 && v < 240), "{row:?}");
    }

    #[test]
    fn only_denoising_depends_on_the_seed() {
        let patch = RgbImage::from_fn(16, 16, |x, y| Rgb([(x * 15) as u8, (y * 15) as u8, 90]));
        let noisy = Task::Denoising {
            noise: Noise::White,
            sigma: 0.05,
        };
        assert_ne!(
            degrade(&noisy, &patch, 1).unwrap(),
            degrade(&noisy, &patch, 2).unwrap()
        );
        let blurred = Task::Deblurring { sigma: 1.5 };
        assert_eq!(
            degrade(&blurred, &patch, 1).unwrap(),
            degrade(&blurred, &patch, 2).unwrap()
        );
        let grey = degrade(&Task::Colorization, &patch, 0).unwrap();
        assert!(grey.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
    }
}
