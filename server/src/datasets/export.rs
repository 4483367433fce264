//! Exporting experiments as a BAPPS-style tree:
//!
//! ```text
//! 2afc/<split>/<category>/{ref,p0,p1}/000000.png
//! 2afc/<split>/<category>/judge/000000.npy   share of judgments preferring p1
//! jnd/<split>/<category>/{p0,p1}/000000.png  the reference and the distorted patch
//! jnd/<split>/<category>/same/000000.npy     share of valid judgments saying "same"
//! manifest.json                              every item's stimulus specs and counts,
//!                                            each experiment's settings (and anchors)
//! judgments.csv, jnd_judgments.csv           one row per judgment
//! workers.csv                                one row per worker: their record
//! ```
//!
//! Names are zero-padded so that sorted order pairs the files across
//! folders, which is how the original loaders match them.
//!
//! Exports are made to be published, so by default they name no worker: the
//! CSVs give each worker a pseudonym (`w0001`, …, numbered in order of first
//! appearance and stable within the export) instead of the platform's id (a
//! Prolific PID is personal data), and leave out the study and session ids
//! and the user agents. `with_identifiers` keeps them, for the researcher's
//! own records.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sqlx::PgPool;

use super::npy;
use super::sink::DatasetSink;
use crate::quality;
use crate::tallies::{self, StimulusKind};

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub experiment_ids: Vec<i64>,
    /// Keep the judgments of workers flagged by their sentinel failures.
    pub include_flagged: bool,
    /// Keep the platforms' worker ids, study and session ids and user
    /// agents; by default workers are pseudonymised and the rest left out.
    pub with_identifiers: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExportSummary {
    /// Triplets written (those with at least one counted judgment).
    pub triplets: usize,
    /// Judgments behind the `judge` files (imported ones included).
    pub judgments: f64,
    /// JND pairs written (distorted pairs with at least one valid judgment),
    /// and the valid judgments behind their `same` files.
    pub pairs: usize,
    pub jnd_judgments: f64,
    pub excluded_workers: usize,
}

/// Writes the experiments' judged triplets and pairs, the manifest and the
/// CSVs to `sink`.
pub async fn export(
    pool: &PgPool,
    options: &ExportOptions,
    sink: &mut impl DatasetSink,
) -> anyhow::Result<ExportSummary> {
    write(pool, options, Contents::Dataset, sink).await
}

/// Writes only the export's tables (`judgments.csv`, `workers.csv`, and
/// `jnd_judgments.csv` when there are JND experiments) to `sink`, the same
/// bytes as in the whole export, without reading a single patch image: for
/// the experiment page's CSV downloads.
pub async fn export_tables(
    pool: &PgPool,
    options: &ExportOptions,
    sink: &mut impl DatasetSink,
) -> anyhow::Result<ExportSummary> {
    write(pool, options, Contents::Tables, sink).await
}

/// What an export writes. The tables need every judged stimulus's item name
/// (numbered in the order of the images), so both go through the same loop;
/// the tables alone skip the patches, their share files and the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contents {
    Dataset,
    Tables,
}

