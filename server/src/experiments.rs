//! Experiments: their settings, and creating one with all its stimuli.

use std::time::Duration;

use distortions::rand_chacha::{rand_core::SeedableRng, ChaCha8Rng};
use distortions::Sampler;
use indicatif::ProgressBar;
use sqlx::PgPool;

use crate::error::{Error, Result};
use crate::jnd::{self, JndSettings};
use crate::stimuli::{encode_png, PairStimulus, ReferenceImage, SamplerSettings, TripletStimulus};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExperimentKind {
    TwoAfc,
    Jnd(JndSettings),
}

impl ExperimentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExperimentKind::TwoAfc => "2afc",
            ExperimentKind::Jnd(_) => "jnd",
        }
    }
}

/// Everything a researcher decides about an experiment before it starts.
#[derive(Debug, Clone)]
pub struct NewExperiment {
    pub owner_id: i64,
    pub name: String,
    pub kind: ExperimentKind,
    pub split: String,
    pub category: Option<String>,
    pub patch_size: u32,
    pub patches_per_image: u32,
    pub sampler: SamplerSettings,
    /// Every crop, pipeline, seed and sentinel derives from it.
    pub seed: u64,
    /// Judgments wanted per triplet, or per pair in a JND experiment.
    pub judgments_per_triplet: u32,
    pub trials_per_assignment: u32,
    /// Share of triplets, and of each assignment's trials, that are
    /// sentinels. JND experiments have control pairs instead (stored as 0).
    pub sentinel_rate: f64,
    pub max_assignments_per_worker: u32,
    pub assignment_ttl: Duration,
    pub completion_redirect_url: Option<String>,
    /// A worker who failed more than this share of the sentinels they judged
    /// is flagged, and their judgments are left out of reports and exports.
    pub max_sentinel_failure_share: f64,
}

/// An uploaded reference image: its name and PNG or JPEG bytes.
pub struct ReferenceFile {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

impl NewExperiment {
    /// Checks the settings, returning the sampler they describe.
    fn validate(&self) -> Result<Sampler> {
        let invalid = |message: String| Err(Error::BadRequest(message));
        if let ExperimentKind::Jnd(settings) = &self.kind {
            settings.validate()?;
        }
        if self.name.trim().is_empty() {
            return invalid("the experiment needs a name".into());
        }
        if self.split.trim().is_empty() {
            return invalid("the split must not be empty (e.g. train or val)".into());
        }
        if !(8..=1024).contains(&self.patch_size) {
            return invalid(format!(
                "the patch size must be between 8 and 1024 pixels, not {}",
                self.patch_size
            ));
        }
        for (name, value) in [
            ("patches per image", self.patches_per_image),
            ("judgments per triplet", self.judgments_per_triplet),
            ("trials per assignment", self.trials_per_assignment),
            (
                "max assignments per worker",
                self.max_assignments_per_worker,
            ),
        ] {
            if value == 0 || i32::try_from(value).is_err() {
                return invalid(format!(
                    "{name} must be at least 1 and below 2^31, not {value}"
                ));
            }
        }
        if !(0.0..1.0).contains(&self.sentinel_rate) {
            return invalid(format!(
                "the sentinel rate must be at least 0 and below 1, not {}",
                self.sentinel_rate
            ));
        }
        if !(0.0..=1.0).contains(&self.max_sentinel_failure_share) {
            return invalid(format!(
                "the maximum share of failed sentinels must be between 0 and 1, not {}",
                self.max_sentinel_failure_share
            ));
        }
        if self.assignment_ttl.is_zero() {
            return invalid("the assignment time limit must be positive".into());
        }
        if i64::try_from(self.seed).is_err() {
            return invalid(format!("the seed must be below 2^63, not {}", self.seed));
        }
        if let Some(url) = &self.completion_redirect_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return invalid(format!(
                    "the completion redirect URL must start with https:// or http://, not {url:?}"
                ));
            }
        }
        self.sampler.sampler()
    }
}

/// An experiment whose settings and reference images are stored, waiting
/// for its triplets (status `generating`).
pub struct StoredExperiment {
    pub id: i64,
    settings: NewExperiment,
    sampler: Sampler,
    /// In upload order: image `i` draws from stream `i` of the experiment seed.
    images: Vec<StoredImage>,
    /// Triplets or pairs to generate.
    stimuli_total: u64,
}

