//! `POST /api/assignments/{token}/judgments`: record a worker's answer to a trial.
//!
//! The client generates each judgment's id, so a submission retried after a
//! lost response finds its row instead of adding another: the retry gets the
//! same answer with 200 where the first got 201.

use std::net::IpAddr;

use app::api::judgments::{JudgmentReceipt, NewJudgment};
use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    Json,
};
use rand::Rng;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::extract::{JsonBody, PathParams};
use super::rate_limits::ClientIp;
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
        (status = 415, description = "The body is not sent as `Content-Type: application/json`", body = super::openapi::ErrorBody),
        (status = 404, description = "There is no assignment with this token", body = super::openapi::ErrorBody),
        (status = 409, description = "The judgment id was used with different content, the trial is already judged, or the assignment is complete", body = super::openapi::ErrorBody),
        (status = 410, description = "The assignment expired; its trials went back to the pool", body = super::openapi::ErrorBody),
        (status = 429, description = "Too many judgments from this worker or address: retry the same judgment after Retry-After seconds", body = super::openapi::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
)]
pub async fn submit(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
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

    // Every judgment runs this, so its common case is four statements:
    // lock the assignment, insert (which finds the trial itself), complete
    // the assignment if that was its last trial, commit. Anything unusual
    // (a retry, a second answer, no such trial) is sorted out afterwards.
    let (mut transaction, assignment) = begin_submission(&state, client_ip, &token).await?;

    let inserted = if assignment.is_open() {
        sqlx::query_scalar!(
            "INSERT INTO judgments (id, assignment_id, position, chosen_side, chose_p1,
                                    response_ms, client_time, user_agent)
             SELECT $1, at.assignment_id, at.position, $3, ($3 = 'right') = at.left_is_p0,
                    $4, $5, $6
             FROM assignment_trials at WHERE at.assignment_id = $2 AND at.position = $7
             ON CONFLICT DO NOTHING
             RETURNING id",
            judgment.id,
            assignment.id,
            judgment.chosen_side.as_str(),
            judgment.response_ms,
            judgment.client_time,
            user_agent(&headers),
            judgment.position,
        )
        .fetch_optional(&mut *transaction)
        .await?
        .is_some()
    } else {
        false
    };
    if !inserted {
        return answer_not_inserted(&mut transaction, &assignment, &judgment).await;
    }
    let completion_code = complete_if_all_judged(&mut transaction, assignment.id).await?;
    transaction.commit().await?;
    let receipt = receipt(judgment.id, assignment.completion(completion_code));
    Ok((StatusCode::CREATED, Json(receipt)))
}

fn receipt(id: Uuid, completion: Completion) -> JudgmentReceipt {
    JudgmentReceipt {
        id,
        completed: completion.completion_code.is_some(),
        completion_code: completion.completion_code,
        redirect_url: completion.redirect_url,
    }
}

/// Why a judgment was not inserted: it is a retry of one stored before
/// (200 with the same receipt), or it is refused.
async fn answer_not_inserted(
    transaction: &mut sqlx::PgConnection,
    assignment: &LockedAssignment,
    judgment: &NewJudgment,
) -> Result<(StatusCode, Json<JudgmentReceipt>)> {
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
            let completion = assignment.completion_when_locked();
            return Ok((StatusCode::OK, Json(receipt(judgment.id, completion))));
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
    let judged_by = sqlx::query_scalar!(
        r#"
        SELECT j.id AS "judgment_id?"
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
    Err(match judged_by {
        Some(other_id) => Error::Conflict(format!(
            "the trial at position {} was already judged (judgment {other_id})",
            judgment.position
        )),
        // The insert was refused but neither this id nor this trial has a
        // judgment now: the conflicting row went away in between (a deleted
        // experiment); the client may send it again.
        None => Error::Conflict(format!(
            "judgment {} clashed with another submission that is gone now; send it again",
            judgment.id
        )),
    })
}

/// An assignment locked for a judgment's transaction, with what a receipt
/// needs to say about it.
pub(super) struct LockedAssignment {
    pub id: i64,
    pub worker_id: i64,
    expires_at: chrono::DateTime<chrono::Utc>,
    expired: bool,
    completion_code: Option<String>,
    redirect_url: Option<String>,
}

/// Begins a judgment's transaction: within the address's rate limit (before
/// touching the database) and the worker's, with the assignment locked.
pub(super) async fn begin_submission(
    state: &AppState,
    client_ip: IpAddr,
    token: &str,
) -> Result<(Transaction<'static, Postgres>, LockedAssignment)> {
    state.limits.judgments_per_ip.take(client_ip)?;
    let mut transaction = state.pool.begin().await?;
    let assignment = lock_assignment(&mut transaction, token).await?;
    state
        .limits
        .judgments_per_worker
        .take(assignment.worker_id)?;
    Ok((transaction, assignment))
}

/// The browser the judgment came from, kept with it.
pub(super) fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
}

/// The assignment with `token`, locked: that serialises its submissions, so
/// "was this trial judged?" and "is the assignment complete?" cannot race.
async fn lock_assignment(
    transaction: &mut sqlx::PgConnection,
    token: &str,
) -> Result<LockedAssignment> {
    sqlx::query_as!(
        LockedAssignment,
        r#"
        SELECT a.id, a.worker_id, a.expires_at, a.expires_at <= now() AS "expired!",
               a.completion_code, e.completion_redirect_url AS redirect_url
        FROM assignments a JOIN experiments e ON e.id = a.experiment_id
        WHERE a.token = $1
        FOR UPDATE OF a
        "#,
        token
    )
    .fetch_optional(transaction)
    .await?
    .ok_or_else(|| Error::NotFound("there is no assignment with this token".into()))
}

impl LockedAssignment {
    /// Where the assignment stands, given its completion code now: the one
    /// it had when locked, or the one completing it just gave it.
    pub(super) fn completion(&self, completion_code: Option<String>) -> Completion {
        Completion {
            redirect_url: self
                .redirect_url
                .clone()
                .filter(|_| completion_code.is_some()),
            completion_code,
        }
    }

    /// The code it had when locked: what a retry of a stored judgment reports.
    pub(super) fn completion_when_locked(&self) -> Completion {
        self.completion(self.completion_code.clone())
    }

    fn is_open(&self) -> bool {
        self.completion_code.is_none() && !self.expired
    }

    /// Refuses new judgments for a complete or expired assignment.
    pub(super) fn ensure_open(&self) -> Result<()> {
        if self.completion_code.is_some() {
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
/// its trials, 2AFC or JND, has a judgment; returns the code if it did.
pub(super) async fn complete_if_all_judged(
    transaction: &mut sqlx::PgConnection,
    assignment_id: i64,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar!(
        "UPDATE assignments SET completed_at = now(), completion_code = $2
         WHERE id = $1 AND NOT EXISTS (
             SELECT 1 FROM assignment_trials at
             LEFT JOIN judgments j ON j.assignment_id = at.assignment_id AND j.position = at.position
             WHERE at.assignment_id = $1 AND j.id IS NULL
         ) AND NOT EXISTS (
             SELECT 1 FROM jnd_trials jt
             LEFT JOIN jnd_judgments j ON j.assignment_id = jt.assignment_id AND j.position = jt.position
             WHERE jt.assignment_id = $1 AND j.id IS NULL
         )
         RETURNING completion_code AS \"completion_code!\"",
        assignment_id,
        completion_code(),
    )
    .fetch_optional(&mut *transaction)
    .await?)
}

/// Whether an assignment is complete: its code, and where to send the worker.
pub(super) struct Completion {
    pub completion_code: Option<String>,
    pub redirect_url: Option<String>,
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
