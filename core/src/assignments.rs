//! Handing a worker an assignment: a set of trials of an experiment.
//!
//! Triplets (2AFC) or pairs (JND) are chosen so that all reach their target
//! number of judgments evenly: the ones with the fewest judgments plus open
//! trials come first. Creation is serialised per experiment with a
//! transaction-scoped advisory lock, so any number of servers sharing the
//! database never hand out the same spare judgment twice.
//!
//! A request is idempotent per crowd session: a worker who asks again with
//! the same study and session id while their assignment of that session is
//! open (a retry after a dropped connection, a second tab, another device)
//! gets that assignment back rather than a second one, which would hold its
//! trials and the worker's quota until it expired. The session id is the key
//! the platforms already give each attempt (Prolific's `SESSION_ID`,
//! MTurk's `assignmentId`, `percept simulate`'s per-assignment session), so
//! a new attempt (a new session) still gets a new assignment, recorded with
//! its own session. Requests without a session id (anonymous workers, whose
//! browser does not repeat the request) always get a new one.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use percept_api::assignments::{Assignment, AssignmentRequest, Platform, TrialUrls};
use percept_api::jnd::{JndAssignment, JndPresentation, JndTrialUrls};
use rand::{seq::SliceRandom, Rng};
use sqlx::PgPool;

use crate::error::{Error, Result};

/// Platform ids are short; anything longer is not one.
const MAX_ID_CHARS: usize = 200;

/// What [`create`] gave: a new assignment, or the one the worker already
/// holds open for the same study and session.
pub enum Created {
    New(Assignment),
    Existing(Assignment),
}

