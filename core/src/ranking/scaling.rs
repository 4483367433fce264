//! One scale value per method from a [`ComparisonTable`], by Newton's method
//! on the (penalised) log-likelihood.
//!
//! With `θ` the scale values and `w(i, j)` the table's counts, both models
//! minimise `−Σ w(i, j) · log F(θi − θj) + ridge · Σ θi²`:
//!
//! - **Bradley–Terry:** `F` is the logistic function; `θ` are log-strengths,
//!   exactly `choix.opt_pairwise(n, data, alpha=ridge)` (and, with ridge 0,
//!   the maximum-likelihood estimate `choix.ilsr_pairwise` converges to).
//! - **Thurstone Case V:** `F(d) = Φ(d / 1.4826)`, the normal distribution
//!   pwcmp's `pw_scale` uses, so that `θ` is in JOD units: a difference of 1
//!   is 75% of answers preferring one method. pwcmp pins its first method at
//!   0; here the values are centred (mean 0): the same scale, shifted.
//!
//! With ridge 0 the estimate exists only if every method both won and lost
//! against the rest in a connected way (the "wins" graph is strongly
//! connected); otherwise one value runs off to infinity, and [`fit`] says so.
//! The ridge (a Gaussian prior, as choix's `alpha`) keeps it finite. Reports
//! use [`DEFAULT_RIDGE`], whose prior standard deviation, 1/√(2·0.01) ≈ 7
//! units, is far wider than real differences between methods, so it only
//! matters for unanimous answers, where the data alone say "infinitely
//! better".

use super::ComparisonTable;

/// The ridge of reports' fits (choix's `alpha`): see the module docs.
pub const DEFAULT_RIDGE: f64 = 0.01;

/// The standard deviation of pwcmp's JOD scale: `Φ(1 / 1.4826) = 0.75`.
pub const JOD_SIGMA: f64 = 1.4826;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    BradleyTerry,
    /// Thurstone Case V in JOD units.
    Thurstone,
}

impl Model {
    /// The unit of this model's scale values.
    pub fn unit(self) -> &'static str {
        match self {
            Model::BradleyTerry => "log-strength",
            Model::Thurstone => "JOD",
        }
    }

    /// The modelled probability that a method `difference` above another is
    /// preferred to it.
    pub fn preference(self, difference: f64) -> f64 {
        match self {
            Model::BradleyTerry => 1.0 / (1.0 + (-difference).exp()),
            Model::Thurstone => normal_cdf(difference / JOD_SIGMA),
        }
    }

    /// `log F(d)`, its first and its second derivative in `d`.
    fn log_link(self, d: f64) -> (f64, f64, f64) {
        match self {
            Model::BradleyTerry => {
                // log σ(d) = −log(1 + e^{−d}); derivative 1 − σ(d); second −σ(1 − σ).
                let p = 1.0 / (1.0 + (-d).exp());
                let log_p = if d > -30.0 {
                    -(-d).exp().ln_1p()
                } else {
                    d - d.exp().ln_1p()
                };
                (log_p, 1.0 - p, -p * (1.0 - p))
            }
            Model::Thurstone => {
                let z = d / JOD_SIGMA;
                let (log_cdf, mills) = log_normal_cdf_and_mills(z);
                // d/dz log Φ = λ = φ/Φ; d²/dz² log Φ = −λ(z + λ).
                (
                    log_cdf,
                    mills / JOD_SIGMA,
                    -mills * (z + mills) / (JOD_SIGMA * JOD_SIGMA),
                )
            }
        }
    }
}

/// Why no scale exists.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScalingError {
    #[error(
        "no finite scale without a ridge: method {method} {relation} method 0, directly or \
         through other methods (every method must both win and lose against the rest)"
    )]
    Unbounded {
        method: usize,
        relation: &'static str,
    },
    #[error("the fit did not converge in {0} Newton steps")]
    NotConverged(usize),
}

const MAX_STEPS: usize = 200;

