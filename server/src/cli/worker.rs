//! `percept worker`: work the job queue until stopped; and the
//! `--job-kinds` flag it shares with `percept serve`.

use std::collections::BTreeSet;

use sqlx::PgPool;

use super::score::WeightsArgs;
use super::DatabaseArgs;
use crate::cnn::BankBuildJobs;
use crate::experiments::generation::StimulusGeneration;
use crate::jobs::{JobKind, Runner};
use crate::scoring::ScoringJobs;
use crate::training::TrainingJobs;

#[derive(Debug, clap::Args)]
pub struct JobKindsArgs {
    /// Kinds of jobs this process takes from the queue, comma-separated:
    /// generation (an experiment's stimuli), scoring (metrics' distances,
    /// e.g. only on a GPU machine), training (learning a metric from
    /// judgments), cnn-bank (training the CNN distortion bank) [default: all
    /// of them]
    #[arg(long, env = "PERCEPT_JOB_KINDS", value_delimiter = ',')]
    pub job_kinds: Vec<JobKind>,
}

impl JobKindsArgs {
    fn kinds(&self) -> BTreeSet<JobKind> {
        if self.job_kinds.is_empty() {
            JobKind::ALL.into_iter().collect()
        } else {
            self.job_kinds.iter().copied().collect()
        }
    }

    /// The device the chosen kinds' networks run on; `--device cuda`
    /// without a GPU is an error (call it before anything else starts).
    /// Kinds without networks run on the CPU whatever `--device` says.
    pub fn device(&self, weights: &WeightsArgs) -> anyhow::Result<lpips::Device> {
        let kinds = self.kinds();
        if kinds.contains(&JobKind::Scoring) || kinds.contains(&JobKind::Training) {
            weights.resolve_device()
        } else {
            Ok(lpips::Device::Cpu)
        }
    }

    /// A runner with a handler for each chosen kind.
    pub fn runner(&self, pool: PgPool, weights: &WeightsArgs) -> anyhow::Result<Runner> {
        let device = self.device(weights)?;
        let mut runner = Runner::new(pool);
        for kind in self.kinds() {
            runner = match kind {
                JobKind::Generation => runner.with(StimulusGeneration),
                JobKind::Scoring => runner.with(ScoringJobs::new(weights.prepare()?).on(device)),
                JobKind::Training => {
                    runner.with(TrainingJobs::new(weights.prepare()?).on(weights.device))
                }
                JobKind::CnnBank => runner.with(BankBuildJobs),
            };
        }
        Ok(runner)
    }
}

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    kinds: JobKindsArgs,
    #[command(flatten)]
    weights: WeightsArgs,
    #[command(flatten)]
    database: DatabaseArgs,
}

pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    crate::telemetry::init();
    args.kinds.device(&args.weights)?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let database = args.database.open().await?;
        let worked = match args.kinds.runner(database.pool.clone(), &args.weights) {
            Ok(runner) => runner.run(super::serve::shutdown_signal()).await,
            Err(error) => Err(error),
        };
        database.close().await?;
        worked
    })
}
