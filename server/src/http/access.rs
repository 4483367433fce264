//! [`ExperimentAccess`]: what every researcher route under
//! `/api/experiments/{experiment_id}` takes instead of checking access by
//! hand, so a handler cannot forget the check. It answers 401 to someone not
//! signed in, 400 to a malformed id, and 404 to a researcher who neither
//! owns the experiment nor has it shared with them, as if it did not exist.

use std::collections::HashMap;

use axum::{extract::FromRequestParts, http::request::Parts};

use super::extract::PathParams;
use super::sessions::SignedInResearcher;
use super::AppState;
use crate::error::{Error, Result};
use crate::sharing;
pub use crate::sharing::Role;

/// A signed-in researcher who may see the experiment of the path's
/// `{experiment_id}`.
pub struct ExperimentAccess {
    pub experiment_id: i64,
    pub role: Role,
}

impl ExperimentAccess {
    /// Only the owner may go on (403 for a researcher it is shared with);
    /// `action` says what they may not do ("delete it").
    pub fn require_owner(&self, action: &str) -> Result<()> {
        match self.role {
            Role::Owner => Ok(()),
            Role::SharedReader => Err(Error::Forbidden(format!(
                "experiment {} is shared with you; only its owner can {action}",
                self.experiment_id
            ))),
        }
    }
}

impl FromRequestParts<AppState> for ExperimentAccess {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let researcher = SignedInResearcher::from_request_parts(parts, state).await?;
        let PathParams(params) =
            PathParams::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        let raw_id = params.get("experiment_id").ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "ExperimentAccess is taken on a route without {{experiment_id}}"
            ))
        })?;
        let experiment_id: i64 = raw_id.parse().map_err(|_| {
            Error::BadRequest(format!(
                "the experiment id must be a whole number, not {raw_id:?}"
            ))
        })?;
        let role = sharing::role(&state.pool, experiment_id, researcher.id)
            .await?
            .ok_or_else(|| no_such_experiment(experiment_id))?;
        Ok(Self {
            experiment_id,
            role,
        })
    }
}

/// What a researcher hears about an experiment they may not see.
fn no_such_experiment(experiment_id: i64) -> Error {
    Error::NotFound(format!("you have no experiment {experiment_id}"))
}
