//! `/dashboard`: the signed-in researcher's experiments and their progress
//! (archived ones hidden unless asked for), and the job queue's work on them,
//! where a failed job is retried or dismissed.

use leptos::{prelude::*, task::spawn_local};

use super::{DashboardBar, ProgressBar, StatusBadge};
use crate::api::{experiments::ExperimentSummary, jobs::JobSummary, researcher_client};

#[component]
pub fn ExperimentsPage() -> impl IntoView {
    let experiments = LocalResource::new(researcher_client::experiments);
    // Follow experiments being generated until they are done.
    Effect::new(move |_| {
        if let Some(Ok(list)) = experiments.get() {
            if list
                .iter()
                .any(|experiment| experiment.status == "generating")
            {
                set_timeout(move || experiments.refetch(), super::GENERATION_POLL);
            }
        }
    });
    let show_archived = RwSignal::new(false);
    view! {
        <section class="dashboard">
            <DashboardBar/>
            <div class="dashboard-title">
                <h1>"Experiments"</h1>
                <a id="new-experiment" class="button" href="/dashboard/new">"New experiment"</a>
            </div>
            {move || match experiments.get() {
                None => view! { <p class="loading">"Loading experiments…"</p> }.into_any(),
                Some(Err(error)) => view! { <p class="error">{error.message()}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => {
                    view! { <p class="hint">"No experiments yet."</p> }.into_any()
                }
                Some(Ok(list)) => {
                    let archived = list.iter().filter(|e| e.lifecycle == "archived").count();
                    let shown: Vec<ExperimentSummary> = list
                        .into_iter()
                        .filter(|e| show_archived.get() || e.lifecycle != "archived")
                        .collect();
                    let toggle = (archived > 0).then(|| view! {
                        <label class="show-archived">
                            <input
                                type="checkbox"
                                id="show-archived"
                                prop:checked=move || show_archived.get()
                                on:change=move |event| show_archived.set(event_target_checked(&event))
                            />
                            {format!(" Show archived experiments ({archived})")}
                        </label>
                    });
                    view! {
                        {toggle}
                        <table class="experiments" id="experiments">
                            <thead>
                                <tr>
                                    <th>"Id"</th>
                                    <th>"Kind"</th>
                                    <th>"Experiment"</th>
                                    <th>"Split"</th>
                                    <th>"Status"</th>
                                    <th>"Judgments"</th>
                                    <th>"Created"</th>
                                    <th>"Owner"</th>
                                </tr>
                            </thead>
                            <tbody>{shown.into_iter().map(experiment_row).collect_view()}</tbody>
                        </table>
                    }
                        .into_any()
                }
            }}
            <Jobs/>
        </section>
    }
}

/// The job queue's work on these experiments: kind, progress, the process
/// working on each, and why one failed.
#[component]
fn Jobs() -> impl IntoView {
    let jobs = LocalResource::new(researcher_client::jobs);
    // Follow open jobs until they end.
    Effect::new(move |_| {
        if let Some(Ok(list)) = jobs.get() {
            if list
                .iter()
                .any(|job| job.status == "queued" || job.status == "running")
            {
                set_timeout(move || jobs.refetch(), super::GENERATION_POLL);
            }
        }
    });
    // Why a retry or dismissal was refused, if it was.
    let failure = RwSignal::new(None::<String>);
    view! {
        <h2>"Jobs"</h2>
        {move || failure.get().map(|message| view! { <p class="error" id="job-action-error">{message}</p> })}
        {move || match jobs.get() {
            None => view! { <p class="loading">"Loading jobs…"</p> }.into_any(),
            Some(Err(error)) => view! { <p class="error">{error.message()}</p> }.into_any(),
            Some(Ok(list)) if list.is_empty() => {
                view! { <p class="hint">"No jobs yet."</p> }.into_any()
            }
            Some(Ok(list)) => view! {
                <table class="jobs" id="jobs">
                    <thead>
                        <tr>
                            <th>"Job"</th>
                            <th>"Kind"</th>
                            <th>"Experiment"</th>
                            <th>"Status"</th>
                            <th>"Progress"</th>
                            <th>"Process"</th>
                            <th>"Error"</th>
                            <th></th>
                        </tr>
                    </thead>
                    <tbody>{list.into_iter().map(|job| job_row(job, jobs, failure)).collect_view()}</tbody>
                </table>
            }
            .into_any(),
        }}
    }
}

/// One job; a failed one can be retried, a finished or failed one dismissed.
fn job_row(
    job: JobSummary,
    jobs: LocalResource<Result<Vec<JobSummary>, crate::api::client::ApiError>>,
    failure: RwSignal<Option<String>>,
) -> impl IntoView {
    let job_id = job.id;
    let act = move |retry: bool| {
        spawn_local(async move {
            let done = if retry {
                researcher_client::retry_job(job_id).await.map(|_| ())
            } else {
                researcher_client::dismiss_job(job_id).await
            };
            failure.set(done.err().map(|error| error.message()));
            jobs.refetch();
        })
    };
    let retry = (job.status == "failed").then(|| {
        view! {
            <button type="button" class="retry-job" on:click=move |_| act(true)>"Retry"</button>
        }
    });
    let dismiss = matches!(job.status.as_str(), "failed" | "done").then(|| {
        view! {
            <button type="button" class="dismiss-job" on:click=move |_| act(false)>"Dismiss"</button>
        }
    });
    let kind = match job.payload["metric"].as_str() {
        Some(metric) => format!("{} ({metric})", job.kind),
        None => job.kind.clone(),
    };
    // A bank build counts networks; the others count stimuli.
    let unit = if job.kind == "cnn-bank" {
        "networks"
    } else {
        "stimuli"
    };
    let experiment = job.experiment_id.map(|id| {
        view! { <a href=format!("/dashboard/experiments/{id}")>{id}</a> }
    });
    view! {
        <tr>
            <td>{job.id}</td>
            <td>{kind}</td>
            <td>{experiment}</td>
            <td><StatusBadge status=job.status/></td>
            <td>
                <ProgressBar done=job.progress_done total=job.progress_total.unwrap_or(0) unit=unit/>
            </td>
            <td>{job.owner_process.unwrap_or_default()}</td>
            <td>{job.error.unwrap_or_default()}</td>
            <td>{retry} {dismiss}</td>
        </tr>
    }
}

fn experiment_row(experiment: ExperimentSummary) -> impl IntoView {
    let href = format!("/dashboard/experiments/{}", experiment.id);
    let split = match &experiment.category {
        Some(category) => format!("{} · {category}", experiment.split),
        None => experiment.split.clone(),
    };
    let generating = (experiment.status == "generating").then(|| {
        view! {
            <ProgressBar
                done=i64::from(experiment.stimuli_generated)
                total=i64::from(experiment.stimuli_total)
                unit="triplets"
            />
        }
    });
    let lifecycle = (experiment.lifecycle != "open")
        .then(|| view! { <StatusBadge status=experiment.lifecycle.clone()/> });
    view! {
        <tr data-experiment-id=experiment.id.to_string()>
            <td>{experiment.id}</td>
            <td>{experiment.kind.to_uppercase()}</td>
            <td>
                <a href=href>{experiment.name}</a>
            </td>
            <td>{split}</td>
            <td>
                <StatusBadge status=experiment.status/>
                " "
                {lifecycle}
                {generating}
            </td>
            <td>
                <ProgressBar
                    done=experiment.judgments_collected
                    total=experiment.judgments_target
                    unit="judgments"
                />
                {(experiment.judgments_imported > 0).then(|| view! {
                    <span class="imported">{format!(" + {} imported", experiment.judgments_imported)}</span>
                })}
            </td>
            <td>{super::utc_minute(experiment.created_at)}</td>
            <td>{experiment.owner_email}</td>
        </tr>
    }
}
