//! A distortion pipeline's JSON spec, as `percept distort apply --spec` and
//! the stored stimuli carry it: parsing never panics, and a spec that parses
//! applies to an image without panicking and keeps its size.
#![no_main]

use distortions::{image::RgbImage, Pipeline};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|spec: &str| {
    let Ok(pipeline) = Pipeline::from_json(spec) else {
        return;
    };
    // Small, so that each input runs in well under a millisecond; with
    // structure, so that warps and blurs have something to move.
    let reference = RgbImage::from_fn(16, 16, |x, y| {
        distortions::image::Rgb([(x * 16) as u8, (y * 16) as u8, ((x ^ y) * 16) as u8])
    });
    if let Ok(distorted) = pipeline.apply(&reference, spec.len() as u64) {
        assert_eq!(distorted.dimensions(), reference.dimensions());
    }
});
