//! What the report's bootstrap intervals resample.
//!
//! By default the stimuli (triplets, pairs), as the LPIPS paper's intervals
//! do. With `--resample workers`, the workers, each one's judgments kept
//! together: pwcmp's convention, since the people are the random sample a
//! study draws, and one person's judgments are not independent of each other
//! (a lenient or careless worker moves every triplet they judged). Each
//! resample draws as many workers as there are, with replacement; every
//! stimulus is re-tallied from the drawn workers' judgments (a worker drawn
//! twice counts twice), and stimuli that no drawn worker judged sit that
//! resample out. Imported judgments carry no workers, so a report holding
//! them can only resample stimuli.

use std::collections::HashMap;

use distortions::rand_chacha::{rand_core::SeedableRng, ChaCha8Rng};
use serde::{Deserialize, Serialize};

use super::agreement::{self, Estimate, ScoredPair, ScoredTriplet, BOOTSTRAP_RESAMPLES};
use crate::tallies::{Tally, WorkerTally};

/// What the bootstrap resamples.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Resample {
    /// The triplets and pairs (the paper's intervals).
    #[default]
    Triplets,
    /// The workers, each one's judgments together (pwcmp's convention).
    Workers,
}

impl Resample {
    /// The sentence the report states its intervals with.
    pub fn statement(self) -> &'static str {
        match self {
            Resample::Triplets => {
                "Intervals are 95% percentile-bootstrap intervals from 2,000 seeded resamples of the \
                 triplets (JND: of the pairs)."
            }
            Resample::Workers => {
                "Intervals are 95% percentile-bootstrap intervals from 2,000 seeded resamples of the \
                 workers, each worker's judgments kept together (pwcmp's convention): each resample \
                 draws as many workers as there are, with replacement, and re-tallies every triplet \
                 and pair from their judgments; those no drawn worker judged sit that resample out."
            }
        }
    }
}

/// A stimulus as the statistics see it, re-tallied from a resample of workers.
pub(super) trait Retally: Copy {
    /// `self` with the drawn workers' judgments; `None` when they judged it not at all.
    fn retallied(self, judgments: f64, yes: f64) -> Option<Self>;
}

impl Retally for ScoredTriplet {
    fn retallied(self, judgments: f64, yes: f64) -> Option<Self> {
        (judgments > 0.0).then_some(ScoredTriplet {
            judgments,
            chose_p1: yes,
            ..self
        })
    }
}

impl Retally for ScoredPair {
    fn retallied(self, judgments: f64, yes: f64) -> Option<Self> {
        (judgments > 0.0).then_some(ScoredPair {
            same_share: yes / judgments,
            ..self
        })
    }
}

/// Which stimuli an item is: a triplet or a pair, by its index in the
/// report's sorted list of judged triplets or pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stimulus {
    Triplet(usize),
    Pair(usize),
}

/// Draws the resamples of [`Resample`] and computes intervals with them.
pub(super) enum Resampler {
    Stimuli {
        seed: u64,
    },
    Workers {
        /// Per resample, each judged triplet's and pair's (judgments, yes).
        triplets: Vec<Vec<[u32; 2]>>,
        pairs: Vec<Vec<[u32; 2]>>,
    },
}

