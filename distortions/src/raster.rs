//! Pixel helpers shared by the distortion families: rounding back to 8 bits,
//! luma, and fixed-point separable filtering, including translation (the
//! separable form of `warp`'s bilinear resampling).
//!
//! Border rule used everywhere: coordinates outside the image read the nearest
//! edge pixel ("replicate", OpenCV's BORDER_REPLICATE, scipy's mode="nearest").
//!
//! Resampling and filtering are fixed-point, like OpenCV's bit-exact 8-bit
//! paths: weights are integers summing to `WEIGHT_ONE`, intermediate values
//! are exact integers and only the final value is rounded. Integer loops are
//! the fastest form on every target and leave nothing to the compiler's
//! vectorisation choices, so the bytes are the same everywhere.

use image::{ImageBuffer, Pixel, RgbImage};

use crate::simd::multiversion;

/// Rounds half up and saturates to 0..=255 (NaN becomes 0, never a panic).
// Not `clamp`, which keeps NaN: `max` maps it to 0.
#[allow(clippy::manual_clamp)]
#[inline]
pub fn round_to_u8(value: f32) -> u8 {
    floor_small((value + 0.5).max(0.0).min(255.0)) as u8
}

/// Floor of a value in [0, 2^22), in plain float and integer operations.
/// Adding 2^23 rounds the value to the nearest integer, held in the low
/// mantissa bits; stepping down where that rounded up gives the floor.
/// Unlike `as i32`, which must saturate and map NaN, this vectorises.
#[inline]
pub fn floor_small(value: f32) -> u32 {
    const MAGIC: f32 = 8_388_608.0;
    let rounded = value + MAGIC;
    (rounded.to_bits() - MAGIC.to_bits()) - u32::from(rounded - MAGIC > value)
}

/// Rounds half up to an integer offset for 8-bit values; saturating the
/// offset to ±255 keeps the same result on 8-bit data.
pub fn round_offset(value: f32) -> i16 {
    // `as i16` saturates and maps NaN to 0; floor is exact, so any libm agrees.
    ((value + 0.5).floor() as i16).clamp(-255, 255)
}

/// Saturates to 0..=255 with bit operations rather than comparisons, which
/// LLVM may otherwise turn into branches that noisy data mispredicts.
#[inline]
pub fn saturate_to_u8(value: i32) -> u8 {
    let non_negative = value & !(value >> 31);
    ((non_negative | ((255 - non_negative) >> 31)) & 255) as u8
}

/// Adds a per-channel integer offset to every pixel, clipping to 0..=255.
pub fn offset_channels(image: &RgbImage, offsets: [i16; 3]) -> RgbImage {
    // Sixteen pixels' worth of offsets, split into what to add and what to
    // subtract, so the loop is two saturating byte operations that vectorise.
    let pattern = |sign: i16| -> [u8; 48] {
        std::array::from_fn(|i| (sign * offsets[i % 3]).clamp(0, 255) as u8)
    };
    let (add, subtract) = (pattern(1), pattern(-1));
    let mut out = image.clone();
    let mut chunks = out.chunks_exact_mut(48);
    for chunk in &mut chunks {
        for ((value, &a), &s) in chunk.iter_mut().zip(&add).zip(&subtract) {
            *value = value.saturating_add(a).saturating_sub(s);
        }
    }
    let rest = chunks.into_remainder();
    for ((value, &a), &s) in rest.iter_mut().zip(&add).zip(&subtract) {
        *value = value.saturating_add(a).saturating_sub(s);
    }
    out
}

/// BT.601 luma weights, the ones JPEG's YCbCr and PIL's "L" mode use, in
/// units of 2^-LUMA_BITS (OpenCV's fixed-point values), so luma is exact.
pub const LUMA_WEIGHTS: [u32; 3] = [4899, 9617, 1868];
pub const LUMA_BITS: u32 = 14;

/// Luma of one pixel in units of 2^-LUMA_BITS.
#[inline]
pub fn fixed_luma(pixel: &[u8]) -> u32 {
    LUMA_WEIGHTS[0] * u32::from(pixel[0])
        + LUMA_WEIGHTS[1] * u32::from(pixel[1])
        + LUMA_WEIGHTS[2] * u32::from(pixel[2])
}

/// Sum of the luma of every pixel, in units of 2^-LUMA_BITS: exact, so it
/// does not depend on summation order, thread count or SIMD width.
pub fn luma_sum(image: &RgbImage) -> u64 {
    channel_sums(image.as_raw(), image.width() as usize * 3)
        .iter()
        .zip(LUMA_WEIGHTS)
        .map(|(&sum, weight)| sum * u64::from(weight))
        .sum()
}

