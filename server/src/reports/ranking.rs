//! The report's ranking of methods, for method-comparison experiments
//! (triplets whose p0 and p1 name the method that made them).
//!
//! People's judgments become one scale value per method (Thurstone Case V
//! in JOD units, `percept_core::ranking`), with 95% intervals from resampling
//! workers and a Holm-adjusted significance matrix; overall and per
//! category. Each scored metric ranks the same methods by its mean distance
//! to the reference (smaller is better), and its Kendall τ-b and Spearman ρ
//! against the people's ranking say whether it orders them as people do.
//! The headline names the metrics that agree best.
//!
//! Intervals of τ and ρ pair each resample of the workers with a resample
//! of the metric's distances (each method's distances resampled apart, so
//! that every resample has every method): they carry the uncertainty of
//! both rankings.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use distortions::rand_chacha::{rand_core::SeedableRng, ChaCha8Rng};
use percept_api::count;
use percept_core::ranking::{
    bootstrap::index_below, bootstrap_scale, ComparisonTable, Interval, Model, RankAgreement,
    DEFAULT_RIDGE,
};
use serde::Serialize;
use sqlx::PgPool;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::agreement::{Estimate, BOOTSTRAP_RESAMPLES};
use super::html::{chart_error, escape, p_value_text, series_color, svg_chart};
use super::BOOTSTRAP_SEED;
use crate::error::Result;

/// The scale people's judgments are fitted on.
const MODEL: Model = Model::Thurstone;

