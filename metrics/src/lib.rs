//! Native image-quality metrics, pure Rust on the `image` crate: the
//! classic full-reference metrics the LPIPS paper and its successors compare
//! against — FSIM and FSIMc, MS-SSIM, GMSD and VIFp — and the paper's own
//! L2, SSIM and PSNR baselines.
//!
//! Every metric is a *distance*: smaller is closer. Similarities become
//! `1 − similarity` (FSIM, FSIMc, MS-SSIM, VIF); GMSD is one already; the
//! baselines keep the official package's definitions (L2, DSSIM), PSNR is
//! negated. Each module documents its conventions. The classic metrics are
//! piq 0.8's computations (within 3e-6 of it in float64); GMSD and MS-SSIM
//! take MATLAB's rounded `rgb2gray` luminance as input, as the authors'
//! published values (pyiqa's calibration table) did and piq does not. The
//! baselines are the official `lpips` harness's.
//!
//! [`NativeMetric`] names them as `--metric` does and scores a pair:
//!
//! ```
//! use metrics::NativeMetric;
//! let metric: NativeMetric = "gmsd".parse().unwrap();
//! let a = image::RgbImage::from_pixel(64, 64, image::Rgb([120, 80, 40]));
//! assert_eq!(metric.distance(&a, &a).unwrap(), 0.0);
//! ```
//!
//! The metrics keep per-thread scratch buffers (and, for FSIM, per-size
//! filter banks), so scoring many same-sized pairs on a thread allocates
//! nothing after the first.

pub mod baselines;
pub mod error;
pub mod fsim;
pub mod gmsd;
pub mod ms_ssim;
mod plane;
pub mod vif;

use std::fmt;
use std::str::FromStr;

pub use error::{MetricError, Result};
/// The `image` crate this API takes images from.
pub use image;
use image::RgbImage;

use baselines::ColorSpace;

/// A metric computed natively, by its `--metric` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NativeMetric {
    Fsim,
    Fsimc,
    MsSsim,
    Gmsd,
    Vif,
    L2(ColorSpace),
    /// DSSIM, (1 − SSIM) / 2, as the official harness computes it.
    Ssim(ColorSpace),
    Psnr,
}

impl NativeMetric {
    pub const ALL: [NativeMetric; 10] = [
        NativeMetric::Fsim,
        NativeMetric::Fsimc,
        NativeMetric::MsSsim,
        NativeMetric::Gmsd,
        NativeMetric::Vif,
        NativeMetric::L2(ColorSpace::Rgb),
        NativeMetric::L2(ColorSpace::Lab),
        NativeMetric::Ssim(ColorSpace::Rgb),
        NativeMetric::Ssim(ColorSpace::Lab),
        NativeMetric::Psnr,
    ];

