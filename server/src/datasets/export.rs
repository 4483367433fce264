//! Exporting experiments as a BAPPS-style tree:
//!
//! ```text
//! 2afc/<split>/<category>/{ref,p0,p1}/000000.png
//! 2afc/<split>/<category>/judge/000000.npy   share of judgments preferring p1
//! manifest.json                              every item's stimulus specs and counts
//! judgments.csv                              one row per judgment
//! ```
//!
//! Names are zero-padded so that sorted order pairs the files across
//! folders, which is how the original loaders match them.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use futures_util::TryStreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;

use super::npy;
use super::sink::DatasetSink;
use crate::{quality, tallies};

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub experiment_ids: Vec<i64>,
    /// Keep the judgments of workers flagged by their sentinel failures.
    pub include_flagged: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExportSummary {
    /// Triplets written (those with at least one counted judgment).
    pub triplets: usize,
    /// Judgments behind the `judge` files (imported ones included).
    pub judgments: f64,
    pub excluded_workers: usize,
}

/// Writes the experiments' judged triplets, the manifest and the CSV to `sink`.
pub async fn export(
    pool: &PgPool,
    options: &ExportOptions,
    sink: &mut impl DatasetSink,
) -> anyhow::Result<ExportSummary> {
    let mut summary = ExportSummary::default();
    let mut manifest_experiments = Vec::new();
    let mut items = Vec::new();
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(CSV_COLUMNS)?;
    // Numbering continues across experiments that share a split and category.
    let mut next_index: HashMap<String, usize> = HashMap::new();

    for &experiment_id in &options.experiment_ids {
        let experiment = sqlx::query!(
            r#"SELECT id, name, kind, split, category, patch_size, seed, sampler,
                      judgments_per_triplet, sentinel_rate, max_sentinel_failure_share
               FROM experiments WHERE id = $1"#,
            experiment_id
        )
        .fetch_optional(pool)
        .await?
        .with_context(|| format!("there is no experiment {experiment_id}"))?;
        let flagged: HashSet<i64> =
            quality::flagged_worker_ids(pool, experiment_id).await?.into_iter().collect();
        let excluded = tallies::excluded_workers(pool, &[experiment_id], options.include_flagged).await?;
        summary.excluded_workers += excluded.len();
        let folder = format!(
            "2afc/{}/{}",
            path_component(&experiment.split),
            path_component(experiment.category.as_deref().unwrap_or("uncategorised"))
        );
        let tallies = tallies::tallies(pool, &[experiment_id], &excluded).await?;

        let mut item_of_triplet: HashMap<i64, String> = HashMap::new();
        let mut triplets = sqlx::query!(
            r#"SELECT t.id, t.crop_x, t.crop_y, t.ref_png, t.p0_png, t.p1_png,
                      t.p0_pipeline, t.p0_seed, t.p1_pipeline, t.p1_seed, t.imported_item,
                      r.file_name
               FROM triplets t JOIN reference_images r ON r.id = t.reference_image_id
               WHERE t.experiment_id = $1 AND t.sentinel_answer IS NULL
               ORDER BY t.id"#,
            experiment_id
        )
        .fetch(pool);
        while let Some(triplet) = triplets.try_next().await? {
            let Some(tally) = tallies.get(&triplet.id) else { continue };
            let index = next_index.entry(folder.clone()).or_default();
            let name = format!("{index:06}");
            *index += 1;
            let judge = tally.p1_share();
            for (part, png) in [("ref", &triplet.ref_png), ("p0", &triplet.p0_png), ("p1", &triplet.p1_png)] {
                sink.add(&format!("{folder}/{part}/{name}.png"), png).await?;
            }
            sink.add(&format!("{folder}/judge/{name}.npy"), &npy::encode_share(judge)).await?;
            let item = format!("{folder}/{name}");
            items.push(json!({
                "item": item,
                "experiment_id": experiment_id,
                "triplet_id": triplet.id,
                "reference_image": triplet.file_name,
                "crop": { "x": triplet.crop_x, "y": triplet.crop_y, "size": experiment.patch_size },
                "imported_from": triplet.imported_item,
                "p0": distortion(triplet.p0_pipeline, triplet.p0_seed),
                "p1": distortion(triplet.p1_pipeline, triplet.p1_seed),
                "judgments": tally.judgments,
                "chose_p1": tally.chose_p1,
                "judge": judge,
            }));
            item_of_triplet.insert(triplet.id, item);
            summary.triplets += 1;
            summary.judgments += tally.judgments;
        }
        drop(triplets);

        write_judgment_rows(pool, experiment_id, &excluded, &flagged, &item_of_triplet, &mut csv).await?;
        manifest_experiments.push(json!({
            "id": experiment.id,
            "name": experiment.name,
            "kind": experiment.kind,
            "split": experiment.split,
            "category": experiment.category,
            "folder": folder,
            "patch_size": experiment.patch_size,
            "seed": experiment.seed,
            "sampler": experiment.sampler,
            "judgments_per_triplet": experiment.judgments_per_triplet,
            "sentinel_rate": experiment.sentinel_rate,
            "max_sentinel_failure_share": experiment.max_sentinel_failure_share,
            "flagged_workers": flagged.len(),
        }));
    }

    let manifest: Value = json!({
        "format": "percept-bapps/1",
        "layout": "2afc/<split>/<category>/{ref,p0,p1}/NNNNNN.png and judge/NNNNNN.npy (float64, shape (1,): share of judgments preferring p1)",
        "include_flagged": options.include_flagged,
        "experiments": manifest_experiments,
        "items": items,
    });
    sink.add("manifest.json", &serde_json::to_vec_pretty(&manifest)?).await?;
    sink.add("judgments.csv", &csv.into_inner().context("finishing the CSV")?).await?;
    Ok(summary)
}

