//! `percept simulate`: synthetic workers doing an experiment over HTTP.

use indicatif::{ProgressBar, ProgressStyle};

use super::score::WeightsArgs;
use crate::simulation::{self, ObserverMetric, SimulationSettings};

#[derive(Debug, clap::Args)]
#[command(allow_negative_numbers = true)]
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
    /// What careful workers' answers follow: any metric `percept score`
    /// takes but psnr (`percept score --help` lists them), e.g. ssim-rgb,
    /// lpips-vgg, lpips-alex-nolin, dists or a trained lpips-alex:NAME.
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
    /// Where a network metric's weights are and where it computes.
    #[command(flatten)]
    weights: WeightsArgs,
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    crate::telemetry::init();
    let metric = if args.metric.needs_network() {
        let weights_dir = args.weights.prepare()?;
        args.metric
            .clone()
            .load(&weights_dir, args.weights.resolve_device()?)?
    } else {
        args.metric.clone()
    };
    let settings = SimulationSettings {
        workers: args.workers,
        careless_share: args.careless_share,
        metric,
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
