//! Single-channel float planes and the filters the metrics share.
//!
//! Every metric here works on row-major `f32` planes (the references run in
//! float32) kept in per-thread scratch buffers, so scoring a pair allocates
//! nothing once the buffers have grown to the patch size. Filters are
//! separable wherever the reference's 2-D kernel is an outer product.

use image::RgbImage;

/// The luma weights of NTSC YIQ (and of BT.601 Y′): what piq's `rgb2yiq`
/// and VIF use.
pub(crate) const YIQ: [[f32; 3]; 3] = [
    [0.299, 0.587, 0.114],
    [0.5959, -0.2746, -0.3213],
    [0.2115, -0.5227, 0.3112],
];

/// Fills `out` with the `row`th YIQ component of every pixel, the levels
/// first mapped to `v / 255 * scale` in float32 as piq sees 8-bit input
/// passed as `x / 255` with `data_range=1` (`scale` 255 for metrics that
/// rescale to [0, 255], 1 for those that work in [0, 1]).
pub(crate) fn yiq_component(image: &RgbImage, row: usize, scale: f32, out: &mut Vec<f32>) {
    let levels = unit_levels(scale);
    let [wr, wg, wb] = YIQ[row];
    out.clear();
    out.extend(image.pixels().map(|p| {
        let [r, g, b] = p.0.map(|v| levels[usize::from(v)]);
        r * wr + g * wg + b * wb
    }));
}

/// MATLAB's `rgb2gray` weights (its `rgb2ntsc` matrix's first row, as
/// MATLAB's own code spells them).
const MATLAB_GRAY: [f64; 3] = [0.298936021293776, 0.587043074451121, 0.114020904255103];

/// MATLAB's `rgb2gray` on 8-bit input: the NTSC luminance rounded (half
/// away from zero) to a level, as the authors' MATLAB scripts for GMSD,
/// MS-SSIM and SSIM received their input in pyiqa's calibration.
///
/// The float64 products and their left-to-right sum are exactly MATLAB's
/// (no fused multiply-add: Rust never contracts), whatever instruction set
/// a caller is compiled for.
#[inline(always)]
pub(crate) fn matlab_gray_level(pixel: [u8; 3]) -> u8 {
    let [r, g, b] = pixel.map(f64::from);
    let luminance = MATLAB_GRAY[0] * r + MATLAB_GRAY[1] * g + MATLAB_GRAY[2] * b;
    // Rounding half up, which for these non-negative values is half away
    // from zero, by truncation: no libm `round` call.
    (luminance + 0.5) as u8
}

/// [`MATLAB_GRAY`] in 24-bit fixed point (rounded to nearest): a level's
/// three products and the rounding bias sum to less than 2³², so a row
/// converts in 32-bit integer lanes, twice as many per vector as float64.
const FIXED_GRAY: [u32; 3] = [
    fixed_weight(MATLAB_GRAY[0]),
    fixed_weight(MATLAB_GRAY[1]),
    fixed_weight(MATLAB_GRAY[2]),
];
const FIXED_SHIFT: u32 = 24;
const FIXED_HALF: u32 = 1 << (FIXED_SHIFT - 1);
/// How close (in fixed-point units) to a rounding boundary a fixed-point sum
/// may fall before the float64 definition decides instead. The fixed point
/// is off from the exact sum of the float64 weights' products by at most
/// `255 · Σ |FIXED_GRAY[i] − 2²⁴ w_i|` ≈ 255.0000002 units, and the float64
/// arithmetic from that exact sum by less than 10⁻⁵ units; outside this
/// margin all three fall on the same side of the boundary.
const FIXED_MARGIN: u32 = 512;

const fn fixed_weight(weight: f64) -> u32 {
    (weight * (1u32 << FIXED_SHIFT) as f64 + 0.5) as u32
}

const _: () = {
    let one = (1u32 << FIXED_SHIFT) as f64;
    let mut error = 0.0;
    let mut sum = FIXED_HALF as u64 + FIXED_MARGIN as u64;
    let mut i = 0;
    while i < 3 {
        error += (FIXED_GRAY[i] as f64 - MATLAB_GRAY[i] * one).abs() * 255.0;
        sum += FIXED_GRAY[i] as u64 * 255;
        i += 1;
    }
    assert!(error + 1.0 < FIXED_MARGIN as f64);
    assert!(sum <= u32::MAX as u64);
};

