//! `percept simulate`: synthetic workers doing an experiment through the same
//! HTTP API as people, for demos, tests, and planning how many judgments an
//! experiment needs before paying for them.

mod observer;

use std::collections::VecDeque;
use std::sync::Arc;

use anyhow::{bail, Context};
use app::api::jnd::{
    JndAssignment, JndJudgmentReceipt, JndPresentation, JndTrialUrls, MeasuredTiming,
    NewJndJudgment,
};
use chrono::Utc;
use distortions::image::{self, RgbImage};
use indicatif::ProgressBar;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinSet;

pub use observer::{Choice, Observer, ObserverMetric};

#[derive(Debug, Clone)]
pub struct SimulationSettings {
    pub workers: u32,
    /// Share of workers who answer at random (and so fail sentinels half the time).
    pub careless_share: f64,
    pub metric: ObserverMetric,
    /// Log-normal noise on each perceived distance (see [`Observer`]).
    pub noise: f64,
    /// Assignments each worker asks for; `None` keeps asking until the
    /// experiment's per-worker limit or until it needs no more judgments.
    pub assignments_per_worker: Option<u32>,
    /// Workers active at the same time.
    pub concurrency: usize,
    /// Worker ids, answers and response times all derive from it.
    pub seed: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SimulationSummary {
    pub workers: u32,
    /// The platform worker ids of the careless ones.
    pub careless_workers: Vec<String>,
    pub assignments_completed: u32,
    pub judgments: u32,
}

#[derive(Deserialize)]
struct Assignment {
    token: String,
    trials: Vec<Trial>,
    jnd: Option<JndAssignment>,
}

#[derive(Deserialize)]
struct Trial {
    position: i32,
    reference_url: String,
    left_url: String,
    right_url: String,
}

#[derive(Deserialize)]
struct Receipt {
    completed: bool,
}

/// A display's frame interval: simulated workers watch at 60 Hz.
const FRAME_MS: f64 = 1000.0 / 60.0;

/// The timing a browser at 60 Hz measures when it shows `presentation`
/// exactly: each phase the whole number of frames nearest its duration.
fn ideal_timing(presentation: &JndPresentation) -> MeasuredTiming {
    let frames = |ms: i32| (f64::from(ms) / FRAME_MS).round() * FRAME_MS;
    let reference_on_at_ms = 1_000.0;
    let reference_off_at_ms = reference_on_at_ms + frames(presentation.reference_ms);
    let distorted_on_at_ms = reference_off_at_ms + frames(presentation.gap_ms);
    MeasuredTiming {
        refresh_interval_ms: FRAME_MS,
        reference_on_at_ms,
        reference_off_at_ms,
        distorted_on_at_ms,
        distorted_off_at_ms: distorted_on_at_ms + frames(presentation.distorted_ms),
        lost_visibility: false,
        lost_focus: false,
    }
}

#[derive(Deserialize)]
struct ApiError {
    error: String,
}

/// Runs `settings.workers` synthetic workers against the Percept server at
/// `base_url` (e.g. `http://127.0.0.1:3000`). `progress` advances per judgment.
pub async fn run(
    base_url: &str,
    experiment_id: i64,
    settings: &SimulationSettings,
    progress: &ProgressBar,
) -> anyhow::Result<SimulationSummary> {
    if !(0.0..=1.0).contains(&settings.careless_share) {
        bail!(
            "the careless share must be between 0 and 1, not {}",
            settings.careless_share
        );
    }
    if !(settings.noise >= 0.0 && settings.noise.is_finite()) {
        bail!(
            "the noise must be a finite number ≥ 0, not {}",
            settings.noise
        );
    }
    let careless_count = (f64::from(settings.workers) * settings.careless_share).round() as u32;
    let client = Client {
        http: reqwest::Client::builder()
            .user_agent(concat!("percept-simulate/", env!("CARGO_PKG_VERSION")))
            .build()?,
        base_url: base_url.trim_end_matches('/').to_owned(),
    };
    let permits = Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1)));
    let mut workers = JoinSet::new();
    let mut careless_workers = Vec::new();
    for index in 0..settings.workers {
        let id = format!("sim-{}-{index}", settings.seed);
        // Careless workers are spread through the run rather than all at its end.
        let careless = is_careless(index, settings.workers, careless_count);
        if careless {
            careless_workers.push(id.clone());
        }
        let worker = SimulatedWorker {
            id,
            observer: Observer::new(
                careless,
                settings.metric.clone(),
                settings.noise,
                settings.seed ^ (u64::from(index) << 32 | 0x5eed),
            ),
        };
        let (client, permits, progress) = (client.clone(), permits.clone(), progress.clone());
        let assignments = settings.assignments_per_worker;
        workers.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            worker
                .work(&client, experiment_id, assignments, &progress)
                .await
        });
    }
    let mut summary = SimulationSummary {
        workers: settings.workers,
        careless_workers,
        ..Default::default()
    };
    while let Some(finished) = workers.join_next().await {
        let (assignments, judgments) = finished??;
        summary.assignments_completed += assignments;
        summary.judgments += judgments;
    }
    Ok(summary)
}

/// Whether worker `index` of `workers` is one of the `careless` ones, which
/// are spaced evenly through the indices.
fn is_careless(index: u32, workers: u32, careless: u32) -> bool {
    let (index, workers, careless) = (u64::from(index), u64::from(workers), u64::from(careless));
    (index * careless) / workers != ((index + 1) * careless) / workers
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base_url: String,
}

