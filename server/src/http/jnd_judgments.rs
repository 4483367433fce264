//! `POST /api/assignments/{token}/jnd-judgments`: record a worker's answer to
//! a JND trial, with the presentation timing their browser measured. Stored
//! by `percept_core::judgments`, which decides whether the trial counts and
//! serves an invalid trial's pair again.

use app::api::jnd::{JndJudgmentReceipt, JndTrialUrls, NewJndJudgment};
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    Json,
};
use percept_core::judgments::{self, Submission};

use super::extract::{JsonBody, PathParams};
use super::judgments::{begin_submission, status, user_agent};
use super::rate_limits::ClientIp;
use super::AppState;
use crate::error::Result;

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
#[tracing::instrument(
    name = "jnd_judgment",
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
    JsonBody(judgment): JsonBody<NewJndJudgment>,
) -> Result<(StatusCode, Json<JndJudgmentReceipt>)> {
    judgments::check_plausible(&judgment)?;
    let (mut transaction, assignment) = begin_submission(&state, client_ip, &token).await?;
    let (submission, validity) = judgments::submit_jnd(
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
        Json(JndJudgmentReceipt {
            id: judgment.id,
            valid: validity.invalid_reason.is_none(),
            invalid_reason: validity.invalid_reason,
            retry: validity
                .retry_position
                .map(|position| JndTrialUrls::for_position(&token, position)),
            completed: completion.completion_code.is_some(),
            completion_code: completion.completion_code,
            redirect_url: completion.redirect_url,
        }),
    ))
}
