//! The JND pairs in the stimulus browser: each with its two patches, how
//! the distorted one was made, and every judgment with the timing the
//! worker's browser measured and whether it was valid.

use std::future::Future;

use leptos::prelude::*;

use super::experiment::pipeline_summary;
use super::stimulus_browser::{Page, Stimulus};
use crate::api::client::ApiError;
use crate::api::experiments::PairView;
use crate::api::researcher_client;

impl Stimulus for PairView {
    const PLURAL: &'static str = "Pairs";
    const RANGE_ID: &'static str = "pair-range";
    const LIST_CLASS: &'static str = "triplets pairs";

    fn fetch(
        id: i64,
        offset: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Page<Self>, ApiError>> + 'static {
        async move {
            let page = researcher_client::pairs(id, offset, limit).await?;
            Ok(Page {
                offset: page.offset,
                total: page.total,
                items: page.pairs,
            })
        }
    }

    fn card(self, patch_size: i32) -> AnyView {
        view! { <PairCard pair=self patch_size/> }.into_any()
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
