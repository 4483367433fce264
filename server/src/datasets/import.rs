//! Importing a BAPPS-style tree: the original BAPPS download or an export.
//!
//! Each `2afc/<split>/<category>/` folder becomes an experiment whose
//! triplets are the `ref`/`p0`/`p1` patches with their `judge` share.
//! Everything is checked before anything is stored, and the whole import is
//! one transaction: a malformed tree leaves the database as it was.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use distortions::image::{self, ImageFormat};
use indicatif::ProgressBar;
use serde::Deserialize;
use sqlx::PgPool;

use super::npy;
use crate::stimuli::SamplerSettings;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub root: PathBuf,
    pub owner_id: i64,
    /// People behind each `judge` share when the tree does not say (an
    /// export's manifest does) [default: BAPPS' 5 for val, 2 otherwise].
    pub judgments_per_triplet: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedExperiment {
    pub id: i64,
    pub split: String,
    pub category: String,
    pub triplets: usize,
}

/// One `2afc/<split>/<category>` folder, checked.
struct CategoryFolder {
    split: String,
    category: String,
    path: PathBuf,
    /// File stems present in all four subfolders, sorted.
    stems: Vec<String>,
}

/// What an export's manifest says about an item, to restore it exactly.
#[derive(Deserialize)]
struct ManifestItem {
    item: String,
    judgments: f64,
    p0: Option<ManifestDistortion>,
    p1: Option<ManifestDistortion>,
}

#[derive(Deserialize)]
struct ManifestDistortion {
    pipeline: serde_json::Value,
    seed: i64,
}

#[derive(Deserialize)]
struct Manifest {
    items: Vec<ManifestItem>,
}

const PARTS: [&str; 4] = ["ref", "p0", "p1", "judge"];

pub async fn import_bapps(
    pool: &PgPool,
    options: &ImportOptions,
    progress: &ProgressBar,
) -> anyhow::Result<Vec<ImportedExperiment>> {
    let folders = scan(&options.root)?;
    let manifest = read_manifest(&options.root)?;
    progress.set_length(folders.iter().map(|f| f.stems.len() as u64).sum());

    let mut transaction = pool.begin().await?;
    let mut imported = Vec::new();
    for folder in &folders {
        let default_judgments = options
            .judgments_per_triplet
            .unwrap_or(if folder.split == "val" { 5 } else { 2 });
        let first_ref = folder
            .path
            .join("ref")
            .join(format!("{}.png", folder.stems[0]));
        let patch_size = read_patch(&first_ref)?.width();
        let experiment_id = sqlx::query_scalar!(
            r#"
            INSERT INTO experiments (
                owner_id, name, kind, split, category, patch_size, patches_per_image, sampler,
                seed, judgments_per_triplet, trials_per_assignment, sentinel_rate,
                max_assignments_per_worker, assignment_ttl, status, triplets_total, triplets_generated
            )
            VALUES ($1, $2, '2afc', $3, $4, $5, 1, $6, 0, $7, 20, 0, 5, interval '30 minutes',
                    'ready', $8, $8)
            RETURNING id
            "#,
            options.owner_id,
            format!("BAPPS 2afc/{}/{}", folder.split, folder.category),
            folder.split,
            folder.category,
            patch_size as i32,
            serde_json::to_value(SamplerSettings::default())?,
            default_judgments as i32,
            folder.stems.len() as i32,
        )
        .fetch_one(&mut *transaction)
        .await?;

        for stem in &folder.stems {
            let item = format!("2afc/{}/{}/{stem}", folder.split, folder.category);
            let [reference, p0, p1] =
                ["ref", "p0", "p1"].map(|part| folder.path.join(part).join(format!("{stem}.png")));
            let mut patches = Vec::with_capacity(3);
            for path in [&reference, &p0, &p1] {
                let patch = read_patch(path)?;
                if patch.dimensions() != (patch_size, patch_size) {
                    bail!(
                        "{}: is {}×{}, but the patches of {} are {patch_size}×{patch_size}",
                        path.display(),
                        patch.width(),
                        patch.height(),
                        folder.path.display()
                    );
                }
                patches.push(
                    std::fs::read(path)
                        .with_context(|| format!("cannot read {}", path.display()))?,
                );
            }
            let judge_path = folder.path.join("judge").join(format!("{stem}.npy"));
            let judge_bytes = std::fs::read(&judge_path)
                .with_context(|| format!("cannot read {}", judge_path.display()))?;
            let p1_share = npy::decode_share(&judge_bytes)
                .with_context(|| format!("{}", judge_path.display()))?;
            let known = manifest.get(&item);
            let judgments = known.map_or(f64::from(default_judgments), |item| item.judgments);
            let distortion = |which: Option<&ManifestDistortion>| {
                which.map_or((None, None), |d| (Some(d.pipeline.clone()), Some(d.seed)))
            };
            let (p0_pipeline, p0_seed) = distortion(known.and_then(|item| item.p0.as_ref()));
            let (p1_pipeline, p1_seed) = distortion(known.and_then(|item| item.p1.as_ref()));

            let reference_image_id = sqlx::query_scalar!(
                "INSERT INTO reference_images (experiment_id, file_name, png, width, height)
                 VALUES ($1, $2, $3, $4, $4) RETURNING id",
                experiment_id,
                format!("{item}.png"),
                &patches[0],
                patch_size as i32,
            )
            .fetch_one(&mut *transaction)
            .await?;
            let triplet_id = sqlx::query_scalar!(
                "INSERT INTO triplets (experiment_id, reference_image_id, crop_x, crop_y, ref_png,
                                       p0_png, p1_png, p0_pipeline, p0_seed, p1_pipeline, p1_seed,
                                       imported_item)
                 VALUES ($1, $2, 0, 0, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                experiment_id,
                reference_image_id,
                &patches[0],
                &patches[1],
                &patches[2],
                p0_pipeline,
                p0_seed,
                p1_pipeline,
                p1_seed,
                item,
            )
            .fetch_one(&mut *transaction)
            .await?;
            sqlx::query!(
                "INSERT INTO imported_judgments (triplet_id, judgments, p1_share) VALUES ($1, $2, $3)",
                triplet_id,
                judgments.round() as i32,
                p1_share,
            )
            .execute(&mut *transaction)
            .await?;
            progress.inc(1);
        }
        imported.push(ImportedExperiment {
            id: experiment_id,
            split: folder.split.clone(),
            category: folder.category.clone(),
            triplets: folder.stems.len(),
        });
    }
    transaction.commit().await?;
    Ok(imported)
}

