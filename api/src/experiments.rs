//! The researcher's view of experiments: the list, one experiment's
//! settings and progress, its workers and its triplets.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `settings` field of `POST /api/experiments`, as the dashboard form
/// sends it; what is left out takes the CLI's defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewExperimentSettings {
    pub name: String,
    #[serde(default = "defaults::split")]
    pub split: String,
    pub category: Option<String>,
    #[serde(default = "defaults::patch_size")]
    pub patch_size: u32,
    #[serde(default = "defaults::patches_per_image")]
    pub patches_per_image: u32,
    #[serde(default)]
    pub sampler: SamplerChoice,
    /// Which distortions make p0 and p1: `traditional` (the default),
    /// `cnn` (networks of the CNN bank), or `mix` (each side drawn from
    /// either family, as BAPPS' `mix` sets).
    #[serde(default)]
    pub distortion_family: DistortionFamily,
    /// Random when left out.
    pub seed: Option<u64>,
    /// Judgments wanted per triplet, or per pair in a JND experiment (the
    /// older name `judgments_per_triplet` is accepted too).
    #[serde(
        default = "defaults::judgments_per_stimulus",
        alias = "judgments_per_triplet"
    )]
    pub judgments_per_stimulus: u32,
    #[serde(default = "defaults::trials_per_assignment")]
    pub trials_per_assignment: u32,
    #[serde(default = "defaults::sentinel_rate")]
    pub sentinel_rate: f64,
    #[serde(default = "defaults::max_assignments_per_worker")]
    pub max_assignments_per_worker: u32,
    #[serde(default = "defaults::assignment_ttl_minutes")]
    pub assignment_ttl_minutes: u64,
    pub completion_redirect_url: Option<String>,
    #[serde(default = "defaults::max_sentinel_failure_share")]
    pub max_sentinel_failure_share: f64,
    /// Present for a JND experiment (absent: 2AFC). Its pairs are cut from
    /// the uploaded images, or taken from `source_experiment_id`'s triplets
    /// (then upload no images); `judgments_per_stimulus` is per pair, and the
    /// sentinel settings do not apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jnd: Option<JndChoice>,
}

/// BAPPS' two stimulus families, and their mix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DistortionFamily {
    /// Pipelines of the 20 traditional distortions.
    #[default]
    Traditional,
    /// Outputs of the networks of the CNN distortion bank.
    Cnn,
    /// Each distorted side drawn from either family with even odds.
    Mix,
}

impl DistortionFamily {
    pub const ALL: [DistortionFamily; 3] = [
        DistortionFamily::Traditional,
        DistortionFamily::Cnn,
        DistortionFamily::Mix,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DistortionFamily::Traditional => "traditional",
            DistortionFamily::Cnn => "cnn",
            DistortionFamily::Mix => "mix",
        }
    }
}

impl std::fmt::Display for DistortionFamily {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl std::str::FromStr for DistortionFamily {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        DistortionFamily::ALL
            .into_iter()
            .find(|family| family.as_str() == name)
            .ok_or_else(|| {
                format!("unknown distortion family {name:?}; choose traditional, cnn or mix")
            })
    }
}

/// A JND experiment's sequence (ms), its share of control pairs, and where
/// its pairs come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JndChoice {
    #[serde(default = "defaults::reference_ms")]
    pub reference_ms: u32,
    #[serde(default = "defaults::gap_ms")]
    pub gap_ms: u32,
    #[serde(default = "defaults::distorted_ms")]
    pub distorted_ms: u32,
    #[serde(default = "defaults::control_share")]
    pub control_share: f64,
    pub source_experiment_id: Option<i64>,
}

/// The CLI's defaults (`percept experiment create --help`), which the form
/// starts from too.
pub mod defaults {
    pub fn split() -> String {
        "train".into()
    }
    pub fn patch_size() -> u32 {
        64
    }
    pub fn patches_per_image() -> u32 {
        10
    }
    pub fn judgments_per_stimulus() -> u32 {
        2
    }
    pub fn trials_per_assignment() -> u32 {
        20
    }
    pub fn sentinel_rate() -> f64 {
        0.1
    }
    pub fn max_assignments_per_worker() -> u32 {
        5
    }
    pub fn assignment_ttl_minutes() -> u64 {
        30
    }
    pub fn max_sentinel_failure_share() -> f64 {
        0.5
    }
    /// BAPPS' JND sequence: 1 s reference, 250 ms blank, 1 s second patch.
    pub fn reference_ms() -> u32 {
        1000
    }
    pub fn gap_ms() -> u32 {
        250
    }
    pub fn distorted_ms() -> u32 {
        1000
    }
    pub fn control_share() -> f64 {
        0.1
    }
}