multiversion! {
    /// Per-channel sums of RGB samples in rows of `stride`.
    fn channel_sums(samples: &[u8], stride: usize) -> [u64; 3] {
    // u32 sums cannot overflow within one row of at most MAX_SIDE pixels.
    let mut channel_sums = [0u64; 3];
    for row in samples.chunks_exact(stride) {
        let mut sums = [0u32; 3];
        for pixel in row.chunks_exact(3) {
            for (sum, &value) in sums.iter_mut().zip(pixel) {
                *sum += u32::from(value);
            }
        }
        for (total, sum) in channel_sums.iter_mut().zip(sums) {
            *total += u64::from(sum);
        }
    }
    channel_sums
    }
}

/// Fraction bits of filter weights, which sum to `WEIGHT_ONE`: 8, as
/// OpenCV's bit-exact 8-bit filters.
const WEIGHT_BITS: u32 = 8;
pub const WEIGHT_ONE: u32 = 1 << WEIGHT_BITS;

/// Fraction bits of bilinear sample positions: 1/64 pixel, finer than
/// OpenCV's 1/32 and coarse enough for 16-bit arithmetic in `warp`.
pub const POSITION_BITS: u32 = 6;
const POSITION_ONE: u32 = 1 << POSITION_BITS;

/// A 1-D fixed-point filter: output position `i` is the sum over `k` of
/// `weights[k]` times the input at `i + first + k` (replicated outside).
/// The weights sum to `WEIGHT_ONE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    first: isize,
    weights: Vec<u16>,
}

impl Kernel {
    /// Quantises real taps (not necessarily normalised) for offsets
    /// `first..`. Rounding error goes to the largest tap so the sum is exact;
    /// zero taps at either end are dropped.
    pub fn from_taps(first: isize, taps: &[f32]) -> Self {
        let total: f32 = taps.iter().sum();
        let mut weights: Vec<u16> = taps
            .iter()
            .map(|&t| (t / total * WEIGHT_ONE as f32 + 0.5) as u16)
            .collect();
        let sum: u32 = weights.iter().map(|&w| u32::from(w)).sum();
        let largest = (0..weights.len())
            .max_by_key(|&k| weights[k])
            .expect("a kernel has taps");
        weights[largest] = (u32::from(weights[largest]) + WEIGHT_ONE - sum) as u16;
        let leading = weights.iter().take_while(|&&w| w == 0).count();
        let trailing = weights.iter().rev().take_while(|&&w| w == 0).count();
        weights.truncate(weights.len() - trailing);
        weights.drain(..leading);
        Self {
            first: first + leading as isize,
            weights,
        }
    }

    /// Reads the input at `i + offset` by linear interpolation, with the
    /// position quantised as `warp` quantises it: the separable half of a
    /// bilinear translation.
    pub fn linear(offset: f32) -> Self {
        // Rounding to an integer is exact, so any libm gives the same position.
        let position = (offset * POSITION_ONE as f32).round() as isize;
        let cell = position >> POSITION_BITS;
        let fraction =
            ((position - (cell << POSITION_BITS)) as u32 * (WEIGHT_ONE / POSITION_ONE)) as u16;
        let weights = if fraction == 0 {
            vec![WEIGHT_ONE as u16]
        } else {
            vec![WEIGHT_ONE as u16 - fraction, fraction]
        };
        Self {
            first: cell,
            weights,
        }
    }
}

/// Filters rows with `horizontal`, then columns with `vertical`, replicating
/// the borders. Exact integers until one final rounding, so a pair of
/// `Kernel::linear`s gives the bytes `warp` gives for the same positions
/// (its weights are `warp`'s times 4, and its rounding the same).
pub fn convolve_separable<P: Pixel<Subpixel = u8>>(
    image: &ImageBuffer<P, Vec<u8>>,
    horizontal: &Kernel,
    vertical: &Kernel,
) -> ImageBuffer<P, Vec<u8>> {
    let samples = convolve_samples(
        image.as_raw(),
        image.width() as usize,
        usize::from(P::CHANNEL_COUNT),
        horizontal,
        vertical,
    );
    ImageBuffer::from_raw(image.width(), image.height(), samples).expect("one sample per input")
}

/// Offset of the row sums as stored: the exact sum `s` (at most
/// 255 * WEIGHT_ONE = 65280) is kept as the 16 bits of `s + ROW_OFFSET`
/// modulo 2^16, which read as an i16 is `s - 32768`, in [-32768, 32512].
/// Signed 16-bit values let the columns use 16-bit multiply-adds.
const ROW_OFFSET: u16 = 0x8000;

/// What the column sums start from: the offset taken out of every row sum
/// times the weights' total (WEIGHT_ONE), plus half of the final step.
const COLUMN_BIAS: i32 = 32768 * WEIGHT_ONE as i32 + (1 << (2 * WEIGHT_BITS - 1));

