//! The `percept` binary's library: web server, CLI commands and database access.
//!
//! The data path reads top to bottom: `db` (PostgreSQL, the only state),
//! `http` (the web app and its API), `cli` (the commands that drive it all).

pub mod cli;
pub mod datasets;
pub mod db;
pub mod demo;
pub mod error;
pub mod experiments;
pub mod http;
pub mod jnd;
pub mod quality;
pub mod reports;
pub mod researchers;
pub mod scoring;
pub mod sharing;
pub mod simulation;
pub mod stimuli;
pub mod tallies;
pub mod telemetry;
