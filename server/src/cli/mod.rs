//! The `percept` command line: one subcommand per task.

mod database;
mod db;
mod distort;
mod experiment;
mod lpips;
mod researcher;
mod serve;

use clap::{Parser, Subcommand};

pub use database::{DataDirArgs, DatabaseArgs};

#[derive(Debug, Parser)]
#[command(
    name = "percept",
    version,
    about = "Collect human perceptual-similarity judgments (2AFC, JND) and validate metrics such as LPIPS against them"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web app (pages for workers and researchers, and the JSON API).
    Serve(serve::ServeArgs),
    /// Start, stop or locate the private PostgreSQL cluster used when DATABASE_URL is unset.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// List, apply and sample BAPPS' traditional distortions.
    #[command(subcommand)]
    Distort(distort::DistortCommand),
    /// LPIPS distance between two images, or between same-named images in two folders.
    Lpips(lpips::LpipsArgs),
    /// Manage researcher accounts.
    #[command(subcommand)]
    Researcher(researcher::ResearcherCommand),
    /// Create experiments and generate their stimuli.
    #[command(subcommand)]
    Experiment(experiment::ExperimentCommand),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Db(command) => db::run(command),
        Command::Distort(command) => distort::run(command),
        Command::Lpips(args) => lpips::run(args),
        Command::Researcher(command) => researcher::run(command),
        Command::Experiment(command) => experiment::run(command),
    }
}
