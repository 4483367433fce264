//! `percept experiment create`: an experiment and its stimuli from a folder of
//! images; `percept experiment share`: who else sees it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::DatabaseArgs;
use crate::experiments::{
    self, ExperimentKind, MethodComparison, MethodOutputFile, NewExperiment, ReferenceFile,
};
use crate::jnd::JndSettings;
use crate::jobs::ProgressObserver;
use crate::researchers;
use crate::sharing;
use crate::stimuli::SamplerSettings;
use percept_api::experiments::DistortionFamily;

#[derive(Debug, clap::Subcommand)]
pub enum ExperimentCommand {
    /// Create an experiment, cut its triplets (2AFC) or pairs (JND) from a
    /// folder of reference images, and print its id.
    Create(Box<CreateArgs>),
    /// Share an experiment with another researcher (who then sees, scores,
    /// reports and exports it as its owner does), or stop sharing it.
    Share(ShareArgs),
}

#[derive(Debug, clap::Args)]
pub struct ShareArgs {
    #[arg(long)]
    experiment: i64,
    /// Email of the researcher to share it with.
    #[arg(long = "with")]
    with_email: String,
    /// Stop sharing it with that researcher instead.
    #[arg(long)]
    revoke: bool,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    #[value(name = "2afc")]
    TwoAfc,
    Jnd,
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    #[arg(long, value_enum)]
    kind: KindArg,
    /// Folder of reference images (PNG or JPEG), taken in file-name order.
    #[arg(long, required_unless_present_any = ["source_experiment", "methods"])]
    images: Option<PathBuf>,
    /// A method comparison (2AFC): a folder with `references/NAME.ext` and,
    /// per method, `methods/<method>/NAME.ext` (each method's output for
    /// that reference, the same size). Triplets pair two methods' patches,
    /// cut at the same place, against the reference patch.
    #[arg(long, conflicts_with_all = ["images", "source_experiment"])]
    methods: Option<PathBuf>,
    /// Method comparison: pairs of methods per patch [default: all pairs].
    #[arg(long, requires = "methods")]
    pairs_per_patch: Option<u32>,
    /// Method comparison: skip patches whose reference gray levels (0–255)
    /// have a lower variance (flat sky, walls).
    #[arg(long, requires = "methods")]
    min_patch_variance: Option<f64>,
    /// Email of the researcher who owns the experiment.
    #[arg(long)]
    owner: String,
    #[arg(long)]
    name: String,
    /// Side of the square patches, in pixels.
    #[arg(long, default_value_t = 64)]
    patch_size: u32,
    /// Patches (triplets) cut from each reference image.
    #[arg(long, default_value_t = 10)]
    patches_per_image: u32,
    /// Judgments wanted per triplet, or per pair in a JND experiment
    /// (BAPPS: 2 for train, 5 for val).
    #[arg(long, alias = "judgments-per-triplet", default_value_t = 2)]
    judgments_per_stimulus: u32,
    /// Dataset split the judgments are for.
    #[arg(long, default_value = "train")]
    split: String,
    /// What the reference images show (free text).
    #[arg(long)]
    category: Option<String>,
    #[arg(long, default_value_t = 20)]
    trials_per_assignment: u32,
    /// Share of sentinel triplets (one side identical to the reference).
    #[arg(long, default_value_t = 0.1)]
    sentinel_rate: f64,
    #[arg(long, default_value_t = 5)]
    max_assignments_per_worker: u32,
    /// Minutes a worker has to finish an assignment before its trials go back to the pool.
    #[arg(long, default_value_t = 30)]
    assignment_ttl_minutes: u64,
    /// Where workers are sent when they finish (e.g. the Prolific completion URL).
    #[arg(long)]
    completion_redirect_url: Option<String>,
    /// Workers who fail more than this share of their sentinels are flagged,
    /// and their judgments are left out of reports and exports.
    #[arg(long, default_value_t = 0.5)]
    max_sentinel_failure_share: f64,
    /// JND: milliseconds the reference patch is shown.
    #[arg(long, default_value_t = JndSettings::default().reference_ms)]
    reference_ms: u32,
    /// JND: milliseconds of blank between the reference and the distorted patch.
    #[arg(long, default_value_t = JndSettings::default().gap_ms)]
    gap_ms: u32,
    /// JND: milliseconds the distorted patch is shown.
    #[arg(long, default_value_t = JndSettings::default().distorted_ms)]
    distorted_ms: u32,
    /// JND: share of control pairs (the reference shown twice).
    #[arg(long, default_value_t = JndSettings::default().control_share)]
    control_share: f64,
    /// JND: take the pairs from this 2AFC experiment's triplets (reference
    /// with each distorted patch) instead of cutting them from --images.
    #[arg(long, conflicts_with = "images")]
    source_experiment: Option<i64>,
    /// Seed of every crop, pipeline and sentinel [default: random, printed].
    #[arg(long)]
    seed: Option<u64>,
    /// Which distortions make the distorted patches: traditional pipelines,
    /// networks of the CNN bank (`percept distort cnn-bank build` first), or
    /// mix (each side drawn from either family, as BAPPS' `mix` sets).
    #[arg(long, default_value = "traditional", value_parser = parse_family)]
    distortion_family: DistortionFamily,
    #[command(flatten)]
    database: DatabaseArgs,
}

