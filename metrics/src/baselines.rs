//! The LPIPS paper's low-level baselines as the official harness computes
//! them (the `lpips` package's `Trainer(model='l2'|'ssim')` networks `L2`
//! and `DSSIM` fed by the BAPPS loaders), plus PSNR and the SSIM of Wang et
//! al.'s reference MATLAB code.
//!
//! **The harness's rounding quirk.** The BAPPS loaders turn an 8-bit level
//! `v` into `(v / 255 - 0.5) / 0.5` in float32, and `L2` in Lab and `DSSIM`
//! go back to pixels with `tensor2im`, `((t + 1) * 127.5).astype(uint8)`:
//! the float32 round trip lands just below the integer for levels 1–63 and
//! the cast truncates, so those come back one lower (see [`harness_level`];
//! in dark images that is most pixels). The published BAPPS baseline numbers were computed
//! that way, so `l2` in Lab and `dssim` apply the same mapping before
//! converting to Lab or computing SSIM; `l2` in RGB compares the float32
//! loader values directly, as `L2` does. Comparing the exact pixels instead
//! moves JND mAPs by about 5e-4 — below any interval a study reports, so no
//! exact-pixel variant is offered: one name, one definition, the one behind
//! the published numbers.

use image::RgbImage;

use crate::error::{check_pair, MetricError, Result};
use crate::plane::matlab_gray_level;

/// Which pixels SSIM compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColorSpace {
    /// 8-bit sRGB levels, dynamic range 255.
    Rgb,
    /// CIELAB (D65, 2°) as computed by scikit-image's `rgb2lab`, range 100.
    Lab,
}

/// The level the official harness hands to `L2` (Lab) and `DSSIM` for an
/// 8-bit level `v`: the loader's float32 `(v / 255 - 0.5) / 0.5`, then
/// `tensor2im`'s float32 `(t + 1) * 127.5` truncated to an integer.
pub fn harness_level(v: u8) -> u8 {
    let t = (loader_value(v) + 1.0) * 127.5;
    t as u8
}

/// The BAPPS loader's float32 value for a level: `ToTensor` then
/// `Normalize(0.5, 0.5)`.
fn loader_value(v: u8) -> f32 {
    (f32::from(v) / 255.0 - 0.5) / 0.5
}

/// `image` with every level replaced by [`harness_level`].
fn as_harness_sees(image: &RgbImage) -> RgbImage {
    let levels: [u8; 256] = std::array::from_fn(|v| harness_level(v as u8));
    let mut out = image.clone();
    for v in out.iter_mut() {
        *v = levels[usize::from(*v)];
    }
    out
}

/// The official `L2` network: in RGB, the mean squared difference of the
/// loader's float32 values in [-1, 1]; in Lab, of the harness's levels (see
/// the module docs), `0.5 * mean(((lab0 - lab1) / 100)^2)`.
pub fn l2(a: &RgbImage, b: &RgbImage, space: ColorSpace) -> Result<f64> {
    check_same_size(a, b)?;
    Ok(match space {
        ColorSpace::Rgb => {
            let to_unit = |v: u8| f64::from(loader_value(v));
            mean(
                a.as_raw()
                    .iter()
                    .zip(b.as_raw())
                    .map(|(&x, &y)| (to_unit(x) - to_unit(y)).powi(2)),
            )
        }
        ColorSpace::Lab => {
            let (lab_a, lab_b) = (
                rgb_to_lab(&as_harness_sees(a)),
                rgb_to_lab(&as_harness_sees(b)),
            );
            0.5 * mean(
                lab_a
                    .iter()
                    .zip(&lab_b)
                    .map(|(x, y)| (x / 100.0 - y / 100.0).powi(2)),
            )
        }
    })
}

/// The official `DSSIM` network on the harness's levels (see the module
/// docs): `(1 - SSIM) / 2`, with scikit-image's default SSIM (7×7 uniform
/// window, sample covariance, the mean over windows inside the image,
/// averaged over the three channels).
pub fn dssim(a: &RgbImage, b: &RgbImage, space: ColorSpace) -> Result<f64> {
    check_same_size(a, b)?;
    check_fits_window(a, &Window::SCIKIT_IMAGE)?;
    let (a, b) = (&as_harness_sees(a), &as_harness_sees(b));
    let (planes_a, planes_b, range) = match space {
        ColorSpace::Rgb => (
            a.as_raw().iter().map(|&v| f64::from(v)).collect(),
            b.as_raw().iter().map(|&v| f64::from(v)).collect(),
            255.0,
        ),
        ColorSpace::Lab => (rgb_to_lab(a), rgb_to_lab(b), 100.0),
    };
    let (width, height) = (a.width() as usize, a.height() as usize);
    let channel_ssim = (0..3).map(|channel| {
        let plane = |data: &[f64]| {
            data.iter()
                .skip(channel)
                .step_by(3)
                .copied()
                .collect::<Vec<_>>()
        };
        mean_ssim(
            &plane(&planes_a),
            &plane(&planes_b),
            width,
            height,
            range,
            Window::SCIKIT_IMAGE,
        )
    });
    Ok((1.0 - channel_ssim.sum::<f64>() / 3.0) / 2.0)
}

