//! Synthetic observers: stand-ins for crowd workers whose answers follow a
//! metric, blurred by noise, or (for careless workers) nothing at all.

use std::path::Path;
use std::sync::{Arc, Mutex};

use distortions::image::RgbImage;
use distortions::rand_chacha::{
    rand_core::{RngCore, SeedableRng},
    ChaCha8Rng,
};
use lpips::{Device, Weighting};
use metrics::baselines::ColorSpace;
use metrics::NativeMetric;

use crate::scoring::{LoadedMetric, Metric};

/// What a careful observer's sense of difference follows: any metric of the
/// catalogue (`percept simulate --metric NAME`) but PSNR, which is stored
/// negated (a multiplicative noise would turn it around). Network metrics
/// (LPIPS, a trained `lpips-alex:NAME`, DISTS) are loaded once with
/// [`ObserverMetric::load`] and shared by every observer.
#[derive(Clone)]
pub struct ObserverMetric {
    metric: Metric,
    /// The loaded network of an LPIPS or DISTS metric.
    network: Option<Arc<Mutex<LoadedMetric>>>,
}

impl ObserverMetric {
    /// (1 − SSIM) / 2 in RGB, `ssim-rgb`: closer to human judgments than L2.
    pub const DSSIM: ObserverMetric = ObserverMetric {
        metric: Metric::Native(NativeMetric::Ssim(ColorSpace::Rgb)),
        network: None,
    };
    /// Mean squared difference in RGB, `l2-rgb`.
    pub const L2: ObserverMetric = ObserverMetric {
        metric: Metric::Native(NativeMetric::L2(ColorSpace::Rgb)),
        network: None,
    };

    /// Whether [`Self::load`] has work to do.
    pub fn needs_network(&self) -> bool {
        !matches!(self.metric, Metric::Native(_))
    }

    /// Loads a network metric's weights from `weights_dir` (as scoring
    /// does) onto `device`; native metrics are returned as they are.
    pub fn load(self, weights_dir: &Path, device: Device) -> anyhow::Result<Self> {
        if !self.needs_network() || self.network.is_some() {
            return Ok(self);
        }
        let loaded = LoadedMetric::load(&self.metric, weights_dir, device)?;
        Ok(Self {
            network: Some(Arc::new(Mutex::new(loaded))),
            ..self
        })
    }

    fn distance(&self, a: &RgbImage, b: &RgbImage) -> anyhow::Result<f64> {
        match (&self.metric, &self.network) {
            (Metric::Native(native), _) => Ok(native.distance(a, b)?),
            (_, Some(network)) => {
                let network = network
                    .lock()
                    .map_err(|_| anyhow::anyhow!("{}: a scoring thread panicked", self.metric))?;
                network
                    .score_pairs(&[[a.clone(), b.clone()]])?
                    .into_iter()
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("{}: no distance", self.metric))
            }
            (metric, None) => {
                anyhow::bail!("{metric} needs its network: load it first (ObserverMetric::load)")
            }
        }
    }

    /// The perceived distance above which an observer sees a change. A
    /// rough setting per metric, not a fit: about 8/255 everywhere for L2
    /// (on [-1, 1]; about 3 units of L* in Lab), an SSIM of 0.98 for DSSIM,
    /// and similarly small changes for the others (LPIPS' linear layers
    /// scale its distances down about tenfold from the plain channel sum).
    fn just_noticeable(&self) -> f64 {
        match &self.metric {
            Metric::Native(native) => match native {
                NativeMetric::L2(ColorSpace::Rgb) => 0.004,
                NativeMetric::L2(ColorSpace::Lab) => 0.0005,
                NativeMetric::Ssim(_) => 0.01,
                NativeMetric::Fsim | NativeMetric::Fsimc | NativeMetric::MsSsim => 0.005,
                NativeMetric::Gmsd => 0.03,
                NativeMetric::Vif => 0.1,
                NativeMetric::Psnr => unreachable!("refused by ObserverMetric::from_str"),
            },
            Metric::Lpips {
                weighting: Weighting::Lin,
                ..
            } => 0.05,
            Metric::Lpips {
                weighting: Weighting::ChannelSum,
                ..
            } => 0.5,
            Metric::Dists => 0.05,
        }
    }
}

impl PartialEq for ObserverMetric {
    fn eq(&self, other: &Self) -> bool {
        self.metric == other.metric
    }
}

impl std::fmt::Debug for ObserverMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObserverMetric({})", self.metric)
    }
}

impl std::fmt::Display for ObserverMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.metric.fmt(f)
    }
}

impl std::str::FromStr for ObserverMetric {
    type Err = anyhow::Error;

    fn from_str(name: &str) -> anyhow::Result<Self> {
        match name.parse::<Metric>()? {
            Metric::Native(NativeMetric::Psnr) => anyhow::bail!(
                "simulated observers cannot follow {name:?} (PSNR is stored negated, so noise would \
                 turn it around); they follow any other metric of `percept score --help`, e.g. \
                 ssim-rgb, lpips-alex or lpips-alex-nolin"
            ),
            metric => Ok(ObserverMetric {
                metric,
                network: None,
            }),
        }
    }
}

/// Which screen side an observer picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Left,
    Right,
}

pub struct Observer {
    careless: bool,
    metric: ObserverMetric,
    /// Standard deviation of the log-normal factor on each perceived
    /// distance: multiplicative, so it means the same for every metric, and
    /// a distance of zero (a sentinel's identical side) stays zero.
    noise: f64,
    rng: ChaCha8Rng,
}

