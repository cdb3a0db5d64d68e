//! `perudo-bench loadtest`: many simulated players, each a real WebSocket client, playing real games
//! against a running server and measuring what it takes.
//!
//! Every room is set up like people would: `POST /api/rooms`, the host claims its seat with
//! the token, the other players join, the host adds the server-side bots and starts. Each
//! simulated player then chooses its moves with `perudo_core::Bot` (level `Normal`) from what
//! its own socket received (the latest table and its private view). When a game ends the host
//! starts the next one, so the load continues until `duration` is over; then no new moves are
//! sent, the moves in flight are waited for (briefly), and every socket is closed.
//!
//! **Latency** of an action is measured from sending its `Act` to the moment every simulated
//! player in the room has received the `Update` carrying its result: the `Ack` names the
//! room version `V` of that update, each client notes when it received `Update` `V`, and the
//! latency is the latest of those receive times minus the send time. Server-side bots are not
//! clients, so they are not waited for.
//!
//! For throughput runs start the server with `--reveal-pause-ms 0 --bot-delay-ms 0`, or the
//! reveal pause and the bots' thinking time dominate every figure.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use perudo_core::{Bot, BotLevel, PlayerView};
use perudo_protocol::client::{Answer, Applied, RoomMirror};
use perudo_protocol::http::{CreateRoom, RoomCreated};
use perudo_protocol::{
    ClientMessage, PROTOCOL_VERSION, Request, RequestId, RoomVersion, ServerMessage,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long one setup request (HTTP or WebSocket) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// After `duration`, how long clients wait for the moves in flight to reach everyone.
const DRAIN_GRACE: Duration = Duration::from_secs(3);
/// Reconnect attempts per client before it gives up.
const MAX_RECONNECTS: u32 = 3;
/// Updates whose receipt is tracked per room (older ones without a move are forgotten).
const TRACK_WINDOW: usize = 1024;

/// Pause before a simulated player acts: uniform in `min..=max` milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Think {
    pub min_ms: u64,
    pub max_ms: u64,
}

impl std::str::FromStr for Think {
    type Err = String;

    /// `0`, `500` or a range `1000-2000`.
    fn from_str(s: &str) -> Result<Think, String> {
        let parse = |t: &str| {
            t.trim()
                .parse::<u64>()
                .map_err(|e| format!("{t:?} is not a number of milliseconds: {e}"))
        };
        let (min_ms, max_ms) = match s.split_once('-') {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => {
                let v = parse(s)?;
                (v, v)
            }
        };
        if min_ms > max_ms {
            return Err(format!("the range {s:?} runs backwards"));
        }
        Ok(Think { min_ms, max_ms })
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Base HTTP URL of the server, e.g. `http://127.0.0.1:8080`; several separated by commas
    /// (the nodes of a cluster, a proxy in front of them): room `i` is created and played
    /// through the `i mod n`-th.
    pub url: String,
    pub rooms: usize,
    /// Simulated human seats per room (the first is the host); at least 1.
    pub players: usize,
    /// Server-side bots per room.
    pub bots: usize,
    pub duration: Duration,
    pub think: Think,
    /// Rooms are started evenly over this time.
    pub ramp: Duration,
    pub seed: u64,
    /// Allow a URL that is not a loopback address.
    pub allow_remote: bool,
    /// Print a progress line to stderr once per second.
    pub progress: bool,
    /// Fill the seats but never start a game: the connections stay idle in the lobby (for
    /// measuring memory per idle player).
    pub idle: bool,
    /// Instead of playing Perudo against the game server, take turns against
    /// `perudo-bench fanout-server` (the bare WebSocket fan-out reference, see `fanout.rs`).
    pub fanout: bool,
    /// Spread the client sockets over this many loopback source addresses (127.0.0.1,
    /// 127.0.0.2, ...), each bound before connecting: one source address reaches one server
    /// port at most about 28,000 times (the ephemeral port range). 0: let the OS choose.
    pub source_ips: usize,
    /// Actions sent in the first `warmup` of the run (room setup, `ramp`) are not counted:
    /// actions, latency, bytes and the window start after it.
    pub warmup: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            url: "http://127.0.0.1:8080".into(),
            rooms: 1,
            players: 4,
            bots: 0,
            duration: Duration::from_secs(10),
            think: Think {
                min_ms: 0,
                max_ms: 0,
            },
            ramp: Duration::ZERO,
            seed: 1,
            allow_remote: false,
            progress: false,
            idle: false,
            fanout: false,
            source_ips: 0,
            warmup: Duration::ZERO,
        }
    }
}

/// Latency percentiles, in microseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

/// What a run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// `game` (Perudo against `perudo serve`) or `fanout` (against `perudo-bench fanout-server`).
    pub mode: String,
    pub rooms: usize,
    pub players_per_room: usize,
    pub bots_per_room: usize,
    pub think_ms: String,
    /// Seconds at the start whose actions were not counted.
    pub warmup_secs: f64,
    /// From the first room's start (plus the warmup) to the end of `duration`.
    pub window_secs: f64,
    /// Rooms whose setup finished (created, seated, started).
    pub rooms_ready: u64,
    /// Accepted `Act`s (acknowledged by the server).
    pub actions: u64,
    pub actions_per_sec: f64,
    /// Accepted `Act`s whose update did not reach every player of the room before the end.
    pub incomplete: u64,
    pub latency: Latency,
    /// WebSocket payload bytes, all connections, setup included.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub bytes_sent_per_action: f64,
    pub bytes_received_per_action: f64,
    /// WebSocket data frames received, all connections, per action (setup excluded as for
    /// the bytes).
    pub frames_received_per_action: f64,
    /// Connections open at the end of the window, and the most open at once.
    pub connections: u64,
    pub connections_peak: u64,
    pub games_started: u64,
    pub games_finished: u64,
    pub reconnects: u64,
    pub errors_total: u64,
    /// Error kind (`rejected:<code>`, `connect`, `closed`, `http`, ...) -> count.
    pub errors: BTreeMap<String, u64>,
    /// The load tester's own CPU time (user + system, all its threads) over the whole run,
    /// setup and draining included, as `scripts/bench-load.sh` measures the server's: on a
    /// machine the two share, CPU the server did not get.
    pub cpu_secs: f64,
    pub cpu_us_per_action: f64,
}

