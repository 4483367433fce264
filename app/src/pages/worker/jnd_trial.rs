//! One JND trial on screen: a fixation mark, the reference patch, a blank,
//! the distorted patch, then "same or different?" (buttons, S/D or ←/→).
//!
//! Both images are fetched and decoded before the sequence starts, so it
//! costs no network or decoding time. The screen changes only in animation
//! frame callbacks: each phase lasts the whole number of frames nearest its
//! configured duration, counted on the frames' timestamps against the
//! measured refresh interval (so a dropped callback does not lengthen it).
//! The timestamps of the frames in which each image appeared and went are
//! reported with the answer, with whether the page was hidden or lost the
//! focus meanwhile; the server decides from them whether the trial counts.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use futures::channel::oneshot;
use js_sys::{Array, Promise};
use leptos::{
    ev, html,
    prelude::*,
    wasm_bindgen::{closure::Closure, JsCast},
};
use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlImageElement;

use super::{
    browser,
    trial::{integer_scale, patch_image},
};
use crate::api::jnd::{JndPresentation, JndTrialUrls, MeasuredTiming};

/// The fixation mark's time on screen before the reference.
const FIXATION_MS: i32 = 500;
/// Frame intervals sampled to estimate the refresh rate.
const REFRESH_SAMPLES: usize = 20;

/// The median interval between consecutive animation frames, over
/// `REFRESH_SAMPLES` of them (the median ignores the odd late frame).
pub async fn measure_refresh_interval() -> f64 {
    let mut previous = browser::next_frame().await;
    let mut intervals = Vec::with_capacity(REFRESH_SAMPLES);
    while intervals.len() < REFRESH_SAMPLES {
        let now = browser::next_frame().await;
        intervals.push(now - previous);
        previous = now;
    }
    intervals.sort_by(f64::total_cmp);
    intervals[REFRESH_SAMPLES / 2]
}

/// A JND trial's two images being fetched and decoded.
pub struct PendingJndTrial {
    position: i32,
    reference: HtmlImageElement,
    distorted: HtmlImageElement,
    decoded: Promise,
}

/// A JND trial whose images are decoded: its sequence can start at once.
pub struct LoadedJndTrial {
    pub position: i32,
    reference: HtmlImageElement,
    distorted: HtmlImageElement,
}

/// Starts fetching and decoding a JND trial's images in the background.
pub fn start_loading(trial: &JndTrialUrls) -> Result<PendingJndTrial, String> {
    let reference = patch_image(&trial.reference_url, "reference patch")?;
    let distorted = patch_image(&trial.distorted_url, "second patch")?;
    let decoded = Promise::all(&Array::of2(&reference.decode(), &distorted.decode()));
    Ok(PendingJndTrial {
        position: trial.position,
        reference,
        distorted,
        decoded,
    })
}

impl PendingJndTrial {
    /// Waits until both images are decoded; fails if one cannot be loaded.
    pub async fn ready(self) -> Result<LoadedJndTrial, String> {
        JsFuture::from(self.decoded)
            .await
            .map_err(|_| format!("the images of trial {} could not be loaded", self.position))?;
        Ok(LoadedJndTrial {
            position: self.position,
            reference: self.reference,
            distorted: self.distorted,
        })
    }
}

/// What the worker answered.
#[derive(Debug, Clone, Copy)]
pub struct JndAnswer {
    pub said_same: bool,
    /// From the frame the distorted patch left the screen to the input event.
    pub response_ms: i32,
}

/// Where the sequence is: shown to tests and styles as `data-phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SequencePhase {
    Waiting,
    Fixation,
    Reference,
    Gap,
    Distorted,
    Question,
}

impl SequencePhase {
    fn name(self) -> &'static str {
        match self {
            SequencePhase::Waiting => "waiting",
            SequencePhase::Fixation => "fixation",
            SequencePhase::Reference => "reference",
            SequencePhase::Gap => "gap",
            SequencePhase::Distorted => "distorted",
            SequencePhase::Question => "question",
        }
    }
}

#[derive(Default)]
struct Gate {
    patch_css_px: Cell<Option<f64>>,
    lost_visibility: Cell<bool>,
    lost_focus: Cell<bool>,
    question_onset: Cell<f64>,
    answer: RefCell<Option<oneshot::Sender<JndAnswer>>>,
}