    /// The name `--metric` takes.
    pub fn name(self) -> &'static str {
        match self {
            NativeMetric::Fsim => "fsim",
            NativeMetric::Fsimc => "fsimc",
            NativeMetric::MsSsim => "ms-ssim",
            NativeMetric::Gmsd => "gmsd",
            NativeMetric::Vif => "vif",
            NativeMetric::L2(ColorSpace::Rgb) => "l2-rgb",
            NativeMetric::L2(ColorSpace::Lab) => "l2-lab",
            NativeMetric::Ssim(ColorSpace::Rgb) => "ssim-rgb",
            NativeMetric::Ssim(ColorSpace::Lab) => "ssim-lab",
            NativeMetric::Psnr => "psnr",
        }
    }

    /// One line for `--metric` help: what is stored and at which sizes.
    pub fn help(self) -> &'static str {
        match self {
            NativeMetric::Fsim => "1 − FSIM (Zhang et al. 2011) on luminance, as piq 0.8; any size from 2×2",
            NativeMetric::Fsimc => "1 − FSIMc (FSIM with the I/Q chrominance term), as piq 0.8; any size from 2×2",
            NativeMetric::MsSsim => "1 − MS-SSIM (Wang et al. 2003), five scales on MATLAB rgb2gray luminance, as piq 0.8; needs at least 161×161, so not 64×64 BAPPS patches (piq refuses them too)",
            NativeMetric::Gmsd => "GMSD (Xue et al. 2014) on MATLAB rgb2gray luminance, a deviation already (0 = identical), as piq 0.8; any size",
            NativeMetric::Vif => "1 − VIFp (pixel-domain VIF, Sheikh & Bovik 2006), first image the reference, as piq 0.8; needs at least 41×41",
            NativeMetric::L2(ColorSpace::Rgb) => "the official harness's L2 in RGB: mean squared difference in [-1, 1]",
            NativeMetric::L2(ColorSpace::Lab) => "the official harness's L2 in Lab: 0.5 · mean(ΔLab / 100)², after its tensor2im rounding",
            NativeMetric::Ssim(ColorSpace::Rgb) => "the official harness's DSSIM in RGB: (1 − SSIM) / 2, 7×7 window, after its tensor2im rounding; from 7×7",
            NativeMetric::Ssim(ColorSpace::Lab) => "the official harness's DSSIM in Lab: (1 − SSIM) / 2, 7×7 window, after its tensor2im rounding; from 7×7",
            NativeMetric::Psnr => "−PSNR in dB over the RGB levels (negated so that smaller is closer; identical images give −∞)",
        }
    }

    /// The smallest side, in pixels, of the images the metric can score:
    /// the minimum [`distance`](Self::distance) enforces, for callers to
    /// refuse sizes up front (a scoring request on 64×64 patches, say).
    pub fn min_side(self) -> u32 {
        match self {
            NativeMetric::Fsim | NativeMetric::Fsimc => fsim::MIN_SIDE,
            NativeMetric::MsSsim => ms_ssim::MIN_SIDE,
            NativeMetric::Vif => vif::MIN_SIDE,
            NativeMetric::Ssim(_) => baselines::DSSIM_MIN_SIDE,
            NativeMetric::Gmsd | NativeMetric::L2(_) | NativeMetric::Psnr => 1,
        }
    }

    /// The distance between `a` and `b` (smaller is closer); `a` is the
    /// reference where the metric is asymmetric (VIF).
    pub fn distance(&self, a: &RgbImage, b: &RgbImage) -> Result<f64> {
        match *self {
            NativeMetric::Fsim => fsim::fsim(a, b),
            NativeMetric::Fsimc => fsim::fsimc(a, b),
            NativeMetric::MsSsim => ms_ssim::ms_ssim(a, b),
            NativeMetric::Gmsd => gmsd::gmsd(a, b),
            NativeMetric::Vif => vif::vif(a, b),
            NativeMetric::L2(space) => baselines::l2(a, b, space),
            NativeMetric::Ssim(space) => baselines::dssim(a, b, space),
            NativeMetric::Psnr => baselines::psnr(a, b).map(|psnr| -psnr),
        }
    }
}

impl fmt::Display for NativeMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for NativeMetric {
    type Err = MetricError;

    fn from_str(name: &str) -> Result<Self> {
        NativeMetric::ALL
            .into_iter()
            .find(|metric| metric.name() == name)
            .ok_or_else(|| MetricError::UnknownMetric {
                name: name.to_owned(),
                known: NativeMetric::ALL.map(NativeMetric::name).join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(side: u32, shift: u8) -> RgbImage {
        RgbImage::from_fn(side, side, |x, y| {
            image::Rgb([
                (x * 7 + y) as u8,
                (y * 5) as u8,
                shift.wrapping_add((x * y) as u8),
            ])
        })
    }

    #[test]
    fn min_side_is_the_size_each_metric_scores_from() {
        for metric in NativeMetric::ALL {
            let side = metric.min_side();
            assert!(
                metric
                    .distance(&gradient(side, 0), &gradient(side, 9))
                    .is_ok(),
                "{metric} at {side}×{side}"
            );
            if side > 1 {
                let below = side - 1;
                assert!(
                    matches!(
                        metric.distance(&gradient(below, 0), &gradient(below, 9)),
                        Err(MetricError::TooSmall { min_side, .. }) if min_side == side
                    ),
                    "{metric} at {below}×{below}"
                );
            }
        }
        assert_eq!(NativeMetric::MsSsim.min_side(), 161);
    }
}
