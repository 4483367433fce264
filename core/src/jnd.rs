//! JND experiments: their settings, and their pairs, cut fresh from the
//! experiment's reference images or taken from a 2AFC experiment's triplets.

use percept_api::experiments::{defaults, JndProgress, TimingErrorSummary};
use percept_api::jnd::JndPresentation;
use sqlx::PgPool;

use crate::error::{Error, Result};

/// An invalid trial's pair is served again at most this many times in the
/// same assignment, so a worker whose screen cannot keep the timing still
/// finishes.
pub const MAX_RETRIES_PER_PAIR: i64 = 2;

/// What a JND experiment adds to an experiment's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JndSettings {
    /// The presentation sequence: reference, blank, distorted patch.
    pub reference_ms: u32,
    pub gap_ms: u32,
    pub distorted_ms: u32,
    /// Share of pairs that show the reference twice.
    pub control_share: f64,
    /// A 2AFC experiment of the same researcher whose triplets give the
    /// pairs (reference with p0, reference with p1) instead of uploaded images.
    pub source_experiment_id: Option<i64>,
}

impl Default for JndSettings {
    /// BAPPS' sequence, the same defaults as the dashboard form's.
    fn default() -> Self {
        Self {
            reference_ms: defaults::reference_ms(),
            gap_ms: defaults::gap_ms(),
            distorted_ms: defaults::distorted_ms(),
            control_share: defaults::control_share(),
            source_experiment_id: None,
        }
    }
}

/// Longest exposure or gap: beyond this the task is memory, not vision.
const MAX_DURATION_MS: u32 = 10_000;

impl JndSettings {
    pub fn validate(&self) -> Result<()> {
        for (name, value, least) in [
            ("reference duration", self.reference_ms, 1),
            ("gap", self.gap_ms, 0),
            ("distorted duration", self.distorted_ms, 1),
        ] {
            if !(least..=MAX_DURATION_MS).contains(&value) {
                return Err(Error::Invalid(format!(
                    "the {name} must be between {least} and {MAX_DURATION_MS} ms, not {value}"
                )));
            }
        }
        if !(0.0..1.0).contains(&self.control_share) {
            return Err(Error::Invalid(format!(
                "the control share must be at least 0 and below 1, not {}",
                self.control_share
            )));
        }
        Ok(())
    }
}

/// How many controls go with `distorted` distorted pairs so that they are
/// `control_share` of all pairs.
fn control_count(distorted: i64, control_share: f64) -> i64 {
    (distorted as f64 * control_share / (1.0 - control_share)).round() as i64
}

/// How many pairs a JND experiment of `owner_id` gets from the triplets of
/// `source_id`, which must be a ready 2AFC experiment that owner can see: two
/// per real triplet (reference with p0, with p1), plus controls, at most one
/// per triplet.
pub async fn sourced_pair_count(
    pool: &PgPool,
    owner_id: i64,
    source_id: i64,
    control_share: f64,
) -> Result<u64> {
    let source = sqlx::query!(
        r#"SELECT e.kind, e.status,
                  (SELECT count(*) FROM triplets t
                   WHERE t.experiment_id = e.id AND t.sentinel_answer IS NULL) AS "triplets!"
           FROM experiments e
           WHERE e.id = $1 AND EXISTS (
               SELECT 1 FROM experiment_access x
               WHERE x.experiment_id = e.id AND x.researcher_id = $2
           )"#,
        source_id,
        owner_id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        Error::Invalid(format!(
            "there is no experiment {source_id} of yours, or shared with you, to take pairs from"
        ))
    })?;
    if source.kind != "2afc" || source.status != "ready" {
        return Err(Error::Invalid(format!(
            "pairs can only be taken from a ready 2AFC experiment; experiment {source_id} is a {} experiment that is {}",
            source.kind, source.status
        )));
    }
    if source.triplets == 0 {
        return Err(Error::Invalid(format!(
            "experiment {source_id} has no triplets to take pairs from"
        )));
    }
    let distorted = 2 * source.triplets;
    Ok((distorted + control_count(distorted, control_share).min(source.triplets)) as u64)
}

