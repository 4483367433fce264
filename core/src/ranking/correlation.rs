//! Do two rankings of the same methods agree? Kendall τ-b and Spearman ρ
//! (both as scipy.stats computes them, ties included), with bootstrap
//! intervals from paired resamples of the two score vectors.
//!
//! Scores are "higher is better" on both sides: pass a metric's mean
//! distance negated.

use super::{interval, Interval};

/// Kendall's τ-b: concordant minus discordant pairs over the geometric mean
/// of the pairs untied in each ranking (scipy's `kendalltau` default). NaN
/// when either ranking is all ties.
pub fn kendall_tau(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "two rankings of the same methods");
    let (mut concordant, mut discordant, mut untied_x, mut untied_y) =
        (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for i in 0..x.len() {
        for j in i + 1..x.len() {
            let (dx, dy) = (x[i] - x[j], y[i] - y[j]);
            if dx != 0.0 {
                untied_x += 1.0;
            }
            if dy != 0.0 {
                untied_y += 1.0;
            }
            let product = dx * dy;
            if product > 0.0 {
                concordant += 1.0;
            } else if product < 0.0 {
                discordant += 1.0;
            }
        }
    }
    (concordant - discordant) / (untied_x * untied_y).sqrt()
}

/// Spearman's ρ: Pearson's correlation of the average ranks. NaN when
/// either ranking is all ties.
pub fn spearman_rho(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "two rankings of the same methods");
    pearson_r(&average_ranks(x), &average_ranks(y))
}

/// Ranks from 1, ties sharing their mean rank.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = rank;
        }
        start = end;
    }
    ranks
}

/// Pearson's r. NaN when either side has no spread.
pub fn pearson_r(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "paired values");
    let n = x.len() as f64;
    let (mean_x, mean_y) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mean_x) * (b - mean_y);
        sxx += (a - mean_x) * (a - mean_x);
        syy += (b - mean_y) * (b - mean_y);
    }
    sxy / (sxx * syy).sqrt()
}

/// How far a ranking agrees with another.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RankAgreement {
    pub kendall_tau: Interval,
    pub spearman_rho: Interval,
}

impl RankAgreement {
    /// τ and ρ between `people` and `metric`, with intervals from the
    /// resamples paired by index (`people_resamples[r]` with
    /// `metric_resamples[r]`; either side may be fixed by repeating it).
    pub fn new(
        people: &[f64],
        metric: &[f64],
        people_resamples: &[Vec<f64>],
        metric_resamples: &[Vec<f64>],
    ) -> Self {
        let pairs = || people_resamples.iter().zip(metric_resamples);
        RankAgreement {
            kendall_tau: interval(
                kendall_tau(people, metric),
                pairs().map(|(p, m)| kendall_tau(p, m)).collect(),
            ),
            spearman_rho: interval(
                spearman_rho(people, metric),
                pairs().map(|(p, m)| spearman_rho(p, m)).collect(),
            ),
        }
    }
}