struct StoredImage {
    id: i64,
    image: ReferenceImage,
}

/// Creates the experiment with its reference images and
/// `patches_per_image` triplets per image, and returns its id; waits for
/// generation to finish. `progress` advances by one per triplet.
pub async fn create(
    pool: &PgPool,
    settings: &NewExperiment,
    references: Vec<ReferenceFile>,
    progress: &ProgressBar,
) -> Result<i64> {
    let stored = store(pool, settings, references).await?;
    let id = stored.id;
    generate(pool, stored, progress).await?;
    Ok(id)
}

/// Checks the settings and decodes every reference image, then stores the
/// experiment (status `generating`) and its images in one transaction: a bad
/// setting or an undecodable or too small image stores nothing, and the error
/// names it. Triplets come next, from [`generate`].
pub async fn store(
    pool: &PgPool,
    settings: &NewExperiment,
    references: Vec<ReferenceFile>,
) -> Result<StoredExperiment> {
    let sampler = settings.validate()?;
    let source_experiment_id = match settings.kind {
        ExperimentKind::Jnd(jnd) => jnd.source_experiment_id,
        ExperimentKind::TwoAfc => None,
    };
    // Stimuli to generate: triplets, or pairs (cut fresh, or taken from the
    // source experiment's triplets).
    let stimuli_total = match (source_experiment_id, settings.kind) {
        (Some(source_id), ExperimentKind::Jnd(jnd)) => {
            if !references.is_empty() {
                return Err(Error::BadRequest(
                    "a JND experiment takes its pairs either from a source experiment or from uploaded images, not both".into(),
                ));
            }
            jnd::sourced_pair_count(pool, settings.owner_id, source_id, jnd.control_share).await?
        }
        _ if references.is_empty() => {
            return Err(Error::BadRequest(
                "an experiment needs at least one reference image".into(),
            ))
        }
        _ => references.len() as u64 * u64::from(settings.patches_per_image),
    };
    let noun = match settings.kind {
        ExperimentKind::TwoAfc => "triplets",
        ExperimentKind::Jnd(_) => "pairs",
    };
    let triplets_total = i32::try_from(stimuli_total).map_err(|_| {
        Error::BadRequest(format!(
            "{stimuli_total} {noun} are too many for one experiment"
        ))
    })?;
    // 2AFC rows keep the columns' defaults, with no controls.
    let jnd = match settings.kind {
        ExperimentKind::Jnd(jnd) => jnd,
        ExperimentKind::TwoAfc => JndSettings {
            control_share: 0.0,
            ..JndSettings::default()
        },
    };
    let sentinel_rate = match settings.kind {
        ExperimentKind::TwoAfc => settings.sentinel_rate,
        ExperimentKind::Jnd(_) => 0.0,
    };
    let patch_size = settings.patch_size;
    // Decoding and re-encoding large images takes a while: keep it off the executor.
    let decoded = tokio::task::spawn_blocking(move || {
        references
            .iter()
            .map(|reference| {
                let image = ReferenceImage::decode(&reference.file_name, &reference.bytes)?;
                image.ensure_fits_patch(patch_size)?;
                let png = encode_png(&image.image)?;
                Ok((image, png))
            })
            .collect::<Result<Vec<_>>>()
    })
    .await
    .map_err(anyhow::Error::from)??;

    let mut transaction = pool.begin().await?;
    let sampler_json = serde_json::to_value(&settings.sampler).map_err(anyhow::Error::from)?;
    let experiment_id = sqlx::query_scalar!(
        r#"
        INSERT INTO experiments (
            owner_id, name, kind, split, category, patch_size, patches_per_image, sampler,
            seed, judgments_per_triplet, trials_per_assignment, sentinel_rate,
            max_assignments_per_worker, assignment_ttl, completion_redirect_url,
            max_sentinel_failure_share, status, triplets_total,
            reference_ms, gap_ms, distorted_ms, control_share, source_experiment_id
        )
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                make_interval(secs => $14), $15, $16, 'generating', $17,
                $18, $19, $20, $21, $22)
        RETURNING id
        "#,
        settings.owner_id,
        settings.name.trim(),
        settings.kind.as_str(),
        settings.split.trim(),
        settings.category.as_deref(),
        settings.patch_size as i32,
        settings.patches_per_image as i32,
        sampler_json,
        settings.seed as i64,
        settings.judgments_per_triplet as i32,
        settings.trials_per_assignment as i32,
        sentinel_rate as f32,
        settings.max_assignments_per_worker as i32,
        settings.assignment_ttl.as_secs_f64(),
        settings.completion_redirect_url.as_deref(),
        settings.max_sentinel_failure_share as f32,
        triplets_total,
        jnd.reference_ms as i32,
        jnd.gap_ms as i32,
        jnd.distorted_ms as i32,
        jnd.control_share as f32,
        source_experiment_id,
    )
    .fetch_one(&mut *transaction)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => Error::BadRequest(format!(
            "there is no researcher with id {}",
            settings.owner_id
        )),
        _ => error.into(),
    })?;

    let mut images = Vec::with_capacity(decoded.len());
    for (image, png) in decoded {
        let id = sqlx::query_scalar!(
            "INSERT INTO reference_images (experiment_id, file_name, png, width, height)
             VALUES ($1, $2, $3, $4, $5)
             RETURNING id",
            experiment_id,
            image.file_name,
            png,
            image.image.width() as i32,
            image.image.height() as i32,
        )
        .fetch_one(&mut *transaction)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Error::BadRequest(format!(
                "reference image {} is given twice",
                image.file_name
            )),
            _ => error.into(),
        })?;
        images.push(StoredImage { id, image });
    }
    transaction.commit().await?;
    Ok(StoredExperiment {
        id: experiment_id,
        settings: settings.clone(),
        sampler,
        images,
        stimuli_total,
    })
}

