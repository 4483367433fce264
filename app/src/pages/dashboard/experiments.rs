//! `/dashboard`: the signed-in researcher's experiments and their progress.

use leptos::prelude::*;

use super::{DashboardBar, ProgressBar, StatusBadge};
use crate::api::{experiments::ExperimentSummary, researcher_client};

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
        </section>
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
                done=i64::from(experiment.triplets_generated)
                total=i64::from(experiment.triplets_total)
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
