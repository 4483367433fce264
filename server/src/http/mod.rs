//! The web app: Leptos pages rendered on the server, the JSON API, and static files.
//!
//! Static files are embedded in the binary and sent precompressed, with
//! caching headers (see [`static_files`]); the pages and the API are
//! compressed as they go out when the client accepts it (images, already
//! compressed, and archives excepted).

mod access;
mod assignment_page;
mod assignment_progress;
mod assignments;
mod cross_origin;
mod experiment_pairs;
mod experiment_shares;
mod experiment_triplets;
mod experiments;
mod exports;
mod extract;
mod health;
mod jnd_judgments;
mod jobs;
mod judgments;
mod method_upload;
mod openapi;
mod practice;
pub mod rate_limits;
mod reports;
mod scoring;
mod sessions;
pub mod static_files;
mod stimulus_pages;
mod training;
mod trial_images;
mod worker_landing;

use std::sync::Arc;

use app::shell;
use axum::{
    extract::{DefaultBodyLimit, FromRef, Request},
    middleware,
    response::IntoResponse,
    routing::{delete, get, post},
    Router,
};
use leptos::prelude::LeptosOptions;
use leptos_axum::LeptosRoutes;
use sqlx::PgPool;
use tower_http::{
    compression::{
        predicate::{NotForContentType, Predicate},
        CompressionLayer, DefaultPredicate,
    },
    trace::TraceLayer,
};

use crate::error::Error;
use rate_limits::{RateLimitSettings, RateLimits};
use static_files::StaticFiles;

/// What every request handler can reach. Cheap to clone; beyond the pool it
/// holds only rate-limit counters, which may differ between servers, so any
/// number of servers can share a database.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub leptos: LeptosOptions,
    pub limits: Arc<RateLimits>,
    pub static_files: StaticFiles,
}

impl AppState {
    pub fn new(pool: PgPool, static_files: StaticFiles, limits: &RateLimitSettings) -> Self {
        Self {
            pool,
            leptos: leptos_options(static_files.bundle_path()),
            limits: Arc::new(RateLimits::new(limits)),
            static_files,
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// Leptos settings for a site whose hydration bundle is served under
/// `bundle_path` (see [`StaticFiles::bundle_path`]).
fn leptos_options(bundle_path: &str) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("app")
        .site_pkg_dir(bundle_path)
        .build()
}

/// What is not a page or an API endpoint: a static file, or 404.
async fn static_file(
    axum::extract::State(files): axum::extract::State<StaticFiles>,
    request: Request,
) -> axum::response::Response {
    files
        .respond(request.method(), request.uri().path(), request.headers())
        .unwrap_or_else(|| {
            (axum::http::StatusCode::NOT_FOUND, "there is no such file").into_response()
        })
}

impl FromRef<AppState> for StaticFiles {
    fn from_ref(state: &AppState) -> Self {
        state.static_files.clone()
    }
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
        .route(
            "/assignments/{token}/jnd-judgments",
            post(jnd_judgments::submit),
        )
        .route("/assignments/{token}", get(assignment_progress::get))
        .route("/experiments/{experiment_id}/practice", get(practice::get))
        .route(
            "/experiments/{experiment_id}/practice/{image}",
            get(practice::image),
        )
        .route(
            "/session",
            get(sessions::get)
                .post(sessions::create)
                .delete(sessions::delete),
        )
        .route(
            "/experiments",
            get(experiments::list)
                .post(experiments::create)
                .layer(DefaultBodyLimit::max(experiments::MAX_UPLOAD_BYTES)),
        )
        .route(
            "/experiments/{experiment_id}",
            get(experiments::get)
                .patch(experiments::patch)
                .delete(experiments::delete),
        )
        .route(
            "/experiments/{experiment_id}/workers",
            get(experiments::workers),
        )
        .route(
            "/experiments/{experiment_id}/shares",
            get(experiment_shares::list).post(experiment_shares::create),
        )
        .route(
            "/experiments/{experiment_id}/shares/{researcher_id}",
            delete(experiment_shares::delete),
        )
        .route(
            "/experiments/{experiment_id}/triplets",
            get(experiment_triplets::list),
        )
        .route(
            "/experiments/{experiment_id}/triplets/{triplet_id}/{image}",
            get(experiment_triplets::image),
        )
        .route("/metrics", get(scoring::catalogue))
        .route(
            "/experiments/{experiment_id}/scoring",
            get(scoring::progress).post(scoring::enqueue),
        )
        .route(
            "/experiments/{experiment_id}/training",
            get(training::list).post(training::enqueue),
        )
        .route(
            "/experiments/{experiment_id}/training/{model_id}/curve.svg",
            get(training::curve),
        )
        .route("/experiments/{experiment_id}/report", get(reports::json))
        .route(
            "/experiments/{experiment_id}/report.html",
            get(reports::html),
        )
        .route(
            "/experiments/{experiment_id}/export.tar.gz",
            get(exports::tar_gz),
        )
        .route(
            "/experiments/{experiment_id}/judgments.csv",
            get(exports::judgments_csv),
        )
        .route(
            "/experiments/{experiment_id}/jnd_judgments.csv",
            get(exports::jnd_judgments_csv),
        )
        .route(
            "/experiments/{experiment_id}/workers.csv",
            get(exports::workers_csv),
        )
        .route(
            "/experiments/{experiment_id}/pairs",
            get(experiment_pairs::list),
        )
        .route(
            "/experiments/{experiment_id}/pairs/{pair_id}/{image}",
            get(experiment_pairs::image),
        )
        .route("/jobs", get(jobs::list))
        .route("/jobs/{job_id}", delete(jobs::dismiss))
        .route("/jobs/{job_id}/retry", post(jobs::retry))
        .route("/openapi.json", get(openapi::openapi_json))
        .method_not_allowed_fallback(method_not_allowed)
        // Unknown API paths answer in JSON too, rather than with a page.
        .fallback(|| async { Error::NotFound("there is no such API endpoint".into()) })
}

pub fn router(state: AppState) -> Router {
    let routes = worker_landing::other_routes();
    let leptos = state.leptos.clone();
    // Static files carry their own (pre)compression, which the layer leaves
    // alone; PNGs are compressed already and exports are gzip archives.
    let compressible =
        DefaultPredicate::new().and(NotForContentType::const_new("application/gzip"));
    Router::new()
        .route("/healthz", get(health::check))
        .method_not_allowed_fallback(method_not_allowed)
        .nest("/api", api())
        .route(worker_landing::PATH, get(worker_landing::page))
        .route(assignment_page::PATH, get(assignment_page::page))
        .leptos_routes(&state, routes, move || shell(leptos.clone()))
        .fallback(static_file)
        .layer(CompressionLayer::new().compress_when(compressible))
        .layer(middleware::from_fn(cross_origin::refuse_cross_site_changes))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Known paths asked with another method answer in JSON too (axum keeps the
/// Allow header).
async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed(
        "this endpoint does not answer to that method (the Allow header lists those it does)"
            .into(),
    )
}
