//! Spatial distortions: every one resamples the image bilinearly through
//! `warp::warp` or, for translations, its separable form
//! `raster::translate`, so all share the same fixed-point interpolation and
//! border rule (reads outside the image repeat the nearest edge pixel). Only
//! the random warps draw from the RNG (their displacement grids).

use image::{GrayImage, RgbImage};

use crate::error::Result;
use crate::raster::{round_to_u8, translate};
use crate::rng::{fill_symmetric_uniform, StepRng};
use crate::simd::multiversion;
use crate::spec::{
    AffineWarp, ChromaticAberration, CubicWarp, Distort, Ghosting, Homography, LinearWarp, Shift,
};
use crate::warp::warp;

impl Distort for Shift {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        Ok(translate(image, self.dx, self.dy))
    }
}

/// Image centre in pixel-index coordinates (pixel centres at integers).
fn centre(image: &RgbImage) -> (f32, f32) {
    (
        (image.width() as f32 - 1.0) / 2.0,
        (image.height() as f32 - 1.0) / 2.0,
    )
}

impl Distort for AffineWarp {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        // Forward map: rotate(scale * shear(p)). The output is filled by
        // reading the source at the inverse map of each output pixel.
        let angle = self.rotation.to_radians();
        let (sin, cos) = (libm::sinf(angle), libm::cosf(angle));
        // Image y points down, so a counter-clockwise rotation on screen is
        // the clockwise one in (x, y).
        let forward = [
            [self.scale * cos, self.scale * (cos * self.shear + sin)],
            [-self.scale * sin, self.scale * (cos - sin * self.shear)],
        ];
        let determinant = forward[0][0] * forward[1][1] - forward[0][1] * forward[1][0];
        let inverse = [
            [forward[1][1] / determinant, -forward[0][1] / determinant],
            [-forward[1][0] / determinant, forward[0][0] / determinant],
        ];
        let (cx, cy) = centre(image);
        // The source is (cx + inverse[0][0] u) + inverse[0][1] v, and likewise
        // for y: the bracket depends on the column only, so it is computed
        // once per column, and each pixel adds its row's term as before.
        let columns: Vec<[f32; 2]> = (0..image.width())
            .map(|x| {
                let u = x as f32 - cx;
                [cx + inverse[0][0] * u, cy + inverse[1][0] * u]
            })
            .collect();
        Ok(warp(image, |y, xs, ys| {
            let v = y as f32 - cy;
            let (row_x, row_y) = (inverse[0][1] * v, inverse[1][1] * v);
            for ((sx, sy), column) in xs.iter_mut().zip(ys.iter_mut()).zip(&columns) {
                *sx = column[0] + row_x;
                *sy = column[1] + row_y;
            }
        }))
    }
}

impl Distort for Homography {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        // In coordinates normalised to [-1, 1] about the centre, the source of
        // (u, v) is (u, v) / (1 + px u + py v); the denominator stays >= 0.4
        // inside the valid ranges, so the map never folds.
        let (cx, cy) = centre(image);
        let (half_width, half_height) = (cx.max(0.5), cy.max(0.5));
        Ok(warp(image, |y, xs, ys| {
            let v = (y as f32 - cy) / half_height;
            for (x, (sx, sy)) in xs.iter_mut().zip(ys.iter_mut()).enumerate() {
                let u = (x as f32 - cx) / half_width;
                let scale = 1.0 / (1.0 + self.perspective_x * u + self.perspective_y * v);
                *sx = cx + u * scale * half_width;
                *sy = cy + v * scale * half_height;
            }
        }))
    }
}

/// How a displacement grid is interpolated between its control points.
#[derive(Clone, Copy)]
enum GridInterpolation {
    Linear,
    CatmullRom,
}

impl GridInterpolation {
    /// Weights of control points floor(t)-1 ..= floor(t)+2 for fraction `t`.
    fn weights(self, t: f32) -> [f32; 4] {
        match self {
            GridInterpolation::Linear => [0.0, 1.0 - t, t, 0.0],
            GridInterpolation::CatmullRom => {
                let (t2, t3) = (t * t, t * t * t);
                [
                    0.5 * (-t3 + 2.0 * t2 - t),
                    0.5 * (3.0 * t3 - 5.0 * t2 + 2.0),
                    0.5 * (-3.0 * t3 + 4.0 * t2 + t),
                    0.5 * (t3 - t2),
                ]
            }
        }
    }
}

/// Random displacements on a (cells+1)^2 grid spread over the image,
/// interpolated to every pixel; the grid is extended by repeating its edge
/// control points.
fn random_warp(
    image: &RgbImage,
    rng: &mut StepRng,
    magnitude: f32,
    cells: u32,
    interpolation: GridInterpolation,
) -> RgbImage {
    let points = cells as usize + 1;
    let mut displacement = vec![0.0; points * points * 2];
    fill_symmetric_uniform(rng, &mut displacement);
    let (width, height) = image.dimensions();
    // Per-axis control indices and weights, computed once per column / row.
    let axis = |pixel: u32, size: u32| {
        let t = (pixel as f32 + 0.5) / size as f32 * cells as f32;
        let cell = (t.floor() as usize).min(cells as usize - 1);
        let weights = interpolation.weights(t - cell as f32);
        let indices: [usize; 4] =
            std::array::from_fn(|k| (cell + k).saturating_sub(1).min(points - 1));
        (indices, weights)
    };
    let mut columns = ColumnWeights {
        runs: Vec::new(),
        weights: [0, 1, 2, 3].map(|_| Vec::with_capacity(width as usize)),
    };
    for x in 0..width {
        let (indices, weights) = axis(x, width);
        match columns.runs.last_mut() {
            Some(run) if run.controls == indices => run.end += 1,
            _ => columns.runs.push(ColumnRun {
                start: x as usize,
                end: x as usize + 1,
                controls: indices,
            }),
        }
        for (plane, weight) in columns.weights.iter_mut().zip(weights) {
            plane.push(weight);
        }
    }
    // The field is separable: blend the grid's rows once per image row, then
    // each pixel needs only four of those blended points instead of sixteen.
    let mut blended_row = vec![[0f32; 2]; points];
    warp(image, |y, xs, ys| {
        let (row_indices, row_weights) = axis(y as u32, height);
        for (column, blended) in blended_row.iter_mut().enumerate() {
            *blended = [0, 1].map(|axis| {
                row_indices
                    .iter()
                    .zip(&row_weights)
                    .map(|(&row, &weight)| {
                        weight * displacement[(row * points + column) * 2 + axis]
                    })
                    .sum()
            });
        }
        displaced_row(y as f32, magnitude, &columns, &blended_row, xs, ys);
    })
}

