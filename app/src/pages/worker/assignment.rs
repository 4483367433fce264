//! `/a/{token}`: the trials of one assignment, then its completion code.
//!
//! The page asks the server where the assignment stands (and whether its
//! trials are 2AFC or JND), so a reload resumes at the first unanswered
//! trial. The next trial's images are fetched and decoded while a trial is
//! on screen (for JND, while its question is asked, so that nothing loads
//! during the timed sequence); answers are submitted in the background.
//!
//! A link whose token no assignment has is told by the server as it renders
//! the page (an [`UnknownAssignmentLink`] in the context, answered with 404),
//! so the worker reads at once, script or not, that the link is not valid.

use std::collections::VecDeque;

use futures::{channel::mpsc, StreamExt};
use leptos::{prelude::*, task::spawn_local};
use leptos_router::hooks::use_params_map;

use super::{
    browser,
    completion::Completion,
    jnd_trial::{self, JndStage, JndStageView},
    submission::{Answer, SubmissionOutcome, Submitter},
    trial::{start_loading, ImageUrls, LoadedTrial, PendingTrial, Stage, TrialStage},
};
use crate::api::{
    assignments::{AssignmentProgress, TrialUrls},
    client,
    jnd::{JndAssignment, JndTrialUrls, NewJndJudgment},
    judgments::NewJudgment,
};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Loading,
    Trials,
    /// Every trial is answered; waiting for the server to acknowledge them.
    Saving,
    Completed {
        completion_code: String,
        redirect_url: Option<String>,
    },
    Failed(String),
}

/// How often the assignment, or a trial's images, are fetched before the
/// worker is told they cannot be loaded: with `load_retry_delay_ms` between
/// attempts, enough to ride out about two minutes of server downtime (a
/// restart, a deploy) while answers wait in the submission queue.
const LOAD_ATTEMPTS: u32 = 20;

fn load_retry_delay_ms(attempt: u32) -> i32 {
    (1_000 * attempt as i32).min(8_000)
}

/// Provided by the server rendering `/a/{token}` when no assignment has the
/// token.
#[derive(Debug, Clone, Copy)]
pub struct UnknownAssignmentLink;

/// What the page says to a link no assignment has.
const INVALID_LINK: &str = "This link is not valid: there is no session of a study at it. \
                            Please go back to the study platform and start the study from its link.";

#[component]
pub fn AssignmentPage() -> impl IntoView {
    let params = use_params_map();
    let token = params.with_untracked(|params| params.get("token").unwrap_or_default());
    // Known by the server as it rendered the page, and carried into hydration.
    let unknown_link =
        SharedValue::new(|| use_context::<UnknownAssignmentLink>().is_some()).into_inner();
    let phase = RwSignal::new(if unknown_link {
        Phase::Failed(INVALID_LINK.into())
    } else {
        Phase::Loading
    });
    // Answered trials (acknowledged or not) and all trials.
    let answered = RwSignal::new(0usize);
    let total = RwSignal::new(0usize);
    let stage = Stage::new();
    let jnd_stage = JndStage::new();
    // Known once the assignment is loaded; 2AFC until then.
    let is_jnd = RwSignal::new(false);
    Effect::new(move |_| {
        if unknown_link {
            return;
        }
        let token = token.clone();
        let page = Page {
            stage,
            jnd_stage,
            is_jnd,
            phase,
            answered,
            total,
        };
        spawn_local(async move {
            if let Err(message) = run(&token, page).await {
                phase.set(Phase::Failed(message));
            }
        });
    });
    let progress_percent = move || {
        let total = total.get();
        if total == 0 {
            0.0
        } else {
            100.0 * answered.get() as f64 / total as f64
        }
    };
    let in_trials = Memo::new(move |_| matches!(phase.get(), Phase::Loading | Phase::Trials));
    view! {
        <div class="worker-page assignment" data-phase=move || phase_name(&phase.get())>
            <div
                class="progress"
                role="progressbar"
                aria-valuemin="0"
                aria-valuemax=move || total.get()
                aria-valuenow=move || answered.get()
            >
                <div class="progress-fill" style:width=move || format!("{}%", progress_percent())></div>
            </div>
            <p class="progress-label">
                {move || format!("{} of {} answered", answered.get(), total.get())}
            </p>
            <div class="trial-area" class:hidden=move || !in_trials.get()>
                {move || if is_jnd.get() {
                    view! { <JndStageView stage=jnd_stage/> }.into_any()
                } else {
                    view! { <TrialStage stage/> }.into_any()
                }}
            </div>
            {move || match phase.get() {
                Phase::Loading => Some(view! { <p class="status">"Loading your trials…"</p> }.into_any()),
                Phase::Trials => None,
                Phase::Saving => Some(view! {
                    <p class="status" id="saving">"Saving your answers…"</p>
                }.into_any()),
                Phase::Completed { completion_code, redirect_url } => Some(view! {
                    <Completion completion_code redirect_url/>
                }.into_any()),
                Phase::Failed(message) => Some(view! {
                    <p class="error" id="assignment-error">{message}</p>
                }.into_any()),
            }}
        </div>
    }
}

