//! Bilinear resampling of the whole image through an arbitrary map, in
//! fixed point: source positions are rounded to 1/64 pixel, the weights are
//! exact integers and each value is rounded once, so the bytes do not depend
//! on the machine. Reads outside the image repeat the nearest edge pixel.
//!
//! The sampling loop has an AVX2 version (gathers and 16-bit multiply-adds)
//! that computes the very same integers as the scalar one.

use image::RgbImage;

use crate::raster::{floor_small, POSITION_BITS};
use crate::simd::multiversion;

const POSITION_ONE: u32 = 1 << POSITION_BITS;
/// A sample is (top (64 - fy) + bottom fy) with top = left (64 - fx) +
/// right fx: 2 * POSITION_BITS fraction bits, rounded half up once. Every
/// partial sum is exact, so the grouping cannot change the result.
const SHIFT: u32 = 2 * POSITION_BITS;
const HALF: u32 = 1 << (SHIFT - 1);

/// Resamples the whole image: `source_row(y, xs, ys)` fills the source
/// positions of output row `y` (pixel centres at integers), which is then
/// read bilinearly with replicated borders.
pub fn warp(
    image: &RgbImage,
    mut source_row: impl FnMut(usize, &mut [f32], &mut [f32]),
) -> RgbImage {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let source = Source::new(image);
    let (mut xs, mut ys) = (vec![0f32; width], vec![0f32; width]);
    let (mut fixed_x, mut fixed_y) = (vec![0u32; width], vec![0u32; width]);
    let mut out = RgbImage::new(image.width(), image.height());
    for (y, row) in out.chunks_exact_mut(width * 3).enumerate() {
        source_row(y, &mut xs, &mut ys);
        fixed_positions(&xs, width, &mut fixed_x);
        fixed_positions(&ys, height, &mut fixed_y);
        source.sample_row(&fixed_x, &fixed_y, row);
    }
    out
}

multiversion! {
    /// Rounds real positions, clamped to `0..=size-1`, to fixed point.
    fn fixed_positions(coordinates: &[f32], size: usize, out: &mut [u32]) {
        let last = (size - 1) as f32;
        for (fixed, &coordinate) in out.iter_mut().zip(coordinates) {
            // NaN clamps to 0 through `max(0.0)`. Sides are at most `MAX_SIDE`,
            // so the scaled value is below 2^22.
            *fixed = floor_small(coordinate.max(0.0).min(last) * POSITION_ONE as f32 + 0.5);
        }
    }
}

/// The image as RGBA words (alpha 0) with one spare, zero column and row: a
/// sample in the last column or row has fraction 0 there, so the spare
/// neighbour gets weight 0 and the edge is replicated without a branch.
struct Source {
    pixels: Vec<u32>,
    padded_width: usize,
}

impl Source {
    fn new(image: &RgbImage) -> Self {
        let (width, height) = (image.width() as usize, image.height() as usize);
        let padded_width = width + 1;
        let mut pixels = vec![0u32; padded_width * (height + 1)];
        for (padded_row, row) in pixels
            .chunks_exact_mut(padded_width)
            .zip(image.chunks_exact(width * 3))
        {
            for (word, pixel) in padded_row.iter_mut().zip(row.chunks_exact(3)) {
                *word = u32::from_le_bytes([pixel[0], pixel[1], pixel[2], 0]);
            }
        }
        Self {
            pixels,
            padded_width,
        }
    }

    /// Samples one output row at fixed-point positions inside the image.
    fn sample_row(&self, fixed_x: &[u32], fixed_y: &[u32], row: &mut [u8]) {
        #[allow(unused_mut)] // only x86-64 has a vector path
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if crate::simd::has_avx2() && i32::try_from(self.pixels.len()).is_ok() {
            // SAFETY: AVX2 is available, and every index fits an i32.
            done = unsafe {
                avx2::sample_groups(&self.pixels, self.padded_width, fixed_x, fixed_y, row)
            };
        }
        for ((&x, &y), pixel) in fixed_x[done..]
            .iter()
            .zip(&fixed_y[done..])
            .zip(row[3 * done..].chunks_exact_mut(3))
        {
            self.sample(x, y, pixel);
        }
    }

