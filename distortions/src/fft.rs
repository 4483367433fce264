//! A small radix-2 complex FFT for shaping noise spectra.
//!
//! Written here instead of taken from `rustfft` because reproducibility needs
//! the same bits on every machine: `rustfft` picks SIMD kernels at run time
//! (different operation orders, hence different roundings) and computes its
//! twiddles with the platform's libm. This one is scalar, fixed-order and
//! uses the pure-Rust `libm`. Only power-of-two sizes are needed: noise is
//! synthesised on a power-of-two canvas and cropped.

use crate::simd::multiversion;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Complex {
    re: f32,
    im: f32,
}

/// Unnormalised inverse DFT (kernel e^{+2 pi i k n / N}) of a power-of-two size.
pub struct InverseFft {
    size: usize,
    twiddles: Vec<Complex>,
}

impl InverseFft {
    /// `size` must be a power of two (callers round up with `next_power_of_two`).
    pub fn new(size: usize) -> Self {
        debug_assert!(size.is_power_of_two());
        let twiddles = (0..size / 2)
            .map(|k| {
                let angle = 2.0 * std::f64::consts::PI * k as f64 / size as f64;
                Complex {
                    re: libm::cos(angle) as f32,
                    im: libm::sin(angle) as f32,
                }
            })
            .collect();
        Self { size, twiddles }
    }

    /// In-place transform of every column of a row-major `size` x `columns`
    /// array, given as separate real and imaginary planes. Each butterfly
    /// combines two whole rows, so the inner loops run along contiguous
    /// memory and vectorise; every column still sees exactly the scalar
    /// radix-2 operations, so the bits do not depend on `columns`.
    pub fn transform_columns(&self, re: &mut [f32], im: &mut [f32], columns: usize) {
        transform_columns(&self.twiddles, self.size, re, im, columns);
    }

    /// In-place 2-D transform of a row-major `size` x `size` grid given as
    /// real and imaginary planes: columns, then rows (as the columns of the
    /// transpose).
    pub fn transform_2d(&self, re: &mut [f32], im: &mut [f32]) {
        let n = self.size;
        self.transform_columns(re, im, n);
        for plane in [&mut *re, &mut *im] {
            transpose(plane, n);
        }
        self.transform_columns(re, im, n);
        for plane in [&mut *re, &mut *im] {
            transpose(plane, n);
        }
    }
}

multiversion! {
    /// `InverseFft::transform_columns` for twiddles of size `n`.
    fn transform_columns(
        twiddles: &[Complex],
        n: usize,
        re: &mut [f32],
        im: &mut [f32],
        columns: usize,
    ) {
        let bits = n.trailing_zeros();
        if bits == 0 {
            return;
        }
        for i in 0..n {
            let j = i.reverse_bits() >> (usize::BITS - bits);
            if i < j {
                for plane in [&mut *re, &mut *im] {
                    let (low, high) = plane.split_at_mut(j * columns);
                    low[i * columns..(i + 1) * columns].swap_with_slice(&mut high[..columns]);
                }
            }
        }
        let mut length = 2;
        while length <= n {
            let half = length / 2;
            let stride = n / length;
            for (block_re, block_im) in re
                .chunks_exact_mut(length * columns)
                .zip(im.chunks_exact_mut(length * columns))
            {
                let (low_re, high_re) = block_re.split_at_mut(half * columns);
                let (low_im, high_im) = block_im.split_at_mut(half * columns);
                for (k, (((a_re, a_im), b_re), b_im)) in low_re
                    .chunks_exact_mut(columns)
                    .zip(low_im.chunks_exact_mut(columns))
                    .zip(high_re.chunks_exact_mut(columns))
                    .zip(high_im.chunks_exact_mut(columns))
                    .enumerate()
                {
                    let twiddle = twiddles[k * stride];
                    for (((a_re, a_im), b_re), b_im) in a_re
                        .iter_mut()
                        .zip(a_im.iter_mut())
                        .zip(b_re.iter_mut())
                        .zip(b_im.iter_mut())
                    {
                        let rotated_re = *b_re * twiddle.re - *b_im * twiddle.im;
                        let rotated_im = *b_re * twiddle.im + *b_im * twiddle.re;
                        *b_re = *a_re - rotated_re;
                        *b_im = *a_im - rotated_im;
                        *a_re += rotated_re;
                        *a_im += rotated_im;
                    }
                }
            }
            length *= 2;
        }
    }
}

