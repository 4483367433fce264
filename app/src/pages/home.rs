use leptos::prelude::*;

/// The landing page. Its "Check hydration" control only responds once the wasm
/// bundle has hydrated the page, which is what the browser test relies on.
#[component]
pub fn HomePage() -> impl IntoView {
    let (checks, set_checks) = signal(0u32);
    view! {
        <h1>"Percept"</h1>
        <p>
            "Human perceptual-similarity judgments (2AFC and JND, as in BAPPS), "
            "scored against LPIPS and classic metrics."
        </p>
        <button id="hydration-check" on:click=move |_| *set_checks.write() += 1>
            "Check hydration"
        </button>
        <p id="hydration-status">
            {move || match checks.get() {
                0 => "Not checked yet.".to_string(),
                n => format!("Interactive: checked {n} time(s)."),
            }}
        </p>
    }
}
