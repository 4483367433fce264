//! Storing a worker's judgment: once, whatever the retries, and completing
//! the assignment with its last one. 2AFC and JND judgments take the same
//! path (lock the assignment, insert once, complete) with their own tables.
//!
//! The client generates each judgment's id, so a submission retried after a
//! lost response finds its row instead of adding another: the retry gets the
//! same answer as the first ([`Stored::Before`]).
//!
//! JND judgments carry the presentation timing the browser measured. Whether
//! the trial counts is decided here, from the measured durations and the
//! page's visibility and focus record (the client's own view is not asked
//! for). An invalid trial stays stored but does not count toward its pair's
//! judgments, and its pair is appended to the assignment as a new trial, up
//! to `MAX_RETRIES_PER_PAIR` times.

use percept_api::jnd::{JndPresentation, NewJndJudgment};
use percept_api::judgments::NewJudgment;
use rand::Rng;

use crate::error::{Error, Result};
use crate::jnd::MAX_RETRIES_PER_PAIR;

/// Unambiguous characters only: workers may have to type the code.
const COMPLETION_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const COMPLETION_CODE_LENGTH: usize = 10;
/// A frame interval beyond this (below 1 Hz) is not a display's.
const MAX_REFRESH_INTERVAL_MS: f64 = 1000.0;

/// Whether a submission stored its judgment now or found it stored before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Now,
    /// A retry of a judgment stored before, with the same content.
    Before,
}

/// What became of a judgment: stored now or before, and where its
/// assignment stands.
pub struct Submission {
    pub stored: Stored,
    pub completion: Completion,
}

/// Stores a 2AFC judgment in the transaction holding `assignment`'s lock.
/// The common case is two statements: insert (which finds the trial
/// itself), and complete the assignment if that was its last trial. Anything
/// unusual (a retry, a second answer, no such trial) is sorted out afterwards.
pub async fn submit_two_afc(
    transaction: &mut sqlx::PgConnection,
    assignment: &LockedAssignment,
    judgment: &NewJudgment,
    user_agent: Option<&str>,
) -> Result<Submission> {
    if judgment.response_ms < 0 {
        return Err(Error::Invalid(format!(
            "response_ms must not be negative, not {}",
            judgment.response_ms
        )));
    }
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
            user_agent,
            judgment.position,
        )
        .fetch_optional(&mut *transaction)
        .await?
        .is_some()
    } else {
        false
    };
    if !inserted {
        return answer_not_inserted(transaction, assignment, judgment).await;
    }
    let completion_code = complete_if_all_judged(transaction, assignment.id).await?;
    Ok(Submission {
        stored: Stored::Now,
        completion: assignment.completion(completion_code),
    })
}

/// Why a judgment was not inserted: it is a retry of one stored before
/// (answered as it was then), or it is refused.
async fn answer_not_inserted(
    transaction: &mut sqlx::PgConnection,
    assignment: &LockedAssignment,
    judgment: &NewJudgment,
) -> Result<Submission> {
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
            return Ok(Submission {
                stored: Stored::Before,
                completion: assignment.completion_when_locked(),
            })
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
    .ok_or_else(|| no_trial_at(judgment.position, ""))?;
    Err(match judged_by {
        Some(other_id) => already_judged(judgment.position, other_id),
        // The insert was refused but neither this id nor this trial has a
        // judgment now: the conflicting row went away in between (a deleted
        // experiment); the client may send it again.
        None => Error::Conflict(format!(
            "judgment {} clashed with another submission that is gone now; send it again",
            judgment.id
        )),
    })
}

/// A position the assignment has no (`kind`, e.g. "JND ") trial at.
fn no_trial_at(position: i32, kind: &str) -> Error {
    Error::Invalid(format!(
        "this assignment has no {kind}trial at position {position}"
    ))
}

/// A second answer to a judged trial.
fn already_judged(position: i32, other_id: uuid::Uuid) -> Error {
    Error::Conflict(format!(
        "the trial at position {position} was already judged (judgment {other_id})"
    ))
}