/// CPU time (user + system) this process has used so far, all threads.
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

impl Report {
    /// The human-readable summary.
    pub fn summary(&self) -> String {
        let l = &self.latency;
        let ms = |us: u64| us as f64 / 1000.0;
        let mut out = format!(
            "{}: rooms {} x ({} players + {} bots), think {} ms, window {:.1} s \
             (after {:.1} s warmup), rooms ready {}\n\
             actions {} ({:.1}/s), incomplete {}\n\
             latency (Act sent -> update at every player of the room): \
             p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms, mean {:.2} ms ({} samples)\n\
             bytes per action: sent {:.0}, received {:.0} (total {} / {}), frames received per action {:.2}\n\
             connections {} (peak {}), games started {}, finished {}, reconnects {}\n\
             errors {}",
            self.mode,
            self.rooms,
            self.players_per_room,
            self.bots_per_room,
            self.think_ms,
            self.window_secs,
            self.warmup_secs,
            self.rooms_ready,
            self.actions,
            self.actions_per_sec,
            self.incomplete,
            ms(l.p50_us),
            ms(l.p90_us),
            ms(l.p99_us),
            ms(l.max_us),
            l.mean_us / 1000.0,
            l.count,
            self.bytes_sent_per_action,
            self.bytes_received_per_action,
            self.bytes_sent,
            self.bytes_received,
            self.frames_received_per_action,
            self.connections,
            self.connections_peak,
            self.games_started,
            self.games_finished,
            self.reconnects,
            self.errors_total,
        );
        for (kind, n) in &self.errors {
            out.push_str(&format!("\n  {kind}: {n}"));
        }
        out
    }
}

/// Counters shared by every client.
#[derive(Debug)]
struct Stats {
    acked: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    frames_received: AtomicU64,
    connections: AtomicI64,
    connections_peak: AtomicI64,
    games_started: AtomicU64,
    games_finished: AtomicU64,
    reconnects: AtomicU64,
    rooms_ready: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    /// Microseconds. A std mutex, held only to record or read.
    latency: Mutex<Histogram<u64>>,
    /// Actions sent before this are not counted (`Config::warmup`).
    measure_from: Instant,
}

impl Stats {
    fn new(measure_from: Instant) -> Stats {
        Stats {
            measure_from,
            acked: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            frames_received: AtomicU64::new(0),
            connections: AtomicI64::new(0),
            connections_peak: AtomicI64::new(0),
            games_started: AtomicU64::new(0),
            games_finished: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            rooms_ready: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            latency: Mutex::new(
                Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
            ),
        }
    }

    fn error(&self, kind: impl Into<String>) {
        *self
            .errors
            .lock()
            .expect("errors lock")
            .entry(kind.into())
            .or_default() += 1;
    }

    fn connected(&self) {
        let now = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        self.connections_peak.fetch_max(now, Ordering::Relaxed);
    }

