//! Importing a BAPPS-style tree: the original BAPPS download or an export.
//!
//! Each `2afc/<split>/<category>/` folder becomes a 2AFC experiment whose
//! triplets are the `ref`/`p0`/`p1` patches with their `judge` share, and
//! each `jnd/<split>/<category>/` folder a JND experiment whose pairs are the
//! `p0`/`p1` patches with their `same` share.
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
    /// People behind each `judge` or `same` share when the tree does not
    /// say (an export's manifest does) [default: BAPPS' 5 per 2AFC val
    /// triplet, 2 per train triplet, 3 per JND pair].
    pub judgments_per_stimulus: Option<u32>,
    /// The experiments' name (with the folder appended when the tree holds
    /// several) [default: `BAPPS <kind>/<split>/<category>`].
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedExperiment {
    pub id: i64,
    /// `2afc` or `jnd`.
    pub kind: &'static str,
    pub split: String,
    pub category: String,
    /// Triplets or pairs.
    pub stimuli: usize,
}

/// One `2afc/<split>/<category>` or `jnd/<split>/<category>` folder, checked.
struct CategoryFolder {
    kind: Kind,
    split: String,
    category: String,
    path: PathBuf,
    /// File stems present in all its subfolders, sorted.
    stems: Vec<String>,
}

/// What an export's manifest says about an item, to restore it exactly.
#[derive(Deserialize)]
struct ManifestItem {
    item: String,
    judgments: f64,
    p0: Option<ManifestDistortion>,
    p1: Option<ManifestDistortion>,
    /// A method comparison's methods of p0 and p1 (an export writes them).
    #[serde(default)]
    p0_method: Option<String>,
    #[serde(default)]
    p1_method: Option<String>,
}

#[derive(Deserialize)]
struct ManifestDistortion {
    pipeline: serde_json::Value,
    seed: i64,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    experiments: Vec<ManifestExperiment>,
    items: Vec<ManifestItem>,
}

/// What an export's manifest says about an experiment that the items do
/// not: a method comparison's anchors (their pipelines and seeds by name).
#[derive(Deserialize)]
struct ManifestExperiment {
    folder: String,
    #[serde(default)]
    anchors: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An export's manifest, if the tree has one: its items by name, and the
/// anchors of each folder's experiments.
#[derive(Default)]
struct KnownManifest {
    items: HashMap<String, ManifestItem>,
    anchors: HashMap<String, serde_json::Map<String, serde_json::Value>>,
}

/// The two kinds of BAPPS tree: their top folder, the patch folders, and the
/// folder of shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    TwoAfc,
    Jnd,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::TwoAfc => "2afc",
            Kind::Jnd => "jnd",
        }
    }

    fn patch_parts(self) -> &'static [&'static str] {
        match self {
            Kind::TwoAfc => &["ref", "p0", "p1"],
            Kind::Jnd => &["p0", "p1"],
        }
    }

    fn share_part(self) -> &'static str {
        match self {
            Kind::TwoAfc => "judge",
            Kind::Jnd => "same",
        }
    }

    /// People behind each share when neither the tree nor the user says:
    /// BAPPS collected 5 per 2AFC val triplet, 2 per train triplet, 3 per JND pair.
    fn default_judgments(self, split: &str) -> u32 {
        match (self, split) {
            (Kind::TwoAfc, "val") => 5,
            (Kind::TwoAfc, _) => 2,
            (Kind::Jnd, _) => 3,
        }
    }
}

