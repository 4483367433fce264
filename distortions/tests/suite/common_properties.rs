//! Properties every distortion type must have: strength changes the image,
//! zero strength does not, seeds reproduce, sizes are kept.

use crate::common::{apply, textured};
use distortions::{Distortion, KINDS};

/// Every parameter at the top of its range: a strong, non-identity setting
/// for every type.
fn strongest(type_name: &str) -> String {
    let kind = KINDS.iter().find(|k| k.name == type_name).unwrap();
    let values: Vec<f64> = kind.params.iter().map(|p| p.max).collect();
    serde_json::to_string(&Distortion::from_param_values(type_name, &values).unwrap()).unwrap()
}

/// Types whose output depends on the seed.
const RANDOM_TYPES: &[&str] = &[
    "uniform_noise",
    "gaussian_noise",
    "pink_noise",
    "blue_noise",
    "colored_noise",
    "checkerboard",
    "linear_warp",
    "cubic_warp",
];

/// The zero-strength setting of each type that has one (jpeg has none).
const IDENTITIES: &[&str] = &[
    r#"{"type":"lightness_shift","amount":0}"#,
    r#"{"type":"color_shift","cb":0,"cr":0}"#,
    r#"{"type":"contrast","factor":1}"#,
    r#"{"type":"saturation","factor":1}"#,
    r#"{"type":"uniform_noise","amplitude":0}"#,
    r#"{"type":"gaussian_noise","sigma":0}"#,
    r#"{"type":"pink_noise","sigma":0}"#,
    r#"{"type":"blue_noise","sigma":0}"#,
    r#"{"type":"colored_noise","sigma":0,"exponent":1.5}"#,
    r#"{"type":"checkerboard","amplitude":0,"cell":2}"#,
    r#"{"type":"gaussian_blur","sigma":0}"#,
    r#"{"type":"bilateral_filter","sigma_spatial":0,"sigma_range":0.2}"#,
    r#"{"type":"bilateral_filter","sigma_spatial":1.5,"sigma_range":0}"#,
    r#"{"type":"shift","dx":0,"dy":0}"#,
    r#"{"type":"affine_warp","rotation":0,"scale":1,"shear":0}"#,
    r#"{"type":"homography","perspective_x":0,"perspective_y":0}"#,
    r#"{"type":"linear_warp","magnitude":0,"cells":3}"#,
    r#"{"type":"cubic_warp","magnitude":0,"cells":3}"#,
    r#"{"type":"ghosting","dx":5,"dy":-3,"opacity":0}"#,
    r#"{"type":"chromatic_aberration","dx":0,"dy":0}"#,
];

#[test]
fn the_catalogue_has_the_twenty_bapps_types() {
    let names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
    assert_eq!(names.len(), 20);
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 20, "{names:?}");
}

#[test]
fn nonzero_strength_changes_the_image() {
    let image = textured(64, 64);
    for kind in KINDS {
        let spec = strongest(kind.name);
        assert!(
            apply(&spec, &image, 1) != image,
            "{spec} left the image unchanged"
        );
    }
}

#[test]
fn zero_strength_is_the_identity() {
    let image = textured(64, 64);
    for spec in IDENTITIES {
        assert!(apply(spec, &image, 1) == image, "{spec} changed the image");
    }
    let covered: Vec<&str> = IDENTITIES
        .iter()
        .map(|s| Distortion::from_json(s).unwrap().kind().name)
        .collect();
    for kind in KINDS.iter().filter(|k| k.name != "jpeg") {
        assert!(
            covered.contains(&kind.name),
            "{} has no identity case",
            kind.name
        );
    }
}

#[test]
fn the_same_seed_gives_identical_bytes() {
    let image = textured(48, 40);
    for kind in KINDS {
        let spec = strongest(kind.name);
        assert!(
            apply(&spec, &image, 99) == apply(&spec, &image, 99),
            "{spec}"
        );
    }
}

#[test]
fn a_different_seed_gives_different_noise_only_for_random_types() {
    let image = textured(48, 40);
    for kind in KINDS {
        let spec = strongest(kind.name);
        // Several seeds: a checkerboard has only a few distinct phases, so two
        // given seeds may legitimately coincide.
        let outputs: Vec<_> = (0..8).map(|seed| apply(&spec, &image, seed)).collect();
        let all_equal = outputs.iter().all(|out| *out == outputs[0]);
        if RANDOM_TYPES.contains(&kind.name) {
            assert!(!all_equal, "{spec} ignored the seed");
            assert!(
                outputs[1] != outputs[2] || kind.name == "checkerboard",
                "{spec}: seeds 1 and 2 agree"
            );
        } else {
            assert!(all_equal, "{spec} is documented as deterministic");
        }
    }
}

#[test]
fn every_size_from_one_pixel_up_is_kept() {
    for (width, height) in [(1, 1), (1, 9), (9, 1), (2, 2), (13, 7), (64, 64), (65, 33)] {
        let image = textured(width, height);
        for kind in KINDS {
            let spec = strongest(kind.name);
            let out = apply(&spec, &image, 5);
            assert_eq!(
                out.dimensions(),
                (width, height),
                "{spec} on {width}x{height}"
            );
        }
    }
}
