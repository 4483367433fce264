//! `/dashboard/new`: a 2AFC or JND experiment from uploaded reference images
//! (a JND experiment may take its pairs from a 2AFC experiment instead), or
//! a method comparison from a `.zip`/`.tar.gz` of `references/` and
//! `methods/<method>/`, or that folder itself (its files sent one by one,
//! named by their relative paths). A method comparison's stimuli are the
//! methods' outputs, so the distortion settings are not shown for it.
//! The upload is stored at once; the experiment page then shows the
//! stimuli being generated.

use std::str::FromStr;

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local, wasm_bindgen::JsCast};
use leptos_router::hooks::use_navigate;
use web_sys::{File, FormData, HtmlFormElement};

use super::DashboardBar;
use crate::api::experiments::{defaults, JndChoice, NewExperimentSettings, SamplerChoice};
use crate::api::researcher_client;

#[component]
pub fn NewExperimentPage() -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let uploading = RwSignal::new(false);
    // Before hydration the form could only go out as a plain GET: the
    // button only works once the page is live.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let navigate = use_navigate();
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let Some(form) = event
            .target()
            .and_then(|target| target.dyn_into::<HtmlFormElement>().ok())
        else {
            return;
        };
        let upload = match upload_from_form(&form) {
            Ok(upload) => upload,
            Err(message) => {
                error.set(Some(message));
                return;
            }
        };
        error.set(None);
        uploading.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            match researcher_client::create_experiment(&upload).await {
                Ok(created) => navigate(
                    &format!("/dashboard/experiments/{}", created.id),
                    Default::default(),
                ),
                Err(refusal) => {
                    error.set(Some(refusal.message()));
                    uploading.set(false);
                }
            }
        });
    };
    let default_sampler = SamplerChoice::default();
    let is_jnd = RwSignal::new(false);
    let is_methods = RwSignal::new(false);
    view! {
        <section class="dashboard">
            <DashboardBar/>
            <h1>"New experiment"</h1>
            <form id="new-experiment-form" class="settings-form" on:submit=submit>
                <fieldset>
                    <legend>"Experiment"</legend>
                    <label>"Name" <input name="name" required/></label>
                    <label>
                        "Kind"
                        <select
                            name="kind"
                            on:change=move |event| {
                                let kind = event_target_value(&event);
                                is_jnd.set(kind == "jnd");
                                is_methods.set(kind == "methods");
                            }
                        >
                            <option value="2afc" selected>"2AFC: which of two is closer?"</option>
                            <option value="jnd">"JND: same or different?"</option>
                            <option value="methods">"Method comparison (2AFC): your algorithms' outputs"</option>
                        </select>
                    </label>
                    <label>
                        "Split"
                        <select name="split">
                            <option value="train" selected>"train"</option>
                            <option value="val">"val"</option>
                        </select>
                    </label>
                    <label>
                        "Category" <input name="category" placeholder="e.g. traditional"/>
                    </label>
                    <label class="wide" class:hidden=move || is_methods.get()>
                        "Reference images (PNG or JPEG)"
                        <input
                            id="images"
                            type="file"
                            name="images"
                            multiple
                            accept="image/png,image/jpeg"
                            required=move || !is_jnd.get() && !is_methods.get()
                        />
                    </label>
                </fieldset>
                <fieldset id="method-comparison" class:hidden=move || !is_methods.get()>
                    <legend>"Method comparison"</legend>
                    <label class="wide">
                        "Outputs (.zip or .tar.gz): references/NAME.png and methods/<method>/NAME.png, same names and sizes"
                        <input
                            id="methods-archive"
                            type="file"
                            name="methods_archive"
                            accept=".zip,.tar.gz,.tgz,application/zip,application/gzip"
                        />
                    </label>
                    <label class="wide">
                        "…or the folder holding references/ and methods/"
                        // `webkitdirectory` has no typed setter: set as it is.
                        {leptos::html::input()
                            .id("methods-folder")
                            .r#type("file")
                            .name("methods_folder")
                            .multiple(true)
                            .attr("webkitdirectory", "")}
                    </label>
                    <label>
                        "Pairs of methods per patch (blank: all)"
                        <input name="pairs_per_patch" type="number" min="1"/>
                    </label>
                    <label>
                        "Skip patches whose gray-level variance is below"
                        <input name="min_patch_variance" type="number" min="0" step="any"/>
                    </label>
                    <label class="wide">
                        "Declared scales (comma-separated METHOD=FACTOR for outputs FACTOR times smaller)"
                        <input name="method_scales" placeholder="superres-x4=4"/>
                    </label>
                    <label class="wide">
                        "Anchors (one NAME=pipeline JSON per line, as percept distort apply --spec)"
                        <textarea name="anchors" rows="2" placeholder=r#"jpeg-q30=[{"type":"jpeg","quality":30}]"#></textarea>
                    </label>
                </fieldset>
                <fieldset class:hidden=move || !is_jnd.get()>
                    <legend>"JND sequence and pairs"</legend>
                    <NumberField name="reference_ms" label="Reference shown (ms)" value=defaults::reference_ms().to_string() min="1"/>
                    <NumberField name="gap_ms" label="Blank (ms)" value=defaults::gap_ms().to_string() min="0"/>
                    <NumberField name="distorted_ms" label="Second patch shown (ms)" value=defaults::distorted_ms().to_string() min="1"/>
                    <NumberField name="control_share" label="Share of control pairs (identical)" value=defaults::control_share().to_string() min="0" step="0.01"/>
                    <label class="wide">
                        "Take the pairs from 2AFC experiment (id; blank to cut them from the images)"
                        <input name="source_experiment_id" type="number" min="1"/>
                    </label>
                </fieldset>
                <fieldset>
                    <legend>"Stimuli"</legend>
                    <NumberField name="patch_size" label="Patch size (px)" value=defaults::patch_size().to_string() min="8"/>
                    <NumberField name="patches_per_image" label="Patches per image" value=defaults::patches_per_image().to_string() min="1"/>
                    <label>"Seed (blank for random)" <input name="seed" type="number" min="0"/></label>
                </fieldset>
                <fieldset id="distortions" class:hidden=move || is_methods.get()>
                    <legend>"Distortions"</legend>
                    <label class="wide">
                        "Distortion family"
                        <select name="distortion_family" id="distortion-family">
                            <option value="traditional" selected>"Traditional (pipelines of the 20 distortions)"</option>
                            <option value="cnn">"CNN (networks of the CNN distortion bank)"</option>
                            <option value="mix">"Mix (each side from either family, as BAPPS' mix)"</option>
                        </select>
                    </label>
                    <NumberField name="min_steps" label="Distortions per pipeline: at least" value=default_sampler.min_steps.to_string() min="1"/>
                    <NumberField name="max_steps" label="at most" value=default_sampler.max_steps.to_string() min="1"/>
                    <label class="wide">
                        "Distortion types (comma-separated; blank for all 20)"
                        <input name="types" placeholder="gaussian_blur, jpeg, …"/>
                    </label>
                </fieldset>
                <fieldset>
                    <legend>"Collection"</legend>
                    <NumberField name="judgments_per_stimulus" label="Judgments per triplet or pair (BAPPS: 2 train, 5 val)" value=defaults::judgments_per_stimulus().to_string() min="1"/>
                    <NumberField name="trials_per_assignment" label="Trials per assignment" value=defaults::trials_per_assignment().to_string() min="1"/>
                    <NumberField name="sentinel_rate" label="Sentinel rate" value=defaults::sentinel_rate().to_string() min="0" step="0.01"/>
                    <NumberField name="max_assignments_per_worker" label="Max assignments per worker" value=defaults::max_assignments_per_worker().to_string() min="1"/>
                    <NumberField name="assignment_ttl_minutes" label="Minutes per assignment" value=defaults::assignment_ttl_minutes().to_string() min="1"/>
                    <NumberField name="max_sentinel_failure_share" label="Flag workers failing more than this share of sentinels" value=defaults::max_sentinel_failure_share().to_string() min="0" step="0.05"/>
                    <label class="wide">
                        "Completion redirect URL"
                        <input name="completion_redirect_url" type="url" placeholder="https://app.prolific.com/submissions/complete?cc=…"/>
                    </label>
                </fieldset>
                <button id="create-experiment" type="submit" disabled=move || !hydrated.get() || uploading.get()>
                    {move || if uploading.get() { "Uploading…" } else { "Create experiment" }}
                </button>
                {move || error.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
            </form>
        </section>
    }
}

