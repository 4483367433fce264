use axum::{extract::State, Json};
use serde::Serialize;

use super::AppState;
use crate::error::Result;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    database: &'static str,
    /// The newest migration applied, so a load balancer or operator can see
    /// that every server runs against the schema it expects.
    schema_version: Option<i64>,
}

/// 200 when the database answers, 503 (with Retry-After) when it does not.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "check_health",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = Health),
        (status = 503, description = "The database cannot be reached",
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying")),
            body = super::openapi::ErrorBody),
    ),
)]
pub async fn check(State(state): State<AppState>) -> Result<Json<Health>> {
    let schema_version = crate::db::schema_version(&state.pool).await?;
    Ok(Json(Health {
        database: "up",
        schema_version,
    }))
}