async fn write(
    pool: &PgPool,
    options: &ExportOptions,
    contents: Contents,
    sink: &mut impl DatasetSink,
) -> anyhow::Result<ExportSummary> {
    let mut export = Export {
        pool,
        sink,
        contents,
        summary: ExportSummary::default(),
        items: Vec::new(),
        judgments_csv: csv_writer(&CSV_COLUMNS, options.with_identifiers)?,
        jnd_judgments_csv: csv_writer(&JND_CSV_COLUMNS, options.with_identifiers)?,
        next_index: HashMap::new(),
        workers: WorkerIdentities {
            keep: options.with_identifiers,
            pseudonyms: HashMap::new(),
        },
    };
    let mut manifest_experiments = Vec::new();
    // Each experiment's excluded workers, for workers.csv.
    let mut excluded_by_experiment = Vec::new();
    let mut any_jnd = false;
    for &experiment_id in &options.experiment_ids {
        let experiment = sqlx::query!(
            r#"SELECT id, name, kind, split, category, patch_size, seed, sampler,
                      judgments_per_stimulus, sentinel_rate, max_sentinel_failure_share,
                      reference_ms, gap_ms, distorted_ms, control_share, anchors
               FROM experiments WHERE id = $1"#,
            experiment_id
        )
        .fetch_optional(pool)
        .await?
        .with_context(|| format!("there is no experiment {experiment_id}"))?;
        let flagged: HashSet<i64> = quality::flagged_worker_ids(pool, experiment_id)
            .await?
            .into_iter()
            .collect();
        let excluded =
            tallies::excluded_workers(pool, &[experiment_id], options.include_flagged).await?;
        export.summary.excluded_workers += excluded.len();
        let folder = format!(
            "{}/{}/{}",
            if experiment.kind == "jnd" {
                "jnd"
            } else {
                "2afc"
            },
            path_component(&experiment.split),
            path_component(experiment.category.as_deref().unwrap_or("uncategorised"))
        );
        let judged = Judged {
            experiment_id,
            folder: &folder,
            excluded: &excluded,
            flagged: &flagged,
        };
        any_jnd |= experiment.kind == "jnd";
        let kind = if experiment.kind == "jnd" {
            StimulusKind::Pair
        } else {
            StimulusKind::Triplet
        };
        export.stimuli(&judged, kind, experiment.patch_size).await?;
        let mut manifest_experiment = json!({
            "id": experiment.id,
            "name": experiment.name,
            "kind": experiment.kind,
            "split": experiment.split,
            "category": experiment.category,
            "folder": folder,
            "patch_size": experiment.patch_size,
            "seed": experiment.seed,
            "sampler": experiment.sampler,
            "judgments_per_stimulus": experiment.judgments_per_stimulus,
            "sentinel_rate": decimal(experiment.sentinel_rate),
            "max_sentinel_failure_share": decimal(experiment.max_sentinel_failure_share),
            "flagged_workers": flagged.len(),
            "jnd_sequence_ms": (experiment.kind == "jnd").then(|| json!({
                "reference": experiment.reference_ms,
                "gap": experiment.gap_ms,
                "distorted": experiment.distorted_ms,
            })),
            "control_share": (experiment.kind == "jnd").then_some(decimal(experiment.control_share)),
        });
        // A method comparison's anchors: each one's pipeline and seed.
        if let Some(anchors) = experiment.anchors {
            manifest_experiment["anchors"] = anchors;
        }
        manifest_experiments.push(manifest_experiment);
        excluded_by_experiment.push((experiment_id, excluded));
    }
    // After every judgment, so a worker's pseudonym is the one the judgment
    // CSVs gave them.
    let mut workers_csv = csv_writer(&WORKER_CSV_COLUMNS, options.with_identifiers)?;
    for (experiment_id, excluded) in &excluded_by_experiment {
        write_worker_rows(
            pool,
            *experiment_id,
            excluded,
            &mut export.workers,
            &mut workers_csv,
        )
        .await?;
    }

    let manifest: Value = json!({
        "format": "percept-bapps/1",
        "layout": {
            "2afc": "2afc/<split>/<category>/{ref,p0,p1}/NNNNNN.png and judge/NNNNNN.npy (float64, shape (1,): share of judgments preferring p1)",
            "jnd": "jnd/<split>/<category>/{p0,p1}/NNNNNN.png (p0 the reference, p1 the distorted patch) and same/NNNNNN.npy (float64, shape (1,): share of valid judgments saying \"same\")",
        },
        "include_flagged": options.include_flagged,
        "worker_identifiers": if options.with_identifiers {
            "kept: the platforms' worker, study and session ids and the user agents"
        } else {
            "pseudonymised: worker_id is a pseudonym stable within this export; no study or session ids, no user agents"
        },
        "experiments": manifest_experiments,
        "items": export.items,
    });
    let sink = export.sink;
    if contents == Contents::Dataset {
        sink.add("manifest.json", &serde_json::to_vec_pretty(&manifest)?)
            .await?;
    }
    sink.add(
        "judgments.csv",
        &export
            .judgments_csv
            .into_inner()
            .context("finishing the CSV")?,
    )
    .await?;
    sink.add(
        "workers.csv",
        &workers_csv
            .into_inner()
            .context("finishing the workers CSV")?,
    )
    .await?;
    if export.summary.pairs > 0 || any_jnd {
        let jnd_csv = export
            .jnd_judgments_csv
            .into_inner()
            .context("finishing the JND CSV")?;
        sink.add("jnd_judgments.csv", &jnd_csv).await?;
    }
    Ok(export.summary)
}