    #[inline]
    fn sample(&self, x: u32, y: u32, pixel: &mut [u8]) {
        let at = (y >> POSITION_BITS) as usize * self.padded_width + (x >> POSITION_BITS) as usize;
        let (fx, fy) = (x & (POSITION_ONE - 1), y & (POSITION_ONE - 1));
        let [top_left, top_right] = [self.pixels[at], self.pixels[at + 1]];
        let below = at + self.padded_width;
        let [bottom_left, bottom_right] = [self.pixels[below], self.pixels[below + 1]];
        for (channel, value) in pixel.iter_mut().enumerate() {
            let byte = |word: u32| (word >> (8 * channel)) & 0xff;
            let top = byte(top_left) * (POSITION_ONE - fx) + byte(top_right) * fx;
            let bottom = byte(bottom_left) * (POSITION_ONE - fx) + byte(bottom_right) * fx;
            *value = ((top * (POSITION_ONE - fy) + bottom * fy + HALF) >> SHIFT) as u8;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{HALF, POSITION_BITS, POSITION_ONE, SHIFT};

    /// Samples the row eight pixels at a time, as `Source::sample` does, and
    /// returns how many pixels it did (the rest are fewer than eight).
    ///
    /// Safety: the CPU must support AVX2, positions must lie inside the
    /// image `pixels` pads, and `pixels.len()` must fit an i32.
    #[target_feature(enable = "avx2")]
    pub unsafe fn sample_groups(
        pixels: &[u32],
        padded_width: usize,
        fixed_x: &[u32],
        fixed_y: &[u32],
        row: &mut [u8],
    ) -> usize {
        let groups = fixed_x.len().min(fixed_y.len()).min(row.len() / 3) / 8;
        let base = pixels.as_ptr().cast::<i32>();
        let fraction_mask = _mm256_set1_epi32(POSITION_ONE as i32 - 1);
        let one = _mm256_set1_epi32(POSITION_ONE as i32);
        let stride = _mm256_set1_epi32(padded_width as i32);
        let half = _mm256_set1_epi32(HALF as i32);
        // RGBA to RGB within each 128-bit lane, then the two lanes' 12 bytes
        // made contiguous.
        let compact = _mm256_setr_epi8(
            0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1, //
            0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1,
        );
        let join_lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7);
        let interleave = _mm256_setr_epi8(
            0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15, //
            0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15,
        );
        // The vertical weights of the pixels in each half lane of a sum.
        let pick = [[0, 2], [1, 3], [4, 6], [5, 7]]
            .map(|[a, b]| _mm256_setr_epi32(a, a, a, a, b, b, b, b));
        let in_order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
        for group in 0..groups {
            // SAFETY (loads): `group < groups`, so 8 values are in bounds.
            let x = _mm256_loadu_si256(fixed_x.as_ptr().add(8 * group).cast());
            let y = _mm256_loadu_si256(fixed_y.as_ptr().add(8 * group).cast());
            let (fx, fy) = (
                _mm256_and_si256(x, fraction_mask),
                _mm256_and_si256(y, fraction_mask),
            );
            let at = _mm256_add_epi32(
                _mm256_mullo_epi32(_mm256_srli_epi32::<POSITION_BITS_I32>(y), stride),
                _mm256_srli_epi32::<POSITION_BITS_I32>(x),
            );
            let below = _mm256_add_epi32(at, stride);
            // SAFETY (gathers): positions are inside the image, so each index
            // is a pixel whose right neighbour is the next word of the padded
            // `pixels`, and so is the index one row below.
            // One 64-bit gather fetches a pixel and its right neighbour: four
            // pixels per gather, pixels 0 1 | 2 3 and 4 5 | 6 7.
            let pairs = |indices: __m256i| {
                let gather = |half| {
                    let words = _mm256_i32gather_epi64::<4>(base.cast(), half);
                    // (left, right) byte pairs per channel.
                    _mm256_shuffle_epi8(words, interleave)
                };
                (
                    gather(_mm256_castsi256_si128(indices)),
                    gather(_mm256_extracti128_si256::<1>(indices)),
                )
            };
            let (top_first, top_second) = pairs(at);
            let (bottom_first, bottom_second) = pairs(below);

            // Horizontal: byte pairs (left, right) times (64 - fx, fx), one
            // pair per channel, summed into 16 bits (at most 255 * 64).
            let wx = _mm256_or_si256(_mm256_sub_epi32(one, fx), _mm256_slli_epi32::<8>(fx));
            let wx = _mm256_or_si256(wx, _mm256_slli_epi32::<16>(wx));
            let per_pixel = |half| {
                let wide = _mm256_cvtepu32_epi64(half);
                _mm256_or_si256(wide, _mm256_slli_epi64::<32>(wide))
            };
            let wx_first = per_pixel(_mm256_castsi256_si128(wx));
            let wx_second = per_pixel(_mm256_extracti128_si256::<1>(wx));
            let top_first = _mm256_maddubs_epi16(top_first, wx_first);
            let top_second = _mm256_maddubs_epi16(top_second, wx_second);
            let bottom_first = _mm256_maddubs_epi16(bottom_first, wx_first);
            let bottom_second = _mm256_maddubs_epi16(bottom_second, wx_second);

            // Vertical: 16-bit pairs (top, bottom) times (64 - fy, fy) into
            // 32 bits, one pixel per half lane: pixels 0 | 2, 1 | 3, 4 | 6, 5 | 7.
            let wy = _mm256_or_si256(_mm256_sub_epi32(one, fy), _mm256_slli_epi32::<16>(fy));
            let rounded = |pairs, pixels| {
                let weights = _mm256_permutevar8x32_epi32(wy, pixels);
                let sum = _mm256_madd_epi16(pairs, weights);
                _mm256_srli_epi32::<SHIFT_I32>(_mm256_add_epi32(sum, half))
            };
            let s0 = rounded(_mm256_unpacklo_epi16(top_first, bottom_first), pick[0]);
            let s1 = rounded(_mm256_unpackhi_epi16(top_first, bottom_first), pick[1]);
            let s2 = rounded(_mm256_unpacklo_epi16(top_second, bottom_second), pick[2]);
            let s3 = rounded(_mm256_unpackhi_epi16(top_second, bottom_second), pick[3]);
            // Pixels 0 1 | 2 3 and 4 5 | 6 7 as 16 bits, then 0 1 4 5 | 2 3 6 7
            // as RGBA bytes, put in order.
            let bytes =
                _mm256_packus_epi16(_mm256_packus_epi32(s0, s1), _mm256_packus_epi32(s2, s3));
            let bytes = _mm256_permutevar8x32_epi32(bytes, in_order);
            let rgb = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(bytes, compact), join_lanes);
            let mut buffer = [0u8; 32];
            _mm256_storeu_si256(buffer.as_mut_ptr().cast(), rgb);
            row[24 * group..24 * group + 24].copy_from_slice(&buffer[..24]);
        }
        groups * 8
    }