/// The column half of the separable field: per-column weights of the four
/// control columns, which are the same along runs of columns.
struct ColumnWeights {
    runs: Vec<ColumnRun>,
    /// `weights[k][x]`: weight of run's `controls[k]` for column `x`.
    weights: [Vec<f32>; 4],
}

/// Consecutive columns `start..end` that read the same control columns.
struct ColumnRun {
    start: usize,
    end: usize,
    controls: [usize; 4],
}

multiversion! {
    /// Source positions of one row: each pixel displaced by `magnitude`
    /// times the field, interpolated from the row's blended control points.
    /// Within a run the control points are constants, so the loop is
    /// element-wise and vectorises.
    fn displaced_row(
        y: f32,
        magnitude: f32,
        columns: &ColumnWeights,
        blended: &[[f32; 2]],
        xs: &mut [f32],
        ys: &mut [f32],
    ) {
        let [w0, w1, w2, w3] = &columns.weights;
        for run in &columns.runs {
            let points = run.controls.map(|control| blended[control]);
            // One zip over the run's slices: no bounds checks, so it vectorises.
            let run_columns = run.start..run.end;
            let columns_of_run = xs[run_columns.clone()]
                .iter_mut()
                .zip(&mut ys[run_columns.clone()])
                .zip(&w0[run_columns.clone()])
                .zip(&w1[run_columns.clone()])
                .zip(&w2[run_columns.clone()])
                .zip(&w3[run_columns.clone()]);
            for (x, (((((sx, sy), &w0), &w1), &w2), &w3)) in run_columns.zip(columns_of_run) {
                let mut offset = [0f32; 2];
                for (weight, point) in [w0, w1, w2, w3].into_iter().zip(points) {
                    offset[0] += weight * point[0];
                    offset[1] += weight * point[1];
                }
                // Exact: columns are below MAX_SIDE < 2^24, and an i32
                // converts in vector registers.
                *sx = x as i32 as f32 + magnitude * offset[0];
                *sy = y + magnitude * offset[1];
            }
        }
    }
}

impl Distort for LinearWarp {
    fn distort(&self, image: &RgbImage, rng: &mut StepRng) -> Result<RgbImage> {
        Ok(random_warp(
            image,
            rng,
            self.magnitude,
            self.cells,
            GridInterpolation::Linear,
        ))
    }
}

impl Distort for CubicWarp {
    fn distort(&self, image: &RgbImage, rng: &mut StepRng) -> Result<RgbImage> {
        Ok(random_warp(
            image,
            rng,
            self.magnitude,
            self.cells,
            GridInterpolation::CatmullRom,
        ))
    }
}

impl Distort for Ghosting {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        let mut out = translate(image, self.dx, self.dy);
        blend(&mut out, image, self.opacity);
        Ok(out)
    }
}

multiversion! {
    /// ghost = (1 - opacity) image + opacity ghost, in place.
    fn blend(ghost: &mut [u8], image: &[u8], opacity: f32) {
        for (g, &value) in ghost.iter_mut().zip(image) {
            *g = round_to_u8((1.0 - opacity) * f32::from(value) + opacity * f32::from(*g));
        }
    }
}

impl Distort for ChromaticAberration {
    fn distort(&self, image: &RgbImage, _rng: &mut StepRng) -> Result<RgbImage> {
        // Red moves by (dx, dy) and blue the opposite way, so only those two
        // planes are translated. Splitting and merging the channels in one
        // pass each keeps the interleaved image out of any per-channel loop.
        let (width, height) = image.dimensions();
        let mut red = GrayImage::new(width, height);
        let mut blue = GrayImage::new(width, height);
        split_red_blue(image, &mut red, &mut blue);
        let red = translate(&red, self.dx, self.dy);
        let blue = translate(&blue, -self.dx, -self.dy);
        let mut out = RgbImage::new(width, height);
        merge_channels(&red, image, &blue, &mut out);
        Ok(out)
    }
}

multiversion! {
    /// Copies the red and blue channels of RGB `pixels` into their planes.
    fn split_red_blue(pixels: &[u8], red: &mut [u8], blue: &mut [u8]) {
        for ((pixel, r), b) in pixels.chunks_exact(3).zip(red).zip(blue) {
            *r = pixel[0];
            *b = pixel[2];
        }
    }
}

multiversion! {
    /// RGB pixels from the `red` and `blue` planes and the green of `green_from`.
    fn merge_channels(red: &[u8], green_from: &[u8], blue: &[u8], out: &mut [u8]) {
        for (((pixel, &r), source), &b) in out
            .chunks_exact_mut(3)
            .zip(red)
            .zip(green_from.chunks_exact(3))
            .zip(blue)
        {
            pixel.copy_from_slice(&[r, source[1], b]);
        }
    }
}
