//! Percept's domain: experiments and their stimuli, the job queue that
//! generates and scores them, researchers and sharing, quality control and
//! the tallies reports are made of, all kept in PostgreSQL (`db`).
//!
//! No web framework, no libtorch and no terminal UI here: the server
//! (`server/`, HTTP and the CLI) and the scoring code (which links libtorch)
//! build on this crate, and long work reports progress through a callback
//! (`jobs::ProgressObserver`). Errors are this crate's own [`Error`], which
//! the server maps to HTTP statuses.

pub mod arrival;
pub mod assignments;
pub mod cnn_bank;
pub mod db;
pub mod error;
pub mod experiments;
pub mod jnd;
pub mod jobs;
pub mod judgments;
pub mod npy;
pub mod practice;
pub mod quality;
pub mod ranking;
pub mod researchers;
pub mod sessions;
pub mod sharing;
pub mod stimuli;
pub mod tallies;
pub mod trials;

pub use error::{Error, Result};
