//! `/e/{experiment_id}`: where a crowd platform sends its workers. Explains
//! the task, asks for consent, runs the practice trial, then asks the server
//! for an assignment and moves on to `/a/{token}`.
//!
//! The server renders it knowing the experiment (an [`Arrival`], see
//! `server/src/http/worker_landing.rs`): the instructions are those of its
//! kind from the first byte, and a worker it has no work for (no such
//! experiment, closed, full, or their limit reached) is told so at once,
//! with the way back to their platform, instead of after consent and
//! practice.

use leptos::{prelude::*, task::spawn_local};
use leptos_meta::Link;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use super::{browser, crowd::CrowdIdentity, practice::Practice};
use crate::api::{
    arrival::{Arrival, Refusal},
    client::{self, ApiError},
    practice::PracticeTrial,
};

/// Where an anonymous worker's server-given id is kept, so they come back as
/// the same worker (and the per-worker limit holds for them too).
const ANONYMOUS_WORKER_KEY: &str = "percept.anonymous-worker-id";

/// Where the token of a worker's current assignment is kept, per experiment,
/// so coming back through the platform's link resumes it.
fn assignment_key(experiment_id: i64) -> String {
    format!("percept.assignment.{experiment_id}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Instructions,
    Practice,
    Practised,
    Starting,
    Refused(String),
}

#[component]
pub fn LandingPage() -> impl IntoView {
    let params = use_params_map();
    let experiment_id = params.with_untracked(|params| {
        params
            .get("experiment_id")
            .and_then(|id| id.parse::<i64>().ok())
    });
    match experiment_id {
        Some(experiment_id) => view! { <Landing experiment_id/> }.into_any(),
        None => view! { <p>"This link does not lead to an experiment."</p> }.into_any(),
    }
}

#[component]
fn Landing(experiment_id: i64) -> impl IntoView {
    // Looked up by the server as it rendered the page, and carried into
    // hydration; absent when the page is reached some other way.
    let arrival = SharedValue::new(use_context::<Arrival>).into_inner();
    // The practice trial, given by the server with the page when the worker
    // can take part (its images then load with the page's code).
    let practice = SharedValue::new(use_context::<PracticeTrial>).into_inner();
    let unfinished_token = RwSignal::new(None::<String>);
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| {
        hydrated.set(true);
        // Offer the unfinished assignment of an earlier visit, if the
        // server still takes judgments for it (also of a closed experiment,
        // whose running assignments may be finished).
        if let Some(token) = browser::load::<String>(&assignment_key(experiment_id)) {
            spawn_local(async move {
                match client::assignment_progress(&token).await {
                    Ok(progress) if !progress.completed && !progress.expired => {
                        unfinished_token.set(Some(token))
                    }
                    Ok(_) | Err(ApiError::Status { status: 404, .. }) => {
                        browser::forget(&assignment_key(experiment_id))
                    }
                    // Unknown for now: asked again on the next visit.
                    Err(_) => {}
                }
            });
        }
    });
    match arrival.as_ref().and_then(|arrival| arrival.refusal) {
        Some(refusal) => view! {
            <div class="worker-page" data-hydrated=move || hydrated.get().then_some("true")>
                <Refused refusal return_url=arrival.and_then(|arrival| arrival.return_url)/>
                <Resume unfinished_token/>
            </div>
        }
        .into_any(),
        None => view! {
            <Welcome
                experiment_id
                server_practice=practice
                server_says_jnd=arrival.is_some_and(|arrival| arrival.is_jnd())
                hydrated
                unfinished_token
            />
        }
        .into_any(),
    }
}

