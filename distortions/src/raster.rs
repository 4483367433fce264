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
    // Clamping first leaves a conversion the compiler can vectorise; a bare
    // saturating `as u8` does not.
    (value + 0.5).max(0.0).min(255.0) as i32 as u8
}

/// Rounds half up to an integer offset for 8-bit values; saturating the
/// offset to ±255 keeps the same result on 8-bit data.
pub fn round_offset(value: f32) -> i16 {
    // `as i16` saturates and maps NaN to 0; floor is exact, so any libm agrees.
    ((value + 0.5).floor() as i16).clamp(-255, 255)
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

/// Mean luma of the image. The sum is an exact integer, so it does not depend
/// on summation order, thread count or SIMD width.
pub fn mean_luma(image: &RgbImage) -> f32 {
    let sum: u64 = image
        .chunks_exact(3)
        .map(|p| u64::from(fixed_luma(p)))
        .sum();
    let pixels = f64::from(image.width() * image.height());
    (sum as f64 / (f64::from(1u32 << LUMA_BITS) * pixels)) as f32
}

/// Applies one 256-entry lookup table to every channel.
pub fn map_values(image: &RgbImage, table: &[u8; 256]) -> RgbImage {
    let mut out = image.clone();
    for value in out.iter_mut() {
        *value = table[usize::from(*value)];
    }
    out
}

/// Builds a lookup table from a per-value function, rounding to 8 bits.
pub fn lookup_table(f: impl Fn(f32) -> f32) -> [u8; 256] {
    std::array::from_fn(|v| round_to_u8(f(v as f32)))
}

/// Fraction bits of filter weights, which sum to `WEIGHT_ONE`: 8, as
/// OpenCV's bit-exact 8-bit filters.
const WEIGHT_BITS: u32 = 8;
pub const WEIGHT_ONE: u32 = 1 << WEIGHT_BITS;

/// Fraction bits of bilinear sample positions: 1/64 pixel, finer than
/// OpenCV's 1/32 and coarse enough for the packed arithmetic of `warp`.
const POSITION_BITS: u32 = 6;
const POSITION_ONE: u32 = 1 << POSITION_BITS;

/// Rounds a real position, clamped to `0..=size-1`, to fixed point.
#[inline]
fn fixed_position(coordinate: f32, size: usize) -> u32 {
    // NaN clamps to 0 through `max(0.0)`. The value is non-negative, so
    // truncation is floor, without a libm call on baseline x86_64.
    let clamped = coordinate.max(0.0).min((size - 1) as f32);
    (clamped * POSITION_ONE as f32 + 0.5) as u32
}

/// The three bytes of an RGB pixel (the fourth is ignored) in three 20-bit
/// lanes of a u64, so one multiplication weights all three channels: the
/// bilinear sums are at most 255 * 64 * 64 + rounding < 2^20 and never carry
/// into the next lane.
#[inline]
fn spread_rgb(bytes: &[u8]) -> u64 {
    let v = u64::from(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
    (v & 0xff) | ((v & 0xff00) << 12) | ((v & 0xff_0000) << 24)
}

/// Resamples the whole image: output pixel (x, y) reads the source at
/// `source_of(x, y)` (pixel centres at integers), bilinearly with replicated
/// borders, exact in fixed point until one final rounding.
pub fn warp(image: &RgbImage, source_of: impl Fn(usize, usize) -> (f32, f32)) -> RgbImage {
    const SHIFT: u32 = 2 * POSITION_BITS;
    const HALF: u64 = 1 << (SHIFT - 1);
    const ROUNDING: u64 = HALF | (HALF << 20) | (HALF << 40);
    let (width, height) = (image.width() as usize, image.height() as usize);
    let stride = width * 3;
    // One spare byte so every pixel can be read as four bytes.
    let mut source = Vec::with_capacity(image.len() + 1);
    source.extend_from_slice(image.as_raw());
    source.push(0);
    let mut out = RgbImage::new(image.width(), image.height());
    for (y, row) in out.chunks_exact_mut(stride).enumerate() {
        for (x, pixel) in row.chunks_exact_mut(3).enumerate() {
            let (sx, sy) = source_of(x, y);
            let (px, py) = (fixed_position(sx, width), fixed_position(sy, height));
            let (x0, y0) = (
                (px >> POSITION_BITS) as usize,
                (py >> POSITION_BITS) as usize,
            );
            let fx = u64::from(px & (POSITION_ONE - 1));
            let fy = u64::from(py & (POSITION_ONE - 1));
            // At the last column or row the fraction is 0, so reading the
            // same pixel again replicates the edge.
            let x_step = if x0 + 1 < width { 3 } else { 0 };
            let y_step = if y0 + 1 < height { stride } else { 0 };
            let at = y0 * stride + x0 * 3;
            let one = u64::from(POSITION_ONE);
            let top =
                spread_rgb(&source[at..]) * (one - fx) + spread_rgb(&source[at + x_step..]) * fx;
            let bottom = spread_rgb(&source[at + y_step..]) * (one - fx)
                + spread_rgb(&source[at + y_step + x_step..]) * fx;
            let sum = top * (one - fy) + bottom * fy + ROUNDING;
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
