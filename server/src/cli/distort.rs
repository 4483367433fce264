//! `percept distort …`: list, apply and sample BAPPS distortions, both
//! families (traditional pipelines, and the networks of the CNN bank), and
//! build and list the CNN bank (`cnn-bank`, stored in the database).

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use distortions::image::RgbImage;
use distortions::rand_chacha::rand_core::{RngCore, SeedableRng};
use distortions::rand_chacha::ChaCha8Rng;
use distortions::{contact_sheet, Pipeline, Sampler, KINDS};
use percept_api::experiments::DistortionFamily;

use super::DatabaseArgs;
use crate::cnn;
use crate::cnn_bank;

#[derive(Debug, clap::Subcommand)]
pub enum DistortCommand {
    /// Every distortion type with its parameters and valid ranges.
    List {
        /// Print the catalogue as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Apply a distortion pipeline, or a network of the CNN bank, to one image.
    Apply {
        /// Image to distort (PNG, JPEG, …); converted to 8-bit RGB.
        #[arg(long)]
        input: PathBuf,
        /// The pipeline: inline JSON (an array of distortions, or one
        /// distortion object) or the path of a file holding it.
        #[arg(long, required_unless_present = "cnn", conflicts_with = "cnn")]
        spec: Option<String>,
        /// A network of the CNN bank (`percept distort cnn-bank list`)
        /// instead of a pipeline; the image's sides must suit it (e.g. 64×64).
        #[arg(long, value_name = "NET_ID")]
        cnn: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
        /// Seed of the random draws (noise, warps; a CNN network's input
        /// degradation); same seed, same bytes.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where to write the result; the format follows the extension (use .png).
        #[arg(long)]
        out: PathBuf,
    },
    /// Draw random pipelines the BAPPS way and apply them to one image.
    Sample {
        /// Reference image.
        #[arg(long)]
        input: PathBuf,
        /// Number of distorted images to make (at least 1).
        #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..))]
        count: u32,
        /// Seed of the whole batch: pipelines and per-image seeds derive from it.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Fewest distortions per pipeline.
        #[arg(long, default_value_t = 1)]
        min_steps: usize,
        /// Most distortions per pipeline.
        #[arg(long, default_value_t = 3)]
        max_steps: usize,
        /// Which family: traditional pipelines, networks of the CNN bank,
        /// or each image drawn from either (mix).
        #[arg(long, default_value = "traditional", value_parser = parse_family)]
        family: DistortionFamily,
        #[command(flatten)]
        database: DatabaseArgs,
        /// Folder for the images, their specs, manifest.json and contact_sheet.png.
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Build or list the bank of CNN distortions (in the database, shared
    /// by every server and worker on it).
    #[command(subcommand)]
    CnnBank(CnnBankCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum CnnBankCommand {
    /// Train networks 0..N of a bank seed as a job of the queue, and work
    /// on it here (or follow it while another process does). Networks
    /// already in the bank are kept, so an interrupted build resumes.
    Build {
        /// Networks in the bank.
        #[arg(long, default_value_t = 24)]
        count: u32,
        /// Seed of the networks' specs: network i is `s<seed>-<i>`.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Folder of photos to train on, readable by whichever process takes
        /// the job [default: the demo photos, PERCEPT_DEMO_PHOTOS].
        #[arg(long)]
        images: Option<PathBuf>,
        /// Narrow the training iterations, e.g. 20-60 for a quick bank
        /// [default: the family's 20-400].
        #[arg(long, value_name = "MIN-MAX", value_parser = parse_iterations)]
        iterations: Option<(u32, u32)>,
        /// Only queue the job (a `percept serve` or `percept worker` builds it).
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Every network of the bank: task, architecture, learning, training
    /// loss and time, weights hash.
    List {
        /// Print every record, spec included, as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

fn parse_family(name: &str) -> Result<DistortionFamily, String> {
    name.parse()
}

fn parse_iterations(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{text:?} is not a range of iterations: write MIN-MAX, e.g. 20-60");
    let (low, high) = text.split_once('-').ok_or_else(bad)?;
    let (low, high) = (
        low.trim().parse().map_err(|_| bad())?,
        high.trim().parse().map_err(|_| bad())?,
    );
    Ok((low, high))
}

pub fn run(command: DistortCommand) -> anyhow::Result<()> {
    match command {
        DistortCommand::List { json } => {
            let text = if json {
                serde_json::to_string_pretty(KINDS)? + "\n"
            } else {
                catalogue_table()
            };
            // write_all rather than print!, so a closed pipe (`| head`) is an error, not a panic.
            std::io::stdout()
                .write_all(text.as_bytes())
                .context("cannot write to stdout")
        }
        DistortCommand::Apply {
            input,
            spec,
            cnn,
            database,
            seed,
            out,
        } => {
            let reference = read_image(&input)?;
            let distorted = match (spec, cnn) {
                (Some(spec), _) => read_spec(&spec)?.apply(&reference, seed)?,
                (None, Some(id)) => with_database(&database, |pool| async move {
                    let network = cnn::load(&pool, &id, None).await?;
                    println!(
                        "network {id} ({}), weights {}",
                        network.record().spec.task_name(),
                        network.record().weights_sha256
                    );
                    Ok(network.apply_one(&reference, seed)?)
                })?,
                (None, None) => unreachable!("clap requires --spec or --cnn"),
            };
            write_image(&distorted, &out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        DistortCommand::Sample {
            input,
            count,
            seed,
            min_steps,
            max_steps,
            family,
            database,
            out_dir,
        } => {
            let reference = read_image(&input)?;
            let type_names: Vec<&str> = KINDS.iter().map(|kind| kind.name).collect();
            let sampler = Sampler::new(min_steps, max_steps, &type_names)?;
            let networks = match family {
                DistortionFamily::Traditional => Vec::new(),
                _ => with_database(&database, |pool| async move {
                    let refs = cnn_bank::networks_for_generation(&pool).await?;
                    let mut networks = Vec::new();
                    for network in refs {
                        networks.push(
                            cnn::load(&pool, &network.id, Some(&network.weights_sha256)).await?,
                        );
                    }
                    Ok(networks)
                })?,
            };
            let distorter = SampleDistorter {
                sampler: &sampler,
                family,
                networks: &networks,
            };
            sample(&reference, &distorter, count, seed, &out_dir)
        }
        DistortCommand::CnnBank(command) => cnn_bank_command(command),
    }
}

/// Runs `work` on a pool of the database, then closes it.
fn with_database<T, F>(
    database: &DatabaseArgs,
    work: impl FnOnce(sqlx::PgPool) -> F,
) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    tokio::runtime::Runtime::new()?.block_on(async {
        let opened = database.open().await?;
        let result = work(opened.pool.clone()).await;
        opened.close().await?;
        result
    })
}

fn cnn_bank_command(command: CnnBankCommand) -> anyhow::Result<()> {
    match command {
        CnnBankCommand::Build {
            count,
            seed,
            images,
            iterations,
            no_wait,
            database,
        } => {
            let images = images
                .map(|dir| {
                    anyhow::ensure!(dir.is_dir(), "--images {} is not a folder", dir.display());
                    Ok(std::path::absolute(&dir)?)
                })
                .transpose()?;
            let build = cnn::BankBuild {
                count,
                seed,
                images,
                iterations,
            };
            build.validate()?;
            with_database(&database, |pool| async move {
                let job_id = cnn::enqueue(&pool, &build).await?;
                println!(
                    "cnn-bank job {job_id}: networks s{seed}-000 to {}",
                    cnn_distortions::network_id(seed, count - 1)
                );
                if no_wait {
                    return Ok(());
                }
                cnn::wait_for(&pool, job_id).await?;
                print_bank(&pool, false).await
            })
        }
        CnnBankCommand::List { json, database } => {
            with_database(
                &database,
                |pool| async move { print_bank(&pool, json).await },
            )
        }
    }
}

async fn print_bank(pool: &sqlx::PgPool, json: bool) -> anyhow::Result<()> {
    let networks = cnn_bank::list(pool).await?;
    if json {
        let records: Vec<serde_json::Value> = networks
            .iter()
            .map(|network| {
                serde_json::json!({
                    "id": network.id,
                    "bank_seed": network.bank_seed,
                    "index": network.index,
                    "spec": network.spec,
                    "weights_sha256": network.weights_sha256,
                    "training_loss": network.training_loss,
                    "training_seconds": network.training_seconds,
                    "created_at": network.created_at,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&records)?);
        return Ok(());
    }
    if networks.is_empty() {
        println!("the CNN bank is empty; {}", cnn_bank::BUILD_HINT);
        return Ok(());
    }
    println!(
        "{:<8} {:<34} {:<64} {:>5} {:>8} {:>7}  weights",
        "id", "task", "architecture", "iters", "loss", "seconds"
    );
    for network in &networks {
        let spec: cnn_distortions::NetworkSpec = serde_json::from_value(network.spec.clone())?;
        println!(
            "{:<8} {:<34} {:<64} {:>5} {:>8.4} {:>7.1}  {}…",
            network.id,
            spec.task_summary(),
            spec.architecture_summary(),
            spec.learning.iterations,
            network.training_loss,
            network.training_seconds,
            &network.weights_sha256[..12]
        );
    }
    println!("{} networks", networks.len());
    Ok(())
}

/// Types grouped with their parameters, one parameter per row.
fn catalogue_table() -> String {
    let mut table = String::new();
    for kind in KINDS {
        let _ = writeln!(
            table,
            "{} ({}): {}",
            kind.name,
            kind.family.name(),
            kind.description.trim()
        );
        for param in kind.params {
            let range = format!(
                "[{}, {}]{}",
                param.min,
                param.max,
                if param.integer { " integer" } else { "" }
            );
            let _ = writeln!(
                table,
                "    {:<14} {:<20} {}",
                param.name,
                range,
                param.description.trim()
            );
        }
    }
    table
}

fn read_spec(spec: &str) -> anyhow::Result<Pipeline> {
    let trimmed = spec.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return Ok(Pipeline::from_json(spec)?);
    }
    let text = fs::read_to_string(spec).with_context(|| {
        format!(
            "--spec {spec:?} is neither a JSON pipeline (it starts with [ or {{) \
             nor a file that can be read"
        )
    })?;
    Pipeline::from_json(&text).with_context(|| format!("in spec file {spec}"))
}

fn read_image(path: &Path) -> anyhow::Result<RgbImage> {
    let image = distortions::image::open(path)
        .with_context(|| format!("cannot read image {}", path.display()))?;
    Ok(image.into_rgb8())
}

fn write_image(image: &RgbImage, path: &Path) -> anyhow::Result<()> {
    image
        .save(path)
        .with_context(|| format!("cannot write image {}", path.display()))
}

/// One sampled stimulus as recorded in manifest.json: enough to regenerate it
/// with `percept distort apply --spec <spec> --seed <seed>` (or `--cnn
/// <cnn_network> --seed <seed>`).
#[derive(serde::Serialize)]
struct ManifestEntry {
    image: String,
    spec: String,
    seed: u64,
    #[serde(flatten)]
    distortion: SampledDistortion,
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum SampledDistortion {
    Pipeline {
        pipeline: Pipeline,
    },
    Cnn {
        cnn_network: String,
        weights_sha256: String,
    },
}

impl SampledDistortion {
    fn to_json(&self) -> String {
        match self {
            SampledDistortion::Pipeline { pipeline } => pipeline.to_json(),
            cnn => serde_json::to_string(cnn).expect("serialises"),
        }
    }
}

/// What `distort sample` draws from: the traditional sampler, the loaded
/// networks of the bank, or either (mix, even odds per image).
struct SampleDistorter<'a> {
    sampler: &'a Sampler,
    family: DistortionFamily,
    networks: &'a [cnn_distortions::CnnNetwork],
}

fn sample(
    reference: &RgbImage,
    distorter: &SampleDistorter,
    count: u32,
    seed: u64,
    out_dir: &Path,
) -> anyhow::Result<()> {
    fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut manifest = Vec::new();
    let mut tiles = vec![reference.clone()];
    for index in 0..count {
        let use_cnn = match distorter.family {
            DistortionFamily::Traditional => false,
            DistortionFamily::Cnn => true,
            DistortionFamily::Mix => rng.next_u32() & 1 == 1,
        };
        let network = use_cnn.then(|| {
            let pick = (u64::from(rng.next_u32()) * distorter.networks.len() as u64) >> 32;
            &distorter.networks[pick as usize]
        });
        // The traditional family draws exactly as it always did.
        let pipeline = network
            .is_none()
            .then(|| distorter.sampler.sample(&mut rng));
        // Below 2^53 so the seed survives JSON readers that parse numbers as doubles.
        let stimulus_seed = rng.next_u64() >> 11;
        let (distorted, distortion) = match (network, pipeline) {
            (Some(network), _) => (
                network.apply_one(reference, stimulus_seed)?,
                SampledDistortion::Cnn {
                    cnn_network: network.id().to_owned(),
                    weights_sha256: network.record().weights_sha256.clone(),
                },
            ),
            (None, Some(pipeline)) => (
                pipeline.apply(reference, stimulus_seed)?,
                SampledDistortion::Pipeline { pipeline },
            ),
            (None, None) => unreachable!("one family is drawn"),
        };
        let (image_name, spec_name) = (format!("{index:03}.png"), format!("{index:03}.json"));
        write_image(&distorted, &out_dir.join(&image_name))?;
        let spec_path = out_dir.join(&spec_name);
        fs::write(&spec_path, distortion.to_json())
            .with_context(|| format!("cannot write {}", spec_path.display()))?;
        tiles.push(distorted);
        manifest.push(ManifestEntry {
            image: image_name,
            spec: spec_name,
            seed: stimulus_seed,
            distortion,
        });
    }
    let manifest_path = out_dir.join("manifest.json");
    fs::write(&manifest_path, serde_json::to_string_pretty(&manifest)?)
        .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    write_image(reference, &out_dir.join("reference.png"))?;
    let sheet_path = out_dir.join("contact_sheet.png");
    write_image(&contact_sheet(&tiles, 6, 2), &sheet_path)?;

    println!(
        "wrote {count} distorted images, their specs and {}",
        manifest_path.display()
    );
    println!(
        "contact sheet (reference first, then 000, 001, … left to right): {}",
        sheet_path.display()
    );
    for entry in &manifest {
        println!(
            "{}  seed {:>16}  {}",
            entry.image,
            entry.seed,
            entry.distortion.to_json()
        );
    }
    Ok(())
}
