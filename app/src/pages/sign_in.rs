//! `/sign-in`: researchers sign in to the dashboard.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use leptos_router::hooks::use_navigate;

use crate::api::{researcher_client, sessions::SignIn};

#[component]
pub fn SignInPage() -> impl IntoView {
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // Before hydration a submission would go out as a plain GET with the
    // password in the URL: the button only works once the page is live.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let navigate = use_navigate();
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        busy.set(true);
        error.set(None);
        let request = SignIn {
            email: email.get_untracked(),
            password: password.get_untracked(),
        };
        let navigate = navigate.clone();
        spawn_local(async move {
            match researcher_client::sign_in(&request).await {
                Ok(_) => navigate("/dashboard", Default::default()),
                Err(refusal) => {
                    error.set(Some(refusal.message()));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <section class="dashboard sign-in">
            <h1>"Sign in"</h1>
            <p class="hint">"The Percept dashboard is for researchers running experiments."</p>
            <form on:submit=submit>
                <label>
                    "Email"
                    <input id="email" type="email" name="email" required autocomplete="username" bind:value=email/>
                </label>
                <label>
                    "Password"
                    <input id="password" type="password" name="password" required autocomplete="current-password" bind:value=password/>
                </label>
                <button id="sign-in" type="submit" disabled=move || !hydrated.get() || busy.get()>
                    {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                </button>
                {move || error.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
            </form>
        </section>
    }
}