/// Columns that identify a visit or a browser rather than a judgment: only
/// in exports with identifiers.
const IDENTIFYING_COLUMNS: [&str; 3] = ["study_id", "session_id", "user_agent"];

fn csv_writer(columns: &[&str], with_identifiers: bool) -> anyhow::Result<csv::Writer<Vec<u8>>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(kept(columns, columns, with_identifiers))?;
    Ok(writer)
}

/// The `values` of `columns` that the export keeps.
fn kept<'a, T>(
    columns: &'a [&str],
    values: impl IntoIterator<Item = T> + 'a,
    with_identifiers: bool,
) -> impl Iterator<Item = T> + 'a {
    columns
        .iter()
        .zip(values)
        .filter(move |(column, _)| with_identifiers || !IDENTIFYING_COLUMNS.contains(column))
        .map(|(_, value)| value)
}

/// How workers appear in an export: by their platform's id, or by a
/// pseudonym given in order of first appearance (`w0001`, …), the same for
/// the same platform id throughout the export.
struct WorkerIdentities {
    keep: bool,
    pseudonyms: HashMap<(String, String), String>,
}

impl WorkerIdentities {
    fn worker_id(&mut self, platform: &str, external_id: String) -> String {
        if self.keep {
            return external_id;
        }
        let next = self.pseudonyms.len() + 1;
        self.pseudonyms
            .entry((platform.to_owned(), external_id))
            .or_insert_with(|| format!("w{next:04}"))
            .clone()
    }
}

/// An export in progress.
struct Export<'a, S> {
    pool: &'a PgPool,
    sink: &'a mut S,
    contents: Contents,
    summary: ExportSummary,
    items: Vec<Value>,
    judgments_csv: csv::Writer<Vec<u8>>,
    jnd_judgments_csv: csv::Writer<Vec<u8>>,
    /// Numbering continues across experiments that share a folder.
    next_index: HashMap<String, usize>,
    workers: WorkerIdentities,
}

/// One experiment being exported: where it goes and whose judgments count.
struct Judged<'a> {
    experiment_id: i64,
    folder: &'a str,
    excluded: &'a [i64],
    flagged: &'a HashSet<i64>,
}

