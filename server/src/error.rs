//! One error type for the HTTP API, mapped to status codes and a JSON body
//! `{"error": "..."}` that says what was wrong.

use axum::{
    extract::rejection::{JsonRejection, PathRejection},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    /// A request axum's extractors could not take apart, with the status
    /// they chose (400, 413 for a body over the limit, 415 for a missing
    /// content type, …).
    #[error("{message}")]
    Rejected { status: StatusCode, message: String },
    /// Not signed in, or the credentials are wrong.
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Understood, but not allowed for this caller (e.g. a worker's limit is reached).
    #[error("{0}")]
    Forbidden(String),
    /// Clashes with what is already stored (a reused id, a finished assignment).
    #[error("{0}")]
    Conflict(String),
    /// Existed, but no longer accepts anything (an expired assignment).
    #[error("{0}")]
    Gone(String),
    /// The client is going faster than a rate limit allows.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: std::time::Duration,
    },
    /// The database cannot be reached; clients should retry shortly.
    #[error("the database is unavailable: {0}")]
    DatabaseUnavailable(sqlx::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The core's errors, each with the status that says the same.
impl From<percept_core::Error> for Error {
    fn from(error: percept_core::Error) -> Self {
        use percept_core::Error as Core;
        match error {
            Core::Invalid(message) => Error::BadRequest(message),
            Core::Unauthenticated(message) => Error::Unauthorized(message),
            Core::NotFound(message) => Error::NotFound(message),
            Core::Forbidden(message) => Error::Forbidden(message),
            Core::Conflict(message) => Error::Conflict(message),
            Core::Gone(message) => Error::Gone(message),
            Core::TryLater {
                message,
                retry_after,
            } => Error::TooManyRequests {
                message,
                retry_after,
            },
            Core::DatabaseUnavailable(error) => Error::DatabaseUnavailable(error),
            Core::Internal(error) => Error::Internal(error),
        }
    }
}

/// The core tells a lost database from a failed query.
impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        percept_core::Error::from(error).into()
    }
}

/// A malformed request body or path names what is wrong, in the same JSON
/// shape as every other error.
impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        Error::Rejected {
            status: rejection.status(),
            message: rejection.body_text(),
        }
    }
}

impl From<PathRejection> for Error {
    fn from(rejection: PathRejection) -> Self {
        Error::Rejected {
            status: rejection.status(),
            message: rejection.body_text(),
        }
    }
}

impl Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Rejected { status, .. } => *status,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Gone(_) => StatusCode::GONE,
            Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Error::Internal(error) => tracing::error!("{error:#}"),
            Error::DatabaseUnavailable(error) => tracing::warn!("database unavailable: {error}"),
            _ => {}
        }
        let retry_after_seconds = match &self {
            Error::DatabaseUnavailable(_) => Some(2),
            // Whole seconds, rounded up: retrying early would only be refused again.
            Error::TooManyRequests { retry_after, .. } => {
                Some(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0))
            }
            _ => None,
        };
        let body = Json(json!({ "error": self.to_string() }));
        match retry_after_seconds {
            Some(seconds) => (
                status,
                [(header::RETRY_AFTER, seconds.max(1).to_string())],
                body,
            )
                .into_response(),
            None => (status, body).into_response(),
        }
    }
}
