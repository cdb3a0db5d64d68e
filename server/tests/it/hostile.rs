//! Limits and hostile clients: each limit answers with its typed error first and then closes
//! where it should, and a room keeps playing with normal latency while other clients send
//! garbage, oversized frames, requests out of order, floods, half-open connections, or
//! never read.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use perudo_protocol::perudo_core::{BotLevel, GameConfig};
use perudo_protocol::{
    ClientMessage, CloseReason, PROTOCOL_VERSION, RejectCode, Request, ServerMessage,
};
use perudo_server::{Limits, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::client::{Client, Incoming, Strategy};
use crate::server::{TestServer, exchange_at, fast_settings};

/// Each move of the witness game must be answered within this, whatever else happens: a
/// liveness bound for a loaded 2-core CI machine, not a benchmark.
const LIVENESS: Duration = Duration::from_secs(2);

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn server_with(limits: Limits) -> TestServer {
    TestServer::start_with(ServerConfig {
        rooms: fast_settings(),
        limits,
        store: Some(std::sync::Arc::new(perudo_server::store::MemoryStore::new())),
        ..ServerConfig::default()
    })
    .await
}

/// A WebSocket handshake with extra headers: the socket, or the refusal's HTTP status.
async fn dial(addr: SocketAddr, code: &str, headers: &[(&str, &str)]) -> Result<Ws, u16> {
    let mut request = format!("ws://{addr}/api/rooms/{code}/ws")
        .into_client_request()
        .expect("a request");
    for (name, value) in headers {
        request.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                .expect("a header name"),
            value.parse().expect("a header value"),
        );
    }
    let attempt = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("the handshake finishes in time");
    match attempt {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

/// A WebSocket upgrade from `ip` (as forwarded) that the server must refuse: its status and
/// error code.
async fn refused_upgrade(addr: SocketAddr, code: &str, ip: &str) -> (u16, String) {
    let exchange = async {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        let request = format!(
            "GET /api/rooms/{code}/ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade, close\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Forwarded-For: {ip}\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.expect("read");
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .expect("the refusal comes in time");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let error: perudo_protocol::http::ApiError =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, error.code)
}

fn frame(id: u32, request: Request) -> Message {
    Message::Binary(
        ClientMessage { id, request }
            .encode()
            .expect("encodes")
            .into(),
    )
}

fn hello(id: u32) -> Message {
    frame(
        id,
        Request::Hello {
            version: PROTOCOL_VERSION,
        },
    )
}

/// Reads a raw socket until it closes (bounded): the server messages and the close code.
async fn drain(ws: &mut Ws) -> (Vec<ServerMessage>, Option<u16>) {
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => panic!("the socket did not close in time; got {messages:?}"),
            Ok(Some(Ok(Message::Binary(bytes)))) => {
                messages.push(ServerMessage::decode(&bytes).expect("a server message"));
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                // Answer the close, as a browser does: tungstenite queues the reply and sends it
                // on the next write or flush. Without it the server waits CLOSE_DRAIN for it.
                let _ = ws.flush().await;
                return (messages, frame.map(|f| u16::from(f.code)));
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return (messages, None),
        }
    }
}

fn slow_downs(messages: &[ServerMessage]) -> Vec<u32> {
    messages
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Rejected {
                id,
                code: RejectCode::SlowDown,
                ..
            } => Some(*id),
            _ => None,
        })
        .collect()
}

/// The ids of the answers (`Ack` and `Rejected`) among `messages`, in order.
fn answer_ids(messages: &[ServerMessage]) -> Vec<u32> {
    messages
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Ack { id, .. } | ServerMessage::Rejected { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

/// Reads `ws` until `count` answers (`Ack` or `Rejected`) have come (bounded): every message
/// read, in order.
async fn read_answers(ws: &mut Ws, count: usize) -> Vec<ServerMessage> {
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while answer_ids(&messages).len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => panic!("{count} answers did not come in time; got {messages:?}"),
            Ok(Some(Ok(Message::Binary(bytes)))) => {
                messages.push(ServerMessage::decode(&bytes).expect("a server message"));
            }
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("the socket ended: {other:?} after {messages:?}"),
        }
    }
    messages
}

// ---- answers in the order of requests --------------------------------------------------

/// Answers come in the order requests were sent, also for frames the connection refuses
/// itself: a `Join` followed at once by an undecodable byte (in the same TCP segment) gets its
/// `Ack` before the `Rejected { Malformed }`. (When the connection answered undecodable
/// frames itself while the join went through the room and its store, an independent client
/// saw the rejection first in 9 to 15 of 20 tries.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_frame_is_answered_after_the_requests_before_it() {
    let server = TestServer::fast().await;
    let room = server.create_room("Ana", None).await;
    let mut ws = dial(server.addr, &room.code, &[]).await.expect("upgrade");
    ws.send(hello(1)).await.expect("send");
    assert_eq!(answer_ids(&read_answers(&mut ws, 1).await), [1]);
    for round in 0..40u32 {
        let join = 2 + 2 * round;
        let name = format!("P{round}");
        ws.feed(frame(join, Request::Join { name }))
            .await
            .expect("feed");
        ws.feed(Message::Binary(vec![0xc1].into()))
            .await
            .expect("feed");
        ws.flush().await.expect("flush");
        let messages = read_answers(&mut ws, 2).await;
        assert_eq!(
            answer_ids(&messages),
            [join, 0],
            "round {round}: {messages:?}"
        );
        assert!(
            matches!(
                messages.last(),
                Some(ServerMessage::Rejected {
                    code: RejectCode::Malformed,
                    ..
                })
            ),
            "round {round}: {messages:?}"
        );
        // Leave again, so that the next round joins the lobby once more.
        ws.send(frame(join + 1, Request::Leave))
            .await
            .expect("send");
        let left = read_answers(&mut ws, 1).await;
        assert!(
            matches!(left.last(), Some(ServerMessage::Ack { id, .. }) if *id == join + 1),
            "round {round}: {left:?}"
        );
    }
    server.stop().await;
}

