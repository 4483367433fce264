//! Protection against cross-site request forgery: a browser request that
//! would change something and comes from another site is refused.
//!
//! The session cookie is SameSite=Strict, so another site's forged request
//! arrives without it. This is the second layer, for browsers or proxies
//! that get SameSite wrong and for the requests that need no cookie (sign-in
//! itself). Browsers say where a request comes from in `Sec-Fetch-Site`, and
//! older ones in `Origin`; clients that are not browsers (the CLI, scripts)
//! send neither and cannot be forged by a web page, so they pass.

use axum::{
    extract::Request,
    http::{header, uri::Authority, HeaderMap, Method},
    middleware::Next,
    response::Response,
};

use crate::error::{Error, Result};

pub async fn refuse_cross_site_changes(request: Request, next: Next) -> Result<Response> {
    let changes_something = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if changes_something && !same_origin(request.headers(), request.uri().authority()) {
        return Err(Error::Forbidden(
            "this request came from another site: pages of other sites cannot change \
             anything here (send it from this site's pages, or without a browser)"
                .into(),
        ));
    }
    Ok(next.run(request).await)
}

/// `authority` is the request URI's, which HTTP/2 sends instead of a Host header.
fn same_origin(headers: &HeaderMap, authority: Option<&Authority>) -> bool {
    let header = |name| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        // "none": the user typed the address or used a bookmark.
        return matches!(site, "same-origin" | "none");
    }
    let Some(origin) = header(header::ORIGIN.as_str()) else {
        return true;
    };
    let origin_host = origin
        .split_once("://")
        .map(|(_, host)| host)
        .unwrap_or(origin);
    header(header::HOST.as_str())
        .or(authority.map(Authority::as_str))
        .is_some_and(|host| host.eq_ignore_ascii_case(origin_host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.parse().unwrap(), value.parse().unwrap()))
            .collect()
    }

    #[test]
    fn browsers_fetch_metadata_decides_when_present() {
        assert!(same_origin(
            &headers(&[("sec-fetch-site", "same-origin")]),
            None
        ));
        assert!(same_origin(&headers(&[("sec-fetch-site", "none")]), None));
        assert!(!same_origin(
            &headers(&[("sec-fetch-site", "cross-site")]),
            None
        ));
        // A sibling subdomain is another site as far as the session is concerned.
        assert!(!same_origin(
            &headers(&[
                ("sec-fetch-site", "same-site"),
                ("origin", "https://percept.example"),
                ("host", "percept.example"),
            ]),
            None
        ));
    }

    #[test]
    fn otherwise_the_origin_must_name_this_host() {
        assert!(same_origin(
            &headers(&[
                ("origin", "https://percept.example"),
                ("host", "percept.example"),
            ]),
            None
        ));
        assert!(!same_origin(
            &headers(&[
                ("origin", "https://evil.example"),
                ("host", "percept.example"),
            ]),
            None
        ));
        assert!(!same_origin(
            &headers(&[("origin", "null"), ("host", "percept.example")]),
            None
        ));
        // No browser: nothing to forge.
        assert!(same_origin(&headers(&[("host", "percept.example")]), None));
        // HTTP/2 names the host in the request URI instead.
        let authority: Authority = "percept.example".parse().unwrap();
        assert!(same_origin(
            &headers(&[("origin", "https://percept.example")]),
            Some(&authority)
        ));
        assert!(!same_origin(
            &headers(&[("origin", "https://evil.example")]),
            Some(&authority)
        ));
    }
}
