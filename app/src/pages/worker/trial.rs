//! One 2AFC trial on screen: the reference in the middle, the two patches
//! left and right, answered by a click or tap on a patch or by ←/→.
//!
//! A trial's three images are fetched and decoded before it is shown
//! (`start_loading`), so showing it costs no network time. Input is accepted
//! from the first animation frame after the images were painted, and the
//! response time is measured from that frame's timestamp.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use futures::channel::oneshot;
use js_sys::{Array, Promise};
use leptos::{ev, html, prelude::*};
use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlImageElement;

use super::browser;
use crate::api::judgments::Side;

/// Largest patch on screen, in device pixels: 4× a 64-pixel patch. Bigger
/// only adds viewing distance to the comparison.
const MAX_PATCH_DEVICE_PX: u32 = 256;

/// The integer factor a `patch_px`-wide patch is magnified by, when each
/// patch may take `available_css_px` CSS pixels on a screen with
/// `device_pixel_ratio` device pixels per CSS pixel. Integer magnification
/// in device pixels keeps every stimulus pixel a whole block of screen pixels.
pub fn integer_scale(patch_px: u32, available_css_px: f64, device_pixel_ratio: f64) -> u32 {
    let fitting = (available_css_px * device_pixel_ratio / f64::from(patch_px.max(1))).floor();
    let largest = (MAX_PATCH_DEVICE_PX / patch_px.max(1)).max(1);
    (fitting.max(0.0) as u32).clamp(1, largest)
}

/// The images of a trial being fetched and decoded.
pub struct PendingTrial {
    position: i32,
    images: TrialImages,
    decoded: Promise,
}

/// A trial whose images are decoded: it can be shown at once.
pub struct LoadedTrial {
    pub position: i32,
    images: TrialImages,
}

struct TrialImages {
    left: HtmlImageElement,
    reference: HtmlImageElement,
    right: HtmlImageElement,
}

/// Where a trial's three images are.
pub struct ImageUrls<'a> {
    pub reference: &'a str,
    pub left: &'a str,
    pub right: &'a str,
}

/// A patch image element that starts fetching `url`.
pub fn patch_image(url: &str, alt: &str) -> Result<HtmlImageElement, String> {
    let image = HtmlImageElement::new().map_err(|_| "cannot create an image".to_string())?;
    image.set_alt(alt);
    image.set_draggable(false);
    image.set_class_name("patch");
    image.set_src(url);
    Ok(image)
}

/// Starts fetching and decoding a trial's images in the background.
pub fn start_loading(position: i32, urls: ImageUrls<'_>) -> Result<PendingTrial, String> {
    let image = patch_image;
    let images = TrialImages {
        left: image(urls.left, "left patch")?,
        reference: image(urls.reference, "reference patch")?,
        right: image(urls.right, "right patch")?,
    };
    let decoded = Promise::all(&Array::of3(
        &images.left.decode(),
        &images.reference.decode(),
        &images.right.decode(),
    ));
    Ok(PendingTrial {
        position,
        images,
        decoded,
    })
}

impl PendingTrial {
    /// Waits until all three images are decoded; fails if one cannot be loaded.
    pub async fn ready(self) -> Result<LoadedTrial, String> {
        JsFuture::from(self.decoded)
            .await
            .map_err(|_| format!("the images of trial {} could not be loaded", self.position))?;
        Ok(LoadedTrial {
            position: self.position,
            images: self.images,
        })
    }
}

/// What the worker answered.
#[derive(Debug, Clone, Copy)]
pub struct Choice {
    pub side: Side,
    /// From the first frame after the images were painted to the input event.
    pub response_ms: i32,
}

/// The state behind a `TrialStage`: the scale (fixed once the first trial is
/// shown) and the answer being waited for.
#[derive(Default)]
struct Gate {
    patch_css_px: Cell<Option<(f64, f64)>>,
    onset: Cell<f64>,
    answer: RefCell<Option<oneshot::Sender<Choice>>>,
}

/// A handle to a `TrialStage`, used to show trials on it and wait for answers.
#[derive(Clone, Copy)]
pub struct Stage {
    left: NodeRef<html::Div>,
    reference: NodeRef<html::Div>,
    right: NodeRef<html::Div>,
    shown_position: RwSignal<Option<i32>>,
    accepting: RwSignal<bool>,
    gate: StoredValue<Rc<Gate>, LocalStorage>,
}

impl Stage {
    pub fn new() -> Self {
        Stage {
            left: NodeRef::new(),
            reference: NodeRef::new(),
            right: NodeRef::new(),
            shown_position: RwSignal::new(None),
            accepting: RwSignal::new(false),
            gate: StoredValue::new_local(Rc::default()),
        }
    }

