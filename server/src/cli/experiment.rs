//! `percept experiment create`: an experiment and its stimuli from a folder of
//! images; `list` and `show`: what there is and how far it got, with the
//! planning figures; `close`, `reopen`, `archive`, `edit` and `delete`: its
//! life after creation; `share`: who else sees it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::DatabaseArgs;
use crate::experiments::lifecycle::{self, Lifecycle};
use crate::experiments::{
    self, overview, MethodComparison, MethodOutputFile, NewExperiment, ReferenceFile,
};
use crate::jobs::ProgressObserver;
use crate::researchers;
use crate::sharing;
use percept_api::count;
use percept_api::experiments::{
    defaults, DistortionFamily, ExperimentPatch, JndChoice, NewExperimentSettings, SamplerChoice,
};

#[derive(Debug, clap::Subcommand)]
pub enum ExperimentCommand {
    /// Create an experiment, cut its triplets (2AFC) or pairs (JND) from a
    /// folder of reference images, and print its id.
    Create(Box<CreateArgs>),
    /// Share an experiment with another researcher (who then sees, scores,
    /// reports and exports it as its owner does), or stop sharing it.
    Share(ShareArgs),
    /// Every experiment: id, kind, name, split/category, lifecycle, progress, owner.
    List(ListArgs),
    /// One experiment: settings, counts, the worker links, jobs, and the
    /// planning figures (what is still needed and what to buy).
    Show(ShowArgs),
    /// Stop handing out assignments; running ones may be finished unless
    /// --cut-off-open-assignments.
    Close(CloseArgs),
    /// Hand out assignments again.
    Reopen(IdArgs),
    /// Close the experiment and hide it from the dashboard's list.
    Archive(CloseArgs),
    /// Change what is safe to change after creation (name, completion
    /// redirect, per-worker cap, judgments wanted, assignment expiry).
    Edit(EditArgs),
    /// Delete the experiment and everything it holds, in one transaction.
    /// One that holds judgments needs --confirm NAME.
    Delete(DeleteArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print JSON (one array) instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The experiment's id.
    id: i64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// The server's address as workers reach it, for the worker links.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    base_url: String,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, clap::Args)]
pub struct IdArgs {
    /// The experiment's id.
    id: i64,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, clap::Args)]
pub struct CloseArgs {
    /// The experiment's id.
    id: i64,
    /// Also end the assignments running now (their remaining judgments are
    /// refused) instead of letting workers finish them.
    #[arg(long)]
    cut_off_open_assignments: bool,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct EditArgs {
    /// The experiment's id.
    id: i64,
    #[arg(long)]
    name: Option<String>,
    /// Where workers are sent when they finish; "" removes it.
    #[arg(long)]
    completion_redirect_url: Option<String>,
    #[arg(long)]
    max_assignments_per_worker: Option<u32>,
    #[arg(long, alias = "judgments-per-triplet")]
    judgments_per_stimulus: Option<u32>,
    #[arg(long)]
    assignment_ttl_minutes: Option<u64>,
    /// Hand imported stimuli (a BAPPS tree's) out to workers too: true or
    /// false (the default: they came with their own judgments).
    #[arg(long)]
    serve_imported_stimuli: Option<bool>,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The experiment's id.
    id: i64,
    /// The experiment's name: needed when it holds judgments, which are lost.
    #[arg(long)]
    confirm: Option<String>,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, clap::Args)]
pub struct ShareArgs {
    /// The experiment's id.
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
#[command(allow_negative_numbers = true)]
pub struct CreateArgs {
    #[arg(long, value_enum)]
    kind: KindArg,
    /// Folder of reference images (PNG or JPEG), taken in file-name order
    /// (JND: or --source-experiment; a method comparison: --methods). Every
    /// file in it must be an image, as every file of the dashboard's upload
    /// must: another file is refused by name and nothing is stored. Hidden
    /// files (.DS_Store…) and subfolders are not looked at.
    #[arg(long)]
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
    /// Method comparison: METHOD=FACTOR declares that METHOD's outputs are
    /// FACTOR times smaller than their references (say a low-resolution
    /// input, superres-x4=4); they are enlarged by pixel replication.
    /// Repeatable. Without it, an output of another size is refused.
    #[arg(
        long = "method-scale",
        requires = "methods",
        value_name = "METHOD=FACTOR"
    )]
    method_scales: Vec<String>,
    /// Method comparison: NAME=SPEC enters a traditional distortion
    /// pipeline (the JSON of `percept distort apply --spec`) applied to
    /// every reference as one more method, a known reference point; e.g.
    /// jpeg-q30='[{"type":"jpeg","quality":30}]'. Repeatable.
    #[arg(long = "anchor", requires = "methods", value_name = "NAME=SPEC")]
    anchors: Vec<String>,
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
    /// Dataset split the judgments are for: train or val (BAPPS' splits).
    #[arg(long, default_value_t = defaults::split())]
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
    /// JND only: milliseconds the reference patch is shown [default: 1000].
    #[arg(long)]
    reference_ms: Option<u32>,
    /// JND only: milliseconds of blank between the reference and the
    /// distorted patch [default: 250].
    #[arg(long)]
    gap_ms: Option<u32>,
    /// JND only: milliseconds the distorted patch is shown [default: 1000].
    #[arg(long)]
    distorted_ms: Option<u32>,
    /// JND only: share of control pairs (the reference shown twice) [default: 0.1].
    #[arg(long)]
    control_share: Option<f64>,
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
    /// Fewest distortions per pipeline (the dashboard's "at least"; 1 or more).
    #[arg(long, default_value_t = SamplerChoice::default().min_steps)]
    min_steps: usize,
    /// Most distortions per pipeline (at least --min-steps, at most the
    /// number of types).
    #[arg(long, default_value_t = SamplerChoice::default().max_steps)]
    max_steps: usize,
    /// Distortion types the pipelines draw from, comma-separated (or the
    /// flag repeated), as `percept distort list` names them [default: all 20].
    #[arg(long, value_delimiter = ',')]
    types: Vec<String>,
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
        ExperimentCommand::List(args) => tokio::runtime::Runtime::new()?.block_on(list(args)),
        ExperimentCommand::Show(args) => tokio::runtime::Runtime::new()?.block_on(show(args)),
        ExperimentCommand::Close(args) => tokio::runtime::Runtime::new()?.block_on(set_lifecycle(
            args.id,
            Lifecycle::Closed,
            args.cut_off_open_assignments,
            args.database,
        )),
        ExperimentCommand::Archive(args) => {
            tokio::runtime::Runtime::new()?.block_on(set_lifecycle(
                args.id,
                Lifecycle::Archived,
                args.cut_off_open_assignments,
                args.database,
            ))
        }
        ExperimentCommand::Reopen(args) => tokio::runtime::Runtime::new()?.block_on(set_lifecycle(
            args.id,
            Lifecycle::Open,
            false,
            args.database,
        )),
        ExperimentCommand::Edit(args) => tokio::runtime::Runtime::new()?.block_on(edit(args)),
        ExperimentCommand::Delete(args) => tokio::runtime::Runtime::new()?.block_on(delete(args)),
    }
}

