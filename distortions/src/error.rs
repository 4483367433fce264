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
    #[error("the image is too large ({width}x{height}); distortions support at most {MAX_SIDE} pixels per side")]
    ImageTooLarge { width: u32, height: u32 },
    #[error("sampler: {0}")]
    InvalidSampler(String),
    #[error("image codec: {0}")]
    Codec(String),
}

/// The largest supported width and height: JPEG's limit, which also keeps
/// every fixed-point sample position of the resampler below 2^22.
pub const MAX_SIDE: u32 = 65_535;

pub type Result<T, E = DistortionError> = std::result::Result<T, E>;
