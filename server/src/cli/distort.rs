//! `percept distort …`: list, apply and sample BAPPS distortions.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use distortions::image::RgbImage;
use distortions::rand_chacha::rand_core::{RngCore, SeedableRng};
use distortions::rand_chacha::ChaCha8Rng;
use distortions::{contact_sheet, Pipeline, Sampler, KINDS};

#[derive(Debug, clap::Subcommand)]
pub enum DistortCommand {
    /// Every distortion type with its parameters and valid ranges.
    List {
        /// Print the catalogue as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Apply a distortion pipeline to one image.
    Apply {
        /// Image to distort (PNG, JPEG, …); converted to 8-bit RGB.
        #[arg(long)]
        input: PathBuf,
        /// The pipeline: inline JSON (an array of distortions, or one
        /// distortion object) or the path of a file holding it.
        #[arg(long)]
        spec: String,
        /// Seed of the random draws (noise, warps); same seed, same bytes.
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
        /// Number of distorted images to make.
        #[arg(long, default_value_t = 12)]
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
        /// Folder for the images, their specs, manifest.json and contact_sheet.png.
        #[arg(long)]
        out_dir: PathBuf,
    },
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
            seed,
            out,
        } => {
            let pipeline = read_spec(&spec)?;
            let reference = read_image(&input)?;
            let distorted = pipeline.apply(&reference, seed)?;
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
            out_dir,
        } => {
            let reference = read_image(&input)?;
            let type_names: Vec<&str> = KINDS.iter().map(|kind| kind.name).collect();
            let sampler = Sampler::new(min_steps, max_steps, &type_names)?;
            sample(&reference, &sampler, count, seed, &out_dir)
        }
    }
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
    let text = fs::read_to_string(spec).with_context(|| format!("cannot read spec file {spec}"))?;
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
/// with `percept distort apply --spec <spec> --seed <seed>`.
#[derive(serde::Serialize)]
struct ManifestEntry {
    image: String,
    spec: String,
    seed: u64,
    pipeline: Pipeline,
}

fn sample(
    reference: &RgbImage,
    sampler: &Sampler,
    count: u32,
    seed: u64,
    out_dir: &Path,
) -> anyhow::Result<()> {
    fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut manifest = Vec::new();
    let mut tiles = vec![reference.clone()];
    for index in 0..count {
        let pipeline = sampler.sample(&mut rng);
        // Below 2^53 so the seed survives JSON readers that parse numbers as doubles.
        let stimulus_seed = rng.next_u64() >> 11;
        let distorted = pipeline.apply(reference, stimulus_seed)?;
        let (image_name, spec_name) = (format!("{index:03}.png"), format!("{index:03}.json"));
        write_image(&distorted, &out_dir.join(&image_name))?;
        let spec_path = out_dir.join(&spec_name);
        fs::write(&spec_path, pipeline.to_json())
            .with_context(|| format!("cannot write {}", spec_path.display()))?;
        tiles.push(distorted);
        manifest.push(ManifestEntry {
            image: image_name,
            spec: spec_name,
            seed: stimulus_seed,
            pipeline,
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
            entry.pipeline.to_json()
        );
    }
    Ok(())
}
