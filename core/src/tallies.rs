//! What the people said, stimulus by stimulus: for each 2AFC triplet how many
//! judged it and how many found p1 closer (the judgments collected here plus
//! those it was imported with), for each JND pair how many judged it and how
//! many saw no difference. Flagged workers are left out unless asked.
//! Reports and exports read judgments only through this.

use std::collections::HashMap;

use sqlx::PgPool;

use crate::error::Result;
use crate::quality;
pub use crate::stimuli::StimulusKind;

/// A stimulus's counted judgments. Imported ones are a share of a number of
/// people, so the counts are real numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tally {
    pub judgments: f64,
    /// Those giving the answer BAPPS records: p1 is closer (2AFC), or no
    /// difference was seen (JND).
    pub yes: f64,
}

impl Tally {
    /// BAPPS' `judge` (the share who found p1 closer) or `same` (the share
    /// who saw no difference).
    pub fn share(&self) -> f64 {
        self.yes / self.judgments
    }
}

/// Which workers' judgments a tally leaves out.
pub async fn excluded_workers(
    pool: &PgPool,
    experiment_ids: &[i64],
    include_flagged: bool,
) -> Result<Vec<i64>> {
    let mut excluded = Vec::new();
    if !include_flagged {
        for &id in experiment_ids {
            excluded.extend(quality::flagged_worker_ids(pool, id).await?);
        }
    }
    Ok(excluded)
}

/// Tallies of the experiments' stimuli of `kind` that have any counted
/// judgment, by stimulus (triplet or pair) id: real (non-sentinel) triplets,
/// and distorted (non-control) pairs with their valid judgments only (a
/// trial whose timing was off or whose page was hidden says nothing about
/// the pair).
pub async fn tallies(
    pool: &PgPool,
    kind: StimulusKind,
    experiment_ids: &[i64],
    excluded_workers: &[i64],
) -> Result<HashMap<i64, Tally>> {
    Ok(match kind {
        StimulusKind::Triplet => {
            sqlx::query!(
                r#"
                WITH collected AS (
                    SELECT at.triplet_id, count(*)::float8 AS judgments,
                           count(*) FILTER (WHERE j.chose_p1)::float8 AS chose_p1
                    FROM judgments j
                    JOIN assignment_trials at USING (assignment_id, position)
                    JOIN assignments a ON a.id = j.assignment_id
                    WHERE a.experiment_id = ANY($1) AND NOT (a.worker_id = ANY($2))
                    GROUP BY at.triplet_id
                ),
                imported AS (
                    SELECT i.triplet_id, i.judgments::float8 AS judgments, i.judgments * i.p1_share AS chose_p1
                    FROM imported_judgments i JOIN triplets t ON t.id = i.triplet_id
                    WHERE t.experiment_id = ANY($1)
                )
                SELECT c.triplet_id AS "triplet_id!", sum(c.judgments) AS "judgments!", sum(c.chose_p1) AS "chose_p1!"
                FROM (SELECT * FROM collected UNION ALL SELECT * FROM imported) c
                JOIN triplets t ON t.id = c.triplet_id
                WHERE t.sentinel_answer IS NULL
                GROUP BY c.triplet_id
                "#,
                experiment_ids,
                excluded_workers,
            )
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| {
                (
                    row.triplet_id,
                    Tally {
                        judgments: row.judgments,
                        yes: row.chose_p1,
                    },
                )
            })
            .collect()
        }
        StimulusKind::Pair => {
            sqlx::query!(
                r#"
                WITH collected AS (
                    SELECT jt.pair_id, count(*)::float8 AS judgments,
                           count(*) FILTER (WHERE j.said_same)::float8 AS said_same
                    FROM jnd_judgments j
                    JOIN jnd_trials jt USING (assignment_id, position)
                    JOIN assignments a ON a.id = j.assignment_id
                    WHERE a.experiment_id = ANY($1) AND j.valid AND NOT (a.worker_id = ANY($2))
                    GROUP BY jt.pair_id
                ),
                imported AS (
                    SELECT i.pair_id, i.judgments::float8 AS judgments, i.judgments * i.same_share AS said_same
                    FROM imported_pair_judgments i JOIN pairs p ON p.id = i.pair_id
                    WHERE p.experiment_id = ANY($1)
                )
                SELECT c.pair_id AS "pair_id!", sum(c.judgments) AS "judgments!", sum(c.said_same) AS "said_same!"
                FROM (SELECT * FROM collected UNION ALL SELECT * FROM imported) c
                JOIN pairs p ON p.id = c.pair_id
                WHERE NOT p.is_control
                GROUP BY c.pair_id
                "#,
                experiment_ids,
                excluded_workers,
            )
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| {
                (
                    row.pair_id,
                    Tally {
                        judgments: row.judgments,
                        yes: row.said_same,
                    },
                )
            })
            .collect()
        }
    })
}

/// One worker's counted judgments of one stimulus: how many, and how many
/// gave BAPPS' answer (p1 closer; no difference seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerTally {
    pub worker_id: i64,
    pub stimulus_id: i64,
    pub judgments: i64,
    pub yes: i64,
}

/// The judgments collected here behind [`tallies`], per worker and
/// stimulus (imported judgments have no workers, so they are not here):
/// what a bootstrap over workers resamples.
pub async fn worker_tallies(
    pool: &PgPool,
    kind: StimulusKind,
    experiment_ids: &[i64],
    excluded_workers: &[i64],
) -> Result<Vec<WorkerTally>> {
    Ok(match kind {
        StimulusKind::Triplet => {
            sqlx::query_as!(
                WorkerTally,
                r#"
            SELECT a.worker_id, at.triplet_id AS stimulus_id,
                   count(*) AS "judgments!", count(*) FILTER (WHERE j.chose_p1) AS "yes!"
            FROM judgments j
            JOIN assignment_trials at USING (assignment_id, position)
            JOIN assignments a ON a.id = j.assignment_id
            JOIN triplets t ON t.id = at.triplet_id
            WHERE a.experiment_id = ANY($1) AND NOT (a.worker_id = ANY($2))
                  AND t.sentinel_answer IS NULL
            GROUP BY a.worker_id, at.triplet_id
            ORDER BY a.worker_id, at.triplet_id
            "#,
                experiment_ids,
                excluded_workers,
            )
            .fetch_all(pool)
            .await?
        }
        StimulusKind::Pair => {
            sqlx::query_as!(
                WorkerTally,
                r#"
            SELECT a.worker_id, jt.pair_id AS stimulus_id,
                   count(*) AS "judgments!", count(*) FILTER (WHERE j.said_same) AS "yes!"
            FROM jnd_judgments j
            JOIN jnd_trials jt USING (assignment_id, position)
            JOIN assignments a ON a.id = j.assignment_id
            JOIN pairs p ON p.id = jt.pair_id
            WHERE a.experiment_id = ANY($1) AND j.valid AND NOT (a.worker_id = ANY($2))
                  AND NOT p.is_control
            GROUP BY a.worker_id, jt.pair_id
            ORDER BY a.worker_id, jt.pair_id
            "#,
                experiment_ids,
                excluded_workers,
            )
            .fetch_all(pool)
            .await?
        }
    })
}
