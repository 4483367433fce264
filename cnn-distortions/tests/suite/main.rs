//! The CNN distortion family's integration tests, in one test binary
//! (libtorch is linked once). Each file is a module, so
//! `cargo test -p cnn_distortions --test suite bank::` runs one of them.

mod bank;
mod common;
mod lpips_range;
