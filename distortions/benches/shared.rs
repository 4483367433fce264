//! Inputs shared by the criterion bench and the Python comparison's timer, so
//! both measure the same settings on the same patch.

use distortions::image::{Rgb, RgbImage};
use distortions::{Distortion, KINDS};

/// A 64x64 patch with gradients, texture and grain (BAPPS' patch size).
pub fn patch() -> RgbImage {
    RgbImage::from_fn(64, 64, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let texture = 25.0 * (fx * 0.7).sin() * (fy * 0.45).cos();
        let grain = ((x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)) % 21) as f32 - 10.0;
        Rgb([
            (60.0 + 1.5 * fx + texture + grain) as u8,
            (70.0 + 1.2 * fy - texture + grain) as u8,
            (150.0 - 0.6 * (fx + fy) + texture) as u8,
        ])
    })
}

/// Every type at three quarters of each parameter's range: clearly visible,
/// never an identity setting (the midpoint of a symmetric range would be).
pub fn representative_settings() -> Vec<Distortion> {
    KINDS
        .iter()
        .map(|kind| {
            let values: Vec<f64> = kind
                .params
                .iter()
                .map(|p| p.min + 0.75 * (p.max - p.min))
                .collect();
            Distortion::from_param_values(kind.name, &values).expect("in-range values")
        })
        .collect()
}

/// A typical 3-step pipeline: one photometric, one noise, one spatial step.
pub const THREE_STEP_PIPELINE: &str = r#"[
    {"type":"contrast","factor":1.3},
    {"type":"gaussian_noise","sigma":0.05},
    {"type":"affine_warp","rotation":6,"scale":1.05,"shear":0.05}
]"#;
