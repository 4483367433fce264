//! What a worker arriving at `/e/{id}` is told before anything else: which
//! kind of experiment it is (so the instructions the server renders are the
//! right ones, before any script runs), and whether it has work for them.
//!
//! Not a JSON endpoint: the server looks it up when it renders the landing
//! page and the page carries it into hydration.

use serde::{Deserialize, Serialize};

/// The experiment as a worker arriving at its link meets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    /// `2afc` or `jnd`; `None` when there is no such experiment.
    pub kind: Option<String>,
    /// Why no assignment can be given, if none can.
    pub refusal: Option<Refusal>,
    /// Where the platform expects the worker to go back to: the
    /// experiment's completion redirect URL, when one is set.
    pub return_url: Option<String>,
}

impl Arrival {
    pub fn is_jnd(&self) -> bool {
        self.kind.as_deref() == Some("jnd")
    }
}

/// Why a worker arriving at an experiment's link can be given no trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// There is no experiment with that id.
    NotFound,
    /// The researcher closed it (or archived it).
    Closed,
    /// Its stimuli are still being generated, or generation failed.
    NotReady,
    /// Every stimulus has the judgments it needs (or the rest are being
    /// judged now).
    Full,
    /// This worker has done as many assignments as the experiment allows.
    WorkerLimit,
}

impl Refusal {
    /// What the worker reads, in plain words.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotFound => "There is no study at this link.",
            Refusal::Closed => "This study has closed: it takes no more participants.",
            Refusal::NotReady => "This study is not open yet.",
            Refusal::Full => {
                "This study has all the answers it needs: it takes no more participants."
            }
            Refusal::WorkerLimit => {
                "You have already taken part in this study as many times as it allows."
            }
        }
    }

    /// A stable name, for the page's markup and for tests.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotFound => "not_found",
            Refusal::Closed => "closed",
            Refusal::NotReady => "not_ready",
            Refusal::Full => "full",
            Refusal::WorkerLimit => "worker_limit",
        }
    }
}