/// How many distortions each pipeline composes, and of which types (all 20
/// when none are named).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SamplerChoice {
    pub min_steps: usize,
    pub max_steps: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
}

impl Default for SamplerChoice {
    /// BAPPS' traditional distortions: one to three of any type.
    fn default() -> Self {
        Self {
            min_steps: 1,
            max_steps: 3,
            types: Vec::new(),
        }
    }
}

/// The answer to `POST /api/experiments`: generation goes on in the background.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedExperiment {
    pub id: i64,
}

/// One experiment in `GET /api/experiments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExperimentSummary {
    pub id: i64,
    /// `2afc` or `jnd`.
    pub kind: String,
    pub name: String,
    pub split: String,
    pub category: Option<String>,
    /// `generating`, `ready` (open to workers) or `failed`.
    pub status: String,
    /// `open` (hands out assignments), `closed` or `archived` (closed, and
    /// hidden from the dashboard's list).
    pub lifecycle: String,
    pub stimuli_total: i32,
    pub stimuli_generated: i32,
    /// Judgments of real (non-sentinel) triplets so far, and how many the
    /// experiment wants: real triplets × judgments per triplet. For a JND
    /// experiment: valid judgments, and pairs × judgments per pair.
    pub judgments_collected: i64,
    pub judgments_target: i64,
    /// Judgments that came with imported stimuli (a BAPPS tree's counts):
    /// not collected here, so not in `judgments_collected`.
    #[serde(default)]
    pub judgments_imported: i64,
    pub created_at: DateTime<Utc>,
    /// Experiments shared with the signed-in researcher belong to someone else.
    pub owner_email: String,
}

/// `GET /api/experiments/{id}`: settings, generation state and counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExperimentDetail {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub split: String,
    pub category: Option<String>,
    pub patch_size: i32,
    pub patches_per_image: i32,
    pub sampler: serde_json::Value,
    pub seed: i64,
    pub judgments_per_stimulus: i32,
    pub trials_per_assignment: i32,
    pub sentinel_rate: f32,
    pub max_assignments_per_worker: i32,
    pub assignment_ttl_minutes: f64,
    pub completion_redirect_url: Option<String>,
    pub max_sentinel_failure_share: f32,
    pub created_at: DateTime<Utc>,
    pub owner_email: String,
    /// Only the owner shares the experiment with others or stops sharing it.
    pub owned_by_you: bool,
    /// `generating`, `ready` (open to workers) or `failed` (see `generation_error`).
    pub status: String,
    /// `open` (hands out assignments), `closed` or `archived` (closed, and
    /// hidden from the dashboard's list).
    pub lifecycle: String,
    pub generation_error: Option<String>,
    pub stimuli_total: i32,
    pub stimuli_generated: i32,
    pub reference_images: i64,
    pub sentinel_triplets: i64,
    pub workers: i64,
    /// Every judgment, sentinels and flagged workers' included.
    pub judgments: i64,
    pub judgments_collected: i64,
    pub judgments_target: i64,
    /// Judgments that came with imported stimuli (a BAPPS tree's counts):
    /// not collected here, so not in `judgments` or `judgments_collected`.
    #[serde(default)]
    pub judgments_imported: i64,
    /// Stimuli imported from a BAPPS tree (triplets or pairs).
    #[serde(default)]
    pub imported_stimuli: i64,
    /// Whether imported stimuli are handed out to workers too; by default
    /// they are not (they come with their judgments).
    #[serde(default)]
    pub serve_imported_stimuli: bool,
    pub flagged_workers: i64,
    /// The page to send workers to.
    pub worker_url: String,
    /// `worker_url` with each crowd platform's parameters, ready to paste
    /// after the server's address.
    pub worker_links: WorkerLinks,
    /// What the experiment still needs, and what that costs.
    pub planning: Planning,
    /// For a JND experiment: its sequence, pair progress and measured timing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jnd: Option<JndProgress>,
}

/// The worker page's path with the parameters each platform fills in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerLinks {
    /// Prolific replaces the `{{%…%}}` placeholders.
    pub prolific: String,
    /// MTurk (an ExternalQuestion) appends `workerId`, `assignmentId` and `hitId` itself.
    pub mturk: String,
    /// No platform: each browser keeps an id of its own.
    pub anonymous: String,
}