/// Finds and checks every `2afc/<split>/<category>` folder under `root`.
fn scan(root: &Path) -> anyhow::Result<Vec<CategoryFolder>> {
    let two_afc = root.join("2afc");
    if !two_afc.is_dir() {
        bail!(
            "{} has no 2afc/ folder: expected the BAPPS layout 2afc/<split>/<category>/{{ref,p0,p1,judge}}/",
            root.display()
        );
    }
    let mut folders = Vec::new();
    for split in sorted_subfolders(&two_afc)? {
        for category in sorted_subfolders(&split)? {
            folders.push(check_category(&split, &category)?);
        }
    }
    if folders.is_empty() {
        bail!("{} has no <split>/<category>/ folders", two_afc.display());
    }
    Ok(folders)
}

fn check_category(split: &Path, category: &Path) -> anyhow::Result<CategoryFolder> {
    let mut stems_by_part: Vec<Vec<String>> = Vec::new();
    for part in PARTS {
        let folder = category.join(part);
        if !folder.is_dir() {
            bail!(
                "{} is missing: every category folder needs ref/, p0/, p1/ and judge/",
                folder.display()
            );
        }
        let extension = if part == "judge" { "npy" } else { "png" };
        let mut stems = Vec::new();
        for entry in std::fs::read_dir(&folder)
            .with_context(|| format!("cannot read {}", folder.display()))?
        {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some(extension) {
                bail!(
                    "{}: expected only .{extension} files in {part}/",
                    path.display()
                );
            }
            stems.push(
                path.file_stem()
                    .and_then(|s| s.to_str())
                    .context("a file name is not UTF-8")?
                    .to_owned(),
            );
        }
        stems.sort();
        stems_by_part.push(stems);
    }
    let stems = stems_by_part[0].clone();
    for (part, other) in PARTS.iter().zip(&stems_by_part).skip(1) {
        if *other != stems {
            let missing = stems.iter().find(|s| !other.contains(s));
            let extra = other.iter().find(|s| !stems.contains(s));
            bail!(
                "{}: {part}/ has {} files and ref/ has {}{}",
                category.display(),
                other.len(),
                stems.len(),
                match (missing, extra) {
                    (Some(stem), _) => format!("; {part}/{stem} is missing"),
                    (None, Some(stem)) => format!("; {part}/{stem} has no ref/{stem}"),
                    (None, None) => String::new(),
                }
            );
        }
    }
    if stems.is_empty() {
        bail!("{} has no patches", category.display());
    }
    let name = |path: &Path| {
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned()
    };
    Ok(CategoryFolder {
        split: name(split),
        category: name(category),
        path: category.to_owned(),
        stems,
    })
}

fn sorted_subfolders(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    folders.retain(|path| path.is_dir());
    folders.sort();
    Ok(folders)
}

fn read_patch(path: &Path) -> anyhow::Result<image::RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(
        image::load_from_memory_with_format(&bytes, ImageFormat::Png)
            .with_context(|| format!("{} is not a readable PNG", path.display()))?
            .to_rgb8(),
    )
}

/// An export's manifest.json, by item, if the tree has one.
fn read_manifest(root: &Path) -> anyhow::Result<HashMap<String, ManifestItem>> {
    let path = root.join("manifest.json");
    if !path.exists() {
        return Ok(HashMap::new());
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a Percept manifest", path.display()))?;
    Ok(manifest
        .items
        .into_iter()
        .map(|item| (item.item.clone(), item))
        .collect())
}
