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

/// Transposes a row-major `n` x `n` array in place.
fn transpose(values: &mut [f32], n: usize) {
    for y in 0..n {
        for x in y + 1..n {
            values.swap(y * n + x, x * n + y);
        }
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
