//! An experiment's lifecycle on its page (owner only): close it (running
//! assignments may be finished, or cut off), reopen or archive it, edit the
//! settings that are safe to change after creation (the server's refusals
//! shown as they are), and delete it once its name is typed, saying what is
//! lost. The same as `PATCH`/`DELETE /api/experiments/{id}`.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use percept_api::count;

use super::StatusBadge;
use crate::api::client::ApiError;
use crate::api::experiments::{ExperimentDetail, ExperimentPatch};
use crate::api::researcher_client;

type Detail = LocalResource<Result<ExperimentDetail, ApiError>>;

/// `notice` says what the last change did; it outlives the reload of
/// `detail` that the change causes.
#[component]
pub fn Lifecycle(
    experiment: ExperimentDetail,
    detail: Detail,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    view! {
        <section class="lifecycle" id="lifecycle">
            <h2>"Lifecycle"</h2>
            {move || notice.get().map(|text| view! { <p class="notice" id="lifecycle-notice" role="status">{text}</p> })}
            <LifecycleState experiment=experiment.clone() detail notice/>
            <EditSettings experiment=experiment.clone() detail notice/>
            <DeleteExperiment experiment/>
        </section>
    }
}

#[component]
fn LifecycleState(
    experiment: ExperimentDetail,
    detail: Detail,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let id = experiment.id;
    let running = experiment.planning.open_assignments;
    let cut_off = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let change = move |lifecycle: &'static str| {
        let patch = ExperimentPatch {
            lifecycle: Some(lifecycle.into()),
            cut_off_open_assignments: lifecycle != "open" && cut_off.get_untracked(),
            ..ExperimentPatch::default()
        };
        spawn_local(async move {
            match researcher_client::patch_experiment(id, &patch).await {
                Ok(patched) => {
                    error.set(None);
                    notice.set(Some(lifecycle_notice(
                        lifecycle,
                        running,
                        patched.assignments_cut_off,
                        patch.cut_off_open_assignments,
                    )));
                    detail.refetch();
                }
                Err(refusal) => error.set(Some(refusal.message())),
            }
        });
    };
    let state = match experiment.lifecycle.as_str() {
        "open" => format!(
            "Open: workers who arrive are given assignments. {running} assignment{} running now.",
            if running == 1 { " is" } else { "s are" }
        ),
        "closed" => format!(
            "Closed: no new assignments are handed out (workers who arrive are told so). \
             {running} assignment{} still running.",
            if running == 1 { " is" } else { "s are" }
        ),
        _ => "Archived: closed, and hidden from your list of experiments.".into(),
    };
    let closable = experiment.lifecycle != "archived";
    let cut_off_choice = (closable && running > 0).then(|| {
        view! {
            <label class="cut-off">
                <input
                    type="checkbox"
                    id="cut-off"
                    prop:checked=move || cut_off.get()
                    on:change=move |event| cut_off.set(event_target_checked(&event))
                />
                {format!(
                    " Also end the {running} running assignment{} now (their remaining trials are refused). \
                     Left unticked, they may still be finished.",
                    if running == 1 { "" } else { "s" }
                )}
            </label>
        }
    });
    view! {
        <p id="lifecycle-state">
            <StatusBadge status=experiment.lifecycle.clone()/>
            " "
            {state}
        </p>
        {cut_off_choice}
        <p class="lifecycle-actions">
            {(experiment.lifecycle == "open").then(|| view! {
                <button type="button" id="close" on:click=move |_| change("closed")>"Close"</button>
            })}
            {(experiment.lifecycle != "open").then(|| view! {
                <button type="button" id="reopen" on:click=move |_| change("open")>"Reopen"</button>
            })}
            {closable.then(|| view! {
                <button type="button" id="archive" on:click=move |_| change("archived")>"Archive"</button>
            })}
        </p>
        {move || error.get().map(|message| view! { <p class="error" id="lifecycle-error" role="alert">{message}</p> })}
    }
}

