//! What the dashboard shows of experiments: a researcher's list, one
//! experiment's settings, generation state and counts, its workers, and its
//! triplets (2AFC) or pairs (JND) with their judgments and images.

use std::collections::{HashMap, HashSet};

use percept_api::experiments::{
    ExperimentDetail, ExperimentSummary, JudgmentView, PairJudgmentView, PairPage, PairView,
    Planning, TripletPage, TripletView, WorkerId, WorkerLinks, WorkerStats,
};
use sqlx::PgPool;

use crate::error::{Error, Result};
use crate::{jnd, quality};

/// The experiments `researcher_id` owns or has shared with them (every
/// experiment in the database for `None`, as the CLI sees them), newest first.
pub async fn list(pool: &PgPool, researcher_id: Option<i64>) -> Result<Vec<ExperimentSummary>> {
    let experiments = sqlx::query_as!(
        ExperimentSummary,
        r#"
        SELECT e.id, e.kind, e.name, e.split, e.category, e.status, e.lifecycle, e.stimuli_total,
               e.stimuli_generated, e.created_at,
               (SELECT email FROM researchers r WHERE r.id = e.owner_id) AS "owner_email!",
               (SELECT count(*) FROM judgments j
                JOIN assignment_trials at USING (assignment_id, position)
                JOIN triplets t ON t.id = at.triplet_id
                WHERE t.experiment_id = e.id AND t.sentinel_answer IS NULL)
               + (SELECT count(*) FROM jnd_judgments j
                  JOIN assignments a ON a.id = j.assignment_id
                  WHERE a.experiment_id = e.id AND j.valid) AS "judgments_collected!",
               -- An experiment has triplets or pairs, never both.
               e.judgments_per_stimulus * (
                   (SELECT count(*) FROM triplets t
                    WHERE t.experiment_id = e.id AND t.sentinel_answer IS NULL)
                   + (SELECT count(*) FROM pairs p WHERE p.experiment_id = e.id)
               ) AS "judgments_target!",
               (SELECT coalesce(sum(ij.judgments), 0) FROM imported_judgments ij
                JOIN triplets t ON t.id = ij.triplet_id WHERE t.experiment_id = e.id)
               + (SELECT coalesce(sum(ip.judgments), 0) FROM imported_pair_judgments ip
                  JOIN pairs p ON p.id = ip.pair_id WHERE p.experiment_id = e.id)
                   AS "judgments_imported!"
        FROM experiments e
        WHERE $1::bigint IS NULL
           OR e.id IN (SELECT experiment_id FROM experiment_access WHERE researcher_id = $1)
        ORDER BY e.created_at DESC, e.id DESC
        "#,
        researcher_id
    )
    .fetch_all(pool)
    .await?;
    Ok(experiments)
}