/// For tests and styling: what the page is doing.
fn phase_name(phase: &Phase) -> &'static str {
    match phase {
        Phase::Loading => "loading",
        Phase::Trials => "trials",
        Phase::Saving => "saving",
        Phase::Completed { .. } => "completed",
        Phase::Failed(_) => "failed",
    }
}

/// The page's state, shared by the 2AFC and JND runs.
#[derive(Clone, Copy)]
struct Page {
    stage: Stage,
    jnd_stage: JndStage,
    is_jnd: RwSignal<bool>,
    phase: RwSignal<Phase>,
    answered: RwSignal<usize>,
    total: RwSignal<usize>,
}

async fn run(token: &str, page: Page) -> Result<(), String> {
    let mut attempt = 1;
    let progress = loop {
        match client::assignment_progress(token).await {
            Ok(progress) => break progress,
            Err(error) if error.is_transient() && attempt < LOAD_ATTEMPTS => {
                browser::sleep(load_retry_delay_ms(attempt)).await;
                attempt += 1;
            }
            Err(error) => {
                return Err(format!(
                    "Your trials could not be loaded: {}",
                    error.message()
                ))
            }
        }
    };
    let trial_count = progress
        .jnd
        .as_ref()
        .map_or(progress.trials.len(), |jnd| jnd.trials.len());
    page.total.set(trial_count);
    if progress.completed {
        page.answered.set(trial_count);
        page.phase.set(Phase::Completed {
            completion_code: progress.completion_code.unwrap_or_default(),
            redirect_url: progress.redirect_url,
        });
        return Ok(());
    }
    if progress.expired {
        return Err(
            "This session has expired: its time limit passed before it was finished. \
                    Please go back to the study platform."
                .into(),
        );
    }
    match progress.jnd.clone() {
        Some(jnd) => {
            page.is_jnd.set(true);
            run_jnd(token, page, &progress, jnd).await
        }
        None => run_two_afc(token, page, progress).await,
    }
}

/// The submitter of the assignment with `token`, reporting to the page.
fn submitter<J: Answer>(
    token: &str,
    progress: &AssignmentProgress,
    phase: RwSignal<Phase>,
    on_receipt: impl Fn(J::Receipt) + 'static,
) -> std::rc::Rc<Submitter<J>> {
    Submitter::resume(
        token,
        &progress.judged_positions,
        move |outcome| match outcome {
            SubmissionOutcome::Acknowledged(receipt) => on_receipt(receipt),
            SubmissionOutcome::Completed {
                completion_code,
                redirect_url,
            } => phase.set(Phase::Completed {
                completion_code,
                redirect_url,
            }),
            SubmissionOutcome::Refused(message) => phase.set(Phase::Failed(format!(
                "An answer was not accepted: {message}"
            ))),
        },
    )
}

/// Trials neither judged by the server nor waiting to be sent.
fn unanswered<T>(
    trials: Vec<T>,
    position: impl Fn(&T) -> i32,
    progress: &AssignmentProgress,
    pending: &[i32],
) -> Vec<T> {
    trials
        .into_iter()
        .filter(|trial| {
            !progress.judged_positions.contains(&position(trial))
                && !pending.contains(&position(trial))
        })
        .collect()
}

/// Once the trials are done: saving, unless an answer completed or was refused.
fn finish(phase: RwSignal<Phase>) {
    phase.update(|phase| {
        if *phase == Phase::Trials {
            *phase = Phase::Saving;
        }
    });
}

async fn run_two_afc(token: &str, page: Page, progress: AssignmentProgress) -> Result<(), String> {
    let Page {
        stage,
        phase,
        answered,
        total,
        ..
    } = page;
    let submitter = submitter::<NewJudgment>(token, &progress, phase, |_| {});
    let pending = submitter.pending_positions();
    let remaining = unanswered(
        progress.trials.clone(),
        |trial| trial.position,
        &progress,
        &pending,
    );
    answered.set(total.get_untracked() - remaining.len());
    phase.set(Phase::Trials);

    let mut next = remaining.first().map(load);
    for (index, trial_urls) in remaining.iter().enumerate() {
        let Some(current) = next.take() else { break };
        let trial = loaded(current, trial_urls).await?;
        // Fetched and decoded while this trial is on screen.
        next = remaining.get(index + 1).map(load);
        let Some(choice) = stage.present(trial).await else {
            return Ok(());
        };
        if !matches!(phase.get_untracked(), Phase::Trials) {
            // An answer was refused: the assignment takes no more.
            return Ok(());
        }
        submitter.submit(NewJudgment {
            id: browser::random_uuid(),
            position: trial_urls.position,
            chosen_side: choice.side,
            response_ms: choice.response_ms,
            client_time: browser::now(),
        });
        answered.update(|answered| *answered += 1);
    }
    finish(phase);
    Ok(())
}

