//! `/dashboard`: the signed-in researcher's experiments and their progress.

use leptos::prelude::*;

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
                    view! {
                        <table class="experiments">
                            <thead>
                                <tr>
                                    <th>"Experiment"</th>
                                    <th>"Split"</th>
                                    <th>"Status"</th>
                                    <th>"Judgments"</th>
                                    <th>"Created"</th>
                                    <th>"Owner"</th>
                                </tr>
                            </thead>
                            <tbody>{list.into_iter().map(experiment_row).collect_view()}</tbody>
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
    view! {
        <h2>"Jobs"</h2>
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
                        </tr>
                    </thead>
                    <tbody>{list.into_iter().map(job_row).collect_view()}</tbody>
                </table>
            }
            .into_any(),
        }}
    }
}

fn job_row(job: JobSummary) -> impl IntoView {
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
    view! {
        <tr>
            <td>
                <a href=href>{experiment.name}</a>
            </td>
            <td>{split}</td>
            <td>
                <StatusBadge status=experiment.status/>
                {generating}
            </td>
            <td>
                <ProgressBar
                    done=experiment.judgments_collected
                    total=experiment.judgments_target
                    unit="judgments"
                />
            </td>
            <td>{super::utc_minute(experiment.created_at)}</td>
            <td>{experiment.owner_email}</td>
        </tr>
    }
}
