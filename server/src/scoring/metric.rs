//! The one catalogue of metrics: every name `--metric` takes (score, the
//! scoring API, `percept distance`, `percept simulate`, the dashboard), what
//! each stores, and how each turns a triplet or pair into distances.
//!
//! LPIPS and DISTS run on libtorch (the `lpips` crate); everything else is a
//! [`NativeMetric`] of the `metrics` crate, whose names and one-line help
//! this module uses as they are, so a new native metric is offered
//! everywhere by adding it there.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context};
use distortions::image::RgbImage;
use lpips::Device;
use lpips::{Dists, Lpips, Net, Network, Pair, Scorer, Triplet, Weighting};
use metrics::baselines::ColorSpace;
use metrics::NativeMetric;

/// A metric: LPIPS (alex or vgg, with or without its linear layers, with the
/// official or your own weights), DISTS, or a native one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Metric {
    /// DISTS (Ding et al. 2020) with the official α, β and VGG16 trunk.
    Dists,
    Lpips {
        net: Net,
        weighting: Weighting,
        /// The stem of a safetensors file in the weights folder holding
        /// custom or retrained weights; `None` for the official ones.
        weights: Option<String>,
    },
    Native(NativeMetric),
}

impl Metric {
    /// The smallest patch side the metric scores: its network's, or the
    /// native metric's own minimum (DISTS takes any size).
    pub fn min_side(&self) -> u32 {
        match self {
            Metric::Lpips { net, .. } => net.min_side(),
            Metric::Dists => 1,
            Metric::Native(native) => native.min_side(),
        }
    }
}

/// Every metric name form with what it stores, one per line: the long help
/// of every `--metric` flag and the list unknown names are answered with.
pub fn metric_help() -> String {
    let mut help = String::from(
        "Every metric is stored as a distance: smaller is closer (similarities as 1 − similarity).\n",
    );
    for net in Net::ALL {
        let name = net.name();
        help.push_str(&format!(
            "  lpips-{name}: {}\n  lpips-{name}-nolin: {}\n  \
             lpips-{name}:NAME, lpips-{name}-nolin:NAME: weights from NAME.safetensors in the weights folder\n",
            lpips_description(net, Weighting::Lin),
            lpips_description(net, Weighting::ChannelSum),
        ));
    }
    help.push_str(&format!("  dists: {DISTS_DESCRIPTION}\n"));
    for native in NativeMetric::ALL {
        help.push_str(&format!("  {native}: {}\n", native.help()));
    }
    help
}

const DISTS_DESCRIPTION: &str = "DISTS (Ding et al. 2020), a distance as published (0 = identical), \
    VGG16 with L2 pooling and the official α/β, at the image's own size (no resize, as pyiqa); any size";

fn lpips_description(net: Net, weighting: Weighting) -> String {
    let (name, side) = (net.name(), net.min_side());
    match weighting {
        Weighting::Lin => format!(
            "LPIPS v0.1 on {name} (Zhang et al. 2018), the official weights; from {side}×{side}"
        ),
        Weighting::ChannelSum => {
            format!("LPIPS on {name} with its taps summed over channels (no learned layers); from {side}×{side}")
        }
    }
}

/// Every metric with official weights, with what it stores and at which
/// sizes: what the dashboard offers (`GET /api/metrics`).
pub fn catalogue() -> Vec<(Metric, String)> {
    let mut metrics = Vec::new();
    for net in Net::ALL {
        for weighting in [Weighting::Lin, Weighting::ChannelSum] {
            let metric = Metric::Lpips {
                net,
                weighting,
                weights: None,
            };
            metrics.push((metric, lpips_description(net, weighting)));
        }
    }
    metrics.push((Metric::Dists, DISTS_DESCRIPTION.to_owned()));
    for native in NativeMetric::ALL {
        metrics.push((Metric::Native(native), native.help().to_owned()));
    }
    metrics
}

/// The names unknown-metric errors list.
fn metric_names() -> String {
    let mut names: Vec<String> = Net::ALL
        .iter()
        .flat_map(|net| [format!("lpips-{net}"), format!("lpips-{net}-nolin")])
        .collect();
    names.push("lpips-NET[-nolin]:NAME".into());
    names.push("dists".into());
    names.extend(NativeMetric::ALL.map(|m| m.name().to_owned()));
    names.join(", ")
}

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
        Metric::Native(NativeMetric::L2(ColorSpace::Rgb)),
        Metric::Native(NativeMetric::Ssim(ColorSpace::Rgb)),
        Metric::Native(NativeMetric::Psnr),
    ]
}

impl FromStr for Metric {
    type Err = anyhow::Error;

