//! Who else sees an experiment: its owner shares it with other researchers
//! by email and can take a share back; those it is shared with see who owns it.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};

use crate::api::researcher_client;

#[component]
pub fn Sharing(id: i64, owner_email: String, owned_by_you: bool) -> impl IntoView {
    let shares = LocalResource::new(move || researcher_client::shares(id));
    let email = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        busy.set(true);
        spawn_local(async move {
            match researcher_client::share(id, email.get_untracked()).await {
                Ok(_) => {
                    email.set(String::new());
                    error.set(None);
                    shares.refetch();
                }
                Err(refusal) => error.set(Some(refusal.message())),
            }
            busy.set(false);
        });
    };
    let unshare = move |researcher_id: i64| {
        spawn_local(async move {
            match researcher_client::unshare(id, researcher_id).await {
                Ok(()) => shares.refetch(),
                Err(refusal) => error.set(Some(refusal.message())),
            }
        });
    };
    view! {
        <section class="sharing" id="sharing">
            <h2>"Sharing"</h2>
            <p class="hint">
                {if owned_by_you {
                    "Researchers you share this experiment with see, score, report and export it as you do."
                        .to_string()
                } else {
                    format!("{owner_email} owns this experiment and shared it with you.")
                }}
            </p>
            {move || match shares.get() {
                None => view! { <p class="loading">"Loading…"</p> }.into_any(),
                Some(Err(refusal)) => view! { <p class="error">{refusal.message()}</p> }.into_any(),
                Some(Ok(shares)) if shares.is_empty() => {
                    view! { <p id="shared-with">"Not shared with anyone."</p> }.into_any()
                }
                Some(Ok(shares)) => view! {
                    <ul id="shared-with">
                        {shares
                            .into_iter()
                            .map(|share| {
                                let researcher_id = share.researcher_id;
                                view! {
                                    <li>
                                        {share.email}
                                        {owned_by_you.then(|| view! {
                                            " "
                                            <button type="button" class="link" on:click=move |_| unshare(researcher_id)>
                                                "Stop sharing"
                                            </button>
                                        })}
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                .into_any(),
            }}
            {owned_by_you.then(|| view! {
                <form class="share-form" on:submit=submit>
                    <label>
                        "Share with (email)"
                        <input id="share-email" type="email" required bind:value=email/>
                    </label>
                    <button id="share" type="submit" disabled=move || busy.get()>"Share"</button>
                </form>
            })}
            {move || error.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
        </section>
    }
}
