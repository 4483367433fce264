//! An experiment after creation: closing it (no new assignments), reopening,
//! archiving (closed and hidden from the dashboard's list), editing the
//! settings that are safe to change, and deleting it with everything it
//! holds. Used by `PATCH`/`DELETE /api/experiments/{id}` and by
//! `percept experiment close|reopen|archive|delete|edit`.

use std::fmt;

use percept_api::count;
use percept_api::experiments::{ExperimentDeletion, ExperimentPatch};
use sqlx::PgPool;

use crate::error::{Error, Result};

/// Whether an experiment hands out assignments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Open,
    /// No new assignments; running ones may be finished unless cut off.
    Closed,
    /// Closed, and hidden from the dashboard's list.
    Archived,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Open => "open",
            Lifecycle::Closed => "closed",
            Lifecycle::Archived => "archived",
        }
    }
}

impl std::str::FromStr for Lifecycle {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "open" => Ok(Lifecycle::Open),
            "closed" => Ok(Lifecycle::Closed),
            "archived" => Ok(Lifecycle::Archived),
            other => Err(Error::Invalid(format!(
                "the lifecycle is open, closed or archived, not {other:?}"
            ))),
        }
    }
}

/// Why each setting that defines the stimuli or their analysis cannot change
/// after creation; a patch naming one is refused with its reason.
const FIXED_SETTINGS: &[(&str, &str)] = &[
    ("patch_size", "it defines the stimuli (their crops)"),
    (
        "seed",
        "it defines the stimuli (every crop, pipeline and sentinel derives from it)",
    ),
    (
        "patches_per_image",
        "it defines how many stimuli were generated",
    ),
    ("sampler", "it defines the stimuli's distortion pipelines"),
    ("sentinel_rate", "it defines which triplets are sentinels"),
    ("kind", "2AFC and JND experiments hold different stimuli"),
    (
        "split",
        "it names the dataset the stimuli belong to; create a new experiment",
    ),
    (
        "category",
        "it names the dataset the stimuli belong to; create a new experiment",
    ),
    (
        "trials_per_assignment",
        "assignments already handed out were cut to it",
    ),
    (
        "max_sentinel_failure_share",
        "it decides whose judgments count in reports already made",
    ),
    (
        "jnd",
        "the JND sequence and controls define how the judgments were collected",
    ),
    (
        "reference_ms",
        "the JND sequence defines how the judgments were collected",
    ),
    (
        "gap_ms",
        "the JND sequence defines how the judgments were collected",
    ),
    (
        "distorted_ms",
        "the JND sequence defines how the judgments were collected",
    ),
    ("control_share", "it defines which pairs are controls"),
];

/// What [`patch`] may change: every field of [`ExperimentPatch`] but `fixed`.
const EDITABLE: &str = "lifecycle, cut_off_open_assignments, name, completion_redirect_url, \
                        max_assignments_per_worker, judgments_per_stimulus, assignment_ttl_minutes, \
                        serve_imported_stimuli";

/// How refusals name the settings: as the API's JSON fields
/// (`judgments_per_stimulus`), or as the flags of `percept experiment edit`
/// (`--judgments-per-stimulus`), so each caller reads the names it typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingNames {
    ApiFields,
    CliFlags,
}

impl SettingNames {
    fn of(self, field: &str) -> String {
        match self {
            SettingNames::ApiFields => field.to_owned(),
            SettingNames::CliFlags => format!("--{}", field.replace('_', "-")),
        }
    }
}