/// A handle to a `JndStageView`, to run trials on it and wait for answers.
#[derive(Clone, Copy)]
pub struct JndStage {
    slot: NodeRef<html::Div>,
    fixation: NodeRef<html::Span>,
    phase: RwSignal<SequencePhase>,
    shown_position: RwSignal<Option<i32>>,
    gate: StoredValue<Rc<Gate>, LocalStorage>,
}

impl JndStage {
    pub fn new() -> Self {
        JndStage {
            slot: NodeRef::new(),
            fixation: NodeRef::new(),
            phase: RwSignal::new(SequencePhase::Waiting),
            shown_position: RwSignal::new(None),
            gate: StoredValue::new_local(Rc::default()),
        }
    }

    /// Runs the trial's sequence, reference then distorted patch, on a display
    /// refreshing every `refresh_interval_ms`; returns its measured timing.
    /// None if the stage is gone (the worker left the page).
    pub async fn show(
        self,
        trial: &LoadedJndTrial,
        presentation: JndPresentation,
        refresh_interval_ms: f64,
    ) -> Option<MeasuredTiming> {
        let gate = self.gate.try_get_value()?;
        let slot = self.slot.get_untracked()?;
        let fixation = self.fixation.get_untracked()?;
        let size = match gate.patch_css_px.get() {
            Some(size) => size,
            None => {
                // Fixed for the whole assignment: every trial at the same size.
                let ratio = browser::device_pixel_ratio();
                let natural = trial.reference.natural_width();
                let scale = integer_scale(natural, f64::from(slot.client_width()), ratio);
                let size = f64::from(natural * scale) / ratio;
                gate.patch_css_px.set(Some(size));
                size
            }
        };
        for image in [&trial.reference, &trial.distorted] {
            let style = web_sys::HtmlElement::style(image);
            let _ = style.set_property("width", &format!("{size}px"));
            let _ = style.set_property("height", &format!("{size}px"));
        }
        let _ = web_sys::HtmlElement::style(&slot).set_property("height", &format!("{size}px"));
        self.shown_position.set(Some(trial.position));

        gate.lost_visibility.set(false);
        gate.lost_focus.set(false);
        let watch = PageWatch::start(&gate);
        let frames = |ms: i32| (f64::from(ms) / refresh_interval_ms).round();
        // Each change is made in a frame callback, so it is painted in that
        // frame, whose timestamp is the change's time.
        let mut now = browser::next_frame().await;
        let _ = web_sys::HtmlElement::style(&fixation).set_property("visibility", "visible");
        self.phase.set(SequencePhase::Fixation);
        now = wait_frames(now, frames(FIXATION_MS), refresh_interval_ms).await;
        let _ = web_sys::HtmlElement::style(&fixation).set_property("visibility", "hidden");
        slot.replace_children_with_node_1(&trial.reference);
        self.phase.set(SequencePhase::Reference);
        let reference_on_at_ms = now;
        now = wait_frames(now, frames(presentation.reference_ms), refresh_interval_ms).await;
        slot.replace_children_with_node_0();
        self.phase.set(SequencePhase::Gap);
        let reference_off_at_ms = now;
        now = wait_frames(now, frames(presentation.gap_ms), refresh_interval_ms).await;
        slot.replace_children_with_node_1(&trial.distorted);
        self.phase.set(SequencePhase::Distorted);
        let distorted_on_at_ms = now;
        now = wait_frames(now, frames(presentation.distorted_ms), refresh_interval_ms).await;
        slot.replace_children_with_node_0();
        let distorted_off_at_ms = now;
        drop(watch);
        gate.question_onset.set(distorted_off_at_ms);
        Some(MeasuredTiming {
            refresh_interval_ms,
            reference_on_at_ms,
            reference_off_at_ms,
            distorted_on_at_ms,
            distorted_off_at_ms,
            lost_visibility: gate.lost_visibility.get(),
            lost_focus: gate.lost_focus.get(),
        })
    }

    /// Asks "same or different?" and waits for the answer.
    pub async fn ask(self) -> Option<JndAnswer> {
        let gate = self.gate.try_get_value()?;
        let (answer, answered) = oneshot::channel();
        gate.answer.replace(Some(answer));
        self.phase.set(SequencePhase::Question);
        let answer = answered.await.ok();
        self.phase.set(SequencePhase::Waiting);
        answer
    }

