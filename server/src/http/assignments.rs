//! `POST /api/experiments/{id}/assignments`: hand a worker a set of trials.
//!
//! Triplets are chosen so that all reach their target number of judgments
//! evenly: the ones with the fewest judgments plus open trials come first.
//! Creation is serialised per experiment with a transaction-scoped advisory
//! lock, so any number of servers sharing the database never hand out the
//! same spare judgment twice.

use axum::{extract::State, http::StatusCode, Json};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use rand::{seq::SliceRandom, Rng};
use serde::{Deserialize, Serialize};

use super::extract::{JsonBody, PathParams};
use super::AppState;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Prolific,
    Mturk,
    Anonymous,
}

impl Platform {
    fn as_str(self) -> &'static str {
        match self {
            Platform::Prolific => "prolific",
            Platform::Mturk => "mturk",
            Platform::Anonymous => "anonymous",
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct AssignmentRequest {
    platform: Platform,
    /// The platform's worker id; for anonymous workers the id the server
    /// gave them before, or none for a new one.
    worker_id: Option<String>,
    study_id: Option<String>,
    session_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Assignment {
    token: String,
    /// Who the server counts this assignment against; anonymous workers keep
    /// it to come back as the same worker.
    worker_id: String,
    trials: Vec<TrialUrls>,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct TrialUrls {
    position: i32,
    reference_url: String,
    left_url: String,
    right_url: String,
}

/// Platform ids are short; anything longer is not one.
const MAX_ID_CHARS: usize = 200;

pub async fn create(
    State(state): State<AppState>,
    PathParams(experiment_id): PathParams<i64>,
    JsonBody(request): JsonBody<AssignmentRequest>,
) -> Result<(StatusCode, Json<Assignment>)> {
    let worker_id = worker_id(&request)?;
    for (field, value) in [
        ("study_id", &request.study_id),
        ("session_id", &request.session_id),
    ] {
        if value
            .as_ref()
            .is_some_and(|id| id.chars().count() > MAX_ID_CHARS)
        {
            return Err(Error::BadRequest(format!(
                "{field} is longer than {MAX_ID_CHARS} characters"
            )));
        }
    }
    let experiment = sqlx::query!(
        "SELECT trials_per_assignment, sentinel_rate, judgments_per_triplet,
                max_assignments_per_worker
         FROM experiments WHERE id = $1",
        experiment_id
    )
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("there is no experiment {experiment_id}")))?;

    let mut transaction = state.pool.begin().await?;
    // Keyed by the experiment id alone: this is the only advisory lock Percept takes.
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", experiment_id)
        .execute(&mut *transaction)
        .await?;
    let worker_row_id = sqlx::query_scalar!(
        "INSERT INTO workers (experiment_id, platform, external_id) VALUES ($1, $2, $3)
         ON CONFLICT (experiment_id, platform, external_id)
         DO UPDATE SET external_id = EXCLUDED.external_id
         RETURNING id",
        experiment_id,
        request.platform.as_str(),
        worker_id,
    )
    .fetch_one(&mut *transaction)
    .await?;

    // Abandoned (expired, unfinished) assignments do not use up the worker's quota.
    let taken = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM assignments
           WHERE worker_id = $1 AND (completed_at IS NOT NULL OR expires_at > now())"#,
        worker_row_id
    )
    .fetch_one(&mut *transaction)
    .await?;
    if taken >= i64::from(experiment.max_assignments_per_worker) {
        return Err(Error::Forbidden(format!(
            "worker {worker_id} has reached this experiment's limit of {} assignments",
            experiment.max_assignments_per_worker
        )));
    }

    let trial_count = experiment.trials_per_assignment as usize;
    let sentinels_wanted = sentinel_count(trial_count, f64::from(experiment.sentinel_rate));
    let candidates = sqlx::query!(
        r#"
        WITH ranked AS (
            SELECT triplet_id, is_sentinel,
                   row_number() OVER (PARTITION BY is_sentinel ORDER BY load, random()) AS rank
            FROM triplet_loads
            -- Sentinels are checks, not data: they never fill up.
            WHERE experiment_id = $1
              AND (is_sentinel OR load < $3)
              AND NOT EXISTS (
                  SELECT 1 FROM assignment_trials seen
                  JOIN assignments mine ON mine.id = seen.assignment_id
                  WHERE mine.worker_id = $2 AND seen.triplet_id = triplet_loads.triplet_id
              )
        )
        SELECT triplet_id AS "triplet_id!", is_sentinel AS "is_sentinel!"
        FROM ranked
        WHERE rank <= CASE WHEN is_sentinel THEN $4::bigint ELSE $5::bigint END
        ORDER BY rank
        "#,
        experiment_id,
        worker_row_id,
        i64::from(experiment.judgments_per_triplet),
        sentinels_wanted as i64,
        trial_count as i64,
    )
    .fetch_all(&mut *transaction)
    .await?;
    let (sentinels, ordinary): (Vec<_>, Vec<_>) =
        candidates.into_iter().partition(|row| row.is_sentinel);
    if ordinary.is_empty() {
        return Err(nothing_left(
            &mut transaction,
            experiment_id,
            experiment.judgments_per_triplet,
        )
        .await);
    }
    let sentinels = &sentinels[..sentinels.len().min(sentinels_wanted)];
    // Missing sentinels are made up with real triplets, as far as there are any.
    let ordinary = &ordinary[..ordinary.len().min(trial_count - sentinels.len())];
    let mut triplet_ids: Vec<i64> = sentinels
        .iter()
        .chain(ordinary)
        .map(|row| row.triplet_id)
        .collect();
    // The thread-local generator is seeded from the OS and reseeds itself:
    // good enough for the 256-bit token. It must not live across an await.
    let (left_is_p0, token) = {
        let mut rng = rand::rng();
        triplet_ids.shuffle(&mut rng);
        let left_is_p0: Vec<bool> = triplet_ids.iter().map(|_| rng.random_bool(0.5)).collect();
        (left_is_p0, URL_SAFE_NO_PAD.encode(rng.random::<[u8; 32]>()))
    };
    let positions: Vec<i32> = (0..triplet_ids.len() as i32).collect();

    let assignment = sqlx::query!(
        "INSERT INTO assignments (experiment_id, worker_id, token, study_id, session_id, expires_at)
         SELECT $1, $2, $3, $4, $5, now() + assignment_ttl FROM experiments WHERE id = $1
         RETURNING id, expires_at",
        experiment_id,
        worker_row_id,
        token,
        request.study_id,
        request.session_id,
    )
    .fetch_one(&mut *transaction)
    .await?;
    sqlx::query!(
        "INSERT INTO assignment_trials (assignment_id, position, triplet_id, left_is_p0)
         SELECT $1, * FROM UNNEST($2::int[], $3::bigint[], $4::bool[])",
        assignment.id,
        &positions,
        &triplet_ids,
        &left_is_p0,
    )
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;

    let trial_urls = |position: i32| {
        let url = |image: &str| format!("/api/assignments/{token}/trials/{position}/{image}.png");
        TrialUrls {
            position,
            reference_url: url("reference"),
            left_url: url("left"),
            right_url: url("right"),
        }
    };
    Ok((
        StatusCode::CREATED,
        Json(Assignment {
            trials: positions.into_iter().map(trial_urls).collect(),
            token,
            worker_id,
            expires_at: assignment.expires_at,
        }),
    ))
}

/// The worker's platform id; anonymous workers without one get a fresh one.
fn worker_id(request: &AssignmentRequest) -> Result<String> {
    match (&request.worker_id, request.platform) {
        (Some(id), _) if id.trim().is_empty() || id.chars().count() > MAX_ID_CHARS => {
            Err(Error::BadRequest(format!(
                "worker_id must have 1 to {MAX_ID_CHARS} characters"
            )))
        }
        (Some(id), _) => Ok(id.trim().to_owned()),
        (None, Platform::Anonymous) => Ok(uuid::Uuid::new_v4().to_string()),
        (None, platform) => Err(Error::BadRequest(format!(
            "worker_id is required for {} workers",
            platform.as_str()
        ))),
    }
}

/// How many of `trial_count` trials are sentinels: `trial_count × rate`,
/// with the fraction rounded up at random so the long-run share is the rate.
fn sentinel_count(trial_count: usize, rate: f64) -> usize {
    let expected = trial_count as f64 * rate;
    let count = expected.floor() as usize + usize::from(rand::rng().random_bool(expected.fract()));
    // An assignment keeps at least one real trial.
    count.min(trial_count.saturating_sub(1))
}

/// Why a worker gets no trials: the experiment is done, or they have seen
/// every triplet that still needs judgments.
async fn nothing_left(
    transaction: &mut sqlx::PgConnection,
    experiment_id: i64,
    judgments_per_triplet: i32,
) -> Error {
    let open = sqlx::query_scalar!(
        r#"
        SELECT EXISTS (
            SELECT 1 FROM triplet_loads
            WHERE experiment_id = $1 AND NOT is_sentinel AND load < $2
        ) AS "open!"
        "#,
        experiment_id,
        i64::from(judgments_per_triplet),
    )
    .fetch_one(transaction)
    .await;
    match open {
        Ok(true) => Error::Conflict(
            "this worker has already been given every triplet that still needs judgments".into(),
        ),
        Ok(false) => Error::Conflict("this experiment needs no more judgments".into()),
        Err(error) => error.into(),
    }
}