/// Runs `work` on the database, closing it (and the private cluster this
/// process started) whatever the outcome.
async fn with_database<T, F>(
    database: &DatabaseArgs,
    work: impl FnOnce(sqlx::PgPool) -> F,
) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let database = database.open().await?;
    let outcome = work(database.pool.clone()).await;
    database.close().await?;
    outcome
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let experiments = with_database(&args.database, |pool| async move {
        Ok(overview::list(&pool, None).await?)
    })
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&experiments)?);
        return Ok(());
    }
    println!(
        "{:>4}  {:<4}  {:<24}  {:<20}  {:<8}  {:<10}  {:>22}  owner",
        "id", "kind", "name", "split/category", "state", "stimuli", "judgments"
    );
    for experiment in experiments {
        let dataset = match &experiment.category {
            Some(category) => format!("{}/{category}", experiment.split),
            None => experiment.split.clone(),
        };
        // Judgments imported with the stimuli are said as such, as the
        // dashboard's list does.
        let mut judgments = format!(
            "{}/{}",
            experiment.judgments_collected, experiment.judgments_target
        );
        if experiment.judgments_imported > 0 {
            judgments += &format!(" + {} imported", experiment.judgments_imported);
        }
        let state = if experiment.status == "ready" {
            experiment.lifecycle.clone()
        } else {
            experiment.status.clone()
        };
        println!(
            "{:>4}  {:<4}  {:<24}  {:<20}  {:<8}  {:<10}  {:>22}  {}",
            experiment.id,
            experiment.kind,
            fit(&experiment.name, 24),
            fit(&dataset, 20),
            state,
            format!(
                "{}/{}",
                experiment.stimuli_generated, experiment.stimuli_total
            ),
            judgments,
            experiment.owner_email
        );
    }
    Ok(())
}

/// `text` cut to `width` characters (the last one an ellipsis), so that a
/// long name does not push the table's columns out of line.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