    fn disconnected(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts an acknowledged action sent at `sent`, unless it was sent during the warmup.
    fn acked(&self, sent: Instant) {
        if sent >= self.measure_from {
            self.acked.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn record_latency(&self, sent: Instant, latency: Duration) {
        if sent < self.measure_from {
            return;
        }
        let us = (latency.as_micros() as u64).max(1);
        self.latency
            .lock()
            .expect("latency lock")
            .saturating_record(us);
    }
}

/// One room's bookkeeping of which client received which update when.
#[derive(Debug)]
struct RoomTrack {
    clients: usize,
    inner: Mutex<Track>,
}

#[derive(Debug, Default)]
struct Track {
    updates: BTreeMap<RoomVersion, Seen>,
    /// Acts sent and not yet answered, plus acked ones not yet seen by everyone.
    open: usize,
}

#[derive(Debug, Default)]
struct Seen {
    count: usize,
    last: Option<Instant>,
    sent: Option<Instant>,
}

impl RoomTrack {
    fn received(&self, version: RoomVersion, at: Instant, stats: &Stats) {
        let mut track = self.inner.lock().expect("track lock");
        let seen = track.updates.entry(version).or_default();
        seen.count += 1;
        seen.last = Some(seen.last.map_or(at, |l| l.max(at)));
        self.maybe_done(&mut track, version, stats);
        while track.updates.len() > TRACK_WINDOW {
            let oldest = *track.updates.keys().next().expect("not empty");
            if track.updates[&oldest].sent.is_some() {
                break;
            }
            track.updates.remove(&oldest);
        }
    }

    fn act_sent(&self) {
        self.inner.lock().expect("track lock").open += 1;
    }

    fn act_refused(&self) {
        self.inner.lock().expect("track lock").open -= 1;
    }

    fn act_acked(&self, version: RoomVersion, sent: Instant, stats: &Stats) {
        let mut track = self.inner.lock().expect("track lock");
        track.updates.entry(version).or_default().sent = Some(sent);
        self.maybe_done(&mut track, version, stats);
    }

    fn maybe_done(&self, track: &mut Track, version: RoomVersion, stats: &Stats) {
        let Some(seen) = track.updates.get(&version) else {
            return;
        };
        if let (Some(sent), Some(last), true) = (seen.sent, seen.last, seen.count >= self.clients) {
            stats.record_latency(sent, last.saturating_duration_since(sent));
            track.updates.remove(&version);
            track.open -= 1;
        }
    }

    fn open(&self) -> usize {
        self.inner.lock().expect("track lock").open
    }
}

/// A think time drawn from `think`, reproducible for a given `--seed`.
fn think_time(rng: &mut StdRng, think: Think) -> Duration {
    Duration::from_millis(rng.random_range(think.min_ms..=think.max_ms))
}

/// `host:port` of an `http://` URL, refusing non-loopback hosts unless allowed.
fn authority(url: &str, allow_remote: bool) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("http://")
        .context("the URL must start with http:// (https is not supported)")?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        bail!("the URL {url:?} has no host");
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback && !allow_remote {
        bail!(
            "{host} is not a loopback address; pass --allow-remote to load a remote server \
             (only with its operator's consent)"
        );
    }
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok(authority)
}

/// A TCP connection to `authority`, from `source` when given (bound first, any port, and
/// with `TCP_NODELAY` as tokio-tungstenite's `connect_async_with_config(.., true)` sets it).
async fn tcp_connect(authority: &str, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(authority).await;
    };
    let addr = tokio::net::lookup_host(authority)
        .await?
        .find(|a| a.is_ipv4() == source.is_ipv4())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                format!("{authority} has no address of the source's family"),
            )
        })?;
    let socket = if source.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// `POST /api/rooms`.
async fn create_room(
    http: &reqwest::Client,
    authority: &str,
    host_name: &str,
) -> anyhow::Result<RoomCreated> {
    let response = http
        .post(format!("http://{authority}/api/rooms"))
        .json(&CreateRoom {
            name: host_name.into(),
            rules: Default::default(),
            options: Default::default(),
        })
        .send()
        .await
        .context("POST /api/rooms")?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!("POST /api/rooms answered {status}: {body}");
    }
    response.json().await.context("not a RoomCreated body")
}

/// An HTTP client whose connections come from `source` when given.
fn http_client(source: Option<IpAddr>) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .local_address(source)
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("an HTTP client")
}

/// What a client is waiting for an answer to.
#[derive(Clone, Copy, Debug)]
enum Pending {
    Act { id: RequestId, sent: Instant },
    Start { id: RequestId },
}

/// One simulated player: a socket and the room as it sees it.
#[derive(Debug)]
struct Client {
    ws: Ws,
    ws_url: String,
    /// The room as this socket sees it, and its requests.
    mirror: RoomMirror,
    /// A snapshot or `Private` with moves arrived and was not acted on yet.
    turn: bool,
    /// The room's game ended (host: start the next one).
    game_over: bool,
    /// Updates were missed: reconnect and resume.
    resync: bool,
    pending: Option<Pending>,
    stats: Arc<Stats>,
    track: Arc<RoomTrack>,
    connected: bool,
    /// The host counts finished games and starts the next.
    host: bool,
    /// The loopback address the socket is bound to, if any (`Config::source_ips`).
    source: Option<IpAddr>,
}

impl Client {
    async fn connect(
        ws_url: String,
        stats: Arc<Stats>,
        track: Arc<RoomTrack>,
        source: Option<IpAddr>,
    ) -> anyhow::Result<Client> {
        let ws = dial(&ws_url, &stats, source).await?;
        Ok(Client {
            ws,
            ws_url,
            mirror: RoomMirror::new(),
            turn: false,
            game_over: false,
            resync: false,
            pending: None,
            stats,
            track,
            connected: true,
            host: false,
            source,
        })
    }

    async fn send(&mut self, request: Request) -> anyhow::Result<RequestId> {
        let message = self.mirror.request(request);
        self.transmit(message).await
    }

    async fn transmit(&mut self, message: ClientMessage) -> anyhow::Result<RequestId> {
        let bytes = message.encode().context("encode a request")?;
        self.stats
            .bytes_sent
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.ws
            .send(Message::Binary(bytes.into()))
            .await
            .context("send")?;
        Ok(message.id)
    }

    /// Sends `request` and handles what arrives until its answer: the room version.
    async fn request(&mut self, request: Request) -> anyhow::Result<RoomVersion> {
        let message = self.mirror.request(request);
        self.ask(message).await
    }

    /// Sends `message` and handles what arrives until its answer: the room version.
    async fn ask(&mut self, message: ClientMessage) -> anyhow::Result<RoomVersion> {
        let kind = message.request.kind();
        let id = self.transmit(message).await?;
        let answer = async {
            loop {
                let Some(frame) = self.ws.next().await else {
                    bail!("the socket closed during {kind}");
                };
                let frame = frame.with_context(|| format!("socket error during {kind}"))?;
                let Some(message) = self.decode(frame) else {
                    continue;
                };
                match self.apply(&message, Instant::now()) {
                    Some(Answer { id: a, result, .. }) if a == id => match result {
                        Ok(version) => return Ok(version),
                        Err(refusal) => {
                            self.stats.error(format!("rejected:{:?}", refusal.code));
                            bail!("{kind} refused: {:?}", refusal.code);
                        }
                    },
                    Some(other) => self.unexpected(&other),
                    None => {}
                }
            }
        };
        tokio::time::timeout(REQUEST_TIMEOUT, answer)
            .await
            .with_context(|| format!("{kind} timed out"))?
    }

