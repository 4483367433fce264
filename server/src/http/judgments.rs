//! `POST /api/assignments/{token}/judgments`: record a worker's answer to a trial.
//!
//! The client generates each judgment's id, so a submission retried after a
//! lost response finds its row instead of adding another: the retry gets the
//! same answer with 200 where the first got 201.

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    Json,
};
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::extract::{JsonBody, PathParams};
use super::AppState;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    Right,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct NewJudgment {
    id: Uuid,
    position: i32,
    chosen_side: Side,
    /// From the moment all three images were on screen.
    response_ms: i32,
    client_time: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct JudgmentReceipt {
    id: Uuid,
    /// Whether every trial of the assignment is now judged.
    completed: bool,
    completion_code: Option<String>,
    redirect_url: Option<String>,
}

/// Unambiguous characters only: workers may have to type the code.
const COMPLETION_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const COMPLETION_CODE_LENGTH: usize = 10;

pub async fn submit(
    State(state): State<AppState>,
    PathParams(token): PathParams<String>,
    headers: HeaderMap,
    JsonBody(judgment): JsonBody<NewJudgment>,
) -> Result<(StatusCode, Json<JudgmentReceipt>)> {
    if judgment.response_ms < 0 {
        return Err(Error::BadRequest(format!(
            "response_ms must not be negative, not {}",
            judgment.response_ms
        )));
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok());

    let mut transaction = state.pool.begin().await?;
    // Locking the assignment serialises its submissions, so "was this trial
    // judged?" and "is the assignment complete?" cannot race.
    let assignment = sqlx::query!(
        r#"
        SELECT a.id, a.expires_at, a.expires_at <= now() AS "expired!",
               a.completed_at IS NOT NULL AS "completed!", e.completion_redirect_url
        FROM assignments a JOIN experiments e ON e.id = a.experiment_id
        WHERE a.token = $1
        FOR UPDATE OF a
        "#,
        token
    )
    .fetch_optional(&mut *transaction)
    .await?
    .ok_or_else(|| Error::NotFound("there is no assignment with this token".into()))?;

    let stored_identical = sqlx::query_scalar!(
        r#"
        SELECT (assignment_id = $2 AND position = $3 AND chosen_side = $4
                AND response_ms = $5 AND client_time = $6) AS "identical!"
        FROM judgments WHERE id = $1
        "#,
        judgment.id,
        assignment.id,
        judgment.position,
        judgment.chosen_side.as_str(),
        judgment.response_ms,
        judgment.client_time,
    )
    .fetch_optional(&mut *transaction)
    .await?;
    match stored_identical {
        Some(true) => {
            let receipt = receipt(&mut transaction, judgment.id, assignment.id).await?;
            return Ok((StatusCode::OK, Json(receipt)));
        }
        Some(false) => {
            return Err(Error::Conflict(format!(
                "judgment {} was already submitted with different content",
                judgment.id
            )))
        }
        None => {}
    }
    if assignment.completed {
        return Err(Error::Conflict(
            "this assignment is already complete".into(),
        ));
    }
    if assignment.expired {
        return Err(Error::Gone(format!(
            "this assignment expired at {}; its trials went back to the pool",
            assignment.expires_at
        )));
    }

    let trial = sqlx::query!(
        r#"
        SELECT at.left_is_p0, j.id AS "judgment_id?"
        FROM assignment_trials at
        LEFT JOIN judgments j ON j.assignment_id = at.assignment_id AND j.position = at.position
        WHERE at.assignment_id = $1 AND at.position = $2
        "#,
        assignment.id,
        judgment.position,
    )
    .fetch_optional(&mut *transaction)
    .await?
    .ok_or_else(|| {
        Error::BadRequest(format!(
            "this assignment has no trial at position {}",
            judgment.position
        ))
    })?;
    if let Some(other_id) = trial.judgment_id {
        return Err(Error::Conflict(format!(
            "the trial at position {} was already judged (judgment {other_id})",
            judgment.position
        )));
    }

    let chose_p1 = (judgment.chosen_side == Side::Right) == trial.left_is_p0;
    sqlx::query!(
        "INSERT INTO judgments (id, assignment_id, position, chosen_side, chose_p1,
                                response_ms, client_time, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        judgment.id,
        assignment.id,
        judgment.position,
        judgment.chosen_side.as_str(),
        chose_p1,
        judgment.response_ms,
        judgment.client_time,
        user_agent,
    )
    .execute(&mut *transaction)
    .await
    .map_err(|error| match &error {
        // The same id racing in through another assignment.
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict(format!(
            "judgment {} was already submitted with different content",
            judgment.id
        )),
        _ => error.into(),
    })?;

    sqlx::query!(
        "UPDATE assignments SET completed_at = now(), completion_code = $2
         WHERE id = $1 AND NOT EXISTS (
             SELECT 1 FROM assignment_trials at
             LEFT JOIN judgments j ON j.assignment_id = at.assignment_id AND j.position = at.position
             WHERE at.assignment_id = $1 AND j.id IS NULL
         )",
        assignment.id,
        completion_code(),
    )
    .execute(&mut *transaction)
    .await?;
    let receipt = receipt(&mut transaction, judgment.id, assignment.id).await?;
    transaction.commit().await?;
    Ok((StatusCode::CREATED, Json(receipt)))
}

/// The answer to a stored judgment: where its assignment stands now.
async fn receipt(
    transaction: &mut sqlx::PgConnection,
    judgment_id: Uuid,
    assignment_id: i64,
) -> Result<JudgmentReceipt> {
    let assignment = sqlx::query!(
        "SELECT a.completion_code, e.completion_redirect_url
         FROM assignments a JOIN experiments e ON e.id = a.experiment_id
         WHERE a.id = $1",
        assignment_id
    )
    .fetch_one(transaction)
    .await?;
    let completed = assignment.completion_code.is_some();
    Ok(JudgmentReceipt {
        id: judgment_id,
        completed,
        completion_code: assignment.completion_code,
        redirect_url: assignment.completion_redirect_url.filter(|_| completed),
    })
}

fn completion_code() -> String {
    let mut rng = rand::rng();
    (0..COMPLETION_CODE_LENGTH)
        .map(|_| {
            let index = rng.random_range(0..COMPLETION_CODE_ALPHABET.len());
            char::from(COMPLETION_CODE_ALPHABET[index])
        })
        .collect()
}