async fn show(args: ShowArgs) -> anyhow::Result<()> {
    let id = args.id;
    let (mut experiment, jobs) = with_database(&args.database, |pool| async move {
        let experiment = overview::detail(&pool, id, true).await?;
        let jobs = crate::jobs::list(&pool, None, Some(id)).await?;
        Ok((experiment, jobs))
    })
    .await?;
    let base = args.base_url.trim_end_matches('/');
    for link in [
        &mut experiment.worker_url,
        &mut experiment.worker_links.prolific,
        &mut experiment.worker_links.mturk,
        &mut experiment.worker_links.anonymous,
    ] {
        *link = format!("{base}{link}");
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "experiment": experiment, "jobs": jobs })
            )?
        );
        return Ok(());
    }
    let e = &experiment;
    println!(
        "experiment {} {:?} ({}), owned by {}",
        e.id, e.name, e.kind, e.owner_email
    );
    println!(
        "  {} split {}{}, created {}",
        e.lifecycle,
        e.split,
        e.category
            .as_deref()
            .map(|c| format!(", category {c}"))
            .unwrap_or_default(),
        e.created_at.format("%Y-%m-%d %H:%M UTC")
    );
    let generation = match &e.generation_error {
        Some(error) => format!("failed: {error}"),
        None => e.status.clone(),
    };
    println!(
        "  stimuli: {}/{} generated ({generation}), {}, {}",
        e.stimuli_generated,
        e.stimuli_total,
        count(e.reference_images, "reference image", "reference images"),
        count(e.sentinel_triplets, "sentinel triplet", "sentinel triplets"),
    );
    println!(
        "  settings: patch {} px, {} per image, seed {}, {} per stimulus, \
         {} per assignment, sentinel rate {}, at most {} per worker, \
         assignments expire after {} min, flag workers failing over {} of sentinels",
        e.patch_size,
        count(e.patches_per_image, "patch", "patches"),
        e.seed,
        count(e.judgments_per_stimulus, "judgment", "judgments"),
        count(e.trials_per_assignment, "trial", "trials"),
        e.sentinel_rate,
        count(e.max_assignments_per_worker, "assignment", "assignments"),
        e.assignment_ttl_minutes,
        e.max_sentinel_failure_share
    );
    println!(
        "  completion redirect: {}",
        e.completion_redirect_url.as_deref().unwrap_or("none")
    );
    // Imported stimuli came with judgments made elsewhere: said as such,
    // beside the ones collected here, as the dashboard does.
    if e.judgments_imported > 0 || e.imported_stimuli > 0 {
        println!(
            "  judgments: {} imported + {} collected here, of {} wanted ({} collected in all), \
             {}, {} flagged",
            e.judgments_imported,
            e.judgments_collected,
            e.judgments_target,
            e.judgments,
            count(e.workers, "worker", "workers"),
            e.flagged_workers
        );
        println!(
            "  imported: {} came with {} made elsewhere: they count towards the \
             target, but were not collected here; {}",
            if e.kind == "jnd" {
                count(e.imported_stimuli, "pair", "pairs")
            } else {
                count(e.imported_stimuli, "triplet", "triplets")
            },
            count(e.judgments_imported, "judgment", "judgments"),
            if e.serve_imported_stimuli {
                "they are handed out to workers too".to_owned()
            } else {
                format!(
                    "they are not handed out to workers \
                     (`percept experiment edit {} --serve-imported-stimuli true` would)",
                    e.id
                )
            }
        );
    } else {
        println!(
            "  judgments: {}/{} counted toward the target ({} in all), {}, {} flagged",
            e.judgments_collected,
            e.judgments_target,
            e.judgments,
            count(e.workers, "worker", "workers"),
            e.flagged_workers
        );
    }
    let p = &e.planning;
    println!("  planning:");
    println!("    judgments still needed: {}", p.judgments_still_needed);
    println!(
        "    assignments still needed: {} ({:.1} real trials each; {} running now)",
        p.assignments_still_needed, p.real_trials_per_assignment, p.open_assignments
    );
    match (p.median_response_ms, p.expected_minutes_per_assignment) {
        (Some(median), Some(minutes)) => println!(
            "    expected minutes per assignment: {minutes:.1} (median response {median:.0} ms; instructions and practice come on top)"
        ),
        _ => println!("    expected minutes per assignment: unknown until the first judgments"),
    }
    println!(
        "    worker-assignments to buy: {} ({:.0}% of judgments so far did not count)",
        p.worker_assignments_to_buy,
        p.lost_share * 100.0
    );
    println!("  worker links:");
    println!("    Prolific:  {}", e.worker_links.prolific);
    println!("    MTurk:     {}", e.worker_links.mturk);
    println!("    anonymous: {}", e.worker_links.anonymous);
    if jobs.is_empty() {
        println!("  jobs: none");
    } else {
        println!("  jobs:");
        for job in &jobs {
            let progress = match job.progress_total {
                Some(total) => format!("{}/{total}", job.progress_done),
                None => job.progress_done.to_string(),
            };
            println!(
                "    {} {} {} {} {}{}",
                job.id,
                job.kind,
                job.payload,
                job.status,
                progress,
                job.error
                    .as_deref()
                    .map(|error| format!(": {error}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

async fn set_lifecycle(
    id: i64,
    lifecycle: Lifecycle,
    cut_off: bool,
    database: DatabaseArgs,
) -> anyhow::Result<()> {
    let cut = with_database(&database, |pool| async move {
        Ok(lifecycle::set_lifecycle(&pool, id, lifecycle, cut_off).await?)
    })
    .await?;
    let what = match lifecycle {
        Lifecycle::Open => "is open: it hands out assignments".to_owned(),
        Lifecycle::Closed | Lifecycle::Archived if cut_off => format!(
            "is {}: it hands out no new assignments, and the {cut} running were cut off",
            lifecycle.as_str()
        ),
        Lifecycle::Closed | Lifecycle::Archived => format!(
            "is {}: it hands out no new assignments; those running may be finished",
            lifecycle.as_str()
        ),
    };
    eprintln!("experiment {id} {what}");
    Ok(())
}

async fn edit(args: EditArgs) -> anyhow::Result<()> {
    let id = args.id;
    let patch = ExperimentPatch {
        name: args.name,
        completion_redirect_url: args.completion_redirect_url,
        max_assignments_per_worker: args.max_assignments_per_worker,
        judgments_per_stimulus: args.judgments_per_stimulus,
        assignment_ttl_minutes: args.assignment_ttl_minutes,
        serve_imported_stimuli: args.serve_imported_stimuli,
        ..ExperimentPatch::default()
    };
    if patch == ExperimentPatch::default() {
        anyhow::bail!(
            "nothing to change: pass one or more of --name, --completion-redirect-url, \
             --max-assignments-per-worker, --judgments-per-stimulus, --assignment-ttl-minutes, \
             --serve-imported-stimuli (`percept experiment show {id}` shows the current settings)"
        );
    }
    with_database(&args.database, |pool| async move {
        Ok(lifecycle::patch(&pool, id, &patch, lifecycle::SettingNames::CliFlags).await?)
    })
    .await?;
    eprintln!("experiment {id} is changed");
    Ok(())
}

async fn delete(args: DeleteArgs) -> anyhow::Result<()> {
    let id = args.id;
    let confirm = args.confirm;
    let loss = with_database(&args.database, |pool| async move {
        Ok(lifecycle::delete(
            &pool,
            id,
            confirm.as_deref(),
            "pass --confirm with its name",
        )
        .await?)
    })
    .await?;
    eprintln!("deleted: {}", lifecycle::Loss(&loss));
    Ok(())
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
    let (references, methods) = match (&args.images, &args.methods, args.source_experiment) {
        (Some(images), _, _) => (read_reference_files(images)?, None),
        (None, Some(tree), _) => {
            let (references, outputs) = read_method_tree(tree)?;
            let comparison = MethodComparison {
                pairs_per_patch: args.pairs_per_patch,
                min_patch_variance: args.min_patch_variance,
                outputs,
                scales: args
                    .method_scales
                    .iter()
                    .map(|text| experiments::parse_method_scale(text))
                    .collect::<Result<_, _>>()?,
                anchors: args
                    .anchors
                    .iter()
                    .map(|text| experiments::Anchor::parse(text))
                    .collect::<Result<_, _>>()?,
            };
            (references, Some(comparison))
        }
        (None, None, Some(_)) => (Vec::new(), None),
        (None, None, None) => match args.kind {
            KindArg::TwoAfc => anyhow::bail!(
                "a 2AFC experiment needs reference images: pass --images DIR, or --methods DIR \
                 for a method comparison"
            ),
            KindArg::Jnd => anyhow::bail!(
                "a JND experiment needs its pairs from somewhere: pass --images DIR to cut them from \
                 reference images, or --source-experiment ID to take them from a 2AFC experiment's triplets"
            ),
        },
    };
    if args.source_experiment.is_some() && !matches!(args.kind, KindArg::Jnd) {
        anyhow::bail!("--source-experiment is for JND experiments (--kind jnd)");
    }
    let jnd = jnd_choice(&args)?;
    let seed = args.seed.unwrap_or_else(|| rand::random::<u64>() >> 1);
    // The settings the dashboard's form sends, read by the same function.
    let settings = NewExperimentSettings {
        name: args.name,
        split: args.split,
        category: args.category,
        patch_size: args.patch_size,
        patches_per_image: args.patches_per_image,
        sampler: SamplerChoice {
            min_steps: args.min_steps,
            max_steps: args.max_steps,
            types: args.types,
        },
        distortion_family: args.distortion_family,
        seed: Some(seed),
        judgments_per_stimulus: args.judgments_per_stimulus,
        trials_per_assignment: args.trials_per_assignment,
        sentinel_rate: args.sentinel_rate,
        max_assignments_per_worker: args.max_assignments_per_worker,
        assignment_ttl_minutes: args.assignment_ttl_minutes,
        completion_redirect_url: args.completion_redirect_url,
        max_sentinel_failure_share: args.max_sentinel_failure_share,
        jnd,
    };
    let database = args.database.open().await?;
    let created = async {
        let owner_id = researchers::id_by_email(&database.pool, &args.owner).await?;
        let settings = NewExperiment::from_settings(settings, owner_id);
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
            None => {
                experiments::create(&database.pool, &settings, references, Some(observer)).await
            }
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

/// The JND settings of a JND experiment; a 2AFC one refuses them, since
/// it has no timed sequence to apply them to (the form sends none for it).
fn jnd_choice(args: &CreateArgs) -> anyhow::Result<Option<JndChoice>> {
    match args.kind {
        KindArg::Jnd => Ok(Some(JndChoice {
            reference_ms: args.reference_ms.unwrap_or_else(defaults::reference_ms),
            gap_ms: args.gap_ms.unwrap_or_else(defaults::gap_ms),
            distorted_ms: args.distorted_ms.unwrap_or_else(defaults::distorted_ms),
            control_share: args.control_share.unwrap_or_else(defaults::control_share),
            source_experiment_id: args.source_experiment,
        })),
        KindArg::TwoAfc => {
            let given: Vec<&str> = [
                ("--reference-ms", args.reference_ms.is_some()),
                ("--gap-ms", args.gap_ms.is_some()),
                ("--distorted-ms", args.distorted_ms.is_some()),
                ("--control-share", args.control_share.is_some()),
            ]
            .into_iter()
            .filter_map(|(flag, given)| given.then_some(flag))
            .collect();
            if !given.is_empty() {
                anyhow::bail!(
                    "{} {} for JND experiments (--kind jnd): a 2AFC trial shows the reference \
                     and both patches together until the worker answers, with no timed \
                     sequence; leave {} out",
                    given.join(", "),
                    if given.len() == 1 { "is" } else { "are" },
                    if given.len() == 1 { "it" } else { "them" },
                );
            }
            Ok(None)
        }
    }
}

/// The files of `dir`, in file-name order: each is checked as an image when
/// the experiment is stored, as an uploaded file is, so a stray file is
/// refused by name rather than left out unseen. Hidden files (which the
/// system makes: .DS_Store, ._photo.jpg) and subfolders are not looked at.
pub(super) fn read_reference_files(dir: &Path) -> anyhow::Result<Vec<ReferenceFile>> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the image folder {}", dir.display()))?
    {
        let entry = entry?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.path().is_file() {
            paths.push(entry.path());
        }
    }
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

/// A method-comparison folder: `references/` and `methods/<method>/`, read
/// whole and checked as the dashboard's uploads are
/// ([`experiments::methods::tree_from_files`]: what does not belong is
/// refused by name; images are checked when the experiment is stored).
pub(super) fn read_method_tree(
    dir: &Path,
) -> anyhow::Result<(Vec<ReferenceFile>, Vec<MethodOutputFile>)> {
    fn walk(root: &Path, folder: &Path, files: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
        let entries = std::fs::read_dir(folder)
            .with_context(|| format!("cannot read the folder {}", folder.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path, files)?;
            } else {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let relative = path.strip_prefix(root).expect("under the root");
                files.push((relative.to_string_lossy().replace('\\', "/"), bytes));
            }
        }
        Ok(())
    }
    if !dir.is_dir() {
        anyhow::bail!(
            "{} is not a folder of references/ and methods/<method>/",
            dir.display()
        );
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    Ok(experiments::methods::tree_from_files(files)?)
}