fn parse_family(name: &str) -> Result<DistortionFamily, String> {
    name.parse()
}

pub fn run(command: ExperimentCommand) -> anyhow::Result<()> {
    crate::telemetry::init();
    match command {
        ExperimentCommand::Create(args) => tokio::runtime::Runtime::new()?.block_on(create(*args)),
        ExperimentCommand::Share(args) => tokio::runtime::Runtime::new()?.block_on(share(args)),
    }
}

async fn share(args: ShareArgs) -> anyhow::Result<()> {
    let database = args.database.open().await?;
    let shared = async {
        if args.revoke {
            let researcher_id = researchers::id_by_email(&database.pool, &args.with_email).await?;
            let was_shared =
                sharing::unshare(&database.pool, args.experiment, researcher_id).await?;
            eprintln!(
                "experiment {} {} shared with {}",
                args.experiment,
                if was_shared {
                    "is no longer"
                } else {
                    "was not"
                },
                args.with_email
            );
        } else {
            sharing::share(&database.pool, args.experiment, &args.with_email).await?;
            eprintln!(
                "experiment {} is shared with {}",
                args.experiment, args.with_email
            );
        }
        anyhow::Ok(())
    }
    .await;
    database.close().await?;
    shared
}

async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let (references, methods) = match (&args.images, &args.methods) {
        (Some(images), _) => (read_reference_files(images)?, None),
        (None, Some(tree)) => {
            let (references, outputs) = read_method_tree(tree)?;
            let comparison = MethodComparison {
                pairs_per_patch: args.pairs_per_patch,
                min_patch_variance: args.min_patch_variance,
                outputs,
            };
            (references, Some(comparison))
        }
        (None, None) => (Vec::new(), None),
    };
    if args.source_experiment.is_some() && !matches!(args.kind, KindArg::Jnd) {
        anyhow::bail!("--source-experiment is for JND experiments (--kind jnd)");
    }
    let seed = args.seed.unwrap_or_else(|| rand::random::<u64>() >> 1);
    let database = args.database.open().await?;
    let created = async {
        let settings = NewExperiment {
            owner_id: researchers::id_by_email(&database.pool, &args.owner).await?,
            name: args.name,
            kind: match args.kind {
                KindArg::TwoAfc => ExperimentKind::TwoAfc,
                KindArg::Jnd => ExperimentKind::Jnd(JndSettings {
                    reference_ms: args.reference_ms,
                    gap_ms: args.gap_ms,
                    distorted_ms: args.distorted_ms,
                    control_share: args.control_share,
                    source_experiment_id: args.source_experiment,
                }),
            },
            split: args.split,
            category: args.category,
            patch_size: args.patch_size,
            patches_per_image: args.patches_per_image,
            sampler: SamplerSettings {
                family: args.distortion_family,
                ..SamplerSettings::default()
            },
            seed,
            judgments_per_stimulus: args.judgments_per_stimulus,
            trials_per_assignment: args.trials_per_assignment,
            sentinel_rate: args.sentinel_rate,
            max_assignments_per_worker: args.max_assignments_per_worker,
            assignment_ttl: Duration::from_secs(args.assignment_ttl_minutes.saturating_mul(60)),
            completion_redirect_url: args.completion_redirect_url,
            max_sentinel_failure_share: args.max_sentinel_failure_share,
        };
        let progress = ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} ({eta})")
                .expect("a valid progress template"),
        );
        progress.set_message("generating stimuli");
        let bar = progress.clone();
        let observer: ProgressObserver = Arc::new(move |done, total| {
            if let Some(total) = total {
                bar.set_length(total as u64);
            }
            bar.set_position(done as u64);
        });
        let id = match methods {
            Some(methods) => {
                experiments::create_with_methods(
                    &database.pool,
                    &settings,
                    references,
                    methods,
                    Some(observer),
                )
                .await
            }
            None => experiments::create(&database.pool, &settings, references, Some(observer)).await,
        };
        progress.finish_and_clear();
        id
    }
    .await;
    database.close().await?;
    let id = created?;
    eprintln!("created experiment {id} (seed {seed})");
    println!("{id}");
    Ok(())
}

