//! `perudo check`: what a deployer checks by hand, in one command, against the public URL:
//! the server is alive and ready, the page is the real web client, share links point at the
//! URL people use, and a WebSocket upgrades through the proxy and speaks this protocol version.
//!
//! It creates one room (named "perudo check"), takes its seat, leaves it again and closes;
//! the empty room closes by itself after the server's idle time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use perudo_protocol::client::{Answer, Applied, RoomMirror};
use perudo_protocol::http::{CreateRoom, RoomCreated};
use perudo_protocol::{PROTOCOL_VERSION, RejectDetail, Request, ServerMessage};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How long any one step may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// What to check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The public base URL, e.g. `https://perudo.example.org`.
    pub url: String,
    /// A PEM file with a CA certificate to trust besides the public roots (a private CA, or
    /// Caddy's `tls internal`).
    pub ca_cert: Option<PathBuf>,
}

/// One step's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub name: &'static str,
    pub result: Result<String, String>,
}

impl Step {
    pub fn passed(&self) -> bool {
        self.result.is_ok()
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.result {
            Ok(detail) => write!(f, "ok    {}: {detail}", self.name),
            Err(why) => write!(f, "FAIL  {}: {why}", self.name),
        }
    }
}

/// Runs every step it can (a step that needs an earlier one's result is left out when that
/// one failed) and returns them in order.
pub async fn check(options: &CheckOptions) -> Vec<Step> {
    let mut steps = Vec::new();
    let base = options.url.trim_end_matches('/').to_string();
    let tls = match tls_roots(options.ca_cert.as_ref()) {
        Ok(tls) => tls,
        Err(why) => {
            steps.push(Step {
                name: "CA certificate",
                result: Err(why),
            });
            return steps;
        }
    };
    let http = match http_client(&tls) {
        Ok(client) => client,
        Err(why) => {
            steps.push(Step {
                name: "HTTP client",
                result: Err(why),
            });
            return steps;
        }
    };

    let get = |path: &'static str| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let response = http
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("GET {url}: {}", error_chain(&e)))?;
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            Ok::<_, String>((status, body))
        }
    };

    steps.push(Step {
        name: "alive (GET /healthz)",
        result: match get("/healthz").await {
            Ok((status, body)) if status.is_success() => Ok(format!("{status} {}", body.trim())),
            Ok((status, body)) => Err(format!("{status} {}", short(&body))),
            Err(why) => Err(why),
        },
    });
    steps.push(Step {
        name: "ready (GET /readyz)",
        result: match get("/readyz").await {
            Ok((status, body)) if status.is_success() => Ok(format!("{status} {}", body.trim())),
            Ok((status, body)) => Err(format!(
                "{status} {}: the server is shutting down or cannot write its database",
                short(&body)
            )),
            Err(why) => Err(why),
        },
    });
    steps.push(Step {
        name: "web client (GET /)",
        result: match get("/").await {
            Ok((status, body)) if status.is_success() && body.contains("type=\"module\"") => {
                Ok(format!("{status}, the built client"))
            }
            Ok((status, _)) if status.is_success() => Err(
                "the page is the fallback: this binary was built without web-client/dist (see README)"
                    .into(),
            ),
            Ok((status, body)) => Err(format!("{status} {}", short(&body))),
            Err(why) => Err(why),
        },
    });

    // A room: its share link must be on the URL people use.
    let created = async {
        let response = http
            .post(format!("{base}/api/rooms"))
            .json(&CreateRoom {
                name: "perudo check".into(),
                rules: Default::default(),
                options: Default::default(),
            })
            .send()
            .await
            .map_err(|e| format!("POST /api/rooms: {}", error_chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(format!("POST /api/rooms: {status} {}", short(&body)));
        }
        response
            .json::<RoomCreated>()
            .await
            .map_err(|e| format!("POST /api/rooms: not a room: {e}"))
    }
    .await;
    let room = match created {
        Ok(room) if room.url.starts_with(&format!("{base}/")) => {
            steps.push(Step {
                name: "create a room (POST /api/rooms)",
                result: Ok(format!("room {}, share link {}", room.code, room.url)),
            });
            room
        }
        Ok(room) => {
            steps.push(Step {
                name: "create a room (POST /api/rooms)",
                result: Err(format!(
                    "the share link is {} but the server is reached at {base}: set PERUDO_PUBLIC_URL={base}",
                    room.url
                )),
            });
            room
        }
        Err(why) => {
            steps.push(Step {
                name: "create a room (POST /api/rooms)",
                result: Err(why),
            });
            return steps;
        }
    };

    steps.push(Step {
        name: "WebSocket through the proxy",
        result: tokio::time::timeout(STEP_TIMEOUT * 2, websocket(&base, &room, &tls))
            .await
            .unwrap_or_else(|_| Err("no answer within 20 s".into())),
    });
    steps
}

