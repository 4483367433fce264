//! Synthetic test images and measurements shared by the integration tests.

use distortions::Pipeline;
use image::{Rgb, RgbImage};

/// Smooth colour gradients plus a sinusoidal texture and hashed pixel noise,
/// kept inside 30..=225 so small distortions are not clipped away.
pub fn textured(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let texture = 25.0 * (fx * 0.7).sin() * (fy * 0.45).cos();
        let hash = (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)) % 21;
        let grain = hash as f32 - 10.0;
        Rgb([
            (60.0 + 1.5 * fx + texture + grain) as u8,
            (70.0 + 1.2 * fy - texture + grain) as u8,
            (150.0 - 0.6 * (fx + fy) + texture) as u8,
        ])
    })
}

pub fn flat(width: u32, height: u32, value: u8) -> RgbImage {
    RgbImage::from_pixel(width, height, Rgb([value; 3]))
}

/// Black with a white 3x3 square centred on (x, y).
pub fn dot(width: u32, height: u32, x: u32, y: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |px, py| {
        let inside = px.abs_diff(x) <= 1 && py.abs_diff(y) <= 1;
        Rgb([if inside { 255 } else { 0 }; 3])
    })
}

pub fn apply(spec: &str, image: &RgbImage, seed: u64) -> RgbImage {
    Pipeline::from_json(spec)
        .unwrap_or_else(|e| panic!("{spec}: {e}"))
        .apply(image, seed)
        .unwrap()
}

/// Per-sample difference `after - before`, channel-interleaved.
pub fn residual(before: &RgbImage, after: &RgbImage) -> Vec<f64> {
    before
        .iter()
        .zip(after.iter())
        .map(|(&b, &a)| f64::from(a) - f64::from(b))
        .collect()
}

pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

pub fn std_dev(values: &[f64]) -> f64 {
    let m = mean(values);
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / values.len() as f64).sqrt()
}

pub fn luma_values(image: &RgbImage) -> Vec<f64> {
    image
        .pixels()
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect()
}

pub fn mean_squared_error(a: &RgbImage, b: &RgbImage) -> f64 {
    let r = residual(a, b);
    r.iter().map(|v| v * v).sum::<f64>() / r.len() as f64
}

/// Sum of squared differences between horizontal and vertical neighbours.
pub fn high_frequency_energy(image: &RgbImage) -> f64 {
    let (w, h) = image.dimensions();
    let mut energy = 0.0;
    for y in 0..h {
        for x in 0..w {
            let here = image.get_pixel(x, y);
            for (nx, ny) in [(x + 1, y), (x, y + 1)] {
                if nx < w && ny < h {
                    let there = image.get_pixel(nx, ny);
                    energy += (0..3)
                        .map(|c| (f64::from(here[c]) - f64::from(there[c])).powi(2))
                        .sum::<f64>();
                }
            }
        }
    }
    energy
}

/// Intensity-weighted centre of one channel.
pub fn centroid(image: &RgbImage, channel: usize) -> (f64, f64) {
    let (mut sx, mut sy, mut total) = (0.0, 0.0, 0.0);
    for (x, y, p) in image.enumerate_pixels() {
        let v = f64::from(p[channel]);
        sx += v * f64::from(x);
        sy += v * f64::from(y);
        total += v;
    }
    (sx / total, sy / total)
}

/// Mean correlation between horizontally adjacent values of a
/// channel-interleaved residual of the given width.
pub fn neighbour_correlation(residual: &[f64], width: usize) -> f64 {
    let m = mean(residual);
    let variance = residual.iter().map(|v| (v - m).powi(2)).sum::<f64>() / residual.len() as f64;
    let row = width * 3;
    let mut sum = 0.0;
    let mut count = 0;
    for line in residual.chunks_exact(row) {
        for i in 0..row - 3 {
            sum += (line[i] - m) * (line[i + 3] - m);
            count += 1;
        }
    }
    sum / count as f64 / variance
}
