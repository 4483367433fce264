//! `percept export`: experiments as a BAPPS-style folder.

use std::path::PathBuf;

use percept_api::count;

use super::DatabaseArgs;
use crate::datasets::{self, ExportOptions, FolderSink};

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Experiment to export; repeat to put several in one tree.
    #[arg(long = "experiment", required = true)]
    experiments: Vec<i64>,
    /// Folder to write (2afc/…, manifest.json, judgments.csv); must be empty or new.
    #[arg(long)]
    out: PathBuf,
    /// Keep the judgments of workers flagged by their sentinel failures.
    #[arg(long)]
    include_flagged: bool,
    /// Keep the platforms' worker ids, study and session ids and user agents
    /// in the CSVs, for your own records. Without it workers appear as
    /// pseudonyms (w0001, …) and the rest is left out, so the export can be
    /// published.
    #[arg(long)]
    with_identifiers: bool,
    #[command(flatten)]
    database: DatabaseArgs,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    crate::telemetry::init();
    if std::fs::read_dir(&args.out).is_ok_and(|mut entries| entries.next().is_some()) {
        anyhow::bail!(
            "{} is not empty: export into a new or empty folder, so that no old file mixes in",
            args.out.display()
        );
    }
    tokio::runtime::Runtime::new()?.block_on(async {
        let database = args.database.open().await?;
        let options = ExportOptions {
            experiment_ids: args.experiments.clone(),
            include_flagged: args.include_flagged,
            with_identifiers: args.with_identifiers,
        };
        let exported = datasets::export(
            &database.pool,
            &options,
            &mut FolderSink::new(args.out.clone()),
        )
        .await;
        database.close().await?;
        let summary = exported?;
        eprintln!(
            "wrote {} with {} and {} with {} to {} ({} left out)",
            count(summary.triplets, "triplet", "triplets"),
            count(summary.judgments, "judgment", "judgments"),
            count(summary.pairs, "JND pair", "JND pairs"),
            count(summary.jnd_judgments, "valid judgment", "valid judgments"),
            args.out.display(),
            count(
                summary.excluded_workers,
                "flagged worker",
                "flagged workers"
            ),
        );
        Ok(())
    })
}