    fn decode(&mut self, frame: Message) -> Option<ServerMessage> {
        match frame {
            Message::Binary(bytes) => {
                self.stats
                    .bytes_received
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                self.stats.frames_received.fetch_add(1, Ordering::Relaxed);
                match ServerMessage::decode(&bytes) {
                    Ok(message) => Some(message),
                    Err(_) => {
                        self.stats.error("decode");
                        None
                    }
                }
            }
            _ => None,
        }
    }

    /// Hands the message to the mirror, notes update receipts and game ends; returns the
    /// answer it carried, if it is one.
    fn apply(&mut self, message: &ServerMessage, now: Instant) -> Option<Answer> {
        if let ServerMessage::Update(update) = message {
            self.track.received(update.version, now, &self.stats);
        }
        match self.mirror.apply(message) {
            Ok(applied) => {
                match &applied {
                    // The seat's own view comes with snapshots and updates.
                    Applied::Synced { .. } | Applied::Updated { .. } => {
                        self.turn = self.mirror.my_turn();
                    }
                    Applied::Closing { reason } => {
                        self.stats.error(format!("closing:{reason:?}"));
                    }
                    Applied::Answered(_)
                    | Applied::Seated { .. }
                    | Applied::Moved { .. }
                    | Applied::Ignored(_) => {}
                }
                if let Applied::Updated {
                    game_over: Some(_), ..
                } = &applied
                {
                    self.game_over = true;
                    if self.host {
                        self.stats.games_finished.fetch_add(1, Ordering::Relaxed);
                    }
                }
                return applied.answer().cloned();
            }
            Err(violation) if violation.must_resume() => {
                self.stats.error("version_gap");
                self.resync = true;
            }
            Err(violation) => {
                tracing::debug!("protocol violation: {violation}");
                self.stats.error("protocol");
            }
        }
        None
    }

    /// An answer to something this client is not waiting for.
    fn unexpected(&self, answer: &Answer) {
        if let Err(refusal) = &answer.result {
            self.stats.error(format!("rejected:{:?}", refusal.code));
        }
    }

    /// The bot's move for this seat now, if it has one.
    fn choose(&mut self, bot: &mut Bot) -> Option<perudo_core::Action> {
        let you = self.mirror.you()?;
        if !you.legal.any() {
            return None;
        }
        let table = self.mirror.table()?;
        let action = bot.decide(&PlayerView {
            seat: you.seat,
            hand: you.hand.clone(),
            table: table.clone(),
            legal: you.legal,
        });
        match action {
            Some(action) if you.legal.allows(&action) => Some(action),
            _ => {
                self.stats.error("bot_no_legal_move");
                None
            }
        }
    }

    /// Handles the answer to the pending request, if it is one.
    fn answer(&mut self, answer: &Answer) -> bool {
        let pending_id = match self.pending {
            Some(Pending::Act { id, .. } | Pending::Start { id }) => id,
            None => return false,
        };
        if pending_id != answer.id {
            return false;
        }
        let pending = self.pending.take().expect("checked");
        let version = match &answer.result {
            Ok(version) => *version,
            Err(refusal) => {
                self.stats.error(format!("rejected:{:?}", refusal.code));
                if let Pending::Act { .. } = pending {
                    self.track.act_refused();
                }
                return true;
            }
        };
        match pending {
            Pending::Act { sent, .. } => {
                self.stats.acked(sent);
                self.track.act_acked(version, sent, &self.stats);
            }
            Pending::Start { .. } => {
                self.stats.games_started.fetch_add(1, Ordering::Relaxed);
            }
        }
        true
    }

    /// Drops the socket, dials again and resumes the seat. Counts a reconnect.
    async fn reconnect(&mut self) -> anyhow::Result<()> {
        self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        if let Some(Pending::Act { .. }) = self.pending.take() {
            self.track.act_refused();
        }
        self.close_quietly().await;
        self.ws = dial(&self.ws_url, &self.stats, self.source).await?;
        self.mirror.reconnected();
        self.resync = false;
        self.connected = true;
        self.request(Request::Hello {
            version: PROTOCOL_VERSION,
        })
        .await?;
        let resume = self.mirror.resume();
        self.ask(resume).await?;
        Ok(())
    }

    async fn close_quietly(&mut self) {
        if self.connected {
            self.connected = false;
            self.stats.disconnected();
            let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
        }
    }
}

/// Read buffer of a simulated player's socket. tungstenite zero-fills the free part of its
/// read buffer before every read (up to `read_buffer_size`, 128 KiB by default): with the
/// default, zeroing was 20 % of the load tester's CPU in a game run and 42 % in a fan-out run
/// (`perf record`, 10 rooms x 4), CPU the server under test could not have. A game's frames
/// are a few hundred bytes (a snapshot a few KiB); larger ones still grow the buffer.
const WS_READ_BUFFER: usize = 4 * 1024;

fn ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
}

