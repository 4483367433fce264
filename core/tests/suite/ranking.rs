//! The ranking module against an independent computation (choix and scipy
//! in the project's venv, `python/ranking_reference.py`), and simulated
//! observers whose answers have a known order, or none.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use distortions::rand_chacha::{
    rand_core::{RngCore, SeedableRng},
    ChaCha8Rng,
};
use percept_core::ranking::{
    bootstrap_scale, fit, kendall_tau, spearman_rho, ComparisonTable, Model, RankAgreement,
    DEFAULT_RIDGE,
};

/// Five methods, unbalanced: method 4 was never compared with method 0,
/// some pairs have 3 judgments and others 40. Every method wins and loses.
const WINS: [[u32; 5]; 5] = [
    [0, 12, 3, 7, 0],
    [8, 0, 2, 9, 5],
    [1, 30, 0, 14, 6],
    [2, 11, 4, 0, 1],
    [0, 3, 2, 9, 0],
];
const X: [f64; 7] = [0.3, 1.2, 1.2, -0.5, 2.0, 0.9, 0.9];
const Y: [f64; 7] = [0.1, 0.8, 1.5, -0.2, 1.5, 1.1, 0.4];

/// `$PERCEPT_VENV/bin/python`, else `~/.cache/percept/venv` (`cargo xtask
/// setup` makes it; `cargo xtask test` always has it).
fn venv_python() -> Option<PathBuf> {
    let venv = std::env::var_os("PERCEPT_VENV")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(cache.join("percept/venv"))
        })?;
    let python = venv.join("bin/python");
    python.exists().then_some(python)
}

fn table() -> ComparisonTable {
    ComparisonTable::from_rows(
        &WINS
            .iter()
            .map(|row| row.iter().map(|&w| f64::from(w)).collect())
            .collect::<Vec<_>>(),
    )
}

fn largest_difference(ours: &[f64], theirs: &serde_json::Value) -> f64 {
    let theirs: Vec<f64> = serde_json::from_value(theirs.clone()).expect("a list of numbers");
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

#[test]
fn fits_and_correlations_match_choix_and_scipy() {
    let Some(python) = venv_python() else {
        eprintln!(
            "\n*** SKIPPED fits_and_correlations_match_choix_and_scipy: no Python venv — run \
             `cargo xtask setup` (or set PERCEPT_VENV); `cargo xtask test` always runs this test ***\n"
        );
        return;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../python/ranking_reference.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the venv's python");
    let input = serde_json::json!({ "wins": WINS, "ridge": DEFAULT_RIDGE, "x": X, "y": Y });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{} failed (is choix installed? `cargo xtask setup`)",
        script.display()
    );
    let reference: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let table = table();
    let checks = [
        (
            "Bradley–Terry ML vs choix I-LSR",
            fit(&table, Model::BradleyTerry, 0.0).unwrap(),
            "bt_mle",
        ),
        (
            "Bradley–Terry ML vs choix MM",
            fit(&table, Model::BradleyTerry, 0.0).unwrap(),
            "bt_mm",
        ),
        (
            "Bradley–Terry ridge 0.01 vs choix opt_pairwise",
            fit(&table, Model::BradleyTerry, DEFAULT_RIDGE).unwrap(),
            "bt_map",
        ),
        (
            "Thurstone ML (JOD) vs scipy",
            fit(&table, Model::Thurstone, 0.0).unwrap(),
            "thurstone_mle",
        ),
        (
            "Thurstone ridge 0.01 (JOD) vs scipy",
            fit(&table, Model::Thurstone, DEFAULT_RIDGE).unwrap(),
            "thurstone_map",
        ),
        (
            "Kendall tau-b vs scipy",
            vec![kendall_tau(&X, &Y)],
            "kendall_tau",
        ),
        (
            "Spearman rho vs scipy",
            vec![spearman_rho(&X, &Y)],
            "spearman_rho",
        ),
    ];
    let mut failures = Vec::new();
    for (what, ours, key) in checks {
        let theirs = match &reference[key] {
            serde_json::Value::Number(n) => serde_json::json!([n]),
            other => other.clone(),
        };
        let difference = largest_difference(&ours, &theirs);
        eprintln!("{what}: largest difference {difference:.2e} ({ours:.5?})");
        if difference.is_nan() || difference >= 1e-4 {
            failures.push(format!("{what}: {difference:e}"));
        }
    }
    assert!(failures.is_empty(), "beyond 1e-4: {failures:?}");
}

fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (f64::from(rng.next_u32()) + 0.5) / 4_294_967_296.0
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    (-2.0 * uniform(rng).ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform(rng)).cos()
}