    fn from_str(name: &str) -> anyhow::Result<Self> {
        if let Ok(native) = name.parse::<NativeMetric>() {
            return Ok(Metric::Native(native));
        }
        if name == "dists" {
            return Ok(Metric::Dists);
        }
        let metric = match name.split_once('-') {
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
        metric.with_context(|| {
            format!(
                "unknown metric {name:?}; the metrics are {} (what each stores: `GET /api/metrics`, or `--help` of any `--metric` flag)",
                metric_names()
            )
        })
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
            Metric::Dists => f.write_str("dists"),
            Metric::Native(native) => f.write_str(native.name()),
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

/// A metric ready to score: LPIPS or DISTS with its network loaded, or a
/// native one.
pub enum LoadedMetric {
    Lpips(Scorer),
    Dists(Scorer<Dists>),
    Native(NativeMetric),
}

impl LoadedMetric {
    /// Loads LPIPS weights from `weights_dir` (`alex.safetensors`,
    /// `vgg.safetensors`, or the custom file the metric names), or DISTS'
    /// (`vgg.safetensors` and `dists.safetensors`), to compute on `device`
    /// (native metrics always run on the CPU).
    pub fn load(metric: &Metric, weights_dir: &Path, device: Device) -> anyhow::Result<Self> {
        let (net, weighting, weights) = match metric {
            Metric::Native(native) => return Ok(LoadedMetric::Native(*native)),
            Metric::Dists => {
                for file in ["vgg.safetensors", "dists.safetensors"] {
                    check_weights_exist(metric, &weights_dir.join(file))?;
                }
                let model = Dists::load_on(
                    &weights_dir.join("vgg.safetensors"),
                    &weights_dir.join("dists.safetensors"),
                    device,
                )
                .with_context(|| format!("{metric}: loading from {}", weights_dir.display()))?;
                return Ok(LoadedMetric::Dists(Scorer::new(model)));
            }
            Metric::Lpips {
                net,
                weighting,
                weights,
            } => (net, weighting, weights),
        };
        let stem = weights.as_deref().unwrap_or(net.name());
        let path = weights_dir.join(format!("{stem}.safetensors"));
        check_weights_exist(metric, &path)?;
        let model = Lpips::load_on(*net, *weighting, &path, device)
            .with_context(|| format!("{metric}: loading {}", path.display()))?;
        Ok(LoadedMetric::Lpips(Scorer::new(model)))
    }

    /// The distance between the two patches of each pair.
    pub fn score_pairs(&self, pairs: &[[RgbImage; 2]]) -> anyhow::Result<Vec<f64>> {
        match self {
            LoadedMetric::Lpips(scorer) => network_pairs(scorer, pairs),
            LoadedMetric::Dists(scorer) => network_pairs(scorer, pairs),
            LoadedMetric::Native(native) => pairs
                .iter()
                .map(|[a, b]| Ok(native.distance(a, b)?))
                .collect(),
        }
    }

    /// (d0, d1) per triplet of (reference, p0, p1) patches.
    pub fn score(&self, triplets: &[[RgbImage; 3]]) -> anyhow::Result<Vec<(f64, f64)>> {
        match self {
            LoadedMetric::Lpips(scorer) => network_triplets(scorer, triplets),
            LoadedMetric::Dists(scorer) => network_triplets(scorer, triplets),
            // The reference comes first: VIF is asymmetric.
            LoadedMetric::Native(native) => triplets
                .iter()
                .map(|[reference, p0, p1]| {
                    Ok((
                        native.distance(reference, p0)?,
                        native.distance(reference, p1)?,
                    ))
                })
                .collect(),
        }
    }
}

fn check_weights_exist(metric: &Metric, path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        bail!(
            "{metric}: no weights at {} (the official ones are put there by `cargo xtask setup`; \
             pass --weights-dir to look elsewhere)",
            path.display()
        );
    }
    Ok(())
}

fn network_pairs<M: Network>(
    scorer: &Scorer<M>,
    pairs: &[[RgbImage; 2]],
) -> anyhow::Result<Vec<f64>> {
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

fn network_triplets<M: Network>(
    scorer: &Scorer<M>,
    triplets: &[[RgbImage; 3]],
) -> anyhow::Result<Vec<(f64, f64)>> {
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
            "fsim",
            "fsimc",
            "ms-ssim",
            "gmsd",
            "vif",
            "dists",
        ];
        for name in names {
            let metric: Metric = name.parse().unwrap();
            assert_eq!(metric.to_string(), name);
        }
    }

    #[test]
    fn the_help_names_every_native_metric_and_its_limits() {
        let help = metric_help();
        for native in NativeMetric::ALL {
            assert!(
                help.contains(&format!("  {native}: ")),
                "{native} missing from\n{help}"
            );
        }
        assert!(help.contains("161×161"), "{help}");
        assert!(help.contains("1 − similarity"), "{help}");
    }

    #[test]
    fn the_catalogue_offers_every_metric_with_official_weights_once() {
        let names: Vec<String> = catalogue().iter().map(|(m, _)| m.to_string()).collect();
        for name in [
            "lpips-alex",
            "lpips-vgg-nolin",
            "dists",
            "fsim",
            "fsimc",
            "ms-ssim",
            "gmsd",
            "vif",
            "psnr",
        ] {
            assert!(
                names.iter().any(|n| n == name),
                "{name} missing from {names:?}"
            );
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for metric in default_metrics() {
            assert!(names.contains(&metric.to_string()));
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
                error.contains(bad)
                    && ((error.contains("lpips-alex") && error.contains("ms-ssim"))
                        || error.contains("stem")),
                "{error}"
            );
        }
    }
}