/// What a lifecycle change did, in a sentence.
fn lifecycle_notice(lifecycle: &str, running: i64, cut: i64, cutting: bool) -> String {
    match lifecycle {
        "open" => "Reopened: workers are given assignments again.".into(),
        _ => {
            let what = if lifecycle == "archived" {
                "Archived (closed, and hidden from your list)"
            } else {
                "Closed"
            };
            if cutting {
                format!("{what}: no new assignments; {cut} running assignment(s) were cut off.")
            } else {
                format!(
                    "{what}: no new assignments; the {running} running assignment(s) may still be finished."
                )
            }
        }
    }
}

/// The settings that may change after creation; the others define the
/// stimuli and are shown under Settings only.
#[component]
fn EditSettings(
    experiment: ExperimentDetail,
    detail: Detail,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let id = experiment.id;
    let name = RwSignal::new(experiment.name.clone());
    let redirect = RwSignal::new(
        experiment
            .completion_redirect_url
            .clone()
            .unwrap_or_default(),
    );
    let cap = RwSignal::new(experiment.max_assignments_per_worker.to_string());
    let wanted = RwSignal::new(experiment.judgments_per_stimulus.to_string());
    let ttl = RwSignal::new(format!("{:.0}", experiment.assignment_ttl_minutes));
    let serve_imported = RwSignal::new(experiment.serve_imported_stimuli);
    let error = RwSignal::new(None::<String>);
    let before = experiment.clone();
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let patch = match edited(
            &before,
            &name.get_untracked(),
            &redirect.get_untracked(),
            &cap.get_untracked(),
            &wanted.get_untracked(),
            &ttl.get_untracked(),
            serve_imported.get_untracked(),
        ) {
            Ok(patch) => patch,
            Err(message) => {
                error.set(Some(message));
                return;
            }
        };
        if patch == ExperimentPatch::default() {
            error.set(Some("Nothing to save: no setting was changed.".into()));
            return;
        }
        spawn_local(async move {
            match researcher_client::patch_experiment(id, &patch).await {
                Ok(_) => {
                    error.set(None);
                    notice.set(Some("Settings saved.".into()));
                    detail.refetch();
                }
                Err(refusal) => error.set(Some(refusal.message())),
            }
        });
    };
    let stimulus = if experiment.jnd.is_some() {
        "pair"
    } else {
        "triplet"
    };
    let imported_choice = (experiment.imported_stimuli > 0).then(|| {
        view! {
            <label class="checkbox">
                <input
                    type="checkbox"
                    id="edit-serve-imported"
                    prop:checked=move || serve_imported.get()
                    on:change=move |event| serve_imported.set(event_target_checked(&event))
                />
                {format!(
                    " Hand the {} imported {stimulus}s out to workers too (they came with their own judgments)",
                    experiment.imported_stimuli
                )}
            </label>
        }
    });
    view! {
        <details class="edit-settings" id="edit-settings">
            <summary>"Edit settings"</summary>
            <p class="hint">
                "Patch size, seed, distortions, sentinels and the JND sequence define the stimuli \
                 and cannot change; create a new experiment for those."
            </p>
            <form on:submit=submit>
                <label>"Name" <input id="edit-name" type="text" bind:value=name/></label>
                <label>
                    "Completion redirect (empty: none)"
                    <input id="edit-redirect" type="text" placeholder="https://app.prolific.com/submissions/complete?cc=…" bind:value=redirect/>
                </label>
                <label>"Max assignments per worker" <input id="edit-cap" type="number" bind:value=cap/></label>
                <label>
                    {format!("Judgments wanted per {stimulus}")}
                    <input id="edit-judgments" type="number" bind:value=wanted/>
                </label>
                <label>"Assignment expiry (minutes)" <input id="edit-ttl" type="number" bind:value=ttl/></label>
                {imported_choice}
                <button type="submit" id="save-settings">"Save"</button>
            </form>
            {move || error.get().map(|message| view! { <p class="error" id="edit-error" role="alert">{message}</p> })}
        </details>
    }
}