/// Copies the pairs of `source_id`'s real triplets into `experiment_id`
/// (see [`sourced_pair_count`]); the controls' triplets are picked by the
/// experiment's seed. Returns how many pairs were made.
pub async fn copy_pairs_from_source(
    transaction: &mut sqlx::PgConnection,
    experiment_id: i64,
    source_id: i64,
    control_share: f64,
    seed: u64,
) -> Result<usize> {
    let triplets = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM triplets
           WHERE experiment_id = $1 AND sentinel_answer IS NULL"#,
        source_id
    )
    .fetch_one(&mut *transaction)
    .await?;
    let controls = control_count(2 * triplets, control_share).min(triplets);
    let inserted = sqlx::query!(
        r#"
        INSERT INTO pairs (experiment_id, source_triplet_id, crop_x, crop_y, ref_png,
                           distorted_png, pipeline, seed, is_control)
        SELECT $1::bigint, t.id, t.crop_x, t.crop_y, t.ref_png, side.png, side.pipeline, side.seed, false
        FROM triplets t
        CROSS JOIN LATERAL (VALUES (t.p0_png, t.p0_pipeline, t.p0_seed),
                                   (t.p1_png, t.p1_pipeline, t.p1_seed)) AS side (png, pipeline, seed)
        WHERE t.experiment_id = $2 AND t.sentinel_answer IS NULL
        UNION ALL
        (SELECT $1::bigint, t.id, t.crop_x, t.crop_y, t.ref_png, t.ref_png, '[]'::jsonb, 0::bigint, true
         FROM triplets t
         WHERE t.experiment_id = $2 AND t.sentinel_answer IS NULL
         ORDER BY md5(t.id::text || ':' || $3::text)
         LIMIT $4)
        "#,
        experiment_id,
        source_id,
        seed as i64,
        controls,
    )
    .execute(&mut *transaction)
    .await?;
    Ok(inserted.rows_affected() as usize)
}

/// A JND experiment's pairs, judgments and timing errors, for the dashboard.
pub async fn progress(pool: &PgPool, experiment_id: i64) -> Result<JndProgress> {
    let counts = sqlx::query!(
        r#"
        SELECT e.reference_ms, e.gap_ms, e.distorted_ms, e.control_share, e.source_experiment_id,
               (SELECT count(*) FROM pairs p WHERE p.experiment_id = e.id) AS "pairs!",
               (SELECT count(*) FROM pairs p WHERE p.experiment_id = e.id AND p.is_control)
                   AS "control_pairs!",
               (SELECT count(*) FILTER (WHERE j.valid) FROM jnd_judgments j
                JOIN assignments a ON a.id = j.assignment_id WHERE a.experiment_id = e.id)
                   AS "valid!",
               (SELECT count(*) FILTER (WHERE NOT j.valid) FROM jnd_judgments j
                JOIN assignments a ON a.id = j.assignment_id WHERE a.experiment_id = e.id)
                   AS "invalid!"
        FROM experiments e WHERE e.id = $1
        "#,
        experiment_id
    )
    .fetch_one(pool)
    .await?;
    // Over every judgment, valid or not: this is how well browsers kept the
    // protocol, which is what the invalid ones are evidence about.
    let timing_errors = sqlx::query!(
        r#"
        SELECT error.phase AS "phase!",
               avg(error.ms) AS "mean_ms!",
               percentile_cont(0.5) WITHIN GROUP (ORDER BY error.ms) AS "p50_ms!",
               percentile_cont(0.9) WITHIN GROUP (ORDER BY error.ms) AS "p90_ms!",
               percentile_cont(0.99) WITHIN GROUP (ORDER BY error.ms) AS "p99_ms!",
               max(error.ms) AS "max_ms!"
        FROM jnd_judgments j
        JOIN assignments a ON a.id = j.assignment_id
        JOIN experiments e ON e.id = a.experiment_id
        CROSS JOIN LATERAL (VALUES
            (1, 'reference exposure', abs(j.reference_exposure_ms - e.reference_ms)),
            (2, 'gap', abs(j.measured_gap_ms - e.gap_ms)),
            (3, 'distorted exposure', abs(j.distorted_exposure_ms - e.distorted_ms))
        ) AS error (step, phase, ms)
        WHERE e.id = $1
        GROUP BY error.step, error.phase
        ORDER BY error.step
        "#,
        experiment_id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| TimingErrorSummary {
        phase: row.phase,
        mean_ms: row.mean_ms,
        p50_ms: row.p50_ms,
        p90_ms: row.p90_ms,
        p99_ms: row.p99_ms,
        max_ms: row.max_ms,
    })
    .collect();
    let judged = counts.valid + counts.invalid;
    Ok(JndProgress {
        presentation: JndPresentation {
            reference_ms: counts.reference_ms,
            gap_ms: counts.gap_ms,
            distorted_ms: counts.distorted_ms,
        },
        control_share: counts.control_share,
        source_experiment_id: counts.source_experiment_id,
        pairs: counts.pairs,
        control_pairs: counts.control_pairs,
        valid_judgments: counts.valid,
        invalid_judgments: counts.invalid,
        invalid_share: (judged > 0).then(|| counts.invalid as f64 / judged as f64),
        timing_errors,
    })
}
