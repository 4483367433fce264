//! The end of an assignment: the completion code, and the way back to the
//! crowd platform when the experiment has one.

use leptos::{prelude::*, task::spawn_local};

use super::browser;

/// How long the code stays on screen before the worker is sent back to the
/// platform, which receives the completion through the redirect itself.
const REDIRECT_DELAY_MS: i32 = 5_000;

#[component]
pub fn Completion(completion_code: String, redirect_url: Option<String>) -> impl IntoView {
    if let Some(url) = redirect_url.clone() {
        Effect::new(move |_| {
            let url = url.clone();
            spawn_local(async move {
                browser::sleep(REDIRECT_DELAY_MS).await;
                browser::go_to(&url);
            });
        });
    }
    view! {
        <section class="completion">
            <h2>"Thank you, you are done!"</h2>
            <p>"Your completion code:"</p>
            <p class="completion-code" id="completion-code">{completion_code}</p>
            {match redirect_url {
                Some(url) => view! {
                    <p>
                        "You will be taken back to the study platform in a few seconds. "
                        <a id="completion-redirect" href=url>"Go back now"</a>
                    </p>
                }
                .into_any(),
                None => view! {
                    <p>"Enter this code on the study platform to finish."</p>
                }
                .into_any(),
            }}
        </section>
    }
}