impl<S: DatasetSink> Export<'_, S> {
    /// The next zero-padded file stem in `folder`.
    fn next_name(&mut self, folder: &str) -> String {
        let index = self.next_index.entry(folder.to_owned()).or_default();
        *index += 1;
        format!("{:06}", *index - 1)
    }

    /// Writes the experiment's judged stimuli of `kind` (those with a counted
    /// judgment): their images, their BAPPS share file, their manifest items,
    /// then one CSV row per judgment.
    async fn stimuli(
        &mut self,
        judged: &Judged<'_>,
        kind: StimulusKind,
        patch_size: i32,
    ) -> anyhow::Result<()> {
        let tallies =
            tallies::tallies(self.pool, kind, &[judged.experiment_id], judged.excluded).await?;
        // BAPPS' share file and the manifest's names for a tally.
        let (share_folder, yes_field) = match kind {
            StimulusKind::Triplet => ("judge", "chose_p1"),
            StimulusKind::Pair => ("same", "said_same"),
        };
        let folder = judged.folder;
        let mut item_of_stimulus: HashMap<i64, String> = HashMap::new();
        let with_images = self.contents == Contents::Dataset;
        let mut stimuli = exported_stimuli(
            self.pool,
            kind,
            judged.experiment_id,
            patch_size,
            with_images,
        );
        while let Some(stimulus) = stimuli.try_next().await? {
            let Some(tally) = tallies.get(&stimulus.id) else {
                continue;
            };
            let name = self.next_name(folder);
            let share = tally.share();
            if with_images {
                for (part, png) in &stimulus.images {
                    self.sink
                        .add(&format!("{folder}/{part}/{name}.png"), png)
                        .await?;
                }
                self.sink
                    .add(
                        &format!("{folder}/{share_folder}/{name}.npy"),
                        &npy::encode_share(share),
                    )
                    .await?;
            }
            let item = format!("{folder}/{name}");
            let mut fields = stimulus.manifest_fields;
            fields.insert("item".into(), json!(item));
            fields.insert("experiment_id".into(), json!(judged.experiment_id));
            fields.insert("judgments".into(), json!(tally.judgments));
            fields.insert(yes_field.into(), json!(tally.yes));
            fields.insert(share_folder.into(), json!(share));
            self.items.push(Value::Object(fields));
            item_of_stimulus.insert(stimulus.id, item);
            match kind {
                StimulusKind::Triplet => {
                    self.summary.triplets += 1;
                    self.summary.judgments += tally.judgments;
                }
                StimulusKind::Pair => {
                    self.summary.pairs += 1;
                    self.summary.jnd_judgments += tally.judgments;
                }
            }
        }
        drop(stimuli);
        match kind {
            StimulusKind::Triplet => {
                write_judgment_rows(
                    self.pool,
                    judged,
                    &item_of_stimulus,
                    &mut self.workers,
                    &mut self.judgments_csv,
                )
                .await
            }
            StimulusKind::Pair => {
                write_jnd_judgment_rows(
                    self.pool,
                    judged,
                    &item_of_stimulus,
                    &mut self.workers,
                    &mut self.jnd_judgments_csv,
                )
                .await
            }
        }
    }
}

