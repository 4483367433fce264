//! The practice trial a worker answers before an assignment.
//!
//! A 2AFC experiment's is made from its first real triplet: its reference
//! patch in the middle, the patch itself on one side and its p0 on the
//! other. A JND experiment's is its first pair that is not a control, whose
//! answer is "different". Either way the right answer is known and the
//! worker can be told. Only what the trial needs is exposed, nothing else
//! of the experiment's settings.

use percept_api::{jnd::JndPresentation, judgments::Side, practice::PracticeTrial};
use sqlx::PgPool;

use crate::error::{Error, Result};

/// The experiment's practice trial, with its images' URLs.
pub async fn trial(pool: &PgPool, experiment_id: i64) -> Result<PracticeTrial> {
    let url = |image: &str| format!("/api/experiments/{experiment_id}/practice/{image}.png");
    Ok(match practice_stimulus(pool, experiment_id).await? {
        PracticeStimulus::Triplet(triplet_id) => PracticeTrial::TwoAfc {
            reference_url: url("reference"),
            left_url: url("left"),
            right_url: url("right"),
            identical_side: identical_side(triplet_id),
        },
        PracticeStimulus::Pair { presentation, .. } => PracticeTrial::Jnd {
            presentation,
            reference_url: url("reference"),
            distorted_url: url("distorted"),
        },
    })
}

/// Image `image_name` (`reference.png`, `left.png` or `right.png` of a 2AFC
/// practice trial, `reference.png` or `distorted.png` of a JND one), as PNG.
pub async fn image(pool: &PgPool, experiment_id: i64, image_name: &str) -> Result<Vec<u8>> {
    let stimulus = practice_stimulus(pool, experiment_id).await?;
    let names: &[&str] = match stimulus {
        PracticeStimulus::Triplet(_) => &["reference", "left", "right"],
        PracticeStimulus::Pair { .. } => &["reference", "distorted"],
    };
    let Some(image) = image_name
        .strip_suffix(".png")
        .filter(|name| names.contains(name))
    else {
        return Err(Error::NotFound(format!(
            "the practice trial's images are {}",
            names
                .iter()
                .map(|name| format!("{name}.png"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let png = match stimulus {
        PracticeStimulus::Triplet(triplet_id) => {
            let triplet = sqlx::query!(
                "SELECT ref_png, p0_png FROM triplets WHERE id = $1",
                triplet_id
            )
            .fetch_one(pool)
            .await?;
            if image == "reference" || image == identical_side(triplet_id).as_str() {
                triplet.ref_png
            } else {
                triplet.p0_png
            }
        }
        PracticeStimulus::Pair { pair_id, .. } => {
            let pair = sqlx::query!(
                "SELECT ref_png, distorted_png FROM pairs WHERE id = $1",
                pair_id
            )
            .fetch_one(pool)
            .await?;
            if image == "reference" {
                pair.ref_png
            } else {
                pair.distorted_png
            }
        }
    };
    Ok(png)
}

/// What an experiment's practice trial shows.
enum PracticeStimulus {
    Triplet(i64),
    Pair {
        pair_id: i64,
        presentation: JndPresentation,
    },
}

/// The experiment's first triplet that is not a sentinel (a sentinel's p0
/// may be the reference itself, which would leave no right answer), or its
/// first pair that is not a control.
async fn practice_stimulus(pool: &PgPool, experiment_id: i64) -> Result<PracticeStimulus> {
    let experiment = sqlx::query!(
        r#"
        SELECT e.kind, e.reference_ms, e.gap_ms, e.distorted_ms,
               (SELECT t.id FROM triplets t
                WHERE t.experiment_id = e.id AND t.sentinel_answer IS NULL
                ORDER BY t.id LIMIT 1) AS triplet_id,
               (SELECT p.id FROM pairs p
                WHERE p.experiment_id = e.id AND NOT p.is_control
                ORDER BY p.id LIMIT 1) AS pair_id
        FROM experiments e WHERE e.id = $1
        "#,
        experiment_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("there is no experiment {experiment_id}")))?;
    let stimulus = if experiment.kind == "jnd" {
        experiment.pair_id.map(|pair_id| PracticeStimulus::Pair {
            pair_id,
            presentation: JndPresentation {
                reference_ms: experiment.reference_ms,
                gap_ms: experiment.gap_ms,
                distorted_ms: experiment.distorted_ms,
            },
        })
    } else {
        experiment.triplet_id.map(PracticeStimulus::Triplet)
    };
    stimulus.ok_or_else(|| {
        Error::NotFound(format!(
            "experiment {experiment_id} has no stimuli to practise on yet"
        ))
    })
}

/// Which side shows the reference unchanged. Derived from the triplet, so
/// the trial and its images agree without any stored state, and it differs
/// between experiments.
fn identical_side(triplet_id: i64) -> Side {
    if triplet_id % 2 == 0 {
        Side::Left
    } else {
        Side::Right
    }
}