async fn dial(url: &str, stats: &Stats, source: Option<IpAddr>) -> anyhow::Result<Ws> {
    let connect = async {
        match source {
            None => tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), true)
                .await
                .map(|(ws, _)| ws)
                .map_err(anyhow::Error::new),
            Some(source) => {
                let authority = url
                    .strip_prefix("ws://")
                    .and_then(|rest| rest.split('/').next())
                    .context("not a ws:// URL")?;
                let tcp = tcp_connect(authority, Some(source)).await?;
                let tcp = MaybeTlsStream::Plain(tcp);
                tokio_tungstenite::client_async_with_config(url, tcp, Some(ws_config()))
                    .await
                    .map(|(ws, _)| ws)
                    .map_err(anyhow::Error::new)
            }
        }
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, connect).await {
        Ok(Ok(ws)) => {
            stats.connected();
            Ok(ws)
        }
        Ok(Err(e)) => {
            stats.error("connect");
            Err(e.context(format!("connect {url}")))
        }
        Err(_) => {
            stats.error("connect_timeout");
            bail!("connect {url} timed out")
        }
    }
}

/// Everything one room's clients share.
#[derive(Clone, Debug)]
struct Shared {
    config: Arc<Config>,
    /// `host:port` of each URL of `config.url`; room `i` uses the `i mod n`-th.
    authorities: Arc<Vec<String>>,
    stats: Arc<Stats>,
    stop: CancellationToken,
    /// Sockets opened so far, to pick the next source address.
    dialled: Arc<AtomicUsize>,
    /// HTTP clients: one per source address (`source_ips`), or one.
    http: Arc<Vec<reqwest::Client>>,
}

impl Shared {
    /// The source address for the next socket: 127.0.0.1, 127.0.0.2, ... in turn over
    /// `source_ips` addresses, or `None` (the OS chooses).
    fn next_source(&self) -> Option<IpAddr> {
        let n = self.config.source_ips;
        if n == 0 {
            return None;
        }
        let i = self.dialled.fetch_add(1, Ordering::Relaxed) % n;
        Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + i as u8)))
    }

    /// The server room `index` is created and played on.
    fn authority(&self, index: usize) -> &str {
        &self.authorities[index % self.authorities.len()]
    }

    /// `POST /api/rooms` for room `index` from the next source address.
    async fn create_room(&self, index: usize, host_name: &str) -> anyhow::Result<RoomCreated> {
        let http = match self.next_source() {
            Some(IpAddr::V4(ip)) => &self.http[usize::from(ip.octets()[3]) - 1],
            Some(IpAddr::V6(_)) | None => &self.http[0],
        };
        create_room(http, self.authority(index), host_name).await
    }
}

/// Sets up one room, then plays it with one task per client until stopped.
async fn run_room(shared: Shared, index: usize) {
    let stats = shared.stats.clone();
    let track = Arc::new(RoomTrack {
        clients: shared.config.players,
        inner: Mutex::new(Track::default()),
    });
    if shared.config.fanout {
        return run_fanout_room(shared, index, track).await;
    }
    let clients = match setup_room(&shared, index, &track).await {
        Ok(clients) => clients,
        Err(e) => {
            stats.error("setup");
            tracing::debug!("room {index}: setup failed: {e:#}");
            return;
        }
    };
    stats.rooms_ready.fetch_add(1, Ordering::Relaxed);
    let mut tasks = JoinSet::new();
    for (seat, client) in clients.into_iter().enumerate() {
        let seed = shared
            .config
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add((index * 16 + seat) as u64);
        tasks.spawn(play(client, shared.clone(), seat == 0, seed));
    }
    while tasks.join_next().await.is_some() {}
}

async fn setup_room(
    shared: &Shared,
    index: usize,
    track: &Arc<RoomTrack>,
) -> anyhow::Result<Vec<Client>> {
    let stats = &shared.stats;
    let created = shared.create_room(index, "p0").await.inspect_err(|_| {
        stats.error("http");
    })?;
    let ws_url = format!(
        "ws://{}/api/rooms/{}/ws",
        shared.authority(index),
        created.code
    );
    let hello = Request::Hello {
        version: PROTOCOL_VERSION,
    };
    let mut host = Client::connect(
        ws_url.clone(),
        stats.clone(),
        track.clone(),
        shared.next_source(),
    )
    .await?;
    host.request(hello.clone()).await?;
    host.request(Request::Claim {
        token: created.token.clone(),
    })
    .await?;
    host.host = true;
    let mut clients = vec![host];
    for p in 1..shared.config.players {
        if shared.stop.is_cancelled() {
            bail!("stopped during setup");
        }
        let mut client = Client::connect(
            ws_url.clone(),
            stats.clone(),
            track.clone(),
            shared.next_source(),
        )
        .await?;
        client.request(hello.clone()).await?;
        client
            .request(Request::Join {
                name: format!("p{p}"),
            })
            .await?;
        clients.push(client);
    }
    for _ in 0..shared.config.bots {
        clients[0]
            .request(Request::AddBot {
                level: BotLevel::Normal,
            })
            .await?;
    }
    tracing::debug!("room {index} ({}) ready", created.code);
    if !shared.config.idle {
        clients[0].request(Request::Start).await?;
        stats.games_started.fetch_add(1, Ordering::Relaxed);
    }
    Ok(clients)
}

