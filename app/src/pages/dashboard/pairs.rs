//! The JND pair browser: a page of pairs, each with its two patches, how
//! the distorted one was made, and every judgment with the timing the
//! worker's browser measured and whether it was valid.

use leptos::prelude::*;

use super::experiment::pipeline_summary;
use crate::api::experiments::PairView;
use crate::api::researcher_client;

/// Pairs per page of the browser.
const PAIRS_PER_PAGE: i64 = 12;

#[component]
pub fn PairBrowser(
    id: i64,
    generated: Memo<Option<i32>>,
    refreshed: RwSignal<u32>,
    patch_size: Signal<i32>,
) -> impl IntoView {
    let offset = RwSignal::new(0_i64);
    let pairs = LocalResource::new(move || {
        let offset = offset.get();
        generated.track();
        refreshed.track();
        researcher_client::pairs(id, offset, PAIRS_PER_PAGE)
    });
    view! {
        <h2>"Pairs"</h2>
        {move || {
            let patch_size = patch_size.get();
            match pairs.get() {
                None => view! { <p class="loading">"Loading pairs…"</p> }.into_any(),
                Some(Err(error)) => view! { <p class="error">{error.message()}</p> }.into_any(),
                Some(Ok(page)) => {
                    let first = page.offset + 1;
                    let last = page.offset + page.pairs.len() as i64;
                    let total = page.total;
                    let at_start = page.offset == 0;
                    let at_end = last >= total;
                    view! {
                        <div class="pager">
                            <button
                                type="button"
                                disabled=at_start
                                on:click=move |_| offset.update(|offset| *offset = (*offset - PAIRS_PER_PAGE).max(0))
                            >
                                "← Previous"
                            </button>
                            <span id="pair-range">
                                {if total == 0 {
                                    "No pairs yet".to_string()
                                } else {
                                    format!("Pairs {first}–{last} of {total}")
                                }}
                            </span>
                            <button
                                type="button"
                                disabled=at_end
                                on:click=move |_| offset.update(|offset| *offset += PAIRS_PER_PAGE)
                            >
                                "Next →"
                            </button>
                        </div>
                        <div class="triplets pairs">
                            {page.pairs.into_iter().map(|pair| view! { <PairCard pair patch_size/> }).collect_view()}
                        </div>
                    }
                    .into_any()
                }
            }
        }}
    }
}

#[component]
fn PairCard(pair: PairView, patch_size: i32) -> impl IntoView {
    let side = (patch_size * 2).to_string();
    let patch = |url: String, label: &'static str, detail: String, title: String| {
        let side = side.clone();
        view! {
            <figure title=title>
                <img class="patch" src=url width=side.clone() height=side alt=label/>
                <figcaption><strong>{label}</strong> " " {detail}</figcaption>
            </figure>
        }
    };
    let (summary, spec) = if pair.is_control {
        (
            "identical (control)".to_owned(),
            "a control pair shows the reference twice".to_owned(),
        )
    } else {
        pipeline_summary(&pair.pipeline, pair.seed)
    };
    let origin = match (&pair.imported_item, pair.source_triplet_id) {
        (Some(item), _) => format!(" · imported ({item})"),
        (None, Some(triplet)) => format!(" · from triplet #{triplet}"),
        (None, None) => String::new(),
    };
    let share = match pair.same_share {
        Some(share) => format!(
            "{} valid judgment{} · {:.0}% said same",
            pair.judgments_counted,
            if pair.judgments_counted == 1 { "" } else { "s" },
            share * 100.0
        ),
        None if pair.judgments.is_empty() => "no judgments yet".into(),
        None => "no valid judgments yet".into(),
    };
    let imported = pair.imported_judgments.map(|count| {
        format!(
            "{count} imported judgment{} ({:.0}% said same), not collected here",
            if count == 1 { "" } else { "s" },
            pair.imported_same_share.unwrap_or_default() * 100.0
        )
    });
    view! {
        <article class="triplet pair" data-pair-id=pair.id.to_string()>
            <header>
                {format!(
                    "#{} · {} at ({}, {}){origin}",
                    pair.id,
                    pair.reference_file_name.clone().unwrap_or_else(|| "imported patch".into()),
                    pair.crop_x,
                    pair.crop_y,
                )}
                " "
                {pair.is_control.then(|| view! { <span class="status status-generating">"control"</span> })}
            </header>
            <div class="patches">
                {patch(pair.ref_url.clone(), "ref", String::new(), "reference patch".into())}
                {patch(pair.distorted_url.clone(), "distorted", summary, spec)}
            </div>
            <p class="share">{share}</p>
            {imported.map(|text| view! { <p class="imported">{text}</p> })}
            <ul class="judgments">
                {pair
                    .judgments
                    .into_iter()
                    .map(|judgment| {
                        let timing = format!(
                            " · {} ms · reference {:.1} ms, gap {:.1} ms, distorted {:.1} ms (frame {:.1} ms)",
                            judgment.response_ms,
                            judgment.reference_exposure_ms,
                            judgment.gap_ms,
                            judgment.distorted_exposure_ms,
                            judgment.refresh_interval_ms,
                        );
                        let invalid = judgment.invalid_reason.clone();
                        let is_invalid = invalid.is_some();
                        view! {
                            <li
                                class:flagged=judgment.flagged_worker
                                class:invalid=is_invalid
                                title=judgment.worker_platform
                            >
                                {judgment.worker_external_id}
                                " → "
                                <strong>{if judgment.said_same { "same" } else { "different" }}</strong>
                                {timing}
                                {match invalid {
                                    Some(reason) => view! { <span class="status status-failed">{format!("invalid: {reason}")}</span> }.into_any(),
                                    None => view! { <span class="status status-ready">"valid"</span> }.into_any(),
                                }}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </article>
    }
}