/// The ranking section: overall, and per category when there are several.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MethodRankings {
    /// `thurstone` (Case V) here.
    pub model: String,
    /// `JOD`: a difference of 1 is 75% of answers preferring the better method.
    pub unit: String,
    pub overall: MethodRanking,
    /// Empty with a single category (the overall ranking is that category's).
    pub per_category: Vec<MethodRanking>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MethodRanking {
    /// `all`, or the experiments' category.
    pub category: String,
    /// Judgments of pairs of methods counted (collected and imported).
    pub judgments: f64,
    /// Resampling units: workers, and each imported triplet's judges as one.
    pub workers: usize,
    /// Best first (the highest scale value).
    pub methods: Vec<MethodScale>,
    /// Every pair of methods, in the order of `methods`: `a` minus `b`.
    pub significance: Vec<MethodDifference>,
    /// Each scored metric's ranking of the methods, best agreement first.
    pub metrics: Vec<MetricRanking>,
    /// The metrics whose Kendall τ with the people's ranking is highest
    /// (several when they tie): which metric ranks the methods as people do.
    pub best_metrics: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MethodScale {
    pub method: String,
    /// Scale value (mean 0 over the methods) with its 95% worker-bootstrap interval.
    pub scale: Estimate,
    /// Judgments of triplets with this method on either side.
    pub judgments: f64,
    /// Share of those judgments preferring this method.
    pub preferred_share: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MethodDifference {
    pub a: String,
    pub b: String,
    pub difference: Estimate,
    /// Two-sided bootstrap p-value, Holm-adjusted over the matrix.
    pub p_value: f64,
    pub significant: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MetricRanking {
    pub metric: String,
    /// Triplets of these methods the metric scored.
    pub triplets: usize,
    /// Per method, in the people's order: the mean distance of its patches
    /// to the reference (smaller ranks higher), with a 95% bootstrap interval.
    pub mean_distances: Vec<MethodDistance>,
    /// Agreement of the metric's ranking with the people's.
    pub kendall_tau: Estimate,
    pub spearman_rho: Estimate,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MethodDistance {
    pub method: String,
    pub mean_distance: Estimate,
    /// 1 for the metric's best (smallest mean distance).
    pub rank: usize,
}

/// A non-sentinel triplet of two methods.
#[derive(Debug, Clone)]
pub(super) struct MethodTriplet {
    pub id: i64,
    pub category: String,
    pub p0_method: String,
    pub p1_method: String,
}

/// One resampling unit's judgments: per triplet, (judgments, chose p1).
pub(super) type Unit = Vec<(i64, f64, f64)>;

/// The ranking section over the experiments, or `None` when they hold no
/// triplets of methods.
pub async fn build(
    pool: &PgPool,
    experiment_ids: &[i64],
    excluded_workers: &[i64],
) -> Result<Option<MethodRankings>> {
    let triplets: Vec<MethodTriplet> = sqlx::query!(
        r#"SELECT t.id, coalesce(e.category, 'uncategorised') AS "category!",
                  t.p0_method AS "p0_method!", t.p1_method AS "p1_method!"
           FROM triplets t JOIN experiments e ON e.id = t.experiment_id
           WHERE t.experiment_id = ANY($1) AND t.sentinel_answer IS NULL
             AND t.p0_method IS NOT NULL AND t.p1_method IS NOT NULL
           ORDER BY t.id"#,
        experiment_ids
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| MethodTriplet {
        id: row.id,
        category: row.category,
        p0_method: row.p0_method,
        p1_method: row.p1_method,
    })
    .collect();
    if triplets.is_empty() {
        return Ok(None);
    }
    let ids: Vec<i64> = triplets.iter().map(|t| t.id).collect();
    let mut by_worker: BTreeMap<i64, Unit> = BTreeMap::new();
    for row in sqlx::query!(
        r#"SELECT a.worker_id, at.triplet_id, j.chose_p1
           FROM judgments j
           JOIN assignment_trials at USING (assignment_id, position)
           JOIN assignments a ON a.id = j.assignment_id
           WHERE at.triplet_id = ANY($1) AND NOT (a.worker_id = ANY($2))"#,
        &ids,
        excluded_workers
    )
    .fetch_all(pool)
    .await?
    {
        by_worker.entry(row.worker_id).or_default().push((
            row.triplet_id,
            1.0,
            if row.chose_p1 { 1.0 } else { 0.0 },
        ));
    }
    let mut units: Vec<Unit> = by_worker.into_values().collect();
    // Imported judgments come without their workers: each triplet's judges
    // are one unit.
    for row in sqlx::query!(
        "SELECT triplet_id, judgments, p1_share FROM imported_judgments WHERE triplet_id = ANY($1)",
        &ids
    )
    .fetch_all(pool)
    .await?
    {
        let judgments = f64::from(row.judgments);
        units.push(vec![(row.triplet_id, judgments, judgments * row.p1_share)]);
    }
    let mut distances: BTreeMap<String, HashMap<i64, (f64, f64)>> = BTreeMap::new();
    for row in sqlx::query!(
        "SELECT triplet_id, metric, d0, d1 FROM triplet_distances WHERE triplet_id = ANY($1)",
        &ids
    )
    .fetch_all(pool)
    .await?
    {
        distances
            .entry(row.metric)
            .or_default()
            .insert(row.triplet_id, (row.d0, row.d1));
    }
    Ok(rank(&triplets, &units, &distances))
}

/// Everything past the database; `None` without a judged pair of methods.
pub(super) fn rank(
    triplets: &[MethodTriplet],
    units: &[Unit],
    distances: &BTreeMap<String, HashMap<i64, (f64, f64)>>,
) -> Option<MethodRankings> {
    let categories: BTreeSet<&str> = triplets.iter().map(|t| t.category.as_str()).collect();
    let overall = rank_scope("all", triplets, units, distances)?;
    let per_category = if categories.len() > 1 {
        categories
            .into_iter()
            .filter_map(|category| {
                let scoped: Vec<MethodTriplet> = triplets
                    .iter()
                    .filter(|t| t.category == category)
                    .cloned()
                    .collect();
                rank_scope(category, &scoped, units, distances)
            })
            .collect()
    } else {
        Vec::new()
    };
    Some(MethodRankings {
        model: "thurstone".into(),
        unit: MODEL.unit().into(),
        overall,
        per_category,
    })
}

fn estimate(interval: Interval) -> Estimate {
    Estimate {
        value: interval.value,
        low: interval.low,
        high: interval.high,
    }
}

/// The ranking of the methods of `triplets` (units' judgments of other
/// triplets are ignored).
fn rank_scope(
    category: &str,
    triplets: &[MethodTriplet],
    units: &[Unit],
    distances: &BTreeMap<String, HashMap<i64, (f64, f64)>>,
) -> Option<MethodRanking> {
    let methods: Vec<&str> = triplets
        .iter()
        .flat_map(|t| [t.p0_method.as_str(), t.p1_method.as_str()])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let index = |name: &str| methods.binary_search(&name).expect("collected above");
    let sides: HashMap<i64, (usize, usize)> = triplets
        .iter()
        .map(|t| (t.id, (index(&t.p0_method), index(&t.p1_method))))
        .collect();
    let mut judgments = vec![0.0; methods.len()];
    let mut preferred = vec![0.0; methods.len()];
    let tables: Vec<ComparisonTable> = units
        .iter()
        .filter_map(|unit| {
            let mut table = ComparisonTable::new(methods.len());
            for &(triplet, count, chose_p1) in unit {
                let Some(&(m0, m1)) = sides.get(&triplet) else {
                    continue;
                };
                table.add(m1, m0, chose_p1);
                table.add(m0, m1, count - chose_p1);
                judgments[m0] += count;
                judgments[m1] += count;
                preferred[m1] += chose_p1;
                preferred[m0] += count - chose_p1;
            }
            (table.total() > 0.0).then_some(table)
        })
        .collect();
    if tables.is_empty() {
        return None;
    }
    let scale = bootstrap_scale(
        &tables,
        methods.len(),
        MODEL,
        DEFAULT_RIDGE,
        BOOTSTRAP_RESAMPLES,
        BOOTSTRAP_SEED,
    )
    .expect("a ridge keeps every scale finite");
    let values: Vec<f64> = scale.values.iter().map(|v| v.value).collect();
    let mut order: Vec<usize> = (0..methods.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));

    let mut significance = Vec::new();
    for (k, &a) in order.iter().enumerate() {
        for &b in &order[k + 1..] {
            let s = scale.between(a, b).expect("every pair is tested");
            let sign = if s.a == a { 1.0 } else { -1.0 };
            let d = s.difference;
            let (low, high) = if sign > 0.0 {
                (d.low, d.high)
            } else {
                (-d.high, -d.low)
            };
            significance.push(MethodDifference {
                a: methods[a].to_owned(),
                b: methods[b].to_owned(),
                difference: Estimate {
                    value: sign * d.value,
                    low,
                    high,
                },
                p_value: s.p_value,
                significant: s.significant,
            });
        }
    }

    let mut metrics: Vec<MetricRanking> = distances
        .iter()
        .filter_map(|(metric, scored)| {
            metric_ranking(
                metric,
                triplets,
                &sides,
                &methods,
                scored,
                &values,
                &scale.resamples,
            )
        })
        .collect();
    metrics.sort_by(|a, b| {
        b.kendall_tau
            .value
            .total_cmp(&a.kendall_tau.value)
            .then(b.spearman_rho.value.total_cmp(&a.spearman_rho.value))
            .then(a.metric.cmp(&b.metric))
    });
    let best_metrics = match metrics.first() {
        Some(best) if best.kendall_tau.value.is_finite() => metrics
            .iter()
            .filter(|m| (m.kendall_tau.value - best.kendall_tau.value).abs() < 1e-12)
            .map(|m| m.metric.clone())
            .collect(),
        _ => Vec::new(),
    };
    Some(MethodRanking {
        category: category.to_owned(),
        judgments: judgments.iter().sum::<f64>() / 2.0,
        workers: tables.len(),
        methods: order
            .iter()
            .map(|&m| MethodScale {
                method: methods[m].to_owned(),
                scale: estimate(scale.values[m]),
                judgments: judgments[m],
                preferred_share: preferred[m] / judgments[m].max(f64::MIN_POSITIVE),
            })
            .collect(),
        significance,
        metrics,
        best_metrics,
    })
}

/// `metric`'s mean distance per method and its agreement with the people's
/// `values`; `None` unless it scored a triplet of every method.
fn metric_ranking(
    metric: &str,
    triplets: &[MethodTriplet],
    sides: &HashMap<i64, (usize, usize)>,
    methods: &[&str],
    scored: &HashMap<i64, (f64, f64)>,
    people: &[f64],
    people_resamples: &[Vec<f64>],
) -> Option<MetricRanking> {
    let mut per_method: Vec<Vec<f64>> = vec![Vec::new(); methods.len()];
    let mut count = 0;
    for t in triplets {
        let Some(&(d0, d1)) = scored.get(&t.id) else {
            continue;
        };
        let (m0, m1) = sides[&t.id];
        per_method[m0].push(d0);
        per_method[m1].push(d1);
        count += 1;
    }
    if per_method.iter().any(Vec::is_empty) {
        return None;
    }
    let mean = |values: &mut dyn Iterator<Item = f64>, n: usize| values.sum::<f64>() / n as f64;
    let means: Vec<f64> = per_method
        .iter()
        .map(|d| mean(&mut d.iter().copied(), d.len()))
        .collect();
    // Metric's own resamples, paired by index with the people's.
    let mut rng = ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED);
    let resampled_means: Vec<Vec<f64>> = (0..people_resamples.len())
        .map(|_| {
            per_method
                .iter()
                .map(|d| {
                    mean(
                        &mut (0..d.len()).map(|_| d[index_below(&mut rng, d.len())]),
                        d.len(),
                    )
                })
                .collect()
        })
        .collect();
    let negated = |v: &[f64]| v.iter().map(|d| -d).collect::<Vec<f64>>();
    let agreement = RankAgreement::new(
        people,
        &negated(&means),
        people_resamples,
        &resampled_means
            .iter()
            .map(|m| negated(m))
            .collect::<Vec<_>>(),
    );
    let mut by_distance: Vec<usize> = (0..methods.len()).collect();
    by_distance.sort_by(|&a, &b| means[a].total_cmp(&means[b]));
    let mut people_order: Vec<usize> = (0..methods.len()).collect();
    people_order.sort_by(|&a, &b| people[b].total_cmp(&people[a]).then(a.cmp(&b)));
    let mean_distances = people_order
        .iter()
        .map(|&m| {
            let samples: Vec<f64> = resampled_means.iter().map(|r| r[m]).collect();
            let interval = percept_core::ranking::interval(means[m], samples);
            MethodDistance {
                method: methods[m].to_owned(),
                mean_distance: estimate(interval),
                rank: 1 + by_distance.iter().position(|&x| x == m).unwrap(),
            }
        })
        .collect();
    Some(MetricRanking {
        metric: metric.to_owned(),
        triplets: count,
        mean_distances,
        kendall_tau: estimate(agreement.kendall_tau),
        spearman_rho: estimate(agreement.spearman_rho),
    })
}

/// The ranking section of the HTML report: the headline, then overall and
/// per category the people's scale (chart and table), the significance
/// matrix and each metric's ranking.
pub(super) fn html_section(rankings: &MethodRankings) -> anyhow::Result<String> {
    let mut html = String::from("<section id=\"ranking\"><h2>Ranking the methods</h2>");
    html.push_str(&headline(&rankings.overall));
    let _ = write!(
        html,
        "<p>People's judgments of each pair of methods, scaled by Thurstone Case V in {unit} units \
         (a difference of 1 {unit}: 75% of answers prefer the better method; the mean is 0). Bars \
         are 95% intervals from {resamples} resamples of the workers, each worker's judgments kept \
         together.</p>",
        unit = escape(&rankings.unit),
        resamples = BOOTSTRAP_RESAMPLES,
    );
    html.push_str(&scope_html(&rankings.overall, &rankings.unit)?);
    for scope in &rankings.per_category {
        let _ = write!(html, "<h3>Category {}</h3>", escape(&scope.category));
        html.push_str(&headline(scope));
        html.push_str(&scope_html(scope, &rankings.unit)?);
    }
    html.push_str("</section>");
    Ok(html)
}

/// Which metric ranks the methods as people do, in one sentence.
fn headline(scope: &MethodRanking) -> String {
    let best: Vec<&MetricRanking> = scope
        .metrics
        .iter()
        .filter(|m| scope.best_metrics.contains(&m.metric))
        .collect();
    let Some(first) = best.first() else {
        return "<p class=\"lead\">No metric has scored these methods' triplets yet: run \
                <code>percept score</code> to see which metric ranks them as people do.</p>"
            .into();
    };
    let names: Vec<String> = best
        .iter()
        .map(|m| format!("<b>{}</b>", escape(&m.metric)))
        .collect();
    let verb = if first.kendall_tau.value >= 1.0 - 1e-12 {
        if best.len() > 1 {
            "rank the methods exactly as people do"
        } else {
            "ranks the methods exactly as people do"
        }
    } else if best.len() > 1 {
        "come closest to the people's ranking"
    } else {
        "comes closest to the people's ranking"
    };
    format!(
        "<p class=\"lead headline\">{}: {} {verb}: Kendall τ {} (95% interval {} – {}), Spearman ρ {} ({} – {}).</p>",
        // The overall scope is named "all"; a category's own name may contain it.
        if scope.category == "all" {
            "Overall".to_owned()
        } else {
            escape(&scope.category)
        },
        names.join(", "),
        signed(first.kendall_tau.value),
        signed(first.kendall_tau.low),
        signed(first.kendall_tau.high),
        signed(first.spearman_rho.value),
        signed(first.spearman_rho.low),
        signed(first.spearman_rho.high),
    )
}

fn signed(value: f64) -> String {
    if value.is_finite() {
        format!("{value:+.2}")
    } else {
        "–".into()
    }
}

fn scope_html(scope: &MethodRanking, unit: &str) -> anyhow::Result<String> {
    let mut html = ranking_chart(scope, unit)?;
    let _ = write!(
        html,
        "<table class=\"ranking\"><tr><th>rank</th><th>method</th><th>scale ({unit})</th>\
         <th>95% interval</th><th>judgments</th><th>preferred</th></tr>",
        unit = escape(unit)
    );
    for (k, m) in scope.methods.iter().enumerate() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{:+.2}</td><td>{:+.2} – {:+.2}</td><td>{}</td><td>{:.1}%</td></tr>",
            k + 1,
            escape(&m.method),
            m.scale.value,
            m.scale.low,
            m.scale.high,
            m.judgments,
            100.0 * m.preferred_share,
        );
    }
    let _ = write!(
        html,
        "</table><p>{} from {}.</p>",
        count(scope.judgments, "judgment", "judgments"),
        count(scope.workers, "worker", "workers"),
    );
    html.push_str(&significance_matrix(scope, unit));
    html.push_str(&metric_table(scope));
    Ok(html)
}

