//! The JSON API's request and response bodies, one module per resource:
//! served by `server`, built by `percept-core`, called by the hydrated pages
//! in `app`. Plain serde types, so the browser's wasm build and the core
//! (which has no web framework) can both depend on them.

pub mod arrival;
pub mod assignments;
pub mod experiments;
pub mod jnd;
pub mod jobs;
pub mod judgments;
pub mod practice;
pub mod scoring;
pub mod sessions;
pub mod training;
