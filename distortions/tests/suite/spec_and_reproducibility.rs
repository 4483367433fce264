//! The JSON form, its errors, and regeneration from (reference, spec, seed).

use crate::common::textured;
use distortions::{Distortion, DistortionError, GaussianBlur, Pipeline, Sampler, KINDS};
use image::RgbImage;

fn error_of(spec: &str) -> String {
    Pipeline::from_json(spec).expect_err(spec).to_string()
}

#[test]
fn out_of_range_names_the_field_and_the_allowed_range() {
    let message = error_of(r#"{"type":"gaussian_blur","sigma":7}"#);
    assert!(message.contains("gaussian_blur.sigma = 7"), "{message}");
    assert!(message.contains("[0, 2.5]"), "{message}");
    let message = error_of(r#"[{"type":"shift","dx":1,"dy":0},{"type":"jpeg","quality":3}]"#);
    assert!(
        message.contains("step 1")
            && message.contains("jpeg.quality = 3")
            && message.contains("[10, 95]"),
        "{message}"
    );
}

#[test]
fn bad_specs_are_errors_not_panics() {
    let cases = [
        (r#"{"type":"sharpen","amount":1}"#, "sharpen"),
        (r#"{"type":"gaussian_blur"}"#, "missing field `sigma`"),
        (
            r#"{"type":"gaussian_blur","sigma":1,"radius":3}"#,
            "unknown field `radius`",
        ),
        (r#"{"type":"gaussian_blur","sigma":"big"}"#, "invalid type"),
        (r#"{"type":"jpeg","quality":50.5}"#, "invalid type"),
        (r#"{"type":"jpeg","quality":-5}"#, "invalid value"),
        (
            r#"{"type":"gaussian_blur","sigma":1e999}"#,
            "malformed JSON",
        ),
        (r#"{"type":"gaussian_blur","sigma":NaN}"#, "malformed JSON"),
        (r#"{"sigma":1}"#, "missing field `type`"),
        (r#"[{"type":"gaussian_blur","sigma":1}"#, "malformed JSON"),
        ("42", "expected an array of distortions"),
    ];
    for (spec, expected) in cases {
        let message = error_of(spec);
        assert!(message.contains(expected), "{spec}: {message}");
    }
    let unknown = error_of(r#"{"type":"sharpen"}"#);
    assert!(
        unknown.contains("gaussian_blur"),
        "should list the known types: {unknown}"
    );
}

#[test]
fn params_built_in_code_are_validated_before_use() {
    let image = textured(8, 8);
    for sigma in [f32::NAN, f32::INFINITY, -1.0, 2.6] {
        let blur = Distortion::GaussianBlur(GaussianBlur { sigma });
        let mut rng = distortions::step_rng(0, 0);
        assert!(matches!(
            blur.apply(&image, &mut rng),
            Err(DistortionError::OutOfRange { field: "sigma", .. })
        ));
    }
}

#[test]
fn empty_images_are_rejected() {
    let pipeline = Pipeline::from_json(r#"{"type":"contrast","factor":1.2}"#).unwrap();
    assert!(matches!(
        pipeline.apply(&RgbImage::new(0, 5), 0),
        Err(DistortionError::EmptyImage { .. })
    ));
}

#[test]
fn json_round_trips_and_uses_the_type_tag() {
    let pipeline = Pipeline::from_json(
        r#"[{"type":"gaussian_blur","sigma":1.5},{"type":"checkerboard","amplitude":0.05,"cell":2}]"#,
    )
    .unwrap();
    assert_eq!(
        pipeline.to_json(),
        r#"[{"type":"gaussian_blur","sigma":1.5},{"type":"checkerboard","amplitude":0.05,"cell":2}]"#
    );
    let single = Pipeline::from_json(r#"{"type":"gaussian_blur","sigma":1.5}"#).unwrap();
    assert_eq!(single.steps, pipeline.steps[..1]);
    // Serde's own path (used when a pipeline is embedded in other JSON) validates too.
    assert!(serde_json::from_str::<Pipeline>(r#"[{"type":"gaussian_blur","sigma":9}]"#).is_err());
}

#[test]
fn every_parameter_has_a_documented_non_empty_range() {
    for kind in KINDS {
        assert!(!kind.description.trim().is_empty(), "{}", kind.name);
        for param in kind.params {
            assert!(param.min < param.max, "{}.{}", kind.name, param.name);
            assert!(
                !param.description.trim().is_empty(),
                "{}.{}",
                kind.name,
                param.name
            );
        }
    }
}

/// All 20 types in one pipeline: a stimulus that exercises every code path.
fn all_types_pipeline() -> Pipeline {
    let steps = KINDS
        .iter()
        .map(|kind| {
            let values: Vec<f64> = kind
                .params
                .iter()
                .map(|p| p.min + 0.37 * (p.max - p.min))
                .collect();
            Distortion::from_param_values(kind.name, &values).unwrap()
        })
        .collect();
    Pipeline::new(steps)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn regeneration_from_spec_json_and_seed_is_byte_identical_across_threads() {
    let reference = textured(64, 64);
    let pipeline = all_types_pipeline();
    let json = pipeline.to_json();
    let expected = pipeline.apply(&reference, 2024).unwrap();
    let from_threads: Vec<RgbImage> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    Pipeline::from_json(&json)
                        .unwrap()
                        .apply(&reference, 2024)
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(from_threads.iter().all(|out| *out == expected));
    assert!(pipeline.apply(&reference, 2025).unwrap() != expected);
}

/// The contract with stored stimuli: these bytes must never change silently.
/// If this fails after a deliberate change (or a JPEG codec upgrade), stored
/// stimuli can no longer be regenerated from their specs.
#[test]
fn a_fixed_pipeline_and_seed_give_the_recorded_bytes() {
    let out = all_types_pipeline().apply(&textured(64, 64), 2024).unwrap();
    assert_eq!(
        fnv1a(out.as_raw()),
        GOLDEN_HASH,
        "got {:#x}",
        fnv1a(out.as_raw())
    );
}

const GOLDEN_HASH: u64 = 0x68c3_c2a6_4c1d_9c7c;

#[test]
fn sampled_pipelines_regenerate_from_their_json() {
    let reference = textured(64, 64);
    let sampler = Sampler::default();
    for seed in 0..50 {
        let pipeline = sampler.sample_seeded(seed);
        let first = pipeline.apply(&reference, seed).unwrap();
        let again = Pipeline::from_json(&pipeline.to_json())
            .unwrap()
            .apply(&reference, seed)
            .unwrap();
        assert!(first == again, "seed {seed}: {}", pipeline.to_json());
    }
}