/// A new assignment of `experiment_id` for the worker `request` names
/// (within their quota), with its trials, or the open one they already hold
/// for the request's session; refused with the reason when the experiment is
/// not open or has nothing left for them.
#[tracing::instrument(
    name = "assignment",
    skip(pool, request),
    fields(assignment_id = tracing::field::Empty)
)]
pub async fn create(
    pool: &PgPool,
    experiment_id: i64,
    request: &AssignmentRequest,
) -> Result<Created> {
    let platform_worker_id = platform_worker_id(request)?;
    for (field, value) in [
        ("study_id", &request.study_id),
        ("session_id", &request.session_id),
    ] {
        if value
            .as_ref()
            .is_some_and(|id| id.chars().count() > MAX_ID_CHARS)
        {
            return Err(Error::Invalid(format!(
                "{field} is longer than {MAX_ID_CHARS} characters"
            )));
        }
    }
    let experiment = sqlx::query!(
        "SELECT kind, trials_per_assignment, sentinel_rate, judgments_per_stimulus,
                max_assignments_per_worker, status, lifecycle, reference_ms, gap_ms, distorted_ms,
                serve_imported_stimuli
         FROM experiments WHERE id = $1",
        experiment_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("there is no experiment {experiment_id}")))?;

    let mut transaction = pool.begin().await?;
    // Keyed by the experiment id alone: this is the only advisory lock Percept takes.
    // Taken before looking for the session's open assignment, so a retry
    // racing its original waits for it and finds what it made.
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", experiment_id)
        .execute(&mut *transaction)
        .await?;
    // Looked for before the experiment's state: an assignment handed out
    // before it closed may still be finished.
    if let Some(open) = open_for_session(
        &mut *transaction,
        experiment_id,
        request,
        &platform_worker_id,
    )
    .await?
    {
        transaction.commit().await?;
        tracing::Span::current().record("assignment_id", open.id);
        let progress = crate::trials::progress(pool, &open.token).await?;
        return Ok(Created::Existing(Assignment {
            trials: progress.trials,
            jnd: progress.jnd,
            token: open.token,
            platform_worker_id,
            expires_at: progress.expires_at,
        }));
    }

    if experiment.lifecycle != "open" {
        return Err(Error::Gone(format!(
            "experiment {experiment_id} is closed: it takes no more judgments"
        )));
    }
    // Its triplets are still being generated (or generation failed).
    if experiment.status != "ready" {
        return Err(Error::Conflict(format!(
            "experiment {experiment_id} is not open to workers: its stimuli are {}",
            if experiment.status == "generating" {
                "still being generated"
            } else {
                "incomplete (generation failed)"
            }
        )));
    }

    let worker_row_id = sqlx::query_scalar!(
        "INSERT INTO workers (experiment_id, platform, external_id) VALUES ($1, $2, $3)
         ON CONFLICT (experiment_id, platform, external_id)
         DO UPDATE SET external_id = EXCLUDED.external_id
         RETURNING id",
        experiment_id,
        request.platform.as_str(),
        platform_worker_id,
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
            "worker {platform_worker_id} has reached this experiment's limit of {}",
            percept_api::count(
                experiment.max_assignments_per_worker,
                "assignment",
                "assignments"
            )
        )));
    }

    let trial_count = experiment.trials_per_assignment as usize;
    let stimuli = if experiment.kind == "jnd" {
        Stimuli::Pairs(
            pairs_for_worker(
                &mut transaction,
                experiment_id,
                worker_row_id,
                experiment.judgments_per_stimulus,
                trial_count,
                experiment.serve_imported_stimuli,
            )
            .await?,
        )
    } else {
        Stimuli::Triplets(
            triplets_for_worker(
                &mut transaction,
                experiment_id,
                worker_row_id,
                experiment.judgments_per_stimulus,
                trial_count,
                f64::from(experiment.sentinel_rate),
                experiment.serve_imported_stimuli,
            )
            .await?,
        )
    };
    if stimuli.is_empty() {
        return Err(nothing_left(
            &mut transaction,
            experiment_id,
            experiment.judgments_per_stimulus,
            experiment.serve_imported_stimuli,
        )
        .await);
    }
    // The thread-local generator is seeded from the OS and reseeds itself:
    // good enough for the 256-bit token. It must not live across an await.
    let token = URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 32]>());
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
    tracing::Span::current().record("assignment_id", assignment.id);
    let (trials, jnd) = match stimuli {
        Stimuli::Triplets(triplet_ids) => {
            let positions =
                insert_two_afc_trials(&mut transaction, assignment.id, triplet_ids).await?;
            let trials = positions
                .map(|position| TrialUrls::for_position(&token, position))
                .collect();
            (trials, None)
        }
        Stimuli::Pairs(pair_ids) => {
            let positions = 0..pair_ids.len() as i32;
            sqlx::query!(
                "INSERT INTO jnd_trials (assignment_id, position, pair_id)
                 SELECT $1, * FROM UNNEST($2::int[], $3::bigint[])",
                assignment.id,
                &positions.clone().collect::<Vec<_>>(),
                &pair_ids,
            )
            .execute(&mut *transaction)
            .await?;
            let jnd = JndAssignment {
                presentation: JndPresentation {
                    reference_ms: experiment.reference_ms,
                    gap_ms: experiment.gap_ms,
                    distorted_ms: experiment.distorted_ms,
                },
                trials: positions
                    .map(|position| JndTrialUrls::for_position(&token, position))
                    .collect(),
            };
            (Vec::new(), Some(jnd))
        }
    };
    transaction.commit().await?;

    Ok(Created::New(Assignment {
        trials,
        jnd,
        token,
        platform_worker_id,
        expires_at: assignment.expires_at,
    }))
}

/// An assignment's id and token.
pub(crate) struct OpenAssignment {
    pub id: i64,
    pub token: String,
}

/// The open (unfinished, unexpired) assignment of `experiment_id` that the
/// worker `platform_worker_id` holds for the request's study and session, if
/// the request names a session and there is one.
pub(crate) async fn open_for_session(
    executor: impl sqlx::PgExecutor<'_>,
    experiment_id: i64,
    request: &AssignmentRequest,
    platform_worker_id: &str,
) -> Result<Option<OpenAssignment>> {
    let Some(session_id) = &request.session_id else {
        return Ok(None);
    };
    Ok(sqlx::query_as!(
        OpenAssignment,
        r#"SELECT a.id, a.token FROM assignments a JOIN workers w ON w.id = a.worker_id
           WHERE a.experiment_id = $1 AND w.platform = $2 AND w.external_id = $3
             AND a.study_id IS NOT DISTINCT FROM $4 AND a.session_id = $5
             AND a.completed_at IS NULL AND a.expires_at > now()
           ORDER BY a.id DESC LIMIT 1"#,
        experiment_id,
        request.platform.as_str(),
        platform_worker_id,
        request.study_id,
        session_id,
    )
    .fetch_optional(executor)
    .await?)
}

