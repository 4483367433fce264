//! Pixel helpers shared by the distortion families: rounding back to 8 bits,
//! luma, border-clamped bilinear sampling and separable convolution.
//!
//! Border rule used everywhere: coordinates outside the image read the nearest
//! edge pixel ("replicate", OpenCV's BORDER_REPLICATE, scipy's mode="nearest").

use image::RgbImage;

/// Rounds half up and saturates to 0..=255 (NaN becomes 0, never a panic).
#[inline]
pub fn round_to_u8(value: f32) -> u8 {
    // `as u8` saturates, so only the half-up offset is needed.
    (value + 0.5) as u8
}

/// BT.601 luma weights, the ones JPEG's YCbCr and PIL's "L" mode use.
pub const LUMA_WEIGHTS: [f32; 3] = [0.299, 0.587, 0.114];

#[inline]
pub fn luma(pixel: [u8; 3]) -> f32 {
    LUMA_WEIGHTS[0] * f32::from(pixel[0])
        + LUMA_WEIGHTS[1] * f32::from(pixel[1])
        + LUMA_WEIGHTS[2] * f32::from(pixel[2])
}

/// Mean luma of the image, summed sequentially so the result never depends on
/// thread count or SIMD width.
pub fn mean_luma(image: &RgbImage) -> f32 {
    let sum: f64 = image.pixels().map(|p| f64::from(luma(p.0))).sum();
    (sum / f64::from(image.width() * image.height())) as f32
}

/// Applies one 256-entry lookup table per channel.
pub fn map_channels(image: &RgbImage, tables: &[[u8; 256]; 3]) -> RgbImage {
    let mut out = image.clone();
    for pixel in out.chunks_exact_mut(3) {
        for (value, table) in pixel.iter_mut().zip(tables) {
            *value = table[usize::from(*value)];
        }
    }
    out
}

/// Builds a lookup table from a per-value function, rounding to 8 bits.
pub fn lookup_table(f: impl Fn(f32) -> f32) -> [u8; 256] {
    std::array::from_fn(|v| round_to_u8(f(v as f32)))
}

/// Reads one channel-interleaved pixel at a real-valued position (pixel centres
/// at integer coordinates), bilinearly, with replicated borders.
#[inline]
pub fn sample_bilinear(image: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (width, height) = image.dimensions();
    let (x0, fx) = split_coordinate(x, width);
    let (y0, fy) = split_coordinate(y, height);
    let stride = width as usize * 3;
    let x_step = if x0 + 1 < width as usize { 3 } else { 0 };
    let y_step = if y0 + 1 < height as usize { stride } else { 0 };
    let raw = image.as_raw();
    let top_left = y0 * stride + x0 * 3;
    let corner = |offset: usize| -> [f32; 3] {
        let p = &raw[top_left + offset..top_left + offset + 3];
        [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])]
    };
    let (a, b, c, d) = (
        corner(0),
        corner(x_step),
        corner(y_step),
        corner(y_step + x_step),
    );
    std::array::from_fn(|k| {
        let top = a[k] + fx * (b[k] - a[k]);
        let bottom = c[k] + fx * (d[k] - c[k]);
        top + fy * (bottom - top)
    })
}

/// Splits a coordinate into a clamped integer cell and the fraction inside it.
#[inline]
fn split_coordinate(coordinate: f32, size: u32) -> (usize, f32) {
    let max = (size - 1) as f32;
    // NaN clamps to 0 through `max(0.0)`. The value is non-negative, so
    // truncation is floor, without a libm call on baseline x86_64.
    let clamped = coordinate.max(0.0).min(max);
    let cell = clamped as usize;
    (cell, clamped - cell as f32)
}

/// Resamples the whole image: output pixel (x, y) reads the source at
/// `source_of(x, y)`, bilinearly with replicated borders.
pub fn warp(image: &RgbImage, mut source_of: impl FnMut(f32, f32) -> (f32, f32)) -> RgbImage {
    let (width, height) = image.dimensions();
    let mut out = RgbImage::new(width, height);
    for (x, y, pixel) in out.enumerate_pixels_mut() {
        let (sx, sy) = source_of(x as f32, y as f32);
        pixel.0 = sample_bilinear(image, sx, sy).map(round_to_u8);
    }
    out
}

/// Convolves rows then columns with the same symmetric odd-length kernel,
/// replicating the borders.
pub fn convolve_separable(image: &RgbImage, kernel: &[f32]) -> RgbImage {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let radius = kernel.len() / 2;
    let stride = width * 3;

    let mut rows = vec![0f32; stride * height];
    let mut padded = vec![0f32; (width + 2 * radius) * 3];
    for (src_row, dst_row) in image
        .as_raw()
        .chunks_exact(stride)
        .zip(rows.chunks_exact_mut(stride))
    {
        for (i, value) in padded.chunks_exact_mut(3).enumerate() {
            let col = i.saturating_sub(radius).min(width - 1);
            for (v, &s) in value.iter_mut().zip(&src_row[col * 3..col * 3 + 3]) {
                *v = f32::from(s);
            }
        }
        for (tap, &weight) in kernel.iter().enumerate() {
            let shifted = &padded[tap * 3..tap * 3 + stride];
            for (d, &s) in dst_row.iter_mut().zip(shifted) {
                *d += weight * s;
            }
        }
    }

    let mut out = RgbImage::new(image.width(), image.height());
    let mut accumulator = vec![0f32; stride];
    for (row, dst_row) in out.chunks_exact_mut(stride).enumerate() {
        accumulator.fill(0.0);
        for (tap, &weight) in kernel.iter().enumerate() {
            let src = (row + tap).saturating_sub(radius).min(height - 1);
            for (a, &s) in accumulator
                .iter_mut()
                .zip(&rows[src * stride..(src + 1) * stride])
            {
                *a += weight * s;
            }
        }
        for (d, &a) in dst_row.iter_mut().zip(&accumulator) {
            *d = round_to_u8(a);
        }
    }
    out
}