/// Generates a stored experiment's triplets image by image, each image's in
/// its own transaction that also advances `triplets_generated`, so any server
/// can show the progress. Ends with status `ready`, or `failed` with the
/// error's message (the triplets made so far stay, and workers are never
/// given the experiment). `progress` advances by one per triplet.
pub async fn generate(
    pool: &PgPool,
    stored: StoredExperiment,
    progress: &ProgressBar,
) -> Result<()> {
    progress.set_length(stored.stimuli_total);
    let experiment_id = stored.id;
    let generated = generate_all(pool, stored, progress).await;
    let error_message = generated.as_ref().err().map(|error| match error {
        Error::Internal(error) => format!("{error:#}"),
        other => other.to_string(),
    });
    sqlx::query!(
        "UPDATE experiments
         SET status = CASE WHEN $2::text IS NULL THEN 'ready' ELSE 'failed' END,
             generation_error = $2
         WHERE id = $1",
        experiment_id,
        error_message,
    )
    .execute(pool)
    .await?;
    generated
}

async fn generate_all(
    pool: &PgPool,
    stored: StoredExperiment,
    progress: &ProgressBar,
) -> Result<()> {
    let StoredExperiment {
        id: experiment_id,
        settings,
        sampler,
        images,
        ..
    } = stored;
    if let ExperimentKind::Jnd(JndSettings {
        source_experiment_id: Some(source_id),
        control_share,
        ..
    }) = settings.kind
    {
        let mut transaction = pool.begin().await?;
        let count = jnd::copy_pairs_from_source(
            &mut transaction,
            experiment_id,
            source_id,
            control_share,
            settings.seed,
        )
        .await?;
        count_generated(&mut transaction, experiment_id, count).await?;
        transaction.commit().await?;
        progress.inc(count as u64);
        return Ok(());
    }
    for (index, image) in images.into_iter().enumerate() {
        let reference_image_id = image.id;
        let mut transaction = pool.begin().await?;
        let count = match settings.kind {
            ExperimentKind::TwoAfc => {
                let (sampler, patch_size) = (sampler.clone(), settings.patch_size);
                let sentinel_rate = settings.sentinel_rate;
                let triplets =
                    generate_for_image(&settings, index, image.image, move |image, rng| {
                        TripletStimulus::generate(image, patch_size, &sampler, sentinel_rate, rng)
                    })
                    .await?;
                insert_triplets(
                    &mut transaction,
                    experiment_id,
                    reference_image_id,
                    &triplets,
                )
                .await?;
                triplets.len()
            }
            ExperimentKind::Jnd(jnd) => {
                let (sampler, patch_size) = (sampler.clone(), settings.patch_size);
                let pairs = generate_for_image(&settings, index, image.image, move |image, rng| {
                    PairStimulus::generate(image, patch_size, &sampler, jnd.control_share, rng)
                })
                .await?;
                jnd::insert_pairs(&mut transaction, experiment_id, reference_image_id, &pairs)
                    .await?;
                pairs.len()
            }
        };
        count_generated(&mut transaction, experiment_id, count).await?;
        transaction.commit().await?;
        progress.inc(count as u64);
    }
    Ok(())
}

