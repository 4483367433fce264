//! The researcher's dashboard: experiments, their progress and workers, and
//! a browser of their triplets or pairs. Pages render a loading state on the server and fetch
//! their data after hydration; a 401 sends the browser to `/sign-in`.

pub mod experiment;
pub mod experiments;
mod lifecycle;
pub mod new_experiment;
mod pairs;
mod planning;
mod sharing;
mod stimulus_browser;
mod training;

use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};
use leptos::{prelude::*, task::spawn_local};

use crate::api::researcher_client;

/// How often a page showing an experiment being generated asks how far it got.
const GENERATION_POLL: Duration = Duration::from_secs(1);

/// The dashboard's top bar: home of the dashboard, and signing out.
#[component]
fn DashboardBar() -> impl IntoView {
    let sign_out = move |_| {
        spawn_local(async {
            // Signed out or not, the sign-in page is where to go next.
            let _ = researcher_client::sign_out().await;
            let _ = window()
                .location()
                .set_href(researcher_client::SIGN_IN_PAGE);
        })
    };
    view! {
        <nav class="dashboard-bar">
            <a href="/dashboard" class="brand">"Percept dashboard"</a>
            <button id="sign-out" type="button" on:click=sign_out>"Sign out"</button>
        </nav>
    }
}

/// A bar filled to `done / total`, with its numbers.
#[component]
fn ProgressBar(done: i64, total: i64, #[prop(into)] unit: String) -> impl IntoView {
    let percent = if total > 0 {
        (done as f64 / total as f64 * 100.0).clamp(0.0, 100.0)
    } else {
        0.0
    };
    view! {
        <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax=total.to_string() aria-valuenow=done.to_string()>
            <div class="progress-fill" style=format!("width: {percent:.1}%")></div>
        </div>
        <span class="progress-label">{format!("{done} / {total} {unit}")}</span>
    }
}

/// A status as a coloured badge.
#[component]
fn StatusBadge(#[prop(into)] status: String) -> impl IntoView {
    view! { <span class=format!("status status-{status}")>{status.clone()}</span> }
}

/// `2026-11-27 14:05 UTC`
fn utc_minute(time: DateTime<Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        time.year(),
        time.month(),
        time.day(),
        time.hour(),
        time.minute()
    )
}
