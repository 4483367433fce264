//! `/api/session`: researchers sign in and out of the dashboard.
//!
//! A session (`percept_core::sessions`) is a random 256-bit token in an
//! HttpOnly, SameSite=Strict cookie; the database keeps only its SHA-256. Being SameSite=Strict, the cookie never rides along on another
//! site's requests, which is the first protection of the JSON API from
//! cross-site request forgery (`cross_origin` is the second).
//!
//! Sign-in attempts are limited per client address, and each email's failures
//! make its next attempts wait longer (`researchers::authenticate`).

use app::api::sessions::{Researcher, SignIn};
use axum::{
    extract::{FromRequestParts, State},
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

use super::extract::JsonBody;
use super::rate_limits::ClientIp;
use super::AppState;
use crate::error::{Error, Result};
use crate::researchers;
use percept_core::sessions::{self, SESSION_DAYS};

const COOKIE_NAME: &str = "percept_session";

/// A request from a signed-in researcher; any other gets 401.
pub struct SignedInResearcher {
    pub id: i64,
    pub email: String,
}

impl FromRequestParts<AppState> for SignedInResearcher {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let not_signed_in = || Error::Unauthorized("sign in first".into());
        let token = session_token(&parts.headers).ok_or_else(not_signed_in)?;
        let researcher = sessions::researcher(&state.pool, &token)
            .await?
            .ok_or_else(not_signed_in)?;
        Ok(Self {
            id: researcher.id,
            email: researcher.email,
        })
    }
}

/// `POST /api/session`: checks the email and password and sets the cookie.
#[utoipa::path(
    post,
    path = "/api/session",
    operation_id = "sign_in",
    tag = "researchers",
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in: the session cookie is set", body = Researcher,
            headers(("Set-Cookie" = String, description = "`percept_session`, HttpOnly, SameSite=Strict, for 14 days"))),
        (status = 400, description = "The body is malformed", body = super::openapi::ErrorBody),
        (status = 415, description = "The body is not sent as `Content-Type: application/json`", body = super::openapi::ErrorBody),
        (status = 401, description = "Wrong email or password", body = super::openapi::ErrorBody),
        (status = 429, description = "Too many attempts from this address, or too many failures for this email: wait as long as Retry-After says", body = super::openapi::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    JsonBody(sign_in): JsonBody<SignIn>,
) -> Result<Response> {
    state.limits.sign_ins_per_ip.take(client_ip)?;
    let researcher_id =
        researchers::authenticate(&state.pool, &sign_in.email, &sign_in.password).await?;
    let (token, researcher) = sessions::start(&state.pool, researcher_id).await?;
    let cookie = format!(
        "{COOKIE_NAME}={token}; Max-Age={}; Path=/; HttpOnly; SameSite=Strict{}",
        SESSION_DAYS * 24 * 60 * 60,
        secure_attribute(&headers),
    );
    Ok((
        StatusCode::OK,
        [(header::SET_COOKIE, cookie_header(cookie)?)],
        Json(researcher),
    )
        .into_response())
}

/// `GET /api/session`: who is signed in (401 when nobody is).
#[utoipa::path(
    get,
    path = "/api/session",
    operation_id = "get_session",
    tag = "researchers",
    security(("percept_session" = [])),
    responses(
        (status = 200, description = "The signed-in researcher", body = Researcher),
        (status = 401, description = "Not signed in", body = super::openapi::ErrorBody),
    ),
)]
pub async fn get(researcher: SignedInResearcher) -> Json<Researcher> {
    Json(Researcher {
        id: researcher.id,
        email: researcher.email,
    })
}

/// `DELETE /api/session`: ends the session, if any, and clears the cookie.
#[utoipa::path(
    delete,
    path = "/api/session",
    operation_id = "sign_out",
    tag = "researchers",
    security((), ("percept_session" = [])),
    responses(
        (status = 204, description = "Signed out (or was not signed in): the session ends and the cookie is cleared",
            headers(("Set-Cookie" = String, description = "`percept_session` emptied, Max-Age=0"))),
    ),
)]
pub async fn delete(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    if let Some(token) = session_token(&headers) {
        sessions::end(&state.pool, &token).await?;
    }
    let cookie = format!(
        "{COOKIE_NAME}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict{}",
        secure_attribute(&headers)
    );
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, cookie_header(cookie)?)],
    )
        .into_response())
}

/// The session cookie's value, from any of the request's Cookie headers.
fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE_NAME && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// Behind a TLS-terminating proxy the cookie must only travel over HTTPS;
/// on plain-HTTP development servers a Secure cookie would never come back.
fn secure_attribute(headers: &HeaderMap) -> &'static str {
    let over_https = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"));
    if over_https {
        "; Secure"
    } else {
        ""
    }
}

fn cookie_header(cookie: String) -> Result<HeaderValue> {
    HeaderValue::try_from(cookie)
        .map_err(|error| anyhow::anyhow!("a session cookie is not a valid header: {error}").into())
}