/// What an assignment's trials show, in trial order: triplets (2AFC) or pairs (JND).
enum Stimuli {
    Triplets(Vec<i64>),
    Pairs(Vec<i64>),
}

impl Stimuli {
    fn is_empty(&self) -> bool {
        match self {
            Stimuli::Triplets(ids) | Stimuli::Pairs(ids) => ids.is_empty(),
        }
    }
}

/// Up to `trial_count` triplets the worker has not seen, in random order:
/// the real ones with the fewest judgments plus open trials, and about
/// `sentinel_rate` of them sentinels. Empty when no real triplet is left.
/// Imported triplets only when `serve_imported` (they come with judgments).
async fn triplets_for_worker(
    transaction: &mut sqlx::PgConnection,
    experiment_id: i64,
    worker_row_id: i64,
    judgments_per_stimulus: i32,
    trial_count: usize,
    sentinel_rate: f64,
    serve_imported: bool,
) -> Result<Vec<i64>> {
    let sentinels_wanted = sentinel_count(trial_count, sentinel_rate);
    let candidates = sqlx::query!(
        r#"
        WITH ranked AS (
            SELECT triplet_id, is_sentinel,
                   row_number() OVER (PARTITION BY is_sentinel ORDER BY load, random()) AS rank
            FROM triplet_loads
            -- Sentinels are checks, not data: they never fill up.
            WHERE experiment_id = $1
              AND (is_sentinel OR load < $3)
              AND ($6 OR NOT EXISTS (
                  SELECT 1 FROM triplets imported
                  WHERE imported.id = triplet_loads.triplet_id AND imported.imported_item IS NOT NULL
              ))
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
        i64::from(judgments_per_stimulus),
        sentinels_wanted as i64,
        trial_count as i64,
        serve_imported,
    )
    .fetch_all(&mut *transaction)
    .await?;
    let (sentinels, ordinary): (Vec<_>, Vec<_>) =
        candidates.into_iter().partition(|row| row.is_sentinel);
    if ordinary.is_empty() {
        return Ok(Vec::new());
    }
    let sentinels = &sentinels[..sentinels.len().min(sentinels_wanted)];
    // Missing sentinels are made up with real triplets, as far as there are any.
    let ordinary = &ordinary[..ordinary.len().min(trial_count - sentinels.len())];
    let mut triplet_ids: Vec<i64> = sentinels
        .iter()
        .chain(ordinary)
        .map(|row| row.triplet_id)
        .collect();
    triplet_ids.shuffle(&mut rand::rng());
    Ok(triplet_ids)
}

/// Stores the 2AFC trials of `triplet_ids`, each with its patches on sides
/// drawn at random; returns their positions.
async fn insert_two_afc_trials(
    transaction: &mut sqlx::PgConnection,
    assignment_id: i64,
    triplet_ids: Vec<i64>,
) -> Result<std::ops::Range<i32>> {
    let left_is_p0: Vec<bool> = {
        let mut rng = rand::rng();
        triplet_ids.iter().map(|_| rng.random_bool(0.5)).collect()
    };
    let positions = 0..triplet_ids.len() as i32;
    sqlx::query!(
        "INSERT INTO assignment_trials (assignment_id, position, triplet_id, left_is_p0)
         SELECT $1, * FROM UNNEST($2::int[], $3::bigint[], $4::bool[])",
        assignment_id,
        &positions.clone().collect::<Vec<_>>(),
        &triplet_ids,
        &left_is_p0,
    )
    .execute(&mut *transaction)
    .await?;
    Ok(positions)
}

/// Up to `trial_count` pairs the worker has not seen, the ones with the
/// fewest valid judgments plus open trials first, in random order. Controls
/// are data too (they measure how often "different" is said of identical
/// patches), so they fill up like any pair. Imported pairs only when
/// `serve_imported`.
async fn pairs_for_worker(
    transaction: &mut sqlx::PgConnection,
    experiment_id: i64,
    worker_row_id: i64,
    judgments_per_pair: i32,
    trial_count: usize,
    serve_imported: bool,
) -> Result<Vec<i64>> {
    let mut pair_ids = sqlx::query_scalar!(
        r#"
        SELECT pair_id AS "pair_id!" FROM pair_loads
        WHERE experiment_id = $1 AND load < $3
          AND ($5 OR NOT EXISTS (
              SELECT 1 FROM pairs imported
              WHERE imported.id = pair_loads.pair_id AND imported.imported_item IS NOT NULL
          ))
          AND NOT EXISTS (
              SELECT 1 FROM jnd_trials seen
              JOIN assignments mine ON mine.id = seen.assignment_id
              WHERE mine.worker_id = $2 AND seen.pair_id = pair_loads.pair_id
          )
        ORDER BY load, random()
        LIMIT $4
        "#,
        experiment_id,
        worker_row_id,
        i64::from(judgments_per_pair),
        trial_count as i64,
        serve_imported,
    )
    .fetch_all(&mut *transaction)
    .await?;
    pair_ids.shuffle(&mut rand::rng());
    Ok(pair_ids)
}

/// The worker's platform id; anonymous workers without one get a fresh one.
fn platform_worker_id(request: &AssignmentRequest) -> Result<String> {
    match (&request.platform_worker_id, request.platform) {
        (Some(id), _) if id.trim().is_empty() || id.chars().count() > MAX_ID_CHARS => {
            Err(Error::Invalid(format!(
                "platform_worker_id must have 1 to {MAX_ID_CHARS} characters"
            )))
        }
        (Some(id), _) => Ok(id.trim().to_owned()),
        (None, Platform::Anonymous) => Ok(uuid::Uuid::new_v4().to_string()),
        (None, platform) => Err(Error::Invalid(format!(
            "platform_worker_id is required for {} workers",
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
/// every triplet (or pair) that still needs judgments, or what is left is
/// imported and not served.
async fn nothing_left(
    transaction: &mut sqlx::PgConnection,
    experiment_id: i64,
    judgments_per_stimulus: i32,
    serve_imported: bool,
) -> Error {
    match stimuli_still_needed(
        transaction,
        experiment_id,
        judgments_per_stimulus,
        serve_imported,
    )
    .await
    {
        Ok(StillNeeded::Servable) => Error::Conflict(
            "this worker has already been given every stimulus that still needs judgments".into(),
        ),
        Ok(StillNeeded::OnlyImported) => Error::Conflict(
            "this experiment's stimuli that still need judgments are imported, and imported \
             stimuli are not handed out to workers (the researcher can turn on \
             serve_imported_stimuli)"
                .into(),
        ),
        Ok(StillNeeded::Nothing) => {
            Error::Conflict("this experiment needs no more judgments".into())
        }
        Err(error) => error,
    }
}

/// What of an experiment still needs judgments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StillNeeded {
    /// Some stimulus that may be handed out to workers.
    Servable,
    /// Only imported stimuli, which are not handed out unless the
    /// researcher turned on `serve_imported_stimuli`.
    OnlyImported,
    Nothing,
}

/// Whether some real triplet (2AFC) or pair (JND) of the experiment still
/// has fewer than `judgments_per_stimulus` judgments plus open trials, and
/// whether workers may be given it.
pub(crate) async fn stimuli_still_needed(
    executor: impl sqlx::PgExecutor<'_>,
    experiment_id: i64,
    judgments_per_stimulus: i32,
    serve_imported: bool,
) -> Result<StillNeeded> {
    let open = sqlx::query!(
        r#"
        WITH open AS (
            SELECT t.imported_item IS NOT NULL AS imported FROM triplet_loads l
            JOIN triplets t ON t.id = l.triplet_id
            WHERE l.experiment_id = $1 AND NOT l.is_sentinel AND l.load < $2
            UNION ALL
            SELECT p.imported_item IS NOT NULL FROM pair_loads l
            JOIN pairs p ON p.id = l.pair_id
            WHERE l.experiment_id = $1 AND l.load < $2
        )
        SELECT EXISTS (SELECT 1 FROM open WHERE $3 OR NOT imported) AS "served!",
               EXISTS (SELECT 1 FROM open) AS "any!"
        "#,
        experiment_id,
        i64::from(judgments_per_stimulus),
        serve_imported,
    )
    .fetch_one(executor)
    .await?;
    Ok(if open.served {
        StillNeeded::Servable
    } else if open.any {
        StillNeeded::OnlyImported
    } else {
        StillNeeded::Nothing
    })
}
