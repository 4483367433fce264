//! Additive noise: white (uniform, Gaussian), spectrally shaped Gaussian
//! (pink, blue, any exponent between brown and violet) and checkerboard.
//! Channels get independent noise; results are clipped to 0..=255.

use std::cell::RefCell;
use std::rc::Rc;

use image::RgbImage;
use rand_chacha::rand_core::RngCore;

use crate::error::Result;
use crate::fft::InverseFft;
use crate::raster::{round_offset, round_to_u8};
use crate::rng::{below, fill_standard_normal, symmetric_unit_f32, StepRng};
use crate::simd::multiversion;
use crate::spec::{
    BlueNoise, Checkerboard, ColoredNoise, Distort, GaussianNoise, PinkNoise, UniformNoise,
};

/// Adds `scale * noise` to the image; `noise` is channel-interleaved like the image.
fn add_scaled(image: &RgbImage, noise: &[f32], scale: f32) -> RgbImage {
    let mut out = image.clone();
    add_scaled_values(&mut out, noise, scale);
    out
}

multiversion! {
    fn add_scaled_values(values: &mut [u8], noise: &[f32], scale: f32) {
        for (value, &n) in values.iter_mut().zip(noise) {
            *value = add_scaled_value(*value, n, scale);
        }
    }
}

#[inline]
fn add_scaled_value(value: u8, noise: f32, scale: f32) -> u8 {
    round_to_u8(f32::from(value) + scale * noise)
}

/// Values added to the image at a time: the noise of one chunk is drawn into
/// a stack buffer (no allocation) and used while in L1.
const CHUNK: usize = 1024;

/// Adds `scale` times white noise that `draw` fills in, drawn in `CHUNK`s.
/// The chunks have even lengths (but the last), so a sampler drawing values
/// in pairs consumes its stream exactly as in one call for the whole image.
fn add_white_noise(image: &RgbImage, scale: f32, mut draw: impl FnMut(&mut [f32])) -> RgbImage {
    let mut noise = [0f32; CHUNK];
    let mut out = image.clone();
    for values in out.chunks_mut(CHUNK) {
        let noise = &mut noise[..values.len()];
        draw(noise);
        add_scaled_values(values, noise, scale);
    }
    out
}

impl Distort for UniformNoise {
    fn distort(&self, image: &RgbImage, rng: &mut StepRng) -> Result<RgbImage> {
        // One stream word per value, as `rng::fill_symmetric_uniform`, but
        // converted in the loop that adds it: no pass through a float buffer.
        // Words are fetched in bulk so ChaCha runs its SIMD backend.
        let scale = self.amplitude * 255.0;
        let mut words = [0u8; 4 * CHUNK];
        let mut out = image.clone();
        for values in out.chunks_mut(CHUNK) {
            let words = &mut words[..4 * values.len()];
            rng.fill_bytes(words);
            add_scaled_uniform(values, words, scale);
        }
        Ok(out)
    }
}

multiversion! {
    /// `add_scaled_values` with the noise of each value taken from its
    /// little-endian 32-bit word in `words`.
    fn add_scaled_uniform(values: &mut [u8], words: &[u8], scale: f32) {
        for (value, word) in values.iter_mut().zip(words.chunks_exact(4)) {
            let bits = u32::from_le_bytes(word.try_into().expect("four bytes"));
            *value = add_scaled_value(*value, symmetric_unit_f32(bits), scale);
        }
    }
}

