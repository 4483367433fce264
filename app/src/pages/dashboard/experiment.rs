//! `/dashboard/experiments/{experiment_id}`: one experiment's settings,
//! generation and judgment progress (for JND, with the measured timing),
//! planning figures and worker links, its lifecycle (owner only), scoring,
//! metrics trained on it, workers, and a triplet (2AFC) or pair (JND)
//! browser. An experiment the researcher cannot see gets one message and
//! no actions.

use std::future::Future;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use percept_api::count;

use super::lifecycle::Lifecycle;
use super::planning::{PlanningFigures, WorkerLinks};
use super::sharing::Sharing;
use super::stimulus_browser::{stimulus_browser, Page, Stimulus};
use super::training::Training;
use super::{utc_minute, DashboardBar, ProgressBar, StatusBadge};
use crate::api::client::ApiError;
use crate::api::experiments::{ExperimentDetail, JndProgress, PairView, TripletView, WorkerStats};
use crate::api::researcher_client;

#[component]
pub fn ExperimentPage() -> impl IntoView {
    let params = use_params_map();
    let experiment_id = params.with_untracked(|params| {
        params
            .get("experiment_id")
            .and_then(|id| id.parse::<i64>().ok())
    });
    view! {
        <section class="dashboard">
            <DashboardBar/>
            {match experiment_id {
                Some(id) => view! { <Experiment id/> }.into_any(),
                None => view! { <p class="error">"There is no such experiment."</p> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Experiment(id: i64) -> impl IntoView {
    let detail = LocalResource::new(move || researcher_client::experiment(id));
    // While generating, ask again until it is done; each answer schedules the next.
    Effect::new(move |_| {
        if let Some(Ok(experiment)) = detail.get() {
            if experiment.status == "generating" {
                set_timeout(move || detail.refetch(), super::GENERATION_POLL);
            }
        }
    });
    // Whether the experiment is there for this researcher, and its kind:
    // changes only when that does, so the sections below are not rebuilt
    // at every poll of the experiment.
    let kind = Memo::new(move |_| match detail.get() {
        None => None,
        Some(Ok(experiment)) => Some(Ok(experiment.kind)),
        Some(Err(error)) => Some(Err(error)),
    });
    // What the last lifecycle change did; kept across the reload it causes.
    let notice = RwSignal::new(None::<String>);
    let workers = LocalResource::new(move || researcher_client::workers(id));
    // New stimuli appear as generation goes on: the browsers follow.
    let generated = Memo::new(move |_| {
        detail
            .get()
            .and_then(Result::ok)
            .map(|experiment| experiment.stimuli_generated)
    });
    // The Refresh button reloads the stimulus browser too.
    let refreshed = RwSignal::new(0_u32);
    let refresh = move |_| {
        detail.refetch();
        workers.refetch();
        refreshed.update(|count| *count += 1);
    };
    let patch_size = Signal::derive(move || {
        detail
            .get()
            .and_then(Result::ok)
            .map_or(64, |experiment| experiment.patch_size)
    });
    view! {
        {move || match detail.get() {
            None => view! { <p class="loading">"Loading the experiment…"</p> }.into_any(),
            // One message and nothing else: the page offers no action on an
            // experiment the researcher cannot see.
            Some(Err(error)) => view! { <NoExperiment id error/> }.into_any(),
            Some(Ok(experiment)) => {
                let owner_email = experiment.owner_email.clone();
                let owned_by_you = experiment.owned_by_you;
                let controls = owned_by_you.then(|| {
                    let experiment = experiment.clone();
                    view! { <Lifecycle experiment detail notice/> }
                });
                view! {
                    <Overview experiment/>
                    {controls}
                    <Sharing id owner_email owned_by_you/>
                }
                .into_any()
            }
        }}
        {move || match kind.get() {
            Some(Ok(kind)) => {
                let browser = if kind == "jnd" {
                    stimulus_browser::<PairView>(id, generated, refreshed, patch_size).into_any()
                } else {
                    stimulus_browser::<TripletView>(id, generated, refreshed, patch_size).into_any()
                };
                view! {
                    <Analysis id kind=kind.clone()/>
                    <Training id/>
                    <div class="dashboard-title">
                        <h2>"Workers"</h2>
                        <button type="button" id="refresh" on:click=refresh>"Refresh"</button>
                    </div>
                    {move || match workers.get() {
                        None => view! { <p class="loading">"Loading workers…"</p> }.into_any(),
                        Some(Err(error)) => view! { <p class="error">{error.message()}</p> }.into_any(),
                        Some(Ok(workers)) => view! { <WorkerTable workers/> }.into_any(),
                    }}
                    {browser}
                }
                .into_any()
            }
            _ => ().into_any(),
        }}
    }
}

/// What a researcher sees of an experiment they cannot see: one message.
#[component]
fn NoExperiment(id: i64, error: ApiError) -> impl IntoView {
    let message = match &error {
        ApiError::Status { status: 404, .. } => format!(
            "You have no experiment {id}: it does not exist, or it belongs to another \
             researcher who has not shared it with you."
        ),
        other => other.message(),
    };
    view! {
        <p class="error" id="no-experiment">{message}</p>
        <p><a href="/dashboard">"Back to your experiments"</a></p>
    }
}

impl Stimulus for TripletView {
    const PLURAL: &'static str = "Triplets";
    const RANGE_ID: &'static str = "triplet-range";
    const LIST_CLASS: &'static str = "triplets";

    fn fetch(
        id: i64,
        offset: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Page<Self>, ApiError>> + 'static {
        async move {
            let page = researcher_client::triplets(id, offset, limit).await?;
            Ok(Page {
                offset: page.offset,
                total: page.total,
                items: page.triplets,
            })
        }
    }

    fn card(self, patch_size: i32) -> AnyView {
        view! { <TripletCard triplet=self patch_size/> }.into_any()
    }
}

#[component]
fn Overview(experiment: ExperimentDetail) -> impl IntoView {
    let generation = match experiment.status.as_str() {
        "failed" => view! {
            <p class="error">
                "Generation failed: " {experiment.generation_error.clone().unwrap_or_default()}
            </p>
        }
        .into_any(),
        _ => view! {
            <div class="meter" id="generation-progress">
                <span class="meter-name">"Stimuli"</span>
                <ProgressBar
                    done=i64::from(experiment.stimuli_generated)
                    total=i64::from(experiment.stimuli_total)
                    unit=if experiment.jnd.is_some() { "pairs generated" } else { "triplets generated" }
                />
            </div>
        }
        .into_any(),
    };
    let sampler = &experiment.sampler;
    let steps = format!(
        "{}–{} per pipeline",
        sampler["min_steps"], sampler["max_steps"]
    );
    let types = sampler["types"].as_array().map_or(0, |types| types.len());
    let settings = [
        ("Kind", experiment.kind.clone()),
        ("Split", experiment.split.clone()),
        (
            "Category",
            experiment.category.clone().unwrap_or_else(|| "—".into()),
        ),
        ("Patch size", format!("{0}×{0} px", experiment.patch_size)),
        (
            "Patches per image",
            experiment.patches_per_image.to_string(),
        ),
        (
            "Distortion family",
            sampler["family"]
                .as_str()
                .unwrap_or("traditional")
                .to_owned(),
        ),
        ("Distortions", format!("{steps}, {types} types")),
        ("Seed", experiment.seed.to_string()),
        (
            "Judgments per triplet",
            experiment.judgments_per_stimulus.to_string(),
        ),
        (
            "Trials per assignment",
            experiment.trials_per_assignment.to_string(),
        ),
        (
            "Sentinel rate",
            format!("{:.0}%", experiment.sentinel_rate * 100.0),
        ),
        (
            "Max assignments per worker",
            experiment.max_assignments_per_worker.to_string(),
        ),
        (
            "Minutes per assignment",
            format!("{:.0}", experiment.assignment_ttl_minutes),
        ),
        (
            "Flag workers failing over",
            format!(
                "{:.0}% of sentinels",
                experiment.max_sentinel_failure_share * 100.0
            ),
        ),
        (
            "Completion redirect",
            experiment
                .completion_redirect_url
                .clone()
                .unwrap_or_else(|| "—".into()),
        ),
        ("Created", utc_minute(experiment.created_at)),
    ];
    let mut settings = Vec::from(settings);
    let counts = match &experiment.jnd {
        Some(jnd) => {
            let presentation = jnd.presentation;
            settings.extend([
                (
                    "Sequence",
                    format!(
                        "{} ms reference, {} ms blank, {} ms second patch",
                        presentation.reference_ms, presentation.gap_ms, presentation.distorted_ms
                    ),
                ),
                (
                    "Control pairs",
                    format!("{:.0}%", jnd.control_share * 100.0),
                ),
                (
                    "Pairs from",
                    jnd.source_experiment_id
                        .map_or("uploaded images".into(), |id| format!("experiment {id}")),
                ),
            ]);
            format!(
                "{} · {} ({} controls) · {} · {} ({} invalid)",
                count(
                    experiment.reference_images,
                    "reference image",
                    "reference images"
                ),
                count(jnd.pairs, "pair", "pairs"),
                jnd.control_pairs,
                count(experiment.workers, "worker", "workers"),
                count(experiment.judgments, "judgment", "judgments"),
                jnd.invalid_judgments,
            )
        }
        None => format!(
            "{} · {} ({} sentinels) · {} ({} flagged) · {}",
            count(
                experiment.reference_images,
                "reference image",
                "reference images"
            ),
            count(experiment.stimuli_generated, "triplet", "triplets"),
            experiment.sentinel_triplets,
            count(experiment.workers, "worker", "workers"),
            experiment.flagged_workers,
            count(experiment.judgments, "judgment", "judgments"),
        ),
    };
    let judgment_unit = if experiment.jnd.is_some() {
        "valid judgments of pairs"
    } else {
        "judgments of real triplets"
    };
    let jnd_timing = experiment.jnd.clone().map(|jnd| view! { <JndTiming jnd/> });
    // Imported stimuli came with judgments made elsewhere: shown as such,
    // beside the ones collected here.
    let imported = (experiment.imported_stimuli > 0 || experiment.judgments_imported > 0).then(|| {
        let served = if experiment.serve_imported_stimuli {
            "They are handed out to workers too (see the settings below)."
        } else {
            "They are not handed out to workers (you can change that below)."
        };
        view! {
            <p class="imported" id="imported-judgments">
                {format!(
                    "{} imported judgments came with {} imported {}: they count towards the target, \
                     but were not collected here. ",
                    experiment.judgments_imported,
                    experiment.imported_stimuli,
                    if experiment.jnd.is_some() { "pairs" } else { "triplets" },
                )}
                {served}
            </p>
        }
    });
    view! {
        <div class="dashboard-title">
            <h1>{experiment.name.clone()}</h1>
            <span id="experiment-status"><StatusBadge status=experiment.status.clone()/></span>
        </div>
        {generation}
        <div class="meter" id="judgment-progress">
            <span class="meter-name">"Judgments"</span>
            <ProgressBar
                done=experiment.judgments_collected
                total=experiment.judgments_target
                unit=judgment_unit
            />
        </div>
        <p class="counts">{counts}</p>
        {jnd_timing}
        {imported}
        <PlanningFigures planning=experiment.planning.clone() jnd=experiment.jnd.is_some()/>
        <WorkerLinks links=experiment.worker_links.clone()/>
        <details class="settings">
            <summary>"Settings"</summary>
            <dl>
                {settings
                    .into_iter()
                    .map(|(name, value)| view! { <dt>{name}</dt> <dd>{value}</dd> })
                    .collect_view()}
            </dl>
        </details>
    }
}

/// How faithfully workers' browsers kept a JND experiment's sequence: the
/// share of invalid trials, and the distribution of each phase's error.
#[component]
fn JndTiming(jnd: JndProgress) -> impl IntoView {
    let invalid = match jnd.invalid_share {
        Some(share) => format!(
            "{:.1}% of trials invalid ({} of {}): timing more than a frame off, or the page \
             hidden or unfocused. They are stored but not counted, and their pairs were shown again.",
            share * 100.0,
            jnd.invalid_judgments,
            jnd.invalid_judgments + jnd.valid_judgments
        ),
        None => "No trials judged yet.".into(),
    };
    let ms = |value: f64| format!("{value:.1}");
    view! {
        <section class="jnd-timing" id="jnd-timing">
            <h2>"Presentation timing"</h2>
            <p id="invalid-share">{invalid}</p>
            {(!jnd.timing_errors.is_empty()).then(|| view! {
                <table class="timing-errors">
                    <thead>
                        <tr>
                            <th>"|measured − set| (ms)"</th>
                            <th>"mean"</th>
                            <th>"median"</th>
                            <th>"p90"</th>
                            <th>"p99"</th>
                            <th>"max"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {jnd.timing_errors.into_iter().map(|error| view! {
                            <tr>
                                <td>{error.phase}</td>
                                <td>{ms(error.mean_ms)}</td>
                                <td>{ms(error.p50_ms)}</td>
                                <td>{ms(error.p90_ms)}</td>
                                <td>{ms(error.p99_ms)}</td>
                                <td>{ms(error.max_ms)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </section>
    }
}

/// Scoring progress per metric, and the way to the report and the dataset.
#[component]
fn Analysis(id: i64, kind: String) -> impl IntoView {
    let progress = LocalResource::new(move || researcher_client::scoring_progress(id));
    // While a job is open, ask again; each answer schedules the next.
    Effect::new(move |_| {
        if let Some(Ok(metrics)) = progress.get() {
            if metrics
                .iter()
                .any(|m| matches!(m.state.as_deref(), Some("queued" | "running")))
            {
                set_timeout(move || progress.refetch(), super::GENERATION_POLL);
            }
        }
    });
    let starting = RwSignal::new(false);
    // The catalogue's metrics; the defaults start chosen.
    let options = LocalResource::new(researcher_client::metric_options);
    let chosen = RwSignal::new(None::<Vec<String>>);
    Effect::new(move |_| {
        if let Some(Ok(options)) = options.get() {
            if chosen.get_untracked().is_none() {
                let defaults = options.iter().filter(|m| m.default).map(|m| m.name.clone());
                chosen.set(Some(defaults.collect()));
            }
        }
    });
    let scoring_error = RwSignal::new(None::<String>);
    let start = move |_| {
        let metrics = chosen.get_untracked().unwrap_or_default();
        starting.set(true);
        leptos::task::spawn_local(async move {
            let queued = researcher_client::start_scoring(id, metrics).await;
            scoring_error.set(queued.err().map(|error| error.message()));
            starting.set(false);
            progress.refetch();
        });
    };
    let toggle = move |name: String, on: bool| {
        chosen.update(|chosen| {
            let chosen = chosen.get_or_insert_with(Vec::new);
            chosen.retain(|n| *n != name);
            if on {
                chosen.push(name);
            }
        })
    };
    view! {
        <div class="dashboard-title">
            <h2>"Agreement with metrics"</h2>
            <button
                type="button"
                id="start-scoring"
                disabled=move || starting.get() || chosen.with(|c| c.as_ref().is_none_or(Vec::is_empty))
                on:click=start
            >
                "Score with the chosen metrics"
            </button>
        </div>
        <fieldset id="metric-choice" class="metric-choice">
            <legend>"Metrics (every one stored as a distance, smaller is closer; hover for what each computes)"</legend>
            {move || match options.get() {
                None => view! { <span class="loading">"Loading the metrics…"</span> }.into_any(),
                Some(Err(error)) => view! { <span class="error">{error.message()}</span> }.into_any(),
                Some(Ok(options)) => options
                    .into_iter()
                    .map(|option| {
                        let name = option.name.clone();
                        let checked_name = name.clone();
                        let checked = move || {
                            chosen.with(|c| c.as_ref().is_some_and(|c| c.contains(&checked_name)))
                        };
                        view! {
                            <label title=option.description.clone()>
                                <input
                                    type="checkbox"
                                    name="metric"
                                    value=name.clone()
                                    prop:checked=checked
                                    on:change=move |ev| toggle(name.clone(), event_target_checked(&ev))
                                />
                                {option.name}
                            </label>
                        }
                    })
                    .collect_view()
                    .into_any(),
            }}
        </fieldset>
        {move || scoring_error.get().map(|error| view! { <p class="error">{error}</p> })}
        {move || match progress.get() {
            None => view! { <p class="loading">"Loading scoring progress…"</p> }.into_any(),
            Some(Err(error)) => view! { <p class="error">{error.message()}</p> }.into_any(),
            Some(Ok(metrics)) if metrics.is_empty() => view! {
                <p class="hint">"Not scored yet: scoring workers compute each metric's distances for every triplet."</p>
            }
            .into_any(),
            Some(Ok(metrics)) => metrics
                .into_iter()
                .map(|metric| {
                    let unit = match (&metric.state, &metric.error) {
                        (_, Some(error)) => format!("stimuli (failed: {error})"),
                        (Some(state), None) if state == "queued" => "stimuli (queued…)".into(),
                        (Some(state), None) if state == "running" => "stimuli (scoring…)".into(),
                        _ => "stimuli".into(),
                    };
                    view! {
                        <div class="meter">
                            <span class="meter-name">{metric.metric}</span>
                            <ProgressBar done=metric.scored total=metric.stimuli unit/>
                        </div>
                    }
                })
                .collect_view()
                .into_any(),
        }}
        <p class="analysis-links">
            <a id="report-link" href=format!("/api/experiments/{id}/report.html") target="_blank">"Open the agreement report"</a>
        </p>
        <Downloads id kind/>
    }
}

/// The dataset and its CSVs, pseudonymised (to publish) or with the
/// workers' identifiers (for the researcher's own records).
#[component]
fn Downloads(id: i64, kind: String) -> impl IntoView {
    let with_identifiers = RwSignal::new(false);
    let href = move |file: &str| {
        let base = format!("/api/experiments/{id}/{file}");
        if with_identifiers.get() {
            format!("{base}?with_identifiers=true")
        } else {
            base
        }
    };
    let judgments_csv = if kind == "jnd" {
        view! { <a id="jnd-judgments-csv-link" href=move || href("jnd_judgments.csv")>"JND judgments (.csv)"</a> }
            .into_any()
    } else {
        view! { <a id="judgments-csv-link" href=move || href("judgments.csv")>"Judgments (.csv)"</a> }
            .into_any()
    };
    view! {
        <section class="downloads" id="downloads">
            <h3>"Downloads"</h3>
            <fieldset class="identifiers">
                <legend>"Workers in the files"</legend>
                <label>
                    <input
                        type="radio"
                        name="identifiers"
                        id="pseudonymised"
                        prop:checked=move || !with_identifiers.get()
                        on:change=move |_| with_identifiers.set(false)
                    />
                    " Pseudonymised (w0001, …; no study or session ids, no user agents): ready to publish"
                </label>
                <label>
                    <input
                        type="radio"
                        name="identifiers"
                        id="with-identifiers"
                        prop:checked=move || with_identifiers.get()
                        on:change=move |_| with_identifiers.set(true)
                    />
                    " With identifiers (Prolific/MTurk worker ids, study and session ids, user agents): \
                     personal data, for your own records only, not for publishing"
                </label>
            </fieldset>
            <p class="download-links">
                <a id="dataset-link" href=move || href("export.tar.gz")>"BAPPS-style dataset (.tar.gz)"</a>
                " · "
                {judgments_csv}
                " · "
                <a id="workers-csv-link" href=move || href("workers.csv")>"Workers (.csv)"</a>
            </p>
        </section>
    }
}

#[component]
fn WorkerTable(workers: Vec<WorkerStats>) -> impl IntoView {
    if workers.is_empty() {
        return view! { <p class="hint">"No workers yet."</p> }.into_any();
    }
    view! {
        <table class="workers">
            <thead>
                <tr>
                    <th>"Worker"</th>
                    <th>"Assignments"</th>
                    <th>"Judgments"</th>
                    <th>"Sentinels passed"</th>
                    <th>"Median response"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {workers
                    .into_iter()
                    .map(|worker| {
                        let pass_rate = worker.sentinel_pass_rate.map_or_else(
                            || "—".to_string(),
                            |rate| {
                                format!(
                                    "{}/{} ({:.0}%)",
                                    worker.sentinels_passed,
                                    worker.sentinels_judged,
                                    rate * 100.0,
                                )
                            },
                        );
                        let median = worker
                            .median_response_ms
                            .map_or_else(|| "—".to_string(), |ms| format!("{ms:.0} ms"));
                        view! {
                            <tr class:flagged=worker.flagged>
                                <td>
                                    <span class="platform">{worker.platform}</span>
                                    " "
                                    {worker.external_id}
                                </td>
                                <td>{format!("{} ({} done)", worker.assignments, worker.assignments_completed)}</td>
                                <td>{worker.judgments}</td>
                                <td>{pass_rate}</td>
                                <td>{median}</td>
                                <td>
                                    {worker.flagged.then(|| view! { <span class="status status-failed">"flagged"</span> })}
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
        .into_any()
}

/// A pipeline as its distortion types in order, e.g. `gaussian_blur → jpeg`,
/// and its full spec with the seed (for the tooltip).
pub(super) fn pipeline_summary(
    pipeline: &Option<serde_json::Value>,
    seed: Option<i64>,
) -> (String, String) {
    let (Some(pipeline), Some(seed)) = (pipeline, seed) else {
        return (
            "imported".into(),
            "imported from a BAPPS tree: distortions unknown".into(),
        );
    };
    let steps: Vec<&str> = pipeline
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|step| step["type"].as_str())
        .collect();
    let summary = if steps.is_empty() {
        "identical".into()
    } else {
        steps.join(" → ")
    };
    (summary, format!("seed {seed}: {pipeline}"))
}

/// What a triplet's side shows: a method comparison's method, otherwise
/// its pipeline ([`pipeline_summary`]).
fn side_summary(
    method: &Option<String>,
    pipeline: &Option<serde_json::Value>,
    seed: Option<i64>,
) -> (String, String) {
    match method {
        Some(method) => (method.clone(), format!("the output of method {method}")),
        None => pipeline_summary(pipeline, seed),
    }
}

#[component]
fn TripletCard(triplet: TripletView, patch_size: i32) -> impl IntoView {
    let side = (patch_size * 2).to_string();
    let patch = |url: String, label: String, detail: String, title: String| {
        let side = side.clone();
        view! {
            <figure title=title>
                <img class="patch" src=url width=side.clone() height=side alt=label.clone()/>
                <figcaption>
                    <strong>{label}</strong>
                    " "
                    {detail}
                </figcaption>
            </figure>
        }
    };
    let sentinel = triplet
        .sentinel_answer
        .map(|answer| view! { <span class="status status-generating">{format!("sentinel: p{answer}")}</span> });
    let share = match triplet.p1_share {
        Some(share) => format!(
            "{} judgment{} · {:.0}% chose p1",
            triplet.judgments_counted,
            if triplet.judgments_counted == 1 {
                ""
            } else {
                "s"
            },
            share * 100.0
        ),
        None if triplet.judgments.is_empty() => "no judgments yet".into(),
        None => "no judgments counted (only flagged workers')".into(),
    };
    view! {
        <article class="triplet">
            <header>
                {format!(
                    "#{} · {} at ({}, {})",
                    triplet.id,
                    triplet.reference_file_name,
                    triplet.crop_x,
                    triplet.crop_y,
                )}
                " "
                {sentinel}
            </header>
            <div class="patches">
                {patch(triplet.ref_url.clone(), "ref".into(), String::new(), "reference patch".into())}
                {
                    let (summary, spec) = side_summary(&triplet.p0_method, &triplet.p0_pipeline, triplet.p0_seed);
                    patch(triplet.p0_url.clone(), "p0".into(), summary, spec)
                }
                {
                    let (summary, spec) = side_summary(&triplet.p1_method, &triplet.p1_pipeline, triplet.p1_seed);
                    patch(triplet.p1_url.clone(), "p1".into(), summary, spec)
                }
            </div>
            <p class="share">{share}</p>
            <ul class="judgments">
                {triplet
                    .judgments
                    .into_iter()
                    .map(|judgment| {
                        view! {
                            <li class:flagged=judgment.flagged_worker title=judgment.worker_platform>
                                {judgment.worker_external_id}
                                " → "
                                <strong>{if judgment.chose_p1 { "p1" } else { "p0" }}</strong>
                                {format!(" · {} ms", judgment.response_ms)}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </article>
    }
}
