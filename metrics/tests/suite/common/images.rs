//! Reproducible test images without a dependency: noise, smooth synthetic
//! images and a few traditional distortions. Shared with the `lpips` tests
//! (included there by path).

use image::RgbImage;

/// SplitMix64: reproducible images without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Uniform noise.
pub fn noise_image(rng: &mut Rng, width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |_, _| {
        image::Rgb([0; 3].map(|_: u8| rng.below(256) as u8))
    })
}

/// A smooth, natural-ish image: a few random coloured sinusoids.
pub fn smooth_image(rng: &mut Rng, width: u32, height: u32) -> RgbImage {
    let waves: Vec<[f64; 5]> = (0..4)
        .map(|_| {
            [
                rng.unit() * 0.3,
                rng.unit() * 0.3,
                rng.unit() * std::f64::consts::TAU,
                rng.unit() * 60.0,
                rng.below(3) as f64,
            ]
        })
        .collect();
    let base = [0; 3].map(|_: u8| 60.0 + rng.unit() * 120.0);
    RgbImage::from_fn(width, height, |x, y| {
        let mut pixel = base;
        for [fx, fy, phase, amplitude, channel] in &waves {
            let value = amplitude * (fx * f64::from(x) + fy * f64::from(y) + phase).sin();
            for (c, level) in pixel.iter_mut().enumerate() {
                *level += if c == *channel as usize {
                    value
                } else {
                    value * 0.3
                };
            }
        }
        image::Rgb(pixel.map(|v| v.clamp(0.0, 255.0) as u8))
    })
}

/// One of a few traditional distortions of `image`, chosen by `kind`.
pub fn distort(rng: &mut Rng, image: &RgbImage, kind: u64) -> RgbImage {
    let (width, height) = image.dimensions();
    match kind % 4 {
        // Additive Gaussian-ish noise.
        0 => {
            let sigma = 5.0 + rng.unit() * 40.0;
            RgbImage::from_fn(width, height, |x, y| {
                let p = image.get_pixel(x, y).0;
                image::Rgb(p.map(|v| {
                    let n = (rng.unit() + rng.unit() + rng.unit() - 1.5) * 2.0 * sigma;
                    (f64::from(v) + n).clamp(0.0, 255.0) as u8
                }))
            })
        }
        // Box blur.
        1 => {
            let radius = 1 + rng.below(3) as i64;
            RgbImage::from_fn(width, height, |x, y| {
                let mut sum = [0u32; 3];
                let mut count = 0;
                for dy in -radius..=radius {
                    for dx in -radius..=radius {
                        let sx = (i64::from(x) + dx).clamp(0, i64::from(width) - 1) as u32;
                        let sy = (i64::from(y) + dy).clamp(0, i64::from(height) - 1) as u32;
                        let p = image.get_pixel(sx, sy).0;
                        for c in 0..3 {
                            sum[c] += u32::from(p[c]);
                        }
                        count += 1;
                    }
                }
                image::Rgb(sum.map(|s| (s / count) as u8))
            })
        }
        // Contrast and brightness change.
        2 => {
            let gain = 0.5 + rng.unit();
            let offset = rng.unit() * 60.0 - 30.0;
            RgbImage::from_fn(width, height, |x, y| {
                image::Rgb(
                    image
                        .get_pixel(x, y)
                        .0
                        .map(|v| (f64::from(v) * gain + offset).clamp(0.0, 255.0) as u8),
                )
            })
        }
        // Posterisation.
        _ => {
            let step = 8 << rng.below(3);
            RgbImage::from_fn(width, height, |x, y| {
                image::Rgb(image.get_pixel(x, y).0.map(|v| v / step * step))
            })
        }
    }
}
