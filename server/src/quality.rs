//! Quality control: how often each worker picks the undistorted side of a
//! sentinel, the one trial type whose right answer is known.

use sqlx::PgPool;

use crate::error::Result;

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
