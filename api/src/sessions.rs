//! Researchers' sessions: signing in to the dashboard.

use serde::{Deserialize, Serialize};

/// `POST /api/session`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

/// Who is signed in: the answer to `POST` and `GET /api/session`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Researcher {
    pub id: i64,
    pub email: String,
}