    /// Shows `trial` and waits for the answer. None if the stage is gone
    /// (the worker left the page).
    pub async fn present(self, trial: LoadedTrial) -> Option<Choice> {
        let gate = self.gate.try_get_value()?;
        let slots = [self.left, self.reference, self.right].map(|slot| slot.get_untracked());
        let [Some(left), Some(reference), Some(right)] = slots else {
            return None;
        };
        let (width, height) = match gate.patch_css_px.get() {
            Some(size) => size,
            None => {
                // Fixed for the whole assignment: every trial at the same size.
                let ratio = browser::device_pixel_ratio();
                let natural = trial.images.reference.natural_width();
                let scale = integer_scale(natural, f64::from(left.client_width()), ratio);
                let css_px = |pixels: u32| f64::from(pixels * scale) / ratio;
                let size = (
                    css_px(natural),
                    css_px(trial.images.reference.natural_height()),
                );
                gate.patch_css_px.set(Some(size));
                size
            }
        };
        for (slot, image) in [
            (&left, &trial.images.left),
            (&reference, &trial.images.reference),
            (&right, &trial.images.right),
        ] {
            let style = web_sys::HtmlElement::style(image);
            let _ = style.set_property("width", &format!("{width}px"));
            let _ = style.set_property("height", &format!("{height}px"));
            slot.replace_children_with_node_1(image);
        }
        self.shown_position.set(Some(trial.position));
        // The first frame's callbacks run before the paint that shows the
        // images; the second frame comes after it.
        browser::next_frame().await;
        let onset = browser::next_frame().await;
        let (answer, answered) = oneshot::channel();
        gate.onset.set(onset);
        gate.answer.replace(Some(answer));
        self.accepting.set(true);
        let choice = answered.await.ok();
        self.accepting.set(false);
        choice
    }

    /// Takes the answer `side`, given by an input event at `event_time` (ms on
    /// the `performance.now()` clock). Only the first answer to a trial counts.
    fn answer(self, side: Side, event_time: f64) {
        let Some(gate) = self.gate.try_get_value() else {
            return;
        };
        let Some(answer) = gate.answer.take() else {
            return;
        };
        let response_ms = (event_time - gate.onset.get()).round().max(0.0) as i32;
        let _ = answer.send(Choice { side, response_ms });
    }
}

/// The trial's layout: the reference between the two choices, which are
/// large buttons so a tap anywhere near a patch counts.
#[component]
pub fn TrialStage(stage: Stage) -> impl IntoView {
    let keys = window_event_listener(ev::keydown, move |event| {
        let side = match event.key().as_str() {
            "ArrowLeft" => Side::Left,
            "ArrowRight" => Side::Right,
            _ => return,
        };
        event.prevent_default();
        // A held key is one answer, not several.
        if !event.repeat() {
            stage.answer(side, event.time_stamp());
        }
    });
    on_cleanup(move || keys.remove());
    let accepting = stage.accepting;
    view! {
        <div
            class="trial-stage"
            class:shown=move || stage.shown_position.get().is_some()
            data-position=move || stage.shown_position.get().map(|position| position.to_string())
            data-accepting=move || accepting.get().to_string()
        >
            <p class="trial-question">"Which patch is closer to the one in the middle?"</p>
            <div class="trial-patches">
                <button
                    id="choice-left"
                    class="patch-choice"
                    aria-label="The left patch is closer"
                    disabled=move || !accepting.get()
                    on:click=move |event| stage.answer(Side::Left, event.time_stamp())
                >
                    <div class="patch-slot" node_ref=stage.left></div>
                    <span class="key-hint">"← left"</span>
                </button>
                <div class="patch-reference">
                    <div class="patch-slot" node_ref=stage.reference></div>
                    <span class="key-hint">"reference"</span>
                </div>
                <button
                    id="choice-right"
                    class="patch-choice"
                    aria-label="The right patch is closer"
                    disabled=move || !accepting.get()
                    on:click=move |event| stage.answer(Side::Right, event.time_stamp())
                >
                    <div class="patch-slot" node_ref=stage.right></div>
                    <span class="key-hint">"right →"</span>
                </button>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::integer_scale;

    #[test]
    fn the_scale_is_the_largest_whole_factor_that_fits_in_device_pixels() {
        // A 390-px-wide phone at 3 device pixels per CSS pixel, ~110 CSS px a patch.
        assert_eq!(integer_scale(64, 110.0, 3.0), 4);
        assert_eq!(integer_scale(64, 110.0, 2.0), 3);
        assert_eq!(integer_scale(64, 110.0, 1.0), 1);
    }

    #[test]
    fn the_scale_is_at_least_one_and_at_most_256_device_pixels() {
        assert_eq!(integer_scale(64, 40.0, 1.0), 1);
        assert_eq!(integer_scale(64, 2000.0, 1.0), 4);
        assert_eq!(integer_scale(100, 2000.0, 1.0), 2);
        assert_eq!(integer_scale(512, 2000.0, 1.0), 1);
    }
}
