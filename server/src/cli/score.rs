//! `percept score`: queue scoring jobs and work on them, with progress.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use lpips::{Device, DeviceChoice};

use super::DatabaseArgs;
use crate::jobs;
use crate::scoring::{self, Metric};

/// Where and with what the networks run: the weights folder, libtorch's
/// threads and the device, shared by every command that runs them (score,
/// train, worker, serve, distance).
#[derive(Debug, clap::Args)]
pub struct WeightsArgs {
    /// Folder of network weights: alex.safetensors, vgg.safetensors,
    /// dists.safetensors and any custom NAME.safetensors [default: the percept cache's weights folder]
    #[arg(long, env = "PERCEPT_WEIGHTS_DIR")]
    pub weights_dir: Option<PathBuf>,
    /// libtorch threads [default: one per core].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where the networks compute: cpu, cuda (an error without a GPU), or
    /// auto (CUDA when libtorch sees a GPU). Training jobs that asked for
    /// auto take this device.
    #[arg(long, env = "PERCEPT_DEVICE", default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

impl WeightsArgs {
    /// The device the networks run on: `--device cuda` without a GPU is an
    /// error here, before any job is taken.
    pub fn resolve_device(&self) -> anyhow::Result<Device> {
        Ok(self.device.resolve()?)
    }

    /// Applies the thread count and resolves the weights folder.
    pub fn prepare(&self) -> anyhow::Result<PathBuf> {
        if let Some(threads) = self.threads {
            lpips::Scorer::set_threads(threads);
        }
        match &self.weights_dir {
            Some(dir) => Ok(dir.clone()),
            None => scoring::default_weights_dir(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    #[arg(long)]
    experiment: i64,
    /// Metrics to compute (repeatable) [default: lpips-alex, lpips-vgg,
    /// l2-rgb, ssim-rgb, psnr]; `--help` lists every metric.
    #[arg(long = "metric", long_help = metric_long_help())]
    metrics: Vec<Metric>,
    /// Only queue the jobs, for `percept worker` processes to do.
    #[arg(long)]
    no_wait: bool,
    #[command(flatten)]
    weights: WeightsArgs,
    #[command(flatten)]
    database: DatabaseArgs,
}

/// How often `percept score` prints a progress line when stderr is no terminal.
const PROGRESS_LINE_EVERY: Duration = Duration::from_secs(10);

pub fn run_score(args: ScoreArgs) -> anyhow::Result<()> {
    crate::telemetry::init();
    let weights_dir = args.weights.prepare()?;
    let device = args.weights.resolve_device()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let database = args.database.open().await?;
        let result = score(&args, weights_dir, device, &database.pool).await;
        database.close().await?;
        result
    })
}

async fn score(
    args: &ScoreArgs,
    weights_dir: PathBuf,
    device: Device,
    pool: &sqlx::PgPool,
) -> anyhow::Result<()> {
    let metrics = if args.metrics.is_empty() {
        scoring::default_metrics()
    } else {
        args.metrics.clone()
    };
    let job_ids = scoring::enqueue_all(pool, args.experiment, &metrics).await?;
    if args.no_wait {
        println!("queued scoring jobs {job_ids:?}");
        return Ok(());
    }
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{msg:>18} {wide_bar} {pos}/{len} stimuli")
        .expect("a valid progress template");
    let bar_for = |metric: &Metric| {
        let bar = bars.add(ProgressBar::new(0).with_style(style.clone()));
        bar.set_message(metric.to_string());
        bar
    };
    let progress_bars: Vec<(String, ProgressBar)> = metrics
        .iter()
        .map(|metric| (metric.to_string(), bar_for(metric)))
        .collect();

    // Work on our jobs here; any that a `percept worker` elsewhere holds are
    // watched until they finish.
    let mut runner =
        jobs::Runner::new(pool.clone()).with(scoring::ScoringJobs::new(weights_dir).on(device));
    let working = async {
        while runner.run_next(Some(&job_ids)).await?.is_some() {}
        anyhow::Ok(())
    };
    tokio::pin!(working);
    let mut working_done = false;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    // Without a terminal the bars are hidden: logs and CI get a progress line
    // on stderr every so often instead.
    let progress_lines = !std::io::stderr().is_terminal();
    let mut last_line = Instant::now();
    loop {
        tokio::select! {
            worked = &mut working, if !working_done => {
                worked?;
                working_done = true;
            }
            _ = tick.tick() => {}
        }
        let progress = scoring::progress(pool, args.experiment).await?;
        for (metric, bar) in &progress_bars {
            if let Some(row) = progress.iter().find(|row| &row.metric == metric) {
                bar.set_length(row.stimuli as u64);
                bar.set_position(row.scored as u64);
            }
        }
        if progress_lines && last_line.elapsed() >= PROGRESS_LINE_EVERY {
            last_line = Instant::now();
            let states: Vec<String> = progress_bars
                .iter()
                .filter_map(|(metric, _)| progress.iter().find(|row| &row.metric == metric))
                .map(|row| format!("{} {}/{}", row.metric, row.scored, row.stimuli))
                .collect();
            eprintln!("scoring: {}", states.join(", "));
        }
        if working_done && jobs::open_count(pool, &job_ids).await? == 0 {
            break;
        }
    }
    let finished: Vec<_> = scoring::progress(pool, args.experiment)
        .await?
        .into_iter()
        .filter(|row| {
            progress_bars
                .iter()
                .any(|(metric, _)| metric == &row.metric)
        })
        .collect();
    for (_, bar) in &progress_bars {
        bar.finish();
    }
    // The bars are all a terminal shows; scripts and logs get a line per metric.
    if !std::io::stdout().is_terminal() {
        for row in &finished {
            match &row.error {
                Some(_) => println!("{}: failed", row.metric),
                None => println!(
                    "{}: {}/{} stimuli scored",
                    row.metric, row.scored, row.stimuli
                ),
            }
        }
    }
    let failures: Vec<String> = finished
        .into_iter()
        .filter_map(|row| {
            let error = row.error?;
            // Errors that already name their metric are not prefixed twice.
            Some(if error.starts_with(&format!("{}:", row.metric)) {
                error
            } else {
                format!("{}: {error}", row.metric)
            })
        })
        .collect();
    if !failures.is_empty() {
        anyhow::bail!("scoring failed:\n{}", failures.join("\n"));
    }
    Ok(())
}

/// `--metric`'s long help: the default and the catalogue.
fn metric_long_help() -> String {
    format!(
        "Metrics to compute (repeatable) [default: lpips-alex, lpips-vgg, l2-rgb, ssim-rgb, psnr].\n{}",
        scoring::metric_help()
    )
}
