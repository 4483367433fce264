//! Who the worker is, from the crowd platform's link parameters.

use crate::api::assignments::{AssignmentRequest, Platform};

/// MTurk shows a HIT's page before it is accepted with this assignment id.
const MTURK_PREVIEW_ASSIGNMENT: &str = "ASSIGNMENT_ID_NOT_AVAILABLE";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrowdIdentity {
    /// Prolific's `PROLIFIC_PID`, `STUDY_ID` and `SESSION_ID`.
    Prolific {
        participant_id: String,
        study_id: Option<String>,
        session_id: Option<String>,
    },
    /// MTurk's `workerId`, `hitId` and `assignmentId`.
    Mturk {
        worker_id: String,
        hit_id: Option<String>,
        assignment_id: Option<String>,
    },
    /// An MTurk HIT being previewed: the worker must accept it before starting.
    MturkPreview,
    /// No platform: the server hands out an id, which the browser keeps.
    Anonymous,
}

impl CrowdIdentity {
    /// Reads the platform parameters through `query`, which looks a name up
    /// in the page's query string. Blank values count as missing.
    pub fn from_query(query: impl Fn(&str) -> Option<String>) -> Self {
        let value = |name: &str| query(name).filter(|value| !value.trim().is_empty());
        if let Some(participant_id) = value("PROLIFIC_PID") {
            return CrowdIdentity::Prolific {
                participant_id,
                study_id: value("STUDY_ID"),
                session_id: value("SESSION_ID"),
            };
        }
        if value("assignmentId").as_deref() == Some(MTURK_PREVIEW_ASSIGNMENT) {
            return CrowdIdentity::MturkPreview;
        }
        if let Some(worker_id) = value("workerId") {
            return CrowdIdentity::Mturk {
                worker_id,
                hit_id: value("hitId"),
                assignment_id: value("assignmentId"),
            };
        }
        CrowdIdentity::Anonymous
    }

    /// What the consent says the answers are recorded with.
    pub fn recorded_with(&self) -> &'static str {
        match self {
            CrowdIdentity::Anonymous => {
                "with a random id kept in this browser (no name, no platform ID)"
            }
            _ => "with my platform ID",
        }
    }

    /// How the worker is told who they are taking part as.
    pub fn description(&self) -> String {
        match self {
            CrowdIdentity::Prolific { participant_id, .. } => {
                format!("You are taking part through Prolific as participant {participant_id}.")
            }
            CrowdIdentity::Mturk { worker_id, .. } => {
                format!("You are taking part through Mechanical Turk as worker {worker_id}.")
            }
            CrowdIdentity::MturkPreview => {
                "This is a preview: accept the HIT on Mechanical Turk to take part.".into()
            }
            CrowdIdentity::Anonymous => "You are taking part anonymously.".into(),
        }
    }

    /// The request for an assignment; `anonymous_worker_id` is the id an
    /// anonymous worker was given before, if any. None for a preview.
    pub fn assignment_request(
        &self,
        anonymous_worker_id: Option<String>,
    ) -> Option<AssignmentRequest> {
        Some(match self.clone() {
            CrowdIdentity::Prolific {
                participant_id,
                study_id,
                session_id,
            } => AssignmentRequest {
                platform: Platform::Prolific,
                platform_worker_id: Some(participant_id),
                study_id,
                session_id,
            },
            // The HIT is the study; the MTurk assignment is this visit.
            CrowdIdentity::Mturk {
                worker_id,
                hit_id,
                assignment_id,
            } => AssignmentRequest {
                platform: Platform::Mturk,
                platform_worker_id: Some(worker_id),
                study_id: hit_id,
                session_id: assignment_id,
            },
            CrowdIdentity::MturkPreview => return None,
            CrowdIdentity::Anonymous => AssignmentRequest {
                platform: Platform::Anonymous,
                platform_worker_id: anonymous_worker_id,
                study_id: None,
                session_id: None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(pairs: &[(&str, &str)]) -> CrowdIdentity {
        CrowdIdentity::from_query(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    #[test]
    fn prolific_parameters_become_worker_study_and_session() {
        let request = identity(&[
            ("PROLIFIC_PID", "p1"),
            ("STUDY_ID", "s1"),
            ("SESSION_ID", "x1"),
        ])
        .assignment_request(None)
        .unwrap();
        assert_eq!(request.platform, Platform::Prolific);
        assert_eq!(request.platform_worker_id.as_deref(), Some("p1"));
        assert_eq!(request.study_id.as_deref(), Some("s1"));
        assert_eq!(request.session_id.as_deref(), Some("x1"));
    }

    #[test]
    fn mturk_hit_is_the_study_and_its_assignment_the_session() {
        let request = identity(&[("workerId", "w"), ("assignmentId", "a"), ("hitId", "h")])
            .assignment_request(None)
            .unwrap();
        assert_eq!(request.platform, Platform::Mturk);
        assert_eq!(request.platform_worker_id.as_deref(), Some("w"));
        assert_eq!(request.study_id.as_deref(), Some("h"));
        assert_eq!(request.session_id.as_deref(), Some("a"));
    }

    #[test]
    fn an_mturk_preview_cannot_start() {
        let preview = identity(&[("assignmentId", MTURK_PREVIEW_ASSIGNMENT), ("hitId", "h")]);
        assert_eq!(preview, CrowdIdentity::MturkPreview);
        assert!(preview.assignment_request(None).is_none());
    }

    #[test]
    fn without_parameters_the_worker_is_anonymous_and_keeps_their_id() {
        let anonymous = identity(&[("PROLIFIC_PID", " ")]);
        assert_eq!(anonymous, CrowdIdentity::Anonymous);
        let request = anonymous.assignment_request(Some("kept".into())).unwrap();
        assert_eq!(request.platform, Platform::Anonymous);
        assert_eq!(request.platform_worker_id.as_deref(), Some("kept"));
    }
}
