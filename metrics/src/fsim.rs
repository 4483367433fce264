//! FSIM and FSIMc, the feature similarity of Zhang, Zhang, Mou & Zhang
//! (2011), as piq 0.8's `fsim` computes it (after the authors'
//! `FeatureSIM.m` and Kovesi's `phasecong2.m`):
//!
//! - levels in [0, 255]; images whose shorter side is at least 384 are first
//!   average-pooled by `round(min side / 256)` (Python's rounding, half to
//!   even), as the authors' code downsamples;
//! - YIQ (`rgb2yiq`): phase congruency and gradients on Y, and for FSIMc the
//!   chrominance similarities of I and Q (T3 = T4 = 200, λ = 0.03);
//! - phase congruency from log-Gabor filters built in the frequency domain of
//!   the whole image (4 scales from wavelength 6 in steps of ×2, σ_f = 0.55;
//!   4 orientations, Δθ ratio 1.2; Butterworth low-pass 0.45, order 15), the
//!   noise threshold from the median smallest-scale energy (torch's median:
//!   the lower middle value), k = 2, and the empirical /1.7; the image is
//!   periodic, as the FFT makes it;
//! - Scharr gradient magnitudes with zero padding; T1 = 0.85, T2 = 160;
//! - FSIM = Σ S_PC S_G PC_max / Σ PC_max.
//!
//! Stored as the distances `1 − FSIM` and `1 − FSIMc`. Any size from 2×2
//! (a 1-pixel side makes piq's frequency grid divide by zero).
//!
//! The filter bank, its noise constants and the FFT plans depend only on the
//! (pooled) image size and are built once per size and thread; the forward
//! transform runs along rows then columns and leaves the spectrum transposed,
//! so that each of the 16 inverse transforms needs one transpose.

use std::cell::RefCell;
use std::f64::consts::PI;
use std::sync::Arc;

use image::RgbImage;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::error::{check_pair, Result};
use crate::plane::{average_pool, gradient_magnitude, scratch, similarity, yiq_component};

/// The smallest side piq's FSIM is defined at.
pub const MIN_SIDE: u32 = 2;
const SCALES: usize = 4;
const ORIENTATIONS: usize = 4;
const MIN_WAVELENGTH: f64 = 6.0;
const MULT: f64 = 2.0;
const SIGMA_F: f64 = 0.55;
const DELTA_THETA: f64 = 1.2;
const K: f64 = 2.0;
const T1: f32 = 0.85;
const T2: f32 = 160.0;
const T3: f32 = 200.0;
const T4: f32 = 200.0;
const LAMBDA: f32 = 0.03;
const SCHARR: [f32; 3] = [3.0 / 16.0, 10.0 / 16.0, 3.0 / 16.0];

/// Filters and plans for one image size.
struct Bank {
    width: usize,
    height: usize,
    /// `ORIENTATIONS * SCALES` real transfer functions, index
    /// `o * SCALES + s`, in transposed layout (`kx * height + ky`), with the
    /// inverse transform's `1 / (width * height)` folded in.
    filters: Vec<Vec<f32>>,
    /// Per orientation, the noise threshold divided by the square root of
    /// the median smallest-scale energy.
    threshold_per_root_median: [f32; ORIENTATIONS],
    forward_rows: Arc<dyn Fft<f32>>,
    forward_columns: Arc<dyn Fft<f32>>,
    inverse_rows: Arc<dyn Fft<f32>>,
    inverse_columns: Arc<dyn Fft<f32>>,
}

#[derive(Default)]
struct Scratch {
    banks: Vec<Bank>,
    images: [Maps; 2],
    /// A YIQ component before pooling.
    raw: Vec<f32>,
    padded: Vec<f32>,
    transforms: Transforms,
}

/// One image's maps at the (pooled) working size.
#[derive(Default)]
struct Maps {
    /// Y, I and Q.
    yiq: [Vec<f32>; 3],
    phase: Vec<f32>,
    gradient: Vec<f32>,
}

/// Buffers for [`phase_congruency`].
#[derive(Default)]
struct Transforms {
    spectrum: Vec<Complex<f32>>,
    responses: Vec<Complex<f32>>,
    transposed: Vec<Complex<f32>>,
    fft_scratch: Vec<Complex<f32>>,
    energy: Vec<f32>,
    amplitude: Vec<f32>,
    median: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = Default::default();
}

/// `1 − FSIM(a, b)` on luminance (see the module docs).
pub fn fsim(a: &RgbImage, b: &RgbImage) -> Result<f64> {
    feature_similarity_distance(a, b, false)
}

