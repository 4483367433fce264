//! What running the study takes: the planning figures (what is still
//! needed and what to buy on a crowd platform), and the worker links as full
//! addresses with each platform's parameters, ready to paste.

use leptos::prelude::*;
use leptos::wasm_bindgen::{JsCast, JsValue};

use crate::api::experiments::{Planning, WorkerLinks as Links};

#[component]
pub fn PlanningFigures(planning: Planning, jnd: bool) -> impl IntoView {
    let stimulus = if jnd { "pair" } else { "triplet" };
    let minutes = match planning.expected_minutes_per_assignment {
        Some(minutes) => format!(
            "{minutes:.1} min ({:.0} trials × the median response of {:.0} ms{}), plus instructions and practice",
            planning.real_trials_per_assignment,
            planning.median_response_ms.unwrap_or_default(),
            if jnd { " plus the sequence" } else { "" },
        ),
        None => "known after the first judgments (from their median response time)".into(),
    };
    let figures = [
        (
            "Judgments still needed",
            format!(
                "{} (summed per {stimulus}; flagged workers' and invalid ones do not count)",
                planning.judgments_still_needed
            ),
        ),
        (
            "Assignments still needed",
            format!(
                "{} ({:.1} real trials each); {} running now",
                planning.assignments_still_needed,
                planning.real_trials_per_assignment,
                planning.open_assignments
            ),
        ),
        ("Expected time per assignment", minutes),
        (
            "Worker-assignments to buy",
            format!(
                "{} on Prolific or MTurk ({:.0}% of judgments so far did not count)",
                planning.worker_assignments_to_buy,
                planning.lost_share * 100.0
            ),
        ),
    ];
    view! {
        <section class="planning" id="planning">
            <h2>"Planning"</h2>
            <dl>
                {figures
                    .into_iter()
                    .map(|(name, value)| view! { <dt>{name}</dt> <dd>{value}</dd> })
                    .collect_view()}
            </dl>
        </section>
    }
}

/// The worker page's address on this server, with each platform's
/// parameters, each with a copy button.
#[component]
pub fn WorkerLinks(links: Links) -> impl IntoView {
    // Rendered after hydration only (the experiment is fetched by the
    // browser), so the address bar's origin is at hand.
    let origin = web_sys::window()
        .and_then(|window| window.location().origin().ok())
        .unwrap_or_default();
    let rows = [
        (
            "prolific",
            "Prolific",
            links.prolific,
            "Paste as the study URL: Prolific fills in the {{%…%}} placeholders.",
        ),
        (
            "mturk",
            "MTurk",
            links.mturk,
            "Use as the ExternalQuestion URL: MTurk adds workerId, assignmentId and hitId itself.",
        ),
        (
            "anonymous",
            "Anyone",
            links.anonymous,
            "No platform: each browser keeps an anonymous id of its own.",
        ),
    ];
    view! {
        <section class="worker-links" id="worker-links">
            <h2>"Worker links"</h2>
            <table>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|(key, platform, path, hint)| {
                            let url = format!("{origin}{path}");
                            let copied = RwSignal::new(None::<&'static str>);
                            let copy_url = url.clone();
                            let copy = move |_| {
                                let outcome = copy_to_clipboard(&copy_url);
                                copied.set(Some(if outcome {
                                    "Copied"
                                } else {
                                    "Select the link and copy it (Ctrl+C)"
                                }));
                            };
                            view! {
                                <tr>
                                    <th>{platform}</th>
                                    <td>
                                        <input
                                            type="text"
                                            readonly
                                            class="worker-link"
                                            id=format!("worker-link-{key}")
                                            value=url
                                            on:focus=|event| {
                                                if let Some(input) = event
                                                    .target()
                                                    .and_then(|target| target.dyn_into::<web_sys::HtmlInputElement>().ok())
                                                {
                                                    input.select();
                                                }
                                            }
                                        />
                                        <span class="hint">{hint}</span>
                                    </td>
                                    <td>
                                        <button type="button" class="copy" id=format!("copy-{key}") on:click=copy>
                                            "Copy"
                                        </button>
                                        <span class="copied">{move || copied.get()}</span>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// Hands `text` to `navigator.clipboard.writeText`; false where the browser
/// has no clipboard API (an insecure origin).
fn copy_to_clipboard(text: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let get = |target: &JsValue, name: &str| js_sys::Reflect::get(target, &JsValue::from_str(name));
    let Ok(navigator) = get(&JsValue::from(window), "navigator") else {
        return false;
    };
    let Ok(clipboard) = get(&navigator, "clipboard") else {
        return false;
    };
    if clipboard.is_undefined() || clipboard.is_null() {
        return false;
    }
    let Ok(write) = get(&clipboard, "writeText")
        .and_then(|write| write.dyn_into::<js_sys::Function>().map_err(JsValue::from))
    else {
        return false;
    };
    write.call1(&clipboard, &JsValue::from_str(text)).is_ok()
}