/// The experiment's settings, generation state and counts; `owned_by_you`
/// says whether the researcher asking owns it.
pub async fn detail(
    pool: &PgPool,
    experiment_id: i64,
    owned_by_you: bool,
) -> Result<ExperimentDetail> {
    let row = sqlx::query!(
        r#"
        SELECT e.id, e.name, e.kind, e.split, e.category, e.patch_size, e.patches_per_image,
               e.sampler, e.seed, e.judgments_per_stimulus, e.trials_per_assignment,
               e.sentinel_rate, e.max_assignments_per_worker,
               extract(epoch FROM e.assignment_ttl)::float8 / 60 AS "assignment_ttl_minutes!",
               e.completion_redirect_url, e.max_sentinel_failure_share, e.created_at,
               e.status, e.lifecycle, e.generation_error, e.stimuli_total, e.stimuli_generated,
               -- JND pairs taken from a 2AFC experiment have their source
               -- triplets' reference images, not uploads of their own.
               (SELECT count(*) FROM reference_images r WHERE r.experiment_id = e.id)
               + (SELECT count(DISTINCT t.reference_image_id) FROM pairs p
                  JOIN triplets t ON t.id = p.source_triplet_id
                  WHERE p.experiment_id = e.id AND p.reference_image_id IS NULL)
                   AS "reference_images!",
               e.serve_imported_stimuli,
               (SELECT count(*) FROM triplets t
                WHERE t.experiment_id = e.id AND t.imported_item IS NOT NULL)
               + (SELECT count(*) FROM pairs p
                  WHERE p.experiment_id = e.id AND p.imported_item IS NOT NULL)
                   AS "imported_stimuli!",
               (SELECT coalesce(sum(ij.judgments), 0) FROM imported_judgments ij
                JOIN triplets t ON t.id = ij.triplet_id WHERE t.experiment_id = e.id)
               + (SELECT coalesce(sum(ip.judgments), 0) FROM imported_pair_judgments ip
                  JOIN pairs p ON p.id = ip.pair_id WHERE p.experiment_id = e.id)
                   AS "judgments_imported!",
               (SELECT count(*) FROM triplets t
                WHERE t.experiment_id = e.id AND t.sentinel_answer IS NOT NULL)
                   AS "sentinel_triplets!",
               (SELECT count(*) FROM triplets t
                WHERE t.experiment_id = e.id AND t.sentinel_answer IS NULL)
                   AS "real_triplets!",
               (SELECT count(*) FROM workers w WHERE w.experiment_id = e.id) AS "workers!",
               (SELECT count(*) FROM judgments j
                JOIN assignments a ON a.id = j.assignment_id
                WHERE a.experiment_id = e.id)
               + (SELECT count(*) FROM jnd_judgments j
                  JOIN assignments a ON a.id = j.assignment_id
                  WHERE a.experiment_id = e.id) AS "judgments!",
               (SELECT count(*) FROM judgments j
                JOIN assignment_trials at USING (assignment_id, position)
                JOIN triplets t ON t.id = at.triplet_id
                WHERE t.experiment_id = e.id AND t.sentinel_answer IS NULL)
               + (SELECT count(*) FROM jnd_judgments j
                  JOIN assignments a ON a.id = j.assignment_id
                  WHERE a.experiment_id = e.id AND j.valid) AS "judgments_collected!",
               (SELECT count(*) FROM pairs p WHERE p.experiment_id = e.id) AS "pairs!",
               (SELECT email FROM researchers r WHERE r.id = e.owner_id) AS "owner_email!"
        FROM experiments e
        WHERE e.id = $1
        "#,
        experiment_id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("there is no experiment {experiment_id}")))?;
    let flagged_workers = quality::flagged_worker_ids(pool, experiment_id).await?;
    let jnd = if row.kind == "jnd" {
        Some(jnd::progress(pool, experiment_id).await?)
    } else {
        None
    };
    let planning = planning(pool, experiment_id, &flagged_workers).await?;
    let worker_url = format!("/e/{experiment_id}");
    Ok(ExperimentDetail {
        id: row.id,
        name: row.name,
        kind: row.kind,
        split: row.split,
        category: row.category,
        patch_size: row.patch_size,
        patches_per_image: row.patches_per_image,
        sampler: row.sampler,
        seed: row.seed,
        judgments_per_stimulus: row.judgments_per_stimulus,
        trials_per_assignment: row.trials_per_assignment,
        sentinel_rate: row.sentinel_rate,
        max_assignments_per_worker: row.max_assignments_per_worker,
        assignment_ttl_minutes: row.assignment_ttl_minutes,
        completion_redirect_url: row.completion_redirect_url,
        max_sentinel_failure_share: row.max_sentinel_failure_share,
        created_at: row.created_at,
        owner_email: row.owner_email,
        owned_by_you,
        status: row.status,
        lifecycle: row.lifecycle,
        generation_error: row.generation_error,
        stimuli_total: row.stimuli_total,
        stimuli_generated: row.stimuli_generated,
        reference_images: row.reference_images,
        sentinel_triplets: row.sentinel_triplets,
        workers: row.workers,
        judgments: row.judgments,
        judgments_collected: row.judgments_collected,
        // An experiment has triplets or pairs, never both.
        judgments_target: (row.real_triplets + row.pairs) * i64::from(row.judgments_per_stimulus),
        judgments_imported: row.judgments_imported,
        imported_stimuli: row.imported_stimuli,
        serve_imported_stimuli: row.serve_imported_stimuli,
        flagged_workers: flagged_workers.len() as i64,
        worker_links: WorkerLinks {
            prolific: format!(
                "{worker_url}?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}&STUDY_ID={{{{%STUDY_ID%}}}}&SESSION_ID={{{{%SESSION_ID%}}}}"
            ),
            mturk: worker_url.clone(),
            anonymous: worker_url.clone(),
        },
        worker_url,
        planning,
        jnd,
    })
}