/// A stimulus as the export writes it: its patches by BAPPS folder (`ref`,
/// `p0`, `p1`; empty when the images were not asked for) and the manifest
/// fields that say where it came from.
struct ExportedStimulus {
    id: i64,
    images: Vec<(&'static str, Vec<u8>)>,
    manifest_fields: Map<String, Value>,
}

/// The experiment's stimuli of `kind` that can be judged (no sentinels, no
/// controls), in id order, with their images if `with_images` (without,
/// PostgreSQL does not read the out-of-line PNGs at all). BAPPS' JND layout
/// keeps the reference as `p0` and the distorted patch as `p1`.
fn exported_stimuli<'a>(
    pool: &'a PgPool,
    kind: StimulusKind,
    experiment_id: i64,
    patch_size: i32,
    with_images: bool,
) -> BoxStream<'a, sqlx::Result<ExportedStimulus>> {
    let fields = |value: Value| match value {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal"),
    };
    // The parts that were read, by BAPPS folder.
    let images = |parts: Vec<(&'static str, Option<Vec<u8>>)>| -> Vec<(&'static str, Vec<u8>)> {
        parts
            .into_iter()
            .filter_map(|(part, png)| Some((part, png?)))
            .collect()
    };
    match kind {
        StimulusKind::Triplet => sqlx::query!(
            r#"SELECT t.id, t.crop_x, t.crop_y,
                      CASE WHEN $2 THEN t.ref_png END AS "ref_png?",
                      CASE WHEN $2 THEN t.p0_png END AS "p0_png?",
                      CASE WHEN $2 THEN t.p1_png END AS "p1_png?",
                      t.p0_pipeline, t.p0_seed, t.p1_pipeline, t.p1_seed, t.imported_item,
                      t.p0_method, t.p1_method, r.file_name
               FROM triplets t JOIN reference_images r ON r.id = t.reference_image_id
               WHERE t.experiment_id = $1 AND t.sentinel_answer IS NULL
               ORDER BY t.id"#,
            experiment_id,
            with_images
        )
        .fetch(pool)
        .map_ok(move |triplet| ExportedStimulus {
            id: triplet.id,
            manifest_fields: {
                let mut manifest = fields(json!({
                    "triplet_id": triplet.id,
                    "reference_image": triplet.file_name,
                    "crop": { "x": triplet.crop_x, "y": triplet.crop_y, "size": patch_size },
                    "imported_from": triplet.imported_item,
                    "p0": distortion(triplet.p0_pipeline, triplet.p0_seed),
                    "p1": distortion(triplet.p1_pipeline, triplet.p1_seed),
                }));
                // A method comparison's triplets name the method of each side
                // (its output at the crop, not a generated distortion).
                for (key, method) in [
                    ("p0_method", triplet.p0_method),
                    ("p1_method", triplet.p1_method),
                ] {
                    if let Some(method) = method {
                        manifest.insert(key.into(), Value::String(method));
                    }
                }
                manifest
            },
            images: images(vec![
                ("ref", triplet.ref_png),
                ("p0", triplet.p0_png),
                ("p1", triplet.p1_png),
            ]),
        })
        .boxed(),
        StimulusKind::Pair => sqlx::query!(
            r#"SELECT p.id, p.crop_x, p.crop_y,
                      CASE WHEN $2 THEN p.ref_png END AS "ref_png?",
                      CASE WHEN $2 THEN p.distorted_png END AS "distorted_png?",
                      p.pipeline, p.seed, p.source_triplet_id, r.file_name AS "file_name?"
               FROM pairs p LEFT JOIN reference_images r ON r.id = p.reference_image_id
               WHERE p.experiment_id = $1 AND NOT p.is_control
               ORDER BY p.id"#,
            experiment_id,
            with_images
        )
        .fetch(pool)
        .map_ok(move |pair| ExportedStimulus {
            id: pair.id,
            manifest_fields: fields(json!({
                "pair_id": pair.id,
                "reference_image": pair.file_name,
                "source_triplet_id": pair.source_triplet_id,
                "crop": { "x": pair.crop_x, "y": pair.crop_y, "size": patch_size },
                "p1": distortion(pair.pipeline, pair.seed),
            })),
            images: images(vec![("p0", pair.ref_png), ("p1", pair.distorted_png)]),
        })
        .boxed(),
    }
}

const CSV_COLUMNS: [&str; 20] = [
    "judgment_id",
    "experiment_id",
    "item",
    "triplet_id",
    "sentinel",
    "sentinel_passed",
    "worker_platform",
    "worker_id",
    "worker_flagged",
    "assignment_id",
    "study_id",
    "session_id",
    "position",
    "left_is_p0",
    "chosen_side",
    "chose_p1",
    "response_ms",
    "client_time",
    "server_time",
    "user_agent",
];

const WORKER_CSV_COLUMNS: [&str; 11] = [
    "experiment_id",
    "worker_platform",
    "worker_id",
    "worker_flagged",
    "assignments",
    "assignments_completed",
    "judgments",
    "sentinels_judged",
    "sentinels_passed",
    "median_response_ms",
    "first_seen",
];

/// One CSV row per worker of the experiment (their dashboard record),
/// leaving out the excluded workers.
async fn write_worker_rows(
    pool: &PgPool,
    experiment_id: i64,
    excluded: &[i64],
    workers: &mut WorkerIdentities,
    csv: &mut csv::Writer<Vec<u8>>,
) -> anyhow::Result<()> {
    let first_seen: HashMap<i64, chrono::DateTime<chrono::Utc>> = sqlx::query!(
        r#"SELECT a.worker_id, min(a.created_at) AS "first_seen!" FROM assignments a
           WHERE a.experiment_id = $1 GROUP BY a.worker_id"#,
        experiment_id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| (row.worker_id, row.first_seen))
    .collect();
    for worker in crate::experiments::overview::workers(pool, experiment_id).await? {
        if excluded.contains(&worker.id.0) {
            continue;
        }
        let record = [
            experiment_id.to_string(),
            worker.platform.clone(),
            workers.worker_id(&worker.platform, worker.external_id),
            worker.flagged.to_string(),
            worker.assignments.to_string(),
            worker.assignments_completed.to_string(),
            worker.judgments.to_string(),
            worker.sentinels_judged.to_string(),
            worker.sentinels_passed.to_string(),
            worker
                .median_response_ms
                .map(|ms| ms.to_string())
                .unwrap_or_default(),
            first_seen
                .get(&worker.id.0)
                .map(|time| time.to_rfc3339())
                .unwrap_or_default(),
        ];
        csv.write_record(kept(&WORKER_CSV_COLUMNS, record, workers.keep))?;
    }
    Ok(())
}

