//! `percept distance A.png B.png --metric NAME…`: any catalogue metric's
//! distance between two images, one-off (`percept lpips` stays the LPIPS
//! shorthand with its spatial map and folder mode).
//!
//! Images are read as 8-bit RGB like `percept lpips` reads them; `A` is the
//! reference for the asymmetric metrics (VIF).

use std::path::PathBuf;

use anyhow::Context;
use lpips::image_input::load_rgb;

use super::score::WeightsArgs;
use crate::scoring::{metric_help, LoadedMetric, Metric};

#[derive(Debug, clap::Args)]
pub struct DistanceArgs {
    /// The reference image.
    pub a: PathBuf,
    /// The image compared with it (same size).
    pub b: PathBuf,
    /// The metric (repeatable).
    #[arg(long = "metric", required = true, long_help = metric_long_help())]
    pub metrics: Vec<Metric>,
    /// Print one JSON object, metric name → distance (PSNR of identical
    /// images, −∞, prints as null).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub weights: WeightsArgs,
}

fn metric_long_help() -> String {
    format!("The metric (repeatable).\n{}", metric_help())
}

pub fn run(args: DistanceArgs) -> anyhow::Result<()> {
    let weights_dir = args.weights.prepare()?;
    let device = args.weights.resolve_device()?;
    let (a, b) = (load_rgb(&args.a)?, load_rgb(&args.b)?);
    let pair = [[a, b]];
    let mut distances = serde_json::Map::new();
    for metric in &args.metrics {
        let distance = LoadedMetric::load(metric, &weights_dir, device)?
            .score_pairs(&pair)
            .and_then(|d| d.into_iter().next().context("no distance"))
            .with_context(|| {
                format!(
                    "{metric} between {} and {}",
                    args.a.display(),
                    args.b.display()
                )
            })?;
        if args.json {
            distances.insert(metric.to_string(), serde_json::json!(distance));
        } else {
            println!("{metric}\t{distance}");
        }
    }
    if args.json {
        println!("{}", serde_json::Value::Object(distances));
    }
    Ok(())
}