/// The experiment's planning figures (see [`Planning`]); `flagged_workers`
/// are the workers whose judgments do not count.
pub async fn planning(
    pool: &PgPool,
    experiment_id: i64,
    flagged_workers: &[i64],
) -> Result<Planning> {
    let row = sqlx::query!(
        r#"
        WITH counted AS (
            -- Per real stimulus: the judgments that count, and all of them.
            SELECT t.id,
                   count(j.id) FILTER (WHERE a.worker_id <> ALL($2)) AS counted,
                   count(j.id) AS judged,
                   coalesce((SELECT ij.judgments FROM imported_judgments ij
                             WHERE ij.triplet_id = t.id), 0) AS imported
            FROM triplets t
            LEFT JOIN assignment_trials at ON at.triplet_id = t.id
            LEFT JOIN judgments j ON j.assignment_id = at.assignment_id AND j.position = at.position
            LEFT JOIN assignments a ON a.id = j.assignment_id
            WHERE t.experiment_id = $1 AND t.sentinel_answer IS NULL
            GROUP BY t.id
            UNION ALL
            SELECT p.id,
                   count(j.id) FILTER (WHERE j.valid AND a.worker_id <> ALL($2)),
                   count(j.id),
                   coalesce((SELECT ip.judgments FROM imported_pair_judgments ip
                             WHERE ip.pair_id = p.id), 0)
            FROM pairs p
            LEFT JOIN jnd_trials jt ON jt.pair_id = p.id
            LEFT JOIN jnd_judgments j ON j.assignment_id = jt.assignment_id AND j.position = jt.position
            LEFT JOIN assignments a ON a.id = j.assignment_id
            WHERE p.experiment_id = $1
            GROUP BY p.id
        ),
        responses AS (
            SELECT j.response_ms FROM judgments j
            JOIN assignments a ON a.id = j.assignment_id WHERE a.experiment_id = $1
            UNION ALL
            SELECT j.response_ms FROM jnd_judgments j
            JOIN assignments a ON a.id = j.assignment_id WHERE a.experiment_id = $1
        )
        SELECT e.kind, e.judgments_per_stimulus, e.trials_per_assignment, e.sentinel_rate,
               e.reference_ms, e.gap_ms, e.distorted_ms,
               (SELECT coalesce(sum(greatest(0, e.judgments_per_stimulus - c.counted - c.imported)), 0)
                FROM counted c)::bigint AS "still_needed!",
               (SELECT coalesce(sum(c.counted), 0) FROM counted c)::bigint AS "counted!",
               (SELECT coalesce(sum(c.judged), 0) FROM counted c)::bigint AS "judged!",
               (SELECT count(*) FROM assignments a
                WHERE a.experiment_id = e.id AND a.completed_at IS NULL AND a.expires_at > now())
                   AS "open_assignments!",
               (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY response_ms) FROM responses)
                   AS median_response_ms
        FROM experiments e
        WHERE e.id = $1
        "#,
        experiment_id,
        flagged_workers,
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("there is no experiment {experiment_id}")))?;
    let trials = f64::from(row.trials_per_assignment);
    // JND controls are stimuli with a target of their own, so they count as real.
    let real_trials_per_assignment = if row.kind == "jnd" {
        trials
    } else {
        real_trials(row.trials_per_assignment, row.sentinel_rate)
    };
    let assignments_still_needed =
        (row.still_needed as f64 / real_trials_per_assignment).ceil() as i64;
    let lost_share = if row.judged > 0 {
        1.0 - row.counted as f64 / row.judged as f64
    } else {
        0.0
    };
    // Never divide by (almost) nothing: past 90% lost, the estimate is moot.
    let worker_assignments_to_buy =
        (assignments_still_needed as f64 / (1.0 - lost_share.min(0.9))).ceil() as i64;
    let sequence_ms = if row.kind == "jnd" {
        f64::from(row.reference_ms + row.gap_ms + row.distorted_ms)
    } else {
        0.0
    };
    Ok(Planning {
        judgments_still_needed: row.still_needed,
        real_trials_per_assignment,
        assignments_still_needed,
        open_assignments: row.open_assignments,
        median_response_ms: row.median_response_ms,
        expected_minutes_per_assignment: row
            .median_response_ms
            .map(|median| trials * (median + sequence_ms) / 60_000.0),
        lost_share,
        worker_assignments_to_buy,
    })
}

