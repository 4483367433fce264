//! Percept's web pages as Leptos components.
//!
//! The same components render to HTML on the server (feature `ssr`) and are
//! hydrated in the browser from the wasm build (feature `hydrate`).

// Leptos views are deeply nested types; the larger pages exceed the default
// limit of 128 when their layout is computed.
#![recursion_limit = "256"]

pub mod api;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    MatchNestedRoutes, ParamSegment, StaticSegment,
};

/// The HTML document around every page: the server renders it once per request.
///
/// It and `App` return type-erased views: the server instantiates its
/// rendering code for whatever type they return, and the full type of every
/// page nested in a router is so long that the debug info of those
/// instantiations alone ran to gigabytes per binary.
pub fn shell(options: LeptosOptions) -> AnyView {
    let options = with_bundle_for_this_page(options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
    .into_any()
}

/// The first URL segment of the crowd worker's pages: the landing page
/// (`/e/{experiment_id}`) and an assignment's trials (`/a/{token}`).
const WORKER_SEGMENTS: [&str; 2] = ["e", "a"];

/// Which hydration bundle the page at `path` loads: `worker` on the crowd
/// worker's pages, built without the researcher's pages (feature
/// `researcher`) so that a worker on a phone downloads only what their
/// trials run; `app`, with every page, elsewhere.
pub fn bundle_for(path: &str) -> &'static str {
    let first = path.trim_start_matches('/').split(['/', '?']).next();
    if first.is_some_and(|segment| WORKER_SEGMENTS.contains(&segment)) {
        "worker"
    } else {
        "app"
    }
}

/// `options` naming the bundle of the page being rendered (see [`bundle_for`]).
fn with_bundle_for_this_page(options: LeptosOptions) -> LeptosOptions {
    #[cfg(feature = "ssr")]
    if let Some(url) = use_context::<leptos_router::location::RequestUrl>() {
        // leptos_axum gives a whole URL (`http://leptos.dev/e/1?…`).
        let url: &str = url.as_ref();
        let path = match url.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |start| &rest[start..]),
            None => url,
        };
        let mut options = options;
        options.output_name = bundle_for(path).into();
        return options;
    }
    options
}

#[component]
pub fn App() -> AnyView {
    provide_meta_context();
    view! {
        <Stylesheet id="percept" href="/percept.css"/>
        <Title text="Percept"/>
        <Router>
            <main>{routes()}</main>
        </Router>
    }
    .into_any()
}

/// Every page: on the server, and in the `app` bundle; the `worker` bundle
/// has the crowd worker's pages only (its researcher routes are none).
fn routes() -> impl IntoView {
    view! {
        <Routes fallback=|| view! { <p>"Page not found."</p> }>
            <WorkerRoutes/>
            <ResearcherRoutes/>
        </Routes>
    }
}

/// The crowd worker's pages, in both bundles.
#[component(transparent)]
fn WorkerRoutes() -> impl MatchNestedRoutes + Clone {
    view! {
        <Route
            path=(StaticSegment(WORKER_SEGMENTS[0]), ParamSegment("experiment_id"))
            view=pages::worker::landing::LandingPage
        />
        <Route
            path=(StaticSegment(WORKER_SEGMENTS[1]), ParamSegment("token"))
            view=pages::worker::assignment::AssignmentPage
        />
    }
    .into_inner()
}

/// The researcher's pages: on the server, and in the `app` bundle.
#[cfg(feature = "researcher")]
#[component(transparent)]
fn ResearcherRoutes() -> impl MatchNestedRoutes + Clone {
    view! {
        <Route path=StaticSegment("") view=pages::home::HomePage/>
        <Route path=StaticSegment("sign-in") view=pages::sign_in::SignInPage/>
        <Route
            path=StaticSegment("dashboard")
            view=pages::dashboard::experiments::ExperimentsPage
        />
        <Route
            path=(StaticSegment("dashboard"), StaticSegment("new"))
            view=pages::dashboard::new_experiment::NewExperimentPage
        />
        <Route
            path=(
                StaticSegment("dashboard"),
                StaticSegment("experiments"),
                ParamSegment("experiment_id"),
            )
            view=pages::dashboard::experiment::ExperimentPage
        />
    }
    .into_inner()
}

/// The `worker` bundle has no researcher's page.
#[cfg(not(feature = "researcher"))]
#[component(transparent)]
fn ResearcherRoutes() -> impl MatchNestedRoutes + Clone {}

/// Entry point of the wasm build: attaches the browser to the server-rendered DOM.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
