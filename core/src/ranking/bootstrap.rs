//! How sure a scale is: refit it on resamples of the workers.
//!
//! Each resample draws as many workers as there are, with replacement, and
//! sums their tables, so a worker's judgments stay together. The 95%
//! interval of a method's value is the 2.5/97.5 percentiles of its refitted
//! values. Two methods differ significantly when their difference keeps its
//! sign in nearly all resamples: the two-sided bootstrap p-value (twice the
//! smaller share of resamples on either side of zero), Holm-adjusted over all
//! pairs of the matrix so that "significant at 5%" holds for the matrix as a
//! whole, not for each cell.

use distortions::rand_chacha::{
    rand_core::{RngCore, SeedableRng},
    ChaCha8Rng,
};

use super::scaling::{fit, Model, ScalingError};
use super::{interval, ComparisonTable, Interval};

/// Significance level of the matrix (family-wise, after Holm).
pub const ALPHA: f64 = 0.05;

/// A scale with its intervals and significance matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleBootstrap {
    /// Per method: the fit on all workers, with its 95% interval.
    pub values: Vec<Interval>,
    /// Every pair `a < b`: is the difference real?
    pub significance: Vec<Significance>,
    /// The refitted values of each resample (`resamples[r][method]`), for
    /// intervals of statistics built on the scale (rank correlations).
    pub resamples: Vec<Vec<f64>>,
}

/// Method `a` minus method `b`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Significance {
    pub a: usize,
    pub b: usize,
    pub difference: Interval,
    /// Two-sided bootstrap p-value, Holm-adjusted over the matrix.
    pub p_value: f64,
    pub significant: bool,
}

impl ScaleBootstrap {
    /// The significance of `a` against `b` (either order).
    pub fn between(&self, a: usize, b: usize) -> Option<&Significance> {
        self.significance
            .iter()
            .find(|s| (s.a, s.b) == (a, b) || (s.a, s.b) == (b, a))
    }
}

/// Fits `model` on all `workers`' tables summed, and on `resamples`
/// resamples of the workers (seeded: the same input gives the same output).
pub fn bootstrap_scale(
    workers: &[ComparisonTable],
    methods: usize,
    model: Model,
    ridge: f64,
    resamples: usize,
    seed: u64,
) -> Result<ScaleBootstrap, ScalingError> {
    let sum = |tables: &mut dyn Iterator<Item = &ComparisonTable>| {
        let mut total = ComparisonTable::new(methods);
        tables.for_each(|table| total.add_table(table));
        total
    };
    let estimate = fit(&sum(&mut workers.iter()), model, ridge)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut refits = Vec::with_capacity(resamples);
    if !workers.is_empty() {
        for _ in 0..resamples {
            let drawn: Vec<usize> = (0..workers.len())
                .map(|_| index_below(&mut rng, workers.len()))
                .collect();
            let table = sum(&mut drawn.iter().map(|&w| &workers[w]));
            // Without a ridge a resample may have no finite scale: it says
            // nothing about the differences, so it is left out.
            if let Ok(values) = fit(&table, model, ridge) {
                refits.push(values);
            }
        }
    }
    let values = (0..methods)
        .map(|m| interval(estimate[m], refits.iter().map(|r| r[m]).collect()))
        .collect();
    let mut significance: Vec<Significance> = Vec::new();
    for a in 0..methods {
        for b in a + 1..methods {
            let differences: Vec<f64> = refits.iter().map(|r| r[a] - r[b]).collect();
            let at_or_below = differences.iter().filter(|&&d| d <= 0.0).count() as f64;
            let at_or_above = differences.iter().filter(|&&d| d >= 0.0).count() as f64;
            let p_value = if differences.is_empty() {
                1.0
            } else {
                (2.0 * at_or_below.min(at_or_above) / differences.len() as f64).min(1.0)
            };
            significance.push(Significance {
                a,
                b,
                difference: interval(estimate[a] - estimate[b], differences),
                p_value,
                significant: false,
            });
        }
    }
    holm(&mut significance);
    Ok(ScaleBootstrap {
        values,
        significance,
        resamples: refits,
    })
}

/// Holm's step-down adjustment: the k-th smallest of m p-values is
/// multiplied by (m − k + 1), kept monotone, capped at 1.
fn holm(tests: &mut [Significance]) {
    let m = tests.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&x, &y| tests[x].p_value.total_cmp(&tests[y].p_value));
    let mut running = 0.0f64;
    for (k, &index) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * tests[index].p_value).min(1.0));
        tests[index].p_value = running;
        tests[index].significant = running < ALPHA;
    }
}

/// An index below `bound`, uniformly (Lemire's multiply-shift; bound < 2³²).
pub fn index_below(rng: &mut ChaCha8Rng, bound: usize) -> usize {
    ((u64::from(rng.next_u32()) * bound as u64) >> 32) as usize
}