impl Resampler {
    /// The worker bootstrap over the judgments behind `triplets` and
    /// `pairs` (the report's judged stimuli, by id in the order given).
    /// Refused when some of their judgments were imported (no workers).
    pub fn workers(
        triplets: &[(i64, Tally)],
        triplet_judgments: &[WorkerTally],
        pairs: &[(i64, Tally)],
        pair_judgments: &[WorkerTally],
        seed: u64,
    ) -> Result<Resampler, String> {
        let mut worker_index: HashMap<i64, usize> = HashMap::new();
        let mut index_rows = |stimuli: &[(i64, Tally)], rows: &[WorkerTally], what: &str| {
            let position: HashMap<i64, usize> = stimuli
                .iter()
                .enumerate()
                .map(|(i, (id, _))| (*id, i))
                .collect();
            let mut collected = vec![0.0; stimuli.len()];
            let mut indexed = Vec::with_capacity(rows.len());
            for row in rows {
                let Some(&stimulus) = position.get(&row.stimulus_id) else {
                    continue;
                };
                let next = worker_index.len();
                let worker = *worker_index.entry(row.worker_id).or_insert(next);
                collected[stimulus] += row.judgments as f64;
                indexed.push((worker, stimulus, [row.judgments as u32, row.yes as u32]));
            }
            let imported = stimuli
                .iter()
                .zip(&collected)
                .filter(|((_, tally), collected)| tally.judgments > **collected + 1e-9)
                .count();
            if imported > 0 {
                return Err(format!(
                    "--resample workers needs every judgment's worker, but {imported} {what} of these \
                     experiments hold imported judgments (a BAPPS tree keeps only their shares); \
                     use --resample triplets"
                ));
            }
            Ok(indexed)
        };
        let triplet_rows = index_rows(triplets, triplet_judgments, "triplets")?;
        let pair_rows = index_rows(pairs, pair_judgments, "JND pairs")?;
        let workers = worker_index.len();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut multiplicity = vec![0u32; workers];
        let (mut triplet_resamples, mut pair_resamples) = (Vec::new(), Vec::new());
        for _ in 0..BOOTSTRAP_RESAMPLES {
            multiplicity.fill(0);
            for _ in 0..workers {
                multiplicity[agreement::index_below(&mut rng, workers)] += 1;
            }
            let tally = |rows: &[(usize, usize, [u32; 2])], count: usize| {
                let mut tallies = vec![[0u32; 2]; count];
                for &(worker, stimulus, [judgments, yes]) in rows {
                    let m = multiplicity[worker];
                    tallies[stimulus][0] += m * judgments;
                    tallies[stimulus][1] += m * yes;
                }
                tallies
            };
            triplet_resamples.push(tally(&triplet_rows, triplets.len()));
            pair_resamples.push(tally(&pair_rows, pairs.len()));
        }
        Ok(Resampler::Workers {
            triplets: triplet_resamples,
            pairs: pair_resamples,
        })
    }

    /// Resample `r`'s (judgments, yes) of a stimulus.
    fn tally(&self, r: usize, stimulus: Stimulus) -> [f64; 2] {
        let Resampler::Workers { triplets, pairs } = self else {
            unreachable!("only the worker bootstrap re-tallies")
        };
        let [judgments, yes] = match stimulus {
            Stimulus::Triplet(i) => triplets[r][i],
            Stimulus::Pair(i) => pairs[r][i],
        };
        [f64::from(judgments), f64::from(yes)]
    }

    /// The items of resample `r`.
    fn resampled<T: Retally>(&self, r: usize, items: &[(Stimulus, T)], into: &mut Vec<T>) {
        into.clear();
        into.extend(items.iter().filter_map(|&(stimulus, item)| {
            let [judgments, yes] = self.tally(r, stimulus);
            item.retallied(judgments, yes)
        }));
    }

    /// `statistic` of the items with its 95% interval.
    pub fn estimate<T: Retally>(
        &self,
        items: &[(Stimulus, T)],
        statistic: impl Fn(&[T]) -> f64,
    ) -> Estimate {
        let plain: Vec<T> = items.iter().map(|(_, item)| *item).collect();
        match self {
            Resampler::Stimuli { seed } => agreement::bootstrap(&plain, statistic, *seed),
            Resampler::Workers { .. } => {
                let value = statistic(&plain);
                let mut resample = Vec::with_capacity(items.len());
                let statistics = (0..BOOTSTRAP_RESAMPLES)
                    .map(|r| {
                        self.resampled(r, items, &mut resample);
                        statistic(&resample)
                    })
                    .collect();
                agreement::percentile_interval(value, statistics)
            }
        }
    }

    /// The paired difference `statistic(a) − statistic(b)`, `a[i]` and
    /// `b[i]` being two metrics on the same stimulus: its interval and p-value.
    pub fn paired<T: Retally>(
        &self,
        a: &[(Stimulus, T)],
        b: &[(Stimulus, T)],
        statistic: impl Fn(&[T]) -> f64,
    ) -> (Estimate, f64) {
        let plain =
            |items: &[(Stimulus, T)]| items.iter().map(|(_, item)| *item).collect::<Vec<T>>();
        let (plain_a, plain_b) = (plain(a), plain(b));
        match self {
            Resampler::Stimuli { seed } => {
                agreement::paired_difference(&plain_a, &plain_b, statistic, *seed)
            }
            Resampler::Workers { .. } => {
                let value = statistic(&plain_a) - statistic(&plain_b);
                let (mut resample_a, mut resample_b) = (Vec::new(), Vec::new());
                let differences = (0..BOOTSTRAP_RESAMPLES)
                    .map(|r| {
                        self.resampled(r, a, &mut resample_a);
                        self.resampled(r, b, &mut resample_b);
                        statistic(&resample_a) - statistic(&resample_b)
                    })
                    .collect();
                agreement::difference_interval(value, differences)
            }
        }
    }
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

