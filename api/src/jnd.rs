//! JND trials: a reference patch, a blank, then a distorted version (or the
//! reference again, for a control); the worker says whether they were the
//! same. The page measures when each image was really on screen, and the
//! server decides from that whether the trial counts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The presentation sequence of an experiment's JND trials, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JndPresentation {
    pub reference_ms: i32,
    pub gap_ms: i32,
    pub distorted_ms: i32,
}

/// Where a JND trial's two images are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JndTrialUrls {
    pub position: i32,
    pub reference_url: String,
    pub distorted_url: String,
}

impl JndTrialUrls {
    /// The URLs of the JND trial at `position` of the assignment with `token`.
    pub fn for_position(token: &str, position: i32) -> Self {
        let url = |image: &str| format!("/api/assignments/{token}/trials/{position}/{image}.png");
        JndTrialUrls {
            position,
            reference_url: url("reference"),
            distorted_url: url("distorted"),
        }
    }
}

/// The JND side of an assignment: how trials are presented, and the trials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JndAssignment {
    pub presentation: JndPresentation,
    /// In order; trials repeating invalid ones are appended as they are made.
    pub trials: Vec<JndTrialUrls>,
}

/// When the page put each image on screen and took it off: timestamps of
/// the animation frames (`requestAnimationFrame`, ms on the page's
/// `performance.now()` clock) in which it changed the screen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeasuredTiming {
    /// The page's estimate of the display's frame interval.
    pub refresh_interval_ms: f64,
    pub reference_on_at_ms: f64,
    pub reference_off_at_ms: f64,
    pub distorted_on_at_ms: f64,
    pub distorted_off_at_ms: f64,
    /// Whether the page was hidden (another tab, a locked phone) or lost the
    /// focus at any moment of the sequence.
    pub lost_visibility: bool,
    pub lost_focus: bool,
}

impl MeasuredTiming {
    pub fn reference_exposure_ms(&self) -> f64 {
        self.reference_off_at_ms - self.reference_on_at_ms
    }

    pub fn gap_ms(&self) -> f64 {
        self.distorted_on_at_ms - self.reference_off_at_ms
    }

    pub fn distorted_exposure_ms(&self) -> f64 {
        self.distorted_off_at_ms - self.distorted_on_at_ms
    }

    /// Why a trial with this timing does not show what `presentation`
    /// promises, or None if it does: an exposure or the gap off by more than
    /// one frame, or the page hidden or unfocused during the sequence.
    pub fn invalid_reason(&self, presentation: &JndPresentation) -> Option<String> {
        if self.lost_visibility {
            return Some("the page was hidden during the sequence".into());
        }
        if self.lost_focus {
            return Some("the page lost the focus during the sequence".into());
        }
        // Frame timestamps are exact multiples of the interval up to
        // sub-millisecond jitter, which this slack absorbs.
        let tolerance_ms = self.refresh_interval_ms + 0.5;
        [
            (
                "reference exposure",
                self.reference_exposure_ms(),
                presentation.reference_ms,
            ),
            ("gap", self.gap_ms(), presentation.gap_ms),
            (
                "distorted exposure",
                self.distorted_exposure_ms(),
                presentation.distorted_ms,
            ),
        ]
        .into_iter()
        .find(|(_, measured, wanted)| (measured - f64::from(*wanted)).abs() > tolerance_ms)
        .map(|(what, measured, wanted)| {
            format!(
                "the {what} lasted {measured:.1} ms instead of {wanted} ms, more than one \
                 frame ({:.1} ms) off",
                self.refresh_interval_ms
            )
        })
    }
}

/// `POST /api/assignments/{token}/jnd-judgments`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewJndJudgment {
    /// Made by the client, so a retried submission is recognised.
    pub id: Uuid,
    pub position: i32,
    pub said_same: bool,
    /// From the moment the distorted patch left the screen (the question's onset).
    pub response_ms: i32,
    pub client_time: DateTime<Utc>,
    pub timing: MeasuredTiming,
}

/// The answer to a stored JND judgment: whether it counts, and where its
/// assignment stands now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JndJudgmentReceipt {
    pub id: Uuid,
    pub valid: bool,
    pub invalid_reason: Option<String>,
    /// For an invalid trial: the trial appended to the assignment to show its
    /// pair again (none once the pair has been retried as often as allowed).
    pub retry: Option<JndTrialUrls>,
    pub completed: bool,
    pub completion_code: Option<String>,
    pub redirect_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRESENTATION: JndPresentation = JndPresentation {
        reference_ms: 1000,
        gap_ms: 250,
        distorted_ms: 1000,
    };

    fn timing(reference: f64, gap: f64, distorted: f64) -> MeasuredTiming {
        MeasuredTiming {
            refresh_interval_ms: 1000.0 / 60.0,
            reference_on_at_ms: 500.0,
            reference_off_at_ms: 500.0 + reference,
            distorted_on_at_ms: 500.0 + reference + gap,
            distorted_off_at_ms: 500.0 + reference + gap + distorted,
            lost_visibility: false,
            lost_focus: false,
        }
    }

    #[test]
    fn whole_frames_nearest_the_durations_are_valid() {
        // 60 frames, 15 frames, 60 frames at 60 Hz.
        assert_eq!(
            timing(1000.0, 250.0, 1000.0).invalid_reason(&PRESENTATION),
            None
        );
        // One frame late on each.
        assert_eq!(
            timing(1016.7, 266.7, 1016.7).invalid_reason(&PRESENTATION),
            None
        );
    }

    #[test]
    fn more_than_a_frame_off_is_invalid() {
        let reason = timing(1000.0, 284.0, 1000.0).invalid_reason(&PRESENTATION);
        assert!(reason
            .unwrap()
            .starts_with("the gap lasted 284.0 ms instead of 250 ms"));
        assert!(timing(966.0, 250.0, 1000.0)
            .invalid_reason(&PRESENTATION)
            .is_some());
    }

    #[test]
    fn losing_visibility_or_focus_is_invalid() {
        let mut hidden = timing(1000.0, 250.0, 1000.0);
        hidden.lost_visibility = true;
        assert!(hidden
            .invalid_reason(&PRESENTATION)
            .unwrap()
            .contains("hidden"));
        let mut blurred = timing(1000.0, 250.0, 1000.0);
        blurred.lost_focus = true;
        assert!(blurred
            .invalid_reason(&PRESENTATION)
            .unwrap()
            .contains("focus"));
    }
}
