//! `/a/{token}`, an assignment's trials, rendered by the app as any page; a
//! token no assignment has answers 404, with the page saying the link is not
//! valid (`UnknownAssignmentLink`), as a link to no experiment does at `/e/`.

use app::pages::worker::assignment::UnknownAssignmentLink;
use app::shell;
use axum::{
    body::Body,
    extract::State,
    http::{Request, StatusCode},
    response::{IntoResponse, Response},
};
use leptos::prelude::provide_context;

use super::AppState;

/// The route, as the Leptos route list names it (left out of that list, so
/// that this handler serves it).
pub const PATH: &str = "/a/{token}";

pub async fn page(State(state): State<AppState>, request: Request<Body>) -> Response {
    let token = request
        .uri()
        .path()
        .strip_prefix("/a/")
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned();
    let unknown = match known_token(&state, &token).await {
        Ok(known) => !known,
        // The page then asks the server itself, as before.
        Err(error) => {
            tracing::warn!(%error, "the assignment page is rendered without checking its token");
            false
        }
    };
    let leptos = state.leptos.clone();
    let render = leptos_axum::render_app_to_stream_with_context(
        move || {
            if unknown {
                provide_context(UnknownAssignmentLink);
            }
        },
        move || shell(leptos.clone()),
    );
    let mut response = render(request).await.into_response();
    if unknown {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    response
}

async fn known_token(state: &AppState, token: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM assignments WHERE token = $1) AS "exists!""#,
        token
    )
    .fetch_one(&state.pool)
    .await
}
