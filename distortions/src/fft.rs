//! A small radix-2 complex FFT for shaping noise spectra.
//!
//! Written here instead of taken from `rustfft` because reproducibility needs
//! the same bits on every machine: `rustfft` picks SIMD kernels at run time
//! (different operation orders, hence different roundings) and computes its
//! twiddles with the platform's libm. This one is scalar, fixed-order and
//! uses the pure-Rust `libm`. Only power-of-two sizes are needed: noise is
//! synthesised on a power-of-two canvas and cropped.

use std::ops::{Add, Mul, Sub};

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Complex {
    pub re: f32,
    pub im: f32,
}

impl Add for Complex {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self {
            re: self.re + other.re,
            im: self.im + other.im,
        }
    }
}

impl Sub for Complex {
    type Output = Self;
    fn sub(self, other: Self) -> Self {
        Self {
            re: self.re - other.re,
            im: self.im - other.im,
        }
    }
}

impl Mul for Complex {
    type Output = Self;
    fn mul(self, other: Self) -> Self {
        Self {
            re: self.re * other.re - self.im * other.im,
            im: self.re * other.im + self.im * other.re,
        }
    }
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

    /// In-place transform of one line of `size` values.
    pub fn transform(&self, data: &mut [Complex]) {
        let n = self.size;
        let bits = n.trailing_zeros();
        if bits == 0 {
            return;
        }
        for i in 0..n {
            let j = i.reverse_bits() >> (usize::BITS - bits);
            if i < j {
                data.swap(i, j);
            }
        }
        let mut length = 2;
        while length <= n {
            let half = length / 2;
            let stride = n / length;
            for block in data.chunks_exact_mut(length) {
                let (low, high) = block.split_at_mut(half);
                for (k, (a, b)) in low.iter_mut().zip(high.iter_mut()).enumerate() {
                    let rotated = *b * self.twiddles[k * stride];
                    *b = *a - rotated;
                    *a = *a + rotated;
                }
            }
            length *= 2;
        }
    }

    /// In-place 2-D transform of a row-major `size` x `size` grid.
    pub fn transform_2d(&self, grid: &mut [Complex]) {
        let n = self.size;
        for row in grid.chunks_exact_mut(n) {
            self.transform(row);
        }
        let mut column = vec![Complex::default(); n];
        for x in 0..n {
            for (y, value) in column.iter_mut().enumerate() {
                *value = grid[y * n + x];
            }
            self.transform(&mut column);
            for (y, value) in column.iter().enumerate() {
                grid[y * n + x] = *value;
            }
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
                data.iter()
                    .enumerate()
                    .fold(Complex::default(), |sum, (k, &value)| {
                        let angle = 2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
                        sum + value
                            * Complex {
                                re: angle.cos() as f32,
                                im: angle.sin() as f32,
                            }
                    })
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
            let mut fast = input.clone();
            InverseFft::new(size).transform(&mut fast);
            for (a, b) in fast.iter().zip(naive_inverse(&input)) {
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
        let mut grid = vec![Complex::default(); n * n];
        grid[n + 2] = Complex { re: 1.0, im: 0.0 }; // ky = 1, kx = 2
        InverseFft::new(n).transform_2d(&mut grid);
        for y in 0..n {
            for x in 0..n {
                let angle = 2.0 * std::f64::consts::PI * (2 * x + y) as f64 / n as f64;
                assert!((grid[y * n + x].re - angle.cos() as f32).abs() < 1e-5);
            }
        }
    }
}
