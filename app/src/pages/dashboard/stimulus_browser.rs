//! The experiment page's stimulus browser: a page of stimuli at a time,
//! reloaded as generation goes on or the researcher refreshes. Triplets
//! (2AFC) and pairs (JND) share the paging and loading; each kind brings
//! how a page of it is fetched and how one of it is shown.

use std::future::Future;

use leptos::prelude::*;

use crate::api::client::ApiError;

/// Stimuli per page of the browser.
const PER_PAGE: i64 = 12;

/// One page of stimuli, as the API's paged lists give them.
#[derive(Clone)]
pub(super) struct Page<S> {
    pub offset: i64,
    /// All the experiment's stimuli of this kind, for paging.
    pub total: i64,
    pub items: Vec<S>,
}

/// A kind of stimulus the browser pages through.
pub(super) trait Stimulus: Clone + Sized + 'static {
    /// Its name in the plural, capitalised: the heading ("Triplets").
    const PLURAL: &'static str;
    /// The id of the text saying which stimuli are shown ("Triplets 1–12 of 40").
    const RANGE_ID: &'static str;
    /// The classes of the list of cards.
    const LIST_CLASS: &'static str;

    /// Up to `limit` of experiment `id`'s stimuli from `offset` on.
    fn fetch(
        id: i64,
        offset: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Page<Self>, ApiError>> + 'static;

    /// One stimulus, with patches drawn at twice `patch_size`.
    fn card(self, patch_size: i32) -> AnyView;
}

/// The browser of experiment `id`'s stimuli of kind `S`, reloaded when
/// `generated` or `refreshed` changes.
pub(super) fn stimulus_browser<S: Stimulus>(
    id: i64,
    generated: Memo<Option<i32>>,
    refreshed: RwSignal<u32>,
    patch_size: Signal<i32>,
) -> impl IntoView {
    let offset = RwSignal::new(0_i64);
    let page = LocalResource::new(move || {
        let offset = offset.get();
        generated.track();
        refreshed.track();
        S::fetch(id, offset, PER_PAGE)
    });
    let plural = S::PLURAL;
    let lower = plural.to_lowercase();
    view! {
        <h2>{plural}</h2>
        {move || {
            let patch_size = patch_size.get();
            match page.get() {
                None => view! { <p class="loading">{format!("Loading {lower}…")}</p> }.into_any(),
                Some(Err(error)) => view! { <p class="error">{error.message()}</p> }.into_any(),
                Some(Ok(page)) => {
                    let first = page.offset + 1;
                    let last = page.offset + page.items.len() as i64;
                    let total = page.total;
                    let at_start = page.offset == 0;
                    let at_end = last >= total;
                    view! {
                        <div class="pager">
                            <button
                                type="button"
                                disabled=at_start
                                on:click=move |_| offset.update(|offset| *offset = (*offset - PER_PAGE).max(0))
                            >
                                "← Previous"
                            </button>
                            <span id={S::RANGE_ID}>
                                {if total == 0 {
                                    format!("No {lower} yet")
                                } else {
                                    format!("{plural} {first}–{last} of {total}")
                                }}
                            </span>
                            <button
                                type="button"
                                disabled=at_end
                                on:click=move |_| offset.update(|offset| *offset += PER_PAGE)
                            >
                                "Next →"
                            </button>
                        </div>
                        <div class={S::LIST_CLASS}>
                            {page.items.into_iter().map(|item| item.card(patch_size)).collect_view()}
                        </div>
                    }
                    .into_any()
                }
            }
        }}
    }
}