/// `workers` tables of `per_pair` judgments on every pair of `methods`
/// methods, each answer from `choose(rng, a, b) == true` when `a` wins.
fn simulate(
    workers: usize,
    methods: usize,
    per_pair: usize,
    seed: u64,
    mut choose: impl FnMut(&mut ChaCha8Rng, usize, usize) -> bool,
) -> Vec<ComparisonTable> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..workers)
        .map(|_| {
            let mut table = ComparisonTable::new(methods);
            for a in 0..methods {
                for b in a + 1..methods {
                    for _ in 0..per_pair {
                        if choose(&mut rng, a, b) {
                            table.add(a, b, 1.0);
                        } else {
                            table.add(b, a, 1.0);
                        }
                    }
                }
            }
            table
        })
        .collect()
}

#[test]
fn observers_following_a_metric_recover_its_order() {
    // Four methods whose outputs a metric puts at mean distances 0.10, 0.14,
    // 0.18, 0.22 from the reference (patches vary by ±30%); observers pick
    // the output closer by that metric under log-normal noise (σ 0.3).
    let mean_distance = [0.10, 0.14, 0.18, 0.22];
    let workers = simulate(12, 4, 8, 7, |rng, a, b| {
        let patch = 1.0 + 0.3 * (2.0 * uniform(rng) - 1.0);
        let seen =
            |m: usize, rng: &mut ChaCha8Rng| mean_distance[m] * patch * (0.3 * normal(rng)).exp();
        seen(a, rng) < seen(b, rng)
    });
    let metric_scores: Vec<f64> = mean_distance.iter().map(|d| -d).collect();
    for model in [Model::Thurstone, Model::BradleyTerry] {
        let scale = bootstrap_scale(&workers, 4, model, DEFAULT_RIDGE, 500, 1).unwrap();
        let values: Vec<f64> = scale.values.iter().map(|v| v.value).collect();
        assert_eq!(
            kendall_tau(&values, &metric_scores),
            1.0,
            "{model:?}: {values:?}"
        );
        for estimate in &scale.values {
            assert!(estimate.low <= estimate.value && estimate.value <= estimate.high);
        }
        // Methods two steps apart are told apart.
        for (a, b) in [(0, 2), (1, 3), (0, 3)] {
            assert!(
                scale.between(a, b).unwrap().significant,
                "{model:?} {a}-{b}: {:?}",
                scale.between(a, b)
            );
        }
        let fixed = vec![metric_scores.clone(); scale.resamples.len()];
        let agreement = RankAgreement::new(&values, &metric_scores, &scale.resamples, &fixed);
        assert_eq!(agreement.kendall_tau.value, 1.0);
        assert_eq!(agreement.spearman_rho.value, 1.0);
        assert!(agreement.kendall_tau.low > 0.0, "{agreement:?}");
        eprintln!("{model:?}: {values:.3?}, tau {:?}", agreement.kendall_tau);
    }
}

#[test]
fn random_observers_make_nothing_significant() {
    let workers = simulate(20, 4, 6, 11, |rng, _, _| rng.next_u32() & 1 == 1);
    for model in [Model::Thurstone, Model::BradleyTerry] {
        let scale = bootstrap_scale(&workers, 4, model, DEFAULT_RIDGE, 1000, 5).unwrap();
        for s in &scale.significance {
            assert!(!s.significant, "{model:?}: {s:?}");
        }
        for a in &scale.values {
            for b in &scale.values {
                assert!(
                    a.low <= b.high && b.low <= a.high,
                    "{model:?}: {a:?} and {b:?} overlap"
                );
            }
        }
        // Seeded: the same workers give the same scale.
        assert_eq!(
            bootstrap_scale(&workers, 4, model, DEFAULT_RIDGE, 1000, 5).unwrap(),
            scale
        );
    }
}