/// The official `psnr`: `10 log10(255^2 / MSE)` over the 8-bit RGB levels
/// (infinite for identical images).
pub fn psnr(a: &RgbImage, b: &RgbImage) -> Result<f64> {
    check_same_size(a, b)?;
    let mse = mean(
        a.as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)),
    );
    Ok(10.0 * (255.0f64.powi(2) / mse).log10())
}

/// SSIM as in Wang et al.'s `ssim.m` (11×11 Gaussian window, σ = 1.5, windows
/// inside the image only, no downsampling) on MATLAB's `rgb2gray` luminance.
/// This is the definition of the SSIM row in pyiqa's calibration table.
pub fn ssim_gray(a: &RgbImage, b: &RgbImage) -> Result<f64> {
    check_same_size(a, b)?;
    check_fits_window(a, &Window::WANG)?;
    Ok(mean_ssim(
        &matlab_gray(a),
        &matlab_gray(b),
        a.width() as usize,
        a.height() as usize,
        255.0,
        Window::WANG,
    ))
}

fn check_same_size(a: &RgbImage, b: &RgbImage) -> Result<()> {
    check_pair(a, b, 1, "a baseline")
}

fn check_fits_window(image: &RgbImage, window: &Window) -> Result<()> {
    let side = window.side as u32;
    if image.width() < side || image.height() < side {
        return Err(too_small(image, side, "the SSIM window"));
    }
    Ok(())
}

fn too_small(image: &RgbImage, min_side: u32, needed_by: &str) -> MetricError {
    MetricError::TooSmall {
        width: image.width(),
        height: image.height(),
        needed_by: needed_by.to_owned(),
        min_side,
    }
}

fn mean(values: impl ExactSizeIterator<Item = f64>) -> f64 {
    let count = values.len();
    values.sum::<f64>() / count as f64
}

/// MATLAB's `rgb2gray` luminance levels.
fn matlab_gray(image: &RgbImage) -> Vec<f64> {
    image
        .pixels()
        .map(|p| f64::from(matlab_gray_level(p.0)))
        .collect()
}

