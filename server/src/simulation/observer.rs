//! Synthetic observers: stand-ins for crowd workers whose answers follow a
//! metric, blurred by noise, or (for careless workers) nothing at all.

use distortions::image::RgbImage;
use distortions::rand_chacha::{
    rand_core::{RngCore, SeedableRng},
    ChaCha8Rng,
};
use metrics::baselines::ColorSpace;
use metrics::NativeMetric;

/// What a careful observer's sense of difference follows: a native metric of
/// the catalogue (`percept simulate --metric NAME`), by its catalogue name.
/// LPIPS needs its network loaded and PSNR is stored negated (a
/// multiplicative noise would turn it around), so neither is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObserverMetric(NativeMetric);

impl ObserverMetric {
    /// (1 − SSIM) / 2 in RGB, `ssim-rgb`: closer to human judgments than L2.
    pub const DSSIM: ObserverMetric = ObserverMetric(NativeMetric::Ssim(ColorSpace::Rgb));
    /// Mean squared difference in RGB, `l2-rgb`.
    pub const L2: ObserverMetric = ObserverMetric(NativeMetric::L2(ColorSpace::Rgb));

    fn distance(self, a: &RgbImage, b: &RgbImage) -> anyhow::Result<f64> {
        Ok(self.0.distance(a, b)?)
    }

    /// The perceived distance above which an observer sees a change. A
    /// rough setting per metric, not a fit: about 8/255 everywhere for L2
    /// (on [-1, 1]; about 3 units of L* in Lab), an SSIM of 0.98 for DSSIM,
    /// and similarly small changes for the others.
    fn just_noticeable(self) -> f64 {
        match self.0 {
            NativeMetric::L2(ColorSpace::Rgb) => 0.004,
            NativeMetric::L2(ColorSpace::Lab) => 0.0005,
            NativeMetric::Ssim(_) => 0.01,
            NativeMetric::Fsim | NativeMetric::Fsimc | NativeMetric::MsSsim => 0.005,
            NativeMetric::Gmsd => 0.03,
            NativeMetric::Vif => 0.1,
            NativeMetric::Psnr => unreachable!("refused by ObserverMetric::from_str"),
        }
    }
}

impl std::fmt::Display for ObserverMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for ObserverMetric {
    type Err = anyhow::Error;

    fn from_str(name: &str) -> anyhow::Result<Self> {
        let allowed = || {
            NativeMetric::ALL
                .into_iter()
                .filter(|m| *m != NativeMetric::Psnr)
                .map(NativeMetric::name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match name.parse::<crate::scoring::Metric>()? {
            crate::scoring::Metric::Native(native) if native != NativeMetric::Psnr => {
                Ok(ObserverMetric(native))
            }
            _ => anyhow::bail!(
                "simulated observers cannot follow {name:?} (LPIPS needs its network, PSNR is stored negated); \
                 they follow one of {}",
                allowed()
            ),
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
    fn observers_follow_native_catalogue_names_only() {
        assert_eq!(
            "ssim-rgb".parse::<ObserverMetric>().unwrap(),
            ObserverMetric::DSSIM
        );
        let mut observer = Observer::new(false, "gmsd".parse().unwrap(), 0.0, 5);
        assert!(observer.says_same(&flat(100), &flat(100)).unwrap());
        for refused in ["psnr", "lpips-alex", "dssim"] {
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
