//! The native metrics against the authors' published values and piq, in one
//! test binary. Each file is a module, so `cargo test -p metrics --test suite
//! piq_differential::` runs one of them.

mod calibration;
mod common;
mod piq_differential;
