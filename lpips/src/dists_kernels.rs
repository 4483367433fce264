//! DISTS' L2 pooling and per-channel statistics as single-pass CPU kernels
//! over the feature maps' own memory.
//!
//! Why not tensor ops: profiled at 64×64 on 2 threads, the VGG16
//! convolutions (oneDNN) are about two thirds of DISTS' time; the rest went
//! to the L2 pooling (square, a depthwise convolution, add, square root, with
//! layout conversions around it) and to the statistics (two `index_select`
//! copies per feature set, then about ten elementwise and reduction passes
//! over maps far larger than the caches). Both are memory-bound. Here each
//! channel's map is read once into cache and everything is computed there:
//! the pooling separably (the filter is the outer product of
//! [¼, ½, ¼] with itself), the statistics in float64, two-pass (means, then
//! centred moments). The results equal the tensor ops' up to float32
//! rounding — closer to the exact values, since float64 removes the
//! cancellation in the official `E[xy] − μxμy`.
//!
//! Used where the backbone runs on oneDNN (the CPU); on other devices the
//! same formulas run as tensor ops ([`crate::dists`], [`crate::backbone`]).

use std::thread;

use tch::{Device, Kind, Tensor};

/// DISTS' stabilising constant (structure and texture terms).
pub(crate) const C: f64 = 1e-6;
/// The L2 pooling's constant under the square root.
const POOL_EPSILON: f32 = 1e-12;

/// Threads for the kernels: the calling thread's libtorch intra-op count —
/// the scorer's setting for the statistics, one for the pooling inside the
/// trunk's per-part threads (see [`crate::dists`]).
fn threads() -> usize {
    usize::try_from(tch::get_num_threads()).unwrap_or(1).max(1)
}

/// The float32 data of a dense, contiguous CPU tensor.
fn floats(tensor: &Tensor) -> &[f32] {
    assert!(
        tensor.kind() == Kind::Float
            && tensor.device() == Device::Cpu
            && !tensor.is_mkldnn()
            && tensor.is_contiguous(),
        "a dense contiguous float32 CPU tensor"
    );
    let len = tensor.numel();
    if len == 0 {
        return &[];
    }
    // SAFETY: the tensor is a dense contiguous float32 CPU tensor of `len`
    // elements, borrowed for the slice's lifetime, and nothing writes to it
    // meanwhile (the kernels only read their inputs).
    unsafe { std::slice::from_raw_parts(tensor.data_ptr() as *const f32, len) }
}

/// The dims of a (N, C, H, W) tensor as usizes.
fn dims(tensor: &Tensor) -> [usize; 4] {
    let size = tensor.size();
    assert_eq!(size.len(), 4, "an (N, C, H, W) tensor");
    [0, 1, 2, 3].map(|i| usize::try_from(size[i]).expect("tensor size"))
}

/// Splits `0..len` into at most `threads()` contiguous ranges and runs
/// `work(start, end, out_chunk)` on each, `out` cut to match (`per` outputs
/// per item); on the calling thread when that is one.
fn parallel<F>(len: usize, per: usize, out: &mut [f32], work: F)
where
    F: Fn(usize, usize, &mut [f32]) + Sync,
{
    let threads = threads();
    if threads == 1 {
        // As in the trunk's per-part threads: no thread to start.
        work(0, len, out);
        return;
    }
    let chunk = len.div_ceil(threads).max(1);
    thread::scope(|scope| {
        for (index, out_chunk) in out.chunks_mut(chunk * per).enumerate() {
            let start = index * chunk;
            let end = (start + chunk).min(len);
            let work = &work;
            scope.spawn(move || work(start, end, out_chunk));
        }
    });
}

/// DISTS' L2 pooling of a dense (N, C, H, W) float32 CPU tensor:
/// `sqrt(conv(x², g) + 1e-12)` per channel, `g` the normalised 3×3 Hann
/// filter, stride 2, padding 1 — an (N, C, ⌊(H − 1)/2⌋ + 1, …) tensor.
pub(crate) fn l2_pool(input: &Tensor) -> Tensor {
    let [n, c, h, w] = dims(input);
    let (out_h, out_w) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1);
    let shape = [n, c, out_h, out_w].map(|d| i64::try_from(d).expect("size"));
    let output = Tensor::empty(shape, (Kind::Float, Device::Cpu));
    let data = floats(input);
    let out_len = n * c * out_h * out_w;
    if out_len == 0 {
        return output;
    }
    // SAFETY: `output` was just created dense and contiguous with
    // `out_len` float32 elements, and nothing else refers to it yet.
    let out = unsafe { std::slice::from_raw_parts_mut(output.data_ptr() as *mut f32, out_len) };
    parallel(n * c, out_h * out_w, out, |start, end, out| {
        // Row r of the horizontally filtered squares, padded with a zero
        // row at each end (rows −1 and h).
        let mut rows = vec![0f32; (h + 2) * out_w];
        for (plane, out_plane) in (start..end).zip(out.chunks_exact_mut(out_h * out_w)) {
            let x = &data[plane * h * w..(plane + 1) * h * w];
            for (r, row) in x.chunks_exact(w).enumerate() {
                let filtered = &mut rows[(r + 1) * out_w..(r + 2) * out_w];
                for (j, value) in filtered.iter_mut().enumerate() {
                    let centre = row[2 * j];
                    let left = if j > 0 { row[2 * j - 1] } else { 0.0 };
                    let right = row.get(2 * j + 1).copied().unwrap_or(0.0);
                    *value = 0.25 * left * left + 0.5 * centre * centre + 0.25 * right * right;
                }
            }
            for (i, out_row) in out_plane.chunks_exact_mut(out_w).enumerate() {
                // Input rows 2i − 1, 2i, 2i + 1 are padded rows 2i, 2i + 1, 2i + 2.
                let above = &rows[2 * i * out_w..(2 * i + 1) * out_w];
                let centre = &rows[(2 * i + 1) * out_w..(2 * i + 2) * out_w];
                let below = &rows[(2 * i + 2) * out_w..(2 * i + 3) * out_w];
                for (j, value) in out_row.iter_mut().enumerate() {
                    *value =
                        (0.25 * above[j] + 0.5 * centre[j] + 0.25 * below[j] + POOL_EPSILON).sqrt();
                }
            }
        }
    });
    output
}