/// The scale values (mean 0) of `table`'s methods under `model`.
pub fn fit(table: &ComparisonTable, model: Model, ridge: f64) -> Result<Vec<f64>, ScalingError> {
    assert!(ridge >= 0.0 && ridge.is_finite(), "the ridge is ≥ 0");
    let n = table.methods();
    if n == 0 {
        return Ok(Vec::new());
    }
    if ridge == 0.0 {
        check_bounded(table)?;
    }
    let mut theta = vec![0.0; n];
    let mut value = objective(table, model, ridge, &theta);
    for _ in 0..MAX_STEPS {
        let (gradient, mut hessian) = derivatives(table, model, ridge, &theta);
        let largest = gradient.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        if largest < 1e-11 * (1.0 + table.total()) {
            return Ok(centred(theta));
        }
        if ridge == 0.0 {
            // The likelihood does not change along (1, …, 1): adding 1·1ᵀ
            // makes the Hessian invertible and keeps steps centred.
            for entry in hessian.iter_mut() {
                *entry += 1.0;
            }
        }
        let step = solve(hessian, gradient.iter().map(|g| -g).collect(), n);
        // Backtracking: Newton's step, halved until the objective decreases
        // (near the optimum the decrease is below rounding: then the full
        // step is taken, which the gradient test then accepts).
        let rounding = 64.0 * f64::EPSILON * value.abs();
        let mut scale = 1.0;
        loop {
            let candidate: Vec<f64> = theta
                .iter()
                .zip(&step)
                .map(|(t, s)| t + scale * s)
                .collect();
            let candidate_value = objective(table, model, ridge, &candidate);
            if candidate_value <= value + rounding || scale < 1e-10 {
                theta = candidate;
                value = candidate_value;
                break;
            }
            scale /= 2.0;
        }
    }
    Err(ScalingError::NotConverged(MAX_STEPS))
}

fn centred(mut theta: Vec<f64>) -> Vec<f64> {
    let mean = theta.iter().sum::<f64>() / theta.len() as f64;
    theta.iter_mut().for_each(|t| *t -= mean);
    theta
}

fn objective(table: &ComparisonTable, model: Model, ridge: f64, theta: &[f64]) -> f64 {
    let n = table.methods();
    let mut value = ridge * theta.iter().map(|t| t * t).sum::<f64>();
    for i in 0..n {
        for j in 0..n {
            let w = table.wins(i, j);
            if w > 0.0 {
                value -= w * model.log_link(theta[i] - theta[j]).0;
            }
        }
    }
    value
}

/// The objective's gradient and Hessian (row-major).
fn derivatives(
    table: &ComparisonTable,
    model: Model,
    ridge: f64,
    theta: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let n = table.methods();
    let mut gradient: Vec<f64> = theta.iter().map(|t| 2.0 * ridge * t).collect();
    let mut hessian = vec![0.0; n * n];
    for i in 0..n {
        hessian[i * n + i] += 2.0 * ridge;
        for j in 0..n {
            let w = table.wins(i, j);
            if w == 0.0 {
                continue;
            }
            // The term −w·log F(θi − θj).
            let (_, first, second) = model.log_link(theta[i] - theta[j]);
            gradient[i] -= w * first;
            gradient[j] += w * first;
            let curvature = -w * second;
            hessian[i * n + i] += curvature;
            hessian[j * n + j] += curvature;
            hessian[i * n + j] -= curvature;
            hessian[j * n + i] -= curvature;
        }
    }
    (gradient, hessian)
}