pub async fn import_bapps(
    pool: &PgPool,
    options: &ImportOptions,
    progress: &ProgressBar,
) -> anyhow::Result<Vec<ImportedExperiment>> {
    if let Some(judgments) = options.judgments_per_stimulus {
        if judgments == 0 || i32::try_from(judgments).is_err() {
            bail!("the judgments per stimulus must be at least 1 and below 2^31, not {judgments}");
        }
    }
    if options
        .name
        .as_deref()
        .is_some_and(|name| name.trim().is_empty())
    {
        bail!("the experiments' name must not be empty");
    }
    let folders = scan(&options.root)?;
    let manifest = read_manifest(&options.root)?;
    progress.set_length(folders.iter().map(|f| f.stems.len() as u64).sum());

    let mut transaction = pool.begin().await?;
    let mut imported = Vec::new();
    for folder in &folders {
        let kind = folder.kind;
        let default_judgments = options
            .judgments_per_stimulus
            .unwrap_or_else(|| kind.default_judgments(&folder.split));
        let first_patch = folder
            .path
            .join(kind.patch_parts()[0])
            .join(format!("{}.png", folder.stems[0]));
        let patch_size = read_patch(&first_patch)?.width();
        let experiment_id = sqlx::query_scalar!(
            r#"
            INSERT INTO experiments (
                owner_id, name, kind, split, category, patch_size, patches_per_image, sampler,
                seed, judgments_per_stimulus, trials_per_assignment, sentinel_rate,
                max_assignments_per_worker, assignment_ttl, status, stimuli_total, stimuli_generated
            )
            VALUES ($1, $2, $3, $4, $5, $6, 1, $7, 0, $8, 20, 0, 5, interval '30 minutes',
                    'ready', $9, $9)
            RETURNING id
            "#,
            options.owner_id,
            match options.name.as_deref().map(str::trim) {
                Some(name) if folders.len() == 1 => name.to_owned(),
                Some(name) => format!(
                    "{name} ({}/{}/{})",
                    kind.name(),
                    folder.split,
                    folder.category
                ),
                None => format!("BAPPS {}/{}/{}", kind.name(), folder.split, folder.category),
            },
            kind.name(),
            folder.split,
            folder.category,
            patch_size as i32,
            serde_json::to_value(SamplerSettings::default())?,
            default_judgments as i32,
            folder.stems.len() as i32,
        )
        .fetch_one(&mut *transaction)
        .await?;

        // A method comparison's methods (and anchors), from the manifest.
        let mut methods = std::collections::BTreeSet::new();
        let folder_name = format!("{}/{}/{}", kind.name(), folder.split, folder.category);
        for stem in &folder.stems {
            let item = format!("{folder_name}/{stem}");
            let mut patches = Vec::with_capacity(3);
            for part in kind.patch_parts() {
                let path = folder.path.join(part).join(format!("{stem}.png"));
                let patch = read_patch(&path)?;
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
                    std::fs::read(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?,
                );
            }
            let share_path = folder
                .path
                .join(kind.share_part())
                .join(format!("{stem}.npy"));
            let share_bytes = std::fs::read(&share_path)
                .with_context(|| format!("cannot read {}", share_path.display()))?;
            let share = npy::decode_share(&share_bytes)
                .with_context(|| format!("{}", share_path.display()))?;
            let known = manifest.items.get(&item);
            let judgments = known.map_or(f64::from(default_judgments), |item| item.judgments);
            let distortion = |which: Option<&ManifestDistortion>| {
                which.map_or((None, None), |d| (Some(d.pipeline.clone()), Some(d.seed)))
            };
            let (p0_pipeline, p0_seed) = distortion(known.and_then(|item| item.p0.as_ref()));
            let (p1_pipeline, p1_seed) = distortion(known.and_then(|item| item.p1.as_ref()));
            let imported_stimulus = ImportedStimulus {
                experiment_id,
                item: &item,
                patches: &patches,
                patch_size,
                judgments: judgments.round() as i32,
                share,
            };
            match kind {
                Kind::TwoAfc => {
                    let distortions = [(p0_pipeline, p0_seed), (p1_pipeline, p1_seed)];
                    let sides = known.map_or([None, None], |item| {
                        [item.p0_method.clone(), item.p1_method.clone()]
                    });
                    methods.extend(sides.iter().flatten().cloned());
                    insert_triplet(&mut transaction, &imported_stimulus, distortions, sides).await?
                }
                Kind::Jnd => {
                    insert_pair(&mut transaction, &imported_stimulus, (p1_pipeline, p1_seed))
                        .await?
                }
            }
            progress.inc(1);
        }
        if !methods.is_empty() {
            let methods: Vec<String> = methods.into_iter().collect();
            let anchors = manifest
                .anchors
                .get(&folder_name)
                .map(|specs| serde_json::Value::Object(specs.clone()));
            sqlx::query!(
                "UPDATE experiments SET methods = $2, anchors = $3 WHERE id = $1",
                experiment_id,
                &methods,
                anchors
            )
            .execute(&mut *transaction)
            .await?;
        }
        imported.push(ImportedExperiment {
            id: experiment_id,
            kind: kind.name(),
            split: folder.split.clone(),
            category: folder.category.clone(),
            stimuli: folder.stems.len(),
        });
    }
    transaction.commit().await?;
    Ok(imported)
}

