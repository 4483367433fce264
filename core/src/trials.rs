//! A worker's view of their assignment: where it stands (so a reloaded trial
//! page resumes at its first unanswered trial) and each trial's images,
//! reachable only with the assignment's token.

use percept_api::assignments::{AssignmentProgress, TrialUrls};
use percept_api::jnd::{JndAssignment, JndPresentation, JndTrialUrls};
use sqlx::PgPool;

use crate::error::{Error, Result};

/// Where the assignment with `token` stands: its trials, which are judged,
/// and its completion.
pub async fn progress(pool: &PgPool, token: &str) -> Result<AssignmentProgress> {
    // One snapshot for the assignment and its trials, so a judgment landing
    // in between cannot make them disagree.
    let mut transaction = pool.begin().await?;
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
                .map(|position| JndTrialUrls::for_position(token, position))
                .collect(),
        };
        (Vec::new(), Some(jnd))
    } else {
        let trials = positions
            .map(|position| TrialUrls::for_position(token, position))
            .collect();
        (trials, None)
    };
    let completed = assignment.completion_code.is_some();
    Ok(AssignmentProgress {
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
    })
}

/// Image `image` (`reference.png`, `left.png` or `right.png` of a 2AFC
/// trial; `reference.png` or `distorted.png` of a JND trial) of the trial at
/// `position` of the assignment with `token`, as PNG.
pub async fn image(pool: &PgPool, token: &str, position: i32, image: &str) -> Result<Vec<u8>> {
    let image = image
        .strip_suffix(".png")
        .filter(|name| ["reference", "left", "right", "distorted"].contains(name));
    let Some(image) = image else {
        return Err(Error::NotFound(
            "a trial's images are reference.png, left.png and right.png (2AFC), \
             or reference.png and distorted.png (JND)"
                .into(),
        ));
    };
    // Which stored patch is on which side was drawn per trial: left is p0
    // exactly when left_is_p0, right is p0 exactly when it is not. An
    // assignment has trials of one kind, so at most one half answers.
    let png = sqlx::query_scalar!(
        r#"
        SELECT CASE WHEN $3 = 'reference' THEN t.ref_png
                    WHEN ($3 = 'left') = at.left_is_p0 THEN t.p0_png
                    ELSE t.p1_png
               END AS "png!"
        FROM assignments a
        JOIN assignment_trials at ON at.assignment_id = a.id
        JOIN triplets t ON t.id = at.triplet_id
        WHERE a.token = $1 AND at.position = $2 AND $3 IN ('reference', 'left', 'right')
        UNION ALL
        SELECT CASE WHEN $3 = 'reference' THEN p.ref_png ELSE p.distorted_png END
        FROM assignments a
        JOIN jnd_trials jt ON jt.assignment_id = a.id
        JOIN pairs p ON p.id = jt.pair_id
        WHERE a.token = $1 AND jt.position = $2 AND $3 IN ('reference', 'distorted')
        "#,
        token,
        position,
        image,
    )
    .fetch_optional(pool)
    .await?;
    let Some(png) = png else {
        let known_token = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM assignments WHERE token = $1) AS "exists!""#,
            token
        )
        .fetch_one(pool)
        .await?;
        return Err(Error::NotFound(if known_token {
            format!("the assignment has no trial at position {position} with an image {image}.png")
        } else {
            "there is no assignment with this token".into()
        }));
    };
    Ok(png)
}
