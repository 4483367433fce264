//! How well a metric agrees with people, computed the way the official BAPPS
//! scorers (the `lpips` package's `score_2afc_dataset` and
//! `score_jnd_dataset`) compute it, plus the bootstrap intervals and the
//! human ceiling that the paper reports beside it.

use distortions::rand_chacha::{
    rand_core::{RngCore, SeedableRng},
    ChaCha8Rng,
};

/// A 2AFC triplet as a metric and the people saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredTriplet {
    /// The metric's distances from the reference to p0 and to p1.
    pub d0: f64,
    pub d1: f64,
    /// How many people judged it, and how many of them found p1 closer
    /// (real numbers: an imported triplet comes as a share of its judges).
    pub judgments: f64,
    pub chose_p1: f64,
}

impl ScoredTriplet {
    /// The share of people who found p1 closer (BAPPS' `judge`).
    pub fn human_p1_share(&self) -> f64 {
        self.chose_p1 / self.judgments
    }

    /// The official per-triplet score: the share of people the metric sides with.
    pub fn agreement(&self) -> f64 {
        let h = self.human_p1_share();
        if self.d0 < self.d1 {
            1.0 - h
        } else if self.d1 < self.d0 {
            h
        } else {
            0.5
        }
    }

    /// How often two different people agree on it; `None` with fewer than two judgments.
    pub fn human_agreement(&self) -> Option<f64> {
        let (n, k) = (self.judgments, self.chose_p1);
        (n >= 2.0).then(|| (k * (k - 1.0) + (n - k) * (n - k - 1.0)) / (n * (n - 1.0)))
    }
}

/// The official 2AFC score: the mean per-triplet agreement.
pub fn two_afc_score(triplets: &[ScoredTriplet]) -> f64 {
    mean(triplets.iter().map(ScoredTriplet::agreement))
}

/// The human ceiling for 2AFC: the mean over triplets with at least two
/// judgments of how often one person agrees with another on it.
pub fn human_two_afc_score(triplets: &[ScoredTriplet]) -> Option<f64> {
    let agreements: Vec<f64> = triplets
        .iter()
        .filter_map(ScoredTriplet::human_agreement)
        .collect();
    (!agreements.is_empty()).then(|| mean(agreements.into_iter()))
}

/// A JND pair as a metric and the people saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredPair {
    pub distance: f64,
    /// The share of people who said "same" (BAPPS' `same`).
    pub same_share: f64,
}

/// A precision–recall curve: point `i` after the `i + 1` closest pairs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct PrecisionRecall {
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
}

/// The official JND curve: pairs ranked by distance (closest first, as the
/// likeliest "same"), with "same" shares as soft true positives.
pub fn precision_recall(pairs: &[ScoredPair]) -> PrecisionRecall {
    let mut ranked: Vec<&ScoredPair> = pairs.iter().collect();
    ranked.sort_by(|a, b| a.distance.total_cmp(&b.distance));
    let total_same: f64 = ranked.iter().map(|pair| pair.same_share).sum();
    let (mut true_positives, mut false_positives) = (0.0, 0.0);
    let mut curve = PrecisionRecall {
        precision: Vec::with_capacity(ranked.len()),
        recall: Vec::with_capacity(ranked.len()),
    };
    for pair in ranked {
        true_positives += pair.same_share;
        false_positives += 1.0 - pair.same_share;
        curve
            .precision
            .push(true_positives / (true_positives + false_positives));
        curve.recall.push(true_positives / total_same);
    }
    curve
}

/// The official JND score: VOC-style average precision of the curve
/// (`lpips.voc_ap` without the 11-point approximation). NaN when no pair was
/// judged "same" by anyone, as the official code gives.
pub fn jnd_map(pairs: &[ScoredPair]) -> f64 {
    voc_average_precision(&precision_recall(pairs))
}

fn voc_average_precision(curve: &PrecisionRecall) -> f64 {
    let recall: Vec<f64> = [0.0]
        .into_iter()
        .chain(curve.recall.iter().copied())
        .chain([1.0])
        .collect();
    let mut precision: Vec<f64> = [0.0]
        .into_iter()
        .chain(curve.precision.iter().copied())
        .chain([0.0])
        .collect();
    // The precision envelope: from each point on, the best precision reachable.
    for i in (1..precision.len()).rev() {
        precision[i - 1] = precision[i - 1].max(precision[i]);
    }
    (0..recall.len() - 1)
        .filter(|&i| recall[i + 1] != recall[i])
        .map(|i| (recall[i + 1] - recall[i]) * precision[i + 1])
        .sum()
}