/// One client's life after setup: read, keep the state, act on its turn, rematch (host).
async fn play(mut client: Client, shared: Shared, host: bool, seed: u64) {
    let think = shared.config.think;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut bot = Bot::new(BotLevel::Normal, seed);
    let mut act_at: Option<Instant> = None;
    let mut drain_until: Option<Instant> = None;
    let mut reconnects = 0;
    loop {
        let now = Instant::now();
        if drain_until.is_none() && shared.stop.is_cancelled() {
            drain_until = Some(now + DRAIN_GRACE);
        }
        if let Some(until) = drain_until
            && ((client.pending.is_none() && client.track.open() == 0) || now >= until)
        {
            break;
        }
        if drain_until.is_none() && client.pending.is_none() {
            if host && client.game_over {
                client.game_over = false;
                match client.send(Request::Start).await {
                    Ok(id) => client.pending = Some(Pending::Start { id }),
                    Err(_) => client.stats.error("send"),
                }
                continue;
            }
            if client.turn && act_at.is_none() {
                act_at = Some(now + think_time(&mut rng, think));
            }
            if act_at.is_some_and(|at| at <= now) {
                act_at = None;
                client.turn = false;
                if let Some(action) = client.choose(&mut bot) {
                    let sent = Instant::now();
                    client.track.act_sent();
                    match client.send(Request::Act { action }).await {
                        Ok(id) => client.pending = Some(Pending::Act { id, sent }),
                        Err(_) => {
                            client.track.act_refused();
                            client.stats.error("send");
                        }
                    }
                }
                continue;
            }
        }
        let wake = next_wake(now, drain_until.is_some(), client.pending.is_none(), act_at);
        let frame = tokio::select! {
            frame = client.ws.next() => frame,
            _ = sleep_until_opt(wake) => continue,
            _ = shared.stop.cancelled(), if drain_until.is_none() => continue,
        };
        let now = Instant::now();
        match frame {
            Some(Ok(frame)) => {
                if let Some(message) = client.decode(frame)
                    && let Some(answer) = client.apply(&message, now)
                    && !client.answer(&answer)
                {
                    client.unexpected(&answer);
                }
                if client.resync {
                    act_at = None;
                    reconnects += 1;
                    if reconnects > MAX_RECONNECTS || client.reconnect().await.is_err() {
                        break;
                    }
                }
            }
            other => {
                if drain_until.is_some() {
                    break;
                }
                client.stats.error(match other {
                    Some(Err(_)) => "socket_error",
                    _ => "closed",
                });
                client.connected = false;
                client.stats.disconnected();
                act_at = None;
                reconnects += 1;
                if reconnects > MAX_RECONNECTS || client.reconnect().await.is_err() {
                    break;
                }
            }
        }
    }
    client.close_quietly().await;
}

/// Payload bytes of a fan-out client's message: about what the real client sends per `Act`.
const FANOUT_REQUEST_BYTES: usize = 56;

/// One simulated player against `perudo-bench fanout-server`.
#[derive(Debug)]
struct FanoutClient {
    ws: Ws,
    /// Its place in the room's turn order (the order the sockets joined).
    seat: usize,
    /// The latest broadcast version received.
    version: u64,
    /// Sent at this time, not acknowledged yet.
    pending: Option<Instant>,
    connected: bool,
}

impl FanoutClient {
    /// Reads one frame: counts its bytes and returns its kind and version.
    fn read(frame: Message, stats: &Stats) -> Option<(u8, u64)> {
        match frame {
            Message::Binary(bytes) => {
                stats
                    .bytes_received
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                stats.frames_received.fetch_add(1, Ordering::Relaxed);
                let parsed = crate::fanout::parse(&bytes);
                if parsed.is_none() {
                    stats.error("decode");
                }
                parsed
            }
            _ => None,
        }
    }
}

/// Connects one room's players to the fan-out server (each waits for its `WELCOME`, so every
/// socket is registered before the first message), then lets them take turns.
async fn run_fanout_room(shared: Shared, index: usize, track: Arc<RoomTrack>) {
    use crate::fanout::WELCOME;
    let stats = shared.stats.clone();
    let setup = async {
        let created = shared
            .create_room(index, "p0")
            .await
            .inspect_err(|_| stats.error("http"))?;
        let ws_url = format!(
            "ws://{}/api/rooms/{}/ws",
            shared.authority(index),
            created.code
        );
        let mut clients = Vec::with_capacity(shared.config.players);
        for seat in 0..shared.config.players {
            if shared.stop.is_cancelled() {
                bail!("stopped during setup");
            }
            let mut ws = dial(&ws_url, &stats, shared.next_source()).await?;
            let welcome = async {
                loop {
                    match ws.next().await {
                        Some(Ok(frame)) => {
                            if let Some((WELCOME, version)) = FanoutClient::read(frame, &stats) {
                                return Ok(version);
                            }
                        }
                        Some(Err(e)) => return Err(anyhow::Error::new(e)),
                        None => bail!("the socket closed before the welcome"),
                    }
                }
            };
            let version = tokio::time::timeout(REQUEST_TIMEOUT, welcome)
                .await
                .context("welcome timed out")??;
            clients.push(FanoutClient {
                ws,
                seat,
                version,
                pending: None,
                connected: true,
            });
        }
        anyhow::Ok(clients)
    };
    let clients = match setup.await {
        Ok(clients) => clients,
        Err(e) => {
            stats.error("setup");
            tracing::debug!("room {index}: setup failed: {e:#}");
            return;
        }
    };
    stats.rooms_ready.fetch_add(1, Ordering::Relaxed);
    let mut tasks = JoinSet::new();
    for client in clients {
        let seed = shared
            .config
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add((index * 16 + client.seat) as u64);
        tasks.spawn(fanout_play(client, shared.clone(), track.clone(), seed));
    }
    while tasks.join_next().await.is_some() {}
}

