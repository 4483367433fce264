//! `POST /api/assignments/{token}/jnd-judgments`: record a worker's answer to
//! a JND trial, with the presentation timing their browser measured.
//!
//! The server decides whether the trial counts, from the measured durations
//! and the page's visibility and focus record (the client's own view is not
//! asked for). An invalid trial stays stored but does not count toward its
//! pair's judgments, and its pair is appended to the assignment as a new
//! trial, up to `MAX_RETRIES_PER_PAIR` times. Retried submissions are
//! recognised by the client-made id, as for 2AFC.

use app::api::jnd::{JndJudgmentReceipt, JndPresentation, JndTrialUrls, NewJndJudgment};
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    Json,
};

use super::extract::{JsonBody, PathParams};
use super::judgments::{begin_submission, complete_if_all_judged, user_agent, Completion};
use super::rate_limits::ClientIp;
use super::AppState;
use crate::error::{Error, Result};
use crate::jnd::MAX_RETRIES_PER_PAIR;

/// A frame interval beyond this (below 1 Hz) is not a display's.
const MAX_REFRESH_INTERVAL_MS: f64 = 1000.0;

#[utoipa::path(
    post,
    path = "/api/assignments/{token}/jnd-judgments",
    operation_id = "submit_jnd_judgment",
    tag = "workers",
    params(("token" = String, Path, description = "The assignment's token, from `POST /api/experiments/{experiment_id}/assignments`")),
    request_body = NewJndJudgment,
    responses(
        (status = 200, description = "The same judgment was stored before (a retry): whether it counts, and where the assignment stands", body = JndJudgmentReceipt),
        (status = 201, description = "The judgment is stored: whether it counts (with the trial that repeats it if not), and where the assignment stands", body = JndJudgmentReceipt),
        (status = 400, description = "The body or path is malformed, response_ms is negative, the timing is impossible (not finite, out of order, no plausible refresh interval), or the assignment has no JND trial at this position", body = super::openapi::ErrorBody),
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
    JsonBody(judgment): JsonBody<NewJndJudgment>,
) -> Result<(StatusCode, Json<JndJudgmentReceipt>)> {
    check_plausible(&judgment)?;
    let (mut transaction, assignment) = begin_submission(&state, client_ip, &token).await?;

    let stored_identical = sqlx::query_scalar!(
        r#"
        SELECT (assignment_id = $2 AND position = $3 AND said_same = $4
                AND response_ms = $5 AND client_time = $6) AS "identical!"
        FROM jnd_judgments WHERE id = $1
        "#,
        judgment.id,
        assignment.id,
        judgment.position,
        judgment.said_same,
        judgment.response_ms,
        judgment.client_time,
    )
    .fetch_optional(&mut *transaction)
    .await?;
    match stored_identical {
        Some(true) => {
            let completion = assignment.completion_when_locked();
            let receipt = receipt(&mut transaction, &token, &judgment, completion).await?;
            return Ok((StatusCode::OK, Json(receipt)));
        }
        Some(false) => return Err(reused_id(&judgment)),
        None => {}
    }
    assignment.ensure_open()?;

    let trial = sqlx::query!(
        r#"
        SELECT jt.pair_id, j.id AS "judgment_id?", e.reference_ms, e.gap_ms, e.distorted_ms
        FROM jnd_trials jt
        JOIN assignments a ON a.id = jt.assignment_id
        JOIN experiments e ON e.id = a.experiment_id
        LEFT JOIN jnd_judgments j ON j.assignment_id = jt.assignment_id AND j.position = jt.position
        WHERE jt.assignment_id = $1 AND jt.position = $2
        "#,
        assignment.id,
        judgment.position,
    )
    .fetch_optional(&mut *transaction)
    .await?
    .ok_or_else(|| {
        Error::BadRequest(format!(
            "this assignment has no JND trial at position {}",
            judgment.position
        ))
    })?;
    if let Some(other_id) = trial.judgment_id {
        return Err(Error::Conflict(format!(
            "the trial at position {} was already judged (judgment {other_id})",
            judgment.position
        )));
    }

    let presentation = JndPresentation {
        reference_ms: trial.reference_ms,
        gap_ms: trial.gap_ms,
        distorted_ms: trial.distorted_ms,
    };
    let timing = &judgment.timing;
    let invalid_reason = timing.invalid_reason(&presentation);
    sqlx::query!(
        "INSERT INTO jnd_judgments (
             id, assignment_id, position, said_same, response_ms, client_time, user_agent,
             refresh_interval_ms, reference_on_at_ms, reference_off_at_ms,
             distorted_on_at_ms, distorted_off_at_ms, lost_visibility, lost_focus, invalid_reason
         )
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        judgment.id,
        assignment.id,
        judgment.position,
        judgment.said_same,
        judgment.response_ms,
        judgment.client_time,
        user_agent(&headers),
        timing.refresh_interval_ms,
        timing.reference_on_at_ms,
        timing.reference_off_at_ms,
        timing.distorted_on_at_ms,
        timing.distorted_off_at_ms,
        timing.lost_visibility,
        timing.lost_focus,
        invalid_reason,
    )
    .execute(&mut *transaction)
    .await
    .map_err(|error| match &error {
        // The same id racing in through another assignment.
        sqlx::Error::Database(db) if db.is_unique_violation() => reused_id(&judgment),
        _ => error.into(),
    })?;

    if invalid_reason.is_some() {
        // The first showing plus the retries so far.
        sqlx::query!(
            "INSERT INTO jnd_trials (assignment_id, position, pair_id, retry_of)
             SELECT $1, (SELECT max(position) + 1 FROM jnd_trials WHERE assignment_id = $1), $2, $3
             WHERE (SELECT count(*) FROM jnd_trials WHERE assignment_id = $1 AND pair_id = $2) <= $4",
            assignment.id,
            trial.pair_id,
            judgment.position,
            MAX_RETRIES_PER_PAIR,
        )
        .execute(&mut *transaction)
        .await?;
    }
    let completion_code = complete_if_all_judged(&mut transaction, assignment.id).await?;
    let completion = assignment.completion(completion_code);
    let receipt = receipt(&mut transaction, &token, &judgment, completion).await?;
    transaction.commit().await?;
    Ok((StatusCode::CREATED, Json(receipt)))
}

