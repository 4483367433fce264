//! Sharing an experiment with other researchers (see `experiment_access` in
//! the migrations): used by the dashboard's API and by `percept experiment share`.

use percept_api::experiments::ExperimentShare;
use sqlx::PgPool;

use crate::error::{Error, Result};
use crate::researchers;

/// How a researcher comes to see an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    /// Sees, scores, reports and exports it, but does not change who it is
    /// shared with.
    SharedReader,
}

/// How `researcher_id` sees `experiment_id`: as its owner, as a researcher
/// it is shared with, or not at all (`None`).
pub async fn role(pool: &PgPool, experiment_id: i64, researcher_id: i64) -> Result<Option<Role>> {
    let is_owner = sqlx::query_scalar!(
        "SELECT bool_or(is_owner) FROM experiment_access
         WHERE experiment_id = $1 AND researcher_id = $2",
        experiment_id,
        researcher_id
    )
    .fetch_one(pool)
    .await?;
    Ok(is_owner.map(|is_owner| {
        if is_owner {
            Role::Owner
        } else {
            Role::SharedReader
        }
    }))
}

/// The researchers `experiment_id` is shared with, in the order it was shared.
pub async fn shares(pool: &PgPool, experiment_id: i64) -> Result<Vec<ExperimentShare>> {
    Ok(sqlx::query_as!(
        ExperimentShare,
        "SELECT s.researcher_id, r.email, s.shared_at
         FROM experiment_shares s JOIN researchers r ON r.id = s.researcher_id
         WHERE s.experiment_id = $1
         ORDER BY s.shared_at, s.researcher_id",
        experiment_id
    )
    .fetch_all(pool)
    .await?)
}

/// Shares `experiment_id` with the researcher who signs in as `email`;
/// returns the share and whether it is new.
pub async fn share(
    pool: &PgPool,
    experiment_id: i64,
    email: &str,
) -> Result<(ExperimentShare, bool)> {
    let researcher_id = researchers::id_by_email(pool, email).await?;
    let owner_id = sqlx::query_scalar!(
        "SELECT owner_id FROM experiments WHERE id = $1",
        experiment_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("there is no experiment {experiment_id}")))?;
    if owner_id == researcher_id {
        return Err(Error::Invalid(format!(
            "{} owns experiment {experiment_id}; share it with someone else",
            email.trim()
        )));
    }
    let created = sqlx::query!(
        "INSERT INTO experiment_shares (experiment_id, researcher_id) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
        experiment_id,
        researcher_id
    )
    .execute(pool)
    .await?
    .rows_affected()
        == 1;
    let share = shares(pool, experiment_id)
        .await?
        .into_iter()
        .find(|share| share.researcher_id == researcher_id)
        .ok_or_else(|| {
            // Only a concurrent unshare could take it away this fast.
            Error::Conflict(format!(
                "experiment {experiment_id} stopped being shared with {email} meanwhile"
            ))
        })?;
    Ok((share, created))
}

/// Takes `researcher_id`'s access to `experiment_id` away; returns whether
/// they had it.
pub async fn unshare(pool: &PgPool, experiment_id: i64, researcher_id: i64) -> Result<bool> {
    let removed = sqlx::query!(
        "DELETE FROM experiment_shares WHERE experiment_id = $1 AND researcher_id = $2",
        experiment_id,
        researcher_id
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(removed == 1)
}
