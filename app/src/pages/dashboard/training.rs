//! The experiment page's **Train a metric**: a form that queues a training
//! job (variant, net, validation experiments, epochs), and each metric
//! trained on the experiment with its progress per epoch and its loss and
//! 2AFC curve (an SVG the server draws with the report's chart helpers).

use leptos::prelude::*;

use super::ProgressBar;
use crate::api::researcher_client;
use crate::api::training::{TrainedModelSummary, TrainingRequest};

#[component]
pub fn Training(id: i64) -> impl IntoView {
    let models = LocalResource::new(move || researcher_client::trained_metrics(id));
    // While a run is open, ask again; each answer schedules the next.
    Effect::new(move |_| {
        if let Some(Ok(list)) = models.get() {
            if list
                .iter()
                .any(|m| matches!(m.status.as_str(), "queued" | "training"))
            {
                set_timeout(move || models.refetch(), super::GENERATION_POLL);
            }
        }
    });
    let name = RwSignal::new(String::new());
    let net = RwSignal::new("alex".to_owned());
    let mode = RwSignal::new("lin".to_owned());
    let validate_on = RwSignal::new(String::new());
    let epochs = RwSignal::new("5".to_owned());
    let decay_epochs = RwSignal::new("5".to_owned());
    let message = RwSignal::new(None::<(bool, String)>);
    let busy = RwSignal::new(false);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let ids: Result<Vec<i64>, _> = validate_on
            .get()
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|part| !part.is_empty())
            .map(str::parse)
            .collect();
        let Ok(ids) = ids else {
            message.set(Some((
                false,
                "Validation experiments are ids separated by commas.".into(),
            )));
            return;
        };
        let request = TrainingRequest {
            name: name.get(),
            net: net.get(),
            mode: mode.get(),
            validate_on: ids,
            epochs: epochs.get().trim().parse().ok(),
            decay_epochs: decay_epochs.get().trim().parse().ok(),
            ..TrainingRequest::default()
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            match researcher_client::start_training(id, &request).await {
                Ok(queued) => {
                    let mut text = format!("Queued: job {}.", queued.job_id);
                    for warning in queued.warnings {
                        text.push_str(&format!(" Warning: {warning}."));
                    }
                    message.set(Some((true, text)));
                }
                Err(error) => message.set(Some((false, error.message()))),
            }
            busy.set(false);
            models.refetch();
        });
    };
    view! {
        <h2>"Train a metric"</h2>
        <p class="hint">
            "Learn LPIPS from this experiment's 2AFC judgments, as the paper did: lin learns the layer weights on the frozen pretrained network, tune trains it all, scratch starts from random. Score it afterwards as lpips-alex:NAME."
        </p>
        <form id="train-metric" class="train-form" on:submit=submit>
            <label>"Name " <input type="text" name="name" required bind:value=name/></label>
            <label>"Network "
                <select name="net" on:change=move |ev| net.set(event_target_value(&ev))>
                    <option value="alex" selected=true>"alex"</option>
                    <option value="vgg">"vgg"</option>
                </select>
            </label>
            <label>"Variant "
                <select name="mode" on:change=move |ev| mode.set(event_target_value(&ev))>
                    <option value="lin" selected=true>"lin"</option>
                    <option value="tune">"tune"</option>
                    <option value="scratch">"scratch"</option>
                </select>
            </label>
            <label>"Validate on experiments " <input type="text" name="validate_on" placeholder="e.g. 2, 3 (empty: hold out 10%)" bind:value=validate_on/></label>
            <label>"Epochs " <input type="number" name="epochs" min="0" bind:value=epochs/></label>
            <label>"Decay epochs " <input type="number" name="decay_epochs" min="0" bind:value=decay_epochs/></label>
            <button type="submit" id="start-training" disabled=move || busy.get()>"Train a metric"</button>
        </form>
        {move || message.get().map(|(ok, text)| {
            view! { <p class=if ok { "hint" } else { "error" }>{text}</p> }
        })}
        {move || match models.get() {
            None => view! { <p class="loading">"Loading trained metrics…"</p> }.into_any(),
            Some(Err(error)) => view! { <p class="error">{error.message()}</p> }.into_any(),
            Some(Ok(list)) if list.is_empty() => view! {
                <p class="hint">"No metric has been trained on this experiment yet."</p>
            }
            .into_any(),
            Some(Ok(list)) => list
                .into_iter()
                .map(|model| view! { <TrainedModel id model/> })
                .collect_view()
                .into_any(),
        }}
    }
}

#[component]
fn TrainedModel(id: i64, model: TrainedModelSummary) -> impl IntoView {
    let unit = match (&model.status[..], &model.error) {
        (_, Some(error)) => format!("epochs (failed: {error})"),
        ("queued", _) => "epochs (queued…)".to_owned(),
        ("training", _) => "epochs (training…)".to_owned(),
        _ => "epochs".to_owned(),
    };
    let last = model.epochs.last().map(|epoch| {
        let mut text = format!(
            "epoch {}: loss {:.4}, training 2AFC {:.1}%",
            epoch.epoch,
            epoch.loss,
            100.0 * epoch.train_2afc
        );
        if let Some(validation) = epoch.validation_2afc {
            text.push_str(&format!(", validation 2AFC {:.1}%", 100.0 * validation));
        }
        text
    });
    // The curve changes with each epoch: its URL does too.
    let curve = format!(
        "/api/experiments/{id}/training/{}/curve.svg?epochs={}",
        model.id,
        model.epochs.len()
    );
    view! {
        <div class="trained-metric">
            <div class="meter">
                <span class="meter-name">{model.metric.clone()}" ("{model.mode.clone()}")"</span>
                <ProgressBar done=model.epochs.len() as i64 total=model.total_epochs as i64 unit/>
            </div>
            {last.map(|text| view! { <p class="hint">{text}</p> })}
            {(!model.epochs.is_empty()).then(|| view! {
                <img class="training-curve" src=curve alt=format!("Loss and 2AFC per epoch of {}", model.metric)/>
            })}
        </div>
    }
}