/// One item of the tree, read and checked.
struct ImportedStimulus<'a> {
    experiment_id: i64,
    item: &'a str,
    /// PNG bytes: ref, p0, p1 for 2AFC; p0 (the reference), p1 for JND.
    patches: &'a [Vec<u8>],
    patch_size: u32,
    judgments: i32,
    /// `judge` (preferring p1) or `same`.
    share: f64,
}

type Distortion = (Option<serde_json::Value>, Option<i64>);

async fn insert_triplet(
    transaction: &mut sqlx::PgConnection,
    stimulus: &ImportedStimulus<'_>,
    [(p0_pipeline, p0_seed), (p1_pipeline, p1_seed)]: [Distortion; 2],
    [p0_method, p1_method]: [Option<String>; 2],
) -> anyhow::Result<()> {
    // The reference patch is the triplet's reference image, cropped at (0, 0).
    let reference_image_id = sqlx::query_scalar!(
        "INSERT INTO reference_images (experiment_id, file_name, png, width, height)
         VALUES ($1, $2, $3, $4, $4) RETURNING id",
        stimulus.experiment_id,
        format!("{}.png", stimulus.item),
        &stimulus.patches[0],
        stimulus.patch_size as i32,
    )
    .fetch_one(&mut *transaction)
    .await?;
    let triplet_id = sqlx::query_scalar!(
        "INSERT INTO triplets (experiment_id, reference_image_id, crop_x, crop_y, ref_png,
                               p0_png, p1_png, p0_pipeline, p0_seed, p1_pipeline, p1_seed,
                               imported_item, p0_method, p1_method)
         VALUES ($1, $2, 0, 0, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        stimulus.experiment_id,
        reference_image_id,
        &stimulus.patches[0],
        &stimulus.patches[1],
        &stimulus.patches[2],
        p0_pipeline,
        p0_seed,
        p1_pipeline,
        p1_seed,
        stimulus.item,
        p0_method,
        p1_method,
    )
    .fetch_one(&mut *transaction)
    .await?;
    sqlx::query!(
        "INSERT INTO imported_judgments (triplet_id, judgments, p1_share) VALUES ($1, $2, $3)",
        triplet_id,
        stimulus.judgments,
        stimulus.share,
    )
    .execute(&mut *transaction)
    .await?;
    Ok(())
}

async fn insert_pair(
    transaction: &mut sqlx::PgConnection,
    stimulus: &ImportedStimulus<'_>,
    (pipeline, seed): Distortion,
) -> anyhow::Result<()> {
    let pair_id = sqlx::query_scalar!(
        "INSERT INTO pairs (experiment_id, crop_x, crop_y, ref_png, distorted_png, pipeline,
                            seed, is_control, imported_item)
         VALUES ($1, 0, 0, $2, $3, $4, $5, false, $6) RETURNING id",
        stimulus.experiment_id,
        &stimulus.patches[0],
        &stimulus.patches[1],
        pipeline,
        seed,
        stimulus.item,
    )
    .fetch_one(&mut *transaction)
    .await?;
    sqlx::query!(
        "INSERT INTO imported_pair_judgments (pair_id, judgments, same_share) VALUES ($1, $2, $3)",
        pair_id,
        stimulus.judgments,
        stimulus.share,
    )
    .execute(&mut *transaction)
    .await?;
    Ok(())
}

