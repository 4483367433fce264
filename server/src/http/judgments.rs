//! `POST /api/assignments/{token}/judgments`: record a worker's answer to a
//! trial (stored by `percept_core::judgments`, once whatever the retries: a
//! retry gets the same answer with 200 where the first got 201).

use std::net::IpAddr;

use app::api::judgments::{JudgmentReceipt, NewJudgment};
use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    Json,
};
use percept_core::judgments::{self, LockedAssignment, Stored, Submission};
use sqlx::{Postgres, Transaction};

use super::extract::{JsonBody, PathParams};
use super::rate_limits::ClientIp;
use super::AppState;
use crate::error::Result;

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
#[tracing::instrument(
    name = "judgment",
    skip_all,
    fields(
        judgment_id = %judgment.id,
        position = judgment.position,
        assignment_id = tracing::field::Empty,
        experiment_id = tracing::field::Empty,
    )
)]
pub async fn submit(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    PathParams(token): PathParams<String>,
    headers: HeaderMap,
    JsonBody(judgment): JsonBody<NewJudgment>,
) -> Result<(StatusCode, Json<JudgmentReceipt>)> {
    let (mut transaction, assignment) = begin_submission(&state, client_ip, &token).await?;
    let submission = judgments::submit_two_afc(
        &mut transaction,
        &assignment,
        &judgment,
        user_agent(&headers),
    )
    .await?;
    transaction.commit().await?;
    let Submission { stored, completion } = submission;
    Ok((
        status(stored),
        Json(JudgmentReceipt {
            id: judgment.id,
            completed: completion.completion_code.is_some(),
            completion_code: completion.completion_code,
            redirect_url: completion.redirect_url,
        }),
    ))
}

/// 201 for a judgment stored now, 200 for a retry of one stored before.
pub(super) fn status(stored: Stored) -> StatusCode {
    match stored {
        Stored::Now => StatusCode::CREATED,
        Stored::Before => StatusCode::OK,
    }
}

/// Begins a judgment's transaction: within the address's rate limit (before
/// touching the database) and the worker's, with the assignment locked. The
/// caller's span gets the assignment's and experiment's ids.
pub(super) async fn begin_submission(
    state: &AppState,
    client_ip: IpAddr,
    token: &str,
) -> Result<(Transaction<'static, Postgres>, LockedAssignment)> {
    state.limits.judgments_per_ip.take(client_ip)?;
    let mut transaction = state.pool.begin().await?;
    let assignment = judgments::lock_assignment(&mut transaction, token).await?;
    tracing::Span::current()
        .record("assignment_id", assignment.id)
        .record("experiment_id", assignment.experiment_id);
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
