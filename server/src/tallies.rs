//! What the people said, stimulus by stimulus: for each 2AFC triplet how many
//! judged it and how many found p1 closer (the judgments collected here plus
//! those it was imported with), for each JND pair how many judged it and how
//! many saw no difference. Flagged workers are left out unless asked.
//! Reports and exports read judgments only through this.

use std::collections::HashMap;

use sqlx::PgPool;

use crate::error::Result;
use crate::quality;

/// A triplet's counted judgments. Imported ones are a share of a number of
/// people, so the counts are real numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tally {
    pub judgments: f64,
    pub chose_p1: f64,
}

impl Tally {
    /// BAPPS' `judge`: the share of people who found p1 closer.
    pub fn p1_share(&self) -> f64 {
        self.chose_p1 / self.judgments
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

/// Tallies of the experiments' real (non-sentinel) triplets that have any
/// counted judgment, by triplet id.
pub async fn tallies(
    pool: &PgPool,
    experiment_ids: &[i64],
    excluded_workers: &[i64],
) -> Result<HashMap<i64, Tally>> {
    let rows = sqlx::query!(
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
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            (
                row.triplet_id,
                Tally {
                    judgments: row.judgments,
                    chose_p1: row.chose_p1,
                },
            )
        })
        .collect())
}

/// A JND pair's counted judgments: valid ones only (a trial whose timing
/// was off or whose page was hidden says nothing about the pair), plus those
/// it was imported with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairTally {
    pub judgments: f64,
    pub said_same: f64,
}

impl PairTally {
    /// BAPPS' `same`: the share of people who saw no difference.
    pub fn same_share(&self) -> f64 {
        self.said_same / self.judgments
    }
}

/// Tallies of the experiments' distorted (non-control) pairs that have any
/// counted judgment, by pair id.
pub async fn pair_tallies(
    pool: &PgPool,
    experiment_ids: &[i64],
    excluded_workers: &[i64],
) -> Result<HashMap<i64, PairTally>> {
    let rows = sqlx::query!(
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
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            (
                row.pair_id,
                PairTally {
                    judgments: row.judgments,
                    said_same: row.said_same,
                },
            )
        })
        .collect())
}
