//! Agreement reports: how well each metric's distances agree with the
//! people's judgments, overall and per category, with bootstrap intervals,
//! the human ceiling, and which metric differences are significant.

pub mod agreement;
mod html;
pub mod ranking;
pub mod resampling;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use percept_core::ranking::{pearson_r, spearman_rho};
use serde::Serialize;
use sqlx::PgPool;

use crate::error::{Error, Result};
use crate::tallies::{self, StimulusKind};
use agreement::{Estimate, PrecisionRecall, ScoredPair, ScoredTriplet};
use resampling::{Resampler, Stimulus};

pub use html::{render_html, training_curve_svg};
pub use resampling::Resample;

/// Significance level of the paired comparisons.
const ALPHA: f64 = 0.05;
/// Triplets shown in the gallery of the worst disagreements.
const GALLERY_SIZE: usize = 12;
/// Seed of every bootstrap: the same data always gives the same report.
const BOOTSTRAP_SEED: u64 = 2018;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub experiments: Vec<ExperimentInfo>,
    pub counts: Counts,
    /// What the bootstrap intervals resample: the triplets and pairs, or
    /// the workers (each one's judgments together).
    pub resample: Resample,
    /// How often two people agree on a triplet: the most a metric can expect.
    pub human_ceiling: Option<Estimate>,
    pub metrics: Vec<MetricAgreement>,
    pub comparisons: Vec<Comparison>,
    /// JND: how well each metric's distances rank the pairs people saw as
    /// the same (empty without JND judgments).
    pub jnd: Vec<MetricJnd>,
    /// Triplets of the first LPIPS metric (else the first metric) on which it
    /// and the people disagree most.
    pub disagreements: Vec<Disagreement>,
    /// (d1 − d0, share preferring p1) per triplet, for that same metric.
    pub preference_points: Vec<(f64, f64)>,
    /// What each metric trained here (`lpips-alex:NAME`) was trained on,
    /// and how many of the report's triplets it was trained on.
    pub trained_metrics: Vec<crate::training::TrainedMetricNote>,
    /// Each metric's 2AFC score per distortion type: which distortions fool
    /// which metric. A triplet counts for every type in its p0 or p1
    /// pipeline (imported triplets without pipelines count for none).
    pub by_distortion: Vec<DistortionAgreement>,
    /// Two metrics against each other on the triplets where they pick
    /// different sides (the paper's Figure 6); `None` unless both scored.
    pub versus: Option<Versus>,
    /// Each metric's 2AFC score against its JND mAP (the paper's Figure 5);
    /// `None` unless the report covers both tasks.
    pub across_tasks: Option<AcrossTasks>,
    /// Method comparisons: the methods ranked by people and by each metric
    /// (`None` unless the experiments hold triplets of methods).
    pub method_ranking: Option<ranking::MethodRankings>,
}

