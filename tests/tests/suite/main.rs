//! Every integration and browser test of the app, in one test binary: a change
//! rebuilds and links the server, libtorch and Chromium's driver once, not once
//! per file. Each file is a module, so `cargo test -p percept-tests access::`
//! runs the access tests. Fixtures are in the `percept_tests` library
//! (`tests/src`); tests that must not overlap others take a turn from
//! `percept_tests::serial`.

mod access;
mod analysis_api;
mod api_fuzz;
mod assignment_retries;
mod browser;
mod cli_errors;
mod cnn_mix;
mod create_agreement;
mod dashboard_api;
mod dashboard_browser;
mod dashboard_lifecycle_browser;
mod datasets;
mod distance;
mod durability;
mod durability_browser;
mod health;
mod jnd_analysis;
mod jnd_api;
mod jnd_browser;
mod lifecycle;
mod method_comparison;
mod method_ranking;
mod method_upload;
mod method_upload_browser;
mod official_harness;
mod openapi;
mod pages;
mod rate_limits;
mod researcher_api;
mod scoring;
mod serve;
mod simulate;
mod training;
mod two_afc_api;
mod two_afc_browser;
mod two_afc_worker_api;
mod worker_arrival;
