//! `percept lpips …`: LPIPS distance between two images or two folders.
//!
//! Images are read as 8-bit RGB: grayscale is replicated to three channels
//! and an alpha channel is discarded, like the official package's loader.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use lpips::image::{GrayImage, Luma};
use lpips::image_input::{check_comparable, load_rgb};
use lpips::{DistanceMap, Lpips, Net, Pair, Scorer, Weighting};

/// Pairs loaded and scored at a time in folder mode.
const PAIRS_PER_STEP: usize = 64;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("folders").args(["dir0", "dir1"]).multiple(true)))]
pub struct LpipsArgs {
    /// First image.
    #[arg(requires = "b", conflicts_with = "folders")]
    pub a: Option<PathBuf>,
    /// Second image (same size as the first).
    pub b: Option<PathBuf>,
    /// Score every file of this folder against the same-named file of --dir1.
    #[arg(long, requires = "dir1")]
    pub dir0: Option<PathBuf>,
    #[arg(long, requires = "dir0")]
    pub dir1: Option<PathBuf>,
    /// Folder mode: write `file,distance` lines here instead of stdout.
    #[arg(long, requires = "dir0")]
    pub out: Option<PathBuf>,
    /// Backbone network.
    #[arg(long, default_value = "alex", value_parser = ["alex", "vgg"])]
    pub net: String,
    /// Sum the normalised feature differences over channels instead of
    /// weighing them with the learned linear layers.
    #[arg(long)]
    pub no_lin: bool,
    /// Also write the distance map at input resolution as a grayscale PNG,
    /// scaled so that its maximum is white (the maximum is printed).
    #[arg(long, requires = "a", value_name = "MAP.png")]
    pub spatial: Option<PathBuf>,
    /// Folder holding alex.safetensors and vgg.safetensors, as written by the
    /// setup (default: the percept cache's weights folder).
    #[arg(long, env = "PERCEPT_WEIGHTS_DIR")]
    pub weights_dir: Option<PathBuf>,
    /// A safetensors file of custom or retrained weights for --net (official
    /// `LPIPS` state-dict names); overrides --weights-dir.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// libtorch threads (default: libtorch's choice, one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn run(args: LpipsArgs) -> anyhow::Result<()> {
    if let Some(threads) = args.threads {
        Scorer::set_threads(threads);
    }
    // Checked before the network loads, and named: a missing --dir1 would
    // otherwise read as "no file has a namesake".
    for (flag, dir) in [("--dir0", &args.dir0), ("--dir1", &args.dir1)] {
        if let Some(dir) = dir.as_deref().filter(|dir| !dir.is_dir()) {
            bail!("{flag} {} is not a folder", dir.display());
        }
    }
    let model = load_model(&args)?;
    match (&args.a, &args.b, &args.dir0, &args.dir1) {
        (Some(a), Some(b), None, None) => compare_images(model, a, b, args.spatial.as_deref()),
        (None, None, Some(dir0), Some(dir1)) => {
            compare_folders(model, dir0, dir1, args.out.as_deref())
        }
        _ => bail!(
            "give two images (percept lpips A.png B.png) or two folders (--dir0 D0 --dir1 D1)"
        ),
    }
}

fn load_model(args: &LpipsArgs) -> anyhow::Result<Lpips> {
    let net: Net = args.net.parse()?;
    let weighting = if args.no_lin {
        Weighting::ChannelSum
    } else {
        Weighting::Lin
    };
    let path = match (&args.weights, &args.weights_dir) {
        (Some(file), _) => file.clone(),
        (None, Some(dir)) => dir.join(format!("{net}.safetensors")),
        (None, None) => crate::scoring::default_weights_dir()?.join(format!("{net}.safetensors")),
    };
    if !path.exists() {
        bail!(
            "no weights at {}: run `cargo xtask setup` (it converts the official weights), or pass --weights-dir or --weights",
            path.display()
        );
    }
    Ok(Lpips::load(net, weighting, &path)?)
}

fn compare_images(
    model: Lpips,
    a_path: &Path,
    b_path: &Path,
    map_path: Option<&Path>,
) -> anyhow::Result<()> {
    let (a, b) = (load_rgb(a_path)?, load_rgb(b_path)?);
    check_comparable(model.net(), &a, &b)
        .with_context(|| format!("comparing {} and {}", a_path.display(), b_path.display()))?;
    match map_path {
        None => println!("{:.6}", model.distance(&a, &b)?),
        Some(map_path) => {
            let map = model.distance_map(&a, &b)?;
            let mean =
                map.values.iter().map(|&v| f64::from(v)).sum::<f64>() / map.values.len() as f64;
            let max = write_map(&map, map_path)?;
            println!("{mean:.6}");
            eprintln!(
                "distance map written to {} (white = {max:.6})",
                map_path.display()
            );
        }
    }
    Ok(())
}

/// Writes `map` as grayscale scaled so that its maximum is white; returns
/// that maximum.
fn write_map(map: &DistanceMap, path: &Path) -> anyhow::Result<f32> {
    let max = map.values.iter().copied().fold(0f32, f32::max);
    let scale = if max > 0.0 { 255.0 / max } else { 0.0 };
    let image = GrayImage::from_fn(map.width, map.height, |x, y| {
        Luma([(map.values[(y * map.width + x) as usize] * scale)
            .round()
            .clamp(0.0, 255.0) as u8])
    });
    image
        .save(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(max)
}

fn compare_folders(
    model: Lpips,
    dir0: &Path,
    dir1: &Path,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let mut names = Vec::new();
    let mut unmatched = Vec::new();
    for entry in std::fs::read_dir(dir0).with_context(|| format!("reading {}", dir0.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let name = entry.file_name();
            if dir1.join(&name).is_file() {
                names.push(name);
            } else {
                unmatched.push(name);
            }
        }
    }
    names.sort();
    if names.is_empty() {
        bail!(
            "no file of {} has a namesake in {}",
            dir0.display(),
            dir1.display()
        );
    }
    let scorer = Scorer::new(model);
    let progress = ProgressBar::new(names.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} pairs, {per_sec}, eta {eta}")
            .expect("valid template"),
    );
    let mut report = String::from("file,distance\n");
    for step in names.chunks(PAIRS_PER_STEP) {
        let mut patches = Vec::with_capacity(2 * step.len());
        for name in step {
            let (a_path, b_path) = (dir0.join(name), dir1.join(name));
            let (a, b) = (load_rgb(&a_path)?, load_rgb(&b_path)?);
            check_comparable(scorer.model().net(), &a, &b).with_context(|| {
                format!("comparing {} and {}", a_path.display(), b_path.display())
            })?;
            patches.extend([a, b]);
        }
        let pairs: Vec<Pair> = (0..step.len())
            .map(|i| Pair {
                p0: 2 * i,
                p1: 2 * i + 1,
            })
            .collect();
        for (name, distance) in step.iter().zip(scorer.score_pairs(&patches, &pairs)?) {
            writeln!(report, "{},{distance:.6}", name.to_string_lossy())?;
        }
        progress.inc(step.len() as u64);
    }
    progress.finish_and_clear();
    match out {
        Some(path) => {
            std::fs::write(path, report).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{report}"),
    }
    if !unmatched.is_empty() {
        eprintln!(
            "skipped {} file(s) of {} with no namesake in {}",
            unmatched.len(),
            dir0.display(),
            dir1.display()
        );
    }
    Ok(())
}