/// JND trials run one after the other; an invalid one comes back (the
/// server appends it, and its receipt says where), so the run ends only
/// when every answer is acknowledged and no retry is waiting.
async fn run_jnd(
    token: &str,
    page: Page,
    progress: &AssignmentProgress,
    jnd: JndAssignment,
) -> Result<(), String> {
    let Page {
        jnd_stage: stage,
        phase,
        answered,
        total,
        ..
    } = page;
    let (receipts, mut acknowledged) = mpsc::unbounded::<Option<JndTrialUrls>>();
    let submitter = submitter::<NewJndJudgment>(token, progress, phase, move |receipt| {
        let _ = receipts.unbounded_send(receipt.retry);
    });
    let pending = submitter.pending_positions();
    let mut unacknowledged = pending.len();
    let mut known: Vec<i32> = jnd.trials.iter().map(|trial| trial.position).collect();
    let mut queue: VecDeque<JndTrialUrls> =
        unanswered(jnd.trials, |trial| trial.position, progress, &pending).into();
    answered.set(total.get_untracked() - queue.len());
    phase.set(Phase::Trials);
    let refresh_interval_ms = jnd_trial::measure_refresh_interval().await;

    let mut next = queue
        .pop_front()
        .map(|trial| (jnd_trial::start_loading(&trial), trial));
    loop {
        let Some((current, trial_urls)) = next.take() else {
            if unacknowledged == 0 {
                break;
            }
            // Waiting for the server to say whether a trial must be repeated.
            match acknowledged.next().await {
                Some(retry) => {
                    unacknowledged = unacknowledged.saturating_sub(1);
                    enqueue_retry(retry, &mut known, &mut queue, total);
                    next = queue
                        .pop_front()
                        .map(|trial| (jnd_trial::start_loading(&trial), trial));
                    continue;
                }
                None => break,
            }
        };
        let trial = loaded_jnd(current, &trial_urls).await?;
        let Some(timing) = stage
            .show(&trial, jnd.presentation, refresh_interval_ms)
            .await
        else {
            return Ok(());
        };
        // Acknowledgements that came in during the sequence, then the next
        // trial's images, fetched and decoded while the question is asked.
        while let Ok(retry) = acknowledged.try_recv() {
            unacknowledged = unacknowledged.saturating_sub(1);
            enqueue_retry(retry, &mut known, &mut queue, total);
        }
        next = queue
            .pop_front()
            .map(|trial| (jnd_trial::start_loading(&trial), trial));
        let Some(answer) = stage.ask().await else {
            return Ok(());
        };
        if !matches!(phase.get_untracked(), Phase::Trials) {
            return Ok(());
        }
        submitter.submit(NewJndJudgment {
            id: browser::random_uuid(),
            position: trial_urls.position,
            said_same: answer.said_same,
            response_ms: answer.response_ms,
            client_time: browser::now(),
            timing,
        });
        unacknowledged += 1;
        answered.update(|answered| *answered += 1);
        if next.is_none() {
            next = queue
                .pop_front()
                .map(|trial| (jnd_trial::start_loading(&trial), trial));
        }
    }
    finish(phase);
    Ok(())
}

/// Queues a trial the server appended to repeat an invalid one, unless it
/// is already known (a receipt for an answer from an earlier visit).
fn enqueue_retry(
    retry: Option<JndTrialUrls>,
    known: &mut Vec<i32>,
    queue: &mut VecDeque<JndTrialUrls>,
    total: RwSignal<usize>,
) {
    if let Some(retry) = retry.filter(|retry| !known.contains(&retry.position)) {
        known.push(retry.position);
        queue.push_back(retry);
        total.update(|total| *total += 1);
    }
}

async fn loaded_jnd(
    pending: Result<jnd_trial::PendingJndTrial, String>,
    trial: &JndTrialUrls,
) -> Result<jnd_trial::LoadedJndTrial, String> {
    retry_loading(
        pending,
        || jnd_trial::start_loading(trial),
        |pending| pending.ready(),
    )
    .await
}

fn load(trial: &TrialUrls) -> Result<PendingTrial, String> {
    start_loading(
        trial.position,
        ImageUrls {
            reference: &trial.reference_url,
            left: &trial.left_url,
            right: &trial.right_url,
        },
    )
}

/// The trial `pending` was loading, fetched again if that failed.
async fn loaded(
    pending: Result<PendingTrial, String>,
    trial: &TrialUrls,
) -> Result<LoadedTrial, String> {
    retry_loading(pending, || load(trial), |pending| pending.ready()).await
}

/// What `pending` was loading (with `ready`), loaded again with `load` if
/// that failed, up to `LOAD_ATTEMPTS` times.
async fn retry_loading<P, L, F>(
    mut pending: Result<P, String>,
    load: impl Fn() -> Result<P, String>,
    ready: impl Fn(P) -> F,
) -> Result<L, String>
where
    F: std::future::Future<Output = Result<L, String>>,
{
    let mut attempt = 1;
    loop {
        match ready(pending?).await {
            Ok(loaded) => return Ok(loaded),
            Err(message) if attempt == LOAD_ATTEMPTS => return Err(message),
            Err(_) => {
                browser::sleep(load_retry_delay_ms(attempt)).await;
                attempt += 1;
                pending = load();
            }
        }
    }
}