/// An assignment locked for a judgment's transaction, with what a receipt
/// needs to say about it.
pub struct LockedAssignment {
    pub id: i64,
    pub experiment_id: i64,
    pub worker_id: i64,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub expired: bool,
    pub completion_code: Option<String>,
    pub redirect_url: Option<String>,
}

/// The assignment with `token`, locked: that serialises its submissions, so
/// "was this trial judged?" and "is the assignment complete?" cannot race.
pub async fn lock_assignment(
    transaction: &mut sqlx::PgConnection,
    token: &str,
) -> Result<LockedAssignment> {
    sqlx::query_as!(
        LockedAssignment,
        r#"
        SELECT a.id, a.experiment_id, a.worker_id, a.expires_at, a.expires_at <= now() AS "expired!",
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
    pub fn completion(&self, completion_code: Option<String>) -> Completion {
        Completion {
            redirect_url: self
                .redirect_url
                .clone()
                .filter(|_| completion_code.is_some()),
            completion_code,
        }
    }

    /// The code it had when locked: what a retry of a stored judgment reports.
    pub fn completion_when_locked(&self) -> Completion {
        self.completion(self.completion_code.clone())
    }

    pub fn is_open(&self) -> bool {
        self.completion_code.is_none() && !self.expired
    }

    /// Refuses new judgments for a complete or expired assignment.
    pub fn ensure_open(&self) -> Result<()> {
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
pub async fn complete_if_all_judged(
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
pub struct Completion {
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

/// The JND side of a judgment: whether it counts, and the position of the
/// trial that shows its pair again if it does not.
pub struct JndValidity {
    pub invalid_reason: Option<String>,
    pub retry_position: Option<i32>,
}

/// Stores a JND judgment (checked with [`check_plausible`] before the
/// assignment was locked) in the transaction holding `assignment`'s lock.
pub async fn submit_jnd(
    transaction: &mut sqlx::PgConnection,
    assignment: &LockedAssignment,
    judgment: &NewJndJudgment,
    user_agent: Option<&str>,
) -> Result<(Submission, JndValidity)> {
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
            let submission = Submission {
                stored: Stored::Before,
                completion: assignment.completion_when_locked(),
            };
            return Ok((submission, validity(transaction, judgment).await?));
        }
        Some(false) => return Err(reused_id(judgment)),
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
    .ok_or_else(|| no_trial_at(judgment.position, "JND "))?;
    if let Some(other_id) = trial.judgment_id {
        return Err(already_judged(judgment.position, other_id));
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
        user_agent,
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
        sqlx::Error::Database(db) if db.is_unique_violation() => reused_id(judgment),
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
    let completion_code = complete_if_all_judged(transaction, assignment.id).await?;
    let submission = Submission {
        stored: Stored::Now,
        completion: assignment.completion(completion_code),
    };
    Ok((submission, validity(transaction, judgment).await?))
}

/// Refuses numbers no browser measures: a negative response time, timestamps
/// that are not finite or out of order, a refresh interval no display has.
pub fn check_plausible(judgment: &NewJndJudgment) -> Result<()> {
    if judgment.response_ms < 0 {
        return Err(Error::Invalid(format!(
            "response_ms must not be negative, not {}",
            judgment.response_ms
        )));
    }
    let timing = &judgment.timing;
    let interval = timing.refresh_interval_ms;
    if !(interval > 0.0 && interval <= MAX_REFRESH_INTERVAL_MS) {
        return Err(Error::Invalid(format!(
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
        return Err(Error::Invalid(
            "the timing's timestamps must be finite numbers".into(),
        ));
    }
    if !timestamps.windows(2).all(|pair| pair[0] <= pair[1]) {
        return Err(Error::Invalid(
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

/// Whether the stored JND judgment counts, and the trial repeating it if
/// there is one.
async fn validity(
    transaction: &mut sqlx::PgConnection,
    judgment: &NewJndJudgment,
) -> Result<JndValidity> {
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
    Ok(JndValidity {
        invalid_reason: stored.invalid_reason,
        retry_position: stored.retry_position,
    })
}
