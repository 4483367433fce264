//! axum's `Json`, `Path` and `Query` extractors with their rejections turned
//! into `Error`, so a malformed request gets the API's JSON error body rather
//! than axum's plain text.
//!
//! They also refuse text holding NUL characters (`%00` in a path or query,
//! `\u0000` in JSON): PostgreSQL cannot store or even compare such text, so
//! letting it through would fail the first query with a 500.

use axum::{
    extract::{FromRequest, FromRequestParts, Path, Query, RawPathParams, Request},
    http::request::Parts,
    Json,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::Error;

pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        // Read as a JSON value first, to look at every string, keys included.
        let Json(body) = Json::<Value>::from_request(request, state).await?;
        if holds_nul(&body) {
            return Err(nul_error("the JSON body"));
        }
        // With the path to the field at fault, as axum's own Json says it.
        serde_path_to_error::deserialize(body)
            .map(Self)
            .map_err(|error| {
                Error::BadRequest(format!(
                    "Failed to deserialize the JSON body into the target type: {error}"
                ))
            })
    }
}

pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| Error::BadRequest(rejection.body_text()))?;
        if raw.iter().any(|(_, value)| value.contains('\0')) {
            return Err(nul_error("the path"));
        }
        let Path(value) = Path::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let query_error = |rejection: axum::extract::rejection::QueryRejection| {
            Error::BadRequest(rejection.body_text())
        };
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(query_error)?;
        if pairs
            .iter()
            .any(|(name, value)| name.contains('\0') || value.contains('\0'))
        {
            return Err(nul_error("the query string"));
        }
        let Query(value) = Query::from_request_parts(parts, state)
            .await
            .map_err(query_error)?;
        Ok(Self(value))
    }
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || holds_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn nul_error(place: &str) -> Error {
    Error::BadRequest(format!(
        "{place} holds a NUL character, which no text may contain"
    ))
}
