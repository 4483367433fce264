//! The practice trial shown before an assignment, whose answer is known.

use serde::{Deserialize, Serialize};

use super::jnd::JndPresentation;
use super::judgments::Side;

/// `GET /api/experiments/{id}/practice`: a trial of the experiment's kind
/// whose right answer is known.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind")]
pub enum PracticeTrial {
    /// One of the experiment's reference patches, itself on one side and a
    /// distorted version on the other.
    #[serde(rename = "2afc")]
    TwoAfc {
        reference_url: String,
        left_url: String,
        right_url: String,
        /// The side showing the reference patch unchanged: the right answer.
        identical_side: Side,
    },
    /// One of the experiment's pairs that differ, shown as its trials are:
    /// the right answer is "different".
    #[serde(rename = "jnd")]
    Jnd {
        presentation: JndPresentation,
        reference_url: String,
        distorted_url: String,
    },
}
