//! The queue's claim semantics on real PostgreSQL: a live claim is never
//! taken, a stale one is taken over (counting an attempt), a job past its
//! attempts fails with the reason, and a generation job that fails marks its
//! experiment failed.

use std::time::Duration;

use distortions::image::RgbImage;
use sqlx::PgPool;

use super::*;
use crate::experiments::generation::StimulusGeneration;
use crate::experiments::{self, ExperimentKind, NewExperiment, ReferenceFile};
use crate::stimuli::{encode_png, SamplerSettings};

/// A stored 2AFC experiment (one 96×80 image, 4 triplets) with its
/// generation job queued; returns the job's id.
async fn queued_generation(pool: &PgPool) -> (i64, i64) {
    let owner_id = crate::researchers::add(pool, "owner@example.org", "a long password")
        .await
        .unwrap();
    let settings = NewExperiment {
        owner_id,
        name: "queue test".into(),
        kind: ExperimentKind::TwoAfc,
        split: "train".into(),
        category: None,
        patch_size: 64,
        patches_per_image: 4,
        sampler: SamplerSettings::default(),
        seed: 1,
        judgments_per_stimulus: 2,
        trials_per_assignment: 4,
        sentinel_rate: 0.0,
        max_assignments_per_worker: 5,
        assignment_ttl: Duration::from_secs(600),
        completion_redirect_url: None,
        max_sentinel_failure_share: 0.5,
    };
    let image = RgbImage::from_fn(96, 80, |x, y| {
        distortions::image::Rgb([(x * 2) as u8, (y * 3) as u8, ((x ^ y) * 4) as u8])
    });
    let reference = ReferenceFile {
        file_name: "a.png".into(),
        bytes: encode_png(&image).unwrap(),
    };
    let stored = experiments::store(pool, &settings, vec![reference])
        .await
        .unwrap();
    (stored.id, stored.generation_job_id)
}

async fn age_heartbeat(pool: &PgPool, job_id: i64) {
    sqlx::query("UPDATE jobs SET heartbeat_at = now() - interval '1 minute' WHERE id = $1")
        .bind(job_id)
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_live_claim_is_kept_and_a_stale_one_is_taken_over(pool: PgPool) {
    let (_, job_id) = queued_generation(&pool).await;
    let first = claim(&pool, &[JobKind::Generation], None, "host-a:1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.id, first.attempts, first.previous_owner),
        (job_id, 1, None)
    );
    // Scoring processes do not see it, and its heartbeat is fresh.
    assert!(claim(&pool, &[JobKind::Scoring], None, "host-b:2")
        .await
        .unwrap()
        .is_none());
    assert!(claim(&pool, &[JobKind::Generation], None, "host-b:2")
        .await
        .unwrap()
        .is_none());
    assert!(heartbeat(&pool, job_id, "host-a:1").await.unwrap());

    age_heartbeat(&pool, job_id).await;
    let second = claim(&pool, &[JobKind::Generation], None, "host-b:2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.attempts, 2);
    assert_eq!(second.previous_owner.as_deref(), Some("host-a:1"));
    // The first owner learns that it lost the job at its next heartbeat.
    assert!(!heartbeat(&pool, job_id, "host-a:1").await.unwrap());
    assert!(heartbeat(&pool, job_id, "host-b:2").await.unwrap());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_job_past_its_attempts_fails_and_so_does_its_experiment(pool: PgPool) {
    let (experiment_id, job_id) = queued_generation(&pool).await;
    sqlx::query(
        "UPDATE jobs SET status = 'running', owner_process = 'gone:9', attempts = max_attempts,
                         heartbeat_at = now() - interval '1 minute'
         WHERE id = $1",
    )
    .bind(job_id)
    .execute(&pool)
    .await
    .unwrap();
    let outcome = Runner::new(pool.clone())
        .with(StimulusGeneration)
        .run_next(None)
        .await
        .unwrap()
        .unwrap();
    let error = outcome.error.unwrap();
    assert!(
        error.contains("gave up after 5 attempts") && error.contains("gone:9"),
        "{error}"
    );
    let job = get(&pool, job_id).await.unwrap().unwrap();
    assert_eq!(
        (job.status.as_str(), job.error.as_deref()),
        ("failed", Some(&*error))
    );
    let (status, generation_error): (String, Option<String>) =
        sqlx::query_as("SELECT status, generation_error FROM experiments WHERE id = $1")
            .bind(experiment_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), generation_error), ("failed", Some(error)));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_generation_job_makes_its_experiment_ready_with_its_progress(pool: PgPool) {
    let (experiment_id, job_id) = queued_generation(&pool).await;
    // Asking again joins the open job.
    let mut connection = pool.acquire().await.unwrap();
    let again = enqueue(
        &mut connection,
        JobKind::Generation,
        Some(experiment_id),
        &serde_json::json!({}),
    )
    .await
    .unwrap();
    assert_eq!(again, job_id);
    drop(connection);

    let outcome = Runner::new(pool.clone())
        .with(StimulusGeneration)
        .run_next(None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (outcome.job_id, outcome.worked, outcome.error),
        (job_id, 4, None)
    );
    let job = get(&pool, job_id).await.unwrap().unwrap();
    assert_eq!(
        (job.status.as_str(), job.progress_done, job.progress_total),
        ("done", 4, Some(4))
    );
    let status: String = sqlx::query_scalar("SELECT status FROM experiments WHERE id = $1")
        .bind(experiment_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "ready");
    assert_eq!(open_count(&pool, &[job_id]).await.unwrap(), 0);
}

#[test]
fn kinds_parse_by_name_and_say_which_exist() {
    assert_eq!("scoring".parse::<JobKind>(), Ok(JobKind::Scoring));
    assert_eq!("training".parse::<JobKind>(), Ok(JobKind::Training));
    assert_eq!("cnn-bank".parse::<JobKind>(), Ok(JobKind::CnnBank));
    assert_eq!(
        "learning".parse::<JobKind>().unwrap_err(),
        "unknown job kind \"learning\"; the kinds are generation, scoring, training, cnn-bank"
    );
}
