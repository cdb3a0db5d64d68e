//! The browser client, embedded in the binary.
//!
//! `build.rs` points [`WebAssets`] at `web-client/dist` (built by `npm run build`), or at
//! `server/fallback/` when the client was not built, so the crate always compiles. In release
//! builds the files are inside the binary; debug builds read them from that folder.
//!
//! - `/` and `/r/{code}` serve `index.html` (the client routes on the path), `no-cache`.
//! - Every other file of the build is served at its path with its content type; Vite's
//!   content-hashed files under `assets/` are `immutable`, the rest `no-cache`.
//! - `/favicon.ico` serves the client's SVG die (`favicon.svg`), as browsers ask for it.
//! - The client build precompresses its text files (`x.js.br`, `x.js.gz`, written by
//!   `web-client/scripts/precompress.mjs`). A request whose `Accept-Encoding` allows it gets
//!   the brotli (else gzip) file with `Content-Encoding`, the original's content type, and
//!   `Vary: Accept-Encoding`; others get the original. Nothing is compressed at run time.
//! - Anything else is `404`.
//!
//! Every answer carries an `ETag` (the file's SHA-256), and a matching `If-None-Match` gets
//! `304 Not Modified`.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

/// The files of the built web client (or of the fallback page).
#[derive(Embed, Debug)]
#[folder = "$PERUDO_WEB_DIR"]
pub struct WebAssets;

/// Whether the real client was embedded (false: the fallback page saying how to build it).
pub const CLIENT_BUILT: bool = matches!(env!("PERUDO_WEB_CLIENT_BUILT").as_bytes(), b"1");

/// The cache policy of content-hashed files: they never change under their name.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The cache policy of everything else: revalidate every time (cheap, thanks to the ETag).
pub const NO_CACHE: &str = "no-cache";

/// `GET /` and `GET /r/{code}`: the client's single page.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// Every path no other route takes: a file of the client build, or `404`.
pub async fn file(method: Method, uri: axum::http::Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    // `/api/...` never falls back to a file: an endpoint that does not exist is the API's
    // JSON error, whatever the method.
    if path == "api" || path.starts_with("api/") {
        return crate::routes::api_not_found().into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    // `index.html` has its routes.
    if path.is_empty() {
        return StatusCode::NOT_FOUND.into_response();
    }
    if path == "favicon.ico" {
        return serve("favicon.svg", &headers);
    }
    serve(path, &headers)
}

/// The precompressed encodings, in order of preference: (`Content-Encoding`, file suffix).
const ENCODINGS: [(&str, &str); 2] = [("br", ".br"), ("gzip", ".gz")];

/// Whether `Accept-Encoding` allows `coding` (present, and not `;q=0`).
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case(coding) && !refused
        })
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(original) = WebAssets::get(path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mime = original.metadata.mimetype().to_owned();
    let mut variants = ENCODINGS
        .iter()
        .filter_map(|&(coding, suffix)| Some((coding, WebAssets::get(&format!("{path}{suffix}"))?)))
        .peekable();
    let has_variants = variants.peek().is_some();
    let chosen = variants.find(|(coding, _)| accepts(headers, coding));
    let (encoding, file) = match chosen {
        Some((coding, file)) => (Some(coding), file),
        None => (None, original),
    };
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let cache = if path.starts_with("assets/") {
        IMMUTABLE
    } else {
        NO_CACHE
    };
    let mut response = if if_none_match(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = file.data.into_owned().into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&mime)
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
        );
        if let Some(coding) = encoding {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        response
    };
    let out = response.headers_mut();
    if has_variants {
        out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, value);
    }
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}
