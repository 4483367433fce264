//! What the worker pages need from the browser beyond fetch: localStorage,
//! timers, animation frames, randomness and the clock. Called only from
//! effects and event handlers, which run in the hydrated page.

use chrono::{DateTime, Utc};
use js_sys::Promise;
use serde::{de::DeserializeOwned, Serialize};
use wasm_bindgen_futures::JsFuture;
use web_sys::Storage;

fn local_storage() -> Option<Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The JSON value stored under `key`, if there is a readable one.
pub fn load<T: DeserializeOwned>(key: &str) -> Option<T> {
    let text = local_storage()?.get_item(key).ok().flatten()?;
    serde_json::from_str(&text).ok()
}

/// Stores `value` as JSON under `key`. Storage may be unavailable (private
/// modes, full quota); the pages then work without surviving a reload.
pub fn save<T: Serialize>(key: &str, value: &T) {
    if let (Some(storage), Ok(text)) = (local_storage(), serde_json::to_string(value)) {
        let _ = storage.set_item(key, &text);
    }
}

pub fn forget(key: &str) {
    if let Some(storage) = local_storage() {
        let _ = storage.remove_item(key);
    }
}

/// Resolves after `milliseconds`.
pub async fn sleep(milliseconds: i32) {
    let timer = Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window
                .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, milliseconds);
        }
    });
    let _ = JsFuture::from(timer).await;
}

/// Resolves at the next animation frame with its timestamp (ms on the
/// `performance.now()` clock, the one event timestamps use).
pub async fn next_frame() -> f64 {
    let frame = Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.request_animation_frame(&resolve);
        }
    });
    JsFuture::from(frame)
        .await
        .ok()
        .and_then(|timestamp| timestamp.as_f64())
        .unwrap_or_default()
}

/// A random (version 4) UUID from `crypto.getRandomValues`, which unlike
/// `crypto.randomUUID` also works on pages served over plain http.
pub fn random_uuid() -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    let filled = web_sys::window()
        .and_then(|window| window.crypto().ok())
        .is_some_and(|crypto| crypto.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        // Every browser that runs wasm has crypto; this only keeps ids distinct.
        bytes = bytes.map(|_| (js_sys::Math::random() * 256.0) as u8);
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The browser's clock, to the millisecond.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(js_sys::Date::now() as i64).unwrap_or_default()
}

pub fn device_pixel_ratio() -> f64 {
    web_sys::window().map_or(1.0, |window| window.device_pixel_ratio())
}

/// Leaves the app for `url` (a crowd platform's completion page).
pub fn go_to(url: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_href(url);
    }
}
