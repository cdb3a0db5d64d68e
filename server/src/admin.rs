//! `perudo admin`: the operator's tools without a database shell, over a local Unix socket
//! (mode 0600, never on the public port): list rooms and connections, close a room, block an
//! address or a network for a time, lift a block.
//!
//! The server side is [`bind`] (at start) and [`serve`]; [`Sessions`] is the table of open
//! WebSocket sessions and room ages it answers from. The wire is one JSON [`Request`] line
//! from the client and one JSON [`Reply`] line back, then the connection closes.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::AppState;
use crate::blocklist::Net;

/// Longest request line the server reads.
const MAX_REQUEST: u64 = 64 * 1024;
/// How long one admin connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the client waits for the answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// The admin socket's path when none is set: next to the database, `<db>.admin.sock`.
pub fn default_socket(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".admin.sock");
    PathBuf::from(name)
}

/// What the operator asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// Every open room.
    Rooms,
    /// Every open WebSocket connection.
    Connections,
    /// Close a room: its players are told (`Closing { RoomClosed }`) and it is gone for good.
    Close { room: String },
    /// Refuse every request from `target` (an IP or a network such as an IPv6 /64) for
    /// `seconds`, and close its open connections.
    Block {
        target: String,
        seconds: u64,
        #[serde(default)]
        reason: String,
    },
    /// Lift the block of exactly `target`.
    Unblock { target: String },
    /// The blocks in force.
    Blocks,
}

/// The server's answer: `{"ok": ...}` or `{"error": "..."}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Ok(Answer),
    Error(String),
}

/// What a request returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    Rooms {
        rooms: Vec<RoomRow>,
    },
    Connections {
        connections: Vec<ConnectionRow>,
    },
    Closed {
        room: String,
        connections: usize,
    },
    Blocked {
        target: String,
        seconds: u64,
        closed_connections: usize,
    },
    Unblocked {
        target: String,
    },
    Blocks {
        blocks: Vec<BlockRow>,
    },
}

/// One open room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRow {
    pub code: String,
    /// `lobby`, `playing`, `reveal` or `finished`.
    pub phase: String,
    /// Seats taken (bots included) and the room's size.
    pub seats: u8,
    pub max_seats: u8,
    pub spectators: u32,
    /// Open WebSocket connections to the room.
    pub connections: usize,
    /// Seconds since this server process opened the room (or restored it at start).
    pub age_secs: u64,
}

/// One open WebSocket connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRow {
    pub conn: u64,
    /// The client's address, as resolved through the trusted proxies.
    pub ip: IpAddr,
    pub room: String,
    pub age_secs: u64,
}

/// One block in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRow {
    pub target: String,
    pub remaining_secs: u64,
    pub reason: String,
}

/// The open WebSocket sessions (who, which room, since when) and when each open room opened.
#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    conns: HashMap<u64, Session>,
    rooms: HashMap<String, Instant>,
}

#[derive(Debug)]
struct Session {
    ip: IpAddr,
    room: String,
    opened: Instant,
    stop: CancellationToken,
}

/// An open session's entry; dropping it removes the entry.
#[derive(Debug)]
pub struct SessionGuard {
    sessions: Arc<Sessions>,
    conn: u64,
    stop: CancellationToken,
}

impl SessionGuard {
    /// Cancelled when the server shuts down or the operator ends this session.
    pub fn stop(&self) -> CancellationToken {
        self.stop.clone()
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut table = self.sessions.inner.lock().expect("sessions lock");
        table.conns.remove(&self.conn);
    }
}

impl Sessions {
    /// Records connection `conn` from `ip` to `room`; its token is a child of `shutdown`.
    pub fn open(
        self: &Arc<Sessions>,
        conn: u64,
        ip: IpAddr,
        room: &str,
        shutdown: &CancellationToken,
    ) -> SessionGuard {
        let stop = shutdown.child_token();
        let mut table = self.inner.lock().expect("sessions lock");
        table.conns.insert(
            conn,
            Session {
                ip,
                room: room.to_string(),
                opened: Instant::now(),
                stop: stop.clone(),
            },
        );
        SessionGuard {
            sessions: self.clone(),
            conn,
            stop,
        }
    }

