//! What the researcher's triplet and pair browsers share
//! (`/api/experiments/{id}/triplets` and `…/pairs`): the paging query, the
//! refusal of the other kind's browser, and how a stored patch is sent.

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use sqlx::PgPool;

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

/// The stimuli an experiment holds: triplets (2AFC, method comparisons
/// included) or pairs (JND), each listed by its own browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stimuli {
    Triplets,
    Pairs,
}

impl Stimuli {
    /// The plural noun, which is also the browser's last path segment.
    fn name(self) -> &'static str {
        match self {
            Stimuli::Triplets => "triplets",
            Stimuli::Pairs => "pairs",
        }
    }
}

/// Refuses the `wanted` browser on an experiment holding the other kind of
/// stimuli (404), saying which kind it is and where its stimuli are listed:
/// an empty page would read as an experiment with no stimuli.
pub(super) async fn check_holds(pool: &PgPool, experiment_id: i64, wanted: Stimuli) -> Result<()> {
    let kind = sqlx::query_scalar!("SELECT kind FROM experiments WHERE id = $1", experiment_id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("there is no experiment {experiment_id}")))?;
    let holds = if kind == "jnd" {
        Stimuli::Pairs
    } else {
        Stimuli::Triplets
    };
    if holds == wanted {
        return Ok(());
    }
    Err(Error::NotFound(format!(
        "experiment {experiment_id} is a {} experiment: it has {}, not {}; they are listed at /api/experiments/{experiment_id}/{}",
        kind.to_uppercase(),
        holds.name(),
        wanted.name(),
        holds.name()
    )))
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
