use std::path::PathBuf;

/// Everything that can go wrong building a bank, loading a network or
/// applying it.
#[derive(Debug, thiserror::Error)]
pub enum CnnError {
    #[error("no CNN bank at {dir}: build one first (e.g. `percept distort cnn-bank build --count 24 --seed 0`)")]
    NoBank { dir: PathBuf },
    #[error("network `{id}` is not in the bank at {dir}; it holds: {available}")]
    UnknownNetwork {
        id: String,
        dir: PathBuf,
        available: String,
    },
    #[error("the weights of network `{id}` ({location}) have SHA-256 {actual}, but its record says {expected}: the bank was altered or corrupted, so the network is refused; {remedy}")]
    HashMismatch {
        id: String,
        /// Where the weights were read from.
        location: String,
        /// How to get a sound network back.
        remedy: String,
        expected: String,
        actual: String,
    },
    #[error("network `{id}` in the bank was built from a different spec than seed {bank_seed} gives now (other sampler ranges?); build into another folder, or delete `{id}.json` and `{id}.safetensors` to retrain it")]
    SpecMismatch { id: String, bank_seed: u64 },
    #[error("the weights of network `{id}` do not fit its spec: {message}")]
    WeightsMismatch { id: String, message: String },
    #[error("network `{id}` cannot take a {width}x{height} patch: {needs}")]
    UnsupportedPatchSize {
        id: String,
        width: u32,
        height: u32,
        needs: String,
    },
    #[error("{0}")]
    InvalidInput(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid network record: {source}")]
    BadRecord {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{location} is not a valid safetensors file: {message}")]
    BadWeightsFile { location: String, message: String },
    #[error("input degradation: {0}")]
    Degradation(#[from] distortions::DistortionError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

pub type Result<T, E = CnnError> = std::result::Result<T, E>;

/// Attaches the path to an I/O error.
pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CnnError + '_ {
    move |source| CnnError::Io {
        path: path.to_owned(),
        source,
    }
}