    /// Takes the answer given by an input event at `event_time` (ms on the
    /// `performance.now()` clock). Only the first answer to a trial counts.
    fn answer(self, said_same: bool, event_time: f64) {
        let Some(gate) = self.gate.try_get_value() else {
            return;
        };
        let Some(answer) = gate.answer.take() else {
            return;
        };
        let response_ms = (event_time - gate.question_onset.get()).round().max(0.0) as i32;
        let _ = answer.send(JndAnswer {
            said_same,
            response_ms,
        });
    }
}

/// Waits from the frame at `start` until the frame `frames` frame intervals
/// later (by timestamp, so a skipped callback does not add a frame), and
/// returns that frame's timestamp.
async fn wait_frames(start: f64, frames: f64, refresh_interval_ms: f64) -> f64 {
    let mut now = start;
    while ((now - start) / refresh_interval_ms).round() < frames {
        now = browser::next_frame().await;
    }
    now
}

/// Records, while it lives, whether the page is hidden or loses the focus.
struct PageWatch {
    visibility: Closure<dyn FnMut()>,
    blur: Closure<dyn FnMut()>,
}

impl PageWatch {
    fn start(gate: &Rc<Gate>) -> Self {
        let watched = Rc::clone(gate);
        // Any change means the page was hidden at some moment: either now,
        // or before becoming visible again.
        let visibility = Closure::<dyn FnMut()>::new(move || watched.lost_visibility.set(true));
        let watched = Rc::clone(gate);
        let blur = Closure::<dyn FnMut()>::new(move || watched.lost_focus.set(true));
        let _ = document().add_event_listener_with_callback(
            "visibilitychange",
            visibility.as_ref().unchecked_ref(),
        );
        if let Some(window) = web_sys::window() {
            let _ = window.add_event_listener_with_callback("blur", blur.as_ref().unchecked_ref());
        }
        if document().hidden() {
            gate.lost_visibility.set(true);
        }
        PageWatch { visibility, blur }
    }
}

impl Drop for PageWatch {
    fn drop(&mut self) {
        let _ = document().remove_event_listener_with_callback(
            "visibilitychange",
            self.visibility.as_ref().unchecked_ref(),
        );
        if let Some(window) = web_sys::window() {
            let _ = window
                .remove_event_listener_with_callback("blur", self.blur.as_ref().unchecked_ref());
        }
    }
}

/// The JND trial's layout: one patch at a time in the middle, the fixation
/// mark in its place before, and two large answer buttons after.
#[component]
pub fn JndStageView(stage: JndStage) -> impl IntoView {
    let keys = window_event_listener(ev::keydown, move |event| {
        let said_same = match event.key().as_str() {
            "s" | "S" | "ArrowLeft" => true,
            "d" | "D" | "ArrowRight" => false,
            _ => return,
        };
        event.prevent_default();
        // A held key is one answer, not several.
        if !event.repeat() {
            stage.answer(said_same, event.time_stamp());
        }
    });
    on_cleanup(move || keys.remove());
    let asking = move || stage.phase.get() == SequencePhase::Question;
    view! {
        <div
            class="jnd-stage"
            data-phase=move || stage.phase.get().name()
            data-position=move || stage.shown_position.get().map(|position| position.to_string())
            data-accepting=move || asking().to_string()
        >
            <div class="jnd-display">
                <span class="fixation" node_ref=stage.fixation style="visibility: hidden">"+"</span>
                <div class="patch-slot jnd-slot" node_ref=stage.slot></div>
            </div>
            <p class="trial-question" class:invisible=move || !asking()>
                "Were the two patches the same or different?"
            </p>
            <div class="jnd-answers">
                <button
                    id="answer-same"
                    class="jnd-answer"
                    disabled=move || !asking()
                    on:click=move |event| stage.answer(true, event.time_stamp())
                >
                    "Same"
                    <span class="key-hint">"S or ←"</span>
                </button>
                <button
                    id="answer-different"
                    class="jnd-answer"
                    disabled=move || !asking()
                    on:click=move |event| stage.answer(false, event.time_stamp())
                >
                    "Different"
                    <span class="key-hint">"D or →"</span>
                </button>
            </div>
        </div>
    }
}
