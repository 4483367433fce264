//! `percept report`: the agreement between metrics and people, as HTML and JSON.

use std::path::PathBuf;

use anyhow::Context;

use super::DatabaseArgs;
use crate::reports;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Experiment to report on; repeat to report on several together (each
    /// one's category becomes a row of the per-category results).
    #[arg(long = "experiment", required = true)]
    experiments: Vec<i64>,
    /// Where to write the HTML report.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where to write the report as JSON ("-" for stdout).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Count the judgments of workers flagged by their sentinel failures too.
    #[arg(long)]
    include_flagged: bool,
    /// The metric-against-metric section's two metrics, `A,B` (both must
    /// have scored the experiments) [default: the first LPIPS metric
    /// against ssim-rgb].
    // Not `num_args = 2`: clap counts the values before splitting at the
    // comma, and refused the documented `--versus A,B` as one value.
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    versus: Vec<String>,
    /// What the bootstrap intervals resample: the triplets (and JND pairs),
    /// or the workers with each one's judgments kept together (pwcmp's
    /// convention; not with imported judgments, which have no workers). The
    /// report states which.
    #[arg(long, value_enum, default_value_t = reports::Resample::Triplets)]
    resample: reports::Resample,
    #[command(flatten)]
    database: DatabaseArgs,
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    crate::telemetry::init();
    if args.out.is_none() && args.json.is_none() {
        anyhow::bail!(
            "say where the report goes: --out report.html and/or --json report.json (or --json -)"
        );
    }
    if !args.versus.is_empty() && args.versus.len() != 2 {
        anyhow::bail!(
            "--versus takes two metrics, A,B (e.g. lpips-alex,ssim-rgb), not {:?}",
            args.versus.join(",")
        );
    }
    tokio::runtime::Runtime::new()?.block_on(async {
        let database = args.database.open().await?;
        let written = write(&args, &database.pool).await;
        database.close().await?;
        written
    })
}

async fn write(args: &ReportArgs, pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let options = reports::ReportOptions {
        include_flagged: args.include_flagged,
        versus: match &args.versus[..] {
            [a, b] => Some((a.clone(), b.clone())),
            _ => None,
        },
        resample: args.resample,
    };
    let report = reports::build_with(pool, &args.experiments, &options).await?;
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        if path.as_os_str() == "-" {
            println!("{json}");
        } else {
            std::fs::write(path, json)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    if let Some(path) = &args.out {
        let gallery = reports::gallery_images(pool, &report).await?;
        let html = reports::render_html(&report, &gallery)?;
        std::fs::write(path, html).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
