//! `percept simulate`: synthetic workers doing an experiment through the same
//! HTTP API as people, for demos, tests, and planning how many judgments an
//! experiment needs before paying for them.

mod observer;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use app::api::jnd::{
    JndAssignment, JndJudgmentReceipt, JndPresentation, JndTrialUrls, MeasuredTiming,
    NewJndJudgment,
};
use chrono::Utc;
use distortions::image::{self, RgbImage};
use indicatif::ProgressBar;
use percept_api::count;
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
    /// Judgments the server acknowledged (each stored once, however often
    /// it was sent).
    pub judgments: u32,
    /// Workers who were given no assignment at all, by why the server
    /// refused their first request.
    pub workers_without_work: BTreeMap<NoWork, u32>,
    /// Requests sent again after a connection error, a 5xx or a 429.
    pub retried_requests: u32,
}

impl SimulationSummary {
    /// How many workers got no assignment.
    pub fn workers_without_work_total(&self) -> u32 {
        self.workers_without_work.values().sum()
    }
}

/// Why the server gave a worker no (further) assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoWork {
    /// Every stimulus has its judgments, counting those being judged now (409).
    ExperimentFull,
    /// The worker has seen every stimulus that still needs judgments (409).
    SeenEverythingLeft,
    /// The worker reached the experiment's per-worker limit of assignments (403).
    WorkerCapReached,
    /// The researcher closed the experiment (410).
    ExperimentClosed,
    /// Its stimuli are still being generated, or generation failed (409).
    NotReady,
}

impl NoWork {
    /// From the server's refusal of an assignment request, if it is one of these.
    fn from_refusal(status: StatusCode, message: &str) -> Option<Self> {
        match status {
            StatusCode::FORBIDDEN => Some(NoWork::WorkerCapReached),
            StatusCode::GONE => Some(NoWork::ExperimentClosed),
            StatusCode::CONFLICT if message.contains("needs no more judgments") => {
                Some(NoWork::ExperimentFull)
            }
            StatusCode::CONFLICT if message.contains("not open to workers") => {
                Some(NoWork::NotReady)
            }
            StatusCode::CONFLICT => Some(NoWork::SeenEverythingLeft),
            _ => None,
        }
    }
}

impl fmt::Display for NoWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoWork::ExperimentFull => "the experiment needed no more judgments",
            NoWork::SeenEverythingLeft => "they had seen every stimulus still needing judgments",
            NoWork::WorkerCapReached => "their per-worker limit of assignments was reached",
            NoWork::ExperimentClosed => "the experiment is closed",
            NoWork::NotReady => "the experiment's stimuli are not ready",
        })
    }
}

impl fmt::Display for SimulationSummary {
    /// One line: what was done, who got no work and why, and the retries.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} careless) completed {} with {}",
            count(self.workers, "worker", "workers"),
            self.careless_workers.len(),
            count(self.assignments_completed, "assignment", "assignments"),
            count(self.judgments, "judgment", "judgments"),
        )?;
        let without_work = self.workers_without_work_total();
        if without_work > 0 {
            let reasons: Vec<String> = self
                .workers_without_work
                .iter()
                .map(|(reason, count)| format!("{count} because {reason}"))
                .collect();
            write!(
                f,
                "; {without_work} of them got no work ({})",
                reasons.join(", ")
            )?;
        } else {
            write!(f, "; every worker got work")?;
        }
        if self.retried_requests > 0 {
            write!(
                f,
                "; {} requests were sent again after a connection error or a server error",
                self.retried_requests
            )?;
        }
        Ok(())
    }
}

/// What one simulated worker did.
struct WorkerOutcome {
    assignments: u32,
    judgments: u32,
    /// Why the server gave them nothing, if it never gave them an assignment.
    no_work: Option<NoWork>,
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
    if settings.workers == 0 {
        bail!("the number of workers must be at least 1, not 0");
    }
    // Checked here: a URL that cannot be requested at all would otherwise be
    // retried, silently, like a server that is restarting.
    match reqwest::Url::parse(base_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
        _ => bail!(
            "the server's URL must be an http:// or https:// address such as \
             http://127.0.0.1:3000, not {base_url:?}"
        ),
    }
    let careless_count = (f64::from(settings.workers) * settings.careless_share).round() as u32;
    let client = Client {
        http: reqwest::Client::builder()
            .user_agent(concat!("percept-simulate/", env!("CARGO_PKG_VERSION")))
            // A request the server never answers is sent again, like a lost one.
            .timeout(REQUEST_TIMEOUT)
            .build()?,
        base_url: base_url.trim_end_matches('/').to_owned(),
        retries: Arc::new(AtomicU32::new(0)),
        warned: Arc::new(AtomicBool::new(false)),
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
        let outcome = finished??;
        summary.assignments_completed += outcome.assignments;
        summary.judgments += outcome.judgments;
        if let Some(reason) = outcome.no_work {
            *summary.workers_without_work.entry(reason).or_default() += 1;
        }
    }
    summary.retried_requests = client.retries.load(Ordering::Relaxed);
    Ok(summary)
}

/// Whether worker `index` of `workers` is one of the `careless` ones, which
/// are spaced evenly through the indices.
fn is_careless(index: u32, workers: u32, careless: u32) -> bool {
    let (index, workers, careless) = (u64::from(index), u64::from(workers), u64::from(careless));
    (index * careless) / workers != ((index + 1) * careless) / workers
}