impl Distort for GaussianNoise {
    fn distort(&self, image: &RgbImage, rng: &mut StepRng) -> Result<RgbImage> {
        Ok(add_white_noise(image, self.sigma * 255.0, |noise| {
            fill_standard_normal(rng, noise)
        }))
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
    let synthesis = Synthesis::for_size(size);
    let amplitude = synthesis.amplitude(exponent);
    let mut re = vec![0.0; size * size];
    let mut im = vec![0.0; size * size];
    let mut noise = vec![0.0; width * height * 3];

    for channels in [&[0, 1][..], &[2][..]] {
        for plane in [&mut re, &mut im] {
            fill_standard_normal(rng, plane);
            for (coefficient, &a) in plane.iter_mut().zip(amplitude.iter()) {
                *coefficient *= a;
            }
        }
        synthesis.fft.transform_2d(&mut re, &mut im);
        for (&channel, plane) in channels.iter().zip([&re, &im]) {
            let rows = || {
                plane
                    .chunks_exact(size)
                    .take(height)
                    .map(|row| &row[..width])
            };
            let scale = unit_rms_scale(rows(), width * height);
            // Row by row: a flattened iterator over the rows costs a branch
            // per value.
            for (noise_row, row) in noise.chunks_exact_mut(width * 3).zip(rows()) {
                for (pixel, &value) in noise_row.chunks_exact_mut(3).zip(row) {
                    pixel[channel] = value * scale;
                }
            }
        }
    }
    noise
}

/// What noise synthesis on one canvas size reuses across calls: the FFT's
/// twiddles, the log of every folded squared frequency and the amplitudes of
/// the latest exponents. All are pure functions of the size (and exponent),
/// so caching them per thread cannot change any bits.
struct Synthesis {
    size: usize,
    fft: InverseFft,
    /// ln(|f|^2) for folded frequencies (fx, fy) in 0..=size/2, row-major;
    /// unused at DC.
    log_squared_frequency: Vec<f32>,
    /// (exponent bits, amplitude), oldest first.
    amplitudes: RefCell<Vec<(u32, Rc<[f32]>)>>,
}

/// Amplitude grids kept per canvas size: pink and blue noise each reuse one.
const CACHED_AMPLITUDES: usize = 4;

impl Synthesis {
    fn for_size(size: usize) -> Rc<Self> {
        thread_local! {
            static CACHE: RefCell<Vec<Rc<Synthesis>>> = const { RefCell::new(Vec::new()) };
        }
        CACHE.with_borrow_mut(|cache| {
            if let Some(found) = cache.iter().find(|s| s.size == size) {
                return Rc::clone(found);
            }
            let half = size / 2 + 1;
            let log_squared_frequency = (0..half * half)
                .map(|i| {
                    let (fy, fx) = (i / half, i % half);
                    libm::logf((fx * fx + fy * fy) as f32 / (size * size) as f32)
                })
                .collect();
            let synthesis = Rc::new(Synthesis {
                size,
                fft: InverseFft::new(size),
                log_squared_frequency,
                amplitudes: RefCell::new(Vec::new()),
            });
            cache.push(Rc::clone(&synthesis));
            synthesis
        })
    }

    /// Amplitude f^(exponent/2) on the FFT grid (frequencies folded to
    /// |k| <= size/2), zero at DC.
    fn amplitude(&self, exponent: f32) -> Rc<[f32]> {
        let key = exponent.to_bits();
        let mut cache = self.amplitudes.borrow_mut();
        if let Some((_, found)) = cache.iter().find(|(bits, _)| *bits == key) {
            return Rc::clone(found);
        }
        let amplitude: Rc<[f32]> = self.compute_amplitude(exponent).into();
        if cache.len() == CACHED_AMPLITUDES {
            cache.remove(0);
        }
        cache.push((key, Rc::clone(&amplitude)));
        amplitude
    }

    fn compute_amplitude(&self, exponent: f32) -> Vec<f32> {
        let size = self.size;
        let half = size / 2 + 1;
        // (f^2)^(exponent/4), once per distinct folded frequency.
        let by_fold: Vec<f32> = self
            .log_squared_frequency
            .iter()
            .enumerate()
            .map(|(i, &log)| {
                if i == 0 {
                    0.0
                } else {
                    libm::expf(exponent / 4.0 * log)
                }
            })
            .collect();
        let fold = |k: usize| k.min(size - k);
        (0..size * size)
            .map(|i| by_fold[fold(i / size) * half + fold(i % size)])
            .collect()
    }
}

/// The factor that scales `count` values, given as rows, to unit RMS; 1 for
/// all zeros. Squares are summed into eight partial sums combined in a fixed
/// order: they pipeline and vectorise, and the order, so the bits, is set
/// here rather than by the machine.
fn unit_rms_scale<'a>(rows: impl Iterator<Item = &'a [f32]>, count: usize) -> f32 {
    let mut partial = [0f64; 8];
    for row in rows {
        for chunk in row.chunks(8) {
            for (sum, &value) in partial.iter_mut().zip(chunk) {
                *sum += f64::from(value) * f64::from(value);
            }
        }
    }
    let sum_of_squares: f64 = partial.iter().sum();
    if sum_of_squares == 0.0 {
        return 1.0;
    }
    (1.0 / (sum_of_squares / count as f64).sqrt()) as f32
}

impl Distort for Checkerboard {
    fn distort(&self, image: &RgbImage, rng: &mut StepRng) -> Result<RgbImage> {
        let cell = self.cell as usize;
        let period = cell * 2;
        let (phase_x, phase_y) = (below(rng, period), below(rng, period));
        let offsets = [self.amplitude, -self.amplitude].map(|a| round_offset(a * 255.0));
        // The per-sample offsets of a row whose cells start with the lighter
        // sign, and of one starting with the darker: every row is one of them.
        let stride = image.width() as usize * 3;
        let row_offsets = [0, 1].map(|start| -> Vec<i16> {
            (0..stride)
                .map(|i| offsets[(start + (i / 3 + phase_x) / cell) % 2])
                .collect()
        });
        let mut out = image.clone();
        for (y, row) in out.chunks_exact_mut(stride).enumerate() {
            let pattern = &row_offsets[((y + phase_y) / cell) % 2];
            for (value, &offset) in row.iter_mut().zip(pattern) {
                *value = (i16::from(*value) + offset).clamp(0, 255) as u8;
            }
        }
        Ok(out)
    }
}
