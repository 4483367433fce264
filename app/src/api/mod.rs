//! The JSON API: its request and response bodies (the `percept-api` crate,
//! shared with the server), and the calls the hydrated pages make from the
//! browser (`client`, `researcher_client`).

pub use percept_api::{
    arrival, assignments, experiments, jnd, jobs, judgments, practice, scoring, sessions, training,
};

pub mod client;
pub mod researcher_client;
