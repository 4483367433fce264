//! `percept job retry|dismiss ID`: a failed job (a scoring job whose
//! weights were missing, say) is queued again once the cause is fixed, or
//! dismissed, so it does not stay on the list forever.

use super::DatabaseArgs;
use crate::jobs;

#[derive(Debug, clap::Subcommand)]
pub enum JobCommand {
    /// Queue a failed job again, from a clean slate (a failed generation
    /// job also puts its experiment back to generating).
    Retry(JobArgs),
    /// Remove a failed or finished job from the list.
    Dismiss(JobArgs),
}

#[derive(Debug, clap::Args)]
pub struct JobArgs {
    /// The job's id (`percept experiment show` lists an experiment's jobs).
    id: i64,
    #[command(flatten)]
    database: DatabaseArgs,
}

pub fn run(command: JobCommand) -> anyhow::Result<()> {
    crate::telemetry::init();
    tokio::runtime::Runtime::new()?.block_on(async {
        let (args, retry) = match &command {
            JobCommand::Retry(args) => (args, true),
            JobCommand::Dismiss(args) => (args, false),
        };
        let database = args.database.open().await?;
        let outcome = if retry {
            jobs::retry(&database.pool, args.id).await.map(|job| {
                eprintln!(
                    "job {} ({}) is queued again; `percept serve` or `percept worker` will take it",
                    job.id, job.kind
                )
            })
        } else {
            jobs::dismiss(&database.pool, args.id)
                .await
                .map(|()| eprintln!("job {} is dismissed", args.id))
        };
        database.close().await?;
        Ok(outcome?)
    })
}