#[component]
fn NumberField(
    name: &'static str,
    label: &'static str,
    value: String,
    min: &'static str,
    #[prop(default = "1")] step: &'static str,
) -> impl IntoView {
    view! {
        <label>
            {label}
            <input name=name type="number" required min=min step=step value=value/>
        </label>
    }
}

/// The multipart upload: the settings as JSON, and the chosen files.
fn upload_from_form(form: &HtmlFormElement) -> Result<FormData, String> {
    let fields =
        FormData::new_with_form(form).map_err(|_| "the form cannot be read".to_string())?;
    let text = |name: &str| {
        fields
            .get(name)
            .as_string()
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let optional = |name: &str| Some(text(name)).filter(|value| !value.is_empty());
    fn number<T: FromStr>(value: String, label: &str) -> Result<T, String> {
        value
            .parse()
            .map_err(|_| format!("{label} must be a number, not {value:?}"))
    }
    let settings = NewExperimentSettings {
        name: text("name"),
        split: text("split"),
        category: optional("category"),
        patch_size: number(text("patch_size"), "the patch size")?,
        patches_per_image: number(text("patches_per_image"), "patches per image")?,
        sampler: SamplerChoice {
            min_steps: number(text("min_steps"), "the fewest distortions")?,
            max_steps: number(text("max_steps"), "the most distortions")?,
            types: text("types")
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect(),
        },
        distortion_family: optional("distortion_family")
            .map(|family| family.parse())
            .transpose()?
            .unwrap_or_default(),
        seed: optional("seed")
            .map(|seed| number(seed, "the seed"))
            .transpose()?,
        judgments_per_stimulus: number(
            text("judgments_per_stimulus"),
            "judgments per triplet or pair",
        )?,
        trials_per_assignment: number(text("trials_per_assignment"), "trials per assignment")?,
        sentinel_rate: number(text("sentinel_rate"), "the sentinel rate")?,
        max_assignments_per_worker: number(
            text("max_assignments_per_worker"),
            "max assignments per worker",
        )?,
        assignment_ttl_minutes: number(text("assignment_ttl_minutes"), "minutes per assignment")?,
        completion_redirect_url: optional("completion_redirect_url"),
        max_sentinel_failure_share: number(
            text("max_sentinel_failure_share"),
            "the share of failed sentinels",
        )?,
        jnd: if text("kind") == "jnd" {
            Some(JndChoice {
                reference_ms: number(text("reference_ms"), "the reference's time")?,
                gap_ms: number(text("gap_ms"), "the blank's time")?,
                distorted_ms: number(text("distorted_ms"), "the second patch's time")?,
                control_share: number(text("control_share"), "the share of control pairs")?,
                source_experiment_id: optional("source_experiment_id")
                    .map(|id| number(id, "the source experiment"))
                    .transpose()?,
            })
        } else {
            None
        },
    };
    let settings = serde_json::to_string(&settings).map_err(|error| error.to_string())?;
    let upload = FormData::new().map_err(|_| "the upload cannot be prepared".to_string())?;
    upload
        .append_with_str("settings", &settings)
        .map_err(|_| "the upload cannot be prepared".to_string())?;
    if text("kind") == "methods" {
        append_method_comparison(&fields, &upload, &text)?;
        return Ok(upload);
    }
    for file in fields.get_all("images").iter() {
        let Ok(file) = file.dyn_into::<File>() else {
            continue;
        };
        // An empty file input still sends one nameless, empty file.
        if file.name().is_empty() {
            continue;
        }
        upload
            .append_with_blob_and_filename("images", &file, &file.name())
            .map_err(|_| format!("{} cannot be added to the upload", file.name()))?;
    }
    Ok(upload)
}

/// A method comparison's archive, or its folder's files (`method_files`,
/// each named by its path in the folder), and its design (`method_settings`).
fn append_method_comparison(
    fields: &FormData,
    upload: &FormData,
    text: &dyn Fn(&str) -> String,
) -> Result<(), String> {
    let archive = fields
        .get("methods_archive")
        .dyn_into::<File>()
        .ok()
        .filter(|file| !file.name().is_empty());
    // An empty file input still sends one nameless, empty file.
    let folder: Vec<File> = fields
        .get_all("methods_folder")
        .iter()
        .filter_map(|file| file.dyn_into::<File>().ok())
        .filter(|file| !file.name().is_empty())
        .collect();
    match (archive, folder.is_empty()) {
        (Some(archive), true) => upload
            .append_with_blob_and_filename("methods_archive", &archive, &archive.name())
            .map_err(|_| format!("{} cannot be added to the upload", archive.name()))?,
        (None, false) => {
            for file in &folder {
                let path = relative_path(file);
                upload
                    .append_with_blob_and_filename("method_files", file, &path)
                    .map_err(|_| format!("{path} cannot be added to the upload"))?;
            }
        }
        (Some(_), false) => {
            return Err("choose either the archive or the folder, not both".into());
        }
        (None, true) => {
            return Err(
                "choose the .zip or .tar.gz of references/ and methods/<method>/, or that folder"
                    .into(),
            );
        }
    }
    let mut design = serde_json::Map::new();
    for (field, label) in [
        ("pairs_per_patch", "pairs per patch"),
        ("min_patch_variance", "the minimum patch variance"),
    ] {
        let value = text(field);
        if !value.is_empty() {
            let number: serde_json::Value = serde_json::from_str(&value)
                .map_err(|_| format!("{label} must be a number, not {value:?}"))?;
            design.insert(field.into(), number);
        }
    }
    let mut scales = serde_json::Map::new();
    for entry in text("method_scales")
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let (method, factor) = entry
            .split_once('=')
            .and_then(|(method, factor)| Some((method.trim(), factor.trim().parse::<u32>().ok()?)))
            .ok_or_else(|| {
                format!("declared scale {entry:?}: write METHOD=FACTOR, e.g. superres-x4=4")
            })?;
        scales.insert(method.into(), factor.into());
    }
    design.insert("method_scales".into(), scales.into());
    let mut anchors = serde_json::Map::new();
    for line in text("anchors")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let (name, spec) = line
            .split_once('=')
            .ok_or_else(|| format!("anchor {line:?}: write NAME=pipeline JSON"))?;
        let pipeline: serde_json::Value = serde_json::from_str(spec.trim()).map_err(|error| {
            format!("anchor {}: its pipeline is not JSON: {error}", name.trim())
        })?;
        anchors.insert(name.trim().into(), pipeline);
    }
    design.insert("anchors".into(), anchors.into());
    upload
        .append_with_str(
            "method_settings",
            &serde_json::Value::Object(design).to_string(),
        )
        .map_err(|_| "the upload cannot be prepared".to_string())
}

/// A file's path in the folder chosen (`webkitRelativePath`, which web-sys
/// does not bind), or its name when it has none.
fn relative_path(file: &File) -> String {
    js_sys::Reflect::get(file, &"webkitRelativePath".into())
        .ok()
        .and_then(|path| path.as_string())
        .filter(|path| !path.is_empty())
        .unwrap_or_else(|| file.name())
}
