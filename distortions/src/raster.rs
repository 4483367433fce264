//! Pixel helpers shared by the distortion families: rounding back to 8 bits,
//! luma, lookup tables, fixed-point bilinear resampling and separable
//! filtering.
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
fn floor_small(value: f32) -> u32 {
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
    // Per-channel sums, weighted once at the end; u32 sums cannot overflow
    // within one row of at most MAX_SIDE pixels.
    let mut channel_sums = [0u64; 3];
    for row in image.chunks_exact(image.width() as usize * 3) {
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
        .iter()
        .zip(LUMA_WEIGHTS)
        .map(|(&sum, weight)| sum * u64::from(weight))
        .sum()
}

/// Fraction bits of filter weights, which sum to `WEIGHT_ONE`: 8, as
/// OpenCV's bit-exact 8-bit filters.
const WEIGHT_BITS: u32 = 8;
pub const WEIGHT_ONE: u32 = 1 << WEIGHT_BITS;

/// Fraction bits of bilinear sample positions: 1/64 pixel, finer than
/// OpenCV's 1/32 and coarse enough for the packed arithmetic of `warp`.
const POSITION_BITS: u32 = 6;
const POSITION_ONE: u32 = 1 << POSITION_BITS;

/// Rounds real positions, clamped to `0..=size-1`, to fixed point: a
/// separate pass over a row of positions, so it vectorises.
fn fixed_positions(coordinates: &[f32], size: usize, out: &mut [u32]) {
    let last = (size - 1) as f32;
    for (fixed, &coordinate) in out.iter_mut().zip(coordinates) {
        // NaN clamps to 0 through `max(0.0)`. Sides are at most `MAX_SIDE`,
        // so the scaled value is below 2^22.
        *fixed = floor_small(coordinate.max(0.0).min(last) * POSITION_ONE as f32 + 0.5);
    }
}

/// The three bytes of an RGB pixel in three 20-bit lanes of a u64, so one
/// multiplication weights all three channels: the bilinear sums are at most
/// 255 * 64 * 64 + rounding < 2^20 and never carry into the next lane.
#[inline]
fn spread_rgb(pixel: &[u8]) -> u64 {
    u64::from(pixel[0]) | (u64::from(pixel[1]) << 20) | (u64::from(pixel[2]) << 40)
}

/// Resamples the whole image: `source_row(y, xs, ys)` fills the source
/// positions of output row `y` (pixel centres at integers), which is then
/// read bilinearly with replicated borders, exact in fixed point until one
/// final rounding.
pub fn warp(
    image: &RgbImage,
    mut source_row: impl FnMut(usize, &mut [f32], &mut [f32]),
) -> RgbImage {
    const SHIFT: u32 = 2 * POSITION_BITS;
    const HALF: u64 = 1 << (SHIFT - 1);
    const ROUNDING: u64 = HALF | (HALF << 20) | (HALF << 40);
    let (width, height) = (image.width() as usize, image.height() as usize);
    // The source spread once into lanes, with one spare column and row: a
    // sample in the last column or row has fraction 0 there, so the spare
    // (zero) neighbour gets weight 0 and the edge is replicated without a
    // branch per pixel.
    // Each entry also holds its right neighbour, so a sample reads two
    // entries.
    let padded_width = width + 1;
    let mut source = vec![[0u64; 2]; padded_width * (height + 1)];
    for (padded_row, row) in source
        .chunks_exact_mut(padded_width)
        .zip(image.chunks_exact(width * 3))
    {
        for (k, pixel) in row.chunks_exact(3).enumerate() {
            padded_row[k][0] = spread_rgb(pixel);
            padded_row[k.saturating_sub(1)][1] = spread_rgb(pixel);
        }
    }
    let (mut xs, mut ys) = (vec![0f32; width], vec![0f32; width]);
    let (mut fixed_x, mut fixed_y) = (vec![0u32; width], vec![0u32; width]);
    let mut index = vec![0u32; width];
    let mut weights = [0, 1, 2, 3].map(|_| vec![0u32; width]);
    let mut out = RgbImage::new(image.width(), image.height());
    for (y, row) in out.chunks_exact_mut(width * 3).enumerate() {
        source_row(y, &mut xs, &mut ys);
        fixed_positions(&xs, width, &mut fixed_x);
        fixed_positions(&ys, height, &mut fixed_y);
        // Addresses and weights in a pass of their own, which vectorises,
        // leaving the (gathering) sampling loop below minimal.
        let [above_left, above_right, below_left, below_right] = &mut weights;
        for (i, (&px, &py)) in fixed_x.iter().zip(&fixed_y).enumerate() {
            index[i] = (py >> POSITION_BITS) * padded_width as u32 + (px >> POSITION_BITS);
            let (fx, fy) = (px & (POSITION_ONE - 1), py & (POSITION_ONE - 1));
            // The four products of the two 1-D weights, from one multiplication.
            let both = fx * fy;
            above_right[i] = (fx << POSITION_BITS) - both;
            below_left[i] = (fy << POSITION_BITS) - both;
            below_right[i] = both;
            above_left[i] = (POSITION_ONE << POSITION_BITS) - above_right[i] - below_left[i] - both;
        }
        for (i, pixel) in row.chunks_exact_mut(3).enumerate() {
            let at = index[i] as usize;
            let (top, bottom) = (source[at], source[at + padded_width]);
            let sum = top[0] * u64::from(above_left[i])
                + top[1] * u64::from(above_right[i])
                + bottom[0] * u64::from(below_left[i])
                + bottom[1] * u64::from(below_right[i])
                + ROUNDING;
            pixel[0] = (sum >> SHIFT) as u8;
            pixel[1] = (sum >> (SHIFT + 20)) as u8;
            pixel[2] = (sum >> (SHIFT + 40)) as u8;
        }
    }
    out
}

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
    let (width, height) = (image.width() as usize, image.height() as usize);
    let channels = usize::from(P::CHANNEL_COUNT);
    let stride = width * channels;

    // Rows: each source row is padded with replicated edge pixels so every
    // tap is one contiguous slice, and the sums (at most 255 * WEIGHT_ONE)
    // fit u16 exactly.
    let left = (-horizontal.first).max(0) as usize;
    let right = (horizontal.first + horizontal.weights.len() as isize - 1).max(0) as usize;
    let start = (horizontal.first + left as isize) as usize;
    let mut padded = vec![0u8; (left + width + right) * channels];
    let mut rows = vec![0u16; stride * height];
    for (src_row, dst_row) in image
        .as_raw()
        .chunks_exact(stride)
        .zip(rows.chunks_exact_mut(stride))
    {
        let (head, rest) = padded.split_at_mut(left * channels);
        let (body, tail) = rest.split_at_mut(stride);
        body.copy_from_slice(src_row);
        for pixel in head.chunks_exact_mut(channels) {
            pixel.copy_from_slice(&src_row[..channels]);
        }
        for pixel in tail.chunks_exact_mut(channels) {
            pixel.copy_from_slice(&src_row[stride - channels..]);
        }
        for (k, &weight) in horizontal.weights.iter().enumerate() {
            let at = (start + k) * channels;
            let shifted = &padded[at..at + stride];
            for (d, &s) in dst_row.iter_mut().zip(shifted) {
                *d += weight * u16::from(s);
            }
        }
    }

    // Columns: whole rows at a time, clamping the row index; the sums (at
    // most 255 * WEIGHT_ONE^2) fit u32 exactly.
    let mut out = ImageBuffer::new(image.width(), image.height());
    let mut accumulator = vec![0u32; stride];
    for (row, dst_row) in out.chunks_exact_mut(stride).enumerate() {
        accumulator.fill(0);
        for (k, &weight) in vertical.weights.iter().enumerate() {
            let src =
                (row as isize + vertical.first + k as isize).clamp(0, height as isize - 1) as usize;
            for (a, &s) in accumulator
                .iter_mut()
                .zip(&rows[src * stride..(src + 1) * stride])
            {
                *a += u32::from(weight) * u32::from(s);
            }
        }
        for (d, &a) in dst_row.iter_mut().zip(&accumulator) {
            *d = ((a + (1 << (2 * WEIGHT_BITS - 1))) >> (2 * WEIGHT_BITS)) as u8;
        }
    }
    out
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
