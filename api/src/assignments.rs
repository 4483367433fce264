//! Assignments: a batch of trials handed to one worker, reached by its token.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::jnd::JndAssignment;

/// The crowd platform a worker came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Prolific,
    Mturk,
    Anonymous,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Prolific => "prolific",
            Platform::Mturk => "mturk",
            Platform::Anonymous => "anonymous",
        }
    }
}

/// `POST /api/experiments/{id}/assignments`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignmentRequest {
    pub platform: Platform,
    /// The platform's worker id (Prolific's participant id, MTurk's worker
    /// id); for anonymous workers the id the server gave them before, or none
    /// for a new one. Also accepted as `worker_id`.
    #[serde(alias = "worker_id")]
    pub platform_worker_id: Option<String>,
    pub study_id: Option<String>,
    pub session_id: Option<String>,
}

/// The answer to an `AssignmentRequest`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assignment {
    pub token: String,
    /// Who the server counts this assignment against; anonymous workers keep
    /// it to come back as the same worker.
    pub platform_worker_id: String,
    /// A 2AFC assignment's trials; empty for a JND assignment.
    pub trials: Vec<TrialUrls>,
    /// Present exactly when the assignment is of a JND experiment: its
    /// trials and how they are presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jnd: Option<JndAssignment>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrialUrls {
    pub position: i32,
    pub reference_url: String,
    pub left_url: String,
    pub right_url: String,
}

impl TrialUrls {
    /// The URLs of the trial at `position` of the assignment with `token`.
    pub fn for_position(token: &str, position: i32) -> Self {
        let url = |image: &str| format!("/api/assignments/{token}/trials/{position}/{image}.png");
        TrialUrls {
            position,
            reference_url: url("reference"),
            left_url: url("left"),
            right_url: url("right"),
        }
    }
}

/// `GET /api/assignments/{token}`: where an assignment stands, so a reloaded
/// page resumes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignmentProgress {
    /// A 2AFC assignment's trials; empty for a JND assignment.
    pub trials: Vec<TrialUrls>,
    /// Present exactly for a JND assignment, as in `Assignment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jnd: Option<JndAssignment>,
    /// The positions the server has a judgment for.
    pub judged_positions: Vec<i32>,
    pub completed: bool,
    pub completion_code: Option<String>,
    pub redirect_url: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// Whether `expires_at` has passed (by the server's clock) while
    /// unfinished: the assignment takes no more judgments.
    pub expired: bool,
}