impl Observer {
    pub fn new(careless: bool, metric: ObserverMetric, noise: f64, seed: u64) -> Self {
        Self {
            careless,
            metric,
            noise,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    pub fn is_careless(&self) -> bool {
        self.careless
    }

    /// The side that looks closer to the reference to this observer.
    pub fn choose(
        &mut self,
        reference: &RgbImage,
        left: &RgbImage,
        right: &RgbImage,
    ) -> anyhow::Result<Choice> {
        if self.careless {
            return Ok(self.coin_flip());
        }
        let mut perceived = |image: &RgbImage| -> anyhow::Result<f64> {
            let distance = self.metric.distance(reference, image)?;
            Ok(distance * (self.noise * self.standard_normal()).exp())
        };
        let (left, right) = (perceived(left)?, perceived(right)?);
        Ok(if left < right {
            Choice::Left
        } else if right < left {
            Choice::Right
        } else {
            self.coin_flip()
        })
    }

    /// Whether `distorted` looks the same as `reference` to this observer
    /// (a JND trial): its perceived distance is at most the metric's
    /// just-noticeable one. Identical patches always look the same to a
    /// careful observer.
    pub fn says_same(
        &mut self,
        reference: &RgbImage,
        distorted: &RgbImage,
    ) -> anyhow::Result<bool> {
        if self.careless {
            return Ok(self.coin_flip() == Choice::Left);
        }
        let distance = self.metric.distance(reference, distorted)?;
        let perceived = distance * (self.noise * self.standard_normal()).exp();
        Ok(perceived <= self.metric.just_noticeable())
    }

    /// Milliseconds from the images' onset to the answer: log-normal around
    /// BAPPS' ~3 s for careful observers, quick clicking for careless ones.
    pub fn response_ms(&mut self) -> i32 {
        let median_ms = if self.careless { 600.0 } else { 2500.0 };
        (median_ms * (0.4 * self.standard_normal()).exp()).round() as i32
    }

    fn coin_flip(&mut self) -> Choice {
        if self.rng.next_u32() & 1 == 0 {
            Choice::Left
        } else {
            Choice::Right
        }
    }

    fn uniform(&mut self) -> f64 {
        // 53 random bits, shifted off zero so the logarithm below is finite.
        ((self.rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Box–Muller: one standard normal draw.
    fn standard_normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use distortions::image::Rgb;

    fn flat(level: u8) -> RgbImage {
        RgbImage::from_pixel(16, 16, Rgb([level; 3]))
    }

    #[test]
    fn careful_observers_pick_the_identical_side() {
        let (reference, distorted) = (flat(100), flat(160));
        let mut observer = Observer::new(false, ObserverMetric::L2, 0.5, 1);
        for _ in 0..100 {
            assert_eq!(
                observer.choose(&reference, &reference, &distorted).unwrap(),
                Choice::Left
            );
            assert_eq!(
                observer.choose(&reference, &distorted, &reference).unwrap(),
                Choice::Right
            );
        }
    }

    #[test]
    fn careful_observers_see_clear_changes_and_never_identical_ones() {
        let mut observer = Observer::new(false, ObserverMetric::L2, 0.5, 4);
        for _ in 0..100 {
            assert!(observer.says_same(&flat(100), &flat(100)).unwrap());
            assert!(observer.says_same(&flat(100), &flat(101)).unwrap());
            assert!(!observer.says_same(&flat(100), &flat(160)).unwrap());
        }
    }

    #[test]
    fn noise_makes_close_calls_go_both_ways() {
        let (reference, nearer, farther) = (flat(100), flat(110), flat(112));
        let mut observer = Observer::new(false, ObserverMetric::L2, 0.5, 2);
        let lefts = (0..400)
            .filter(|_| observer.choose(&reference, &nearer, &farther).unwrap() == Choice::Left)
            .count();
        // Mostly the nearer patch, but far from always.
        assert!(
            (220..390).contains(&lefts),
            "{lefts} of 400 picked the nearer patch"
        );
    }

    #[test]
    fn careless_observers_answer_at_random() {
        let (reference, distorted) = (flat(100), flat(200));
        let mut observer = Observer::new(true, ObserverMetric::L2, 0.1, 3);
        let lefts = (0..400)
            .filter(|_| {
                observer.choose(&reference, &reference, &distorted).unwrap() == Choice::Left
            })
            .count();
        assert!((150..250).contains(&lefts), "{lefts} of 400");
    }

    #[test]
    fn observers_follow_every_catalogue_name_but_psnr() {
        assert_eq!(
            "ssim-rgb".parse::<ObserverMetric>().unwrap(),
            ObserverMetric::DSSIM
        );
        let mut observer = Observer::new(false, "gmsd".parse().unwrap(), 0.0, 5);
        assert!(observer.says_same(&flat(100), &flat(100)).unwrap());
        for network in ["lpips-vgg", "lpips-alex-nolin", "dists", "lpips-alex:mine"] {
            let metric: ObserverMetric = network.parse().unwrap();
            assert!(metric.needs_network(), "{network}");
            assert_eq!(metric.to_string(), network);
            // Unloaded, it says what is missing rather than guessing.
            let error = Observer::new(false, metric, 0.0, 6)
                .choose(&flat(1), &flat(2), &flat(3))
                .unwrap_err()
                .to_string();
            assert!(error.contains("needs its network"), "{error}");
        }
        for refused in ["psnr", "dssim"] {
            let error = refused.parse::<ObserverMetric>().unwrap_err().to_string();
            assert!(
                error.contains(refused) && error.contains("ssim-rgb"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_answers() {
        let answers = |seed| {
            let mut observer = Observer::new(true, ObserverMetric::L2, 0.1, seed);
            (0..64)
                .map(|_| (observer.coin_flip(), observer.response_ms()))
                .collect::<Vec<_>>()
        };
        assert_eq!(answers(9), answers(9));
        assert_ne!(answers(9), answers(10));
    }
}
