//! One property per type showing it does what its name says.

use crate::common::*;
use image::{Rgb, RgbImage};

fn chroma(image: &RgbImage) -> f64 {
    image
        .pixels()
        .map(|p| f64::from(p.0.iter().max().unwrap() - p.0.iter().min().unwrap()))
        .sum::<f64>()
}

#[test]
fn lightness_shift_moves_mean_luminance_the_asked_way() {
    let image = textured(64, 64);
    let base = mean(&luma_values(&image));
    let brighter = mean(&luma_values(&apply(
        r#"{"type":"lightness_shift","amount":0.1}"#,
        &image,
        0,
    )));
    let darker = mean(&luma_values(&apply(
        r#"{"type":"lightness_shift","amount":-0.1}"#,
        &image,
        0,
    )));
    assert!(
        (brighter - base - 25.5).abs() < 1.0,
        "brighter by {}",
        brighter - base
    );
    assert!(
        (base - darker - 25.5).abs() < 1.0,
        "darker by {}",
        base - darker
    );
}

#[test]
fn color_shift_moves_chroma_and_keeps_luma() {
    let image = flat(16, 16, 128);
    let out = apply(r#"{"type":"color_shift","cb":0,"cr":0.1}"#, &image, 0);
    let pixel = out.get_pixel(3, 3);
    assert!(
        pixel[0] > 155 && pixel[1] < 128 && pixel[2] == 128,
        "{pixel:?}"
    );
    assert!((mean(&luma_values(&out)) - 128.0).abs() < 0.6);
    let bluer = apply(r#"{"type":"color_shift","cb":0.1,"cr":0}"#, &image, 0);
    assert!(bluer.get_pixel(0, 0)[2] > 170);
}

#[test]
fn contrast_scales_luma_spread_about_the_mean() {
    let image = textured(64, 64);
    let spread = std_dev(&luma_values(&image));
    let low = std_dev(&luma_values(&apply(
        r#"{"type":"contrast","factor":0.5}"#,
        &image,
        0,
    )));
    let high = std_dev(&luma_values(&apply(
        r#"{"type":"contrast","factor":1.5}"#,
        &image,
        0,
    )));
    assert!((low / spread - 0.5).abs() < 0.03, "ratio {}", low / spread);
    assert!(
        (high / spread - 1.5).abs() < 0.05,
        "ratio {}",
        high / spread
    );
}

#[test]
fn saturation_zero_is_grey_and_above_one_is_more_colourful() {
    let image = textured(64, 64);
    let grey = apply(r#"{"type":"saturation","factor":0}"#, &image, 0);
    assert!(grey.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
    let vivid = apply(r#"{"type":"saturation","factor":1.6}"#, &image, 0);
    assert!(chroma(&vivid) > 1.4 * chroma(&image));
}

#[test]
fn uniform_noise_stays_within_its_amplitude_with_uniform_spread() {
    let image = flat(64, 64, 128);
    let noise = residual(
        &image,
        &apply(r#"{"type":"uniform_noise","amplitude":0.2}"#, &image, 3),
    );
    let half_width = 0.2 * 255.0;
    assert!(noise.iter().all(|v| v.abs() <= half_width + 0.5));
    assert!(mean(&noise).abs() < 0.6);
    assert!(
        (std_dev(&noise) - half_width / 3f64.sqrt()).abs() < 0.6,
        "std {}",
        std_dev(&noise)
    );
}

#[test]
fn gaussian_noise_has_the_asked_standard_deviation_and_no_correlation() {
    let image = flat(64, 64, 128);
    let noise = residual(
        &image,
        &apply(r#"{"type":"gaussian_noise","sigma":0.08}"#, &image, 3),
    );
    assert!(
        (std_dev(&noise) - 0.08 * 255.0).abs() < 0.4,
        "std {}",
        std_dev(&noise)
    );
    assert!(neighbour_correlation(&noise, 64).abs() < 0.05);
}

#[test]
fn spectral_noise_colour_follows_the_exponent() {
    let image = flat(64, 64, 128);
    let correlation =
        |spec: &str| neighbour_correlation(&residual(&image, &apply(spec, &image, 4)), 64);
    let pink = correlation(r#"{"type":"pink_noise","sigma":0.08}"#);
    let blue = correlation(r#"{"type":"blue_noise","sigma":0.08}"#);
    assert!(
        pink > 0.2,
        "pink noise should be low-pass, correlation {pink}"
    );
    assert!(
        blue < -0.1,
        "blue noise should be high-pass, correlation {blue}"
    );
    let by_exponent: Vec<f64> = [-2.0, -1.0, 0.0, 1.0, 2.0]
        .iter()
        .map(|e| {
            correlation(&format!(
                r#"{{"type":"colored_noise","sigma":0.08,"exponent":{e}}}"#
            ))
        })
        .collect();
    assert!(
        by_exponent.windows(2).all(|w| w[0] > w[1]),
        "brown to violet: {by_exponent:?}"
    );
    assert!(
        by_exponent[2].abs() < 0.05,
        "exponent 0 is white: {}",
        by_exponent[2]
    );
}

#[test]
fn spectral_noise_has_the_asked_rms() {
    let image = flat(64, 64, 128);
    for spec in [
        r#"{"type":"pink_noise","sigma":0.05}"#,
        r#"{"type":"blue_noise","sigma":0.05}"#,
    ] {
        let noise = residual(&image, &apply(spec, &image, 8));
        let rms = (noise.iter().map(|v| v * v).sum::<f64>() / noise.len() as f64).sqrt();
        assert!((rms - 0.05 * 255.0).abs() < 0.3, "{spec}: rms {rms}");
    }
}

#[test]
fn checkerboard_alternates_sign_between_cells() {
    let image = flat(32, 32, 128);
    // 0.12 * 255 = 30.6 rounds to 31 both ways (no half-way case).
    let out = apply(
        r#"{"type":"checkerboard","amplitude":0.12,"cell":2}"#,
        &image,
        6,
    );
    let amplitude = 31;
    for (x, y, p) in out.enumerate_pixels() {
        let offset = i32::from(p[0]) - 128;
        assert_eq!(offset.abs(), amplitude);
        if x + 2 < 32 {
            assert_eq!(
                i32::from(out.get_pixel(x + 2, y)[0]) - 128,
                -offset,
                "cells do not alternate at ({x},{y})"
            );
        }
    }
}

#[test]
fn gaussian_blur_lowers_high_frequency_energy_more_with_larger_sigma() {
    let image = textured(64, 64);
    let energies: Vec<f64> = [0.0, 0.7, 1.5, 2.5]
        .iter()
        .map(|s| {
            high_frequency_energy(&apply(
                &format!(r#"{{"type":"gaussian_blur","sigma":{s}}}"#),
                &image,
                0,
            ))
        })
        .collect();
    assert!(
        energies.windows(2).all(|w| w[1] < 0.8 * w[0]),
        "{energies:?}"
    );
    let mean_before = mean(&luma_values(&image));
    let mean_after = mean(&luma_values(&apply(
        r#"{"type":"gaussian_blur","sigma":2}"#,
        &image,
        0,
    )));
    assert!(
        (mean_before - mean_after).abs() < 0.5,
        "blur should keep the mean"
    );
}

#[test]
fn bilateral_filter_smooths_flat_regions_but_keeps_edges() {
    // A step edge under mild noise.
    let noisy_step = RgbImage::from_fn(32, 32, |x, y| {
        let base = if x < 16 { 60 } else { 190 };
        let grain = ((x * 7 + y * 13) % 9) as u8;
        Rgb([base + grain; 3])
    });
    let bilateral = apply(
        r#"{"type":"bilateral_filter","sigma_spatial":2,"sigma_range":0.08}"#,
        &noisy_step,
        0,
    );
    let gaussian = apply(r#"{"type":"gaussian_blur","sigma":2}"#, &noisy_step, 0);
    let flat_region = |image: &RgbImage| -> Vec<f64> {
        (4..28)
            .flat_map(|y| (2..10).map(move |x| (x, y)))
            .map(|(x, y)| f64::from(image.get_pixel(x, y)[0]))
            .collect()
    };
    assert!(std_dev(&flat_region(&bilateral)) < 0.6 * std_dev(&flat_region(&noisy_step)));
    let edge_step = |image: &RgbImage| {
        f64::from(image.get_pixel(16, 10)[0]) - f64::from(image.get_pixel(15, 10)[0])
    };
    assert!(
        edge_step(&bilateral) > 100.0,
        "edge blurred to {}",
        edge_step(&bilateral)
    );
    assert!(
        edge_step(&gaussian) < 60.0,
        "the Gaussian comparison should blur the edge"
    );
}

#[test]
fn shift_moves_content_by_the_asked_pixels_and_replicates_borders() {
    let image = textured(40, 30);
    let out = apply(r#"{"type":"shift","dx":5,"dy":-3}"#, &image, 0);
    for (x, y, p) in out.enumerate_pixels() {
        let source = (x.saturating_sub(5), (y + 3).min(29));
        assert_eq!(p, image.get_pixel(source.0, source.1), "({x},{y})");
    }
    let half = apply(
        r#"{"type":"shift","dx":0.5,"dy":0}"#,
        &dot(20, 20, 10, 10),
        0,
    );
    assert!((centroid(&half, 0).0 - 10.5).abs() < 0.05);
}

#[test]
fn affine_warp_rotates_and_scales_about_the_centre() {
    // Centre of a 33x33 image is (16, 16); the dot sits 10 px right of it.
    let image = dot(33, 33, 26, 16);
    let rotated = apply(
        r#"{"type":"affine_warp","rotation":15,"scale":1,"shear":0}"#,
        &image,
        0,
    );
    let (x, y) = centroid(&rotated, 0);
    let angle = 15f64.to_radians();
    // Counter-clockwise on screen: up (negative y) and slightly left.
    assert!(
        (x - (16.0 + 10.0 * angle.cos())).abs() < 0.3
            && (y - (16.0 - 10.0 * angle.sin())).abs() < 0.3,
        "({x},{y})"
    );
    let zoomed = apply(
        r#"{"type":"affine_warp","rotation":0,"scale":1.1,"shear":0}"#,
        &image,
        0,
    );
    let (x, y) = centroid(&zoomed, 0);
    assert!(
        (x - 27.0).abs() < 0.3 && (y - 16.0).abs() < 0.3,
        "({x},{y})"
    );
    let sheared = apply(
        r#"{"type":"affine_warp","rotation":0,"scale":1,"shear":0.2}"#,
        &dot(33, 33, 16, 26),
        0,
    );
    let (x, y) = centroid(&sheared, 0);
    assert!(
        (x - 18.0).abs() < 0.3 && (y - 26.0).abs() < 0.3,
        "({x},{y})"
    );
}

#[test]
fn homography_moves_points_as_a_perspective_map_does() {
    // Normalised source position u_s appears at u = u_s / (1 - p u_s).
    let image = dot(65, 65, 48, 32);
    let out = apply(
        r#"{"type":"homography","perspective_x":0.2,"perspective_y":0}"#,
        &image,
        0,
    );
    let u_source: f64 = 0.5;
    let u = u_source / (1.0 - 0.2 * u_source);
    let (x, y) = centroid(&out, 0);
    assert!(
        (x - (32.0 + 32.0 * u)).abs() < 0.5 && (y - 32.0).abs() < 0.3,
        "({x},{y})"
    );
}

/// Horizontal displacement of each pixel away from the borders, row by row,
/// recovered from a horizontal ramp whose value encodes the source column.
fn horizontal_displacements(spec: &str) -> Vec<Vec<f64>> {
    let ramp = RgbImage::from_fn(64, 64, |x, _| Rgb([(3 * x + 30) as u8; 3]));
    let out = apply(spec, &ramp, 11);
    (0..64)
        .map(|y| {
            (4..60)
                .map(|x| (f64::from(out.get_pixel(x, y)[0]) - 30.0) / 3.0 - f64::from(x))
                .collect()
        })
        .collect()
}

#[test]
fn random_warps_displace_smoothly_within_their_magnitude() {
    for spec in [
        r#"{"type":"linear_warp","magnitude":2.5,"cells":3}"#,
        r#"{"type":"cubic_warp","magnitude":2.5,"cells":3}"#,
    ] {
        let rows = horizontal_displacements(spec);
        let largest = rows.iter().flatten().fold(0f64, |m, s| m.max(s.abs()));
        assert!(
            largest <= 2.5 * 1.25 + 0.2,
            "{spec}: displacement {largest} beyond magnitude"
        );
        assert!(largest > 0.5, "{spec}: barely moved ({largest})");
        // Neighbouring pixels move together: the field is smooth, not noise.
        let jumps = rows
            .iter()
            .flat_map(|row| row.windows(2).map(|w| (w[1] - w[0]).abs()))
            .fold(0f64, f64::max);
        assert!(jumps < 1.0, "{spec}: jump of {jumps} px between neighbours");
    }
    assert_ne!(
        horizontal_displacements(r#"{"type":"linear_warp","magnitude":2.5,"cells":3}"#),
        horizontal_displacements(r#"{"type":"cubic_warp","magnitude":2.5,"cells":3}"#)
    );
}

#[test]
fn ghosting_adds_a_faint_displaced_copy() {
    let image = dot(32, 32, 10, 10);
    let out = apply(
        r#"{"type":"ghosting","dx":6,"dy":4,"opacity":0.3}"#,
        &image,
        0,
    );
    assert_eq!(out.get_pixel(10, 10)[0], 179); // 0.7 * 255
    assert_eq!(out.get_pixel(16, 14)[0], 77); // 0.3 * 255
    assert_eq!(out.get_pixel(24, 24)[0], 0);
}

#[test]
fn chromatic_aberration_offsets_red_and_blue_oppositely() {
    let image = dot(32, 32, 16, 16);
    let out = apply(
        r#"{"type":"chromatic_aberration","dx":2,"dy":-1}"#,
        &image,
        0,
    );
    let (red, green, blue) = (centroid(&out, 0), centroid(&out, 1), centroid(&out, 2));
    assert!(
        (red.0 - 18.0).abs() < 0.05 && (red.1 - 15.0).abs() < 0.05,
        "red {red:?}"
    );
    assert!(
        (green.0 - 16.0).abs() < 0.05 && (green.1 - 16.0).abs() < 0.05,
        "green {green:?}"
    );
    assert!(
        (blue.0 - 14.0).abs() < 0.05 && (blue.1 - 17.0).abs() < 0.05,
        "blue {blue:?}"
    );
}

#[test]
fn lower_jpeg_quality_gives_larger_error() {
    let image = textured(64, 64);
    let errors: Vec<f64> = [95, 60, 30, 10]
        .iter()
        .map(|q| {
            mean_squared_error(
                &image,
                &apply(&format!(r#"{{"type":"jpeg","quality":{q}}}"#), &image, 0),
            )
        })
        .collect();
    assert!(errors.windows(2).all(|w| w[0] < w[1]), "{errors:?}");
    assert!(errors[0] > 0.0);
}