/// One CSV row per judgment of the experiment (sentinels included, marked),
/// leaving out the excluded workers.
async fn write_judgment_rows(
    pool: &PgPool,
    judged: &Judged<'_>,
    item_of_triplet: &HashMap<i64, String>,
    workers: &mut WorkerIdentities,
    csv: &mut csv::Writer<Vec<u8>>,
) -> anyhow::Result<()> {
    let (experiment_id, excluded, flagged) =
        (judged.experiment_id, judged.excluded, judged.flagged);
    let mut rows = sqlx::query!(
        r#"
        SELECT j.id, at.triplet_id, t.sentinel_answer, w.id AS worker_row_id, w.platform,
               w.external_id, a.id AS assignment_id, a.study_id, a.session_id, j.position,
               at.left_is_p0, j.chosen_side, j.chose_p1, j.response_ms, j.client_time,
               j.server_time, j.user_agent
        FROM judgments j
        JOIN assignment_trials at USING (assignment_id, position)
        JOIN assignments a ON a.id = j.assignment_id
        JOIN workers w ON w.id = a.worker_id
        JOIN triplets t ON t.id = at.triplet_id
        WHERE a.experiment_id = $1 AND NOT (a.worker_id = ANY($2))
        ORDER BY j.server_time, j.id
        "#,
        experiment_id,
        excluded,
    )
    .fetch(pool);
    while let Some(row) = rows.try_next().await? {
        let sentinel_passed = row
            .sentinel_answer
            .map(|answer| (answer == 1) == row.chose_p1);
        let worker_id = workers.worker_id(&row.platform, row.external_id);
        let record = [
            row.id.to_string(),
            experiment_id.to_string(),
            item_of_triplet
                .get(&row.triplet_id)
                .cloned()
                .unwrap_or_default(),
            row.triplet_id.to_string(),
            row.sentinel_answer.is_some().to_string(),
            sentinel_passed
                .map(|passed| passed.to_string())
                .unwrap_or_default(),
            row.platform,
            worker_id,
            flagged.contains(&row.worker_row_id).to_string(),
            row.assignment_id.to_string(),
            row.study_id.unwrap_or_default(),
            row.session_id.unwrap_or_default(),
            row.position.to_string(),
            row.left_is_p0.to_string(),
            row.chosen_side,
            row.chose_p1.to_string(),
            row.response_ms.to_string(),
            row.client_time.to_rfc3339(),
            row.server_time.to_rfc3339(),
            row.user_agent.unwrap_or_default(),
        ];
        csv.write_record(kept(&CSV_COLUMNS, record, workers.keep))?;
    }
    Ok(())
}

/// A share stored as REAL, as the decimal the researcher gave (0.1, not
/// the 0.10000000149011612 that widening the f32 would write): the shortest
/// decimal that reads back as the same f32.
fn decimal(value: f32) -> f64 {
    value
        .to_string()
        .parse()
        .expect("an f32's Display parses as f64")
}

