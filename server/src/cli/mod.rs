//! The `percept` command line: one subcommand per task.

mod database_args;
mod db_command;
mod distance;
mod distort;
mod experiment;
mod export;
mod import;
mod job;
mod lpips;
mod report;
mod researcher;
mod score;
mod serve;
mod simulate;
mod train;
mod worker;

use clap::{Parser, Subcommand};

pub use database_args::{DataDirArgs, DatabaseArgs};

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
    /// `serve`, with a demo experiment (created on first run from --images,
    /// with judgments from simulated workers).
    Demo(serve::DemoArgs),
    /// Start, stop or locate the private PostgreSQL cluster used when DATABASE_URL is unset.
    #[command(subcommand)]
    Db(db_command::DbCommand),
    /// List, apply and sample BAPPS' distortions (traditional, and the CNN
    /// bank's networks); build and list the CNN bank.
    #[command(subcommand)]
    Distort(distort::DistortCommand),
    /// Any metric's distance between two images (`--metric` repeatable;
    /// `--help` lists every metric and what it stores).
    Distance(distance::DistanceArgs),
    /// LPIPS distance between two images, or between same-named images in two folders.
    Lpips(lpips::LpipsArgs),
    /// Manage researcher accounts.
    #[command(subcommand)]
    Researcher(researcher::ResearcherCommand),
    /// Create experiments and generate their stimuli.
    #[command(subcommand)]
    Experiment(experiment::ExperimentCommand),
    /// Synthetic workers doing an experiment through the HTTP API (demos,
    /// tests, planning how many judgments an experiment needs).
    Simulate(simulate::SimulateArgs),
    /// Compute metrics' distances for an experiment's triplets, with progress
    /// (queues scoring jobs and works on them; --no-wait only queues them).
    Score(score::ScoreArgs),
    /// Learn an LPIPS metric from experiments' 2AFC judgments (the paper's
    /// lin, tune or scratch), printing each epoch; the result is scored as
    /// lpips-alex:NAME or lpips-vgg:NAME.
    Train(train::TrainArgs),
    /// Retry or dismiss a failed job of the queue.
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Work the job queue (stimulus generation, scoring) until stopped: run
    /// one per machine that should help, e.g. `--job-kinds scoring` on a GPU box.
    Worker(worker::WorkerArgs),
    /// How well each scored metric agrees with the people: 2AFC scores with
    /// intervals, per category, significance, and the worst disagreements.
    Report(report::ReportArgs),
    /// Write experiments as a BAPPS-style dataset (the layout the original
    /// loaders read), with a manifest and a CSV of every judgment.
    Export(export::ExportArgs),
    /// Read a BAPPS-style tree (the original BAPPS or an export) into
    /// experiments: stimuli, splits, categories and aggregated judgments.
    ImportBapps(import::ImportArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    // Generation in this process may meet `cnn` and `mix` experiments.
    crate::cnn::install();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => serve::run_demo(args),
        Command::Db(command) => db_command::run(command),
        Command::Distort(command) => distort::run(command),
        Command::Distance(args) => distance::run(args),
        Command::Lpips(args) => lpips::run(args),
        Command::Researcher(command) => researcher::run(command),
        Command::Experiment(command) => experiment::run(command),
        Command::Simulate(args) => simulate::run(args),
        Command::Score(args) => score::run_score(args),
        Command::Train(args) => train::run(args),
        Command::Worker(args) => worker::run(args),
        Command::Job(command) => job::run(command),
        Command::Report(args) => report::run(args),
        Command::Export(args) => export::run(args),
        Command::ImportBapps(args) => import::run(args),
    }
}