/// Checks the whole patch, then applies it in one transaction; returns how
/// many running assignments it cut off. Nothing changes when any part is
/// refused; refusals name the settings as `names` says.
pub async fn patch(
    pool: &PgPool,
    experiment_id: i64,
    patch: &ExperimentPatch,
    names: SettingNames,
) -> Result<i64> {
    let mut refusals = Vec::new();
    for key in patch.fixed.keys() {
        match FIXED_SETTINGS.iter().find(|(name, _)| name == key) {
            Some((name, reason)) => {
                refusals.push(format!("{name} cannot change after creation: {reason}"))
            }
            None => refusals.push(format!(
                "there is no setting {key:?} to change; the editable ones are {EDITABLE}"
            )),
        }
    }
    let lifecycle = patch
        .lifecycle
        .as_deref()
        .map(str::parse::<Lifecycle>)
        .transpose()?;
    if patch.cut_off_open_assignments
        && !matches!(lifecycle, Some(Lifecycle::Closed | Lifecycle::Archived))
    {
        refusals.push(format!(
            "{} goes with lifecycle closed or archived",
            names.of("cut_off_open_assignments")
        ));
    }
    let name = patch.name.as_deref().map(str::trim);
    if name.is_some_and(str::is_empty) {
        refusals.push(match names {
            SettingNames::ApiFields => "the experiment's name must not be empty".into(),
            SettingNames::CliFlags => "--name must not be empty".into(),
        });
    }
    // An empty redirect removes it.
    let redirect = patch
        .completion_redirect_url
        .as_deref()
        .map(|url| Some(url.trim()).filter(|url| !url.is_empty()));
    if let Some(Some(url)) = redirect {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            refusals.push(format!(
                "{} must start with https:// or http://, not {url:?}",
                match names {
                    SettingNames::ApiFields => "the completion redirect URL".into(),
                    SettingNames::CliFlags => names.of("completion_redirect_url"),
                }
            ));
        }
    }
    for (field, value) in [
        (
            "max_assignments_per_worker",
            patch.max_assignments_per_worker,
        ),
        ("judgments_per_stimulus", patch.judgments_per_stimulus),
    ] {
        if let Some(value) = value {
            if value == 0 || i32::try_from(value).is_err() {
                refusals.push(format!(
                    "{} must be at least 1 and below 2^31, not {value}",
                    names.of(field)
                ));
            }
        }
    }
    if let Some(minutes) = patch.assignment_ttl_minutes {
        if !(1..=60 * 24 * 365).contains(&minutes) {
            refusals.push(format!(
                "{} must be between 1 and 525600 (a year), not {minutes}",
                names.of("assignment_ttl_minutes")
            ));
        }
    }
    if !refusals.is_empty() {
        return Err(Error::Invalid(refusals.join("; ")));
    }

    let mut transaction = pool.begin().await?;
    let updated = sqlx::query_scalar!(
        "UPDATE experiments SET
             lifecycle = coalesce($2, lifecycle),
             name = coalesce($3, name),
             completion_redirect_url = CASE WHEN $4 THEN $5 ELSE completion_redirect_url END,
             max_assignments_per_worker = coalesce($6, max_assignments_per_worker),
             judgments_per_stimulus = coalesce($7, judgments_per_stimulus),
             assignment_ttl = coalesce(make_interval(mins => $8), assignment_ttl),
             serve_imported_stimuli = coalesce($9, serve_imported_stimuli)
         WHERE id = $1
         RETURNING id",
        experiment_id,
        lifecycle.map(Lifecycle::as_str),
        name,
        redirect.is_some(),
        redirect.flatten(),
        patch.max_assignments_per_worker.map(|value| value as i32),
        patch.judgments_per_stimulus.map(|value| value as i32),
        patch.assignment_ttl_minutes.map(|minutes| minutes as i32),
        patch.serve_imported_stimuli,
    )
    .fetch_optional(&mut *transaction)
    .await?;
    if updated.is_none() {
        return Err(Error::NotFound(format!(
            "there is no experiment {experiment_id}"
        )));
    }
    let cut_off = if patch.cut_off_open_assignments {
        sqlx::query!(
            "UPDATE assignments SET expires_at = now()
             WHERE experiment_id = $1 AND completed_at IS NULL AND expires_at > now()",
            experiment_id
        )
        .execute(&mut *transaction)
        .await?
        .rows_affected() as i64
    } else {
        0
    };
    transaction.commit().await?;
    Ok(cut_off)
}

/// Sets the lifecycle alone (the CLI's close, reopen and archive, whose
/// refusals name its flags).
pub async fn set_lifecycle(
    pool: &PgPool,
    experiment_id: i64,
    lifecycle: Lifecycle,
    cut_off_open_assignments: bool,
) -> Result<i64> {
    patch(
        pool,
        experiment_id,
        &ExperimentPatch {
            lifecycle: Some(lifecycle.as_str().into()),
            cut_off_open_assignments,
            ..ExperimentPatch::default()
        },
        SettingNames::CliFlags,
    )
    .await
}

/// Says what a deletion loses, in a sentence.
pub struct Loss<'a>(pub &'a ExperimentDeletion);

impl fmt::Display for Loss<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loss = self.0;
        write!(
            f,
            "experiment {} ({:?}) holds {} from {} in {}, {}, {} from {}, {} and {}",
            loss.id,
            loss.name,
            count(loss.judgments, "judgment", "judgments"),
            count(loss.workers, "worker", "workers"),
            count(loss.assignments, "assignment", "assignments"),
            count(
                loss.imported_judgments,
                "imported judgment",
                "imported judgments"
            ),
            count(loss.stimuli, "stimulus", "stimuli"),
            count(loss.reference_images, "reference image", "reference images"),
            count(loss.distances, "metric distance", "metric distances"),
            count(loss.jobs, "job", "jobs"),
        )
    }
}

