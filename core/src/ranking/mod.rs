//! Ranking methods from pairwise judgments, and comparing rankings.
//!
//! A method-comparison experiment asks people, over and over, which of two
//! methods' outputs is closer to the reference. This module turns those
//! answers into one scale value per method and says how sure that is:
//!
//! - [`scaling`]: the maximum-likelihood (or, with a ridge, maximum a
//!   posteriori) fit of Bradley–Terry (logistic, log-strengths as choix
//!   gives them) or Thurstone Case V (Gaussian, in JOD units as pwcmp
//!   gives them: a difference of 1 means 75% of answers prefer the better
//!   method), by Newton's method;
//! - [`bootstrap`]: 95% intervals from resampling workers (a worker's
//!   judgments stay together, since one person's answers are not
//!   independent), and the significance matrix between methods;
//! - [`correlation`]: Kendall τ-b and Spearman ρ between two rankings (the
//!   people's, a metric's), with bootstrap intervals.
//!
//! Pure computation, no database: reports and tests call it on tables.

pub mod bootstrap;
pub mod correlation;
pub mod scaling;

pub use bootstrap::{bootstrap_scale, ScaleBootstrap, Significance};
pub use correlation::{kendall_tau, pearson_r, spearman_rho, RankAgreement};
pub use scaling::{fit, Model, DEFAULT_RIDGE};

/// A statistic and its 95% percentile-bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// Pairwise judgments between `methods` methods: `wins(i, j)` is how often
/// method `i` was preferred over method `j`.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonTable {
    methods: usize,
    wins: Vec<f64>,
}

impl ComparisonTable {
    pub fn new(methods: usize) -> Self {
        Self {
            methods,
            wins: vec![0.0; methods * methods],
        }
    }

    /// From rows: `rows[i][j]` is how often `i` was preferred over `j`.
    ///
    /// # Panics
    /// If the rows are not square or a count is negative or not finite:
    /// tables are built by code, not read from users.
    pub fn from_rows(rows: &[Vec<f64>]) -> Self {
        let mut table = Self::new(rows.len());
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.len(), rows.len(), "a comparison table is square");
            for (j, &count) in row.iter().enumerate() {
                table.add(i, j, count);
            }
        }
        table
    }

    pub fn methods(&self) -> usize {
        self.methods
    }

    pub fn wins(&self, winner: usize, loser: usize) -> f64 {
        self.wins[winner * self.methods + loser]
    }

    /// Records `count` judgments preferring `winner` over `loser`.
    pub fn add(&mut self, winner: usize, loser: usize, count: f64) {
        assert!(
            count >= 0.0 && count.is_finite(),
            "counts are finite and ≥ 0"
        );
        assert!(
            winner != loser || count == 0.0,
            "a method is not compared with itself"
        );
        self.wins[winner * self.methods + loser] += count;
    }

    /// Adds another table's counts (same methods) to this one.
    pub fn add_table(&mut self, other: &ComparisonTable) {
        assert_eq!(self.methods, other.methods, "tables of the same methods");
        for (mine, theirs) in self.wins.iter_mut().zip(&other.wins) {
            *mine += theirs;
        }
    }

    pub fn total(&self) -> f64 {
        self.wins.iter().sum()
    }
}

/// Linear interpolation between order statistics (numpy's default).
pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let position = q * (sorted.len() - 1) as f64;
    let (below, above) = (position.floor() as usize, position.ceil() as usize);
    sorted[below] + (sorted[above] - sorted[below]) * (position - below as f64)
}

/// The 95% percentile interval of `samples` around `value`.
pub fn interval(value: f64, mut samples: Vec<f64>) -> Interval {
    samples.retain(|sample| sample.is_finite());
    samples.sort_by(f64::total_cmp);
    if samples.is_empty() {
        return Interval {
            value,
            low: value,
            high: value,
        };
    }
    Interval {
        value,
        low: percentile(&samples, 0.025),
        high: percentile(&samples, 0.975),
    }
}
