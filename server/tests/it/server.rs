//! Starting and stopping the real server, and HTTP requests to it (reqwest) for its JSON API.

use std::net::SocketAddr;
use std::time::Duration;

use perudo_protocol::RoomOptions;
use perudo_protocol::http::{CreateRoom, RoomCreated, RoomSummary};
use perudo_protocol::perudo_core::GameConfig;
use perudo_server::{RoomSettings, ServerConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::Client;

/// How long a test waits for the server to stop after its shutdown token is cancelled.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one HTTP exchange may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Room settings that keep games quick: a short reveal pause and bots that do not think.
pub fn fast_settings() -> RoomSettings {
    RoomSettings {
        reveal_pause: Duration::from_millis(5),
        bot_delay: Duration::ZERO,
        max_spectators: 50,
        idle_close: Duration::from_secs(120),
        unplayed_close: Duration::from_secs(120),
        disconnect_grace: Duration::from_secs(5),
        public_url: "http://perudo.test".into(),
        restore_grace: Duration::from_secs(5),
    }
}

/// The real server on an ephemeral loopback port.
#[derive(Debug)]
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// The server with `rooms`, keeping its rooms in a `MemoryStore` (so every test also
    /// goes through the path that commits each change before sending it). Without rate
    /// limits or connection caps: these clients play at machine speed, from one address;
    /// `hostile.rs` tests the limits.
    pub async fn start(rooms: RoomSettings) -> TestServer {
        TestServer::start_with(ServerConfig {
            rooms,
            store: Some(std::sync::Arc::new(perudo_server::store::MemoryStore::new())),
            limits: perudo_server::Limits::unlimited(),
            ..ServerConfig::default()
        })
        .await
    }

    pub async fn start_with(config: ServerConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(perudo_server::run(
            listener,
            config,
            shutdown.clone(),
            Duration::from_secs(5),
        ));
        TestServer {
            addr,
            shutdown,
            task: Some(task),
        }
    }

    pub async fn fast() -> TestServer {
        TestServer::start(fast_settings()).await
    }

    /// Cancels the shutdown token and waits for `run` to return `Ok`.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let task = self.task.take().expect("stopped once");
        tokio::time::timeout(STOP_TIMEOUT, task)
            .await
            .expect("the server stops within its grace period")
            .expect("the server task does not panic")
            .expect("the server returns Ok");
    }

    /// `POST /api/rooms` that must succeed.
    pub async fn create_room(&self, host: &str, rules: Option<GameConfig>) -> RoomCreated {
        let body = match rules {
            Some(rules) => serde_json::to_string(&CreateRoom {
                name: host.into(),
                rules,
                options: RoomOptions::default(),
            }),
            None => serde_json::to_string(&serde_json::json!({ "name": host })),
        }
        .expect("json");
        let response = self.post_json("/api/rooms", &body).await;
        assert_eq!(response.status, 200, "create room: {}", response.body);
        serde_json::from_str(&response.body).expect("a RoomCreated body")
    }

    pub async fn summary(&self, code: &str) -> RoomSummary {
        let response = self.get(&format!("/api/rooms/{code}")).await;
        assert_eq!(response.status, 200, "room summary: {}", response.body);
        serde_json::from_str(&response.body).expect("a RoomSummary body")
    }

    pub async fn post_json(&self, path: &str, body: &str) -> HttpResponse {
        self.http("POST", path, Some(("application/json", body)))
            .await
    }

    pub async fn get(&self, path: &str) -> HttpResponse {
        self.http("GET", path, None).await
    }

    /// One request on a fresh connection, not kept afterwards.
    pub async fn http(&self, method: &str, path: &str, body: Option<(&str, &str)>) -> HttpResponse {
        self.exchange(method, path, &[], body).await
    }

    /// A request without a body, with extra headers.
    pub async fn http_with_headers(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> HttpResponse {
        self.exchange(method, path, headers, None).await
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &str)>,
    ) -> HttpResponse {
        exchange_at(self.addr, method, path, headers, body).await
    }

    /// A WebSocket client for room `code`, nothing sent yet.
    pub async fn connect(&self, code: &str, name: &str) -> Client {
        Client::connect(self.addr, code, name).await
    }

    /// A client that said hello and claimed the host's seat with the creation token.
    pub async fn host(&self, room: &RoomCreated, name: &str) -> Client {
        let mut host = self.connect(&room.code, name).await;
        host.hello().await;
        host.claim(&room.token).await;
        host
    }

    /// A client that said hello and joined as `name`.
    pub async fn player(&self, code: &str, name: &str) -> Client {
        let mut player = self.connect(code, name).await;
        player.hello().await;
        player.join(name).await;
        player
    }
}

/// One HTTP request to a server at `addr` (also one this process did not start) on a fresh
/// connection, not kept afterwards (so a test's connection counts are its own).
pub async fn exchange_at(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> HttpResponse {
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(HTTP_TIMEOUT)
        .build()
        .expect("an HTTP client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut request = http.request(method, format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some((content_type, body)) = body {
        request = request
            .header("Content-Type", content_type)
            .body(body.to_string());
    }
    let response = request.send().await.expect("the HTTP exchange succeeds");
    let mut head = format!("{:?} {}\r\n", response.version(), response.status());
    for (name, value) in response.headers() {
        head.push_str(&format!(
            "{name}: {}\r\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .expect("the HTTP body is read in time");
    HttpResponse {
        status,
        headers: head,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

impl Drop for TestServer {
    /// A failing test still stops its server.
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// What an HTTP request got back.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// The status line and the headers, one `name: value` a line.
    pub headers: String,
    pub body: String,
}

impl HttpResponse {
    /// The stable error code of a JSON error body.
    pub fn error_code(&self) -> String {
        let error: perudo_protocol::http::ApiError = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| {
                panic!("not an ApiError body ({e}): {}", self.body);
            });
        assert!(!error.message.is_empty());
        error.code
    }
}

/// A scratch directory, removed at the end unless the test failed (then it is kept and
/// named, with the servers' logs in it).
pub struct Scratch(std::path::PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("perudo-it-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        Scratch(dir)
    }

    pub fn path(&self, file: &str) -> std::path::PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept the scratch directory {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `POST /api/rooms` with host Ann to a server at `addr` (a `perudo` process), which must
/// succeed.
pub async fn create_room_at(addr: SocketAddr) -> RoomCreated {
    let response = exchange_at(
        addr,
        "POST",
        "/api/rooms",
        &[],
        Some(("application/json", r#"{"name":"Ann"}"#)),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    serde_json::from_str(&response.body).expect("a RoomCreated body")
}