async fn count_generated(
    transaction: &mut sqlx::PgConnection,
    experiment_id: i64,
    count: usize,
) -> Result<()> {
    sqlx::query!(
        "UPDATE experiments SET triplets_generated = triplets_generated + $2 WHERE id = $1",
        experiment_id,
        count as i32,
    )
    .execute(&mut *transaction)
    .await?;
    Ok(())
}

/// Generates one reference image's `patches_per_image` stimuli (triplets or
/// pairs) with `make` on a blocking thread (distortions take tens of
/// milliseconds each). Image `index` draws from its own stream of the
/// experiment seed, so its stimuli do not depend on the other images.
async fn generate_for_image<T: Send + 'static>(
    settings: &NewExperiment,
    index: usize,
    image: ReferenceImage,
    make: impl Fn(&distortions::image::RgbImage, &mut ChaCha8Rng) -> Result<T> + Send + 'static,
) -> Result<Vec<T>> {
    let (seed, count) = (settings.seed, settings.patches_per_image);
    tokio::task::spawn_blocking(move || {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index as u64);
        (0..count)
            .map(|_| make(&image.image, &mut rng))
            .collect::<Result<Vec<_>>>()
    })
    .await
    .map_err(anyhow::Error::from)?
}

async fn insert_triplets(
    transaction: &mut sqlx::PgConnection,
    experiment_id: i64,
    reference_image_id: i64,
    triplets: &[TripletStimulus],
) -> Result<()> {
    let pipeline_json = |pipeline: &distortions::Pipeline| {
        serde_json::to_value(pipeline).map_err(anyhow::Error::from)
    };
    let p0_pipelines = triplets
        .iter()
        .map(|t| pipeline_json(&t.p0.pipeline))
        .collect::<Result<Vec<_>, _>>()?;
    let p1_pipelines = triplets
        .iter()
        .map(|t| pipeline_json(&t.p1.pipeline))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query!(
        "INSERT INTO triplets (
             experiment_id, reference_image_id, crop_x, crop_y, ref_png, p0_png, p1_png,
             p0_pipeline, p0_seed, p1_pipeline, p1_seed, sentinel_answer
         )
         SELECT $1, $2, * FROM UNNEST(
             $3::int[], $4::int[], $5::bytea[], $6::bytea[], $7::bytea[],
             $8::jsonb[], $9::bigint[], $10::jsonb[], $11::bigint[], $12::smallint[]
         )",
        experiment_id,
        reference_image_id,
        &triplets.iter().map(|t| t.crop_x as i32).collect::<Vec<_>>(),
        &triplets.iter().map(|t| t.crop_y as i32).collect::<Vec<_>>(),
        &triplets
            .iter()
            .map(|t| t.ref_png.as_slice())
            .collect::<Vec<_>>() as &[&[u8]],
        &triplets
            .iter()
            .map(|t| t.p0.png.as_slice())
            .collect::<Vec<_>>() as &[&[u8]],
        &triplets
            .iter()
            .map(|t| t.p1.png.as_slice())
            .collect::<Vec<_>>() as &[&[u8]],
        &p0_pipelines,
        &triplets
            .iter()
            .map(|t| t.p0.seed as i64)
            .collect::<Vec<_>>(),
        &p1_pipelines,
        &triplets
            .iter()
            .map(|t| t.p1.seed as i64)
            .collect::<Vec<_>>(),
        &triplets
            .iter()
            .map(|t| t.sentinel_answer.map(i16::from))
            .collect::<Vec<_>>() as &[Option<i16>],
    )
    .execute(&mut *transaction)
    .await?;
    Ok(())
}