/// Refuses numbers no browser measures: a negative response time, timestamps
/// that are not finite or out of order, a refresh interval no display has.
fn check_plausible(judgment: &NewJndJudgment) -> Result<()> {
    if judgment.response_ms < 0 {
        return Err(Error::BadRequest(format!(
            "response_ms must not be negative, not {}",
            judgment.response_ms
        )));
    }
    let timing = &judgment.timing;
    let interval = timing.refresh_interval_ms;
    if !(interval > 0.0 && interval <= MAX_REFRESH_INTERVAL_MS) {
        return Err(Error::BadRequest(format!(
            "refresh_interval_ms must be above 0 and at most {MAX_REFRESH_INTERVAL_MS}, not {interval}"
        )));
    }
    let timestamps = [
        timing.reference_on_at_ms,
        timing.reference_off_at_ms,
        timing.distorted_on_at_ms,
        timing.distorted_off_at_ms,
    ];
    if !timestamps.iter().all(|timestamp| timestamp.is_finite()) {
        return Err(Error::BadRequest(
            "the timing's timestamps must be finite numbers".into(),
        ));
    }
    if !timestamps.windows(2).all(|pair| pair[0] <= pair[1]) {
        return Err(Error::BadRequest(
            "the timing's timestamps must be in order: reference on, reference off, \
             distorted on, distorted off"
                .into(),
        ));
    }
    Ok(())
}

fn reused_id(judgment: &NewJndJudgment) -> Error {
    Error::Conflict(format!(
        "judgment {} was already submitted with different content",
        judgment.id
    ))
}

/// The answer to a stored JND judgment: its validity, the trial repeating it
/// if there is one, and where its assignment stands (`completion`).
async fn receipt(
    transaction: &mut sqlx::PgConnection,
    token: &str,
    judgment: &NewJndJudgment,
    completion: Completion,
) -> Result<JndJudgmentReceipt> {
    let stored = sqlx::query!(
        r#"
        SELECT j.invalid_reason, retry.position AS "retry_position?"
        FROM jnd_judgments j
        LEFT JOIN jnd_trials retry
               ON retry.assignment_id = j.assignment_id AND retry.retry_of = j.position
        WHERE j.id = $1
        "#,
        judgment.id
    )
    .fetch_one(&mut *transaction)
    .await?;
    Ok(JndJudgmentReceipt {
        id: judgment.id,
        valid: stored.invalid_reason.is_none(),
        invalid_reason: stored.invalid_reason,
        retry: stored
            .retry_position
            .map(|position| JndTrialUrls::for_position(token, position)),
        completed: completion.completion_code.is_some(),
        completion_code: completion.completion_code,
        redirect_url: completion.redirect_url,
    })
}