/// Planning figures: what is still needed to reach the target, and what it
/// takes to buy it on a crowd platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Planning {
    /// Judgments still missing, summed per real stimulus (a stimulus past
    /// its target does not make up for another); flagged workers' judgments,
    /// invalid JND trials and sentinels do not count, imported ones do.
    pub judgments_still_needed: i64,
    /// Real (non-sentinel) trials per assignment, on average.
    pub real_trials_per_assignment: f64,
    /// Completed assignments still needed: judgments still needed / real
    /// trials per assignment, rounded up.
    pub assignments_still_needed: i64,
    /// Assignments handed out and still running: their judgments are not in
    /// yet.
    pub open_assignments: i64,
    /// The median response time over every judgment so far; none before the
    /// first.
    pub median_response_ms: Option<f64>,
    /// Trials per assignment × (median response time, plus a JND trial's
    /// presentation sequence), in minutes; none before the first judgment.
    /// Instructions, consent and the practice trial come on top.
    pub expected_minutes_per_assignment: Option<f64>,
    /// Share of the judgments of real stimuli so far that did not count
    /// (flagged workers, invalid JND trials); 0 before the first.
    pub lost_share: f64,
    /// Worker-assignments to buy on Prolific or MTurk: assignments still
    /// needed / (1 − lost share), rounded up.
    pub worker_assignments_to_buy: i64,
}

/// `PATCH /api/experiments/{id}`: what may change after creation. Fields
/// left out stay as they are. The settings that define the stimuli (patch
/// size, seed, patches per image, sampler, sentinel rate, kind, split, JND
/// sequence) cannot change: naming one is refused with the reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExperimentPatch {
    /// `open`, `closed` or `archived`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<String>,
    /// With `lifecycle` `closed` or `archived`: also end the assignments
    /// still running now (their remaining judgments are refused), instead of
    /// letting them be finished.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut_off_open_assignments: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An empty string removes the redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_redirect_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_assignments_per_worker: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judgments_per_stimulus: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_ttl_minutes: Option<u64>,
    /// Hand imported stimuli out to workers too (off by default: they come
    /// with their judgments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serve_imported_stimuli: Option<bool>,
    /// Settings that cannot change after creation, named so that a request
    /// naming one hears why it is refused.
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub fixed: serde_json::Map<String, serde_json::Value>,
}

/// What a lifecycle change did: the experiment's lifecycle now, and how many
/// running assignments it cut off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PatchedExperiment {
    pub experiment: ExperimentDetail,
    /// Running assignments ended by `cut_off_open_assignments`.
    pub assignments_cut_off: i64,
}

/// What deleting an experiment loses (`DELETE /api/experiments/{id}`
/// answers it once the experiment is gone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExperimentDeletion {
    pub id: i64,
    pub name: String,
    /// Collected judgments (2AFC and JND, sentinels and flagged workers' included).
    pub judgments: i64,
    /// Judgments that came with imported stimuli (their counts).
    pub imported_judgments: i64,
    pub workers: i64,
    pub assignments: i64,
    /// Triplets or pairs.
    pub stimuli: i64,
    pub reference_images: i64,
    /// Stored metric distances.
    pub distances: i64,
    pub jobs: i64,
}

/// A JND experiment's pairs, how many judgments count, and how faithfully
/// workers' browsers kept the presentation timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JndProgress {
    pub presentation: crate::jnd::JndPresentation,
    pub control_share: f32,
    /// The 2AFC experiment the pairs were taken from, if any.
    pub source_experiment_id: Option<i64>,
    pub pairs: i64,
    pub control_pairs: i64,
    pub valid_judgments: i64,
    /// Judgments whose timing was off or whose page was hidden or unfocused:
    /// stored, but not counted, and their pairs were served again.
    pub invalid_judgments: i64,
    /// Invalid / all judgments; none before the first.
    pub invalid_share: Option<f64>,
    /// |measured − configured| duration over every judgment, per phase.
    pub timing_errors: Vec<TimingErrorSummary>,
}

/// The distribution of one phase's timing error, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimingErrorSummary {
    /// `reference exposure`, `gap` or `distorted exposure`.
    pub phase: String,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One worker's record in `GET /api/experiments/{id}/workers`.
