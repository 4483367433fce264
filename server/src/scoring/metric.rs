//! The metrics a scoring job can compute, named as `percept score --metric`
//! takes them, and how each turns a triplet into two distances.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context};
use distortions::image::RgbImage;
use lpips::{Lpips, Net, Pair, Scorer, Triplet, Weighting};
use metrics::baselines::{self, ColorSpace};

/// A metric: LPIPS (alex or vgg, with or without its linear layers, with the
/// official or your own weights) or one of the paper's baselines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Metric {
    Lpips {
        net: Net,
        weighting: Weighting,
        /// The stem of a safetensors file in the weights folder holding
        /// custom or retrained weights; `None` for the official ones.
        weights: Option<String>,
    },
    Baseline(Baseline),
}

/// The paper's low-level baselines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Baseline {
    L2(ColorSpace),
    /// DSSIM, (1 − SSIM) / 2, as the official package computes it.
    Ssim(ColorSpace),
    /// Stored negated, so that smaller is closer like every other metric.
    Psnr,
}

/// What `--metric` accepts, for error messages and help.
pub const METRIC_FORMS: &str = "lpips-alex, lpips-vgg, lpips-alex-nolin, lpips-vgg-nolin, \
     lpips-alex:NAME or lpips-vgg:NAME (weights from NAME.safetensors in the weights folder), \
     l2-rgb, l2-lab, ssim-rgb, ssim-lab, psnr";

/// The metrics `percept score` computes when none is named.
pub fn default_metrics() -> Vec<Metric> {
    let lpips = |net, weighting| Metric::Lpips {
        net,
        weighting,
        weights: None,
    };
    vec![
        lpips(Net::Alex, Weighting::Lin),
        lpips(Net::Vgg, Weighting::Lin),
        Metric::Baseline(Baseline::L2(ColorSpace::Rgb)),
        Metric::Baseline(Baseline::Ssim(ColorSpace::Rgb)),
        Metric::Baseline(Baseline::Psnr),
    ]
}

impl FromStr for Metric {
    type Err = anyhow::Error;

    fn from_str(name: &str) -> anyhow::Result<Self> {
        let space = |space: &str| match space {
            "rgb" => Some(ColorSpace::Rgb),
            "lab" => Some(ColorSpace::Lab),
            _ => None,
        };
        let metric = match name.split_once('-') {
            _ if name == "psnr" => Some(Metric::Baseline(Baseline::Psnr)),
            Some(("l2", s)) => space(s).map(|s| Metric::Baseline(Baseline::L2(s))),
            Some(("ssim", s)) => space(s).map(|s| Metric::Baseline(Baseline::Ssim(s))),
            Some(("lpips", rest)) => {
                let (variant, weights) = match rest.split_once(':') {
                    Some((variant, stem)) if is_file_stem(stem) => (variant, Some(stem.to_owned())),
                    Some(_) => bail!(
                        "{name:?}: custom weights are named by a file stem of letters, digits, '-', '_' and '.'"
                    ),
                    None => (rest, None),
                };
                let (net, weighting) = match variant.strip_suffix("-nolin") {
                    Some(net) => (net, Weighting::ChannelSum),
                    None => (variant, Weighting::Lin),
                };
                net.parse::<Net>().ok().map(|net| Metric::Lpips {
                    net,
                    weighting,
                    weights,
                })
            }
            _ => None,
        };
        metric.with_context(|| format!("unknown metric {name:?}; the metrics are {METRIC_FORMS}"))
    }
}

