use crate::error::LpipsError;
use crate::training::output::Trained;

/// An error from a [`crate::training::PatchSource`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can stop training.
#[derive(Debug, thiserror::Error)]
pub enum TrainingError {
    #[error("no {role} triplets: training needs judged 2AFC triplets")]
    NoTriplets { role: &'static str },
    #[error("{role} triplet {index} has judge {judge}; the share preferring p1 must be in [0, 1]")]
    BadJudge {
        role: &'static str,
        index: usize,
        judge: f32,
    },
    #[error("{role} triplet {index} refers to patch {patch}, but there are {count} patches")]
    PatchIndex {
        role: &'static str,
        index: usize,
        patch: usize,
        count: usize,
    },
    /// The source names the patch (see [`crate::training::PatchSource`]).
    #[error("cannot read a patch: {source}")]
    Patch { source: BoxError },
    #[error("invalid training settings: {0}")]
    Settings(String),
    #[error(
        "training stopped at epoch {epoch}, step {step} ({global_step} steps in all): {reason} \
         (loss {loss}); the weights from before that step are kept"
    )]
    NonFinite {
        reason: &'static str,
        loss: f32,
        epoch: usize,
        /// 1-based within the epoch.
        step: usize,
        global_step: usize,
        /// The last good weights and the record up to the failed step.
        last_good: Box<Trained>,
    },
    #[error("cannot keep the checkpoint of epoch {epoch}: {source}")]
    Checkpoint { epoch: usize, source: BoxError },
    #[error("cannot write {path}: {reason}")]
    Write {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error(transparent)]
    Lpips(#[from] LpipsError),
}

impl From<tch::TchError> for TrainingError {
    fn from(error: tch::TchError) -> Self {
        TrainingError::Lpips(LpipsError::Torch(error))
    }
}