/// Upgrades, says hello with this protocol version, takes the seat, leaves and closes.
async fn websocket(
    base: &str,
    room: &RoomCreated,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<String, String> {
    let ws_base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        return Err(format!("{base} is not an http:// or https:// URL"));
    };
    let url = format!("{ws_base}/api/rooms/{}/ws", room.code);
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("{url}: {e}"))?;
    // As a browser on the site would.
    if let Ok(origin) = base.parse() {
        request.headers_mut().insert("origin", origin);
    }
    let (mut socket, response) = tokio_tungstenite::connect_async_tls_with_config(
        request,
        None,
        true,
        Some(tokio_tungstenite::Connector::Rustls(tls.clone())),
    )
    .await
    .map_err(|e| {
        format!(
            "{url} did not upgrade: {e} (does the proxy pass the WebSocket upgrade? see docs/DEPLOY.md)"
        )
    })?;
    let upgraded = response.status();
    let mut mirror = RoomMirror::new();
    ask(
        &mut socket,
        &mut mirror,
        Request::Hello {
            version: PROTOCOL_VERSION,
        },
    )
    .await
    .map_err(|e| format!("hello: {e}"))?;
    ask(
        &mut socket,
        &mut mirror,
        Request::Claim {
            token: room.token.clone(),
        },
    )
    .await
    .map_err(|e| format!("claim the seat: {e}"))?;
    if mirror.seat().is_none() {
        return Err("the claim was acknowledged but no seat was given".into());
    }
    if !mirror.synced() {
        return Err("took the seat but got no snapshot".into());
    }
    ask(&mut socket, &mut mirror, Request::Leave)
        .await
        .map_err(|e| format!("leave: {e}"))?;
    let _ = socket.close(None).await;
    Ok(format!(
        "{upgraded}, protocol {PROTOCOL_VERSION} accepted, seat taken and left ({url})"
    ))
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends one request and applies what arrives up to its answer.
async fn ask(socket: &mut Socket, mirror: &mut RoomMirror, request: Request) -> Result<(), String> {
    let message = mirror.request(request);
    let id = message.id;
    let frame = message.encode().map_err(|e| e.to_string())?;
    socket
        .send(Message::Binary(frame.into()))
        .await
        .map_err(|e| format!("send: {e}"))?;
    loop {
        let message = tokio::time::timeout(STEP_TIMEOUT, socket.next())
            .await
            .map_err(|_| "no answer within 10 s".to_string())?;
        let bytes = match message {
            Some(Ok(Message::Binary(bytes))) => bytes,
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("the server closed the socket: {frame:?}"));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("receive: {e}")),
            None => return Err("the socket ended".into()),
        };
        let message = ServerMessage::decode(&bytes)
            .map_err(|e| format!("an answer that does not decode ({e}): protocol mismatch"))?;
        match mirror.apply(&message) {
            Ok(Applied::Answered(Answer {
                id: answered,
                result,
                ..
            })) if answered == id => {
                return result.map(|_| ()).map_err(|refusal| match refusal.detail {
                    Some(RejectDetail::Versions { supported }) => format!(
                        "this perudo speaks protocol {PROTOCOL_VERSION}, the server {supported:?}: upgrade one of them"
                    ),
                    _ => format!("{:?}: {}", refusal.code, refusal.message),
                });
            }
            Ok(_) => {}
            Err(violation) => return Err(format!("the server broke the protocol: {violation}")),
        }
    }
}

/// The public roots, plus `ca_cert`'s certificates if given.
pub(crate) fn tls_roots(ca_cert: Option<&PathBuf>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_cert {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no certificate in it", path.display()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn http_client(tls: &Arc<rustls::ClientConfig>) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .use_preconfigured_tls((**tls).clone())
        .timeout(STEP_TIMEOUT)
        .user_agent(concat!("perudo-check/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// An error with its causes (reqwest's own message leaves out why a connection failed).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn short(body: &str) -> String {
    let body = body.trim();
    if body.chars().count() > 200 {
        format!("{}...", body.chars().take(200).collect::<String>())
    } else {
        body.to_string()
    }
}
