//! The crowd worker's pages: the landing page with instructions, consent and
//! a practice trial (`/e/{experiment_id}`), and an assignment's trials with
//! its completion code (`/a/{token}`).

pub mod assignment;
mod browser;
mod completion;
pub mod crowd;
mod jnd_trial;
pub mod landing;
mod practice;
mod submission;
mod trial;
