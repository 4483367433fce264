//! The site's static files (the CSS, the hydration bundle), held in memory
//! and sent as `cargo xtask build` left them.
//!
//! They are embedded in the `percept` binary at build time (see
//! `server/build.rs`), so `percept serve` works from any folder;
//! `--static-dir` reads a folder of the same layout instead, at start-up,
//! for development. Either way the same table serves them:
//!
//! - each file's precompressed copies (`.br`, `.gz`) are sent when the
//!   request's `Accept-Encoding` allows them (brotli first), with `Vary`;
//! - the hydration bundle is served under a folder named by its content,
//!   `/pkg/<hash>/`, which browsers may keep for a year (`immutable`); a new
//!   build is a new URL;
//! - every other name (the CSS) is revalidated (`no-cache`) with an `ETag`
//!   per content and encoding, answered `304 Not Modified` when it matches
//!   `If-None-Match`.

use std::{collections::HashMap, fs, path::Path, sync::Arc};

use axum::{
    body::{Body, Bytes},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/static_files.rs"));
}

/// The files of the hydration bundles (every page's `app`, and the crowd
/// worker pages' `worker`: see `app::bundle_for`), under `pkg/`.
const BUNDLE: [&str; 4] = ["app.js", "app_bg.wasm", "worker.js", "worker_bg.wasm"];

/// What a cache may do with a name that never changes meaning.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// What a cache may do with a name whose content may change: ask first.
const REVALIDATE: &str = "no-cache";

/// The static files by path (relative to the site root, e.g. `percept.css`,
/// `pkg/app.js`), and the URL folder of the bundle. Cheap to clone.
#[derive(Clone)]
pub struct StaticFiles {
    files: Arc<HashMap<String, File>>,
    bundle_path: String,
}

struct File {
    content_type: HeaderValue,
    /// The file as is, then its compressed copies, each with its
    /// `Content-Encoding` (none for the file itself) and `ETag`.
    representations: Vec<Representation>,
}

struct Representation {
    encoding: Option<&'static str>,
    etag: HeaderValue,
    data: Bytes,
}

/// The encodings of precompressed copies, by file suffix, in order of preference.
const ENCODINGS: [(&str, &str); 2] = [(".br", "br"), (".gz", "gzip")];

impl StaticFiles {
    /// The files embedded in this binary when it was built.
    pub fn embedded() -> Self {
        Self::from_files(
            embedded::EMBEDDED
                .iter()
                .map(|(path, bytes)| (path.to_string(), Bytes::from_static(bytes))),
        )
    }

    /// The files under `folder`, read now (for development: `--static-dir`).
    pub fn read_dir(folder: &Path) -> anyhow::Result<Self> {
        let mut files = Vec::new();
        read_tree(folder, folder, &mut files).map_err(|error| {
            anyhow::anyhow!(
                "cannot read the static files in {}: {error}",
                folder.display()
            )
        })?;
        Ok(Self::from_files(files.into_iter()))
    }