/// Copies `pixel` into every pixel of `dst`; three-sample pixels (RGB) are
/// copied as fixed-size arrays rather than through `memcpy` calls.
#[inline(always)]
fn replicate(dst: &mut [u8], pixel: &[u8]) {
    if let Ok(&rgb) = <&[u8; 3]>::try_from(pixel) {
        for d in dst.chunks_exact_mut(3) {
            d.copy_from_slice(&rgb);
        }
    } else {
        for d in dst.chunks_exact_mut(pixel.len()) {
            d.copy_from_slice(pixel);
        }
    }
}

multiversion! {
    /// `convolve_separable` on raw samples, `channels` interleaved.
    fn convolve_samples(
        samples: &[u8],
        width: usize,
        channels: usize,
        horizontal: &Kernel,
        vertical: &Kernel,
    ) -> Vec<u8> {
        let stride = width * channels;
        let height = samples.len() / stride;

        // Rows: each source row is padded with replicated edge pixels so every
        // tap is one contiguous slice. The sums (at most 255 * WEIGHT_ONE)
        // fit u16, so computing them modulo 2^16 (wrapping) is exact, and so
        // is adding ROW_OFFSET with them. Equal taps at equal distances are
        // paired as in the columns below. Buffers are filled by `extend`,
        // never zeroed first.
        let left = (-horizontal.first).max(0) as usize;
        let right = (horizontal.first + horizontal.weights.len() as isize - 1).max(0) as usize;
        let start = (horizontal.first + left as isize) as usize;
        let mut padded = vec![0u8; (left + width + right) * channels];
        let mut rows: Vec<u16> = Vec::with_capacity(stride * height);
        let (taps, pairs) = symmetric_pairs(horizontal);
        for src_row in samples.chunks_exact(stride) {
            let (head, rest) = padded.split_at_mut(left * channels);
            let (body, tail) = rest.split_at_mut(stride);
            body.copy_from_slice(src_row);
            replicate(head, &src_row[..channels]);
            replicate(tail, &src_row[stride - channels..]);
            let tap = |k: usize| &padded[(start + k) * channels..(start + k) * channels + stride];
            let begin = rows.len();
            if pairs > 0 {
                let weight = horizontal.weights[0];
                rows.extend(tap(0).iter().zip(tap(taps - 1)).map(|(&n, &f)| {
                    weight
                        .wrapping_mul(u16::from(n) + u16::from(f))
                        .wrapping_add(ROW_OFFSET)
                }));
            } else {
                let weight = horizontal.weights[0];
                rows.extend(
                    tap(0)
                        .iter()
                        .map(|&s| weight.wrapping_mul(u16::from(s)).wrapping_add(ROW_OFFSET)),
                );
            }
            let dst_row = &mut rows[begin..];
            for k in 1..pairs {
                add_pair(dst_row, horizontal.weights[k], tap(k), tap(taps - 1 - k));
            }
            let singles = if pairs > 0 { pairs..taps - pairs } else { 1..taps };
            for k in singles {
                let weight = horizontal.weights[k];
                for (d, &s) in dst_row.iter_mut().zip(tap(k)) {
                    *d = d.wrapping_add(weight.wrapping_mul(u16::from(s)));
                }
            }
        }

        // Columns: whole rows at a time, clamping the row index; the sums (at
        // most 255 * WEIGHT_ONE^2 before the offset, |sum| <= 2^23 after)
        // fit i32 exactly.
        let taps = vertical.weights.len();
        let mut sources = vec![0usize; taps];
        let mut accumulator = vec![0i32; stride];
        let mut out: Vec<u8> = Vec::with_capacity(stride * height);
        let mut line = vec![0u8; stride];
        for row in 0..height {
            for (k, source) in sources.iter_mut().enumerate() {
                let src = (row as isize + vertical.first + k as isize)
                    .clamp(0, height as isize - 1) as usize;
                *source = src * stride;
            }
            #[allow(unused_mut)] // only x86-64 has a vector path
            let mut done = 0;
            #[cfg(target_arch = "x86_64")]
            if crate::simd::has_avx2() {
                // SAFETY: AVX2 is available.
                done = unsafe {
                    avx2::column_sums(&rows, &sources, &vertical.weights, &mut line)
                };
            }
            let accumulator = &mut accumulator[done..];
            accumulator.fill(COLUMN_BIAS);
            for (&source, &weight) in sources.iter().zip(&vertical.weights) {
                let weight = i32::from(weight);
                let source_row = &rows[source + done..source + stride];
                for (a, &s) in accumulator.iter_mut().zip(source_row) {
                    *a += weight * i32::from(s as i16);
                }
            }
            for (d, &a) in line[done..].iter_mut().zip(accumulator.iter()) {
                *d = (a >> (2 * WEIGHT_BITS)) as u8;
            }
            out.extend_from_slice(&line);
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::COLUMN_BIAS;

    /// The leading multiple of 16 of one output row of the column pass into
    /// `line`, returning how many outputs it wrote. Row sums are read as
    /// i16 (see `ROW_OFFSET`) and taps taken two at a time by `vpmaddwd`:
    /// each product is at most 2^15 * WEIGHT_ONE = 2^23 in magnitude, and as
    /// the weights are non-negative and total WEIGHT_ONE, every partial sum
    /// is too, so the i32 sums are exact. An odd last tap is paired with
    /// itself at weight 0.
    ///
    /// Safety: the CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn column_sums(
        rows: &[u16],
        sources: &[usize],
        weights: &[u16],
        line: &mut [u8],
    ) -> usize {
        const MAX_GROUPS: usize = 16;
        let stride = line.len();
        let count = sources.len().div_ceil(2);
        if count > MAX_GROUPS || sources.iter().any(|&s| s + stride > rows.len()) {
            return 0;
        }
        // Two rows and their two weights per group; an odd last tap is
        // paired with itself at weight 0.
        let mut groups = [(rows.as_ptr(), rows.as_ptr(), _mm256_setzero_si256()); MAX_GROUPS];
        for (g, group) in groups[..count].iter_mut().enumerate() {
            let (a, b) = (2 * g, (2 * g + 1).min(sources.len() - 1));
            let wb = if b == a { 0 } else { i32::from(weights[b]) };
            *group = (
                rows.as_ptr().add(sources[a]),
                rows.as_ptr().add(sources[b]),
                _mm256_set1_epi32(i32::from(weights[a]) | (wb << 16)),
            );
        }
        let groups = &groups[..count];
        let mut x = 0;
        while x + 32 <= stride {
            let mut sums = [_mm256_set1_epi32(COLUMN_BIAS); 4];
            for &(a, b, w) in groups {
                // SAFETY: every source row holds `stride` values from its
                // start (checked above), and x + 32 <= stride.
                let near = [
                    _mm256_loadu_si256(a.add(x).cast()),
                    _mm256_loadu_si256(a.add(x + 16).cast()),
                ];
                let far = [
                    _mm256_loadu_si256(b.add(x).cast()),
                    _mm256_loadu_si256(b.add(x + 16).cast()),
                ];
                for half in 0..2 {
                    let low = _mm256_madd_epi16(_mm256_unpacklo_epi16(near[half], far[half]), w);
                    let high = _mm256_madd_epi16(_mm256_unpackhi_epi16(near[half], far[half]), w);
                    sums[2 * half] = _mm256_add_epi32(sums[2 * half], low);
                    sums[2 * half + 1] = _mm256_add_epi32(sums[2 * half + 1], high);
                }
            }
            // The unpacks split each 128-bit lane into its low and high four
            // values; packing low with high restores the order within lanes.
            let shifted = sums.map(|s| _mm256_srai_epi32::<16>(s));
            let first = _mm256_packus_epi32(shifted[0], shifted[1]);
            let second = _mm256_packus_epi32(shifted[2], shifted[3]);
            let bytes =
                _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi16(first, second));
            // SAFETY: the line holds the 32 bytes written.
            _mm256_storeu_si256(line[x..x + 32].as_mut_ptr().cast(), bytes);
            x += 32;
        }
        x
    }
}