/// What a worker the experiment has no work for sees, instead of the
/// instructions, consent and practice.
#[component]
fn Refused(refusal: Refusal, return_url: Option<String>) -> impl IntoView {
    view! {
        <section class="refusal" id="arrival-refusal" data-refusal=refusal.as_str()>
            <h1>"No study to take part in here"</h1>
            <p>{refusal.message()}</p>
            {match return_url {
                Some(url) => view! {
                    <p>
                        <a id="return-to-platform" class="button primary" href=url>
                            "Back to the study platform"
                        </a>
                    </p>
                }.into_any(),
                None => view! {
                    <p>
                        "Please return this study on the platform that sent you (on Prolific: "
                        "\"Return submission\"; on Mechanical Turk: \"Return HIT\")."
                    </p>
                }.into_any(),
            }}
        </section>
    }
}

/// The link back into an unfinished assignment of an earlier visit, once
/// the browser has found one.
#[component]
fn Resume(unfinished_token: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        unfinished_token.get().map(|token| {
            view! {
                <p class="resume">
                    "You have an unfinished session. "
                    <a id="resume-assignment" href=format!("/a/{token}")>"Continue it"</a>
                </p>
            }
        })
    }
}

/// Instructions, consent, practice and the start of an assignment.
#[component]
fn Welcome(
    experiment_id: i64,
    /// The practice trial as the server rendered it, if it did.
    server_practice: Option<PracticeTrial>,
    /// The experiment's kind as the server rendered it, until the practice
    /// trial confirms it.
    server_says_jnd: bool,
    hydrated: RwSignal<bool>,
    unfinished_token: RwSignal<Option<String>>,
) -> impl IntoView {
    let query = use_query_map();
    let identity = query.with_untracked(|query| CrowdIdentity::from_query(|name| query.get(name)));
    let can_start = identity != CrowdIdentity::MturkPreview;
    let identity_description = identity.description();
    let recorded_with = identity.recorded_with();
    let step = RwSignal::new(Step::Instructions);
    let consent = RwSignal::new(false);
    // The practice trial, which also says what kind of experiment this is.
    let preloads = server_practice.as_ref().map(image_urls).unwrap_or_default();
    let given = server_practice.is_some();
    let practice = RwSignal::new(server_practice.map(Ok::<_, String>));
    let is_jnd = Memo::new(move |_| {
        practice.with(|practice| match practice {
            Some(Ok(trial)) => matches!(trial, PracticeTrial::Jnd { .. }),
            _ => server_says_jnd,
        })
    });
    Effect::new(move |_| {
        if given {
            return;
        }
        spawn_local(async move {
            let trial = client::practice_trial(experiment_id)
                .await
                .map_err(|error| {
                    format!(
                        "The practice trial could not be loaded: {}",
                        error.message()
                    )
                });
            practice.set(Some(trial));
        });
    });
    let navigate = use_navigate();
    let start = move |_| {
        // One assignment per visit, however often the button is pressed.
        if step.get_untracked() != Step::Practised {
            return;
        }
        let Some(request) =
            identity.assignment_request(browser::load::<String>(ANONYMOUS_WORKER_KEY))
        else {
            return;
        };
        step.set(Step::Starting);
        let navigate = navigate.clone();
        spawn_local(async move {
            match client::request_assignment(experiment_id, &request).await {
                Ok(assignment) => {
                    if request.platform_worker_id.is_none() {
                        browser::save(ANONYMOUS_WORKER_KEY, &assignment.platform_worker_id);
                    }
                    browser::save(&assignment_key(experiment_id), &assignment.token);
                    navigate(&format!("/a/{}", assignment.token), Default::default());
                }
                Err(error) => step.set(Step::Refused(error.message())),
            }
        });
    };
    let practice_done = Callback::new(move |()| step.set(Step::Practised));
    // Mounted once: the practice stays on screen, with its feedback, from
    // the moment it begins.
    let practice_begun = Memo::new(move |_| step.get() != Step::Instructions);
    view! {
        // Fetched with the page's code, so the practice is shown at once.
        {preloads
            .into_iter()
            .map(|href| view! { <Link rel="preload" as_="image" href/> })
            .collect_view()}
        <div class="worker-page" data-hydrated=move || hydrated.get().then_some("true")>
            <h1>{move || if is_jnd.get() { "Did the patch change?" } else { "Which patch looks closer?" }}</h1>
            // One screen at a time: the practice replaces the instructions,
            // so the trial, its feedback and the start button fit on screen.
            {move || (!practice_begun.get()).then(|| view! {
                <Instructions is_jnd identity_description=identity_description.clone()/>
                <Resume unfinished_token/>
                <Consent consent step recorded_with/>
            })}
            {move || practice_begun.get().then(|| practice.get().map(|trial| match trial {
                Ok(trial) => view! { <Practice trial on_done=practice_done/> }.into_any(),
                Err(message) => view! {
                    <p class="error" id="practice-feedback">{message}</p>
                }.into_any(),
            }))}
            {move || match step.get() {
                Step::Practised if can_start => Some(view! {
                    <button id="start-assignment" class="primary" on:click=start.clone()>
                        "Start the study"
                    </button>
                }.into_any()),
                Step::Practised => Some(view! {
                    <p>"Accept the HIT to start the study."</p>
                }.into_any()),
                Step::Starting => Some(view! { <p>"Preparing your trials…"</p> }.into_any()),
                Step::Refused(message) => Some(view! {
                    <p class="error" id="assignment-error">
                        "No trials could be given to you: " {message}
                    </p>
                }.into_any()),
                Step::Instructions | Step::Practice => None,
            }}
        </div>
    }
    // Erased here: the page's full view type is too deep for the compiler.
    .into_any()
}