    fn row(worker_id: i64, stimulus_id: i64, yes: i64) -> WorkerTally {
        WorkerTally {
            worker_id,
            stimulus_id,
            judgments: 1,
            yes,
        }
    }

    /// 40 triplets judged by 8 workers each: a worker bootstrap's interval
    /// is wider than the triplet bootstrap's when workers differ from each
    /// other (half always choose p0, half p1 on every triplet), and equal
    /// values come out of both.
    #[test]
    fn the_worker_bootstrap_widens_intervals_when_workers_differ() {
        let ids: Vec<i64> = (1..=40).collect();
        let rows: Vec<WorkerTally> = ids
            .iter()
            .flat_map(|&id| (0..8).map(move |w| row(w, id, i64::from(w < 4))))
            .collect();
        let tallies: Vec<(i64, Tally)> = ids
            .iter()
            .map(|&id| {
                (
                    id,
                    Tally {
                        judgments: 8.0,
                        yes: 4.0,
                    },
                )
            })
            .collect();
        // The metric finds p0 closer on every triplet.
        let items: Vec<(Stimulus, ScoredTriplet)> = (0..40)
            .map(|i| (Stimulus::Triplet(i), triplet(0.1, 0.2, 8.0, 4.0)))
            .collect();
        let workers = Resampler::workers(&tallies, &rows, &[], &[], 7).unwrap();
        let stimuli = Resampler::Stimuli { seed: 7 };
        let by_workers = workers.estimate(&items, agreement::two_afc_score);
        let by_triplets = stimuli.estimate(&items, agreement::two_afc_score);
        assert_eq!(by_workers.value, 0.5);
        assert_eq!(by_triplets.value, 0.5);
        // Every triplet has the same share: resampling triplets cannot move it.
        assert_eq!((by_triplets.low, by_triplets.high), (0.5, 0.5));
        assert!(
            by_workers.low < 0.4 && by_workers.high > 0.6,
            "{by_workers:?}"
        );
        // The same seed gives the same intervals.
        let again = Resampler::workers(&tallies, &rows, &[], &[], 7).unwrap();
        assert_eq!(again.estimate(&items, agreement::two_afc_score), by_workers);
    }

    #[test]
    fn imported_judgments_cannot_be_resampled_by_worker() {
        let tallies = [(
            1,
            Tally {
                judgments: 5.0,
                yes: 2.0,
            },
        )];
        let error = match Resampler::workers(&tallies, &[row(1, 1, 1)], &[], &[], 1) {
            Err(error) => error,
            Ok(_) => panic!("accepted imported judgments"),
        };
        assert!(
            error.contains("1 triplets") && error.contains("--resample triplets"),
            "{error}"
        );
    }

    #[test]
    fn paired_worker_resamples_draw_the_same_workers_for_both_metrics() {
        let rows: Vec<WorkerTally> = (1..=30)
            .flat_map(|id| (0..5).map(move |w| row(w, id, i64::from((id + w) % 3 == 0))))
            .collect();
        let mut tallies: Vec<(i64, Tally)> = Vec::new();
        for id in 1..=30 {
            let yes = rows
                .iter()
                .filter(|r| r.stimulus_id == id)
                .map(|r| r.yes)
                .sum::<i64>();
            tallies.push((
                id,
                Tally {
                    judgments: 5.0,
                    yes: yes as f64,
                },
            ));
        }
        let items: Vec<(Stimulus, ScoredTriplet)> = tallies
            .iter()
            .enumerate()
            .map(|(i, (_, t))| (Stimulus::Triplet(i), triplet(0.1, 0.2, t.judgments, t.yes)))
            .collect();
        let resampler = Resampler::workers(&tallies, &rows, &[], &[], 3).unwrap();
        // A metric against itself: every resample's difference is exactly 0.
        let (difference, p) = resampler.paired(&items, &items, agreement::two_afc_score);
        assert_eq!(
            (difference.value, difference.low, difference.high),
            (0.0, 0.0, 0.0)
        );
        assert_eq!(p, 1.0);
    }
}
