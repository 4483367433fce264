//! `/e/{experiment_id}`, the page crowd platforms send workers to, rendered
//! with what the server knows of the experiment (`percept_core::arrival`):
//! its kind, so the instructions are the right ones before any script runs,
//! and whether it has work, so that a worker is told on arrival (with the
//! way back to their platform) rather than after consent and practice.
//!
//! A worker who can take part also gets the practice trial in the page,
//! with its images preloaded from the page's head: on a slow phone the
//! practice is answerable as soon as the page hydrates, instead of after
//! the round trips to ask for it and then for its images.

use std::collections::HashMap;

use app::api::arrival::{Arrival, Refusal};
use app::api::practice::PracticeTrial;
use app::pages::worker::crowd::CrowdIdentity;
use app::{shell, App};
use axum::{
    body::Body,
    extract::{Query, State},
    http::{Request, StatusCode},
    response::{IntoResponse, Response},
};
use leptos::prelude::provide_context;

use super::AppState;

/// The route, as the Leptos route list names it (left out of that list, so
/// that this handler serves it).
pub const PATH: &str = "/e/{experiment_id}";

pub async fn page(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
    request: Request<Body>,
) -> Response {
    let query = query.map(|Query(query)| query).unwrap_or_default();
    let id = experiment_id(request.uri().path());
    let (arrival, practice) = match id {
        Some(experiment_id) => {
            let arrival = lookup(&state, experiment_id, &query).await;
            let practice = match &arrival {
                Some(arrival) if arrival.refusal.is_none() => {
                    practice_trial(&state, experiment_id).await
                }
                _ => None,
            };
            (arrival, practice)
        }
        // The page itself says the link leads nowhere.
        None => (None, None),
    };
    // A link to no experiment (an unknown id, or no id at all, `/e/abc`) is
    // a 404 (the page still tells the worker so).
    let missing = id.is_none()
        || arrival
            .as_ref()
            .is_some_and(|arrival| arrival.refusal == Some(Refusal::NotFound));
    let leptos = state.leptos.clone();
    let render = leptos_axum::render_app_to_stream_with_context(
        move || {
            if let Some(arrival) = arrival.clone() {
                provide_context(arrival);
            }
            if let Some(practice) = practice.clone() {
                provide_context(practice);
            }
        },
        move || shell(leptos.clone()),
    );
    let mut response = render(request).await.into_response();
    if missing {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    response
}

/// The id in `/e/{id}`, if it is one.
fn experiment_id(path: &str) -> Option<i64> {
    path.strip_prefix("/e/")?.trim_end_matches('/').parse().ok()
}

/// The experiment as the worker the query names meets it; `None` (the page
/// then learns the kind from its practice trial, as before) if the database
/// cannot say now.
async fn lookup(
    state: &AppState,
    experiment_id: i64,
    query: &HashMap<String, String>,
) -> Option<Arrival> {
    let identity = CrowdIdentity::from_query(|name| {
        query
            .get(name)
            .filter(|value| !value.contains('\0'))
            .cloned()
    });
    let request = identity.assignment_request(None);
    match percept_core::arrival::arrival(&state.pool, experiment_id, request.as_ref()).await {
        Ok(arrival) => Some(arrival),
        Err(error) => {
            tracing::warn!(experiment_id, %error, "the landing page is rendered without the experiment's state");
            None
        }
    }
}

/// The experiment's practice trial; `None` (the page then asks for it
/// after hydration, as before) if the database cannot say now.
async fn practice_trial(state: &AppState, experiment_id: i64) -> Option<PracticeTrial> {
    match percept_core::practice::trial(&state.pool, experiment_id).await {
        Ok(trial) => Some(trial),
        Err(error) => {
            tracing::warn!(experiment_id, %error, "the landing page is rendered without its practice trial");
            None
        }
    }
}

/// The app's routes for `leptos_routes`, without this one and the
/// assignment page's (`super::assignment_page`), which have handlers of
/// their own.
pub fn other_routes() -> Vec<leptos_axum::AxumRouteListing> {
    leptos_axum::generate_route_list_with_exclusions(
        App,
        Some(vec![
            PATH.to_owned(),
            super::assignment_page::PATH.to_owned(),
        ]),
    )
}