/// Deletes the experiment and everything it holds, in one transaction, and
/// returns what was lost. An experiment holding judgments (collected or
/// imported) is only deleted when `confirmation` is its name; otherwise the
/// refusal says what would be lost and `how_to_confirm` (e.g. `pass
/// --confirm NAME`). JND experiments whose pairs came from it keep their
/// pairs (copied) and forget their source.
pub async fn delete(
    pool: &PgPool,
    experiment_id: i64,
    confirmation: Option<&str>,
    how_to_confirm: &str,
) -> Result<ExperimentDeletion> {
    let mut transaction = pool.begin().await?;
    // Locked, so no assignment or judgment slips in between the count and the delete.
    let loss = sqlx::query_as!(
        ExperimentDeletion,
        r#"
        SELECT e.id, e.name,
               (SELECT count(*) FROM judgments j JOIN assignments a ON a.id = j.assignment_id
                WHERE a.experiment_id = e.id)
               + (SELECT count(*) FROM jnd_judgments j JOIN assignments a ON a.id = j.assignment_id
                  WHERE a.experiment_id = e.id) AS "judgments!",
               (SELECT coalesce(sum(ij.judgments), 0) FROM imported_judgments ij
                JOIN triplets t ON t.id = ij.triplet_id WHERE t.experiment_id = e.id)
               + (SELECT coalesce(sum(ip.judgments), 0) FROM imported_pair_judgments ip
                  JOIN pairs p ON p.id = ip.pair_id WHERE p.experiment_id = e.id)
                   AS "imported_judgments!",
               (SELECT count(*) FROM workers w WHERE w.experiment_id = e.id) AS "workers!",
               (SELECT count(*) FROM assignments a WHERE a.experiment_id = e.id) AS "assignments!",
               (SELECT count(*) FROM triplets t WHERE t.experiment_id = e.id)
               + (SELECT count(*) FROM pairs p WHERE p.experiment_id = e.id) AS "stimuli!",
               (SELECT count(*) FROM reference_images r WHERE r.experiment_id = e.id)
                   AS "reference_images!",
               (SELECT count(*) FROM triplet_distances d JOIN triplets t ON t.id = d.triplet_id
                WHERE t.experiment_id = e.id)
               + (SELECT count(*) FROM pair_distances d JOIN pairs p ON p.id = d.pair_id
                  WHERE p.experiment_id = e.id) AS "distances!",
               (SELECT count(*) FROM jobs WHERE jobs.experiment_id = e.id) AS "jobs!"
        FROM experiments e
        WHERE e.id = $1
        FOR UPDATE OF e
        "#,
        experiment_id
    )
    .fetch_optional(&mut *transaction)
    .await?
    .ok_or_else(|| Error::NotFound(format!("there is no experiment {experiment_id}")))?;
    let holds_judgments = loss.judgments > 0 || loss.imported_judgments > 0;
    if holds_judgments && confirmation.map(str::trim) != Some(loss.name.as_str()) {
        let mismatch = match confirmation {
            Some(given) => format!(" ({given:?} is not its name)"),
            None => String::new(),
        };
        return Err(Error::Conflict(format!(
            "{}: deleting it loses them all; to delete it, {how_to_confirm}{mismatch}",
            Loss(&loss)
        )));
    }
    // Pairs taken from imported triplets have nothing else to say how they
    // were made (their check would fail): their experiments go first.
    let dependants = sqlx::query_scalar!(
        r#"SELECT DISTINCT p.experiment_id AS "experiment_id!" FROM pairs p
           JOIN triplets t ON t.id = p.source_triplet_id
           WHERE t.experiment_id = $1 AND p.pipeline IS NULL AND p.imported_item IS NULL
           ORDER BY 1"#,
        experiment_id
    )
    .fetch_all(&mut *transaction)
    .await?;
    if !dependants.is_empty() {
        let ids: Vec<String> = dependants.iter().map(i64::to_string).collect();
        return Err(Error::Conflict(format!(
            "the pairs of JND experiment(s) {} are this experiment's imported triplets and \
             cannot outlive them: delete those first",
            ids.join(", ")
        )));
    }
    // Workers, assignments, judgments, reference images, stimuli, distances,
    // shares and jobs go with it (ON DELETE CASCADE).
    sqlx::query!("DELETE FROM experiments WHERE id = $1", experiment_id)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(loss)
}
