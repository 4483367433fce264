//! Additive noise: white (uniform, Gaussian), spectrally shaped Gaussian
//! (pink, blue, any exponent between brown and violet) and checkerboard.
//! Channels get independent noise; results are clipped to 0..=255.

use image::RgbImage;

use crate::error::Result;
use crate::fft::{Complex, InverseFft};
use crate::raster::round_to_u8;
use crate::rng::{below, fill_symmetric_uniform, standard_normal, StepRng};
use crate::spec::{
    BlueNoise, Checkerboard, ColoredNoise, Distort, GaussianNoise, PinkNoise, UniformNoise,
};

/// Adds `scale * noise` to the image; `noise` is channel-interleaved like the image.
fn add_scaled(image: &RgbImage, noise: &[f32], scale: f32) -> RgbImage {
    let mut out = image.clone();
    for (value, &n) in out.iter_mut().zip(noise) {
        *value = round_to_u8(f32::from(*value) + scale * n);
    }
    out
}

impl Distort for UniformNoise {
    fn distort(&self, image: &RgbImage, rng: &mut StepRng) -> Result<RgbImage> {
        let mut noise = vec![0.0; image.len()];
        fill_symmetric_uniform(rng, &mut noise);
        Ok(add_scaled(image, &noise, self.amplitude * 255.0))
    }
}

impl Distort for GaussianNoise {
    fn distort(&self, image: &RgbImage, rng: &mut StepRng) -> Result<RgbImage> {
        let noise: Vec<f32> = (0..image.len()).map(|_| standard_normal(rng)).collect();
        Ok(add_scaled(image, &noise, self.sigma * 255.0))
    }
}

impl Distort for PinkNoise {
    fn distort(&self, image: &RgbImage, rng: &mut StepRng) -> Result<RgbImage> {
        add_power_law_noise(image, rng, self.sigma, -1.0)
    }
}

impl Distort for BlueNoise {
    fn distort(&self, image: &RgbImage, rng: &mut StepRng) -> Result<RgbImage> {
        add_power_law_noise(image, rng, self.sigma, 1.0)
    }
}

impl Distort for ColoredNoise {
    fn distort(&self, image: &RgbImage, rng: &mut StepRng) -> Result<RgbImage> {
        add_power_law_noise(image, rng, self.sigma, self.exponent)
    }
}

fn add_power_law_noise(
    image: &RgbImage,
    rng: &mut StepRng,
    sigma: f32,
    exponent: f32,
) -> Result<RgbImage> {
    let noise = power_law_noise(
        rng,
        image.width() as usize,
        image.height() as usize,
        exponent,
    );
    Ok(add_scaled(image, &noise, sigma * 255.0))
}

/// Channel-interleaved Gaussian noise whose power spectrum is proportional to
/// f^exponent, each channel scaled to unit RMS over the image.
///
/// Synthesis: complex white Gaussian coefficients times the amplitude
/// f^(exponent/2), inverse FFT on a periodic power-of-two canvas, crop. Because
/// the amplitude is real and even, the real and imaginary parts of one
/// transform are two independent real fields, so three channels take two
/// transforms. The DC term is zero; a 1x1 image (DC only) gets no noise.
fn power_law_noise(rng: &mut StepRng, width: usize, height: usize, exponent: f32) -> Vec<f32> {
    let size = width.max(height).next_power_of_two();
    let amplitude = spectral_amplitude(size, exponent);
    let fft = InverseFft::new(size);
    let mut grid = vec![Complex::default(); size * size];
    let mut noise = vec![0.0; width * height * 3];

    for channels in [&[0, 1][..], &[2][..]] {
        for (coefficient, &a) in grid.iter_mut().zip(&amplitude) {
            *coefficient = Complex {
                re: a * standard_normal(rng),
                im: a * standard_normal(rng),
            };
        }
        fft.transform_2d(&mut grid);
        for (part, &channel) in channels.iter().enumerate() {
            let field = grid
                .chunks_exact(size)
                .take(height)
                .flat_map(|row| &row[..width]);
            let values = field.map(|c| if part == 0 { c.re } else { c.im });
            for (pixel, value) in noise.chunks_exact_mut(3).zip(values) {
                pixel[channel] = value;
            }
            normalise_channel(&mut noise, channel);
        }
    }
    noise
}

/// Amplitude f^(exponent/2) on the FFT grid (frequencies folded to
/// |k| <= size/2), zero at DC.
fn spectral_amplitude(size: usize, exponent: f32) -> Vec<f32> {
    // Distinct folded radii repeat a lot; a small table saves most powf calls.
    let half = size / 2 + 1;
    let mut by_fold = vec![0.0f32; half * half];
    for fy in 0..half {
        for fx in 0..half {
            let squared = (fx * fx + fy * fy) as f32 / (size * size) as f32;
            by_fold[fy * half + fx] = if fx + fy == 0 {
                0.0
            } else {
                libm::powf(squared, exponent / 4.0)
            };
        }
    }
    let fold = |k: usize| k.min(size - k);
    (0..size * size)
        .map(|i| by_fold[fold(i / size) * half + fold(i % size)])
        .collect()
}

/// Scales one channel of interleaved noise to unit RMS (sequential sum, so
/// the scale is reproducible); an all-zero channel stays zero.
fn normalise_channel(noise: &mut [f32], channel: usize) {
    let count = noise.len() / 3;
    let sum_of_squares: f64 = noise
        .chunks_exact(3)
        .map(|p| f64::from(p[channel]).powi(2))
        .sum();
    if sum_of_squares == 0.0 {
        return;
    }
    let scale = (1.0 / (sum_of_squares / count as f64).sqrt()) as f32;
    for pixel in noise.chunks_exact_mut(3) {
        pixel[channel] *= scale;
    }
}

impl Distort for Checkerboard {
    fn distort(&self, image: &RgbImage, rng: &mut StepRng) -> Result<RgbImage> {
        let period = self.cell as usize * 2;
        let (phase_x, phase_y) = (below(rng, period), below(rng, period));
        let amplitude = self.amplitude * 255.0;
        let mut out = image.clone();
        for (x, y, pixel) in out.enumerate_pixels_mut() {
            let cell_x = (x as usize + phase_x) / self.cell as usize;
            let cell_y = (y as usize + phase_y) / self.cell as usize;
            let sign = if (cell_x + cell_y).is_multiple_of(2) {
                1.0
            } else {
                -1.0
            };
            pixel.0 = pixel
                .0
                .map(|v| round_to_u8(f32::from(v) + sign * amplitude));
        }
        Ok(out)
    }
}