/// Finds and checks every `2afc/<split>/<category>` and
/// `jnd/<split>/<category>` folder under `root`.
fn scan(root: &Path) -> anyhow::Result<Vec<CategoryFolder>> {
    if !root.exists() {
        bail!("{} does not exist", root.display());
    }
    if !root.is_dir() {
        bail!(
            "{} is not a folder: give the folder holding 2afc/ and/or jnd/",
            root.display()
        );
    }
    let mut folders = Vec::new();
    let mut tops = 0;
    for kind in [Kind::TwoAfc, Kind::Jnd] {
        let top = root.join(kind.name());
        if !top.is_dir() {
            continue;
        }
        tops += 1;
        for split in sorted_subfolders(&top)? {
            for category in sorted_subfolders(&split)? {
                folders.push(check_category(kind, &split, &category)?);
            }
        }
    }
    if tops == 0 {
        bail!(
            "{} has no 2afc/ or jnd/ folder: expected the BAPPS layout \
             2afc/<split>/<category>/{{ref,p0,p1,judge}}/ or jnd/<split>/<category>/{{p0,p1,same}}/",
            root.display()
        );
    }
    if folders.is_empty() {
        bail!("{} has no <split>/<category>/ folders", root.display());
    }
    Ok(folders)
}

fn check_category(kind: Kind, split: &Path, category: &Path) -> anyhow::Result<CategoryFolder> {
    let parts: Vec<&str> = kind
        .patch_parts()
        .iter()
        .copied()
        .chain([kind.share_part()])
        .collect();
    let mut stems_by_part: Vec<Vec<String>> = Vec::new();
    for &part in &parts {
        let folder = category.join(part);
        if !folder.is_dir() {
            bail!(
                "{} is missing: every {} category folder needs {}",
                folder.display(),
                kind.name(),
                parts
                    .iter()
                    .map(|part| format!("{part}/"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let extension = if part == kind.share_part() {
            "npy"
        } else {
            "png"
        };
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
    let (first, stems) = (parts[0], stems_by_part[0].clone());
    for (part, other) in parts.iter().zip(&stems_by_part).skip(1) {
        if *other != stems {
            let missing = stems.iter().find(|s| !other.contains(s));
            let extra = other.iter().find(|s| !stems.contains(s));
            bail!(
                "{}: {part}/ has {} files and {first}/ has {}{}",
                category.display(),
                other.len(),
                stems.len(),
                match (missing, extra) {
                    (Some(stem), _) => format!("; {part}/{stem} is missing"),
                    (None, Some(stem)) => format!("; {part}/{stem} has no {first}/{stem}"),
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
        kind,
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

/// An export's manifest.json, if the tree has one.
fn read_manifest(root: &Path) -> anyhow::Result<KnownManifest> {
    let path = root.join("manifest.json");
    if !path.exists() {
        return Ok(KnownManifest::default());
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a Percept manifest", path.display()))?;
    let mut anchors: HashMap<String, serde_json::Map<String, serde_json::Value>> = HashMap::new();
    // Experiments exported into one folder become one: their anchors join.
    for experiment in manifest.experiments {
        if let Some(specs) = experiment.anchors {
            anchors.entry(experiment.folder).or_default().extend(specs);
        }
    }
    Ok(KnownManifest {
        items: manifest
            .items
            .into_iter()
            .map(|item| (item.item.clone(), item))
            .collect(),
        anchors,
    })
}