    const POSITION_BITS_I32: i32 = POSITION_BITS as i32;
    const SHIFT_I32: i32 = SHIFT as i32;
}

#[cfg(test)]
mod tests {
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::rng::unit_f32;
    use crate::simd::tests::scalar_only;

    #[test]
    fn the_vector_sampler_matches_the_scalar_one_on_random_positions() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for (width, height) in [(64usize, 64usize), (1, 1), (9, 3), (33, 17), (8, 2)] {
            let mut pixels = vec![0u8; width * height * 3];
            rng.fill_bytes(&mut pixels);
            let image = RgbImage::from_raw(width as u32, height as u32, pixels).unwrap();
            let source = Source::new(&image);
            // Positions from two pixels outside the image on either side.
            let mut positions = |size: usize| -> Vec<u32> {
                let real: Vec<f32> = (0..width)
                    .map(|_| unit_f32(rng.next_u32()) * (size as f32 + 4.0) - 2.0)
                    .collect();
                let mut fixed = vec![0u32; width];
                fixed_positions(&real, size, &mut fixed);
                fixed
            };
            for _ in 0..100 {
                let (x, y) = (positions(width), positions(height));
                let mut fast = vec![0u8; width * 3];
                source.sample_row(&x, &y, &mut fast);
                let mut scalar = vec![0u8; width * 3];
                scalar_only(|| source.sample_row(&x, &y, &mut scalar));
                assert_eq!(fast, scalar, "{width}x{height}");
            }
        }
    }
}
