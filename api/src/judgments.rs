//! Judgments: a worker's answer to one trial.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A side of the screen: which patch the worker chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    Right,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }
}

/// `POST /api/assignments/{token}/judgments`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewJudgment {
    /// Made by the client, so a retried submission is recognised.
    pub id: Uuid,
    pub position: i32,
    pub chosen_side: Side,
    /// From the moment all three images were on screen.
    pub response_ms: i32,
    pub client_time: DateTime<Utc>,
}

/// The answer to a stored judgment: where its assignment stands now.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JudgmentReceipt {
    pub id: Uuid,
    /// Whether every trial of the assignment is now judged.
    pub completed: bool,
    pub completion_code: Option<String>,
    pub redirect_url: Option<String>,
}