/// The trials of a 2AFC assignment that are not sentinels, on average. The
/// rate is stored as a REAL: it is taken as the decimal it was given as
/// (0.1, not the 0.10000000149 its f32 widens to), and the result to a
/// millionth, so the figure reads 18, not 17.999999970197678.
fn real_trials(trials_per_assignment: i32, sentinel_rate: f32) -> f64 {
    let rate: f64 = sentinel_rate
        .to_string()
        .parse()
        .expect("a float's decimal form parses");
    let real = f64::from(trials_per_assignment) * (1.0 - rate);
    (real * 1e6).round() / 1e6
}

/// The experiment's workers and their records.
pub async fn workers(pool: &PgPool, experiment_id: i64) -> Result<Vec<WorkerStats>> {
    let flagged: HashSet<i64> = quality::flagged_worker_ids(pool, experiment_id)
        .await?
        .into_iter()
        .collect();
    let rows = sqlx::query!(
        r#"
        SELECT w.id, w.platform, w.external_id,
               count(DISTINCT a.id) AS "assignments!",
               count(DISTINCT a.id) FILTER (WHERE a.completed_at IS NOT NULL)
                   AS "assignments_completed!",
               count(j.id) + (
                   SELECT count(*) FROM jnd_judgments jnd
                   JOIN assignments mine ON mine.id = jnd.assignment_id
                   WHERE mine.worker_id = w.id
               ) AS "judgments!",
               count(j.id) FILTER (WHERE t.sentinel_answer IS NOT NULL) AS "sentinels_judged!",
               count(j.id) FILTER (WHERE j.chose_p1 = (t.sentinel_answer = 1))
                   AS "sentinels_passed!",
               percentile_cont(0.5) WITHIN GROUP (ORDER BY j.response_ms)
                   AS median_response_ms
        FROM workers w
        LEFT JOIN assignments a ON a.worker_id = w.id
        LEFT JOIN judgments j ON j.assignment_id = a.id
        LEFT JOIN assignment_trials at
            ON at.assignment_id = j.assignment_id AND at.position = j.position
        LEFT JOIN triplets t ON t.id = at.triplet_id
        WHERE w.experiment_id = $1
        GROUP BY w.id
        ORDER BY w.id
        "#,
        experiment_id
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| WorkerStats {
            flagged: flagged.contains(&row.id),
            sentinel_pass_rate: (row.sentinels_judged > 0)
                .then(|| row.sentinels_passed as f64 / row.sentinels_judged as f64),
            id: WorkerId(row.id),
            platform: row.platform,
            external_id: row.external_id,
            assignments: row.assignments,
            assignments_completed: row.assignments_completed,
            judgments: row.judgments,
            sentinels_judged: row.sentinels_judged,
            sentinels_passed: row.sentinels_passed,
            median_response_ms: row.median_response_ms,
        })
        .collect())
}

/// A page of the experiment's triplets (by id, from `offset`), each with its
/// specs and judgments.
pub async fn triplets(
    pool: &PgPool,
    experiment_id: i64,
    offset: i64,
    limit: i64,
) -> Result<TripletPage> {
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM triplets WHERE experiment_id = $1"#,
        experiment_id
    )
    .fetch_one(pool)
    .await?;
    let triplets = sqlx::query!(
        "SELECT t.id, t.reference_image_id, r.file_name, t.crop_x, t.crop_y,
                t.p0_pipeline, t.p0_seed, t.p1_pipeline, t.p1_seed, t.sentinel_answer,
                t.p0_method, t.p1_method
         FROM triplets t JOIN reference_images r ON r.id = t.reference_image_id
         WHERE t.experiment_id = $1
         ORDER BY t.id
         OFFSET $2 LIMIT $3",
        experiment_id,
        offset,
        limit,
    )
    .fetch_all(pool)
    .await?;
    let triplet_ids: Vec<i64> = triplets.iter().map(|triplet| triplet.id).collect();
    let flagged: HashSet<i64> = quality::flagged_worker_ids(pool, experiment_id)
        .await?
        .into_iter()
        .collect();
    let mut judgments: HashMap<i64, Vec<JudgmentView>> = HashMap::new();
    for row in sqlx::query!(
        "SELECT at.triplet_id, j.chose_p1, j.response_ms, w.id AS worker_id, w.platform,
                w.external_id
         FROM judgments j
         JOIN assignment_trials at USING (assignment_id, position)
         JOIN assignments a ON a.id = j.assignment_id
         JOIN workers w ON w.id = a.worker_id
         WHERE at.triplet_id = ANY($1)
         ORDER BY j.server_time, j.id",
        &triplet_ids,
    )
    .fetch_all(pool)
    .await?
    {
        judgments
            .entry(row.triplet_id)
            .or_default()
            .push(JudgmentView {
                flagged_worker: flagged.contains(&row.worker_id),
                worker_id: WorkerId(row.worker_id),
                worker_platform: row.platform,
                worker_external_id: row.external_id,
                chose_p1: row.chose_p1,
                response_ms: row.response_ms,
            });
    }
    let triplets = triplets
        .into_iter()
        .map(|triplet| {
            let judgments = judgments.remove(&triplet.id).unwrap_or_default();
            let counted: Vec<&JudgmentView> =
                judgments.iter().filter(|j| !j.flagged_worker).collect();
            let chose_p1 = counted.iter().filter(|j| j.chose_p1).count();
            let url = |image: &str| {
                format!(
                    "/api/experiments/{experiment_id}/triplets/{}/{image}.png",
                    triplet.id
                )
            };
            TripletView {
                judgments_counted: counted.len() as i64,
                p1_share: (!counted.is_empty()).then(|| chose_p1 as f64 / counted.len() as f64),
                ref_url: url("ref"),
                p0_url: url("p0"),
                p1_url: url("p1"),
                judgments,
                id: triplet.id,
                reference_image_id: triplet.reference_image_id,
                reference_file_name: triplet.file_name,
                crop_x: triplet.crop_x,
                crop_y: triplet.crop_y,
                p0_pipeline: triplet.p0_pipeline,
                p0_seed: triplet.p0_seed,
                p1_pipeline: triplet.p1_pipeline,
                p1_seed: triplet.p1_seed,
                p0_method: triplet.p0_method,
                p1_method: triplet.p1_method,
                sentinel_answer: triplet.sentinel_answer,
            }
        })
        .collect();
    Ok(TripletPage {
        total,
        offset,
        triplets,
    })
}