/// The same for a frame over the message rate: its `SlowDown` comes after the answers to the
/// requests before it (here the spectator's snapshot and its `Ack`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_down_is_answered_after_the_requests_before_it() {
    let server = server_with(Limits {
        messages_per_sec: 1,
        message_burst: 2,
        slow_downs_before_close: 10,
        ..Limits::unlimited()
    })
    .await;
    let room = server.create_room("Ana", None).await;
    for round in 0..20 {
        let mut ws = dial(server.addr, &room.code, &[]).await.expect("upgrade");
        // Two frames pass the bucket; the third is over the rate.
        ws.feed(hello(1)).await.expect("feed");
        ws.feed(frame(2, Request::Spectate)).await.expect("feed");
        ws.feed(frame(3, Request::Spectate)).await.expect("feed");
        ws.flush().await.expect("flush");
        let messages = read_answers(&mut ws, 3).await;
        assert_eq!(
            answer_ids(&messages),
            [1, 2, 3],
            "round {round}: {messages:?}"
        );
        assert_eq!(slow_downs(&messages), [3], "round {round}: {messages:?}");
        ws.close(None).await.expect("close");
    }
    server.stop().await;
}

// ---- each limit: the typed error, then the close ---------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_connection_is_told_to_slow_down_then_closed_with_1008() {
    let server = server_with(Limits {
        messages_per_sec: 5,
        message_burst: 5,
        slow_downs_before_close: 3,
        ..Limits::default()
    })
    .await;
    let room = server.create_room("Ana", None).await;
    let mut ws = dial(server.addr, &room.code, &[]).await.expect("upgrade");
    // 5 pass (a hello, then four second hellos), 3 are slowed down, the 9th closes; the
    // rest may find the socket closed.
    for id in 1..=20 {
        if ws.send(hello(id)).await.is_err() {
            break;
        }
    }
    let (messages, code) = drain(&mut ws).await;
    assert_eq!(code, Some(1008), "{messages:?}");
    // Each slow-down answers its own request, by id, and every answer comes in the order of
    // the requests: the room's answers to the first five, then the connection's own.
    assert_eq!(slow_downs(&messages), [6, 7, 8], "{messages:?}");
    assert_eq!(
        answer_ids(&messages),
        [1, 2, 3, 4, 5, 6, 7, 8],
        "{messages:?}"
    );
    assert_eq!(
        messages.last(),
        Some(&ServerMessage::Closing {
            reason: CloseReason::RateLimited
        })
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_slows_down_is_not_closed() {
    let server = server_with(Limits {
        messages_per_sec: 2,
        message_burst: 3,
        slow_downs_before_close: 1,
        ..Limits::default()
    })
    .await;
    let room = server.create_room("Ana", None).await;
    let mut client = server.connect(&room.code, "Ana").await;
    client.hello().await;
    // Over the burst: one slow-down...
    client.send(Request::Spectate).await;
    client.send(Request::Spectate).await;
    let id = client.send(Request::Spectate).await;
    match client.answer(id).await {
        ServerMessage::Rejected {
            code: RejectCode::SlowDown,
            ..
        } => {}
        other => panic!("expected a slow-down, got {other:?}"),
    }
    // ...then the client waits for a token, and goes on.
    tokio::time::sleep(Duration::from_millis(600)).await;
    // (The room's answers to the first two may come after the reader's slow-down.)
    for _ in 0..10 {
        if client
            .recv_within(Duration::from_millis(100))
            .await
            .is_none()
        {
            break;
        }
    }
    client
        .expect_reject(Request::Spectate, RejectCode::AlreadyJoined)
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_creation_is_limited_per_ip_and_forwarded_for_counts_only_from_a_trusted_proxy() {
    let server = server_with(Limits {
        rooms_per_ip_per_min: 2,
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..Limits::default()
    })
    .await;
    let body = r#"{"name":"Ana"}"#;
    let post = |forwarded: &'static str| {
        let addr = server.addr;
        async move {
            let headers: Vec<(&str, &str)> = if forwarded.is_empty() {
                vec![]
            } else {
                vec![("X-Forwarded-For", forwarded)]
            };
            exchange_at(
                addr,
                "POST",
                "/api/rooms",
                &headers,
                Some(("application/json", body)),
            )
            .await
        }
    };
    assert_eq!(post("203.0.113.1").await.status, 200);
    assert_eq!(post("203.0.113.1").await.status, 200);
    let refused = post("203.0.113.1").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.error_code(), "rate_limited");
    // Another client behind the same proxy has its own allowance; so has the proxy.
    assert_eq!(post("203.0.113.2").await.status, 200);
    assert_eq!(post("").await.status, 200);
    server.stop().await;

    // Not from a trusted proxy: the header is ignored, and every request is 127.0.0.1's.
    let server = server_with(Limits {
        rooms_per_ip_per_min: 1,
        trusted_proxies: Vec::new(),
        ..Limits::default()
    })
    .await;
    let post = |forwarded: &'static str| {
        let addr = server.addr;
        async move {
            exchange_at(
                addr,
                "POST",
                "/api/rooms",
                &[("X-Forwarded-For", forwarded)],
                Some(("application/json", body)),
            )
            .await
        }
    };
    assert_eq!(post("203.0.113.1").await.status, 200);
    assert_eq!(post("203.0.113.2").await.status, 429);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connections_are_limited_per_ip_and_open_ones_capped() {
    let server = server_with(Limits {
        connects_per_ip_per_min: 3,
        max_connections_per_ip: 2,
        max_connections: 3,
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..Limits::default()
    })
    .await;
    let room = server.create_room("Ana", None).await;
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    let raw_upgrade = |ip: &'static str| refused_upgrade(server.addr, &room.code, ip);
    // Per IP: two open at once; a third is refused while they are open.
    let a1 = dial(server.addr, &room.code, &from("198.51.100.1"))
        .await
        .expect("first");
    let a2 = dial(server.addr, &room.code, &from("198.51.100.1"))
        .await
        .expect("second");
    assert_eq!(
        raw_upgrade("198.51.100.1").await,
        (429, "too_many_connections".into())
    );
    // The rate: that refused attempt was the third of three this minute.
    drop(a1);
    assert_eq!(
        raw_upgrade("198.51.100.1").await,
        (429, "rate_limited".into())
    );
    // The server's cap: three open in all.
    let b1 = dial(server.addr, &room.code, &from("198.51.100.2"))
        .await
        .expect("another address");
    // a2 and b1 are open; a1's place came back once its task ended.
    let mut full = None;
    let mut held = Vec::new();
    for i in 0..50 {
        let ip = format!("198.51.100.{}", 10 + i);
        let ip: &'static str = Box::leak(ip.into_boxed_str());
        match dial(server.addr, &room.code, &from(ip)).await {
            Ok(ws) => held.push(ws),
            Err(status) => {
                full = Some(status);
                break;
            }
        }
    }
    assert_eq!(full, Some(503), "the server-wide cap answers 503");
    assert!(held.len() <= 2, "at most three open: {}", held.len());
    assert_eq!(
        raw_upgrade("198.51.100.200").await,
        (503, "server_full".into())
    );
    drop((a2, b1, held));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_not_on_the_list_is_refused_with_403() {
    let server = server_with(Limits {
        allowed_origins: vec!["https://perudo.example.org".into()],
        ..Limits::default()
    })
    .await;
    let room = server.create_room("Ana", None).await;
    assert_eq!(
        dial(
            server.addr,
            &room.code,
            &[("Origin", "https://evil.example.com")]
        )
        .await
        .err(),
        Some(403)
    );
    let ok = dial(
        server.addr,
        &room.code,
        &[("Origin", "https://perudo.example.org")],
    )
    .await;
    assert!(ok.is_ok(), "the listed origin is let in");
    // Not a browser (no Origin): let in; the list protects browsers' users.
    assert!(dial(server.addr, &room.code, &[]).await.is_ok());
    server.stop().await;

    // No list: any origin.
    let server = server_with(Limits::default()).await;
    let room = server.create_room("Ana", None).await;
    assert!(
        dial(
            server.addr,
            &room.code,
            &[("Origin", "https://evil.example.com")]
        )
        .await
        .is_ok()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_close_silent_sockets_and_keep_live_ones() {
    let server = server_with(Limits {
        ping_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(400),
        ..Limits::default()
    })
    .await;
    let room = server.create_room("Ana", None).await;
    // A live client: its WebSocket answers the pings while it reads.
    let mut live = server.connect(&room.code, "live").await;
    live.hello().await;
    // A silent one: says hello, then neither reads nor answers the pings.
    let mut silent = dial(server.addr, &room.code, &[]).await.expect("upgrade");
    silent.send(hello(1)).await.expect("send");
    // A TCP connection that never sends a request.
    let mut half_open = TcpStream::connect(server.addr).await.expect("connect");
    live.expect_silence(Duration::from_millis(1200)).await;
    // The silent socket was closed (reading it now answers the pings queued meanwhile, and
    // that write may fail before the close frame is read: any end will do).
    let (messages, _code) = drain(&mut silent).await;
    assert!(matches!(messages.first(), Some(ServerMessage::Ack { .. })));
    // The half-open TCP connection was dropped.
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(2), half_open.read(&mut buf))
        .await
        .expect("the server closed it");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // The live one is still there.
    live.ack(Request::Spectate).await;
    server.stop().await;

    // Without pings, a client that reads but says nothing is told why, then closed.
    let server = server_with(Limits {
        ping_interval: Duration::ZERO,
        idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let room = server.create_room("Ana", None).await;
    let mut quiet = dial(server.addr, &room.code, &[]).await.expect("upgrade");
    quiet.send(hello(1)).await.expect("send");
    let (messages, code) = drain(&mut quiet).await;
    assert_eq!(code, Some(1001), "{messages:?}");
    assert_eq!(
        messages.last(),
        Some(&ServerMessage::Closing {
            reason: CloseReason::IdleTimeout
        })
    );
    server.stop().await;
}

// ---- hostile clients against a live game --------------------------------------------------

/// A game that must keep going: a human host against a bot, each move answered in time.
struct Witness {
    code: String,
    host: Client,
    game: u32,
    strategy: Strategy,
    moves: usize,
}

impl Witness {
    async fn start(server: &TestServer) -> Witness {
        let room = server.create_room("Witness", None).await;
        let mut host = server.host(&room, "Witness").await;
        host.ack(Request::AddBot {
            level: BotLevel::Easy,
        })
        .await;
        host.ack(Request::Start).await;
        Witness {
            code: room.code.to_string(),
            host,
            game: 1,
            strategy: Strategy::Simple,
            moves: 0,
        }
    }

    /// Plays `n` moves (at a person's pace, under the message rate), each within `LIVENESS`
    /// of being possible and answered within `LIVENESS` of being sent.
    async fn play(&mut self, n: usize, during: &str) {
        for _ in 0..n {
            let waiting = Instant::now();
            let action = loop {
                if self.host.results.iter().any(|r| r.game == self.game) {
                    self.host.ack(Request::Start).await;
                    self.game += 1;
                }
                if let Some(action) = self.host.choose(&mut self.strategy) {
                    break action;
                }
                let left = LIVENESS.saturating_sub(waiting.elapsed());
                match self.host.recv_within(left).await {
                    Some(Incoming::Message(_)) => {}
                    Some(Incoming::Closed(code, reason)) => {
                        panic!("{during}: the witness was closed ({code:?} {reason})")
                    }
                    None => panic!("{during}: the witness's turn did not come within {LIVENESS:?}"),
                }
            };
            let sent = Instant::now();
            self.host.act(action).await;
            let took = sent.elapsed();
            assert!(
                took <= LIVENESS,
                "{during}: a move took {took:?} to be answered"
            );
            self.moves += 1;
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
    }
}

/// This process's resident memory, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_keeps_its_pace_while_hostile_clients_do_their_worst() {
    // The default limits, with 127.0.0.1 as a trusted proxy so that the attackers can come
    // from many addresses (X-Forwarded-For).
    let server = server_with(Limits {
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..Limits::default()
    })
    .await;
    let rules = GameConfig::default();
    let mut witness = Witness::start(&server).await;
    let target = server.create_room("Target", Some(rules)).await;
    let code = target.code.clone();
    witness.play(3, "warm-up").await;
    let rss_before = rss_kib();
    let mut ip = 0u32;
    let mut next_ip = move || {
        ip += 1;
        let ip = format!("10.{}.{}.{}", (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
        let ip: &'static str = Box::leak(ip.into_boxed_str());
        [("X-Forwarded-For", ip)]
    };

    // 1. Random bytes: as WebSocket frames, and as raw TCP instead of HTTP.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut random = move |len: usize| {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect::<Vec<u8>>()
    };
    let mut garbage = dial(server.addr, &code, &next_ip()).await.expect("upgrade");
    for i in 0..200usize {
        let bytes = random(i * 37 % 3000);
        if garbage.send(Message::Binary(bytes.into())).await.is_err() {
            break;
        }
    }
    let (messages, close) = drain(&mut garbage).await;
    assert_eq!(close, Some(1008), "a garbage flood is closed as a flood");
    assert!(messages.iter().any(|m| matches!(
        m,
        ServerMessage::Rejected {
            code: RejectCode::Malformed,
            ..
        }
    )));
    for _ in 0..20 {
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        let _ = tcp.write_all(&random(500)).await;
    }
    witness.play(3, "random bytes").await;

    // 2. Oversized frames: typed TooLarge up to 64 KiB, then close 1009.
    let mut big = dial(server.addr, &code, &next_ip()).await.expect("upgrade");
    big.send(Message::Binary(vec![0x80; 5000].into()))
        .await
        .expect("send");
    let _ = big.send(Message::Binary(vec![0x80; 100_000].into())).await;
    let (messages, close) = drain(&mut big).await;
    assert!(matches!(
        messages.first(),
        Some(ServerMessage::Rejected {
            code: RejectCode::TooLarge,
            ..
        })
    ));
    assert_eq!(close, Some(1009));
    witness.play(3, "oversized frames").await;

    // 3. Valid messages out of order: each refused with its code, the socket kept.
    let mut confused = server.connect(&code, "Confused").await;
    confused
        .expect_reject(Request::Start, RejectCode::HelloFirst)
        .await;
    confused.hello().await;
    confused
        .expect_reject(
            Request::Hello {
                version: PROTOCOL_VERSION,
            },
            RejectCode::AlreadyGreeted,
        )
        .await;
    confused
        .expect_reject(Request::Start, RejectCode::NotSeated)
        .await;
    confused
        .expect_reject(
            Request::Claim {
                token: "not a token".into(),
            },
            RejectCode::BadToken,
        )
        .await;
    confused.join("Confused").await;
    confused
        .expect_reject(
            Request::Join {
                name: "Again".into(),
            },
            RejectCode::AlreadyJoined,
        )
        .await;
    confused
        .expect_reject(Request::Start, RejectCode::NotHost)
        .await;
    witness.play(3, "messages out of order").await;

    // 4. A flood from one client: slowed down, then closed; the game never notices.
    let mut flood = dial(server.addr, &code, &next_ip()).await.expect("upgrade");
    let flooding = tokio::spawn(async move {
        for id in 0..5_000u32 {
            if flood.send(hello(id)).await.is_err() {
                break;
            }
        }
        drain(&mut flood).await
    });
    witness.play(3, "a flood").await;
    let (messages, close) = tokio::time::timeout(Duration::from_secs(10), flooding)
        .await
        .expect("the flood ends")
        .expect("no panic");
    assert_eq!(close, Some(1008));
    assert_eq!(
        messages.last(),
        Some(&ServerMessage::Closing {
            reason: CloseReason::RateLimited
        })
    );

    // 5. Thousands of half-open connections: TCP without a request, and upgrades that then
    // say nothing. Both ends are in this process: raise its open-file limit to the hard limit
    // first (as a deployment's LimitNOFILE would), and scale to what that allows.
    let files = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let (tcp_count, ws_count) = if files >= 8192 {
        (2000, 500)
    } else {
        (200, 150)
    };
    eprintln!("open-file limit {files}: {tcp_count} half-open TCP, {ws_count} silent WebSockets");
    let mut idle_tcp = Vec::new();
    for _ in 0..tcp_count {
        idle_tcp.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    let mut idle_ws = Vec::new();
    for _ in 0..ws_count {
        idle_ws.push(dial(server.addr, &code, &next_ip()).await.expect("upgrade"));
    }
    witness.play(3, "half-open connections").await;

    // 6. A reader that never reads: it watches the witness's game and never reads a frame
    // (the room fills its outbox with try_send and drops it when full, never waiting).
    let mut deaf = dial(server.addr, &witness.code, &next_ip())
        .await
        .expect("upgrade");
    deaf.send(hello(1)).await.expect("send");
    deaf.send(frame(2, Request::Spectate)).await.expect("send");
    witness.play(3, "a reader that never reads").await;

    // Memory stays bounded: thousands of sockets and the rest cost a few tens of MiB, not more.
    let rss_after = rss_kib();
    let grown = rss_after.saturating_sub(rss_before);
    eprintln!(
        "RSS before {rss_before} KiB, after {rss_after} KiB ({grown} KiB more); {} witness moves",
        witness.moves
    );
    assert!(grown < 128 * 1024, "memory grew by {grown} KiB");
    drop((idle_tcp, idle_ws, deaf, confused));
    server.stop().await;
}

// ---- attacks on a deployment: proxies, heads, idle sockets, caps, names, floods ---------

/// A POST /api/rooms from `forwarded` (as the proxy on loopback names the client).
async fn create_from(addr: SocketAddr, forwarded: &str) -> crate::server::HttpResponse {
    exchange_at(
        addr,
        "POST",
        "/api/rooms",
        &[("X-Forwarded-For", forwarded)],
        Some(("application/json", r#"{"name":"Ana"}"#)),
    )
    .await
}

/// Attack on a deployment, behind a proxy: behind a proxy on this machine every request comes from loopback. With
/// the default settings the proxy's `X-Forwarded-For` names the client, so one client using
/// up its room allowance does not lock out everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_local_proxy_by_default_one_client_cannot_lock_out_the_others() {
    let server = server_with(Limits::default()).await;
    let per_minute = Limits::default().rooms_per_ip_per_min;
    for _ in 0..per_minute {
        assert_eq!(create_from(server.addr, "203.0.113.1").await.status, 200);
    }
    let over = create_from(server.addr, "203.0.113.1").await;
    assert_eq!(over.status, 429, "{}", over.body);
    let other = create_from(server.addr, "203.0.113.2").await;
    assert_eq!(
        other.status, 200,
        "a second client behind the proxy: {}",
        other.body
    );
    server.stop().await;

    // A peer that is not a trusted proxy cannot pick its address: with loopback not trusted,
    // the header is ignored and both "clients" are 127.0.0.1.
    let server = server_with(Limits {
        rooms_per_ip_per_min: 1,
        trusted_proxies: Vec::new(),
        ..Limits::default()
    })
    .await;
    assert_eq!(create_from(server.addr, "203.0.113.1").await.status, 200);
    assert_eq!(create_from(server.addr, "203.0.113.2").await.status, 429);
    server.stop().await;
}

/// Attack on a deployment, idle resources: one IPv6 subscriber has a /64 of addresses; they count as one client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_clients_are_limited_per_64() {
    let server = server_with(Limits {
        rooms_per_ip_per_min: 2,
        ..Limits::default()
    })
    .await;
    assert_eq!(
        create_from(server.addr, "2001:db8:1:2::1").await.status,
        200
    );
    assert_eq!(
        create_from(server.addr, "2001:db8:1:2::2").await.status,
        200
    );
    let same_net = create_from(server.addr, "2001:db8:1:2:ffff:1:2:3").await;
    assert_eq!(same_net.status, 429, "{}", same_net.body);
    assert_eq!(
        create_from(server.addr, "2001:db8:1:3::1").await.status,
        200
    );
    server.stop().await;

    // The prefix is a setting: /128 counts every address alone.
    let server = server_with(Limits {
        rooms_per_ip_per_min: 1,
        ipv6_prefix_len: 128,
        ..Limits::default()
    })
    .await;
    assert_eq!(create_from(server.addr, "2001:db8::1").await.status, 200);
    assert_eq!(create_from(server.addr, "2001:db8::2").await.status, 200);
    server.stop().await;
}

/// Attack on a deployment, idle resources: a socket that never says `Hello` is closed after the hello timeout
/// (it used to live as long as it answered pings); one that does stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_never_says_hello_is_closed() {
    let server = server_with(Limits {
        hello_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let room = server.create_room("Ana", None).await;
    let mut greeted = server.connect(&room.code, "greeted").await;
    greeted.hello().await;
    let mut mute = dial(server.addr, &room.code, &[]).await.expect("upgrade");
    let (messages, code) = drain(&mut mute).await;
    assert_eq!(code, Some(1008), "{messages:?}");
    assert_eq!(
        messages.last(),
        Some(&ServerMessage::Closing {
            reason: CloseReason::IdleTimeout
        })
    );
    greeted.expect_silence(Duration::from_millis(400)).await;
    greeted.ack(Request::Spectate).await;
    server.stop().await;
}

/// Attack on a deployment, idle resources: rooms created and never played close after `unplayed_close`, not the
/// half hour of a played room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_nobody_plays_closes_soon() {
    let server = TestServer::start_with(ServerConfig {
        rooms: perudo_server::RoomSettings {
            unplayed_close: Duration::from_millis(300),
            ..fast_settings()
        },
        store: Some(std::sync::Arc::new(perudo_server::store::MemoryStore::new())),
        limits: Limits::unlimited(),
        ..ServerConfig::default()
    })
    .await;
    let room = server.create_room("Ana", None).await;
    assert_eq!(
        server
            .get(&format!("/api/rooms/{}", room.code))
            .await
            .status,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = server
            .get(&format!("/api/rooms/{}", room.code))
            .await
            .status;
        if status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "the unplayed room is still open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}

/// Attack on a deployment, the room cap: the room cap is exact under concurrent creations (the count used to be
/// checked before the room was stored and raised after, so 400 at once opened 235 of 100).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rooms_is_exact_under_concurrent_creation() {
    let dir = std::env::temp_dir().join(format!("perudo-max-rooms-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = perudo_server::store::SqliteStore::open(perudo_server::store::SqliteOptions {
        path: dir.join("perudo.db"),
        sync: perudo_server::store::SyncMode::Normal,
        retention: Duration::from_secs(86_400),
        max_pages: None,
    })
    .expect("open a database");
    let server = TestServer::start_with(ServerConfig {
        rooms: fast_settings(),
        store: Some(std::sync::Arc::new(store)),
        max_rooms: 100,
        limits: Limits::unlimited(),
        ..ServerConfig::default()
    })
    .await;
    let creations: Vec<_> = (0..400)
        .map(|_| {
            let addr = server.addr;
            tokio::spawn(async move {
                exchange_at(
                    addr,
                    "POST",
                    "/api/rooms",
                    &[],
                    Some(("application/json", r#"{"name":"Ana"}"#)),
                )
                .await
            })
        })
        .collect();
    let mut opened = 0;
    let mut full = 0;
    for creation in creations {
        let response = creation.await.expect("no panic");
        match response.status {
            200 => opened += 1,
            503 if response.error_code() == "too_many_rooms" => full += 1,
            other => panic!("unexpected {other}: {}", response.body),
        }
    }
    assert_eq!((opened, full), (100, 300));
    // And no more once the cap is reached.
    let more = server.post_json("/api/rooms", r#"{"name":"Ana"}"#).await;
    assert_eq!(more.status, 503);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Attack on a deployment, look-alike names: the names shown are the normalised ones (no invisible or bidi
/// characters reach other players).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_normalised_before_anyone_sees_them() {
    let server = server_with(Limits::default()).await;
    let room = server.create_room("\u{202E}An\u{200B}n  ", None).await;
    let mut host = server.host(&room, "Ann").await;
    let mut bob = server.connect(&room.code, "Bob").await;
    bob.hello().await;
    let version = bob.join("Bo\u{AD}b\u{3000}\u{3000}Smith").await;
    host.catch_up(version).await;
    let names: Vec<String> = host
        .room()
        .as_ref()
        .expect("a room view")
        .seats
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["Ann", "Bob Smith"]);
    server.stop().await;
}

/// Attack on a deployment, flooding: a client that floods and goes on sending while it reads gets the
/// documented goodbye (`Closing { RateLimited }` and close code 1008), not a TCP reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_keeps_flooding_gets_1008_not_a_reset() {
    let server = server_with(Limits {
        messages_per_sec: 5,
        message_burst: 5,
        slow_downs_before_close: 3,
        ..Limits::default()
    })
    .await;
    let room = server.create_room("Ana", None).await;
    for round in 0..3 {
        let mut ws = dial(server.addr, &room.code, &[]).await.expect("upgrade");
        // It writes without reading for a second, as a flood does; a write that fails (the
        // server reset the connection) is what client libraries report as 1006, dropping
        // the goodbye that was on its way.
        let mut id = 0u32;
        let flooding = Instant::now();
        while flooding.elapsed() < Duration::from_secs(1) {
            id += 1;
            if let Err(error) = ws.send(hello(id)).await {
                panic!(
                    "round {round}: write {id} failed ({error}): the server reset the connection \
                     instead of closing it"
                );
            }
        }
        let mut messages = Vec::new();
        let code = loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                Err(_) => panic!("round {round}: no close within 10 s"),
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    messages.push(ServerMessage::decode(&bytes).expect("a server message"));
                }
                Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(error))) => panic!("round {round}: the socket failed: {error}"),
                Ok(None) => panic!("round {round}: the socket ended without a close frame"),
            }
        };
        assert_eq!(code, Some(1008), "round {round}");
        assert_eq!(
            messages.last(),
            Some(&ServerMessage::Closing {
                reason: CloseReason::RateLimited
            }),
            "round {round}"
        );
    }
    server.stop().await;
}

/// A raw client (its own WebSocket framing, no library to stop it) that floods from a busy
/// loop for longer than the server used to drain a closed socket (2 s): its writes may wait
/// (TCP flow control) but never fail with a reset, and when it gets back to reading it
/// finds `Closing { RateLimited }` and the close frame with 1008.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_client_flooding_for_seconds_reads_its_goodbye() {
    let server = server_with(Limits {
        messages_per_sec: 5,
        message_burst: 5,
        slow_downs_before_close: 3,
        ..Limits::default()
    })
    .await;
    let room = server.create_room("Ana", None).await;
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    let handshake = format!(
        "GET /api/rooms/{}/ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        room.code, server.addr
    );
    tcp.write_all(handshake.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        tcp.read_exact(&mut byte)
            .await
            .expect("the handshake answer");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    // One masked binary frame holding a Hello, repeated.
    let hello = ClientMessage {
        id: 1,
        request: Request::Hello {
            version: PROTOCOL_VERSION,
        },
    }
    .encode()
    .expect("encodes");
    let mask = [7u8, 1, 2, 3];
    let mut frame = vec![0x82, 0x80 | u8::try_from(hello.len()).expect("small")];
    frame.extend(mask);
    frame.extend(hello.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    let batch = frame.repeat(64);
    // Writes for 3 s without reading. A write may wait; a failed one is the reset.
    let until = Instant::now() + Duration::from_secs(3);
    let mut written = 0usize;
    while Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, tcp.write_all(&batch)).await {
            Err(_) => break,
            Ok(Ok(())) => written += 64,
            Ok(Err(error)) => panic!(
                "write failed after {written} frames ({error}): the server reset the connection \
                 while the client was still sending"
            ),
        }
    }
    // Back to reading: the server's frames, up to its close frame.
    let mut bytes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (messages, code) = loop {
        if let Some(found) = server_frames(&bytes) {
            break found;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout(left, tcp.read(&mut chunk)).await {
            Err(_) => panic!("no close frame within 10 s: {bytes:x?}"),
            Ok(Ok(0)) => panic!("the connection ended without a close frame: {bytes:x?}"),
            Ok(Ok(n)) => bytes.extend_from_slice(&chunk[..n]),
            Ok(Err(error)) => panic!("reading failed ({error}) before the close frame"),
        }
    };
    assert_eq!(code, 1008, "{messages:?}");
    // Every frame is the same hello (id 1): an Ack, four AlreadyGreeted, three SlowDowns.
    assert_eq!(answer_ids(&messages), [1; 8], "{messages:?}");
    assert_eq!(slow_downs(&messages).len(), 3, "{messages:?}");
    assert_eq!(
        messages.last(),
        Some(&ServerMessage::Closing {
            reason: CloseReason::RateLimited
        })
    );
    server.stop().await;
}

/// Parses unmasked server frames from `bytes`: the messages and the close code once the close
/// frame is complete, `None` before.
fn server_frames(bytes: &[u8]) -> Option<(Vec<ServerMessage>, u16)> {
    let mut messages = Vec::new();
    let mut at = 0;
    while at + 2 <= bytes.len() {
        let opcode = bytes[at] & 0x0f;
        let (len, start) = match bytes[at + 1] & 0x7f {
            126 => (
                usize::from(u16::from_be_bytes(
                    bytes.get(at + 2..at + 4)?.try_into().ok()?,
                )),
                at + 4,
            ),
            127 => panic!("no server frame is that long"),
            len => (usize::from(len), at + 2),
        };
        let payload = bytes.get(start..start + len)?;
        match opcode {
            0x2 => messages.push(ServerMessage::decode(payload).expect("a server message")),
            0x8 => return Some((messages, u16::from_be_bytes([payload[0], payload[1]]))),
            _ => {}
        }
        at = start + len;
    }
    None
}

/// The security headers of every answer; HSTS only for an https:// public URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    for (public_url, hsts) in [("http://perudo.test", false), ("https://perudo.test", true)] {
        let server = TestServer::start_with(ServerConfig {
            rooms: perudo_server::RoomSettings {
                public_url: public_url.into(),
                ..fast_settings()
            },
            limits: Limits::unlimited(),
            ..ServerConfig::default()
        })
        .await;
        for path in [
            "/",
            "/r/ABCDEFGHJ",
            "/healthz",
            "/api/rooms/ZZZZZZZZZ",
            "/no/such/file",
        ] {
            let response = server.get(path).await;
            let head = response.headers.to_ascii_lowercase();
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .map(str::to_string)
            };
            assert_eq!(
                header("content-security-policy").as_deref(),
                Some(
                    perudo_server::CONTENT_SECURITY_POLICY
                        .to_ascii_lowercase()
                        .as_str()
                ),
                "{path}"
            );
            assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
            assert_eq!(header("referrer-policy").as_deref(), Some("no-referrer"));
            assert_eq!(header("x-frame-options").as_deref(), Some("deny"));
            assert_eq!(
                header("strict-transport-security").is_some(),
                hsts,
                "{public_url} {path}"
            );
        }
        server.stop().await;
    }
}

/// Attack on a deployment, storage churn: rooms created and left unplayed are deleted when they close (not kept
/// for the retention period), and the WAL does not keep the size of a burst of writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_does_not_grow_with_room_churn() {
    use perudo_server::store::{SqliteOptions, SqliteStore, SyncMode, WAL_SIZE_LIMIT, wal_path};
    let dir = std::env::temp_dir().join(format!("perudo-churn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("perudo.db");
    let store = SqliteStore::open(SqliteOptions {
        path: db.clone(),
        sync: SyncMode::Normal,
        retention: Duration::from_secs(30 * 86_400),
        max_pages: None,
    })
    .expect("open a database");
    let server = TestServer::start_with(ServerConfig {
        rooms: perudo_server::RoomSettings {
            unplayed_close: Duration::from_millis(200),
            ..fast_settings()
        },
        store: Some(std::sync::Arc::new(store)),
        limits: Limits::unlimited(),
        ..ServerConfig::default()
    })
    .await;
    let wal_len = || std::fs::metadata(wal_path(&db)).map_or(0, |m| m.len());
    // The checkpointer may bring the WAL back down between two bursts, so its size is sampled
    // all along the bursts, not only after each one.
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = std::thread::spawn({
        let sampling = sampling.clone();
        let wal = wal_path(&db);
        move || {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
                std::thread::sleep(Duration::from_millis(1));
            }
            peak
        }
    });
    let rooms = 4000;
    for _ in 0..rooms / 200 {
        let creations: Vec<_> = (0..200)
            .map(|i| {
                let addr = server.addr;
                // Long names: a bigger lobby image per room, a faster-growing WAL.
                let body = format!(r#"{{"name":"{}{i}"}}"#, "x".repeat(20));
                tokio::spawn(async move {
                    exchange_at(
                        addr,
                        "POST",
                        "/api/rooms",
                        &[],
                        Some(("application/json", &body)),
                    )
                    .await
                    .status
                })
            })
            .collect();
        for creation in creations {
            assert_eq!(creation.await.expect("no panic"), 200);
        }
    }
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().expect("the sampler does not panic");
    // A WAL is a 32-byte header and frames of 24 + 4,096 bytes, so it is exactly
    // WAL_SIZE_LIMIT long only once truncated down to it from a longer file.
    assert!(
        peak >= WAL_SIZE_LIMIT,
        "the burst must grow the WAL past its limit for this test to mean anything: {peak}"
    );
    let reader = rusqlite::Connection::open(&db).expect("open the database to read it");
    let count = |table: &str| -> i64 {
        reader
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .expect("count rows")
    };
    // Every room closes unplayed and its row goes.
    let deadline = Instant::now() + Duration::from_secs(30);
    while count("rooms") > 0 {
        assert!(
            Instant::now() < deadline,
            "{} rooms still stored",
            count("rooms")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(reader);
    // Once checkpointed, the next write starts the WAL over at most WAL_SIZE_LIMIT long.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert_eq!(
            server
                .post_json("/api/rooms", r#"{"name":"Ana"}"#)
                .await
                .status,
            200
        );
        if wal_len() <= WAL_SIZE_LIMIT {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the WAL is still {} bytes",
            wal_len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let db_len = std::fs::metadata(&db).map_or(0, |m| m.len());
    eprintln!(
        "{rooms} rooms created and closed: WAL peak {peak} bytes, now {} bytes; database {db_len} bytes",
        wal_len()
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- the real binary under a header flood ---------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_perudo");

/// A `perudo serve` process (memory storage, fast games, loopback). Dropping it kills it.
struct Binary {
    child: std::process::Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Binary {
    async fn start(name: &str, extra: &[&str]) -> Binary {
        let log = std::env::temp_dir().join(format!("perudo-{name}-{}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("create a log file");
        // PERUDO_HOSTILE_BIN runs the same attack against another build (e.g. an older one,
        // to measure the "before" of docs/OPERATIONS.md).
        let bin = std::env::var("PERUDO_HOSTILE_BIN").unwrap_or_else(|_| BIN.to_string());
        let child = std::process::Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--storage", "memory"])
            .args(["--reveal-pause-ms", "5", "--bot-delay-ms", "0"])
            .args(extra)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start the perudo binary");
        let mut binary = Binary {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = binary.log_text().lines().find_map(|line| {
                let line = line.strip_suffix('\r').unwrap_or(line);
                if !line.contains("listening") {
                    return None;
                }
                let rest = &line[line.find("addr=")? + "addr=".len()..];
                rest.split_whitespace().next()?.parse::<SocketAddr>().ok()
            });
            if let Some(addr) = found {
                binary.addr = addr;
                return binary;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start:\n{}",
                binary.log_text()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process's resident memory (VmRSS), in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line")
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// A TCP connection to `addr` from the loopback address `from`.
async fn connect_from(from: [u8; 4], addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(addr).await
}

/// What the perudo process may grow by while one address floods it with request heads: its
/// per-client TCP cap (100) times the head cap (16 KiB) and a connection's own state, with
/// room to spare. (Before the limits, 1,000 such connections took it from 9 to 405 MB.)
const HEADER_FLOOD_RSS_GROWTH_KIB: u64 = 32 * 1024;

/// Attack on a deployment, request heads: 1,000 connections from one address each send a request head of up to
/// 256 KiB and hold it open, and one more trickles a header line a second; the process's
/// memory stays within `HEADER_FLOOD_RSS_GROWTH_KIB` of where it was while a game goes on at
/// its pace, and the trickling request is cut off by the header-read timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_flood_from_one_address_keeps_memory_bounded() {
    let files = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let flood_connections: usize = if files >= 4096 { 1000 } else { 300 };
    // 127.0.0.1 (the witness) is a trusted proxy; the attacker at 127.0.0.2 is a client.
    let server = Binary::start("header-flood", &["--trusted-proxies", "127.0.0.1"]).await;
    let addr = server.addr;
    let created = exchange_at(
        addr,
        "POST",
        "/api/rooms",
        &[],
        Some(("application/json", r#"{"name":"Witness"}"#)),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let room: perudo_protocol::http::RoomCreated =
        serde_json::from_str(&created.body).expect("a RoomCreated body");
    let mut host = Client::connect(addr, &room.code, "Witness").await;
    host.hello().await;
    host.claim(&room.token).await;
    host.ack(Request::AddBot {
        level: BotLevel::Easy,
    })
    .await;
    host.ack(Request::Start).await;
    let mut witness = Witness {
        code: room.code.to_string(),
        host,
        game: 1,
        strategy: Strategy::Simple,
        moves: 0,
    };
    witness.play(3, "warm-up").await;
    let rss_before = server.rss_kib();

    // One request that sends a header line a second and never finishes its head.
    let trickle = tokio::spawn(async move {
        let mut tcp = connect_from([127, 0, 0, 2], addr).await.expect("connect");
        let started = Instant::now();
        let mut lines = 0;
        let write = tcp
            .write_all(b"GET / HTTP/1.1\r\nHost: perudo.test\r\n")
            .await;
        if write.is_ok() {
            while started.elapsed() < Duration::from_secs(60) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                lines += 1;
                let line = format!("X-Slow-{lines}: x\r\n");
                if tcp.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
                let mut buf = [0u8; 512];
                // The server's answer (a 408 or a close) ends it.
                if let Ok(Ok(0) | Err(_)) =
                    tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut buf)).await
                {
                    break;
                }
            }
        }
        started.elapsed()
    });

    // The flood: each connection sends a head of up to 256 KiB in 1 KiB header lines, then
    // holds the connection (bounded: 20 s in all).
    let flood: Vec<_> = (0..flood_connections)
        .map(|i| {
            tokio::spawn(async move {
                let Ok(mut tcp) = connect_from([127, 0, 0, 2], addr).await else {
                    return;
                };
                let until = Instant::now() + Duration::from_secs(20);
                let line = format!("X-Pad-{i}: {}\r\n", "p".repeat(1000));
                let mut sent = 0;
                if tcp
                    .write_all(b"GET / HTTP/1.1\r\nHost: perudo.test\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                while sent < 256 * 1024 && Instant::now() < until {
                    match tokio::time::timeout(
                        Duration::from_secs(2),
                        tcp.write_all(line.as_bytes()),
                    )
                    .await
                    {
                        Ok(Ok(())) => sent += line.len(),
                        Ok(Err(_)) | Err(_) => return,
                    }
                }
                let mut buf = [0u8; 1024];
                let _ = tokio::time::timeout(
                    until.saturating_duration_since(Instant::now()),
                    tcp.read(&mut buf),
                )
                .await;
            })
        })
        .collect();

    // The game goes on meanwhile, and memory is sampled.
    let mut rss_peak = rss_before;
    for _ in 0..8 {
        witness.play(1, "a header flood").await;
        rss_peak = rss_peak.max(server.rss_kib());
    }
    for task in flood {
        let _ = task.await;
        rss_peak = rss_peak.max(server.rss_kib());
    }
    let trickled = trickle.await.expect("no panic");
    witness.play(2, "after the flood").await;
    let grown = rss_peak.saturating_sub(rss_before);
    eprintln!(
        "{flood_connections} flooding connections: RSS {rss_before} KiB before, peak {rss_peak} KiB \
         (+{grown} KiB); the trickling request was cut off after {trickled:?}; {} witness moves",
        witness.moves
    );
    assert!(
        grown < HEADER_FLOOD_RSS_GROWTH_KIB,
        "RSS grew by {grown} KiB under the flood"
    );
    assert!(
        trickled < Duration::from_secs(30),
        "a request head trickling in was not cut off by the header-read timeout ({trickled:?})"
    );
}

/// Attack on a deployment, other sites' pages, and the operator's log: with a public URL, browsers on other sites may
/// not open game sockets (the public URL is the default allowed origin), and every WebSocket
/// session ends with one log line naming the client (as the trusted proxy forwarded it), the
/// room and why it ended, which fail2ban can match (docs/DEPLOY.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_url_is_the_default_origin_and_sessions_are_logged() {
    let server = Binary::start(
        "origin-and-log",
        &[
            "--public-url",
            "https://perudo.test",
            "--messages-per-sec",
            "5",
            "--message-burst",
            "5",
            "--slow-downs-before-close",
            "2",
        ],
    )
    .await;
    let addr = server.addr;
    let created = exchange_at(
        addr,
        "POST",
        "/api/rooms",
        &[],
        Some(("application/json", r#"{"name":"Ana"}"#)),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let room: perudo_protocol::http::RoomCreated =
        serde_json::from_str(&created.body).expect("a RoomCreated body");
    assert_eq!(
        dial(addr, &room.code, &[("Origin", "https://evil.example.com")])
            .await
            .err(),
        Some(403),
        "another site's page may not open a game socket"
    );
    // The public site may, and so may a client without an Origin (not a browser).
    let mut flood = dial(
        addr,
        &room.code,
        &[
            ("Origin", "https://perudo.test"),
            ("X-Forwarded-For", "203.0.113.9"),
        ],
    )
    .await
    .expect("the public URL's origin is let in");
    for id in 1..=20 {
        if flood.send(hello(id)).await.is_err() {
            break;
        }
    }
    let (_, code) = drain(&mut flood).await;
    assert_eq!(code, Some(1008));
    let mut plain = dial(addr, &room.code, &[])
        .await
        .expect("no Origin: let in");
    plain.send(hello(1)).await.expect("send");
    plain.close(None).await.expect("close");
    let _ = drain(&mut plain).await;
    // Both sessions' ends are logged, each with its client's address and reason.
    let deadline = Instant::now() + Duration::from_secs(10);
    let wanted = [
        "ip=203.0.113.9 reason=rate_limited",
        "ip=127.0.0.1 reason=client_closed",
    ];
    loop {
        let log = server.log_text();
        let ended: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("websocket session ended"))
            .collect();
        if wanted.iter().all(|w| {
            ended
                .iter()
                .any(|l| l.contains(w) && l.contains(room.code.as_str()))
        }) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expected session lines with {wanted:?} and room {}, got:\n{}",
            room.code,
            ended.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