/// A statistic and its 95% percentile-bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// Bootstrap resamples per interval: enough for stable 2.5/97.5 percentiles.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// `statistic` of `items` with a 95% interval from resampling the items
/// with replacement. Seeded, so a report is the same every time it is made.
pub fn bootstrap<T: Copy>(items: &[T], statistic: impl Fn(&[T]) -> f64, seed: u64) -> Estimate {
    let value = statistic(items);
    if items.is_empty() {
        return Estimate {
            value,
            low: value,
            high: value,
        };
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut resample = Vec::with_capacity(items.len());
    let statistics: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| {
            resample.clear();
            resample.extend((0..items.len()).map(|_| items[index_below(&mut rng, items.len())]));
            statistic(&resample)
        })
        .collect();
    percentile_interval(value, statistics)
}

/// `value` with the 95% percentile interval of its finite resampled values.
pub fn percentile_interval(value: f64, mut resampled: Vec<f64>) -> Estimate {
    resampled.retain(|statistic| statistic.is_finite());
    resampled.sort_by(f64::total_cmp);
    Estimate {
        value,
        low: percentile(&resampled, 0.025),
        high: percentile(&resampled, 0.975),
    }
}

/// Paired bootstrap of the difference `statistic(a) − statistic(b)` where
/// `a[i]` and `b[i]` are two metrics on the same item: the interval, and the
/// two-sided share of resamples on the other side of zero (a p-value).
pub fn paired_difference<T: Copy>(
    a: &[T],
    b: &[T],
    statistic: impl Fn(&[T]) -> f64,
    seed: u64,
) -> (Estimate, f64) {
    assert_eq!(
        a.len(),
        b.len(),
        "a paired comparison needs the same items on both sides"
    );
    let value = statistic(a) - statistic(b);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut resample_a, mut resample_b) = (Vec::new(), Vec::new());
    let differences: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| {
            resample_a.clear();
            resample_b.clear();
            for _ in 0..a.len() {
                let index = index_below(&mut rng, a.len());
                resample_a.push(a[index]);
                resample_b.push(b[index]);
            }
            statistic(&resample_a) - statistic(&resample_b)
        })
        .collect();
    difference_interval(value, differences)
}

/// A difference's 95% percentile interval from its finite resampled values,
/// and the two-sided share of them on the other side of zero (a p-value).
pub fn difference_interval(value: f64, mut differences: Vec<f64>) -> (Estimate, f64) {
    differences.retain(|difference| difference.is_finite());
    let at_or_below = differences.iter().filter(|&&d| d <= 0.0).count() as f64;
    let at_or_above = differences.iter().filter(|&&d| d >= 0.0).count() as f64;
    let p_value = (2.0 * at_or_below.min(at_or_above) / differences.len().max(1) as f64).min(1.0);
    (percentile_interval(value, differences), p_value)
}

pub(super) fn index_below(rng: &mut ChaCha8Rng, bound: usize) -> usize {
    // Lemire's multiply-shift: unbiased enough at these sizes (< 2^32 items).
    ((u64::from(rng.next_u32()) * bound as u64) >> 32) as usize
}