    pub fn room_opened(&self, code: &str) {
        let mut table = self.inner.lock().expect("sessions lock");
        table.rooms.insert(code.to_string(), Instant::now());
    }

    pub fn room_closed(&self, code: &str) {
        let mut table = self.inner.lock().expect("sessions lock");
        table.rooms.remove(code);
    }

    /// Ends every open session from `net`; returns how many.
    pub fn close_from(&self, net: Net) -> usize {
        let table = self.inner.lock().expect("sessions lock");
        let mut closed = 0;
        for (conn, session) in table.conns.iter().filter(|(_, s)| net.contains(s.ip)) {
            // The session's own end line says `server_shutdown` (its stop token is a child of
            // the server's); this line says why.
            info!(conn, ip = %session.ip, room = %session.room, %net, "closing a blocked address's connection");
            session.stop.cancel();
            closed += 1;
        }
        closed
    }

    fn connections(&self, now: Instant) -> Vec<ConnectionRow> {
        let table = self.inner.lock().expect("sessions lock");
        let mut rows: Vec<ConnectionRow> = table
            .conns
            .iter()
            .map(|(&conn, s)| ConnectionRow {
                conn,
                ip: s.ip,
                room: s.room.clone(),
                age_secs: now.saturating_duration_since(s.opened).as_secs(),
            })
            .collect();
        rows.sort_by_key(|r| r.conn);
        rows
    }

    /// Per room: open connections and age in seconds.
    fn room_stats(&self, now: Instant) -> HashMap<String, (usize, u64)> {
        let table = self.inner.lock().expect("sessions lock");
        let mut stats: HashMap<String, (usize, u64)> = table
            .rooms
            .iter()
            .map(|(code, &opened)| {
                (
                    code.clone(),
                    (0, now.saturating_duration_since(opened).as_secs()),
                )
            })
            .collect();
        for session in table.conns.values() {
            stats.entry(session.room.clone()).or_default().0 += 1;
        }
        stats
    }
}

/// The admin socket, bound; dropping it removes the socket file.
#[derive(Debug)]
pub struct AdminSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl Drop for AdminSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds the admin socket at `path`, readable and writable by the server's user only (0600).
/// A socket file left by a server that is gone (killed) is replaced; one that a running
/// server answers on is an error.
pub async fn bind(path: &Path) -> io::Result<AdminSocket> {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};

    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        if UnixStream::connect(path).await.is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "{} is the admin socket of a running server (is another perudo using this database?)",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    let socket = AdminSocket {
        listener,
        path: path.to_path_buf(),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(socket)
}

/// Answers admin requests on `socket` until `shutdown` is cancelled.
pub async fn serve(socket: AdminSocket, state: AppState, shutdown: CancellationToken) {
    info!(path = %socket.path.display(), "admin socket open");
    loop {
        let stream = tokio::select! {
            accepted = socket.listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    warn!(%error, "admin socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(error) = answer(stream, &state).await {
                warn!(%error, "admin socket: a request failed");
            }
        });
    }
    drop(socket);
}

async fn answer(stream: UnixStream, state: &AppState) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST));
    let read = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await;
    let reply = match read {
        Err(_) => Reply::Error("no request within 5 seconds".into()),
        Ok(Err(error)) => Reply::Error(format!("cannot read the request: {error}")),
        Ok(Ok(_)) => match serde_json::from_str::<Request>(line.trim()) {
            Err(error) => Reply::Error(format!("not an admin request: {error}")),
            Ok(request) => match handle(request, state).await {
                Ok(answer) => Reply::Ok(answer),
                Err(why) => Reply::Error(why),
            },
        },
    };
    let mut text = serde_json::to_string(&reply).map_err(io::Error::other)?;
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    write.shutdown().await
}

