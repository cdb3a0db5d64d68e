//! The embedded web client: its pages, its files, their content types and cache headers.
//!
//! These pass with the real client build (web-client/dist) and with the fallback page that
//! is embedded when the client was not built.

use perudo_server::web::{CLIENT_BUILT, IMMUTABLE, NO_CACHE, WebAssets};

use crate::server::{HttpResponse, TestServer};

fn header<'a>(response: &'a HttpResponse, name: &str) -> Option<&'a str> {
    response.headers.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

fn assert_index(response: &HttpResponse, path: &str) {
    assert_eq!(response.status, 200, "{path}: {}", response.headers);
    assert_eq!(
        header(response, "content-type"),
        Some("text/html"),
        "{path} is HTML"
    );
    assert_eq!(header(response, "cache-control"), Some(NO_CACHE), "{path}");
    assert!(
        response
            .body
            .to_ascii_lowercase()
            .starts_with("<!doctype html"),
        "{path} serves an HTML page: {}",
        response.body
    );
}

#[tokio::test]
async fn home_and_share_links_serve_the_client_page() {
    let server = TestServer::fast().await;
    let home = server.get("/").await;
    assert_index(&home, "/");
    let room = server.get("/r/ABCDEFGHJ").await;
    assert_index(&room, "/r/ABCDEFGHJ");
    assert_eq!(
        home.body, room.body,
        "one single-page client for every route"
    );
    let index = WebAssets::get("index.html").expect("index.html is embedded");
    assert_eq!(home.body.as_bytes(), index.data.as_ref());
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_not_found() {
    let server = TestServer::fast().await;
    for path in [
        "/assets/no-such-file-1234.js",
        "/no-such-page",
        "/r/ABCDEFGHJ/extra",
        "/api/nothing-here",
        "/../Cargo.toml",
        "/assets/../../Cargo.toml",
    ] {
        let response = server.get(path).await;
        assert_eq!(response.status, 404, "{path}: {}", response.headers);
    }
    // The API and the health check are untouched.
    assert_eq!(server.get("/healthz").await.body, "ok");
    assert_eq!(server.get("/api/rooms/ABCDEFGHJ").await.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn every_embedded_file_is_served_with_its_type_and_cache_policy() {
    let server = TestServer::fast().await;
    let mut count = 0;
    for path in WebAssets::iter() {
        let file = WebAssets::get(&path).expect("listed files exist");
        let response = server.get(&format!("/{path}")).await;
        assert_eq!(response.status, 200, "/{path}");
        assert_eq!(
            header(&response, "content-type"),
            Some(file.metadata.mimetype()),
            "/{path}"
        );
        let expected = if path.starts_with("assets/") {
            IMMUTABLE
        } else {
            NO_CACHE
        };
        assert_eq!(
            header(&response, "cache-control"),
            Some(expected),
            "/{path}"
        );
        if path.ends_with(".js") {
            assert_eq!(file.metadata.mimetype(), "text/javascript", "/{path}");
        }
        if path.ends_with(".css") {
            assert_eq!(file.metadata.mimetype(), "text/css", "/{path}");
        }
        count += 1;
    }
    assert!(count >= 1, "at least index.html is embedded");
    server.stop().await;
}

#[tokio::test]
async fn precompressed_files_go_to_clients_that_accept_them() {
    let server = TestServer::fast().await;
    let mut checked = Vec::new();
    for path in WebAssets::iter() {
        let Some(original_path) = path.strip_suffix(".br") else {
            continue;
        };
        let original = WebAssets::get(original_path).expect("a .br file sits by its original");
        let br = WebAssets::get(&path).expect("listed");
        let gz = WebAssets::get(&format!("{original_path}.gz")).expect("and a .gz file");
        let url = format!("/{original_path}");
        let mime = original.metadata.mimetype();
        for (accept, coding, body) in [
            (Some("gzip, deflate, br, zstd"), Some("br"), &br.data),
            (Some("gzip"), Some("gzip"), &gz.data),
            (Some("br;q=0, gzip;q=0.8"), Some("gzip"), &gz.data),
            (Some("identity"), None, &original.data),
            (None, None, &original.data),
        ] {
            let headers: Vec<(&str, &str)> =
                accept.map(|a| ("Accept-Encoding", a)).into_iter().collect();
            let response = server.http_with_headers("GET", &url, &headers).await;
            assert_eq!(response.status, 200, "{url} ({accept:?})");
            assert_eq!(
                header(&response, "content-encoding"),
                coding,
                "{url} ({accept:?})"
            );
            assert_eq!(header(&response, "vary"), Some("accept-encoding"), "{url}");
            assert_eq!(
                header(&response, "content-type"),
                Some(mime),
                "{url} keeps its type"
            );
            assert_eq!(
                response.body,
                String::from_utf8_lossy(body),
                "{url} ({accept:?})"
            );
        }
        assert!(
            br.data.len() < original.data.len(),
            "{url}: brotli is smaller"
        );
        checked.push(original_path.to_string());
    }
    if CLIENT_BUILT {
        for ext in [".js", ".css", ".html"] {
            assert!(
                checked.iter().any(|p| p.ends_with(ext)),
                "the build precompresses its {ext} files: {checked:?}"
            );
        }
    } else {
        assert!(checked.is_empty(), "the fallback page is not precompressed");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_favicon_is_the_svg_die() {
    let server = TestServer::fast().await;
    let response = server.get("/favicon.ico").await;
    assert_eq!(response.status, 200, "{}", response.headers);
    assert_eq!(header(&response, "content-type"), Some("image/svg+xml"));
    assert!(response.body.starts_with("<svg"), "{}", response.body);
    let svg = server.get("/favicon.svg").await;
    assert_eq!(svg.body, response.body, "the same picture under both names");
    server.stop().await;
}

#[tokio::test]
async fn a_matching_etag_is_not_modified() {
    let server = TestServer::fast().await;
    let first = server.get("/").await;
    let etag = header(&first, "etag").expect("an ETag").to_string();
    let again = server
        .http_with_headers("GET", "/r/ABCDEFGHJ", &[("If-None-Match", &etag)])
        .await;
    assert_eq!(again.status, 304, "{}", again.headers);
    assert!(again.body.is_empty());
    let other = server
        .http_with_headers("GET", "/", &[("If-None-Match", "\"something-else\"")])
        .await;
    assert_eq!(other.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn healthz_is_alive_and_readyz_follows_storage() {
    let store = std::sync::Arc::new(perudo_server::store::MemoryStore::new());
    let server = TestServer::start_with(perudo_server::ServerConfig {
        rooms: crate::server::fast_settings(),
        store: Some(store.clone()),
        ..perudo_server::ServerConfig::default()
    })
    .await;
    let health = server.get("/healthz").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    let ready = server.get("/readyz").await;
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready"));

    store.fail.store(true, std::sync::atomic::Ordering::Relaxed);
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.error_code(), "not_ready");
    // Alive all the same: a failing disk is not a reason to restart the process.
    assert_eq!(server.get("/healthz").await.status, 200);

    store
        .fail
        .store(false, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(server.get("/readyz").await.status, 200);
    // /metrics is served next to them.
    let metrics = server.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.headers.contains("text/plain; version=0.0.4"),
        "{}",
        metrics.headers
    );
    server.stop().await;
}

/// The room summary hands the web client its share link at the operator's public URL when
/// one is set, and says nothing otherwise (the client then uses the page's own origin).
#[tokio::test]
async fn the_summary_carries_the_share_link_at_the_public_url_when_set() {
    let server = TestServer::start_with(perudo_server::ServerConfig {
        rooms: crate::server::fast_settings(),
        limits: perudo_server::Limits::unlimited(),
        share_base_url: Some("https://perudo.example.org".into()),
        ..perudo_server::ServerConfig::default()
    })
    .await;
    let room = server.create_room("Ana", None).await;
    let summary = server.summary(&room.code).await;
    assert_eq!(
        summary.share_url.as_deref(),
        Some(format!("https://perudo.example.org/r/{}", room.code).as_str())
    );
    server.stop().await;

    let server = TestServer::fast().await;
    let room = server.create_room("Ana", None).await;
    let raw = server.get(&format!("/api/rooms/{}", room.code)).await;
    assert_eq!(raw.status, 200, "{}", raw.body);
    assert!(!raw.body.contains("share_url"), "{}", raw.body);
    assert_eq!(server.summary(&room.code).await.share_url, None);
    server.stop().await;
}
