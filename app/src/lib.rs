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
    ParamSegment, StaticSegment,
};

/// The HTML document around every page: the server renders it once per request.
///
/// It and `App` return type-erased views: the server instantiates its
/// rendering code for whatever type they return, and the full type of every
/// page nested in a router is so long that the debug info of those
/// instantiations alone ran to gigabytes per binary.
pub fn shell(options: LeptosOptions) -> AnyView {
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

#[component]
pub fn App() -> AnyView {
    provide_meta_context();
    view! {
        <Stylesheet id="percept" href="/percept.css"/>
        <Title text="Percept"/>
        <Router>
            <main>
                <Routes fallback=|| view! { <p>"Page not found."</p> }>
                    <Route path=StaticSegment("") view=pages::home::HomePage/>
                    <Route
                        path=(StaticSegment("e"), ParamSegment("experiment_id"))
                        view=pages::worker::landing::LandingPage
                    />
                    <Route
                        path=(StaticSegment("a"), ParamSegment("token"))
                        view=pages::worker::assignment::AssignmentPage
                    />
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
                </Routes>
            </main>
        </Router>
    }
    .into_any()
}

/// Entry point of the wasm build: attaches the browser to the server-rendered DOM.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