/// `1 − FSIMc(a, b)`, with the chrominance term (see the module docs).
pub fn fsimc(a: &RgbImage, b: &RgbImage) -> Result<f64> {
    feature_similarity_distance(a, b, true)
}

fn feature_similarity_distance(a: &RgbImage, b: &RgbImage, chromatic: bool) -> Result<f64> {
    check_pair(a, b, MIN_SIDE, if chromatic { "fsimc" } else { "fsim" })?;
    let (width, height) = (a.width() as usize, a.height() as usize);
    let pool = ((width.min(height) as f64 / 256.0).round_ties_even() as usize).max(1);
    let (width, height) = (width / pool, height / pool);
    SCRATCH.with_borrow_mut(|s| {
        let components = if chromatic { 3 } else { 1 };
        for (image, maps) in [a, b].into_iter().zip(s.images.iter_mut()) {
            for (row, component) in maps.yiq.iter_mut().enumerate().take(components) {
                if pool == 1 {
                    yiq_component(image, row, 255.0, component);
                } else {
                    yiq_component(image, row, 255.0, &mut s.raw);
                    let (raw_width, raw_height) = (image.width() as usize, image.height() as usize);
                    average_pool(&s.raw, raw_width, raw_height, pool, component);
                }
            }
        }
        let bank = match s
            .banks
            .iter()
            .position(|b| b.width == width && b.height == height)
        {
            Some(index) => &s.banks[index],
            None => {
                s.banks.push(Bank::new(width, height));
                &s.banks[s.banks.len() - 1]
            }
        };
        for maps in &mut s.images {
            phase_congruency(bank, &maps.yiq[0], &mut s.transforms, &mut maps.phase);
            gradient_magnitude(
                &maps.yiq[0],
                width,
                height,
                SCHARR,
                &mut s.padded,
                &mut maps.gradient,
            );
        }
        let [x, y] = &s.images;
        let (mut weighted, mut total) = (0.0f64, 0.0f64);
        for i in 0..x.phase.len() {
            let (pa, pb) = (x.phase[i], y.phase[i]);
            let pc_max = pa.max(pb);
            let mut score =
                similarity(pa, pb, T1) * similarity(x.gradient[i], y.gradient[i], T2) * pc_max;
            if chromatic {
                let chroma = similarity(x.yiq[1][i], y.yiq[1][i], T3)
                    * similarity(x.yiq[2][i], y.yiq[2][i], T4);
                score *= chroma.abs().powf(LAMBDA);
            }
            weighted += f64::from(score);
            total += f64::from(pc_max);
        }
        Ok(1.0 - weighted / total)
    })
}