/// Carries out one request.
pub async fn handle(request: Request, state: &AppState) -> Result<Answer, String> {
    let now = Instant::now();
    match request {
        Request::Rooms => {
            let handles = state.room_handles();
            let summaries =
                futures_util::future::join_all(handles.iter().map(|h| h.summary())).await;
            let stats = state.sessions().room_stats(Instant::now());
            let mut rooms: Vec<RoomRow> = summaries
                .into_iter()
                .flatten()
                .map(|summary| {
                    let (connections, age_secs) =
                        stats.get(&summary.code).copied().unwrap_or_default();
                    RoomRow {
                        phase: crate::metrics::phase_label(summary.phase).to_string(),
                        seats: summary.seats_taken,
                        max_seats: summary.max_seats,
                        spectators: summary.spectators,
                        connections,
                        age_secs,
                        code: summary.code,
                    }
                })
                .collect();
            rooms.sort_by(|a, b| b.age_secs.cmp(&a.age_secs).then(a.code.cmp(&b.code)));
            Ok(Answer::Rooms { rooms })
        }
        Request::Connections => Ok(Answer::Connections {
            connections: state.sessions().connections(now),
        }),
        Request::Close { room } => {
            let handle = state
                .room_handle(&room)
                .ok_or_else(|| format!("no open room has the code {room:?}"))?;
            let connections = state
                .sessions()
                .room_stats(now)
                .get(&handle.code)
                .map_or(0, |&(n, _)| n);
            if !handle.send(crate::room::Mail::Close).await {
                return Err(format!("the room {} has closed already", handle.code));
            }
            info!(room = %handle.code, connections, "room closed by the operator");
            Ok(Answer::Closed {
                room: handle.code,
                connections,
            })
        }
        Request::Block {
            target,
            seconds,
            reason,
        } => {
            let net: Net = target.parse()?;
            state
                .blocklist()
                .block(net, Duration::from_secs(seconds), reason.clone(), now)?;
            let closed_connections = state.sessions().close_from(net);
            info!(%net, seconds, reason, closed_connections, "address blocked by the operator");
            Ok(Answer::Blocked {
                target: net.to_string(),
                seconds,
                closed_connections,
            })
        }
        Request::Unblock { target } => {
            let net: Net = target.parse()?;
            if !state.blocklist().unblock(net, now) {
                return Err(format!(
                    "{net} is not blocked (`perudo admin blocks` lists the blocks)"
                ));
            }
            info!(%net, "block lifted by the operator");
            Ok(Answer::Unblocked {
                target: net.to_string(),
            })
        }
        Request::Blocks => Ok(Answer::Blocks {
            blocks: state
                .blocklist()
                .list(now)
                .into_iter()
                .map(|b| BlockRow {
                    target: b.net.to_string(),
                    remaining_secs: b.remaining.as_secs(),
                    reason: b.reason,
                })
                .collect(),
        }),
    }
}

/// Sends `request` to the server at the admin socket `path` and returns its answer, or why
/// not (no server there, no permission, the server's error).
pub async fn request(path: &Path, request: &Request) -> Result<Answer, String> {
    let exchange = async {
        let stream = UnixStream::connect(path).await.map_err(|e| {
            let hint = match e.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                    " (is perudo serve running with this database or --admin-socket?)"
                }
                io::ErrorKind::PermissionDenied => {
                    " (run perudo admin as the server's user, e.g. sudo -u perudo)"
                }
                _ => "",
            };
            format!(
                "cannot reach the admin socket {}: {e}{hint}",
                path.display()
            )
        })?;
        let (read, mut write) = stream.into_split();
        let mut text = serde_json::to_string(request).map_err(|e| e.to_string())?;
        text.push('\n');
        write
            .write_all(text.as_bytes())
            .await
            .map_err(|e| format!("cannot send the request: {e}"))?;
        let mut line = String::new();
        BufReader::new(read)
            .read_line(&mut line)
            .await
            .map_err(|e| format!("cannot read the answer: {e}"))?;
        match serde_json::from_str::<Reply>(line.trim()) {
            Ok(Reply::Ok(answer)) => Ok(answer),
            Ok(Reply::Error(why)) => Err(why),
            Err(e) => Err(format!(
                "the server's answer is not understood ({e}): {line}"
            )),
        }
    };
    tokio::time::timeout(REPLY_TIMEOUT, exchange)
        .await
        .map_err(|_| "the server did not answer within 30 seconds".to_string())?
}

