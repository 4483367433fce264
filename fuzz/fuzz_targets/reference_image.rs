//! Uploaded reference images: the server's decoder with its size and memory
//! limits never panics, and what it accepts is within the side limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

use percept_core::stimuli::image_decoding;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(image) = image_decoding::decode_rgb8(bytes) {
        assert!(image.width() <= image_decoding::MAX_SIDE);
        assert!(image.height() <= image_decoding::MAX_SIDE);
    }
});