/// Lanes of the float64 accumulators (a vector register's worth).
const LANES: usize = 8;

fn lane_sum(lanes: [f64; LANES]) -> f64 {
    lanes.iter().sum()
}

/// Means of `x` and `y`.
fn means(x: &[f32], y: &[f32]) -> (f64, f64) {
    let (mut sx, mut sy) = ([0f64; LANES], [0f64; LANES]);
    let (xs, ys) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let (x_rest, y_rest) = (xs.remainder(), ys.remainder());
    for (cx, cy) in xs.zip(ys) {
        for k in 0..LANES {
            sx[k] += f64::from(cx[k]);
            sy[k] += f64::from(cy[k]);
        }
    }
    for (k, (&a, &b)) in x_rest.iter().zip(y_rest).enumerate() {
        sx[k] += f64::from(a);
        sy[k] += f64::from(b);
    }
    let count = x.len() as f64;
    (lane_sum(sx) / count, lane_sum(sy) / count)
}

/// Population variances of `x` and `y` and their covariance, about the
/// given means.
fn centred_moments(x: &[f32], y: &[f32], mx: f64, my: f64) -> (f64, f64, f64) {
    let (mut vx, mut vy, mut cxy) = ([0f64; LANES], [0f64; LANES], [0f64; LANES]);
    let (xs, ys) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let (x_rest, y_rest) = (xs.remainder(), ys.remainder());
    for (cx, cy) in xs.zip(ys) {
        for k in 0..LANES {
            let (dx, dy) = (f64::from(cx[k]) - mx, f64::from(cy[k]) - my);
            vx[k] += dx * dx;
            vy[k] += dy * dy;
            cxy[k] += dx * dy;
        }
    }
    for (k, (&a, &b)) in x_rest.iter().zip(y_rest).enumerate() {
        let (dx, dy) = (f64::from(a) - mx, f64::from(b) - my);
        vx[k] += dx * dx;
        vy[k] += dy * dy;
        cxy[k] += dx * dy;
    }
    let count = x.len() as f64;
    (
        lane_sum(vx) / count,
        lane_sum(vy) / count,
        lane_sum(cxy) / count,
    )
}

/// Each image's (C, H, W) maps, in order, from the dense (n, C, H, W)
/// tensors holding consecutive parts of a batch.
pub(crate) fn image_maps<'a>(parts: impl Iterator<Item = &'a Tensor>) -> Vec<&'a [f32]> {
    parts
        .flat_map(|part| {
            let [n, c, h, w] = dims(part);
            let data = floats(part);
            (0..n).map(move |image| &data[image * c * h * w..(image + 1) * c * h * w])
        })
        .collect()
}

/// One feature set of both sides of the comparisons: each image's maps (see
/// [`image_maps`]) and the (normalised) α and β of its channels.
pub(crate) struct FeatureSet<'a> {
    pub(crate) a: Vec<&'a [f32]>,
    pub(crate) b: Vec<&'a [f32]>,
    pub(crate) alpha: &'a [f32],
    pub(crate) beta: &'a [f32],
}

/// DISTS of `a[a_index[k]]` against `b[b_index[k]]` for every k:
/// one minus Σ over feature sets and channels of α·structure + β·texture.
pub(crate) fn distances(sets: &[FeatureSet<'_>], a_index: &[i64], b_index: &[i64]) -> Tensor {
    assert_eq!(a_index.len(), b_index.len());
    let mut out = vec![0f32; a_index.len()];
    parallel(a_index.len(), 1, &mut out, |start, end, out| {
        for (k, value) in (start..end).zip(out.iter_mut()) {
            let (ia, ib) = (
                usize::try_from(a_index[k]).expect("index"),
                usize::try_from(b_index[k]).expect("index"),
            );
            let mut similarity = 0f64;
            for set in sets {
                let (x_maps, y_maps) = (set.a[ia], set.b[ib]);
                assert_eq!(x_maps.len(), y_maps.len(), "feature sets of one shape");
                let plane = x_maps.len() / set.alpha.len();
                for (channel, (x, y)) in x_maps
                    .chunks_exact(plane)
                    .zip(y_maps.chunks_exact(plane))
                    .enumerate()
                {
                    let (mx, my) = means(x, y);
                    let (vx, vy, cxy) = centred_moments(x, y, mx, my);
                    let structure = (2.0 * mx * my + C) / (mx * mx + my * my + C);
                    let texture = (2.0 * cxy + C) / (vx + vy + C);
                    similarity += f64::from(set.alpha[channel]) * structure
                        + f64::from(set.beta[channel]) * texture;
                }
            }
            *value = (1.0 - similarity) as f32;
        }
    });
    Tensor::from_slice(&out)
}