/// One fan-out client's life: after broadcast `v` the client with seat `v % players` sends
/// one message after its think time; every client notes when each broadcast arrived.
async fn fanout_play(mut client: FanoutClient, shared: Shared, track: Arc<RoomTrack>, seed: u64) {
    use crate::fanout::{ACK, BROADCAST};
    let stats = shared.stats.clone();
    let players = shared.config.players as u64;
    let think = shared.config.think;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut act_at: Option<Instant> = None;
    let mut drain_until: Option<Instant> = None;
    // Whether the latest version gives this client the turn and it has not acted on it.
    // `--idle`: the sockets stay connected and never send.
    let idle = shared.config.idle;
    let mut turn = !idle && client.version % players == client.seat as u64;
    loop {
        let now = Instant::now();
        if drain_until.is_none() && shared.stop.is_cancelled() {
            drain_until = Some(now + DRAIN_GRACE);
        }
        if let Some(until) = drain_until
            && ((client.pending.is_none() && track.open() == 0) || now >= until)
        {
            break;
        }
        if drain_until.is_none() && client.pending.is_none() {
            if turn && act_at.is_none() {
                act_at = Some(now + think_time(&mut rng, think));
            }
            if act_at.is_some_and(|at| at <= now) {
                act_at = None;
                turn = false;
                let sent = Instant::now();
                track.act_sent();
                stats
                    .bytes_sent
                    .fetch_add(FANOUT_REQUEST_BYTES as u64, Ordering::Relaxed);
                let payload = Bytes::from_static(&[0; FANOUT_REQUEST_BYTES]);
                match client.ws.send(Message::Binary(payload)).await {
                    Ok(()) => client.pending = Some(sent),
                    Err(_) => {
                        track.act_refused();
                        stats.error("send");
                    }
                }
                continue;
            }
        }
        let wake = next_wake(now, drain_until.is_some(), client.pending.is_none(), act_at);
        let frame = tokio::select! {
            frame = client.ws.next() => frame,
            _ = sleep_until_opt(wake) => continue,
            _ = shared.stop.cancelled(), if drain_until.is_none() => continue,
        };
        let now = Instant::now();
        match frame {
            Some(Ok(frame)) => match FanoutClient::read(frame, &stats) {
                Some((BROADCAST, version)) => {
                    track.received(version, now, &stats);
                    if version > client.version {
                        client.version = version;
                        turn = !idle && version % players == client.seat as u64;
                    }
                }
                // The mover's one frame: the broadcast and its answer.
                Some((ACK, version)) => {
                    track.received(version, now, &stats);
                    if version > client.version {
                        client.version = version;
                        turn = !idle && version % players == client.seat as u64;
                    }
                    if let Some(sent) = client.pending.take() {
                        stats.acked(sent);
                        track.act_acked(version, sent, &stats);
                    }
                }
                _ => {}
            },
            other => {
                if drain_until.is_some() {
                    break;
                }
                stats.error(match other {
                    Some(Err(_)) => "socket_error",
                    _ => "closed",
                });
                client.connected = false;
                stats.disconnected();
                if client.pending.take().is_some() {
                    track.act_refused();
                }
                break;
            }
        }
    }
    if client.connected {
        stats.disconnected();
        let _ = tokio::time::timeout(Duration::from_secs(1), client.ws.close(None)).await;
    }
}