/// Solves `matrix · x = rhs` (symmetric positive definite, small) by
/// Gaussian elimination with partial pivoting.
fn solve(mut matrix: Vec<f64>, mut rhs: Vec<f64>, n: usize) -> Vec<f64> {
    for column in 0..n {
        let pivot = (column..n)
            .max_by(|&a, &b| {
                matrix[a * n + column]
                    .abs()
                    .total_cmp(&matrix[b * n + column].abs())
            })
            .expect("a column has rows");
        if pivot != column {
            for k in 0..n {
                matrix.swap(column * n + k, pivot * n + k);
            }
            rhs.swap(column, pivot);
        }
        let diagonal = matrix[column * n + column];
        if diagonal.abs() < 1e-300 {
            continue;
        }
        for row in column + 1..n {
            let factor = matrix[row * n + column] / diagonal;
            if factor == 0.0 {
                continue;
            }
            for k in column..n {
                matrix[row * n + k] -= factor * matrix[column * n + k];
            }
            rhs[row] -= factor * rhs[column];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let diagonal = matrix[row * n + row];
        let rest: f64 = (row + 1..n).map(|k| matrix[row * n + k] * x[k]).sum();
        x[row] = if diagonal.abs() < 1e-300 {
            0.0
        } else {
            (rhs[row] - rest) / diagonal
        };
    }
    x
}

/// Ridge 0 needs a strongly connected "beat" graph (`i → j` when `i` won
/// against `j` at least once): else the methods that nobody outside their
/// group ever beat (or that never beat anyone outside it) run off to ±∞.
fn check_bounded(table: &ComparisonTable) -> Result<(), ScalingError> {
    let n = table.methods();
    let reach = |forward: bool| {
        let mut seen = vec![false; n];
        let mut stack = vec![0];
        seen[0] = true;
        while let Some(i) = stack.pop() {
            for (j, seen_j) in seen.iter_mut().enumerate() {
                let edge = if forward {
                    table.wins(i, j)
                } else {
                    table.wins(j, i)
                };
                if edge > 0.0 && !*seen_j {
                    *seen_j = true;
                    stack.push(j);
                }
            }
        }
        seen
    };
    if let Some(method) = reach(true).iter().position(|&seen| !seen) {
        // Method 0 never (indirectly) beat `method`: it is never beaten by that side.
        return Err(ScalingError::Unbounded {
            method,
            relation: "is never beaten by",
        });
    }
    if let Some(method) = reach(false).iter().position(|&seen| !seen) {
        return Err(ScalingError::Unbounded {
            method,
            relation: "never beats",
        });
    }
    Ok(())
}

/// Φ(z), the standard normal distribution function.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// `log Φ(z)` and the inverse Mills ratio `φ(z)/Φ(z)`, accurate far into
/// the lower tail (where Φ underflows).
fn log_normal_cdf_and_mills(z: f64) -> (f64, f64) {
    let log_density = -0.5 * z * z - 0.5 * (2.0 * std::f64::consts::PI).ln();
    if z > -30.0 {
        let cdf = normal_cdf(z);
        (cdf.ln(), (log_density - cdf.ln()).exp())
    } else {
        // Φ(z) ≈ φ(z)/(−z) · (1 − 1/z² + 3/z⁴).
        let z2 = z * z;
        let series = 1.0 - 1.0 / z2 + 3.0 / (z2 * z2);
        let log_cdf = log_density - (-z).ln() + series.ln();
        (log_cdf, -z / series)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_match_finite_differences() {
        for model in [Model::BradleyTerry, Model::Thurstone] {
            for d in [-40.0, -5.0, -0.3, 0.0, 0.7, 4.0] {
                let h = 1e-5;
                let (f, first, second) = model.log_link(d);
                let (fp, firstp, _) = model.log_link(d + h);
                let (fm, firstm, _) = model.log_link(d - h);
                assert!(((fp - fm) / (2.0 * h) - first).abs() < 1e-5 * (1.0 + first.abs()));
                assert!(
                    ((firstp - firstm) / (2.0 * h) - second).abs() < 1e-5 * (1.0 + second.abs())
                );
                assert!(f <= 0.0);
            }
        }
        // One JOD is 75%.
        assert!((Model::Thurstone.preference(1.0) - 0.75).abs() < 1e-4);
    }

    #[test]
    fn two_methods_have_the_closed_form_scale() {
        // 30 to 10: Bradley–Terry difference log 3, Thurstone σ·Φ⁻¹(0.75)·… = JOD of 75%.
        let table = ComparisonTable::from_rows(&[vec![0.0, 30.0], vec![10.0, 0.0]]);
        let bt = fit(&table, Model::BradleyTerry, 0.0).unwrap();
        assert!((bt[0] - bt[1] - 3f64.ln()).abs() < 1e-9, "{bt:?}");
        let jod = fit(&table, Model::Thurstone, 0.0).unwrap();
        assert!((jod[0] - jod[1] - 1.0).abs() < 1e-3, "{jod:?}");
        assert!(jod.iter().sum::<f64>().abs() < 1e-12);
    }

    #[test]
    fn unanimous_answers_need_a_ridge() {
        let table = ComparisonTable::from_rows(&[vec![0.0, 5.0], vec![0.0, 0.0]]);
        let error = fit(&table, Model::BradleyTerry, 0.0).unwrap_err();
        assert!(error.to_string().contains("method 1"), "{error}");
        let finite = fit(&table, Model::Thurstone, DEFAULT_RIDGE).unwrap();
        assert!(finite[0] > finite[1] && finite.iter().all(|v| v.is_finite()));
    }
}
