//! The JSON API called from the hydrated pages. Browser only: these use the
//! window's `fetch`, so the server never calls them.

use leptos::wasm_bindgen::{JsCast, JsValue};
use serde::{de::DeserializeOwned, Serialize};
use wasm_bindgen_futures::JsFuture;
use web_sys::{FormData, Request, RequestInit, Response};

use super::assignments::{Assignment, AssignmentProgress, AssignmentRequest};
use super::jnd::{JndJudgmentReceipt, NewJndJudgment};
use super::judgments::{JudgmentReceipt, NewJudgment};
use super::practice::PracticeTrial;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The server answered with this status and its `{"error"}` message.
    Status { status: u16, message: String },
    /// No usable answer: offline, connection dropped, unreadable body.
    Network(String),
}

impl ApiError {
    /// Whether the same request may succeed later (the server or the network
    /// was briefly unavailable), as opposed to being refused for good.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Network(_) => true,
            ApiError::Status { status, .. } => *status >= 500 || *status == 429,
        }
    }

    /// What to tell the worker.
    pub fn message(&self) -> String {
        match self {
            ApiError::Status { message, .. } => message.clone(),
            ApiError::Network(reason) => format!("the server could not be reached ({reason})"),
        }
    }
}

pub async fn request_assignment(
    experiment_id: i64,
    request: &AssignmentRequest,
) -> Result<Assignment, ApiError> {
    send(
        "POST",
        &format!("/api/experiments/{experiment_id}/assignments"),
        Some(request),
    )
    .await
}

pub async fn assignment_progress(token: &str) -> Result<AssignmentProgress, ApiError> {
    send::<(), _>("GET", &format!("/api/assignments/{token}"), None).await
}

pub async fn submit_judgment(
    token: &str,
    judgment: &NewJudgment,
) -> Result<JudgmentReceipt, ApiError> {
    send(
        "POST",
        &format!("/api/assignments/{token}/judgments"),
        Some(judgment),
    )
    .await
}

pub async fn submit_jnd_judgment(
    token: &str,
    judgment: &NewJndJudgment,
) -> Result<JndJudgmentReceipt, ApiError> {
    send(
        "POST",
        &format!("/api/assignments/{token}/jnd-judgments"),
        Some(judgment),
    )
    .await
}

pub async fn practice_trial(experiment_id: i64) -> Result<PracticeTrial, ApiError> {
    send::<(), _>(
        "GET",
        &format!("/api/experiments/{experiment_id}/practice"),
        None,
    )
    .await
}

async fn send<B: Serialize, T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: Option<&B>,
) -> Result<T, ApiError> {
    let body = match body {
        Some(body) => Some(RequestBody::Json(serde_json::to_string(body).map_err(
            |error| ApiError::Network(format!("unencodable request: {error}")),
        )?)),
        None => None,
    };
    fetch(method, path, body).await
}

/// What a request carries.
pub(crate) enum RequestBody<'a> {
    Json(String),
    /// Multipart form data, which sets its own content type.
    Form(&'a FormData),
}

/// Calls the API; an empty successful answer reads as JSON `null`, and a
/// refusal carries the server's `{"error"}` message.
pub(crate) async fn fetch<T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: Option<RequestBody<'_>>,
) -> Result<T, ApiError> {
    let init = RequestInit::new();
    init.set_method(method);
    match &body {
        Some(RequestBody::Json(json)) => init.set_body(&JsValue::from_str(json)),
        Some(RequestBody::Form(form)) => init.set_body(form),
        None => {}
    }
    let request = Request::new_with_str_and_init(path, &init).map_err(network_error)?;
    if let Some(RequestBody::Json(_)) = body {
        request
            .headers()
            .set("Content-Type", "application/json")
            .map_err(network_error)?;
    }
    let window = web_sys::window().ok_or_else(|| ApiError::Network("no window".into()))?;
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(network_error)?
        .unchecked_into();
    let text = JsFuture::from(response.text().map_err(network_error)?)
        .await
        .map_err(network_error)?
        .as_string()
        .unwrap_or_default();
    if response.ok() {
        let text = if text.is_empty() { "null" } else { &text };
        serde_json::from_str(text)
            .map_err(|error| ApiError::Network(format!("unreadable answer: {error}")))
    } else {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|body| body["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("the server answered {}", response.status()));
        Err(ApiError::Status {
            status: response.status(),
            message,
        })
    }
}

fn network_error(error: JsValue) -> ApiError {
    ApiError::Network(
        error
            .dyn_ref::<js_sys::Error>()
            .map(|error| String::from(error.message()))
            .or_else(|| error.as_string())
            .unwrap_or_else(|| format!("{error:?}")),
    )
}