/// A worker's row id: who did what within one experiment (the crowd
/// platform's own id for them is their `external_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct WorkerId(pub i64);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerStats {
    pub id: WorkerId,
    pub platform: String,
    pub external_id: String,
    pub assignments: i64,
    pub assignments_completed: i64,
    pub judgments: i64,
    pub sentinels_judged: i64,
    pub sentinels_passed: i64,
    /// Passed / judged; none before the first sentinel.
    pub sentinel_pass_rate: Option<f64>,
    pub median_response_ms: Option<f64>,
    /// Failed more than the experiment's share of sentinels: their judgments
    /// are left out of reports and exports.
    pub flagged: bool,
}

/// `GET /api/experiments/{id}/triplets?offset=&limit=`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TripletPage {
    /// All triplets of the experiment, for paging.
    pub total: i64,
    pub offset: i64,
    pub triplets: Vec<TripletView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TripletView {
    pub id: i64,
    pub reference_image_id: i64,
    pub reference_file_name: String,
    pub crop_x: i32,
    pub crop_y: i32,
    /// How p0 and p1 were made; none for triplets imported from a BAPPS
    /// tree, whose distortions are unknown.
    pub p0_pipeline: Option<serde_json::Value>,
    pub p0_seed: Option<i64>,
    pub p1_pipeline: Option<serde_json::Value>,
    pub p1_seed: Option<i64>,
    /// In a method comparison, the method whose output p0 and p1 are (an
    /// anchor's name for an anchor; none for a sentinel's copy of the
    /// reference, and outside method comparisons).
    pub p0_method: Option<String>,
    pub p1_method: Option<String>,
    /// The right answer of a sentinel (0 = p0, 1 = p1); none for real triplets.
    pub sentinel_answer: Option<i16>,
    /// Judgments that count: flagged workers' are left out.
    pub judgments_counted: i64,
    /// Share of the counted judgments that chose p1; none without any.
    pub p1_share: Option<f64>,
    /// Every judgment, flagged workers' included and marked.
    pub judgments: Vec<JudgmentView>,
    pub ref_url: String,
    pub p0_url: String,
    pub p1_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JudgmentView {
    pub worker_id: WorkerId,
    pub worker_platform: String,
    pub worker_external_id: String,
    pub chose_p1: bool,
    pub response_ms: i32,
    pub flagged_worker: bool,
}

/// `GET /api/experiments/{id}/pairs?offset=&limit=`: a JND experiment's pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairPage {
    /// All pairs of the experiment, for paging.
    pub total: i64,
    pub offset: i64,
    pub pairs: Vec<PairView>,
}

/// One JND pair: the reference and the distorted patch, how it was made,
/// and every judgment with its measured timing and validity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairView {
    pub id: i64,
    /// The uploaded image it was cut from, or the source triplet's; none for
    /// imported pairs.
    pub reference_file_name: Option<String>,
    pub crop_x: i32,
    pub crop_y: i32,
    /// A control pair shows the reference twice.
    pub is_control: bool,
    /// How the distorted patch was made; none for imported pairs.
    pub pipeline: Option<serde_json::Value>,
    pub seed: Option<i64>,
    /// The 2AFC triplet it was taken from, if any.
    pub source_triplet_id: Option<i64>,
    /// The BAPPS item it was imported from, if any.
    pub imported_item: Option<String>,
    /// Judgments that came with the imported pair, and their share of "same".
    pub imported_judgments: Option<i32>,
    pub imported_same_share: Option<f64>,
    /// Valid judgments of workers not flagged, and their share of "same".
    pub judgments_counted: i64,
    pub same_share: Option<f64>,
    /// Every judgment, invalid ones and flagged workers' included and marked.
    pub judgments: Vec<PairJudgmentView>,
    pub ref_url: String,
    pub distorted_url: String,
}

/// One judgment of a JND pair, with what the worker's browser measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairJudgmentView {
    pub worker_id: WorkerId,
    pub worker_platform: String,
    pub worker_external_id: String,
    pub said_same: bool,
    pub response_ms: i32,
    pub reference_exposure_ms: f64,
    pub gap_ms: f64,
    pub distorted_exposure_ms: f64,
    pub refresh_interval_ms: f64,
    /// Why the trial was invalid (timing off, page hidden or unfocused);
    /// none for a valid one.
    pub invalid_reason: Option<String>,
    pub flagged_worker: bool,
}

/// `POST /api/experiments/{id}/shares`: give another researcher access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewShare {
    /// The email the researcher signs in with.
    pub email: String,
}

/// A researcher an experiment is shared with: they see, score, report and
/// export it as its owner does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExperimentShare {
    pub researcher_id: i64,
    pub email: String,
    pub shared_at: DateTime<Utc>,
}
