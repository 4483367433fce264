use std::path::PathBuf;

/// Everything that can go wrong loading weights or images, or scoring.
#[derive(Debug, thiserror::Error)]
pub enum LpipsError {
    #[error("cannot read weights file {path}: {source}")]
    WeightsUnreadable {
        path: PathBuf,
        source: tch::TchError,
    },
    #[error("weights file {path} has no tensor `{name}` (is it the {net} weights?)")]
    MissingTensor {
        path: PathBuf,
        name: String,
        net: &'static str,
    },
    #[error("tensor `{name}` in {path} has shape {actual:?} and kind {kind:?}, expected {expected:?} float32 (is it the {net} weights?)")]
    BadTensor {
        path: PathBuf,
        name: String,
        net: &'static str,
        actual: Vec<i64>,
        kind: tch::Kind,
        expected: Vec<i64>,
    },
    #[error("tensor `{name}` in {path} contains NaN or infinite values")]
    NonFiniteTensor { path: PathBuf, name: String },
    #[error("cannot read image {path}: {source}")]
    ImageUnreadable {
        path: PathBuf,
        source: image::ImageError,
    },
    #[error("images differ in size: {a_width}x{a_height} vs {b_width}x{b_height}")]
    SizeMismatch {
        a_width: u32,
        a_height: u32,
        b_width: u32,
        b_height: u32,
    },
    #[error("image is {width}x{height}; {needed_by} needs at least {min_side}x{min_side}")]
    TooSmall {
        width: u32,
        height: u32,
        /// What imposes the minimum, e.g. "the alex network".
        needed_by: String,
        min_side: u32,
    },
    #[error("patch index {index} is out of range ({count} patches)")]
    PatchIndex { index: usize, count: usize },
    #[error("unknown network `{0}`; expected `alex` or `vgg`")]
    UnknownNet(String),
    #[error("unknown device `{0}`; expected cpu, cuda or auto")]
    UnknownDevice(String),
    #[error("--device cuda: libtorch sees no CUDA device on this machine (use cpu, or auto to take a GPU only when there is one)")]
    CudaUnavailable,
    #[error("libtorch error: {0}")]
    Torch(#[from] tch::TchError),
}

pub type Result<T, E = LpipsError> = std::result::Result<T, E>;
