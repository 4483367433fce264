//! `POST /api/assignments/{token}/judgments`: record a worker's answer to a trial.
//!
//! The client generates each judgment's id, so a submission retried after a
//! lost response finds its row instead of adding another: the retry gets the
//! same answer with 200 where the first got 201.

use app::api::judgments::{JudgmentReceipt, NewJudgment, Side};
use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    Json,
};
use rand::Rng;
use uuid::Uuid;

use super::extract::{JsonBody, PathParams};
use super::AppState;
use crate::error::{Error, Result};

/// Unambiguous characters only: workers may have to type the code.
const COMPLETION_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const COMPLETION_CODE_LENGTH: usize = 10;

#[utoipa::path(
    post,
    path = "/api/assignments/{token}/judgments",
    operation_id = "submit_judgment",
    tag = "workers",
    params(("token" = String, Path, description = "The assignment's token, from `POST /api/experiments/{experiment_id}/assignments`")),
    request_body = NewJudgment,
    responses(
        (status = 200, description = "The same judgment was stored before (a retry): where the assignment stands", body = JudgmentReceipt),
        (status = 201, description = "The judgment is stored: where the assignment stands", body = JudgmentReceipt),
        (status = 400, description = "The body or path is malformed, response_ms is negative, or the assignment has no trial at this position", body = super::openapi::ErrorBody),
        (status = 404, description = "There is no assignment with this token", body = super::openapi::ErrorBody),
        (status = 409, description = "The judgment id was used with different content, the trial is already judged, or the assignment is complete", body = super::openapi::ErrorBody),
        (status = 410, description = "The assignment expired; its trials went back to the pool", body = super::openapi::ErrorBody),
    ),
)]
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
    let assignment = lock_assignment(&mut transaction, &token).await?;

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
    assignment.ensure_open()?;

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

    complete_if_all_judged(&mut transaction, assignment.id).await?;
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
    let completion = completion(transaction, assignment_id).await?;
    Ok(JudgmentReceipt {
        id: judgment_id,
        completed: completion.completion_code.is_some(),
        completion_code: completion.completion_code,
        redirect_url: completion.redirect_url,
    })
}

/// An assignment locked for a judgment's transaction.
pub(super) struct LockedAssignment {
    pub id: i64,
    expires_at: chrono::DateTime<chrono::Utc>,
    expired: bool,
    completed: bool,
}

/// The assignment with `token`, locked: that serialises its submissions, so
/// "was this trial judged?" and "is the assignment complete?" cannot race.
pub(super) async fn lock_assignment(
    transaction: &mut sqlx::PgConnection,
    token: &str,
) -> Result<LockedAssignment> {
    sqlx::query_as!(
        LockedAssignment,
        r#"
        SELECT id, expires_at, expires_at <= now() AS "expired!",
               completed_at IS NOT NULL AS "completed!"
        FROM assignments WHERE token = $1
        FOR UPDATE
        "#,
        token
    )
    .fetch_optional(transaction)
    .await?
    .ok_or_else(|| Error::NotFound("there is no assignment with this token".into()))
}

impl LockedAssignment {
    /// Refuses new judgments for a complete or expired assignment.
    pub(super) fn ensure_open(&self) -> Result<()> {
        if self.completed {
            return Err(Error::Conflict(
                "this assignment is already complete".into(),
            ));
        }
        if self.expired {
            return Err(Error::Gone(format!(
                "this assignment expired at {}; its trials went back to the pool",
                self.expires_at
            )));
        }
        Ok(())
    }
}

/// Completes the assignment (with a fresh completion code) if every one of
/// its trials, 2AFC or JND, has a judgment.
pub(super) async fn complete_if_all_judged(
    transaction: &mut sqlx::PgConnection,
    assignment_id: i64,
) -> Result<()> {
    sqlx::query!(
        "UPDATE assignments SET completed_at = now(), completion_code = $2
         WHERE id = $1 AND NOT EXISTS (
             SELECT 1 FROM assignment_trials at
             LEFT JOIN judgments j ON j.assignment_id = at.assignment_id AND j.position = at.position
             WHERE at.assignment_id = $1 AND j.id IS NULL
         ) AND NOT EXISTS (
             SELECT 1 FROM jnd_trials jt
             LEFT JOIN jnd_judgments j ON j.assignment_id = jt.assignment_id AND j.position = jt.position
             WHERE jt.assignment_id = $1 AND j.id IS NULL
         )",
        assignment_id,
        completion_code(),
    )
    .execute(&mut *transaction)
    .await?;
    Ok(())
}

/// Whether an assignment is complete: its code, and where to send the worker.
pub(super) struct Completion {
    pub completion_code: Option<String>,
    pub redirect_url: Option<String>,
}

pub(super) async fn completion(
    transaction: &mut sqlx::PgConnection,
    assignment_id: i64,
) -> Result<Completion> {
    let assignment = sqlx::query!(
        "SELECT a.completion_code, e.completion_redirect_url
         FROM assignments a JOIN experiments e ON e.id = a.experiment_id
         WHERE a.id = $1",
        assignment_id
    )
    .fetch_one(transaction)
    .await?;
    let completed = assignment.completion_code.is_some();
    Ok(Completion {
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