    fn from_files(files: impl Iterator<Item = (String, Bytes)>) -> Self {
        let mut by_path: HashMap<String, Bytes> = files.collect();
        let mut compressed: HashMap<String, Vec<(&'static str, Bytes)>> = HashMap::new();
        for (suffix, encoding) in ENCODINGS {
            let copies: Vec<String> = by_path
                .keys()
                .filter(|path| path.ends_with(suffix))
                .cloned()
                .collect();
            for copy in copies {
                let original = copy.strip_suffix(suffix).unwrap().to_owned();
                if by_path.contains_key(&original) {
                    let bytes = by_path.remove(&copy).unwrap();
                    compressed
                        .entry(original)
                        .or_default()
                        .push((encoding, bytes));
                }
            }
        }
        let mut bundle_hash = Sha256::new();
        for name in BUNDLE {
            if let Some(bytes) = by_path.get(&format!("pkg/{name}")) {
                bundle_hash.update(bytes);
            }
        }
        let has_bundle = BUNDLE
            .iter()
            .all(|name| by_path.contains_key(&format!("pkg/{name}")));
        let bundle_path = if has_bundle {
            format!("pkg/{}", hex(&bundle_hash.finalize()[..8]))
        } else {
            "pkg".into()
        };
        let files = by_path
            .into_iter()
            .map(|(path, bytes)| {
                let content_type = mime_guess::from_path(&path)
                    .first_raw()
                    .unwrap_or("application/octet-stream");
                let content_hash = hex(&Sha256::digest(&bytes)[..8]);
                let mut copies = compressed.remove(&path).unwrap_or_default();
                copies.sort_by_key(|(encoding, _)| {
                    ENCODINGS.iter().position(|(_, known)| known == encoding)
                });
                let representations = std::iter::once((None, bytes))
                    .chain(
                        copies
                            .into_iter()
                            .map(|(encoding, bytes)| (Some(encoding), bytes)),
                    )
                    .map(|(encoding, data)| Representation {
                        encoding,
                        etag: HeaderValue::from_str(&match encoding {
                            None => format!("\"{content_hash}\""),
                            Some(encoding) => format!("\"{content_hash}-{encoding}\""),
                        })
                        .unwrap(),
                        data,
                    })
                    .collect();
                let content_type = match content_type {
                    "application/javascript" => "text/javascript",
                    other => other,
                };
                let file = File {
                    content_type: HeaderValue::from_str(content_type).unwrap(),
                    representations,
                };
                (path, file)
            })
            .collect();
        Self {
            files: Arc::new(files),
            bundle_path,
        }
    }

    /// The URL folder of the hydration bundle, without a leading slash:
    /// `pkg/` and the first 16 hex digits of the SHA-256 of the bundles'
    /// JavaScript and wasm (plain `pkg` when there is no bundle).
    pub fn bundle_path(&self) -> &str {
        &self.bundle_path
    }

    /// An error saying what to do when there is no hydration bundle: pages
    /// would render but never respond (the sign-in button would stay off).
    pub fn require_bundle(&self, source: &str) -> anyhow::Result<()> {
        let missing: Vec<String> = BUNDLE
            .iter()
            .map(|name| format!("pkg/{name}"))
            .filter(|path| !self.files.contains_key(path))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        anyhow::bail!(
            "{source} has no hydration bundle ({} missing): pages would render but never \
             respond. Build the binary with `cargo xtask build` (it builds the bundle first \
             and embeds it), or pass --static-dir with a folder holding {}",
            missing.join(", "),
            BUNDLE.map(|name| format!("pkg/{name}")).join(", ")
        )
    }

    /// The response to a request for `path` (the URL path), or `None` when
    /// there is no such file.
    pub fn respond(&self, method: &Method, path: &str, request: &HeaderMap) -> Option<Response> {
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        let path = path.trim_start_matches('/');
        let (name, cache_control) = match path
            .strip_prefix(self.bundle_path.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
        {
            Some(rest) if self.bundle_path != "pkg" => (format!("pkg/{rest}"), IMMUTABLE),
            _ => (path.to_owned(), REVALIDATE),
        };
        let file = self.files.get(&name)?;
        let accepted = accepted_encodings(request);
        // The compressed copies in order of preference, then the file itself.
        let chosen = file.representations[1..]
            .iter()
            .find(|representation| {
                accepted
                    .iter()
                    .any(|known| Some(*known) == representation.encoding)
            })
            .unwrap_or(&file.representations[0]);
        let mut response = if matches(request, &chosen.etag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            // hyper leaves the body out of an answer to HEAD.
            let mut response = Response::new(Body::from(chosen.data.clone()));
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, file.content_type.clone());
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(chosen.data.len()));
            if let Some(encoding) = chosen.encoding {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
            }
            response
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, chosen.etag.clone());
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        );
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        Some(response)
    }
}

/// The content codings the request accepts (`br`, `gzip`), leaving out
/// those with `q=0`; `*` accepts both.
fn accepted_encodings(request: &HeaderMap) -> Vec<&'static str> {
    let mut accepted = Vec::new();
    for value in request.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|parameter| {
                let parameter = parameter.trim().to_ascii_lowercase();
                parameter
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            for (_, known) in ENCODINGS {
                if coding == known || coding == "*" {
                    accepted.push(known);
                }
            }
        }
    }
    accepted
}

/// Whether `If-None-Match` names this representation's ETag (or `*`).
fn matches(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let etag = etag.to_str().unwrap_or_default();
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn read_tree(root: &Path, folder: &Path, files: &mut Vec<(String, Bytes)>) -> std::io::Result<()> {
    for entry in fs::read_dir(folder)? {
        let path = entry?.path();
        if path.is_dir() {
            read_tree(root, &path, files)?;
        } else {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            files.push((relative, fs::read(&path)?.into()));
        }
    }
    Ok(())
}
