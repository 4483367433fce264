use thiserror::Error;

/// Everything that can go wrong between a spec (or an image) and a distorted image.
#[derive(Debug, Error)]
pub enum DistortionError {
    #[error("{distortion}.{field} = {value} is outside the allowed range [{min}, {max}]")]
    OutOfRange {
        distortion: &'static str,
        field: &'static str,
        value: String,
        min: f64,
        max: f64,
    },
    #[error("invalid distortion spec: {0}")]
    InvalidSpec(String),
    #[error("invalid distortion spec, step {step}: {message}")]
    InvalidStep { step: usize, message: String },
    #[error("the image is empty ({width}x{height}); distortions need at least 1x1 pixels")]
    EmptyImage { width: u32, height: u32 },
    #[error("sampler: {0}")]
    InvalidSampler(String),
    #[error("image codec: {0}")]
    Codec(String),
}

pub type Result<T, E = DistortionError> = std::result::Result<T, E>;