/// [`matlab_gray_level`] of each pixel of an interleaved RGB row, into the
/// first `rgb.len() / 3` elements of `out`: in fixed point, unless a pixel
/// falls within [`FIXED_MARGIN`] of a rounding boundary (about one in
/// 16,000 on varied colours), when the row is redone in float64.
#[inline(always)]
pub(crate) fn matlab_gray_row(rgb: &[u8], out: &mut [u8]) {
    let mut near_boundary = false;
    for (pixel, level) in rgb.chunks_exact(3).zip(&mut *out) {
        let [r, g, b] = [pixel[0], pixel[1], pixel[2]].map(u32::from);
        let sum = FIXED_GRAY[0] * r + FIXED_GRAY[1] * g + FIXED_GRAY[2] * b + FIXED_HALF;
        near_boundary |= (sum + FIXED_MARGIN) % (1 << FIXED_SHIFT) < 2 * FIXED_MARGIN;
        *level = (sum >> FIXED_SHIFT) as u8;
    }
    if near_boundary {
        for (pixel, level) in rgb.chunks_exact(3).zip(out) {
            *level = matlab_gray_level([pixel[0], pixel[1], pixel[2]]);
        }
    }
}

/// [`matlab_gray_level`] of every pixel, into `out`.
pub(crate) fn matlab_gray_levels(image: &RgbImage, out: &mut Vec<u8>) {
    out.resize(image.as_raw().len() / 3, 0);
    matlab_gray_row(image.as_raw(), out);
}

/// Fills `out` with [`matlab_gray_level`] of every pixel, as `v / 255 * scale`.
pub(crate) fn matlab_gray(
    image: &RgbImage,
    scale: f32,
    levels_buffer: &mut Vec<u8>,
    out: &mut Vec<f32>,
) {
    let levels = unit_levels(scale);
    matlab_gray_levels(image, levels_buffer);
    out.clear();
    out.extend(levels_buffer.iter().map(|&v| levels[usize::from(v)]));
}

/// `f32(v) / 255 * scale` for every level, rounded as float32 arithmetic does.
fn unit_levels(scale: f32) -> [f32; 256] {
    std::array::from_fn(|v| v as f32 / 255.0 * scale)
}

/// Resizes `buffer` to `len` without keeping its old contents in any
/// particular state (callers overwrite every element).
pub(crate) fn scratch(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    buffer.resize(len, 0.0);
    &mut buffer[..len]
}