/// The metrics scored on both tasks: does agreeing with people on 2AFC go
/// with agreeing on JND?
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AcrossTasks {
    pub points: Vec<TaskPoint>,
    /// Pearson's r between the 2AFC scores and the JND mAPs over the
    /// metrics; `None` with fewer than three metrics or no spread.
    pub pearson: Option<f64>,
    /// Spearman's ρ (Pearson's r of the ranks, ties averaged); likewise.
    pub spearman: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TaskPoint {
    pub metric: String,
    pub two_afc: Estimate,
    pub jnd_map: Estimate,
}

/// Metric `a` against metric `b` where they disagree.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Versus {
    pub a: String,
    pub b: String,
    /// Triplets with judgments that both scored.
    pub both_scored: usize,
    /// Of those, the ones where one finds p0 closer and the other p1 (ties
    /// on either side left out).
    pub disagreeing: usize,
    /// On the disagreeing triplets, the share of people's judgments siding
    /// with `a` (the rest side with `b`), with its 95% bootstrap interval.
    pub people_side_with_a: Estimate,
    /// The disagreeing triplets on which people side most clearly with one.
    pub strongest: Vec<VersusCase>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersusCase {
    pub triplet_id: i64,
    /// `a`'s (d0, d1) and `b`'s.
    pub a_distances: (f64, f64),
    pub b_distances: (f64, f64),
    pub judgments: f64,
    pub human_p1_share: f64,
    /// The metric the people side with here.
    pub people_side_with: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DistortionAgreement {
    pub metric: String,
    /// In BAPPS' order of the types; types without triplets left out.
    pub per_type: Vec<TypeAgreement>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TypeAgreement {
    /// The distortion's `type` name, as in a pipeline's JSON.
    pub distortion: String,
    pub triplets: usize,
    pub two_afc: Estimate,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExperimentInfo {
    pub id: i64,
    pub name: String,
    pub split: String,
    pub category: String,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// Real (non-sentinel) triplets with at least one counted judgment.
    pub triplets: usize,
    /// Judgments of real triplets collected here (sentinels are checks, not data).
    pub judgments: i64,
    /// Judgments the triplets were imported with (BAPPS' own, say).
    pub imported_judgments: i64,
    pub workers: i64,
    /// JND pairs (not controls) with valid judgments, and those judgments.
    pub pairs: usize,
    pub jnd_judgments: i64,
    /// Workers flagged by their sentinel failures, whose judgments are left out.
    pub excluded_workers: usize,
    pub excluded_judgments: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MetricAgreement {
    pub metric: String,
    /// Triplets with both judgments and this metric's distances.
    pub triplets: usize,
    pub two_afc: Estimate,
    pub per_category: Vec<CategoryAgreement>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MetricJnd {
    pub metric: String,
    /// Distorted pairs with valid judgments and this metric's distances.
    pub pairs: usize,
    /// The official JND score: VOC average precision of "same", pairs ranked
    /// by distance.
    pub map: Estimate,
    pub per_category: Vec<CategoryJnd>,
    pub curve: PrecisionRecall,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryJnd {
    pub category: String,
    pub pairs: usize,
    pub map: Estimate,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryAgreement {
    pub category: String,
    pub triplets: usize,
    pub two_afc: Estimate,
}

/// Metric `a` minus metric `b` on the triplets both scored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub difference: Estimate,
    pub p_value: f64,
    pub significant: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Disagreement {
    pub triplet_id: i64,
    pub metric: String,
    pub d0: f64,
    pub d1: f64,
    pub judgments: f64,
    pub human_p1_share: f64,
    pub agreement: f64,
}

/// A triplet's counted judgments.
struct JudgedTriplet {
    id: i64,
    /// Its position among the report's judged triplets (sorted by id).
    index: usize,
    category: String,
    /// The distortion types of its p0 and p1 pipelines, each once.
    distortions: BTreeSet<String>,
    judgments: f64,
    chose_p1: f64,
}

/// The `type` of every step of the pipelines (JSON arrays of steps).
fn distortion_types(pipelines: &[Option<serde_json::Value>]) -> BTreeSet<String> {
    pipelines
        .iter()
        .flatten()
        .filter_map(serde_json::Value::as_array)
        .flatten()
        .filter_map(|step| step.get("type")?.as_str().map(str::to_owned))
        .collect()
}

/// How to build a report (`percept report`'s flags, the report route's query).
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Count flagged workers' judgments too.
    pub include_flagged: bool,
    /// The metric-against-metric section's pair (both must have scored the
    /// experiments); `None`: the featured LPIPS against `ssim-rgb`, when both scored.
    pub versus: Option<(String, String)>,
    pub resample: Resample,
}

impl ReportOptions {
    /// `A,B` as the CLI's `--versus` and the route's `?versus=` take it.
    pub fn parse_versus(text: &str) -> Result<(String, String)> {
        match text.split(',').map(str::trim).collect::<Vec<_>>()[..] {
            [a, b] if !a.is_empty() && !b.is_empty() => Ok((a.to_owned(), b.to_owned())),
            _ => Err(Error::BadRequest(format!(
                "versus: {text:?} is not two metric names as A,B (say lpips-alex,ssim-rgb)"
            ))),
        }
    }
}

/// Builds the report over the given experiments with the defaults:
/// flagged workers' judgments left out unless `include_flagged`, intervals
/// resampling triplets.
pub async fn build(pool: &PgPool, experiment_ids: &[i64], include_flagged: bool) -> Result<Report> {
    let options = ReportOptions {
        include_flagged,
        ..ReportOptions::default()
    };
    build_with(pool, experiment_ids, &options).await
}

/// Builds the report over the given experiments as `options` say.
pub async fn build_with(
    pool: &PgPool,
    experiment_ids: &[i64],
    options: &ReportOptions,
) -> Result<Report> {
    let include_flagged = options.include_flagged;
    let experiments = sqlx::query_as!(
        ExperimentInfo,
        r#"SELECT id, name, split, coalesce(category, 'uncategorised') AS "category!"
           FROM experiments WHERE id = ANY($1) ORDER BY id"#,
        experiment_ids
    )
    .fetch_all(pool)
    .await?;
    if let Some(missing) = experiment_ids
        .iter()
        .find(|id| !experiments.iter().any(|e| e.id == **id))
    {
        return Err(Error::NotFound(format!("there is no experiment {missing}")));
    }
    let excluded = tallies::excluded_workers(pool, experiment_ids, include_flagged).await?;
    let mut about: HashMap<i64, (String, BTreeSet<String>)> = sqlx::query!(
        r#"SELECT t.id, coalesce(e.category, 'uncategorised') AS "category!",
                  t.p0_pipeline, t.p1_pipeline
           FROM triplets t JOIN experiments e ON e.id = t.experiment_id
           WHERE t.experiment_id = ANY($1)"#,
        experiment_ids
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| {
        let types = distortion_types(&[row.p0_pipeline, row.p1_pipeline]);
        (row.id, (row.category, types))
    })
    .collect();
    let mut judged: Vec<JudgedTriplet> =
        tallies::tallies(pool, StimulusKind::Triplet, experiment_ids, &excluded)
            .await?
            .into_iter()
            .map(|(id, tally)| {
                let (category, distortions) = about.remove(&id).unwrap_or_default();
                JudgedTriplet {
                    id,
                    index: 0,
                    category,
                    distortions,
                    judgments: tally.judgments,
                    chose_p1: tally.yes,
                }
            })
            .collect();
    judged.sort_by_key(|t| t.id);
    for (index, triplet) in judged.iter_mut().enumerate() {
        triplet.index = index;
    }

    let counted = sqlx::query!(
        r#"
        SELECT count(*) FILTER (WHERE NOT (a.worker_id = ANY($2))) AS "judgments!",
               count(*) FILTER (WHERE a.worker_id = ANY($2)) AS "excluded!",
               count(DISTINCT a.worker_id) FILTER (WHERE NOT (a.worker_id = ANY($2))) AS "workers!"
        FROM judgments j
        JOIN assignments a ON a.id = j.assignment_id
        JOIN assignment_trials at USING (assignment_id, position)
        JOIN triplets t ON t.id = at.triplet_id
        WHERE a.experiment_id = ANY($1) AND t.sentinel_answer IS NULL
        "#,
        experiment_ids,
        &excluded,
    )
    .fetch_one(pool)
    .await?;
    let imported_judgments: f64 =
        judged.iter().map(|t| t.judgments).sum::<f64>() - counted.judgments as f64;
    let pair_tallies =
        tallies::tallies(pool, StimulusKind::Pair, experiment_ids, &excluded).await?;
    let counts = Counts {
        pairs: pair_tallies.len(),
        // Whole judgments (the tallies hold them as floats, for the shares).
        jnd_judgments: pair_tallies
            .values()
            .map(|tally| tally.judgments)
            .sum::<f64>()
            .round() as i64,
        triplets: judged.len(),
        judgments: counted.judgments,
        imported_judgments: imported_judgments.round() as i64,
        workers: counted.workers,
        excluded_workers: excluded.len(),
        excluded_judgments: counted.excluded,
    };

    let triplet_ids: Vec<i64> = judged.iter().map(|t| t.id).collect();
    let mut distances: BTreeMap<String, HashMap<i64, (f64, f64)>> = BTreeMap::new();
    for row in sqlx::query!(
        "SELECT triplet_id, metric, d0, d1 FROM triplet_distances WHERE triplet_id = ANY($1)",
        &triplet_ids
    )
    .fetch_all(pool)
    .await?
    {
        distances
            .entry(row.metric)
            .or_default()
            .insert(row.triplet_id, (row.d0, row.d1));
    }
    let mut pair_ids: Vec<i64> = pair_tallies.keys().copied().collect();
    pair_ids.sort_unstable();
    let pair_index: HashMap<i64, usize> = pair_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i))
        .collect();
    let pair_category: HashMap<i64, String> = sqlx::query!(
        r#"SELECT p.id, coalesce(e.category, 'uncategorised') AS "category!"
           FROM pairs p JOIN experiments e ON e.id = p.experiment_id
           WHERE p.id = ANY($1)"#,
        &pair_ids
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| (row.id, row.category))
    .collect();
    let mut pair_distances: BTreeMap<String, Vec<(String, Stimulus, ScoredPair)>> = BTreeMap::new();
    for row in sqlx::query!(
        "SELECT pair_id, metric, distance FROM pair_distances WHERE pair_id = ANY($1) ORDER BY pair_id",
        &pair_ids
    )
    .fetch_all(pool)
    .await?
    {
        let tally = pair_tallies[&row.pair_id];
        let category = pair_category.get(&row.pair_id).cloned().unwrap_or_default();
        pair_distances
            .entry(row.metric)
            .or_default()
            .push((
                category,
                Stimulus::Pair(pair_index[&row.pair_id]),
                ScoredPair {
                    distance: row.distance,
                    same_share: tally.share(),
                },
            ));
    }
    let versus = options
        .versus
        .as_ref()
        .map(|(a, b)| (a.as_str(), b.as_str()));
    if let Some((a, b)) = versus {
        for name in [a, b] {
            if !distances.contains_key(name) {
                return Err(Error::BadRequest(format!(
                    "versus: {name:?} has not scored these experiments; scored: {}",
                    distances.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
    }
    let resampler = match options.resample {
        Resample::Triplets => Resampler::Stimuli {
            seed: BOOTSTRAP_SEED,
        },
        Resample::Workers => {
            let by_worker = |kind| tallies::worker_tallies(pool, kind, experiment_ids, &excluded);
            let triplet_tallies: Vec<(i64, tallies::Tally)> = judged
                .iter()
                .map(|t| {
                    let tally = tallies::Tally {
                        judgments: t.judgments,
                        yes: t.chose_p1,
                    };
                    (t.id, tally)
                })
                .collect();
            let pair_list: Vec<(i64, tallies::Tally)> =
                pair_ids.iter().map(|id| (*id, pair_tallies[id])).collect();
            Resampler::workers(
                &triplet_tallies,
                &by_worker(StimulusKind::Triplet).await?,
                &pair_list,
                &by_worker(StimulusKind::Pair).await?,
                BOOTSTRAP_SEED,
            )
            .map_err(Error::BadRequest)?
        }
    };
    let mut report = assemble(experiments, counts, &judged, &distances, &resampler);
    report.resample = options.resample;
    let featured = distances.keys().find(|m| m.starts_with("lpips"));
    let pair = versus.or_else(|| featured.map(|f| (f.as_str(), "ssim-rgb")));
    report.versus = pair.and_then(|(a, b)| metric_versus(&judged, &distances, a, b, &resampler));
    report.jnd = jnd_agreement(&pair_distances, &resampler);
    report.across_tasks = across_tasks(&report.metrics, &report.jnd);
    let triplet_ids: Vec<i64> = judged.iter().map(|t| t.id).collect();
    let metric_names: Vec<String> = distances.keys().cloned().collect();
    report.trained_metrics = crate::training::notes(pool, &metric_names, &triplet_ids).await?;
    report.method_ranking = ranking::build(pool, experiment_ids, &excluded).await?;
    Ok(report)
}

/// Each metric's JND mAP with its interval, overall and per category.
fn jnd_agreement(
    pair_distances: &BTreeMap<String, Vec<(String, Stimulus, ScoredPair)>>,
    resampler: &Resampler,
) -> Vec<MetricJnd> {
    let mut metrics: Vec<MetricJnd> = pair_distances
        .iter()
        .map(|(metric, scored)| {
            let all: Vec<(Stimulus, ScoredPair)> =
                scored.iter().map(|(_, at, pair)| (*at, *pair)).collect();
            let mut categories: BTreeMap<&str, Vec<(Stimulus, ScoredPair)>> = BTreeMap::new();
            for (category, at, pair) in scored {
                categories.entry(category).or_default().push((*at, *pair));
            }
            let pairs_only: Vec<ScoredPair> = all.iter().map(|(_, pair)| *pair).collect();
            MetricJnd {
                metric: metric.clone(),
                pairs: all.len(),
                map: resampler.estimate(&all, agreement::jnd_map),
                per_category: categories
                    .into_iter()
                    .map(|(category, pairs)| CategoryJnd {
                        category: category.to_owned(),
                        pairs: pairs.len(),
                        map: resampler.estimate(&pairs, agreement::jnd_map),
                    })
                    .collect(),
                curve: agreement::precision_recall(&pairs_only),
            }
        })
        .collect();
    metrics.sort_by(|a, b| b.map.value.total_cmp(&a.map.value));
    metrics
}

/// Everything past the database: the statistics of the report.
fn assemble(
    experiments: Vec<ExperimentInfo>,
    counts: Counts,
    judged: &[JudgedTriplet],
    distances: &BTreeMap<String, HashMap<i64, (f64, f64)>>,
    resampler: &Resampler,
) -> Report {
    let scored_by =
        |metric_distances: &HashMap<i64, (f64, f64)>| -> Vec<(&JudgedTriplet, ScoredTriplet)> {
            judged
                .iter()
                .filter_map(|t| {
                    let &(d0, d1) = metric_distances.get(&t.id)?;
                    Some((
                        t,
                        ScoredTriplet {
                            d0,
                            d1,
                            judgments: t.judgments,
                            chose_p1: t.chose_p1,
                        },
                    ))
                })
                .collect()
        };
    let humans: Vec<(Stimulus, ScoredTriplet)> = judged
        .iter()
        .map(|t| {
            let scored = ScoredTriplet {
                d0: 0.0,
                d1: 0.0,
                judgments: t.judgments,
                chose_p1: t.chose_p1,
            };
            (Stimulus::Triplet(t.index), scored)
        })
        .filter(|(_, t)| t.judgments >= 2.0)
        .collect();
    let human_ceiling = (!humans.is_empty()).then(|| {
        resampler.estimate(&humans, |sample| {
            agreement::human_two_afc_score(sample).unwrap_or(f64::NAN)
        })
    });
    let indexed = |scored: &[(&JudgedTriplet, ScoredTriplet)]| -> Vec<(Stimulus, ScoredTriplet)> {
        scored
            .iter()
            .map(|(t, s)| (Stimulus::Triplet(t.index), *s))
            .collect()
    };

    let mut metrics = Vec::new();
    let mut by_distortion = Vec::new();
    for (metric, metric_distances) in distances {
        let scored = scored_by(metric_distances);
        if scored.is_empty() {
            continue;
        }
        let mut types: HashMap<&str, Vec<(Stimulus, ScoredTriplet)>> = HashMap::new();
        for (t, s) in &scored {
            for distortion in &t.distortions {
                types
                    .entry(distortion)
                    .or_default()
                    .push((Stimulus::Triplet(t.index), *s));
            }
        }
        by_distortion.push(DistortionAgreement {
            metric: metric.clone(),
            per_type: type_order(types.keys().copied())
                .into_iter()
                .map(|distortion| {
                    let triplets = &types[distortion.as_str()];
                    TypeAgreement {
                        triplets: triplets.len(),
                        two_afc: resampler.estimate(triplets, agreement::two_afc_score),
                        distortion,
                    }
                })
                .collect(),
        });
        let mut categories: BTreeMap<&str, Vec<(Stimulus, ScoredTriplet)>> = BTreeMap::new();
        for (t, s) in &scored {
            categories
                .entry(&t.category)
                .or_default()
                .push((Stimulus::Triplet(t.index), *s));
        }
        let all = indexed(&scored);
        metrics.push(MetricAgreement {
            metric: metric.clone(),
            triplets: all.len(),
            two_afc: resampler.estimate(&all, agreement::two_afc_score),
            per_category: categories
                .into_iter()
                .map(|(category, triplets)| CategoryAgreement {
                    category: category.to_owned(),
                    triplets: triplets.len(),
                    two_afc: resampler.estimate(&triplets, agreement::two_afc_score),
                })
                .collect(),
        });
    }
    metrics.sort_by(|a, b| b.two_afc.value.total_cmp(&a.two_afc.value));
    // The heat map's rows in the order of the metrics' table.
    by_distortion.sort_by_key(|row| metrics.iter().position(|m| m.metric == row.metric));

    let mut comparisons = Vec::new();
    for (i, a) in metrics.iter().enumerate() {
        for b in &metrics[i + 1..] {
            let (da, db) = (&distances[&a.metric], &distances[&b.metric]);
            type Paired = Vec<(Stimulus, ScoredTriplet)>;
            let (pa, pb): (Paired, Paired) = scored_by(da)
                .into_iter()
                .filter_map(|(t, sa)| {
                    let &(d0, d1) = db.get(&t.id)?;
                    let at = Stimulus::Triplet(t.index);
                    Some(((at, sa), (at, ScoredTriplet { d0, d1, ..sa })))
                })
                .unzip();
            if pa.is_empty() {
                continue;
            }
            let (difference, p_value) = resampler.paired(&pa, &pb, agreement::two_afc_score);
            comparisons.push(Comparison {
                a: a.metric.clone(),
                b: b.metric.clone(),
                difference,
                p_value,
                significant: p_value < ALPHA,
            });
        }
    }

    let featured = distances
        .keys()
        .find(|metric| metric.starts_with("lpips"))
        .or_else(|| distances.keys().next());
    let (disagreements, preference_points) = match featured {
        None => (Vec::new(), Vec::new()),
        Some(metric) => {
            let scored = scored_by(&distances[metric]);
            let points = scored
                .iter()
                .map(|(_, s)| (s.d1 - s.d0, s.human_p1_share()))
                .collect();
            let mut worst: Vec<&(&JudgedTriplet, ScoredTriplet)> = scored.iter().collect();
            // Least agreement first; among equals, the ones more people judged.
            worst.sort_by(|(_, a), (_, b)| {
                a.agreement()
                    .total_cmp(&b.agreement())
                    .then(b.judgments.total_cmp(&a.judgments))
            });
            let gallery = worst
                .into_iter()
                .take(GALLERY_SIZE)
                .map(|(t, s)| Disagreement {
                    triplet_id: t.id,
                    metric: metric.clone(),
                    d0: s.d0,
                    d1: s.d1,
                    judgments: s.judgments,
                    human_p1_share: s.human_p1_share(),
                    agreement: s.agreement(),
                })
                .collect();
            (gallery, points)
        }
    };

    Report {
        experiments,
        counts,
        resample: Resample::Triplets,
        human_ceiling,
        metrics,
        comparisons,
        jnd: Vec::new(),
        disagreements,
        preference_points,
        trained_metrics: Vec::new(),
        by_distortion,
        versus: None,
        across_tasks: None,
        method_ranking: None,
    }
}

/// `a` against `b` on the triplets where they pick different sides; `None`
/// unless both scored some judged triplet.
fn metric_versus(
    judged: &[JudgedTriplet],
    distances: &BTreeMap<String, HashMap<i64, (f64, f64)>>,
    a: &str,
    b: &str,
    resampler: &Resampler,
) -> Option<Versus> {
    let (da, db) = (distances.get(a)?, distances.get(b)?);
    let mut both_scored = 0;
    let mut disagreeing: Vec<(&JudgedTriplet, ScoredTriplet, (f64, f64))> = Vec::new();
    for t in judged {
        let (Some(&(a0, a1)), Some(&(b0, b1))) = (da.get(&t.id), db.get(&t.id)) else {
            continue;
        };
        both_scored += 1;
        if a0 != a1 && b0 != b1 && (a0 < a1) != (b0 < b1) {
            let scored = ScoredTriplet {
                d0: a0,
                d1: a1,
                judgments: t.judgments,
                chose_p1: t.chose_p1,
            };
            disagreeing.push((t, scored, (b0, b1)));
        }
    }
    if both_scored == 0 {
        return None;
    }
    let a_scored: Vec<(Stimulus, ScoredTriplet)> = disagreeing
        .iter()
        .map(|(t, s, _)| (Stimulus::Triplet(t.index), *s))
        .collect();
    // Where they disagree, a's agreement is the share siding with a.
    let people_side_with_a = resampler.estimate(&a_scored, agreement::two_afc_score);
    disagreeing.sort_by(|(_, x, _), (_, y, _)| {
        let clarity = |s: &ScoredTriplet| (s.agreement() - 0.5).abs();
        clarity(y)
            .total_cmp(&clarity(x))
            .then(y.judgments.total_cmp(&x.judgments))
    });
    let strongest = disagreeing
        .iter()
        .take(GALLERY_SIZE)
        .map(|(t, s, b_distances)| VersusCase {
            triplet_id: t.id,
            a_distances: (s.d0, s.d1),
            b_distances: *b_distances,
            judgments: s.judgments,
            human_p1_share: s.human_p1_share(),
            people_side_with: if s.agreement() >= 0.5 { a } else { b }.to_owned(),
        })
        .collect();
    Some(Versus {
        a: a.to_owned(),
        b: b.to_owned(),
        both_scored,
        disagreeing: disagreeing.len(),
        people_side_with_a,
        strongest,
    })
}

/// Each metric scored on both tasks as a point (2AFC score, JND mAP), with
/// the correlations over the metrics; `None` unless both tasks have some.
fn across_tasks(metrics: &[MetricAgreement], jnd: &[MetricJnd]) -> Option<AcrossTasks> {
    let points: Vec<TaskPoint> = metrics
        .iter()
        .filter_map(|m| {
            let j = jnd.iter().find(|j| j.metric == m.metric)?;
            Some(TaskPoint {
                metric: m.metric.clone(),
                two_afc: m.two_afc,
                jnd_map: j.map,
            })
        })
        .filter(|p| p.two_afc.value.is_finite() && p.jnd_map.value.is_finite())
        .collect();
    if points.is_empty() {
        return None;
    }
    let xs: Vec<f64> = points.iter().map(|p| p.two_afc.value).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.jnd_map.value).collect();
    let enough = points.len() >= 3;
    Some(AcrossTasks {
        // NaN (no spread on a side) becomes `None`.
        pearson: enough
            .then(|| pearson_r(&xs, &ys))
            .filter(|r| r.is_finite()),
        spearman: enough
            .then(|| spearman_rho(&xs, &ys))
            .filter(|r| r.is_finite()),
        points,
    })
}

/// Distortion types in BAPPS' order (the distortions' catalogue, as
/// `percept distort list` shows them); unknown names after, sorted.
fn type_order<'a>(present: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut present: Vec<&str> = present.collect();
    present.sort_by_key(|name| {
        (
            distortions::KINDS
                .iter()
                .position(|kind| kind.name == *name)
                .unwrap_or(usize::MAX),
            name.to_string(),
        )
    });
    present.into_iter().map(str::to_owned).collect()
}

/// The PNGs (reference, p0, p1) of the gallery's triplets, by triplet id.
pub async fn gallery_images(pool: &PgPool, report: &Report) -> Result<HashMap<i64, [Vec<u8>; 3]>> {
    let ids: Vec<i64> = report
        .disagreements
        .iter()
        .map(|d| d.triplet_id)
        .chain(
            report
                .versus
                .iter()
                .flat_map(|v| v.strongest.iter().map(|c| c.triplet_id)),
        )
        .collect();
    Ok(sqlx::query!(
        "SELECT id, ref_png, p0_png, p1_png FROM triplets WHERE id = ANY($1)",
        &ids
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| (row.id, [row.ref_png, row.p0_png, row.p1_png]))
    .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triplet(id: i64, types: &[&str], chose_p1: f64) -> JudgedTriplet {
        JudgedTriplet {
            id,
            index: id as usize - 1,
            category: "c".into(),
            distortions: types.iter().map(|t| t.to_string()).collect(),
            judgments: 4.0,
            chose_p1,
        }
    }

    #[test]
    fn scores_per_distortion_type_count_each_type_of_either_pipeline() {
        let judged = [
            triplet(1, &["jpeg", "gaussian_blur"], 4.0),
            triplet(2, &["gaussian_blur"], 0.0),
            triplet(3, &[], 2.0),
        ];
        // p1 closer on 1, p0 closer on 2 and 3.
        let distances = BTreeMap::from([(
            "gmsd".to_string(),
            HashMap::from([(1, (0.5, 0.1)), (2, (0.1, 0.5)), (3, (0.1, 0.5))]),
        )]);
        let pipelines = distortion_types(&[
            Some(
                serde_json::json!([{"type": "jpeg", "quality": 40}, {"type": "jpeg", "quality": 20}]),
            ),
            None,
            Some(serde_json::json!([{"type": "gaussian_blur", "sigma": 1.5}])),
        ]);
        assert_eq!(
            pipelines.into_iter().collect::<Vec<_>>(),
            ["gaussian_blur", "jpeg"]
        );
        let report = assemble(
            Vec::new(),
            Counts::default(),
            &judged,
            &distances,
            &Resampler::Stimuli { seed: 1 },
        );
        let [row] = &report.by_distortion[..] else {
            panic!("{:?}", report.by_distortion)
        };
        assert_eq!(row.metric, "gmsd");
        let cells: Vec<(&str, usize, f64)> = row
            .per_type
            .iter()
            .map(|c| (c.distortion.as_str(), c.triplets, c.two_afc.value))
            .collect();
        // BAPPS' order: blur before JPEG; triplet 2's people all chose p0, as gmsd.
        assert_eq!(cells, [("gaussian_blur", 2, 1.0), ("jpeg", 1, 1.0)]);
        let html = html::render_html(&report, &HashMap::new()).unwrap();
        assert!(
            html.contains("By distortion type") && html.contains("gmsd on jpeg: 1.000"),
            "{html}"
        );
    }

    #[test]
    fn metric_against_metric_counts_who_people_side_with_where_they_disagree() {
        let judged = [
            triplet(1, &[], 4.0), // everyone chose p1
            triplet(2, &[], 1.0), // one in four chose p1
            triplet(3, &[], 2.0),
        ];
        let distances = BTreeMap::from([
            // a: p1 closer on 1 and 2; p0 on 3.
            (
                "a".to_string(),
                HashMap::from([(1, (0.5, 0.1)), (2, (0.5, 0.1)), (3, (0.1, 0.5))]),
            ),
            // b: p0 closer on 1 and 2 (disagreeing with a), p0 on 3 (agreeing).
            (
                "b".to_string(),
                HashMap::from([(1, (0.1, 0.5)), (2, (0.1, 0.5)), (3, (0.1, 0.2))]),
            ),
        ]);
        let resampler = Resampler::Stimuli { seed: 1 };
        let versus = metric_versus(&judged, &distances, "a", "b", &resampler).unwrap();
        assert_eq!((versus.both_scored, versus.disagreeing), (3, 2));
        // People side with a on all of 1 and a quarter of 2.
        assert_eq!(versus.people_side_with_a.value, (1.0 + 0.25) / 2.0);
        let sides: Vec<(i64, &str)> = versus
            .strongest
            .iter()
            .map(|c| (c.triplet_id, c.people_side_with.as_str()))
            .collect();
        assert_eq!(sides, [(1, "a"), (2, "b")]);
        assert!(metric_versus(&judged, &distances, "a", "c", &resampler).is_none());
    }

    #[test]
    fn across_tasks_correlates_two_afc_scores_with_jnd_maps() {
        let estimate = |value| Estimate {
            value,
            low: value,
            high: value,
        };
        let metric = |name: &str, score| MetricAgreement {
            metric: name.into(),
            triplets: 10,
            two_afc: estimate(score),
            per_category: Vec::new(),
        };
        let jnd = |name: &str, map| MetricJnd {
            metric: name.into(),
            pairs: 10,
            map: estimate(map),
            per_category: Vec::new(),
            curve: PrecisionRecall {
                precision: Vec::new(),
                recall: Vec::new(),
            },
        };
        let metrics = [
            metric("a", 0.6),
            metric("b", 0.7),
            metric("c", 0.8),
            metric("d", 0.9),
        ];
        // Only a, b, c scored JND: three points, in the same order on both.
        let maps = [jnd("c", 0.5), jnd("a", 0.1), jnd("b", 0.4)];
        let across = across_tasks(&metrics, &maps).unwrap();
        let names: Vec<&str> = across.points.iter().map(|p| p.metric.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(across.spearman, Some(1.0));
        // scipy.stats.pearsonr([0.6, 0.7, 0.8], [0.1, 0.4, 0.5])
        assert!((across.pearson.unwrap() - 0.960_768_922_830_522_8).abs() < 1e-12);
        // Two points give no correlation; no JND, no section.
        assert_eq!(across_tasks(&metrics, &maps[..2]).unwrap().pearson, None);
        assert!(across_tasks(&metrics, &[]).is_none());
    }
}
