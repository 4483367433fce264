//! The distortions' behaviour, specs and reproducibility, in one test binary.
//! Each file is a module, so `cargo test -p distortions --test suite behaviour::`
//! runs one of them.

mod behaviour;
mod common;
mod common_properties;
mod spec_and_reproducibility;