fn is_file_stem(stem: &str) -> bool {
    !stem.is_empty()
        && !stem.starts_with('.')
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let space = |space: &ColorSpace| match space {
            ColorSpace::Rgb => "rgb",
            ColorSpace::Lab => "lab",
        };
        match self {
            Metric::Lpips {
                net,
                weighting,
                weights,
            } => {
                write!(f, "lpips-{}", net.name())?;
                if *weighting == Weighting::ChannelSum {
                    f.write_str("-nolin")?;
                }
                match weights {
                    Some(stem) => write!(f, ":{stem}"),
                    None => Ok(()),
                }
            }
            Metric::Baseline(Baseline::L2(s)) => write!(f, "l2-{}", space(s)),
            Metric::Baseline(Baseline::Ssim(s)) => write!(f, "ssim-{}", space(s)),
            Metric::Baseline(Baseline::Psnr) => f.write_str("psnr"),
        }
    }
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/percept/weights`, where the setup puts
/// the converted official weights.
pub fn default_weights_dir() -> anyhow::Result<PathBuf> {
    let cache = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(
            std::env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set")?,
        )
        .join(".cache"),
    };
    Ok(cache.join("percept").join("weights"))
}

/// A metric ready to score: LPIPS with its network loaded, or a baseline.
pub enum LoadedMetric {
    Lpips(Scorer),
    Baseline(Baseline),
}

impl LoadedMetric {
    /// Loads LPIPS weights from `weights_dir` (`alex.safetensors`,
    /// `vgg.safetensors`, or the custom file the metric names).
    pub fn load(metric: &Metric, weights_dir: &Path) -> anyhow::Result<Self> {
        let (net, weighting, weights) = match metric {
            Metric::Baseline(baseline) => return Ok(LoadedMetric::Baseline(*baseline)),
            Metric::Lpips {
                net,
                weighting,
                weights,
            } => (net, weighting, weights),
        };
        let stem = weights.as_deref().unwrap_or(net.name());
        let path = weights_dir.join(format!("{stem}.safetensors"));
        if !path.exists() {
            bail!(
                "{metric}: no weights at {} (the official ones are put there by `cargo xtask setup`; \
                 pass --weights-dir to look elsewhere)",
                path.display()
            );
        }
        let model = Lpips::load(*net, *weighting, &path)
            .with_context(|| format!("{metric}: loading {}", path.display()))?;
        Ok(LoadedMetric::Lpips(Scorer::new(model)))
    }

    /// The distance between the two patches of each pair.
    pub fn score_pairs(&self, pairs: &[[RgbImage; 2]]) -> anyhow::Result<Vec<f64>> {
        match self {
            LoadedMetric::Lpips(scorer) => {
                let patches: Vec<RgbImage> = pairs.iter().flatten().cloned().collect();
                let indices: Vec<Pair> = (0..pairs.len())
                    .map(|i| Pair {
                        p0: 2 * i,
                        p1: 2 * i + 1,
                    })
                    .collect();
                Ok(scorer
                    .score_pairs(&patches, &indices)?
                    .into_iter()
                    .map(f64::from)
                    .collect())
            }
            LoadedMetric::Baseline(baseline) => {
                pairs.iter().map(|[a, b]| baseline.distance(a, b)).collect()
            }
        }
    }

    /// (d0, d1) per triplet of (reference, p0, p1) patches.
    pub fn score(&self, triplets: &[[RgbImage; 3]]) -> anyhow::Result<Vec<(f64, f64)>> {
        match self {
            LoadedMetric::Lpips(scorer) => {
                let patches: Vec<RgbImage> = triplets.iter().flatten().cloned().collect();
                let indices: Vec<Triplet> = (0..triplets.len())
                    .map(|i| Triplet {
                        reference: 3 * i,
                        p0: 3 * i + 1,
                        p1: 3 * i + 2,
                    })
                    .collect();
                Ok(scorer
                    .score_triplets(&patches, &indices)?
                    .into_iter()
                    .map(|d| (f64::from(d.d0), f64::from(d.d1)))
                    .collect())
            }
            LoadedMetric::Baseline(baseline) => triplets
                .iter()
                .map(|[reference, p0, p1]| {
                    Ok((
                        baseline.distance(reference, p0)?,
                        baseline.distance(reference, p1)?,
                    ))
                })
                .collect(),
        }
    }
}

impl Baseline {
    fn distance(self, a: &RgbImage, b: &RgbImage) -> anyhow::Result<f64> {
        Ok(match self {
            Baseline::L2(space) => baselines::l2(a, b, space)?,
            Baseline::Ssim(space) => baselines::dssim(a, b, space)?,
            // Identical patches have infinite PSNR: stored as −∞, the closest possible.
            Baseline::Psnr => -baselines::psnr(a, b)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_name_round_trips() {
        let names = [
            "lpips-alex",
            "lpips-vgg",
            "lpips-alex-nolin",
            "lpips-vgg-nolin",
            "lpips-alex:retrained_v2",
            "lpips-vgg-nolin:mine.1",
            "l2-rgb",
            "l2-lab",
            "ssim-rgb",
            "ssim-lab",
            "psnr",
        ];
        for name in names {
            let metric: Metric = name.parse().unwrap();
            assert_eq!(metric.to_string(), name);
        }
    }

    #[test]
    fn unknown_names_list_the_metrics() {
        for bad in [
            "lpips-squeeze",
            "ssim",
            "l2-hsv",
            "",
            "lpips-alex:../etc/passwd",
            "lpips-alex:",
        ] {
            let error = bad.parse::<Metric>().unwrap_err().to_string();
            assert!(
                error.contains(bad) && (error.contains("lpips-alex") || error.contains("stem")),
                "{error}"
            );
        }
    }
}
