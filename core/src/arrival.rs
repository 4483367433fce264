//! A worker arriving at an experiment's link (`/e/{id}`): what kind of
//! experiment it is and whether it can give them an assignment, looked up
//! when the landing page is rendered, so that a worker is told on arrival,
//! before consent and practice, that there is nothing to do. The reasons are
//! those [`crate::assignments::create`] refuses with, checked in the same
//! order.

use percept_api::arrival::{Arrival, Refusal};
use percept_api::assignments::AssignmentRequest;
use sqlx::PgPool;

use crate::assignments::{open_for_session, stimuli_still_needed, StillNeeded};
use crate::error::Result;

/// How experiment `experiment_id` meets a worker arriving at its link;
/// `worker` is the assignment request the link makes, if it names a worker
/// (the per-worker limit is checked for them). A worker who holds an open
/// assignment for the link's session is not refused: asking again gives
/// them that assignment.
pub async fn arrival(
    pool: &PgPool,
    experiment_id: i64,
    worker: Option<&AssignmentRequest>,
) -> Result<Arrival> {
    let worker = worker.and_then(|request| {
        let id = request.platform_worker_id.as_deref()?.trim();
        Some((request, id))
    });
    let Some(experiment) = sqlx::query!(
        "SELECT kind, status, lifecycle, judgments_per_stimulus, max_assignments_per_worker,
                completion_redirect_url, serve_imported_stimuli
         FROM experiments WHERE id = $1",
        experiment_id
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(Arrival {
            kind: None,
            refusal: Some(Refusal::NotFound),
            return_url: None,
        });
    };
    let resumes = match worker {
        Some((request, worker_id)) => open_for_session(pool, experiment_id, request, worker_id)
            .await?
            .is_some(),
        None => false,
    };
    let refusal = if resumes {
        None
    } else if experiment.lifecycle != "open" {
        Some(Refusal::Closed)
    } else if experiment.status != "ready" {
        Some(Refusal::NotReady)
    } else if stimuli_still_needed(
        pool,
        experiment_id,
        experiment.judgments_per_stimulus,
        experiment.serve_imported_stimuli,
    )
    .await?
        != StillNeeded::Servable
    {
        Some(Refusal::Full)
    } else if let Some((request, worker_id)) = worker {
        // Abandoned (expired, unfinished) assignments do not count, as when
        // one is handed out.
        let taken = sqlx::query_scalar!(
            r#"SELECT count(*) AS "count!" FROM assignments a
               JOIN workers w ON w.id = a.worker_id
               WHERE w.experiment_id = $1 AND w.platform = $2 AND w.external_id = $3
                 AND (a.completed_at IS NOT NULL OR a.expires_at > now())"#,
            experiment_id,
            request.platform.as_str(),
            worker_id,
        )
        .fetch_one(pool)
        .await?;
        (taken >= i64::from(experiment.max_assignments_per_worker)).then_some(Refusal::WorkerLimit)
    } else {
        None
    };
    Ok(Arrival {
        kind: Some(experiment.kind),
        refusal,
        return_url: experiment.completion_redirect_url,
    })
}