/// The patch of what the form changed; an unreadable number is refused here,
/// out-of-range values by the server, with its reason.
fn edited(
    before: &ExperimentDetail,
    name: &str,
    redirect: &str,
    cap: &str,
    wanted: &str,
    ttl: &str,
    serve_imported: bool,
) -> Result<ExperimentPatch, String> {
    fn number<T: std::str::FromStr>(field: &str, text: &str) -> Result<T, String> {
        text.trim()
            .parse()
            .map_err(|_| format!("{field} must be a whole number of at least 1, not {text:?}"))
    }
    let cap: u32 = number("Max assignments per worker", cap)?;
    let wanted: u32 = number("Judgments wanted", wanted)?;
    let ttl: u64 = number("Assignment expiry", ttl)?;
    let redirect = redirect.trim();
    Ok(ExperimentPatch {
        name: (name != before.name).then(|| name.to_owned()),
        completion_redirect_url: (Some(redirect) != before.completion_redirect_url.as_deref()
            && !(redirect.is_empty() && before.completion_redirect_url.is_none()))
        .then(|| redirect.to_owned()),
        max_assignments_per_worker: (i64::from(cap)
            != i64::from(before.max_assignments_per_worker))
        .then_some(cap),
        judgments_per_stimulus: (i64::from(wanted) != i64::from(before.judgments_per_stimulus))
            .then_some(wanted),
        assignment_ttl_minutes: (ttl as f64 != before.assignment_ttl_minutes.round())
            .then_some(ttl),
        serve_imported_stimuli: (serve_imported != before.serve_imported_stimuli)
            .then_some(serve_imported),
        ..ExperimentPatch::default()
    })
}

/// Deleting needs the experiment's name typed, and says first what is lost.
#[component]
fn DeleteExperiment(experiment: ExperimentDetail) -> impl IntoView {
    let id = experiment.id;
    let name = experiment.name.clone();
    let typed = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let loss = format!(
        "Deleting it loses, for good: {} from {}, {}, \
         {} from {}, and every metric distance, report and job of it.",
        count(
            experiment.judgments,
            "collected judgment",
            "collected judgments"
        ),
        count(experiment.workers, "worker", "workers"),
        count(
            experiment.judgments_imported,
            "imported judgment",
            "imported judgments"
        ),
        if experiment.jnd.is_some() {
            count(experiment.stimuli_generated, "pair", "pairs")
        } else {
            count(experiment.stimuli_generated, "triplet", "triplets")
        },
        count(
            experiment.reference_images,
            "reference image",
            "reference images"
        ),
    );
    let matches = {
        let name = name.clone();
        move || typed.get().trim() == name
    };
    let delete = move |event: SubmitEvent| {
        event.prevent_default();
        busy.set(true);
        let confirm = typed.get_untracked().trim().to_owned();
        spawn_local(async move {
            match researcher_client::delete_experiment(id, &confirm).await {
                Ok(_) => {
                    if let Some(window) = web_sys::window() {
                        let _ = window.location().set_href("/dashboard");
                    }
                }
                Err(refusal) => {
                    error.set(Some(refusal.message()));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <details class="delete-experiment" id="delete-experiment">
            <summary>"Delete this experiment"</summary>
            <p class="warning" id="delete-loss">{loss}</p>
            <form on:submit=delete>
                <label>
                    {format!("Type its name, {name:?}, to confirm")}
                    <input id="delete-confirm" type="text" autocomplete="off" bind:value=typed/>
                </label>
                <button type="submit" id="delete" class="danger" disabled=move || busy.get() || !matches()>
                    "Delete for good"
                </button>
            </form>
            {move || error.get().map(|message| view! { <p class="error" id="delete-error" role="alert">{message}</p> })}
        </details>
    }
}
