use axum::{extract::State, Json};
use serde::Serialize;

use super::AppState;
use crate::error::Result;

#[derive(Serialize)]
pub struct Health {
    database: &'static str,
    /// The newest migration applied, so a load balancer or operator can see
    /// that every server runs against the schema it expects.
    schema_version: Option<i64>,
}

/// 200 when the database answers, 503 (with Retry-After) when it does not.
pub async fn check(State(state): State<AppState>) -> Result<Json<Health>> {
    let schema_version = sqlx::query_scalar!("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&state.pool)
        .await?;
    Ok(Json(Health {
        database: "up",
        schema_version,
    }))
}