/// How a distorted patch was made, or null when it was imported without
/// that: its family, the stored spec and seed, and for a CNN-distorted
/// patch the network (id and weights hash) of the bank that made it.
fn distortion(pipeline: Option<Value>, seed: Option<i64>) -> Value {
    match (pipeline, seed) {
        (Some(pipeline), Some(seed)) => match pipeline.get("cnn_network").cloned() {
            Some(network) => json!({
                "family": "cnn",
                "network": network,
                "weights_sha256": pipeline.get("weights_sha256").cloned().unwrap_or(Value::Null),
                "pipeline": pipeline,
                "seed": seed,
            }),
            None => json!({ "family": "traditional", "pipeline": pipeline, "seed": seed }),
        },
        _ => Value::Null,
    }
}

/// A split or category as one safe folder name.
fn path_component(name: &str) -> String {
    let cleaned: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.trim_matches('.') {
        "" => "_".into(),
        _ => cleaned,
    }
}

const JND_CSV_COLUMNS: [&str; 24] = [
    "judgment_id",
    "experiment_id",
    "item",
    "pair_id",
    "control",
    "worker_platform",
    "worker_id",
    "worker_flagged",
    "assignment_id",
    "study_id",
    "session_id",
    "position",
    "retry_of",
    "said_same",
    "response_ms",
    "refresh_interval_ms",
    "reference_exposure_ms",
    "gap_ms",
    "distorted_exposure_ms",
    "lost_visibility",
    "lost_focus",
    "invalid_reason",
    "client_time",
    "server_time",
];

/// One CSV row per JND judgment (controls and invalid trials included,
/// marked), leaving out the excluded workers.
async fn write_jnd_judgment_rows(
    pool: &PgPool,
    judged: &Judged<'_>,
    item_of_pair: &HashMap<i64, String>,
    workers: &mut WorkerIdentities,
    csv: &mut csv::Writer<Vec<u8>>,
) -> anyhow::Result<()> {
    let mut rows = sqlx::query!(
        r#"
        SELECT j.id, jt.pair_id, p.is_control, w.id AS worker_row_id, w.platform, w.external_id,
               a.id AS assignment_id, a.study_id, a.session_id, j.position, jt.retry_of,
               j.said_same, j.response_ms, j.refresh_interval_ms,
               j.reference_exposure_ms AS "reference_exposure_ms!",
               j.measured_gap_ms AS "measured_gap_ms!",
               j.distorted_exposure_ms AS "distorted_exposure_ms!",
               j.lost_visibility, j.lost_focus, j.invalid_reason, j.client_time, j.server_time
        FROM jnd_judgments j
        JOIN jnd_trials jt USING (assignment_id, position)
        JOIN assignments a ON a.id = j.assignment_id
        JOIN workers w ON w.id = a.worker_id
        JOIN pairs p ON p.id = jt.pair_id
        WHERE a.experiment_id = $1 AND NOT (a.worker_id = ANY($2))
        ORDER BY j.server_time, j.id
        "#,
        judged.experiment_id,
        judged.excluded,
    )
    .fetch(pool);
    while let Some(row) = rows.try_next().await? {
        let worker_id = workers.worker_id(&row.platform, row.external_id);
        let record = [
            row.id.to_string(),
            judged.experiment_id.to_string(),
            item_of_pair.get(&row.pair_id).cloned().unwrap_or_default(),
            row.pair_id.to_string(),
            row.is_control.to_string(),
            row.platform,
            worker_id,
            judged.flagged.contains(&row.worker_row_id).to_string(),
            row.assignment_id.to_string(),
            row.study_id.unwrap_or_default(),
            row.session_id.unwrap_or_default(),
            row.position.to_string(),
            row.retry_of
                .map(|position| position.to_string())
                .unwrap_or_default(),
            row.said_same.to_string(),
            row.response_ms.to_string(),
            row.refresh_interval_ms.to_string(),
            row.reference_exposure_ms.to_string(),
            row.measured_gap_ms.to_string(),
            row.distorted_exposure_ms.to_string(),
            row.lost_visibility.to_string(),
            row.lost_focus.to_string(),
            row.invalid_reason.unwrap_or_default(),
            row.client_time.to_rfc3339(),
            row.server_time.to_rfc3339(),
        ];
        csv.write_record(kept(&JND_CSV_COLUMNS, record, workers.keep))?;
    }
    Ok(())
}
