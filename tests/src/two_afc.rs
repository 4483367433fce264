//! 2AFC fixtures: synthetic reference images, experiments made the way
//! `percept experiment create` makes them, and the worker's side of the API.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use distortions::image::{Rgb, RgbImage};
use serde_json::{json, Value};
use server::experiments::{self, ExperimentKind, NewExperiment, ReferenceFile};
use server::stimuli::{encode_png, SamplerSettings};
use sqlx::PgPool;

use crate::TestApp;

/// A reference image with structure everywhere (gradients and a checker), so
/// that crops at different places differ and distortions show.
pub fn synthetic_image(width: u32, height: u32, tint: u8) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let checker = if (x / 8 + y / 8) % 2 == 0 { 60 } else { 0 };
        Rgb([
            (x * 255 / width) as u8 ^ tint,
            (y * 255 / height) as u8,
            checker + tint / 2,
        ])
    })
}

pub fn reference_file(file_name: &str, width: u32, height: u32, tint: u8) -> ReferenceFile {
    ReferenceFile {
        file_name: file_name.to_owned(),
        bytes: encode_png(&synthetic_image(width, height, tint)).unwrap(),
    }
}

/// Settings for a small experiment owned by a fresh researcher; tests
/// adjust what they are about.
pub async fn experiment_settings(pool: &PgPool) -> NewExperiment {
    let owner_id = server::researchers::add(pool, "owner@example.org", "a long password")
        .await
        .unwrap();
    NewExperiment {
        owner_id,
        name: "test experiment".into(),
        kind: ExperimentKind::TwoAfc,
        split: "train".into(),
        category: None,
        patch_size: 64,
        patches_per_image: 4,
        sampler: SamplerSettings::default(),
        seed: 7,
        judgments_per_stimulus: 2,
        trials_per_assignment: 4,
        sentinel_rate: 0.0,
        max_assignments_per_worker: 5,
        assignment_ttl: Duration::from_secs(30 * 60),
        completion_redirect_url: None,
        max_sentinel_failure_share: 0.5,
    }
}

/// Creates the experiment from `image_count` synthetic 96×80 images.
pub async fn create_experiment(pool: &PgPool, settings: &NewExperiment, image_count: u8) -> i64 {
    let references = (0..image_count)
        .map(|index| reference_file(&format!("{index}.png"), 96, 80, index * 40))
        .collect();
    experiments::create(pool, settings, references, None)
        .await
        .unwrap()
}

/// Creates the experiment from the first `image_count` demo photos (public
/// domain and CC0, from scikit-image; `cargo xtask setup` puts them in the
/// cache and `cargo xtask test` says where): browser tests show workers
/// what a real experiment shows them.
pub async fn create_experiment_from_photos(
    pool: &PgPool,
    settings: &NewExperiment,
    image_count: usize,
) -> i64 {
    let folder = std::env::var_os("PERCEPT_DEMO_PHOTOS")
        .map(std::path::PathBuf::from)
        .expect("PERCEPT_DEMO_PHOTOS (cargo xtask test sets it)");
    let mut paths: Vec<_> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("reading {}: {error}", folder.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    let references = paths
        .into_iter()
        .take(image_count)
        .map(|path| ReferenceFile {
            file_name: path.file_name().unwrap().to_string_lossy().into_owned(),
            bytes: std::fs::read(&path).unwrap(),
        })
        .collect();
    experiments::create(pool, settings, references, None)
        .await
        .unwrap()
}

impl TestApp {
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request to the test app")
    }

    /// Asks for an assignment for a Prolific worker, in a session of its
    /// own (as a worker starting the study again would: the same session
    /// would get its open assignment back); returns status and body.
    pub async fn request_assignment(
        &self,
        experiment_id: i64,
        worker_id: &str,
    ) -> (reqwest::StatusCode, Value) {
        static SESSIONS: AtomicU64 = AtomicU64::new(0);
        let session = format!("session-{}", SESSIONS.fetch_add(1, Ordering::Relaxed));
        let response = self
            .post_json(
                &format!("/api/experiments/{experiment_id}/assignments"),
                &json!({ "platform": "prolific", "worker_id": worker_id, "study_id": "s1", "session_id": session }),
            )
            .await;
        (response.status(), response.json().await.unwrap())
    }

    /// Submits a judgment for `position`, choosing `side`; returns status and body.
    pub async fn submit_judgment(&self, token: &str, body: &Value) -> (reqwest::StatusCode, Value) {
        let response = self
            .post_json(&format!("/api/assignments/{token}/judgments"), body)
            .await;
        (response.status(), response.json().await.unwrap())
    }
}

/// A fresh judgment body for `position`.
pub fn judgment(position: i64, side: &str) -> Value {
    json!({
        "id": uuid::Uuid::new_v4(),
        "position": position,
        "chosen_side": side,
        "response_ms": 850,
        "client_time": "2025-01-02T03:04:05.678Z",
    })
}
