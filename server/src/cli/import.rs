//! `percept import-bapps`: a BAPPS-style tree as experiments.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use super::DatabaseArgs;
use crate::datasets::{self, ImportOptions};
use crate::researchers;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The tree's root: the folder holding `2afc/` (the BAPPS download's
    /// `dataset/`, or a `percept export` folder).
    dir: PathBuf,
    /// Email of the researcher who will own the experiments.
    #[arg(long)]
    owner: String,
    /// People behind each `judge` share, where the tree does not say (an
    /// export's manifest does) [default: BAPPS' 5 for val, 2 for other splits]
    #[arg(long)]
    judgments_per_triplet: Option<u32>,
    #[command(flatten)]
    database: DatabaseArgs,
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    crate::telemetry::init();
    tokio::runtime::Runtime::new()?.block_on(async {
        let database = args.database.open().await?;
        let imported = async {
            let options = ImportOptions {
                root: args.dir.clone(),
                owner_id: researchers::id_by_email(&database.pool, &args.owner).await?,
                judgments_per_triplet: args.judgments_per_triplet,
            };
            let progress = ProgressBar::new(0).with_style(
                ProgressStyle::with_template("importing {wide_bar} {pos}/{len} triplets ({eta})")
                    .expect("a valid progress template"),
            );
            let imported = datasets::import_bapps(&database.pool, &options, &progress).await;
            progress.finish_and_clear();
            imported
        }
        .await;
        database.close().await?;
        for experiment in imported? {
            println!(
                "experiment {}: 2afc/{}/{} with {} triplets",
                experiment.id, experiment.split, experiment.category, experiment.triplets
            );
        }
        Ok(())
    })
}
