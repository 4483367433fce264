//! The JSON API's request and response bodies, shared by the server (which
//! serves them) and the hydrated pages (which call it), one module per
//! resource; `client` makes the calls from the browser.

pub mod assignments;
pub mod client;
pub mod experiments;
pub mod jnd;
pub mod judgments;
pub mod practice;
pub mod researcher_client;
pub mod scoring;
pub mod sessions;