/// When a client loop wakes without a frame: soon while draining (to see the moves in
/// flight land), at its next act while it has nothing pending, else only for a frame.
fn next_wake(now: Instant, draining: bool, idle: bool, act_at: Option<Instant>) -> Option<Instant> {
    if draining {
        Some(now + Duration::from_millis(20))
    } else if idle {
        act_at
    } else {
        None
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn p99_ms(stats: &Stats) -> f64 {
    let h = stats.latency.lock().expect("latency lock");
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(0.99) as f64 / 1000.0
    }
}

/// Runs the load test and returns what it measured. Refuses a non-loopback URL unless
/// `allow_remote`.
pub async fn run(config: Config) -> anyhow::Result<Report> {
    let cpu_at_start = process_cpu();
    if config.players == 0 {
        bail!("--players must be at least 1 (the host)");
    }
    if config.players + config.bots > usize::from(perudo_core::MAX_SEATS) {
        bail!(
            "players + bots must be at most {} seats",
            perudo_core::MAX_SEATS
        );
    }
    if config.warmup >= config.duration {
        bail!("--warmup must be shorter than --duration");
    }
    if config.source_ips > 254 {
        bail!("--source-ips must be at most 254 (127.0.0.1 to 127.0.0.254)");
    }
    let authorities = config
        .url
        .split(',')
        .map(|url| authority(url.trim(), config.allow_remote))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let start = Instant::now();
    let end = start + config.duration;
    let measure_from = start + config.warmup;
    let stats = Arc::new(Stats::new(measure_from));
    let stop = CancellationToken::new();
    let shared = Shared {
        config: Arc::new(config.clone()),
        authorities: Arc::new(authorities),
        stats: stats.clone(),
        stop: stop.clone(),
        dialled: Arc::new(AtomicUsize::new(0)),
        http: Arc::new(if config.source_ips == 0 {
            vec![http_client(None)?]
        } else {
            (0..config.source_ips)
                .map(|i| http_client(Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + i as u8)))))
                .collect::<anyhow::Result<_>>()?
        }),
    };

    let progress = if config.progress {
        let stats = stats.clone();
        let stop = stop.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(
                Instant::now() + Duration::from_secs(1),
                Duration::from_secs(1),
            );
            let mut last = 0;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => return,
                }
                let acked = stats.acked.load(Ordering::Relaxed);
                eprintln!(
                    "[{:>4.0}s] actions/s {:>8} | p99 {:>8.2} ms | connections {:>6} | errors {}",
                    start.elapsed().as_secs_f64(),
                    acked - last,
                    p99_ms(&stats),
                    stats.connections.load(Ordering::Relaxed),
                    stats
                        .errors
                        .lock()
                        .expect("errors lock")
                        .values()
                        .sum::<u64>(),
                );
                last = acked;
            }
        }))
    } else {
        None
    };

    let mut rooms = JoinSet::new();
    for index in 0..config.rooms {
        let offset = if config.rooms > 1 {
            config.ramp.mul_f64(index as f64 / config.rooms as f64)
        } else {
            Duration::ZERO
        };
        let shared = shared.clone();
        rooms.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep_until(start + offset) => {}
                _ = shared.stop.cancelled() => return,
            }
            run_room(shared, index).await;
        });
    }

    // Bytes of the warmup (setup, ramp) are not counted either.
    let (warmup_sent, warmup_received, warmup_frames) = if config.warmup.is_zero() {
        (0, 0, 0)
    } else {
        tokio::time::sleep_until(measure_from).await;
        (
            stats.bytes_sent.load(Ordering::Relaxed),
            stats.bytes_received.load(Ordering::Relaxed),
            stats.frames_received.load(Ordering::Relaxed),
        )
    };
    tokio::time::sleep_until(end).await;
    let window = start.elapsed().saturating_sub(config.warmup);
    let connections_at_end = stats.connections.load(Ordering::Relaxed).max(0) as u64;
    stop.cancel();
    let finish = async { while rooms.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_GRACE + REQUEST_TIMEOUT, finish)
        .await
        .is_err()
    {
        stats.error("shutdown_timeout");
        rooms.abort_all();
        while rooms.join_next().await.is_some() {}
    }
    if let Some(progress) = progress {
        let _ = progress.await;
    }

    let latency = {
        let h = stats.latency.lock().expect("latency lock");
        if h.is_empty() {
            Latency::default()
        } else {
            Latency {
                count: h.len(),
                p50_us: h.value_at_quantile(0.50),
                p90_us: h.value_at_quantile(0.90),
                p99_us: h.value_at_quantile(0.99),
                max_us: h.max(),
                mean_us: h.mean(),
            }
        }
    };
    let actions = stats.acked.load(Ordering::Relaxed);
    let errors = stats.errors.lock().expect("errors lock").clone();
    let per_action = |bytes: u64| {
        if actions == 0 {
            0.0
        } else {
            bytes as f64 / actions as f64
        }
    };
    let bytes_sent = stats.bytes_sent.load(Ordering::Relaxed) - warmup_sent;
    let bytes_received = stats.bytes_received.load(Ordering::Relaxed) - warmup_received;
    let frames_received = stats.frames_received.load(Ordering::Relaxed) - warmup_frames;
    let cpu = process_cpu().saturating_sub(cpu_at_start).as_secs_f64();
    Ok(Report {
        mode: if config.fanout { "fanout" } else { "game" }.into(),
        rooms: config.rooms,
        players_per_room: config.players,
        bots_per_room: config.bots,
        think_ms: if config.think.min_ms == config.think.max_ms {
            config.think.min_ms.to_string()
        } else {
            format!("{}-{}", config.think.min_ms, config.think.max_ms)
        },
        warmup_secs: config.warmup.as_secs_f64(),
        window_secs: window.as_secs_f64(),
        rooms_ready: stats.rooms_ready.load(Ordering::Relaxed),
        actions,
        actions_per_sec: actions as f64 / window.as_secs_f64(),
        incomplete: actions.saturating_sub(latency.count),
        latency,
        bytes_sent,
        bytes_received,
        bytes_sent_per_action: per_action(bytes_sent),
        bytes_received_per_action: per_action(bytes_received),
        frames_received_per_action: per_action(frames_received),
        connections: connections_at_end,
        connections_peak: stats.connections_peak.load(Ordering::Relaxed).max(0) as u64,
        games_started: stats.games_started.load(Ordering::Relaxed),
        games_finished: stats.games_finished.load(Ordering::Relaxed),
        reconnects: stats.reconnects.load(Ordering::Relaxed),
        errors_total: errors.values().sum(),
        errors,
        cpu_secs: cpu,
        cpu_us_per_action: if actions == 0 {
            0.0
        } else {
            cpu / actions as f64 * 1e6
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn think_ranges_parse() {
        assert_eq!(
            "0".parse::<Think>(),
            Ok(Think {
                min_ms: 0,
                max_ms: 0
            })
        );
        assert_eq!(
            "1000-2000".parse::<Think>(),
            Ok(Think {
                min_ms: 1000,
                max_ms: 2000
            })
        );
        assert!("2000-1000".parse::<Think>().is_err());
        assert!("x".parse::<Think>().is_err());
    }

    #[test]
    fn only_loopback_without_allow_remote() {
        assert_eq!(
            authority("http://127.0.0.1:8080", false).unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            authority("http://localhost:9/", false).unwrap(),
            "localhost:9"
        );
        assert_eq!(authority("http://[::1]:80", false).unwrap(), "[::1]:80");
        assert_eq!(
            authority("http://127.0.0.1", false).unwrap(),
            "127.0.0.1:80"
        );
        assert!(authority("http://10.0.0.1:8080", false).is_err());
        assert!(authority("http://example.com", false).is_err());
        assert_eq!(
            authority("http://example.com", true).unwrap(),
            "example.com:80"
        );
        assert!(authority("https://127.0.0.1", false).is_err());
    }
}