/// The normalised 1-D Gaussian whose outer product is piq's
/// `gaussian_filter(size, sigma)` (centred at `(size - 1) / 2`).
pub(crate) fn gaussian_taps(size: usize, sigma: f64) -> Vec<f32> {
    let center = (size as f64 - 1.0) / 2.0;
    let raw: Vec<f64> = (0..size)
        .map(|i| (-(i as f64 - center).powi(2) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = raw.iter().sum();
    raw.into_iter().map(|w| (w / total) as f32).collect()
}

/// Correlates a `width` x `height` plane with `taps ⊗ taps` at every
/// position where the window fits (piq's `conv2d` without padding), writing
/// the `(width - n + 1) x (height - n + 1)` result to `out`; `rows` is
/// scratch.
pub(crate) fn filter_valid(
    plane: &[f32],
    width: usize,
    height: usize,
    taps: &[f32],
    rows: &mut Vec<f32>,
    out: &mut Vec<f32>,
) {
    let n = taps.len();
    let (out_width, out_height) = (width + 1 - n, height + 1 - n);
    let rows = scratch(rows, out_width * height);
    for (src, dst) in plane
        .chunks_exact(width)
        .zip(rows.chunks_exact_mut(out_width))
    {
        for (x, value) in dst.iter_mut().enumerate() {
            *value = src[x..x + n].iter().zip(taps).map(|(v, w)| v * w).sum();
        }
    }
    let out = scratch(out, out_width * out_height);
    for (y, dst) in out.chunks_exact_mut(out_width).enumerate() {
        dst.fill(0.0);
        for (k, &w) in taps.iter().enumerate() {
            let src = &rows[(y + k) * out_width..(y + k + 1) * out_width];
            for (d, s) in dst.iter_mut().zip(src) {
                *d += s * w;
            }
        }
    }
}

/// The gradient magnitude `sqrt(gx² + gy²)` of a plane, where `gx`
/// correlates with `smooth^T ⊗ [-1, 0, 1]` and `gy` with its transpose, with
/// zero padding of one pixel (piq's `gradient_map`): Prewitt is
/// `smooth = [1, 1, 1] / 3`, Scharr `[3, 10, 3] / 16`. `padded` is scratch
/// for the zero-bordered copy that keeps the loops free of edge cases.
pub(crate) fn gradient_magnitude(
    plane: &[f32],
    width: usize,
    height: usize,
    smooth: [f32; 3],
    padded: &mut Vec<f32>,
    out: &mut Vec<f32>,
) {
    let padded_width = width + 2;
    let padded = scratch(padded, padded_width * (height + 2));
    padded[..padded_width].fill(0.0);
    padded[(height + 1) * padded_width..].fill(0.0);
    for (dst, src) in padded[padded_width..]
        .chunks_exact_mut(padded_width)
        .zip(plane.chunks_exact(width))
    {
        dst[0] = 0.0;
        dst[1..=width].copy_from_slice(src);
        dst[width + 1] = 0.0;
    }
    let out = scratch(out, width * height);
    for (y, dst) in out.chunks_exact_mut(width).enumerate() {
        gradient_row(padded, width, y, smooth, dst);
    }
}

/// Row `y` of [`gradient_magnitude`], from the plane already stored with
/// its zero border in `padded` (rows of `width + 2`), into `out`.
///
/// Computed [`LANES`] outputs at a time from copies in fixed-size arrays,
/// which the compiler vectorises without the overlap checks between `out`
/// and `padded` that keep a plain loop over slices scalar.
#[inline(always)]
pub(crate) fn gradient_row(
    padded: &[f32],
    width: usize,
    y: usize,
    smooth: [f32; 3],
    out: &mut [f32],
) {
    let padded_width = width + 2;
    // No closures here: a closure is a function of its own, compiled for
    // baseline x86-64 even when this is inlined into an AVX2 function, and
    // not always inlined back.
    let rows = [
        &padded[y * padded_width..(y + 1) * padded_width],
        &padded[(y + 1) * padded_width..(y + 2) * padded_width],
        &padded[(y + 2) * padded_width..(y + 3) * padded_width],
    ];
    let mut blocks = out[..width].chunks_exact_mut(LANES);
    for (block, out) in (&mut blocks).enumerate() {
        out.copy_from_slice(&gradient_lanes(rows, block * LANES, smooth));
    }
    let rest = blocks.into_remainder();
    if !rest.is_empty() {
        let magnitudes = gradient_lanes(rows, width - rest.len(), smooth);
        rest.copy_from_slice(&magnitudes[..rest.len()]);
    }
}

/// [`gradient_row`] at `x..x + LANES` from the padded rows above, at and
/// below (any past the row's end unused).
#[inline(always)]
fn gradient_lanes([above, middle, below]: [&[f32]; 3], x: usize, smooth: [f32; 3]) -> [f32; LANES] {
    let (a0, a1, a2) = (lanes(above, x), lanes(above, x + 1), lanes(above, x + 2));
    let (m0, m2) = (lanes(middle, x), lanes(middle, x + 2));
    let (b0, b1, b2) = (lanes(below, x), lanes(below, x + 1), lanes(below, x + 2));
    let mut magnitudes = [0.0; LANES];
    for (i, value) in magnitudes.iter_mut().enumerate() {
        let gx =
            smooth[0] * (a2[i] - a0[i]) + smooth[1] * (m2[i] - m0[i]) + smooth[2] * (b2[i] - b0[i]);
        let gy =
            smooth[0] * (b0[i] - a0[i]) + smooth[1] * (b1[i] - a1[i]) + smooth[2] * (b2[i] - a2[i]);
        *value = (gx * gx + gy * gy).sqrt();
    }
    magnitudes
}

/// How many values [`gradient_row`] computes at a time: one AVX2 vector.
const LANES: usize = 8;

/// `row[x..x + LANES]`, or at the end of a row what is left of it, padded
/// with zeros that are not used.
#[inline(always)]
fn lanes(row: &[f32], x: usize) -> [f32; LANES] {
    match row.get(x..x + LANES) {
        Some(full) => full.try_into().expect("LANES values"),
        None => {
            let mut lanes = [0.0; LANES];
            let tail = &row[x..];
            lanes[..tail.len()].copy_from_slice(tail);
            lanes
        }
    }
}

/// `k`×`k` average pooling with stride `k` (floor of sides that `k` does not
/// divide).
pub(crate) fn average_pool(
    plane: &[f32],
    width: usize,
    height: usize,
    k: usize,
    out: &mut Vec<f32>,
) {
    let (out_width, out_height) = (width / k, height / k);
    let out = scratch(out, out_width * out_height);
    let scale = 1.0 / (k * k) as f32;
    for (y, dst) in out.chunks_exact_mut(out_width).enumerate() {
        for (x, value) in dst.iter_mut().enumerate() {
            let mut sum = 0.0f32;
            for dy in 0..k {
                let row = &plane[(y * k + dy) * width + x * k..(y * k + dy) * width + x * k + k];
                sum += row.iter().sum::<f32>();
            }
            *value = sum * scale;
        }
    }
}

/// The Dice-like similarity `(2xy + c) / (x² + y² + c)` of two values.
#[inline(always)]
pub(crate) fn similarity(x: f32, y: f32, c: f32) -> f32 {
    (2.0 * x * y + c) / (x * x + y * y + c)
}

/// Buffers for [`windowed_moments`].
#[derive(Default)]
pub(crate) struct Moments {
    /// μ_x, μ_y, E[x²], E[y²], E[xy] over each window position.
    pub(crate) maps: [Vec<f32>; 5],
    product: Vec<f32>,
    rows: Vec<f32>,
}

impl Moments {
    /// The local means and second moments of two `width` x `height` planes
    /// under the window `taps ⊗ taps`, at every position where it fits.
    pub(crate) fn compute(
        &mut self,
        x: &[f32],
        y: &[f32],
        width: usize,
        height: usize,
        taps: &[f32],
    ) {
        let [mu_x, mu_y, xx, yy, xy] = &mut self.maps;
        filter_valid(x, width, height, taps, &mut self.rows, mu_x);
        filter_valid(y, width, height, taps, &mut self.rows, mu_y);
        for (target, (p, q)) in [(xx, (x, x)), (yy, (y, y)), (xy, (x, y))] {
            let product = scratch(&mut self.product, p.len());
            for ((o, a), b) in product.iter_mut().zip(p).zip(q) {
                *o = a * b;
            }
            filter_valid(product, width, height, taps, &mut self.rows, target);
        }
    }

    /// Filters `plane` with `taps ⊗ taps` inside the image and keeps every
    /// second row and column from the first (piq's `conv2d(x)[..., ::2, ::2]`),
    /// in place; returns the new width and height.
    pub(crate) fn filter_and_subsample(
        &mut self,
        plane: &mut Vec<f32>,
        width: usize,
        height: usize,
        taps: &[f32],
    ) -> (usize, usize) {
        let side = taps.len();
        let (filtered_width, filtered_height) = (width + 1 - side, height + 1 - side);
        let (sub_width, sub_height) = (filtered_width.div_ceil(2), filtered_height.div_ceil(2));
        filter_valid(
            plane,
            width,
            height,
            taps,
            &mut self.rows,
            &mut self.product,
        );
        let sub = scratch(plane, sub_width * sub_height);
        for (y, dst) in sub.chunks_exact_mut(sub_width).enumerate() {
            let src = &self.product[2 * y * filtered_width..];
            for (x, value) in dst.iter_mut().enumerate() {
                *value = src[2 * x];
            }
        }
        (sub_width, sub_height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `gray_row` against [`matlab_gray_level`] on every 8-bit colour,
    /// in rows of 16 pixels so that nearly all take the fixed-point path.
    fn check_every_colour(gray_row: impl Fn(&[u8], &mut [u8])) {
        let mut rgb = Vec::with_capacity(3 << 16);
        let mut levels = [0u8; 16];
        for red in 0..=255u8 {
            rgb.clear();
            for green in 0..=255u8 {
                for blue in 0..=255u8 {
                    rgb.extend([red, green, blue]);
                }
            }
            for row in rgb.chunks_exact(3 * levels.len()) {
                gray_row(row, &mut levels);
                for (pixel, &level) in row.chunks_exact(3).zip(&levels) {
                    let expected = matlab_gray_level([pixel[0], pixel[1], pixel[2]]);
                    assert_eq!(level, expected, "{pixel:?}");
                }
            }
        }
    }

    #[test]
    fn fixed_point_gray_levels_are_matlab_levels_for_every_colour() {
        check_every_colour(matlab_gray_row);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_gray_levels_are_matlab_levels_for_every_colour() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 on this CPU: only the baseline path exists");
            return;
        }
        #[target_feature(enable = "avx2")]
        fn gray_row_avx2(rgb: &[u8], out: &mut [u8]) {
            matlab_gray_row(rgb, out)
        }
        // SAFETY: the CPU has AVX2.
        check_every_colour(|rgb, out| unsafe { gray_row_avx2(rgb, out) });
    }

    /// The float64 fallback is needed: some colours' fixed-point sums fall
    /// on the other side of a rounding boundary than the float64 sums, and
    /// the margin catches them.
    #[test]
    fn fixed_point_alone_would_round_some_colours_differently() {
        let mut mismatches = 0;
        for rgb in 0..1u32 << 24 {
            let pixel = [(rgb >> 16) as u8, (rgb >> 8) as u8, rgb as u8];
            let [r, g, b] = pixel.map(u32::from);
            let sum = FIXED_GRAY[0] * r + FIXED_GRAY[1] * g + FIXED_GRAY[2] * b + FIXED_HALF;
            if (sum >> FIXED_SHIFT) as u8 != matlab_gray_level(pixel) {
                mismatches += 1;
                assert!((sum + FIXED_MARGIN) % (1 << FIXED_SHIFT) < 2 * FIXED_MARGIN);
            }
        }
        assert!(mismatches > 0);
    }
}
