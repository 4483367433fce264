/// Why two images cannot be compared by a metric.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
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
        /// What imposes the minimum, e.g. "ms-ssim (five scales of an 11×11 window)".
        needed_by: String,
        min_side: u32,
    },
    #[error("unknown metric {name:?}; the native metrics are {known}")]
    UnknownMetric { name: String, known: String },
}

pub type Result<T, E = MetricError> = std::result::Result<T, E>;

/// Checks that two images have the same size with each side at least
/// `min_side`, which `needed_by` (named in the error) requires.
pub(crate) fn check_pair(
    a: &image::RgbImage,
    b: &image::RgbImage,
    min_side: u32,
    needed_by: &str,
) -> Result<()> {
    if a.dimensions() != b.dimensions() {
        return Err(MetricError::SizeMismatch {
            a_width: a.width(),
            a_height: a.height(),
            b_width: b.width(),
            b_height: b.height(),
        });
    }
    if a.width() < min_side || a.height() < min_side {
        return Err(MetricError::TooSmall {
            width: a.width(),
            height: a.height(),
            needed_by: needed_by.to_owned(),
            min_side,
        });
    }
    Ok(())
}