const CSV_COLUMNS: [&str; 20] = [
    "judgment_id", "experiment_id", "item", "triplet_id", "sentinel", "sentinel_passed",
    "worker_platform", "worker_id", "worker_flagged", "assignment_id", "study_id", "session_id",
    "position", "left_is_p0", "chosen_side", "chose_p1", "response_ms", "client_time",
    "server_time", "user_agent",
];

/// One CSV row per judgment of the experiment (sentinels included, marked),
/// leaving out the `excluded` workers.
async fn write_judgment_rows(
    pool: &PgPool,
    experiment_id: i64,
    excluded: &[i64],
    flagged: &HashSet<i64>,
    item_of_triplet: &HashMap<i64, String>,
    csv: &mut csv::Writer<Vec<u8>>,
) -> anyhow::Result<()> {
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
        let sentinel_passed = row.sentinel_answer.map(|answer| (answer == 1) == row.chose_p1);
        csv.write_record([
            row.id.to_string(),
            experiment_id.to_string(),
            item_of_triplet.get(&row.triplet_id).cloned().unwrap_or_default(),
            row.triplet_id.to_string(),
            row.sentinel_answer.is_some().to_string(),
            sentinel_passed.map(|passed| passed.to_string()).unwrap_or_default(),
            row.platform,
            row.external_id,
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
        ])?;
    }
    Ok(())
}

/// How a distorted patch was made, or null when it was imported without that.
fn distortion(pipeline: Option<Value>, seed: Option<i64>) -> Value {
    match (pipeline, seed) {
        (Some(pipeline), Some(seed)) => json!({ "pipeline": pipeline, "seed": seed }),
        _ => Value::Null,
    }
}

/// A split or category as one safe folder name.
fn path_component(name: &str) -> String {
    let cleaned: String = name
        .trim()
        .chars()
        .map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' })
        .collect();
    match cleaned.trim_matches('.') {
        "" => "_".into(),
        _ => cleaned,
    }
}