/// Transposes a row-major `n` x `n` array in place: with AVX2, in 8 x 8
/// tiles swapped with their mirrors through registers; values only move, so
/// every path gives the same bits.
fn transpose(values: &mut [f32], n: usize) {
    #[cfg(target_arch = "x86_64")]
    if n.is_multiple_of(8) && crate::simd::has_avx2() {
        // SAFETY: AVX2 is available.
        unsafe { avx2::transpose_tiles(values, n) };
        return;
    }
    for y in 0..n {
        for x in y + 1..n {
            values.swap(y * n + x, x * n + y);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// `transpose` for `n` a multiple of 8, one 8 x 8 tile and its mirror
    /// at a time (a diagonal tile is its own mirror).
    ///
    /// Safety: the CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn transpose_tiles(values: &mut [f32], n: usize) {
        for row in (0..n).step_by(8) {
            for column in (row..n).step_by(8) {
                let tile = transposed(load(values, n, row, column));
                let mirror = transposed(load(values, n, column, row));
                store(values, n, column, row, tile);
                store(values, n, row, column, mirror);
            }
        }
    }

    /// The 8 x 8 tile at (row, column) of a row-major array of `n` columns.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn load(values: &[f32], n: usize, row: usize, column: usize) -> [__m256; 8] {
        let mut rows = [_mm256_setzero_ps(); 8];
        for (r, lanes) in rows.iter_mut().enumerate() {
            let at = (row + r) * n + column;
            // SAFETY: the slice holds the 8 values read.
            *lanes = _mm256_loadu_ps(values[at..at + 8].as_ptr());
        }
        rows
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn store(values: &mut [f32], n: usize, row: usize, column: usize, rows: [__m256; 8]) {
        for (r, lanes) in rows.into_iter().enumerate() {
            let at = (row + r) * n + column;
            // SAFETY: the slice holds the 8 values written.
            _mm256_storeu_ps(values[at..at + 8].as_mut_ptr(), lanes);
        }
    }

    /// Rows to columns: pairs of rows interleaved, then pairs of pairs, then
    /// the 128-bit halves of rows r and r + 4 exchanged.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn transposed(r: [__m256; 8]) -> [__m256; 8] {
        let t = [
            _mm256_unpacklo_ps(r[0], r[1]),
            _mm256_unpackhi_ps(r[0], r[1]),
            _mm256_unpacklo_ps(r[2], r[3]),
            _mm256_unpackhi_ps(r[2], r[3]),
            _mm256_unpacklo_ps(r[4], r[5]),
            _mm256_unpackhi_ps(r[4], r[5]),
            _mm256_unpacklo_ps(r[6], r[7]),
            _mm256_unpackhi_ps(r[6], r[7]),
        ];
        let s = [
            _mm256_shuffle_ps::<0x44>(t[0], t[2]),
            _mm256_shuffle_ps::<0xee>(t[0], t[2]),
            _mm256_shuffle_ps::<0x44>(t[1], t[3]),
            _mm256_shuffle_ps::<0xee>(t[1], t[3]),
            _mm256_shuffle_ps::<0x44>(t[4], t[6]),
            _mm256_shuffle_ps::<0xee>(t[4], t[6]),
            _mm256_shuffle_ps::<0x44>(t[5], t[7]),
            _mm256_shuffle_ps::<0xee>(t[5], t[7]),
        ];
        [
            _mm256_permute2f128_ps::<0x20>(s[0], s[4]),
            _mm256_permute2f128_ps::<0x20>(s[1], s[5]),
            _mm256_permute2f128_ps::<0x20>(s[2], s[6]),
            _mm256_permute2f128_ps::<0x20>(s[3], s[7]),
            _mm256_permute2f128_ps::<0x31>(s[0], s[4]),
            _mm256_permute2f128_ps::<0x31>(s[1], s[5]),
            _mm256_permute2f128_ps::<0x31>(s[2], s[6]),
            _mm256_permute2f128_ps::<0x31>(s[3], s[7]),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct O(N^2) inverse DFT to check the fast one against.
    fn naive_inverse(data: &[Complex]) -> Vec<Complex> {
        let n = data.len();
        (0..n)
            .map(|t| {
                let (mut re, mut im) = (0.0, 0.0);
                for (k, value) in data.iter().enumerate() {
                    let angle = 2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
                    let (sin, cos) = angle.sin_cos();
                    re += f64::from(value.re) * cos - f64::from(value.im) * sin;
                    im += f64::from(value.re) * sin + f64::from(value.im) * cos;
                }
                Complex {
                    re: re as f32,
                    im: im as f32,
                }
            })
            .collect()
    }

    #[test]
    fn matches_the_direct_inverse_dft() {
        for size in [1, 2, 8, 64] {
            let input: Vec<Complex> = (0..size)
                .map(|i| Complex {
                    re: ((i * 7) % 5) as f32 - 2.0,
                    im: ((i * 3) % 4) as f32,
                })
                .collect();
            let mut re: Vec<f32> = input.iter().map(|c| c.re).collect();
            let mut im: Vec<f32> = input.iter().map(|c| c.im).collect();
            InverseFft::new(size).transform_columns(&mut re, &mut im, 1);
            let fast = re.into_iter().zip(im).map(|(re, im)| Complex { re, im });
            for (a, b) in fast.zip(naive_inverse(&input)) {
                assert!(
                    (a.re - b.re).abs() < 1e-3 && (a.im - b.im).abs() < 1e-3,
                    "size {size}: {a:?} vs {b:?}"
                );
            }
        }
    }

    #[test]
    fn a_single_frequency_becomes_a_plane_wave() {
        let n = 8;
        let (mut re, mut im) = (vec![0.0; n * n], vec![0.0; n * n]);
        re[n + 2] = 1.0; // ky = 1, kx = 2
        InverseFft::new(n).transform_2d(&mut re, &mut im);
        for y in 0..n {
            for x in 0..n {
                let angle = 2.0 * std::f64::consts::PI * (2 * x + y) as f64 / n as f64;
                assert!((re[y * n + x] - angle.cos() as f32).abs() < 1e-5);
                assert!((im[y * n + x] - angle.sin() as f32).abs() < 1e-5);
            }
        }
    }
}
