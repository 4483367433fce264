//! `GET /api/assignments/{token}`: where an assignment stands, so a reloaded
//! trial page resumes at its first unanswered trial.

use app::api::assignments::{AssignmentProgress, TrialUrls};
use app::api::jnd::{JndAssignment, JndPresentation, JndTrialUrls};
use axum::{extract::State, Json};

use super::extract::PathParams;
use super::AppState;
use crate::error::{Error, Result};

#[utoipa::path(
    get,
    path = "/api/assignments/{token}",
    operation_id = "get_assignment_progress",
    tag = "workers",
    params(("token" = String, Path, description = "The assignment's token, from `POST /api/experiments/{experiment_id}/assignments`")),
    responses(
        (status = 200, description = "Where the assignment stands", body = AssignmentProgress),
        (status = 400, description = "A path parameter is malformed", body = super::openapi::ErrorBody),
        (status = 404, description = "There is no assignment with this token", body = super::openapi::ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    PathParams(token): PathParams<String>,
) -> Result<Json<AssignmentProgress>> {
    // One snapshot for the assignment and its trials, so a judgment landing
    // in between cannot make them disagree.
    let mut transaction = state.pool.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *transaction)
        .await?;
    let assignment = sqlx::query!(
        r#"
        SELECT a.id, a.expires_at, a.completion_code, e.completion_redirect_url,
               (a.completed_at IS NULL AND a.expires_at <= now()) AS "expired!",
               e.kind, e.reference_ms, e.gap_ms, e.distorted_ms
        FROM assignments a JOIN experiments e ON e.id = a.experiment_id
        WHERE a.token = $1
        "#,
        token
    )
    .fetch_optional(&mut *transaction)
    .await?
    .ok_or_else(|| Error::NotFound("there is no assignment with this token".into()))?;
    // An assignment has trials of one kind only, so one of the two is empty.
    let trials = sqlx::query!(
        r#"
        SELECT at.position AS "position!", j.id IS NOT NULL AS "judged!"
        FROM assignment_trials at
        LEFT JOIN judgments j ON j.assignment_id = at.assignment_id AND j.position = at.position
        WHERE at.assignment_id = $1
        UNION ALL
        SELECT jt.position, j.id IS NOT NULL
        FROM jnd_trials jt
        LEFT JOIN jnd_judgments j ON j.assignment_id = jt.assignment_id AND j.position = jt.position
        WHERE jt.assignment_id = $1
        ORDER BY 1
        "#,
        assignment.id
    )
    .fetch_all(&mut *transaction)
    .await?;
    transaction.commit().await?;

    let positions = trials.iter().map(|trial| trial.position);
    let (two_afc_trials, jnd) = if assignment.kind == "jnd" {
        let jnd = JndAssignment {
            presentation: JndPresentation {
                reference_ms: assignment.reference_ms,
                gap_ms: assignment.gap_ms,
                distorted_ms: assignment.distorted_ms,
            },
            trials: positions
                .map(|position| JndTrialUrls::for_position(&token, position))
                .collect(),
        };
        (Vec::new(), Some(jnd))
    } else {
        let trials = positions
            .map(|position| TrialUrls::for_position(&token, position))
            .collect();
        (trials, None)
    };
    let completed = assignment.completion_code.is_some();
    Ok(Json(AssignmentProgress {
        trials: two_afc_trials,
        jnd,
        judged_positions: trials
            .iter()
            .filter(|trial| trial.judged)
            .map(|trial| trial.position)
            .collect(),
        completed,
        completion_code: assignment.completion_code,
        redirect_url: assignment.completion_redirect_url.filter(|_| completed),
        expires_at: assignment.expires_at,
        expired: assignment.expired,
    }))
}
