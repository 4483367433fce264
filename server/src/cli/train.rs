//! `percept train`: queue a training job and work on it here (as `percept
//! score` does), printing each epoch's loss and 2AFC scores; then write
//! NAME.safetensors and NAME.json to the weights folder.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use lpips::training::{Mode, Settings};
use lpips::Net;

use super::score::WeightsArgs;
use super::DatabaseArgs;
use crate::jobs;
use crate::training::{self, TrainingRequest};

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// 2AFC experiments whose judged triplets to train on (imported BAPPS
    /// ones included).
    #[arg(long = "experiment", value_name = "ID", num_args = 1.., required = true)]
    experiments: Vec<i64>,
    /// Experiments to validate on after every epoch [default: hold out
    /// --validation-share of the training triplets].
    #[arg(long = "validate-on", value_name = "ID", num_args = 1..)]
    validate_on: Vec<i64>,
    /// The trunk: alex or vgg.
    #[arg(long)]
    net: Net,
    /// lin (frozen pretrained trunk, learn the linear layers), tune (learn
    /// everything from the pretrained trunk) or scratch (from a random trunk).
    #[arg(long, value_parser = parse_mode)]
    mode: Mode,
    /// The metric's name: score it as lpips-alex:NAME (or lpips-vgg:NAME).
    #[arg(long)]
    name: String,
    /// Epochs at the full learning rate.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Epochs lowering it linearly to 0 (the official schedule).
    #[arg(long, default_value_t = 5)]
    decay_epochs: usize,
    #[arg(long, default_value_t = 50)]
    batch_size: usize,
    #[arg(long, default_value_t = 1e-4)]
    learning_rate: f64,
    /// Seeds the initialisation, the shuffles, the dropout and the held-out split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Count the judgments of workers flagged by the sentinels (left out by default, as in reports).
    #[arg(long)]
    include_flagged: bool,
    /// Share of the training triplets held out for validation when
    /// --validate-on is not given.
    #[arg(long, default_value_t = 0.1)]
    validation_share: f64,
    /// Replace an earlier trained metric of the same name.
    #[arg(long)]
    overwrite: bool,
    #[command(flatten)]
    weights: WeightsArgs,
    #[command(flatten)]
    database: DatabaseArgs,
}

fn parse_mode(name: &str) -> Result<Mode, String> {
    name.parse()
        .map_err(|error: lpips::training::TrainingError| error.to_string())
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    crate::telemetry::init();
    let weights_dir = args.weights.prepare()?;
    // A CUDA request on a machine without one fails here, not in a job.
    args.weights.resolve_device()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let database = args.database.open().await?;
        let result = train(&args, weights_dir, &database.pool).await;
        database.close().await?;
        result
    })
}

async fn train(
    args: &TrainArgs,
    weights_dir: std::path::PathBuf,
    pool: &sqlx::PgPool,
) -> anyhow::Result<()> {
    let request = TrainingRequest {
        name: args.name.clone(),
        experiments: args.experiments.clone(),
        validate_on: args.validate_on.clone(),
        validation_share: args.validation_share,
        include_flagged: args.include_flagged,
        overwrite: args.overwrite,
        settings: Settings {
            epochs: args.epochs,
            decay_epochs: args.decay_epochs,
            batch_size: args.batch_size,
            learning_rate: args.learning_rate,
            seed: args.seed,
            threads: args.weights.threads,
            device: args.weights.device,
            ..Settings::new(args.net, args.mode)
        },
    };
    let queued = training::enqueue(pool, &request, None).await?;
    for warning in &queued.warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "training lpips-{}:{} ({} on {}), job {}",
        args.net, args.name, args.mode, args.net, queued.job_id
    );
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{wide_bar} {pos}/{len} steps {elapsed}")
            .expect("a valid progress template"),
    );
    // Work on the job here; if a `percept worker` elsewhere holds it, watch.
    let mut runner = training::runner(pool.clone(), weights_dir.clone());
    let only = [queued.job_id];
    let working = async {
        while runner.run_next(Some(&only)).await?.is_some() {}
        anyhow::Ok(())
    };
    tokio::pin!(working);
    let mut working_done = false;
    let mut printed = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            worked = &mut working, if !working_done => {
                worked?;
                working_done = true;
            }
            _ = tick.tick() => {}
        }
        if let Some(job) = jobs::get(pool, queued.job_id).await? {
            bar.set_length(job.progress_total.unwrap_or(0) as u64);
            bar.set_position(job.progress_done as u64);
        }
        if let Some(model) = training::get(pool, queued.model_id).await? {
            let epochs = model.epochs.as_array().cloned().unwrap_or_default();
            for epoch in epochs.iter().skip(printed) {
                let line = epoch_line(epoch, args.epochs + args.decay_epochs);
                // A bar drawn nowhere (no terminal) prints nothing either.
                if bar.is_hidden() {
                    println!("{line}");
                } else {
                    bar.println(line);
                }
            }
            printed = printed.max(epochs.len());
        }
        if working_done && jobs::open_count(pool, &only).await? == 0 {
            break;
        }
    }
    bar.finish_and_clear();
    let model = training::get(pool, queued.model_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the trained model's row was deleted"))?;
    if model.status != "done" {
        let reason = match &model.error {
            Some(error) => error.clone(),
            None => jobs::get(pool, queued.job_id)
                .await?
                .and_then(|job| job.error)
                .unwrap_or_else(|| format!("it is {}", model.status)),
        };
        anyhow::bail!("training {} failed: {reason}", model.metric_name());
    }
    let path = training::materialise(pool, &model.name, args.net, &weights_dir)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the trained weights are missing"))?;
    println!(
        "trained {}: weights {} (sha256 {}), record {}",
        model.metric_name(),
        path.display(),
        model.weights_sha256.as_deref().unwrap_or("?"),
        path.with_extension("json").display(),
    );
    println!(
        "score with: percept score --experiment ID --metric {}",
        model.metric_name()
    );
    Ok(())
}

/// "epoch 3/10  loss 0.6812  train 2AFC 71.20  validation 2AFC 70.05  lr 1.0e-4  2.1 s"
fn epoch_line(epoch: &serde_json::Value, total: usize) -> String {
    let number = |key: &str| epoch[key].as_f64();
    let mut line = format!(
        "epoch {}/{total}  loss {:.4}  train 2AFC {:.2}",
        epoch["epoch"],
        number("loss").unwrap_or(f64::NAN),
        100.0 * number("train_2afc").unwrap_or(f64::NAN),
    );
    if let Some(validation) = number("validation_2afc") {
        line.push_str(&format!("  validation 2AFC {:.2}", 100.0 * validation));
    }
    line.push_str(&format!(
        "  lr {:.1e}  {:.1} s",
        number("learning_rate").unwrap_or(f64::NAN),
        number("seconds").unwrap_or(f64::NAN)
    ));
    line
}