/// The images a practice trial shows.
fn image_urls(trial: &PracticeTrial) -> Vec<String> {
    match trial {
        PracticeTrial::TwoAfc {
            reference_url,
            left_url,
            right_url,
            ..
        } => vec![left_url.clone(), reference_url.clone(), right_url.clone()],
        PracticeTrial::Jnd {
            reference_url,
            distorted_url,
            ..
        } => vec![reference_url.clone(), distorted_url.clone()],
    }
}

#[component]
fn Instructions(is_jnd: Memo<bool>, identity_description: String) -> impl IntoView {
    let task = move || {
        if is_jnd.get() {
            view! {
                <p>
                    "You will see a small image patch for a second, a short blank, then a "
                    "second patch in the same place. The second is sometimes a changed "
                    "version of the first, and sometimes the same."
                </p>
                <p>
                    <strong>"Say whether the two patches were the same or different"</strong>
                    ": tap a button, or press S (same) or D (different). Keep your eyes on "
                    "the + where the patches appear, and keep this page in front until you "
                    "answer: a trial interrupted by switching away is shown again."
                </p>
            }
            .into_any()
        } else {
            view! {
                <p>
                    "You will see three small image patches side by side. The one in the middle "
                    "is the reference; the ones on the left and right are changed versions of it."
                </p>
                <p>
                    <strong>"Choose the patch that looks more like the middle one"</strong>
                    ": click or tap it, or press ← or → on a keyboard. Go by your first "
                    "impression; there are no trick questions. Each answer moves on at once."
                </p>
            }
            .into_any()
        }
    };
    view! {
    <section class="instructions">
        {task}
        <p>
            "Please do this on a screen you can see well, at a normal viewing distance, "
            "without zooming the page."
        </p>
        <p class="identity">{identity_description}</p>
    </section>
    }
}

#[component]
fn Consent(
    consent: RwSignal<bool>,
    step: RwSignal<Step>,
    recorded_with: &'static str,
) -> impl IntoView {
    view! {
    <section class="consent">
        <label>
            <input
                type="checkbox"
                id="consent"
                prop:checked=move || consent.get()
                on:change=move |event| consent.set(event_target_checked(&event))
            />
            " I agree to take part. My answers, response times and browser type are "
            "recorded " {recorded_with} ", for research on image similarity."
        </label>
        <button
            id="begin-practice"
            disabled=move || !consent.get() || step.get() != Step::Instructions
            on:click=move |_| step.set(Step::Practice)
        >
            "Begin with a practice trial"
        </button>
    </section>
    }
}
