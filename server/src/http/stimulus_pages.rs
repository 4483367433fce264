//! What the researcher's triplet and pair browsers share
//! (`/api/experiments/{id}/triplets` and `…/pairs`): the paging query, and
//! how a stored patch is sent.

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use crate::error::{Error, Result};

const DEFAULT_PAGE: i64 = 20;
const MAX_PAGE: i64 = 200;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Stimuli (triplets or pairs) to skip, in generation order.
    #[serde(default)]
    #[param(minimum = 0)]
    pub(super) offset: i64,
    /// Stimuli to return (20 when left out).
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 200)]
    pub(super) limit: i64,
}

impl Page {
    /// Refuses an offset or limit out of range.
    pub(super) fn check(&self) -> Result<()> {
        if self.offset < 0 || !(1..=MAX_PAGE).contains(&self.limit) {
            return Err(Error::BadRequest(format!(
                "offset must be at least 0 and limit between 1 and {MAX_PAGE}"
            )));
        }
        Ok(())
    }
}

fn default_limit() -> i64 {
    DEFAULT_PAGE
}

/// One of a stimulus's stored patches, as PNG.
pub(super) fn stored_png(png: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            // Stored stimuli never change; only researchers with access may see them.
            (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
        ],
        png,
    )
        .into_response()
}
