//! The web app: Leptos pages rendered on the server, the JSON API, and static files.

mod assignments;
mod extract;
mod health;
mod judgments;
mod trial_images;

use std::path::PathBuf;

use app::{shell, App};
use axum::{
    extract::FromRef,
    routing::{get, post},
    Router,
};
use leptos::prelude::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use sqlx::PgPool;
use tower_http::{services::ServeDir, trace::TraceLayer};

use crate::error::Error;

/// What every request handler can reach. Cheap to clone; holds no state of
/// its own beyond the pool, so any number of servers can share a database.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub leptos: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// Leptos settings for a site whose CSS and built wasm/js live in `static_dir`
/// (the wasm bundle under `static_dir/pkg`, as `cargo xtask` builds it).
pub fn leptos_options(static_dir: PathBuf) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("app")
        .site_root(static_dir.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .build()
}

/// The JSON API, one module per resource.
fn api() -> Router<AppState> {
    Router::new()
        .route(
            "/experiments/{experiment_id}/assignments",
            post(assignments::create),
        )
        .route(
            "/assignments/{token}/trials/{position}/{image}",
            get(trial_images::get),
        )
        .route("/assignments/{token}/judgments", post(judgments::submit))
        // Unknown API paths answer in JSON too, rather than with a page.
        .fallback(|| async { Error::NotFound("there is no such API endpoint".into()) })
}

pub fn router(state: AppState) -> Router {
    let static_files = ServeDir::new(state.leptos.site_root.as_ref());
    let routes = generate_route_list(App);
    let leptos = state.leptos.clone();
    Router::new()
        .route("/healthz", get(health::check))
        .nest("/api", api())
        .leptos_routes(&state, routes, move || shell(leptos.clone()))
        .fallback_service(static_files)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