/// scikit-image's `rgb2lab` (sRGB → linear → XYZ → Lab, D65 2° white),
/// interleaved L, a, b per pixel.
fn rgb_to_lab(image: &RgbImage) -> Vec<f64> {
    const XYZ_FROM_RGB: [[f64; 3]; 3] = [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ];
    const WHITE: [f64; 3] = [0.95047, 1.0, 1.08883];
    let linear = |v: u8| {
        let c = f64::from(v) / 255.0;
        if c > 0.04045 {
            ((c + 0.055) / 1.055).powf(2.4)
        } else {
            c / 12.92
        }
    };
    let f = |t: f64| {
        if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    image
        .pixels()
        .flat_map(|p| {
            let rgb = p.0.map(linear);
            let [fx, fy, fz] = [0, 1, 2].map(|row| {
                let xyz = (0..3)
                    .map(|col| rgb[col] * XYZ_FROM_RGB[row][col])
                    .sum::<f64>();
                f(xyz / WHITE[row])
            });
            [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
        })
        .collect()
}

/// The smallest side [`dssim`] takes: its 7×7 window must fit.
pub const DSSIM_MIN_SIDE: u32 = Window::SCIKIT_IMAGE.side as u32;

/// A separable SSIM window.
struct Window {
    side: usize,
    /// Gaussian σ, or `None` for a uniform window.
    sigma: Option<f64>,
    /// Scales the variances and covariance: n/(n-1) for scikit-image's
    /// sample covariance, 1 for a weighted population estimate.
    unbiased: bool,
}

impl Window {
    const SCIKIT_IMAGE: Window = Window {
        side: 7,
        sigma: None,
        unbiased: true,
    };
    const WANG: Window = Window {
        side: 11,
        sigma: Some(1.5),
        unbiased: false,
    };

    fn weights(&self) -> Vec<f64> {
        let center = (self.side / 2) as f64;
        let raw: Vec<f64> = (0..self.side)
            .map(|i| match self.sigma {
                Some(sigma) => (-((i as f64 - center).powi(2)) / (2.0 * sigma * sigma)).exp(),
                None => 1.0,
            })
            .collect();
        let total: f64 = raw.iter().sum();
        raw.into_iter().map(|w| w / total).collect()
    }
}

/// Mean SSIM over every window position that lies inside the image (callers
/// check there is one), with K1 = 0.01 and K2 = 0.03.
fn mean_ssim(a: &[f64], b: &[f64], width: usize, height: usize, range: f64, window: Window) -> f64 {
    let weights = window.weights();
    let filter = |plane: &[f64]| filter_valid(plane, width, height, &weights);
    let products = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| p * q).collect::<Vec<_>>();
    let (mu_a, mu_b) = (filter(a), filter(b));
    let (aa, bb, ab) = (
        filter(&products(a, a)),
        filter(&products(b, b)),
        filter(&products(a, b)),
    );
    let n = (window.side * window.side) as f64;
    let cov_norm = if window.unbiased { n / (n - 1.0) } else { 1.0 };
    let c1 = (0.01 * range).powi(2);
    let c2 = (0.03 * range).powi(2);
    let map = (0..mu_a.len()).map(|i| {
        let var_a = cov_norm * (aa[i] - mu_a[i] * mu_a[i]);
        let var_b = cov_norm * (bb[i] - mu_b[i] * mu_b[i]);
        let cov = cov_norm * (ab[i] - mu_a[i] * mu_b[i]);
        ((2.0 * mu_a[i] * mu_b[i] + c1) * (2.0 * cov + c2))
            / ((mu_a[i].powi(2) + mu_b[i].powi(2) + c1) * (var_a + var_b + c2))
    });
    mean(map)
}

/// Correlates a row-major plane with the separable window `weights ⊗ weights`
/// at every position where the window fits ("valid" mode).
fn filter_valid(plane: &[f64], width: usize, height: usize, weights: &[f64]) -> Vec<f64> {
    let side = weights.len();
    let (out_width, out_height) = (width - side + 1, height - side + 1);
    let rows: Vec<f64> = (0..height)
        .flat_map(|y| {
            let row = &plane[y * width..(y + 1) * width];
            (0..out_width).map(move |x| {
                row[x..x + side]
                    .iter()
                    .zip(weights)
                    .map(|(v, w)| v * w)
                    .sum()
            })
        })
        .collect();
    (0..out_height)
        .flat_map(|y| {
            let rows = &rows;
            (0..out_width).map(move |x| {
                (0..side)
                    .map(|k| rows[(y + k) * out_width + x] * weights[k])
                    .sum()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: u32, height: u32, offset: u8) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([
                (x * 7) as u8,
                (y * 5) as u8,
                ((x + y) as u8).wrapping_add(offset),
            ])
        })
    }

    #[test]
    fn identical_images_are_at_zero_distance() {
        let image = gradient(20, 16, 0);
        for space in [ColorSpace::Rgb, ColorSpace::Lab] {
            assert_eq!(l2(&image, &image, space).unwrap(), 0.0);
            assert!(dssim(&image, &image, space).unwrap().abs() < 1e-12);
        }
        assert!((ssim_gray(&image, &image).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(psnr(&image, &image).unwrap(), f64::INFINITY);
    }

    #[test]
    fn psnr_and_l2_of_a_uniform_offset() {
        let (a, b) = (
            RgbImage::from_pixel(4, 4, image::Rgb([10; 3])),
            RgbImage::from_pixel(4, 4, image::Rgb([15; 3])),
        );
        assert!((psnr(&a, &b).unwrap() - 10.0 * (255.0f64 * 255.0 / 25.0).log10()).abs() < 1e-12);
        // The loader's float32 values: exact to float32 rounding.
        assert!((l2(&a, &b, ColorSpace::Rgb).unwrap() - (5.0f64 / 127.5).powi(2)).abs() < 1e-9);
    }

    #[test]
    fn the_harness_round_trip_darkens_most_levels_by_one() {
        // Checked against torchvision's ToTensor + Normalize and the official
        // `tensor2im` in the venv.
        let changed: Vec<u8> = (0..=255u8).filter(|&v| harness_level(v) != v).collect();
        assert_eq!(changed, (1..=63).collect::<Vec<u8>>());
        assert!(changed.iter().all(|&v| harness_level(v) == v - 1));
    }

    #[test]
    fn lab_of_white_and_black() {
        let lab = rgb_to_lab(&RgbImage::from_fn(2, 1, |x, _| {
            image::Rgb([if x == 0 { 255 } else { 0 }; 3])
        }));
        assert!(
            (lab[0] - 100.0).abs() < 1e-3 && lab[1].abs() < 1e-2 && lab[2].abs() < 1e-2,
            "{lab:?}"
        );
        assert_eq!(&lab[3..], &[0.0, 0.0, 0.0]);
    }

    #[test]
    fn bad_input_is_an_error() {
        let error = psnr(&gradient(8, 8, 0), &gradient(8, 9, 0)).unwrap_err();
        assert!(matches!(error, MetricError::SizeMismatch { .. }), "{error}");
        let error = ssim_gray(&gradient(10, 30, 0), &gradient(10, 30, 1)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "image is 10x30; the SSIM window needs at least 11x11"
        );
        assert!(dssim(&gradient(7, 7, 0), &gradient(7, 7, 1), ColorSpace::Rgb).is_ok());
    }
}