/// Linear interpolation between order statistics (numpy's default).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let position = q * (sorted.len() - 1) as f64;
    let (below, above) = (position.floor() as usize, position.ceil() as usize);
    sorted[below] + (sorted[above] - sorted[below]) * (position - below as f64)
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0usize), |(sum, count), v| (sum + v, count + 1));
    sum / count as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triplet(d0: f64, d1: f64, judgments: f64, chose_p1: f64) -> ScoredTriplet {
        ScoredTriplet {
            d0,
            d1,
            judgments,
            chose_p1,
        }
    }

    #[test]
    fn two_afc_score_matches_a_hand_computation() {
        let triplets = [
            // The metric prefers p0; 1 of 5 chose p1: agreement 0.8.
            triplet(0.1, 0.3, 5.0, 1.0),
            // The metric prefers p1; 2 of 5 chose p1: agreement 0.4.
            triplet(0.5, 0.2, 5.0, 2.0),
            // A tie counts 0.5 whatever people said.
            triplet(0.4, 0.4, 2.0, 2.0),
            // The metric prefers p0, everyone chose p1: 0.
            triplet(0.0, 0.9, 2.0, 2.0),
        ];
        assert!((two_afc_score(&triplets) - (0.8 + 0.4 + 0.5 + 0.0) / 4.0).abs() < 1e-12);
    }

    #[test]
    fn human_ceiling_is_the_chance_that_two_people_agree() {
        // 5 judges, 1 chose p1: of the 20 ordered pairs, 12 agree (4·3 + 1·0).
        let t = triplet(0.0, 1.0, 5.0, 1.0);
        assert!((t.human_agreement().unwrap() - 12.0 / 20.0).abs() < 1e-12);
        // Unanimous: always agree. Split 1–1: never.
        assert_eq!(triplet(0.0, 1.0, 2.0, 2.0).human_agreement(), Some(1.0));
        assert_eq!(triplet(0.0, 1.0, 2.0, 1.0).human_agreement(), Some(0.0));
        assert_eq!(triplet(0.0, 1.0, 1.0, 1.0).human_agreement(), None);
        let ceiling =
            human_two_afc_score(&[t, triplet(0.0, 1.0, 2.0, 2.0), triplet(0.0, 1.0, 1.0, 0.0)]);
        assert!((ceiling.unwrap() - (0.6 + 1.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn jnd_map_matches_a_hand_computation() {
        // Ranked by distance: same shares 1, 0, 0.5.
        let pairs = [
            ScoredPair {
                distance: 0.3,
                same_share: 0.5,
            },
            ScoredPair {
                distance: 0.1,
                same_share: 1.0,
            },
            ScoredPair {
                distance: 0.2,
                same_share: 0.0,
            },
        ];
        // TP 1, 1, 1.5; FP 0, 1, 1.5 → precision 1, 1/2, 1/2; recall 2/3, 2/3, 1.
        let curve = precision_recall(&pairs);
        assert_eq!(curve.precision, vec![1.0, 0.5, 0.5]);
        assert_eq!(curve.recall, vec![2.0 / 3.0, 2.0 / 3.0, 1.0]);
        // VOC AP: recall steps 0→2/3 at envelope 1, 2/3→1 at 0.5.
        assert!((jnd_map(&pairs) - (2.0 / 3.0 + 0.5 / 3.0)).abs() < 1e-12);
    }

    #[test]
    fn a_perfect_ranking_has_map_one() {
        let pairs: Vec<ScoredPair> = (0..10)
            .map(|i| ScoredPair {
                distance: f64::from(i),
                same_share: if i < 4 { 1.0 } else { 0.0 },
            })
            .collect();
        assert!((jnd_map(&pairs) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_intervals_contain_the_value_and_narrow_with_more_data() {
        let agreements = |n: usize| -> Vec<f64> { (0..n).map(|i| (i % 4) as f64 / 3.0).collect() };
        let mean_of = |items: &[f64]| mean(items.iter().copied());
        let small = bootstrap(&agreements(40), mean_of, 1);
        let large = bootstrap(&agreements(4000), mean_of, 1);
        for estimate in [small, large] {
            assert!(
                estimate.low <= estimate.value && estimate.value <= estimate.high,
                "{estimate:?}"
            );
        }
        assert!(large.high - large.low < (small.high - small.low) / 5.0);
        assert_eq!(
            bootstrap(&agreements(40), mean_of, 1),
            small,
            "seeded: reproducible"
        );
    }

    #[test]
    fn paired_differences_tell_a_real_gap_from_noise() {
        let better: Vec<f64> = (0..500)
            .map(|i| if i % 10 < 8 { 1.0 } else { 0.0 })
            .collect();
        let worse: Vec<f64> = (0..500)
            .map(|i| if i % 10 < 6 { 1.0 } else { 0.0 })
            .collect();
        let mean_of = |items: &[f64]| mean(items.iter().copied());
        let (difference, p) = paired_difference(&better, &worse, mean_of, 3);
        assert!((difference.value - 0.2).abs() < 1e-12);
        assert!(difference.low > 0.0 && p < 0.01, "{difference:?} p={p}");
        let (same, p) = paired_difference(&better, &better, mean_of, 3);
        assert_eq!(same.value, 0.0);
        assert!(p >= 0.99, "p={p}");
    }
}
