//! LPIPS, DISTS and the baselines against the official implementations, in one test
//! binary (libtorch is linked once). Each file is a module, so
//! `cargo test -p lpips --test suite differential::` runs one of them.

mod calibration;
mod common;
mod differential;
mod dists;
mod scoring;
mod training;
mod weights;