/// The part named by `image` (`<part>.png`, one of `parts`), or a 404
/// saying what the stimulus's images are.
fn stimulus_part<'a>(image: &'a str, parts: &[&str], names: &str) -> Result<&'a str> {
    image
        .strip_suffix(".png")
        .filter(|name| parts.contains(name))
        .ok_or_else(|| Error::NotFound(names.into()))
}

/// Image `image` (`ref.png`, `p0.png` or `p1.png`) of the experiment's
/// triplet `triplet_id`, as PNG.
pub async fn triplet_image(
    pool: &PgPool,
    experiment_id: i64,
    triplet_id: i64,
    image: &str,
) -> Result<Vec<u8>> {
    let image = stimulus_part(
        image,
        &["ref", "p0", "p1"],
        "a triplet's images are ref.png, p0.png and p1.png",
    )?;
    let png = sqlx::query_scalar!(
        r#"
        SELECT CASE $3 WHEN 'ref' THEN t.ref_png WHEN 'p0' THEN t.p0_png ELSE t.p1_png END
               AS "png!"
        FROM triplets t
        WHERE t.id = $1 AND t.experiment_id = $2
        "#,
        triplet_id,
        experiment_id,
        image,
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        Error::NotFound(format!(
            "experiment {experiment_id} has no triplet {triplet_id}"
        ))
    })?;
    Ok(png)
}