/// The phase congruency map of a `bank.width` x `bank.height` luminance
/// plane, into `out` (row-major).
fn phase_congruency(bank: &Bank, luminance: &[f32], s: &mut Transforms, out: &mut Vec<f32>) {
    let (width, height) = (bank.width, bank.height);
    let count = width * height;
    let eps = f32::EPSILON;
    // The spectrum, transposed: rows along the image's rows, then along its
    // columns as rows of the transpose.
    s.responses.clear();
    s.responses
        .extend(luminance.iter().map(|&v| Complex::new(v, 0.0)));
    run(&bank.forward_rows, &mut s.responses, &mut s.fft_scratch);
    s.spectrum.resize(count, Complex::default());
    transpose(&s.responses, width, height, &mut s.spectrum);
    run(&bank.forward_columns, &mut s.spectrum, &mut s.fft_scratch);

    let energy = scratch(&mut s.energy, count);
    energy.fill(0.0);
    let amplitude = scratch(&mut s.amplitude, count);
    amplitude.fill(0.0);
    s.responses.resize(SCALES * count, Complex::default());
    s.transposed.resize(count, Complex::default());
    for orientation in 0..ORIENTATIONS {
        for scale in 0..SCALES {
            let filter = &bank.filters[orientation * SCALES + scale];
            for ((t, x), g) in s.transposed.iter_mut().zip(&s.spectrum).zip(filter) {
                *t = x * g;
            }
            run(&bank.inverse_columns, &mut s.transposed, &mut s.fft_scratch);
            let response = &mut s.responses[scale * count..(scale + 1) * count];
            transpose(&s.transposed, height, width, response);
            run(&bank.inverse_rows, response, &mut s.fft_scratch);
        }
        // The noise threshold from the smallest scale's median energy.
        s.median.clear();
        s.median
            .extend(s.responses[..count].iter().map(|c| c.norm_sqr()));
        let middle = (count - 1) / 2;
        let (_, median, _) = s.median.select_nth_unstable_by(middle, f32::total_cmp);
        let threshold = median.sqrt() * bank.threshold_per_root_median[orientation];
        // Bounds-check-free, so that the loop vectorises.
        let scales: [&[Complex<f32>]; SCALES] =
            std::array::from_fn(|scale| &s.responses[scale * count..(scale + 1) * count]);
        for (i, (e, a)) in energy.iter_mut().zip(amplitude.iter_mut()).enumerate() {
            let c = scales.map(|scale| scale[i]);
            let (mut sum_even, mut sum_odd, mut sum_amplitude) = (0.0f32, 0.0f32, 0.0f32);
            for c in &c {
                sum_even += c.re;
                sum_odd += c.im;
                // sqrt(re² + im²) as piq computes it (`norm` would call
                // libm's slower `hypot`).
                sum_amplitude += c.norm_sqr().sqrt();
            }
            let norm = (sum_even * sum_even + sum_odd * sum_odd).sqrt() + eps;
            let (mean_even, mean_odd) = (sum_even / norm, sum_odd / norm);
            let mut local = 0.0f32;
            for c in &c {
                local +=
                    c.re * mean_even + c.im * mean_odd - (c.re * mean_odd - c.im * mean_even).abs();
            }
            *e += (local - threshold).max(0.0);
            *a += sum_amplitude;
        }
    }
    let out = scratch(out, count);
    for ((o, e), a) in out.iter_mut().zip(energy.iter()).zip(amplitude.iter()) {
        *o = (e + eps) / (a + eps);
    }
}

fn run(fft: &Arc<dyn Fft<f32>>, buffer: &mut [Complex<f32>], fft_scratch: &mut Vec<Complex<f32>>) {
    fft_scratch.resize(fft.get_inplace_scratch_len(), Complex::default());
    fft.process_with_scratch(buffer, fft_scratch);
}

/// Writes the transpose of a row-major `width` x `height` array to `out`,
/// in 8×8 tiles.
fn transpose<T: Copy>(src: &[T], width: usize, height: usize, out: &mut [T]) {
    const TILE: usize = 8;
    let (src, out) = (&src[..width * height], &mut out[..width * height]);
    for y0 in (0..height).step_by(TILE) {
        let rows = TILE.min(height - y0);
        for x0 in (0..width).step_by(TILE) {
            let columns = TILE.min(width - x0);
            for y in y0..y0 + rows {
                let row = &src[y * width + x0..y * width + x0 + columns];
                for (x, &value) in (x0..).zip(row) {
                    out[x * height + y] = value;
                }
            }
        }
    }
}

impl Bank {
    fn new(width: usize, height: usize) -> Self {
        let mut planner = FftPlanner::<f32>::new();
        let filters = log_gabor_filters(width, height);
        let threshold_per_root_median = noise_constants(&filters, width, height);
        let normalise = 1.0 / (width * height) as f64;
        let filters = filters
            .iter()
            .map(|filter| {
                // Row-major (ky * width + kx) → transposed (kx * height + ky).
                let mut transposed = vec![0.0f32; width * height];
                for ky in 0..height {
                    for kx in 0..width {
                        transposed[kx * height + ky] = (filter[ky * width + kx] * normalise) as f32;
                    }
                }
                transposed
            })
            .collect();
        Bank {
            width,
            height,
            filters,
            threshold_per_root_median,
            forward_rows: planner.plan_fft_forward(width),
            forward_columns: planner.plan_fft_forward(height),
            inverse_rows: planner.plan_fft_inverse(width),
            inverse_columns: planner.plan_fft_inverse(height),
        }
    }
}