impl Client {
    async fn image(&self, path: &str) -> anyhow::Result<RgbImage> {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .send()
            .await?;
        let response = ensure_success(response, path).await?;
        let bytes = response.bytes().await?;
        Ok(image::load_from_memory(&bytes)
            .with_context(|| format!("{path} is not an image"))?
            .to_rgb8())
    }

    /// Posts `body`, waiting out rate limits as the browser client does: the
    /// same body again after the server's Retry-After.
    async fn post_within_limits(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> anyhow::Result<reqwest::Response> {
        loop {
            let response = self
                .http
                .post(format!("{}{path}", self.base_url))
                .json(body)
                .send()
                .await?;
            if response.status() != StatusCode::TOO_MANY_REQUESTS {
                return Ok(response);
            }
            let wait_seconds = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse().ok())
                .unwrap_or(1);
            tokio::time::sleep(std::time::Duration::from_secs(wait_seconds)).await;
        }
    }
}

/// The response if it succeeded, else an error carrying the server's message.
async fn ensure_success(
    response: reqwest::Response,
    what: &str,
) -> anyhow::Result<reqwest::Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let message = match response.json::<ApiError>().await {
        Ok(body) => body.error,
        Err(_) => "(no JSON error)".into(),
    };
    bail!("{what}: the server answered {status}: {message}")
}

struct SimulatedWorker {
    id: String,
    observer: Observer,
}

impl SimulatedWorker {
    /// Does assignments until the limit; returns (assignments completed, judgments).
    async fn work(
        mut self,
        client: &Client,
        experiment_id: i64,
        assignment_limit: Option<u32>,
        progress: &ProgressBar,
    ) -> anyhow::Result<(u32, u32)> {
        let (mut assignments, mut judgments) = (0, 0);
        while assignment_limit.is_none_or(|limit| assignments < limit) {
            let path = format!("/api/experiments/{experiment_id}/assignments");
            let request = json!({
                "platform": "prolific",
                "platform_worker_id": self.id,
                "study_id": "simulation",
                "session_id": format!("{}-{assignments}", self.id),
            });
            let response = client.post_within_limits(&path, &request).await?;
            // 403: this worker's limit; 409: nothing left that they have not seen.
            if matches!(
                response.status(),
                StatusCode::FORBIDDEN | StatusCode::CONFLICT
            ) {
                break;
            }
            let assignment: Assignment = ensure_success(response, &path).await?.json().await?;
            let mut completed = false;
            for trial in &assignment.trials {
                completed = self.judge(client, &assignment.token, trial).await?;
                judgments += 1;
                progress.inc(1);
            }
            if let Some(jnd) = &assignment.jnd {
                // Trials the server appends to repeat invalid ones come last.
                let mut queue: VecDeque<JndTrialUrls> = jnd.trials.iter().cloned().collect();
                while let Some(trial) = queue.pop_front() {
                    let receipt = self
                        .judge_jnd(client, &assignment.token, &trial, &jnd.presentation)
                        .await?;
                    completed = receipt.completed;
                    queue.extend(receipt.retry);
                    judgments += 1;
                    progress.inc(1);
                }
            }
            if !completed {
                bail!("every trial of assignment {} is judged, but the server does not call it complete", assignment.token);
            }
            assignments += 1;
        }
        Ok((assignments, judgments))
    }

    /// Answers one trial; returns whether that completed the assignment.
    async fn judge(&mut self, client: &Client, token: &str, trial: &Trial) -> anyhow::Result<bool> {
        let (reference, left, right) = tokio::try_join!(
            client.image(&trial.reference_url),
            client.image(&trial.left_url),
            client.image(&trial.right_url),
        )?;
        let choice = self.observer.choose(&reference, &left, &right)?;
        let path = format!("/api/assignments/{token}/judgments");
        let judgment = json!({
            "id": uuid::Uuid::new_v4(),
            "position": trial.position,
            "chosen_side": match choice { Choice::Left => "left", Choice::Right => "right" },
            "response_ms": self.observer.response_ms(),
            "client_time": Utc::now(),
        });
        let response = client.post_within_limits(&path, &judgment).await?;
        let receipt: Receipt = ensure_success(response, &path).await?.json().await?;
        Ok(receipt.completed)
    }

    /// Answers one JND trial, reporting the timing of a display that kept it.
    async fn judge_jnd(
        &mut self,
        client: &Client,
        token: &str,
        trial: &JndTrialUrls,
        presentation: &JndPresentation,
    ) -> anyhow::Result<JndJudgmentReceipt> {
        let (reference, distorted) = tokio::try_join!(
            client.image(&trial.reference_url),
            client.image(&trial.distorted_url),
        )?;
        let judgment = NewJndJudgment {
            id: uuid::Uuid::new_v4(),
            position: trial.position,
            said_same: self.observer.says_same(&reference, &distorted)?,
            response_ms: self.observer.response_ms(),
            client_time: Utc::now(),
            timing: ideal_timing(presentation),
        };
        let path = format!("/api/assignments/{token}/jnd-judgments");
        let response = client.post_within_limits(&path, &judgment).await?;
        Ok(ensure_success(response, &path).await?.json().await?)
    }
}