/// Row method minus column method, above the diagonal (methods best first).
fn significance_matrix(scope: &MethodRanking, unit: &str) -> String {
    let mut html = format!(
        "<h4>Which differences are real?</h4><p>Row minus column in {unit}, with the bootstrap \
         p-value Holm-adjusted over the whole matrix; <b>bold</b>: significant at 5%.</p>\
         <table class=\"matrix\"><tr><th></th>",
        unit = escape(unit)
    );
    for m in &scope.methods {
        let _ = write!(html, "<th>{}</th>", escape(&m.method));
    }
    html.push_str("</tr>");
    for (i, row) in scope.methods.iter().enumerate() {
        let _ = write!(html, "<tr><th>{}</th>", escape(&row.method));
        for (j, column) in scope.methods.iter().enumerate() {
            if j <= i {
                html.push_str("<td></td>");
                continue;
            }
            let Some(d) = scope
                .significance
                .iter()
                .find(|d| d.a == row.method && d.b == column.method)
            else {
                html.push_str("<td></td>");
                continue;
            };
            let text = format!("{:+.2} (p {})", d.difference.value, p_value_text(d.p_value));
            let _ = write!(
                html,
                "<td class=\"{}\" title=\"{} − {}: 95% interval {:+.2} – {:+.2}\">{}</td>",
                if d.significant {
                    "significant"
                } else {
                    "not-significant"
                },
                escape(&d.a),
                escape(&d.b),
                d.difference.low,
                d.difference.high,
                if d.significant {
                    format!("<b>{text}</b>")
                } else {
                    text
                },
            );
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    html
}

/// Each metric's rank of every method (in the people's order) and its
/// agreement with the people's ranking.
fn metric_table(scope: &MethodRanking) -> String {
    if scope.metrics.is_empty() {
        return String::new();
    }
    let mut html = String::from(
        "<h4>Metrics' rankings</h4><p>Each metric ranks the methods by its mean distance to the \
         reference (smaller is better); the columns are the methods in the people's order, each \
         cell the metric's rank of that method and its mean distance. Kendall τ-b and Spearman ρ \
         against the people's scale, with 95% intervals from paired resamples of the workers and \
         of the metric's distances.</p><table class=\"metric-ranking\"><tr><th>metric</th>\
         <th>Kendall τ</th><th>Spearman ρ</th>",
    );
    for m in &scope.methods {
        let _ = write!(html, "<th>{}</th>", escape(&m.method));
    }
    html.push_str("</tr>");
    for metric in &scope.metrics {
        let best = scope.best_metrics.contains(&metric.metric);
        let _ = write!(
            html,
            "<tr{}><td>{}</td><td>{} ({} – {})</td><td>{} ({} – {})</td>",
            if best { " class=\"best\"" } else { "" },
            escape(&metric.metric),
            signed(metric.kendall_tau.value),
            signed(metric.kendall_tau.low),
            signed(metric.kendall_tau.high),
            signed(metric.spearman_rho.value),
            signed(metric.spearman_rho.low),
            signed(metric.spearman_rho.high),
        );
        for d in &metric.mean_distances {
            let _ = write!(
                html,
                "<td title=\"{} on {}: mean distance {:.4}, 95% interval {:.4} – {:.4}\">{} <small>({:.4})</small></td>",
                escape(&metric.metric),
                escape(&d.method),
                d.mean_distance.value,
                d.mean_distance.low,
                d.mean_distance.high,
                d.rank,
                d.mean_distance.value,
            );
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    html
}

/// The methods on the people's scale, best at the top, with their intervals.
fn ranking_chart(scope: &MethodRanking, unit: &str) -> anyhow::Result<String> {
    let methods = &scope.methods;
    let n = methods.len();
    let (low, high) = methods.iter().fold((0.0f64, 0.0f64), |(lo, hi), m| {
        (
            lo.min(m.scale.low).min(m.scale.value),
            hi.max(m.scale.high).max(m.scale.value),
        )
    });
    let pad = ((high - low) * 0.08).max(0.05);
    // Row i from the bottom is the (n − 1 − i)-th best method.
    let at = |i: usize| n - 1 - i;
    svg_chart((860, 70 + 44 * n as u32), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(150)
            // A segmented `a..b` has a segment for b too: n rows are 0..n − 1.
            .build_cartesian_2d(
                low - pad..high + pad,
                (0..n.saturating_sub(1)).into_segmented(),
            )
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(format!(
                "people's scale ({unit}); higher is closer to the reference"
            ))
            .y_label_formatter(&|y| match y {
                SegmentValue::CenterOf(i) if *i < n => methods[at(*i)].method.clone(),
                _ => String::new(),
            })
            .draw()
            .map_err(chart_error)?;
        chart
            .draw_series((0..n).map(|i| {
                let s = methods[at(i)].scale;
                ErrorBar::new_horizontal(
                    SegmentValue::CenterOf(i),
                    s.low,
                    s.value,
                    s.high,
                    BLACK.stroke_width(2),
                    12,
                )
            }))
            .map_err(chart_error)?;
        chart
            .draw_series((0..n).map(|i| {
                Circle::new(
                    (methods[at(i)].scale.value, SegmentValue::CenterOf(i)),
                    6,
                    series_color(at(i)).filled(),
                )
            }))
            .map_err(chart_error)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triplet(id: i64, category: &str, p0: &str, p1: &str) -> MethodTriplet {
        MethodTriplet {
            id,
            category: category.into(),
            p0_method: p0.into(),
            p1_method: p1.into(),
        }
    }

    /// Three methods a > b > c for people; a metric agreeing and one reversed.
    #[test]
    fn people_rank_the_methods_and_metrics_are_compared_with_them() {
        let methods = ["a", "b", "c"];
        let mut triplets = Vec::new();
        let mut agreeing = HashMap::new();
        let mut reversed = HashMap::new();
        let mut units: Vec<Unit> = vec![Vec::new(); 8];
        let mut id = 0;
        for category in ["x", "y"] {
            for (i, p0) in methods.iter().enumerate() {
                for (j, p1) in methods.iter().enumerate() {
                    if i == j {
                        continue;
                    }
                    for _ in 0..3 {
                        id += 1;
                        triplets.push(triplet(id, category, p0, p1));
                        agreeing.insert(id, (i as f64, j as f64));
                        reversed.insert(id, (-(i as f64), -(j as f64)));
                        // Worker w prefers the better method unless w is 0 or 1
                        // on a triplet of methods one step apart.
                        for (w, unit) in units.iter_mut().enumerate() {
                            let better_is_p1 = j < i;
                            let wrong = w < 2 && i.abs_diff(j) == 1 && id % 2 == 0;
                            let chose_p1 = better_is_p1 != wrong;
                            unit.push((id, 1.0, if chose_p1 { 1.0 } else { 0.0 }));
                        }
                    }
                }
            }
        }
        let distances = BTreeMap::from([
            ("agreeing".to_string(), agreeing),
            ("reversed".to_string(), reversed),
        ]);
        let rankings = rank(&triplets, &units, &distances).unwrap();
        let overall = &rankings.overall;
        let order: Vec<&str> = overall.methods.iter().map(|m| m.method.as_str()).collect();
        assert_eq!(order, ["a", "b", "c"]);
        assert_eq!(overall.workers, 8);
        assert_eq!(overall.judgments, 36.0 * 8.0);
        assert!(overall.methods[0].scale.low > overall.methods[1].scale.high);
        assert!(overall
            .significance
            .iter()
            .all(|s| s.significant && s.difference.value > 0.0));
        let [first, second] = &overall.metrics[..] else {
            panic!("{:?}", overall.metrics)
        };
        assert_eq!(first.metric, "agreeing");
        assert_eq!(
            (first.kendall_tau.value, first.spearman_rho.value),
            (1.0, 1.0)
        );
        assert_eq!(
            (second.kendall_tau.value, second.spearman_rho.value),
            (-1.0, -1.0)
        );
        assert_eq!(overall.best_metrics, ["agreeing"]);
        let ranks: Vec<usize> = first.mean_distances.iter().map(|d| d.rank).collect();
        assert_eq!(ranks, [1, 2, 3]);
        assert_eq!(rankings.per_category.len(), 2);
        assert_eq!(rankings.per_category[1].category, "y");
        assert_eq!(rankings.per_category[1].judgments, 18.0 * 8.0);
    }
}