/// A duration as the operator types it: `90` or `90s`, `15m`, `12h`, `7d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 90s, 15m, 12h, 7d)"))?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// `1h02m`, `5m10s`, `42s`: a number of seconds for people.
pub fn human_secs(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// The answer as text for a terminal.
pub fn render(answer: &Answer) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    match answer {
        Answer::Rooms { rooms } => {
            writeln!(
                out,
                "{:<10} {:<9} {:>5} {:>10} {:>11} {:>7}",
                "ROOM", "PHASE", "SEATS", "SPECTATORS", "CONNECTIONS", "AGE"
            )
            .expect("write to a string");
            for r in rooms {
                writeln!(
                    out,
                    "{:<10} {:<9} {:>5} {:>10} {:>11} {:>7}",
                    r.code,
                    r.phase,
                    format!("{}/{}", r.seats, r.max_seats),
                    r.spectators,
                    r.connections,
                    human_secs(r.age_secs)
                )
                .expect("write to a string");
            }
            write!(out, "{} rooms", rooms.len()).expect("write to a string");
        }
        Answer::Connections { connections } => {
            writeln!(
                out,
                "{:<8} {:<40} {:<10} {:>7}",
                "CONN", "IP", "ROOM", "AGE"
            )
            .expect("write to a string");
            for c in connections {
                writeln!(
                    out,
                    "{:<8} {:<40} {:<10} {:>7}",
                    c.conn,
                    c.ip.to_string(),
                    c.room,
                    human_secs(c.age_secs)
                )
                .expect("write to a string");
            }
            write!(out, "{} connections", connections.len()).expect("write to a string");
        }
        Answer::Closed { room, connections } => {
            write!(out, "closed room {room}; {connections} connections told").expect("write")
        }
        Answer::Blocked {
            target,
            seconds,
            closed_connections,
        } => write!(
            out,
            "blocked {target} for {}; {closed_connections} open connections closed",
            human_secs(*seconds)
        )
        .expect("write to a string"),
        Answer::Unblocked { target } => write!(out, "unblocked {target}").expect("write"),
        Answer::Blocks { blocks } => {
            writeln!(out, "{:<44} {:>9}  REASON", "BLOCKED", "REMAINING")
                .expect("write to a string");
            for b in blocks {
                writeln!(
                    out,
                    "{:<44} {:>9}  {}",
                    b.target,
                    human_secs(b.remaining_secs),
                    b.reason
                )
                .expect("write to a string");
            }
            write!(out, "{} blocks", blocks.len()).expect("write to a string");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_typed() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        for bad in ["", "h", "1w", "1.5h", "-3s", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(human_secs(42), "42s");
        assert_eq!(human_secs(310), "5m10s");
        assert_eq!(human_secs(3720), "1h02m");
        assert_eq!(human_secs(90_000), "1d01h");
    }

    #[test]
    fn requests_and_replies_are_json_lines() {
        let request = Request::Block {
            target: "2001:db8::/64".into(),
            seconds: 60,
            reason: "spam".into(),
        };
        let text = serde_json::to_string(&request).expect("encode");
        assert_eq!(
            text,
            r#"{"command":"block","target":"2001:db8::/64","seconds":60,"reason":"spam"}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(&text).expect("decode"),
            request
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"command":"rooms"}"#).expect("decode"),
            Request::Rooms
        );
        let reply = Reply::Error("no".into());
        assert_eq!(
            serde_json::to_string(&reply).expect("encode"),
            r#"{"error":"no"}"#
        );
    }

    #[test]
    fn the_default_socket_is_next_to_the_database() {
        assert_eq!(
            default_socket(Path::new("/var/lib/perudo/perudo.db")),
            Path::new("/var/lib/perudo/perudo.db.admin.sock")
        );
    }
}
