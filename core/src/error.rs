//! What can go wrong in the domain, said so that a person can act on it. The
//! server maps each kind to an HTTP status (one `From` in
//! `server/src/error.rs`); the CLI prints the message.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input breaks a rule; the message says which and what is allowed.
    #[error("{0}")]
    Invalid(String),
    /// Wrong credentials.
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    NotFound(String),
    /// Understood, but not allowed for this caller (e.g. a worker's limit is reached).
    #[error("{0}")]
    Forbidden(String),
    /// Clashes with what is already stored (a reused id, a finished assignment).
    #[error("{0}")]
    Conflict(String),
    /// Existed, but no longer accepts anything (an expired assignment).
    #[error("{0}")]
    Gone(String),
    /// Too many attempts: the caller must wait this long first.
    #[error("{message}")]
    TryLater {
        message: String,
        retry_after: std::time::Duration,
    },
    /// The database cannot be reached; try again shortly.
    #[error("the database is unavailable: {0}")]
    DatabaseUnavailable(sqlx::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error and its causes in one line, each said once: a message that
/// already quotes its cause (`cannot read x.png: {error}`) is not followed by
/// the cause again, as `{error:#}` would.
pub fn chain_message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || message.contains(text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(text);
    }
    message
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        let database_going_away = match &error {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
            // Connection failures (class 08), and the server shutting down or
            // starting up (57P01–57P03): what a pooled connection reports
            // after PostgreSQL restarts.
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
            }),
            _ => false,
        };
        if database_going_away {
            Error::DatabaseUnavailable(error)
        } else {
            Error::Internal(error.into())
        }
    }
}