/// How long one request may take before it is given up and sent again.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Transient failures are retried after a delay that doubles from the first
/// to the last, as the browser's submitter does (500 ms to 8 s there).
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(250);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(8);
/// A request that keeps failing for this long ends the simulation.
const GIVE_UP_AFTER: Duration = Duration::from_secs(300);

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base_url: String,
    /// Requests sent again, over the whole run.
    retries: Arc<AtomicU32>,
    /// Whether the first connection error has been reported (once per run,
    /// so that a server that is not there is not met with silence).
    warned: Arc<AtomicBool>,
}

impl Client {
    async fn image(&self, path: &str) -> anyhow::Result<RgbImage> {
        let answer = self
            .send_until_answered(path, || self.http.get(format!("{}{path}", self.base_url)))
            .await?;
        let bytes = answer.ensure_success(path)?.body;
        Ok(image::load_from_memory(&bytes)
            .with_context(|| format!("{path} is not an image"))?
            .to_rgb8())
    }

    /// Posts `body` until the server answers it: the same body again after
    /// a connection error or a 5xx (with a growing delay), or after a rate
    /// limit's Retry-After, as the browser client does. A judgment keeps its
    /// id, so the server stores it once however often it arrives.
    async fn post(&self, path: &str, body: &impl serde::Serialize) -> anyhow::Result<Answer> {
        self.send_until_answered(path, || {
            self.http
                .post(format!("{}{path}", self.base_url))
                .json(body)
        })
        .await
    }

    /// Sends the request `request` builds until the answer, body included,
    /// arrives and is neither a 5xx nor a 429; gives up after [`GIVE_UP_AFTER`].
    async fn send_until_answered(
        &self,
        what: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> anyhow::Result<Answer> {
        let started = Instant::now();
        let mut delay = FIRST_RETRY_DELAY;
        loop {
            let wait = match Answer::receive(request()).await {
                Ok(answer) if answer.status == StatusCode::TOO_MANY_REQUESTS => {
                    Duration::from_secs(answer.retry_after_seconds.unwrap_or(1))
                }
                Ok(answer) if answer.status.is_server_error() => {
                    if started.elapsed() > GIVE_UP_AFTER {
                        answer.ensure_success(what)?;
                    }
                    delay
                }
                Ok(answer) => return Ok(answer),
                Err(error) => {
                    let error = anyhow::Error::from(error);
                    if started.elapsed() > GIVE_UP_AFTER {
                        return Err(error.context(format!(
                            "{what}: no answer from the server for {} s",
                            GIVE_UP_AFTER.as_secs()
                        )));
                    }
                    if !self.warned.swap(true, Ordering::Relaxed) {
                        eprintln!(
                            "no answer from {} ({error:#}); trying again for up to {} s, \
                             as for a server that is restarting (is `percept serve` running \
                             there? --url names another address)",
                            self.base_url,
                            GIVE_UP_AFTER.as_secs()
                        );
                    }
                    delay
                }
            };
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
            if wait == delay {
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }
}

/// A response read whole: a connection cut while the body arrives is
/// retried like one cut before.
struct Answer {
    status: StatusCode,
    retry_after_seconds: Option<u64>,
    body: Vec<u8>,
}

impl Answer {
    async fn receive(request: reqwest::RequestBuilder) -> reqwest::Result<Self> {
        let response = request.send().await?;
        let status = response.status();
        let retry_after_seconds = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok());
        Ok(Self {
            status,
            retry_after_seconds,
            body: response.bytes().await?.to_vec(),
        })
    }

    /// Itself if it succeeded, else an error carrying the server's message.
    fn ensure_success(self, what: &str) -> anyhow::Result<Self> {
        if self.status.is_success() {
            return Ok(self);
        }
        bail!(
            "{what}: the server answered {}: {}",
            self.status,
            self.error_message()
        )
    }

    /// The message of an API error.
    fn error_message(&self) -> String {
        match serde_json::from_slice::<ApiError>(&self.body) {
            Ok(body) => body.error,
            Err(_) => "(no JSON error)".into(),
        }
    }

    fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> anyhow::Result<T> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("{what}: the server's answer is not the JSON expected"))
    }
}

struct SimulatedWorker {
    id: String,
    observer: Observer,
}

impl SimulatedWorker {
    /// Does assignments until the limit, or until the server has none left
    /// for them.
    async fn work(
        mut self,
        client: &Client,
        experiment_id: i64,
        assignment_limit: Option<u32>,
        progress: &ProgressBar,
    ) -> anyhow::Result<WorkerOutcome> {
        let (mut assignments, mut judgments) = (0, 0);
        let mut no_work = None;
        while assignment_limit.is_none_or(|limit| assignments < limit) {
            let path = format!("/api/experiments/{experiment_id}/assignments");
            let request = json!({
                "platform": "prolific",
                "platform_worker_id": self.id,
                "study_id": "simulation",
                "session_id": format!("{}-{assignments}", self.id),
            });
            let answer = client.post(&path, &request).await?;
            // 403: this worker's limit; 409: nothing left that they have not
            // seen (or not ready); 410: closed.
            let status = answer.status;
            if matches!(
                status,
                StatusCode::FORBIDDEN | StatusCode::CONFLICT | StatusCode::GONE
            ) {
                let reason = NoWork::from_refusal(status, &answer.error_message());
                if assignments == 0 {
                    no_work = reason;
                }
                break;
            }
            let assignment: Assignment = answer.ensure_success(&path)?.json(&path)?;
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
        Ok(WorkerOutcome {
            assignments,
            judgments,
            no_work,
        })
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
        let receipt: Receipt = client
            .post(&path, &judgment)
            .await?
            .ensure_success(&path)?
            .json(&path)?;
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
        client
            .post(&path, &judgment)
            .await?
            .ensure_success(&path)?
            .json(&path)
    }
}
