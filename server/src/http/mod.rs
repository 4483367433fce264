//! The web app: Leptos pages rendered on the server, the JSON API, and static files.
//!
//! Static files go out as `cargo xtask build` left them: precompressed
//! (brotli, gzip) next to each file, picked by the request's
//! `Accept-Encoding`. The hydration bundle sits under a content-hashed
//! folder, `/pkg/<hash>/`, so browsers keep it for a year and a new build is
//! a new URL; the CSS keeps its name and is revalidated (`Last-Modified`).

mod access;
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
mod training;
mod trial_images;
mod worker_landing;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use app::shell;
use axum::http::{header, HeaderValue};
use axum::{
    extract::{DefaultBodyLimit, FromRef},
    middleware,
    routing::{delete, get, post},
    Router,
};
use leptos::prelude::LeptosOptions;
use leptos_axum::LeptosRoutes;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tower_http::{services::ServeDir, set_header::SetResponseHeaderLayer, trace::TraceLayer};

use crate::error::Error;
use rate_limits::{RateLimitSettings, RateLimits};

/// What every request handler can reach. Cheap to clone; beyond the pool it
/// holds only rate-limit counters, which may differ between servers, so any
/// number of servers can share a database.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub leptos: LeptosOptions,
    pub limits: Arc<RateLimits>,
}

impl AppState {
    pub fn new(pool: PgPool, static_dir: PathBuf, limits: &RateLimitSettings) -> Self {
        Self {
            pool,
            leptos: leptos_options(static_dir),
            limits: Arc::new(RateLimits::new(limits)),
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// Leptos settings for a site whose CSS and built wasm/js live in `static_dir`
/// (the wasm bundle under `static_dir/pkg`, as `cargo xtask` builds it),
/// served under [`bundle_path`].
fn leptos_options(static_dir: PathBuf) -> LeptosOptions {
    let bundle_path = bundle_path(&static_dir);
    LeptosOptions::builder()
        .output_name("app")
        .site_root(static_dir.to_string_lossy().into_owned())
        .site_pkg_dir(bundle_path)
        .build()
}

/// The URL folder of the hydration bundle: `pkg/` and the first 16 hex
/// digits of the SHA-256 of its JavaScript and wasm (plain `pkg` when there
/// is no bundle, which `percept serve` warns about).
fn bundle_path(static_dir: &Path) -> String {
    let mut hash = Sha256::new();
    for file in ["app.js", "app_bg.wasm"] {
        match std::fs::read(static_dir.join("pkg").join(file)) {
            Ok(bytes) => hash.update(&bytes),
            Err(_) => return "pkg".into(),
        }
    }
    let digest = hash.finalize();
    let hex: String = digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("pkg/{hex}")
}

/// Static files as a service, with what a cache may do with them and that
/// they vary by encoding.
fn cached(files: ServeDir, cache_control: &'static str) -> Router {
    Router::new()
        .fallback_service(files.precompressed_br().precompressed_gzip())
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        ))
        .layer(SetResponseHeaderLayer::appending(
            header::VARY,
            HeaderValue::from_static("accept-encoding"),
        ))
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
    let site_root = PathBuf::from(state.leptos.site_root.as_ref());
    // A content-hashed name never changes meaning: keep it a year.
    let bundle = cached(
        ServeDir::new(site_root.join("pkg")),
        "public, max-age=31536000, immutable",
    );
    let static_files = cached(ServeDir::new(&site_root), "no-cache");
    let routes = worker_landing::other_routes();
    let leptos = state.leptos.clone();
    Router::new()
        .route("/healthz", get(health::check))
        .method_not_allowed_fallback(method_not_allowed)
        .nest("/api", api())
        .nest_service(&format!("/{}", state.leptos.site_pkg_dir), bundle)
        .route(worker_landing::PATH, get(worker_landing::page))
        .leptos_routes(&state, routes, move || shell(leptos.clone()))
        .fallback_service(static_files)
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
