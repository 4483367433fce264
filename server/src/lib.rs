//! The `percept` binary's library: web server, CLI commands and database access.
//!
//! The data path reads top to bottom: `db` (PostgreSQL, the only state),
//! `http` (the web app and its API), `cli` (the commands that drive it all).

pub mod cli;
pub mod db;
pub mod error;
pub mod experiments;
pub mod http;
pub mod quality;
pub mod researchers;
pub mod stimuli;
pub mod telemetry;