/// The PNG and JPEG files in `dir`, in file-name order.
pub(super) fn read_reference_files(dir: &Path) -> anyhow::Result<Vec<ReferenceFile>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the image folder {}", dir.display()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|path| {
        path.extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| {
                ["png", "jpg", "jpeg"].contains(&extension.to_ascii_lowercase().as_str())
            })
    });
    paths.sort();
    if paths.is_empty() {
        anyhow::bail!("{} has no PNG or JPEG images", dir.display());
    }
    paths
        .into_iter()
        .map(|path| {
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let file_name = path
                .file_name()
                .expect("read_dir entries have file names")
                .to_string_lossy()
                .into_owned();
            Ok(ReferenceFile { file_name, bytes })
        })
        .collect()
}

/// A method-comparison folder: `references/` and `methods/<method>/`, every
/// file of them (what is not an image is refused by name when checked).
/// Anything else in the tree is refused here, by name.
pub(super) fn read_method_tree(
    dir: &Path,
) -> anyhow::Result<(Vec<ReferenceFile>, Vec<MethodOutputFile>)> {
    let entries = |folder: &Path| -> anyhow::Result<Vec<PathBuf>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
            .with_context(|| format!("cannot read the folder {}", folder.display()))?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect::<Result<_, _>>()?;
        paths.sort();
        Ok(paths)
    };
    let name = |path: &Path| path.file_name().expect("a folder entry").to_string_lossy().into_owned();
    let files = |folder: &Path| -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        entries(folder)?
            .into_iter()
            .map(|path| {
                if !path.is_file() {
                    anyhow::bail!(
                        "{} is not a file: a method comparison's folders hold only images",
                        path.display()
                    );
                }
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                Ok((name(&path), bytes))
            })
            .collect()
    };
    for path in entries(dir)? {
        let entry = name(&path);
        if !(path.is_dir() && (entry == "references" || entry == "methods")) {
            anyhow::bail!(
                "{} does not belong in a method comparison: the folder holds references/ and \
                 methods/<method>/ only",
                path.display()
            );
        }
    }
    let (references_dir, methods_dir) = (dir.join("references"), dir.join("methods"));
    for needed in [&references_dir, &methods_dir] {
        if !needed.is_dir() {
            anyhow::bail!("{} is missing: a method comparison needs references/ and methods/<method>/", needed.display());
        }
    }
    let references: Vec<ReferenceFile> = files(&references_dir)?
        .into_iter()
        .map(|(file_name, bytes)| ReferenceFile { file_name, bytes })
        .collect();
    if references.is_empty() {
        anyhow::bail!("{} has no images", references_dir.display());
    }
    let mut outputs = Vec::new();
    for method_dir in entries(&methods_dir)? {
        if !method_dir.is_dir() {
            anyhow::bail!(
                "{} is not a folder: methods/ holds one folder per method",
                method_dir.display()
            );
        }
        let method = name(&method_dir);
        for (file_name, bytes) in files(&method_dir)? {
            outputs.push(MethodOutputFile {
                method: method.clone(),
                file_name,
                bytes,
            });
        }
    }
    Ok((references, outputs))
}
