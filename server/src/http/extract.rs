//! axum's `Json` and `Path` extractors with their rejections turned into
//! `Error`, so a malformed request gets the API's JSON error body.

use axum::extract::{FromRequest, FromRequestParts};

use crate::error::Error;

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct JsonBody<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Error))]
pub struct PathParams<T>(pub T);
