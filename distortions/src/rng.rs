//! Seeding and the few random variates the distortions need.
//!
//! The variates are written here rather than taken from `rand_distr` so that a
//! (spec, seed) pair maps to the same bytes on every target: they use only
//! integer operations, IEEE basic arithmetic and the pure-Rust `libm`.

use std::sync::OnceLock;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator every distortion step draws from.
pub type StepRng = ChaCha8Rng;

/// The generator for step `step` of a pipeline run with `seed`: the same key,
/// one ChaCha stream per step, so a step's randomness does not depend on how
/// much the steps before it consumed.
pub fn step_rng(seed: u64, step: usize) -> StepRng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(step as u64);
    rng
}

/// Uniform in [0, 1) from the top 24 bits (an f32's full mantissa).
#[inline]
pub fn unit_f32(bits: u32) -> f32 {
    (bits >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// Uniform in [-1, 1) from one 32-bit word.
#[inline]
pub fn symmetric_unit_f32(bits: u32) -> f32 {
    2.0 * unit_f32(bits) - 1.0
}

/// Uniform in [0, 1) with 53 bits.
pub fn unit_f64(rng: &mut impl RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform integer in `0..n` (`n > 0`), by widening multiplication; the bias
/// is below 2^-32 for the small `n` used here.
pub fn below(rng: &mut impl RngCore, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// Fills `out` with uniform values in [-1, 1), one per 32-bit word of the
/// stream. The words are generated in bulk, which lets ChaCha run its SIMD
/// backend over whole blocks; the stream, so the result, is the same as
/// drawing them one at a time.
pub fn fill_symmetric_uniform(rng: &mut impl RngCore, out: &mut [f32]) {
    // A stack batch rather than one buffer for the whole output: no
    // allocation, and the bytes are converted while still in L1.
    const BATCH: usize = 512;
    let mut bytes = [0u8; 4 * BATCH];
    for chunk in out.chunks_mut(BATCH) {
        let bytes = &mut bytes[..4 * chunk.len()];
        rng.fill_bytes(bytes);
        for (value, word) in chunk.iter_mut().zip(bytes.chunks_exact(4)) {
            let bits = u32::from_le_bytes(word.try_into().expect("four bytes"));
            *value = symmetric_unit_f32(bits);
        }
    }
}

/// Fills `out` with standard normal variates by Marsaglia & Tsang's
/// ziggurat (128 layers): one 32-bit word and a table lookup per value in
/// ~99% of cases, as numpy's float32 normals. The layer index (low 7 bits)
/// and the signed value (high 25 bits) are disjoint bits of the word.
pub fn fill_standard_normal(rng: &mut impl RngCore, out: &mut [f32]) {
    let tables = ziggurat_tables();
    for pair in out.chunks_mut(2) {
        let bits = rng.next_u64();
        for (value, word) in pair.iter_mut().zip([bits as u32, (bits >> 32) as u32]) {
            let layer = (word & 0x7f) as usize;
            let signed = (word as i32) >> 7;
            *value = if signed.unsigned_abs() < tables.threshold[layer] {
                signed as f32 * tables.width_f32[layer]
            } else {
                normal_outside_the_core(rng, tables, word)
            };
        }
    }
}

/// The ziggurat's rare paths for a word that missed its layer's core:
/// the wedge test, the tail, and fresh words after a rejection.
#[cold]
fn normal_outside_the_core(rng: &mut impl RngCore, tables: &ZigguratTables, first: u32) -> f32 {
    let mut word = first;
    loop {
        let layer = (word & 0x7f) as usize;
        let signed = (word as i32) >> 7;
        let x = f64::from(signed) * tables.width[layer];
        if signed.unsigned_abs() < tables.threshold[layer] {
            return x as f32;
        }
        if layer == 0 {
            return normal_tail(rng, signed < 0) as f32;
        }
        let density_low = tables.density[layer];
        let density_high = tables.density[layer - 1];
        if tables.wedge_accepts(
            density_low + unit_f64(rng) * (density_high - density_low),
            x,
        ) {
            return x as f32;
        }
        word = rng.next_u32();
    }
}

const ZIGGURAT_R: f64 = 3.442_619_855_899;

/// Marsaglia's method for the tail beyond `ZIGGURAT_R`.
fn normal_tail(rng: &mut impl RngCore, negative: bool) -> f64 {
    loop {
        // 1 - u is in (0, 1], so the logarithms are finite.
        let x = -libm::log(1.0 - unit_f64(rng)) / ZIGGURAT_R;
        let y = -libm::log(1.0 - unit_f64(rng));
        if 2.0 * y >= x * x {
            return if negative {
                -(ZIGGURAT_R + x)
            } else {
                ZIGGURAT_R + x
            };
        }
    }
}

struct ZigguratTables {
    threshold: [u32; 128],
    width: [f64; 128],
    /// `width` rounded once, for the fast path.
    width_f32: [f32; 128],
    density: [f64; 128],
    /// `exp(-k / EXP_STEPS)` (by `libm::exp`) for `k` in `0..EXP_TABLE`.
    exp_steps: [f64; EXP_TABLE],
}

/// Steps per unit of the `exp_steps` table.
const EXP_STEPS: f64 = 64.0;
/// Enough steps for exponents down to -6 < -ZIGGURAT_R^2 / 2.
const EXP_TABLE: usize = 6 * EXP_STEPS as usize;
/// Relative distance from the approximation of `exp` in `wedge_accepts`
/// within which `libm::exp` decides; see there.
const EXP_TOLERANCE: f64 = 1e-6;

impl ZigguratTables {
    /// `lhs < libm::exp(-x^2 / 2)` for `|x| < ZIGGURAT_R`, mostly without
    /// calling `libm::exp`, whose latency dominated the rare paths.
    ///
    /// With t = -x^2 / 2 in (-6, 0], k the integer nearest to -64 t and
    /// r = t + k / 64 in [-1/128, 1/128]: exp(t) = exp(-k / 64) * exp(r), the
    /// first factor from the table, the second by its quadratic Taylor
    /// polynomial, whose remainder exp(ξ) r^3 / 6 (ξ between 0 and r) is
    /// under 8.1e-8 relative to exp(r). The table entries and `libm::exp`
    /// are within 1 ulp, and the rounding of r (|t| < 8, so at most 2^-51
    /// absolute) and of the few operations adds under 1e-15, so
    /// `approx` and `libm::exp(t)` differ by less than 8.2e-8 relative, well
    /// inside `EXP_TOLERANCE`: a `lhs` below `approx * (1 - EXP_TOLERANCE)`
    /// is below `libm::exp(t)`, one above `approx * (1 + EXP_TOLERANCE)` is
    /// not, and in the band between (2e-6 of exp(t) wide, so rarely hit)
    /// `libm::exp` decides. The outcome is always that of comparing with
    /// `libm::exp(t)`; `exp_approximation_decides_as_libm` checks the bound.
    #[inline]
    fn wedge_accepts(&self, lhs: f64, x: f64) -> bool {
        let t = -0.5 * x * x;
        let approx = self.exp_approximation(t);
        if lhs < approx * (1.0 - EXP_TOLERANCE) {
            true
        } else if lhs > approx * (1.0 + EXP_TOLERANCE) {
            false
        } else {
            lhs < libm::exp(t)
        }
    }

    /// exp(t) for t in (-6, 0] to within 8.2e-8 relative (see
    /// `wedge_accepts`).
    #[inline]
    fn exp_approximation(&self, t: f64) -> f64 {
        // -64 t is exact and in [0, 384); adding 2^52 rounds it to the
        // nearest integer k, exactly, which is then the low mantissa bits.
        const SHIFT: f64 = 4_503_599_627_370_496.0;
        let shifted = -t * EXP_STEPS + SHIFT;
        let r = t + (shifted - SHIFT) / EXP_STEPS;
        let k = (shifted.to_bits() & 0x1ff) as usize;
        self.exp_steps[k] * (1.0 + r * (1.0 + r * 0.5))
    }
}

fn ziggurat_tables() -> &'static ZigguratTables {
    static TABLES: OnceLock<ZigguratTables> = OnceLock::new();
    TABLES.get_or_init(|| {
        // Layer area and the scale of a 25-bit signed draw.
        const AREA: f64 = 9.912_563_035_262_17e-3;
        const SCALE: f64 = 16_777_216.0;
        let mut tables = ZigguratTables {
            threshold: [0; 128],
            width: [0.0; 128],
            width_f32: [0.0; 128],
            density: [0.0; 128],
            exp_steps: std::array::from_fn(|k| libm::exp(-(k as f64) / EXP_STEPS)),
        };
        let mut edge = ZIGGURAT_R;
        let base = AREA / libm::exp(-0.5 * edge * edge);
        tables.threshold[0] = ((edge / base) * SCALE) as u32;
        tables.width[0] = base / SCALE;
        tables.width[127] = edge / SCALE;
        tables.density[0] = 1.0;
        tables.density[127] = libm::exp(-0.5 * edge * edge);
        let mut previous = edge;
        for layer in (1..127).rev() {
            edge = libm::sqrt(-2.0 * libm::log(AREA / edge + libm::exp(-0.5 * edge * edge)));
            tables.threshold[layer + 1] = ((edge / previous) * SCALE) as u32;
            previous = edge;
            tables.density[layer] = libm::exp(-0.5 * edge * edge);
            tables.width[layer] = edge / SCALE;
        }
        tables.width_f32 = tables.width.map(|w| w as f32);
        tables
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_normal_has_unit_moments_and_gaussian_tails() {
        let mut rng = step_rng(7, 0);
        let n = 400_000;
        let mut draws = vec![0f32; n];
        fill_standard_normal(&mut rng, &mut draws);
        let samples: Vec<f64> = draws.into_iter().map(f64::from).collect();
        let mean = samples.iter().sum::<f64>() / n as f64;
        let variance = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let beyond_two_sigma = samples.iter().filter(|x| x.abs() > 2.0).count() as f64 / n as f64;
        let beyond_r = samples.iter().filter(|x| x.abs() > ZIGGURAT_R).count();
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((variance - 1.0).abs() < 0.01, "variance {variance}");
        // P(|X| > 2) = 0.0455 for a standard normal.
        assert!(
            (beyond_two_sigma - 0.0455).abs() < 0.002,
            "tail mass {beyond_two_sigma}"
        );
        // P(|X| > 3.44) = 5.8e-4: the tail path must be reached.
        assert!(beyond_r > 100, "only {beyond_r} tail samples");
    }

    /// The sampler as it was before `wedge_accepts`: `libm::exp` decides
    /// every wedge test.
    fn reference_standard_normal(rng: &mut StepRng, out: &mut [f32]) {
        let tables = ziggurat_tables();
        for pair in out.chunks_mut(2) {
            let bits = rng.next_u64();
            for (value, word) in pair.iter_mut().zip([bits as u32, (bits >> 32) as u32]) {
                let layer = (word & 0x7f) as usize;
                let signed = (word as i32) >> 7;
                *value = if signed.unsigned_abs() < tables.threshold[layer] {
                    signed as f32 * tables.width_f32[layer]
                } else {
                    reference_outside_the_core(rng, tables, word)
                };
            }
        }
    }

    fn reference_outside_the_core(rng: &mut StepRng, tables: &ZigguratTables, first: u32) -> f32 {
        let mut word = first;
        loop {
            let layer = (word & 0x7f) as usize;
            let signed = (word as i32) >> 7;
            let x = f64::from(signed) * tables.width[layer];
            if signed.unsigned_abs() < tables.threshold[layer] {
                return x as f32;
            }
            if layer == 0 {
                return normal_tail(rng, signed < 0) as f32;
            }
            let density_low = tables.density[layer];
            let density_high = tables.density[layer - 1];
            if density_low + unit_f64(rng) * (density_high - density_low) < libm::exp(-0.5 * x * x)
            {
                return x as f32;
            }
            word = rng.next_u32();
        }
    }

    #[test]
    fn standard_normal_matches_the_reference_values_and_stream_use() {
        let lengths = (0..40).chain([255, 256, 257, 1023, 1024, 4097, 12_288]);
        for seed in 0..40 {
            for length in lengths.clone() {
                // Odd offsets make the pairs straddle ChaCha's blocks.
                for offset in [0, 1, 63] {
                    let mut expected_rng = step_rng(seed, 2);
                    expected_rng.set_word_pos(offset);
                    let mut actual_rng = expected_rng.clone();
                    let mut expected = vec![0f32; length];
                    let mut actual = vec![0f32; length];
                    reference_standard_normal(&mut expected_rng, &mut expected);
                    fill_standard_normal(&mut actual_rng, &mut actual);
                    let bits =
                        |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&actual),
                        bits(&expected),
                        "seed {seed} length {length}"
                    );
                    assert_eq!(
                        actual_rng.get_word_pos(),
                        expected_rng.get_word_pos(),
                        "seed {seed} length {length} offset {offset}"
                    );
                }
            }
        }
    }

    #[test]
    fn exp_approximation_decides_as_libm() {
        // Relative distance from libm::exp over the whole range of the wedge
        // test's exponents, at steps of 2^-20 (which include the rounding
        // boundaries of k) and at 0.3 and 0.7 of a step off the grid.
        let tables = ziggurat_tables();
        let mut worst = 0f64;
        let steps = (ZIGGURAT_R * ZIGGURAT_R / 2.0 * f64::from(1 << 20)) as i64 + 2;
        for step in 0..steps {
            for offset in [0.0, 0.3, 0.7] {
                let t = -(step as f64 + offset) / f64::from(1 << 20);
                let exact = libm::exp(t);
                worst = worst.max((tables.exp_approximation(t) - exact).abs() / exact);
            }
        }
        assert!(worst < 1e-7, "worst relative error {worst}");
        assert!(worst < EXP_TOLERANCE / 3.0);
        // The decision itself, right at and around the bound.
        for x in [1e-3, 0.5, 1.0, 2.0, 3.0, 3.44] {
            let exact = libm::exp(-0.5 * x * x);
            for lhs in [
                exact,
                exact * (1.0 - 1e-12),
                exact * (1.0 + 1e-12),
                exact * 0.9,
                exact * 1.1,
            ] {
                assert_eq!(tables.wedge_accepts(lhs, x), lhs < exact, "x {x} lhs {lhs}");
            }
        }
    }

    #[test]
    fn steps_draw_independent_streams() {
        let first: Vec<u64> = (0..4).map(|_| step_rng(1, 0).next_u64()).collect();
        assert!(first.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(step_rng(1, 0).next_u64(), step_rng(1, 1).next_u64());
        assert_ne!(step_rng(1, 0).next_u64(), step_rng(2, 0).next_u64());
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = step_rng(3, 0);
        let mut seen = [false; 5];
        for _ in 0..200 {
            seen[below(&mut rng, 5)] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