/// Adds `weight * (near + far)` to `sums`, modulo 2^16. Indexed over slices
/// cut to one length: LLVM left the same loop written with `zip` scalar.
#[inline(always)]
fn add_pair(sums: &mut [u16], weight: u16, near: &[u8], far: &[u8]) {
    let (near, far) = (&near[..sums.len()], &far[..sums.len()]);
    for i in 0..sums.len() {
        sums[i] = sums[i].wrapping_add(weight.wrapping_mul(u16::from(near[i]) + u16::from(far[i])));
    }
}

/// The number of taps, and of pairs of equal taps at equal distances from the
/// centre (none unless the kernel is symmetric). A symmetric kernel (every
/// Gaussian) weights each pair at once: half the multiplications, and the
/// same exact integer sum.
fn symmetric_pairs(kernel: &Kernel) -> (usize, usize) {
    let taps = kernel.weights.len();
    let symmetric = kernel.weights.iter().eq(kernel.weights.iter().rev());
    (taps, if symmetric { taps / 2 } else { 0 })
}

/// Translates the content by (dx, dy) pixels: output (x, y) reads the source
/// at (x - dx, y - dy) bilinearly, like `warp`, but separably: the fraction
/// is the same for every pixel, so it is quantised once.
pub fn translate<P: Pixel<Subpixel = u8>>(
    image: &ImageBuffer<P, Vec<u8>>,
    dx: f32,
    dy: f32,
) -> ImageBuffer<P, Vec<u8>> {
    convolve_separable(image, &Kernel::linear(-dx), &Kernel::linear(-dy))
}
