//! `percept import-bapps`: a BAPPS-style tree as experiments.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use super::DatabaseArgs;
use crate::datasets::{self, ImportOptions};
use crate::researchers;

#[derive(Debug, clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct ImportArgs {
    /// The tree's root: the folder holding `2afc/` and/or `jnd/` (the BAPPS download's
    /// `dataset/`, or a `percept export` folder).
    dir: PathBuf,
    /// Email of the researcher who will own the experiments.
    #[arg(long)]
    owner: String,
    /// People behind each `judge` or `same` share, where the tree does not
    /// say (an export's manifest does) [default: BAPPS' 5 per 2AFC val
    /// triplet, 2 per train triplet, 3 per JND pair]
    #[arg(long, alias = "judgments-per-triplet")]
    judgments_per_stimulus: Option<u32>,
    /// Name of the experiments made (with the folder appended when the tree
    /// holds several) [default: BAPPS <kind>/<split>/<category>]
    #[arg(long)]
    name: Option<String>,
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
                judgments_per_stimulus: args.judgments_per_stimulus,
                name: args.name.clone(),
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
                "experiment {}: {}/{}/{} with {} {}",
                experiment.id,
                experiment.kind,
                experiment.split,
                experiment.category,
                experiment.stimuli,
                if experiment.kind == "jnd" {
                    "pairs"
                } else {
                    "triplets"
                }
            );
        }
        Ok(())
    })
}
