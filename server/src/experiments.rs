//! Experiments: their settings, and creating one with all its stimuli.

use std::time::Duration;

use distortions::rand_chacha::{rand_core::SeedableRng, ChaCha8Rng};
use distortions::Sampler;
use indicatif::ProgressBar;
use sqlx::PgPool;

use crate::error::{Error, Result};
use crate::stimuli::{encode_png, ReferenceImage, SamplerSettings, TripletStimulus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExperimentKind {
    TwoAfc,
    Jnd,
}

impl ExperimentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExperimentKind::TwoAfc => "2afc",
            ExperimentKind::Jnd => "jnd",
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
    pub judgments_per_triplet: u32,
    pub trials_per_assignment: u32,
    /// Share of triplets, and of each assignment's trials, that are sentinels.
    pub sentinel_rate: f64,
    pub max_assignments_per_worker: u32,
    pub assignment_ttl: Duration,
    pub completion_redirect_url: Option<String>,
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
        if self.kind != ExperimentKind::TwoAfc {
            return invalid(format!(
                "{} experiments are not yet supported (only 2afc)",
                self.kind.as_str()
            ));
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

/// Creates the experiment with its reference images and
/// `patches_per_image` triplets per image, and returns its id. All or
/// nothing: on any error (an undecodable or too small image, say) nothing is
/// stored. `progress` advances by one per triplet.
pub async fn create(
    pool: &PgPool,
    settings: &NewExperiment,
    references: Vec<ReferenceFile>,
    progress: &ProgressBar,
) -> Result<i64> {
    let sampler = settings.validate()?;
    if references.is_empty() {
        return Err(Error::BadRequest(
            "an experiment needs at least one reference image".into(),
        ));
    }
    progress.set_length(references.len() as u64 * u64::from(settings.patches_per_image));
    let mut transaction = pool.begin().await?;
    let sampler_json = serde_json::to_value(&settings.sampler).map_err(anyhow::Error::from)?;
    let experiment_id = sqlx::query_scalar!(
        r#"
        INSERT INTO experiments (
            owner_id, name, kind, split, category, patch_size, patches_per_image, sampler,
            seed, judgments_per_triplet, trials_per_assignment, sentinel_rate,
            max_assignments_per_worker, assignment_ttl, completion_redirect_url
        )
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                make_interval(secs => $14), $15)
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
        settings.sentinel_rate as f32,
        settings.max_assignments_per_worker as i32,
        settings.assignment_ttl.as_secs_f64(),
        settings.completion_redirect_url.as_deref(),
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

    for (index, reference) in references.into_iter().enumerate() {
        let generated = generate_for_image(settings, &sampler, index, reference).await?;
        insert_image(&mut transaction, experiment_id, &generated).await?;
        progress.inc(generated.triplets.len() as u64);
    }
    transaction.commit().await?;
    Ok(experiment_id)
}

/// A reference image and the triplets cut from it, ready to insert.
struct GeneratedImage {
    file_name: String,
    png: Vec<u8>,
    width: u32,
    height: u32,
    triplets: Vec<TripletStimulus>,
}

/// Decodes one reference image and generates its triplets on a blocking
/// thread (distortions take tens of milliseconds each). Image `index` draws
/// from its own stream of the experiment seed, so its triplets do not depend
/// on the other images.
async fn generate_for_image(
    settings: &NewExperiment,
    sampler: &Sampler,
    index: usize,
    reference: ReferenceFile,
) -> Result<GeneratedImage> {
    let (settings, sampler) = (settings.clone(), sampler.clone());
    tokio::task::spawn_blocking(move || {
        let image = ReferenceImage::decode(&reference.file_name, &reference.bytes)?;
        image.ensure_fits_patch(settings.patch_size)?;
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
        rng.set_stream(index as u64);
        let triplets = (0..settings.patches_per_image)
            .map(|_| {
                TripletStimulus::generate(
                    &image.image,
                    settings.patch_size,
                    &sampler,
                    settings.sentinel_rate,
                    &mut rng,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(GeneratedImage {
            png: encode_png(&image.image)?,
            width: image.image.width(),
            height: image.image.height(),
            file_name: image.file_name,
            triplets,
        })
    })
    .await
    .map_err(anyhow::Error::from)?
}

async fn insert_image(
    transaction: &mut sqlx::PgConnection,
    experiment_id: i64,
    generated: &GeneratedImage,
) -> Result<()> {
    let reference_image_id = sqlx::query_scalar!(
        "INSERT INTO reference_images (experiment_id, file_name, png, width, height)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id",
        experiment_id,
        generated.file_name,
        generated.png,
        generated.width as i32,
        generated.height as i32,
    )
    .fetch_one(&mut *transaction)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::BadRequest(format!(
            "reference image {} is given twice",
            generated.file_name
        )),
        _ => error.into(),
    })?;

    let triplets = &generated.triplets;
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