/// piq's `_construct_filters`: the log-Gabor transfer functions, row-major
/// over (ky, kx) with zero frequency at index 0.
fn log_gabor_filters(width: usize, height: usize) -> Vec<Vec<f64>> {
    // piq's `get_meshgrid`: coordinates along the height and width.
    let axis = |n: usize| -> Vec<f64> {
        let (start, denominator) = if n % 2 == 1 {
            (-((n - 1) as f64) / 2.0, (n - 1) as f64)
        } else {
            (-(n as f64) / 2.0, n as f64)
        };
        (0..n).map(|i| (start + i as f64) / denominator).collect()
    };
    let (along_height, along_width) = (axis(height), axis(width));
    // `ifftshift`: index i of the shifted array is index (i + n/2) mod n.
    let shifted = |i: usize, n: usize| (i + n / 2) % n;
    let count = width * height;
    let (mut radius, mut theta, mut low_pass) =
        (vec![0.0; count], vec![0.0; count], vec![0.0; count]);
    for ky in 0..height {
        for kx in 0..width {
            let (gx, gy) = (
                along_height[shifted(ky, height)],
                along_width[shifted(kx, width)],
            );
            let r = (gx * gx + gy * gy).sqrt();
            let i = ky * width + kx;
            low_pass[i] = 1.0 / (1.0 + (r / 0.45).powi(30));
            radius[i] = r;
            theta[i] = (-gy).atan2(gx);
        }
    }
    radius[0] = 1.0;
    let theta_sigma = PI / (ORIENTATIONS as f64 * DELTA_THETA);
    let mut filters = Vec::with_capacity(ORIENTATIONS * SCALES);
    for orientation in 0..ORIENTATIONS {
        let angle = orientation as f64 * PI / ORIENTATIONS as f64;
        let spread: Vec<f64> = theta
            .iter()
            .map(|&t| {
                let ds = t.sin() * angle.cos() - t.cos() * angle.sin();
                let dc = t.cos() * angle.cos() + t.sin() * angle.sin();
                let d_theta = ds.atan2(dc).abs();
                (-d_theta * d_theta / (2.0 * theta_sigma * theta_sigma)).exp()
            })
            .collect();
        for scale in 0..SCALES {
            let omega = 1.0 / (MIN_WAVELENGTH * MULT.powi(scale as i32));
            let mut filter: Vec<f64> = radius
                .iter()
                .zip(&low_pass)
                .zip(&spread)
                .map(|((&r, &lp), &sp)| {
                    let log = (r / omega).ln();
                    (-log * log / (2.0 * SIGMA_F.ln().powi(2))).exp() * lp * sp
                })
                .collect();
            filter[0] = 0.0;
            filters.push(filter);
        }
    }
    filters
}

/// Per orientation, the factor that turns √(median smallest-scale energy)
/// into piq's noise threshold T: with `em_n` the smallest scale's Σ G²,
/// `Σ A²` and `Σ A_i A_j` (i < j) sums over the spatial filters
/// `A = Re(ifft2(G)) · √(HW)`, noise power = median / (−ln ½ · em_n),
/// τ = √(power (Σ A² + 2 Σ A_i A_j)) and T = τ (√(π/2) + k √(2 − π/2)) / 1.7.
fn noise_constants(filters: &[Vec<f64>], width: usize, height: usize) -> [f32; ORIENTATIONS] {
    let mut planner = FftPlanner::<f64>::new();
    let (rows, columns) = (
        planner.plan_fft_inverse(width),
        planner.plan_fft_inverse(height),
    );
    let count = width * height;
    let spatial = |filter: &[f64]| -> Vec<f64> {
        let mut buffer: Vec<Complex<f64>> = filter.iter().map(|&g| Complex::new(g, 0.0)).collect();
        rows.process(&mut buffer);
        let mut transposed = vec![Complex::default(); count];
        transpose(&buffer, width, height, &mut transposed);
        columns.process(&mut transposed);
        let scale = (count as f64).sqrt() / count as f64;
        transposed.iter().map(|c| c.re * scale).collect()
    };
    std::array::from_fn(|orientation| {
        let bank = &filters[orientation * SCALES..(orientation + 1) * SCALES];
        let em_n: f64 = bank[0].iter().map(|g| g * g).sum();
        let spatial: Vec<Vec<f64>> = bank.iter().map(|g| spatial(g)).collect();
        let sum_squares: f64 = spatial.iter().flatten().map(|a| a * a).sum();
        let mut sum_cross = 0.0;
        for i in 0..SCALES {
            for j in i + 1..SCALES {
                sum_cross += spatial[i]
                    .iter()
                    .zip(&spatial[j])
                    .map(|(a, b)| a * b)
                    .sum::<f64>();
            }
        }
        let power_per_median = -1.0 / 0.5f64.ln() / em_n;
        let tau_per_root_median = (power_per_median * (sum_squares + 2.0 * sum_cross)).sqrt();
        let threshold =
            tau_per_root_median * ((PI / 2.0).sqrt() + K * (2.0 - PI / 2.0).sqrt()) / 1.7;
        threshold as f32
    })
}
