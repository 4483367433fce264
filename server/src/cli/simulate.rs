//! `percept simulate`: synthetic workers doing an experiment over HTTP.

use indicatif::{ProgressBar, ProgressStyle};

use crate::simulation::{self, ObserverMetric, SimulationSettings};

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    #[arg(long)]
    experiment: i64,
    /// Number of synthetic workers.
    #[arg(long, default_value_t = 10)]
    workers: u32,
    /// The running Percept server to drive.
    #[arg(long, env = "PERCEPT_URL", default_value = "http://127.0.0.1:3000")]
    url: String,
    /// Share of workers who answer at random.
    #[arg(long, default_value_t = 0.1)]
    careless_share: f64,
    /// What careful workers' answers follow: a native metric's catalogue
    /// name (`percept score --help` lists them), not psnr or LPIPS.
    #[arg(long, default_value_t = ObserverMetric::DSSIM)]
    metric: ObserverMetric,
    /// Log-normal noise on each perceived distance: 0 always follows the
    /// metric; around 1 disagrees with it on close calls.
    #[arg(long, default_value_t = 0.5)]
    noise: f64,
    /// Assignments each worker does [default: until the per-worker limit or
    /// until the experiment needs no more judgments].
    #[arg(long)]
    assignments_per_worker: Option<u32>,
    /// Workers active at the same time.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    crate::telemetry::init();
    let settings = SimulationSettings {
        workers: args.workers,
        careless_share: args.careless_share,
        metric: args.metric,
        noise: args.noise,
        assignments_per_worker: args.assignments_per_worker,
        concurrency: args.concurrency,
        seed: args.seed,
    };
    let progress = ProgressBar::no_length().with_style(
        ProgressStyle::with_template("{spinner} {pos} judgments ({per_sec})")
            .expect("a valid progress template"),
    );
    let summary = tokio::runtime::Runtime::new()?.block_on(simulation::run(
        &args.url,
        args.experiment,
        &settings,
        &progress,
    ))?;
    progress.finish_and_clear();
    println!("{summary}");
    Ok(())
}