/// A page of a JND experiment's pairs (by id, from `offset`), each with how
/// it was made and every judgment with its measured timing and validity.
pub async fn pairs(pool: &PgPool, experiment_id: i64, offset: i64, limit: i64) -> Result<PairPage> {
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM pairs WHERE experiment_id = $1"#,
        experiment_id
    )
    .fetch_one(pool)
    .await?;
    let pairs = sqlx::query!(
        r#"SELECT p.id, coalesce(r.file_name, sr.file_name) AS file_name, p.crop_x, p.crop_y,
                  p.is_control, p.pipeline, p.seed, p.source_triplet_id, p.imported_item,
                  ip.judgments AS "imported_judgments?", ip.same_share AS "imported_same_share?"
           FROM pairs p
           LEFT JOIN reference_images r ON r.id = p.reference_image_id
           LEFT JOIN triplets t ON t.id = p.source_triplet_id
           LEFT JOIN reference_images sr ON sr.id = t.reference_image_id
           LEFT JOIN imported_pair_judgments ip ON ip.pair_id = p.id
           WHERE p.experiment_id = $1
           ORDER BY p.id
           OFFSET $2 LIMIT $3"#,
        experiment_id,
        offset,
        limit,
    )
    .fetch_all(pool)
    .await?;
    let pair_ids: Vec<i64> = pairs.iter().map(|pair| pair.id).collect();
    let flagged: HashSet<i64> = quality::flagged_worker_ids(pool, experiment_id)
        .await?
        .into_iter()
        .collect();
    let mut judgments: HashMap<i64, Vec<PairJudgmentView>> = HashMap::new();
    for row in sqlx::query!(
        r#"SELECT jt.pair_id, j.said_same, j.response_ms, j.refresh_interval_ms,
                  j.reference_exposure_ms AS "reference_exposure_ms!",
                  j.measured_gap_ms AS "measured_gap_ms!",
                  j.distorted_exposure_ms AS "distorted_exposure_ms!",
                  j.invalid_reason, w.id AS worker_id, w.platform, w.external_id
           FROM jnd_judgments j
           JOIN jnd_trials jt USING (assignment_id, position)
           JOIN assignments a ON a.id = j.assignment_id
           JOIN workers w ON w.id = a.worker_id
           WHERE jt.pair_id = ANY($1)
           ORDER BY j.server_time, j.id"#,
        &pair_ids,
    )
    .fetch_all(pool)
    .await?
    {
        judgments
            .entry(row.pair_id)
            .or_default()
            .push(PairJudgmentView {
                flagged_worker: flagged.contains(&row.worker_id),
                worker_id: WorkerId(row.worker_id),
                worker_platform: row.platform,
                worker_external_id: row.external_id,
                said_same: row.said_same,
                response_ms: row.response_ms,
                reference_exposure_ms: row.reference_exposure_ms,
                gap_ms: row.measured_gap_ms,
                distorted_exposure_ms: row.distorted_exposure_ms,
                refresh_interval_ms: row.refresh_interval_ms,
                invalid_reason: row.invalid_reason,
            });
    }
    let pairs = pairs
        .into_iter()
        .map(|pair| {
            let judgments = judgments.remove(&pair.id).unwrap_or_default();
            let counted: Vec<&PairJudgmentView> = judgments
                .iter()
                .filter(|j| j.invalid_reason.is_none() && !j.flagged_worker)
                .collect();
            let same = counted.iter().filter(|j| j.said_same).count();
            let url = |image: &str| {
                format!(
                    "/api/experiments/{experiment_id}/pairs/{}/{image}.png",
                    pair.id
                )
            };
            PairView {
                judgments_counted: counted.len() as i64,
                same_share: (!counted.is_empty()).then(|| same as f64 / counted.len() as f64),
                ref_url: url("ref"),
                distorted_url: url("distorted"),
                judgments,
                id: pair.id,
                reference_file_name: pair.file_name,
                crop_x: pair.crop_x,
                crop_y: pair.crop_y,
                is_control: pair.is_control,
                pipeline: pair.pipeline,
                seed: pair.seed,
                source_triplet_id: pair.source_triplet_id,
                imported_item: pair.imported_item,
                imported_judgments: pair.imported_judgments,
                imported_same_share: pair.imported_same_share,
            }
        })
        .collect();
    Ok(PairPage {
        total,
        offset,
        pairs,
    })
}

/// Image `image` (`ref.png` or `distorted.png`) of the experiment's pair
/// `pair_id`, as PNG.
pub async fn pair_image(
    pool: &PgPool,
    experiment_id: i64,
    pair_id: i64,
    image: &str,
) -> Result<Vec<u8>> {
    let image = stimulus_part(
        image,
        &["ref", "distorted"],
        "a pair's images are ref.png and distorted.png",
    )?;
    let png = sqlx::query_scalar!(
        r#"SELECT CASE $3 WHEN 'ref' THEN p.ref_png ELSE p.distorted_png END AS "png!"
           FROM pairs p
           WHERE p.id = $1 AND p.experiment_id = $2"#,
        pair_id,
        experiment_id,
        image,
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("experiment {experiment_id} has no pair {pair_id}")))?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::real_trials;

    #[test]
    fn real_trials_carry_no_float_noise_from_the_stored_rate() {
        assert_eq!(real_trials(20, 0.1), 18.0);
        assert_eq!(real_trials(20, 0.15), 17.0);
        assert_eq!(real_trials(4, 0.25), 3.0);
        assert_eq!(real_trials(10, 0.05), 9.5);
        assert_eq!(real_trials(7, 0.1).to_string(), "6.3");
        assert_eq!(real_trials(1000, 0.1), 900.0);
        assert_eq!(real_trials(12, 0.0), 12.0);
    }
}
