//! Quality control: how often each worker picks the undistorted side of a
//! sentinel, the one trial type whose right answer is known.

use sqlx::PgPool;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct SentinelScore {
    pub worker_id: i64,
    pub judged: i64,
    pub passed: i64,
}

impl SentinelScore {
    pub fn pass_rate(&self) -> f64 {
        self.passed as f64 / self.judged as f64
    }

    /// Whether the worker failed more than `max_failure_share` of the
    /// sentinels they judged. Nobody is flagged before judging a sentinel.
    pub fn fails_more_than(&self, max_failure_share: f64) -> bool {
        let failed = self.judged - self.passed;
        self.judged > 0 && failed as f64 > max_failure_share * self.judged as f64
    }
}

/// Sentinel results of every worker who judged at least one sentinel in the
/// experiment, by worker id.
pub async fn sentinel_scores(pool: &PgPool, experiment_id: i64) -> Result<Vec<SentinelScore>> {
    Ok(sqlx::query_as!(
        SentinelScore,
        r#"
        SELECT a.worker_id,
               count(*) AS "judged!",
               count(*) FILTER (WHERE j.chose_p1 = (t.sentinel_answer = 1)) AS "passed!"
        FROM judgments j
        JOIN assignment_trials at USING (assignment_id, position)
        JOIN assignments a ON a.id = j.assignment_id
        JOIN triplets t ON t.id = at.triplet_id
        WHERE a.experiment_id = $1 AND t.sentinel_answer IS NOT NULL
        GROUP BY a.worker_id
        ORDER BY a.worker_id
        "#,
        experiment_id
    )
    .fetch_all(pool)
    .await?)
}

/// The workers of the experiment whose judgments are not to be trusted: those
/// who failed more than the experiment's `max_sentinel_failure_share` of the
/// sentinels they judged. Their judgments stay in the database; reports and
/// exports leave them out by default.
pub async fn flagged_worker_ids(pool: &PgPool, experiment_id: i64) -> Result<Vec<i64>> {
    let max_failure_share = sqlx::query_scalar!(
        "SELECT max_sentinel_failure_share FROM experiments WHERE id = $1",
        experiment_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("there is no experiment {experiment_id}")))?;
    Ok(sentinel_scores(pool, experiment_id)
        .await?
        .into_iter()
        .filter(|score| score.fails_more_than(f64::from(max_failure_share)))
        .map(|score| score.worker_id)
        .collect())
}
