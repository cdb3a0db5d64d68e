//! One actor per room.
//!
//! `Room` owns everything about a room: seats, connections' roles, the game. It is sans-IO:
//! `handle_event` takes one `Input` and the time it happened; `poll_output` then says what to
//! do: first the `Batch` to commit (rooms kept in a store), then the frames to send, as
//! `Transmit`s. The room reads no clock, draws its randomness from its own seeded `RoomRng`,
//! and touches no socket or store. The room's task (`actor.rs`) is the only tokio code: it
//! takes `Mail` and timers, commits, and delivers, so the room logic is tested without a
//! runtime. Nothing else mutates a room.
//!
//! Architecture invariants:
//! - The room never waits on a socket: the task puts frames in bounded outboxes with
//!   `try_send`; a full outbox comes back to the room as `Input::OutboxFull`, and that
//!   connection is dropped (it can reconnect and gets a fresh snapshot).
//! - A connection receives nothing about the game until it has joined a seat or spectates.
//!   Each change of the room reaches every member as exactly one `Update` frame: its events,
//!   encoded once and shared, except for a seat whose own view (hand, legal moves) changed
//!   or whose request made the change (its answer rides in the frame).
//! - Every request gets exactly one answer, in its update or as `Ack` or `Rejected`, after
//!   the updates it caused, so the answer's version is the version the client has then seen.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use perudo_core::{
    Action, Bot, BotLevel, Call, Event, Game, LegalMoves, Rules, Seat, Seed, TableView,
};
use perudo_protocol::{
    AutoPlayReason, ClientMessage, CloseReason, Emote, GameResults, Occupant, PlayerName,
    RejectCode, RejectDetail, Request, RequestId, RoomCode, RoomEvent, RoomOptions, RoomPhase,
    RoomVersion, RoomView, SUPPORTED_VERSIONS, SeatInfo, SeatStats, ServerMessage, Snapshot,
    TurnClock, Update, YouView,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

mod actor;
mod deadlines;
mod durable;
mod flow;
mod history;
mod members;
mod requests;
mod seats;
mod views;

pub use actor::RoomHandle;
use deadlines::TurnDeadline;
pub use durable::RestoreError;
use flow::{Phase, Play};
pub use history::HISTORY_CAPACITY;
use history::History;
use members::{Conn, Role};
use requests::Rejection;
use seats::{SeatKind, SeatSlot, Seats};
use views::LastBroadcast;

use crate::ids::{self, RoomRng, TokenHash};
use crate::metrics;
use crate::store::{
    self, Batch, ClockImage, GameImage, GameStart, LobbyImage, RoomImage, SeatImage, SeatImageKind,
    StorageError, Store, Write,
};

pub use crate::transport::{Frame, Outbox};

/// Identifies a connection within the server.
pub type ConnId = u64;

/// Capacity of a room's inbox.
pub const ROOM_INBOX_CAPACITY: usize = 256;

/// Emotes a player may send within `EMOTE_WINDOW`.
pub const EMOTE_BURST: usize = 3;
pub const EMOTE_WINDOW: Duration = Duration::from_secs(5);

/// WebSocket close codes the room uses.
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const SERVICE_RESTART: u16 = 1012;
}

/// Settings every room of a server shares.
#[derive(Clone, Debug)]
pub struct RoomSettings {
    /// How long a reveal stays on show before the next round starts.
    pub reveal_pause: Duration,
    /// How long a bot "thinks" before it acts, so people can follow.
    pub bot_delay: Duration,
    pub max_spectators: u32,
    /// A room with nobody connected closes after this long.
    pub idle_close: Duration,
    /// A room where no game has started yet closes after this long with nobody connected
    /// (rooms created and never played cost storage and a place under `max_rooms`).
    pub unplayed_close: Duration,
    /// How long a disconnected player on turn (or a disconnected host) is waited for before
    /// the room plays for them (or hands the host role on).
    pub disconnect_grace: Duration,
    /// Base of the share link, e.g. `https://perudo.example.org`.
    pub public_url: String,
    /// After a restart, how long restored rooms wait for their players to reconnect before
    /// any away timer (or a turn limit that ran out while the server was down) applies.
    pub restore_grace: Duration,
}

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            reveal_pause: Duration::from_secs(4),
            bot_delay: Duration::from_millis(800),
            max_spectators: crate::limits::Limits::default().max_spectators,
            idle_close: Duration::from_secs(30 * 60),
            unplayed_close: Duration::from_secs(5 * 60),
            disconnect_grace: Duration::from_secs(5),
            public_url: "http://127.0.0.1:8080".into(),
            restore_grace: Duration::from_secs(20),
        }
    }
}

/// What reaches a room's task from outside, through its `RoomHandle`.
#[derive(Debug)]
pub enum Mail {
    /// A socket for this room opened: frames for it go to `outbox`; `close` is cancelled when
    /// the room drops it.
    Connect {
        conn: ConnId,
        outbox: Outbox,
        close: CancellationToken,
    },
    Message {
        conn: ConnId,
        message: ClientMessage,
    },
    /// The connection refused a frame itself (it did not decode, or it came over the
    /// connection's message rate): the room answers it in its turn (see `Input::Refused`).
    Refused {
        conn: ConnId,
        id: u32,
        code: RejectCode,
        message: String,
    },
    /// The connection closes itself (see `Input::Goodbye`).
    Goodbye {
        conn: ConnId,
        reason: Option<CloseReason>,
        code: u16,
        text: &'static str,
    },
    Disconnect {
        conn: ConnId,
    },
    Summary {
        respond_to: oneshot::Sender<perudo_protocol::http::RoomSummary>,
    },
    /// The operator closes the room (`perudo admin close`): every connection is told
    /// `RoomClosed`, the room ends and is not restored.
    Close,
    /// This node lost the room's lease (its renewal found another node's epoch, or none):
    /// see `Input::Lost`.
    Lost,
}

/// One input of the room's logic (`Room::handle_event`): what happened, without any IO
/// handle in it.
#[derive(Debug)]
pub enum Input {
    /// A socket for this room opened.
    Connect {
        conn: ConnId,
    },
    Message {
        conn: ConnId,
        message: ClientMessage,
    },
    /// The connection refused a frame before it reached the room: it did not decode (`id`
    /// 0), or it came over the connection's message rate (`SlowDown`, with the request's id
    /// when it has one). The room only sends the rejection, in its turn: after the answers
    /// to the requests the connection sent before it, so answers keep the order of requests.
    Refused {
        conn: ConnId,
        id: u32,
        code: RejectCode,
        message: String,
    },
    /// The connection closes itself (it went on flooding, was silent too long, sent a
    /// message too big): the room sends `Closing { reason }` (if any) and the close frame
    /// after the answers to everything it sent before. Its `Disconnect` follows.
    Goodbye {
        conn: ConnId,
        reason: Option<CloseReason>,
        code: u16,
        text: &'static str,
    },
    Disconnect {
        conn: ConnId,
    },
    /// A timer fired (reveal pause over, bot due, idle check).
    Tick,
    /// The operator closes the room: see `Mail::Close`.
    Close,
    /// This node no longer owns the room: it stops here at once, writing nothing, and every
    /// connection is told the server restarts (close code 1012) so that its client reconnects
    /// and reaches the room's new owner.
    Lost,
    /// A connection's outbox was full when a frame was put in it: the connection does not
    /// keep up and is dropped (it can reconnect and gets a fresh snapshot).
    OutboxFull {
        conn: ConnId,
    },
}

/// Something the room's task does for the room, once the input's writes are committed.
#[derive(Debug)]
pub enum Transmit {
    /// A frame for a connection; `kind` is the type of the message in it, for the metrics
    /// (`None`: a close frame).
    Frame {
        conn: ConnId,
        frame: Frame,
        kind: Option<&'static str>,
    },
    /// End the connection, after the frames sent to it before this.
    End { conn: ConnId },
}

/// What the room needs done after an input (`Room::poll_output`), in this order.
#[derive(Debug)]
pub enum Output {
    /// Commit this batch, then report the result with `Room::committed`.
    Commit(Batch),
    /// Send these (the input's writes are committed, or there were none).
    Transmit(Vec<Transmit>),
}

pub use crate::names::MAX_NAME_CHARS;

pub struct Room {
    code: RoomCode,
    settings: RoomSettings,
    rules: Rules,
    options: RoomOptions,
    /// The time of the input being handled (monotonic: timers).
    now: Instant,
    /// The same on the wall clock, in Unix milliseconds (what storage keeps).
    unix_ms: i64,
    /// Everything random in the room: game seeds, seat tokens, bots' seeds.
    rng: RoomRng,
    /// The last `HISTORY_CAPACITY` broadcasts, encoded, for `Resume`.
    history: History,
    /// Plays for humans whose turn timed out or who are away.
    stand_in: Bot,
    version: RoomVersion,
    /// The seats and the host.
    seats: Seats,
    conns: BTreeMap<ConnId, Conn>,
    phase: Phase,
    games_played: u32,
    /// The last game's results, shared with the stored image of the room's lobby, so that
    /// comparing the two on every input is a pointer comparison.
    results: Option<Arc<GameResults>>,
    /// Since when nobody has been connected.
    empty_since: Option<Instant>,
    closed: bool,
    /// A durable room: what its store holds of it (the state a failed write rolls back to).
    /// `None`: the room lives in memory only, and has nothing to commit.
    /// Boxed: a room in memory has none, and the room's task holds the `Room` for as long
    /// as it is open (the image is a third of its size).
    committed: Option<Box<RoomImage>>,
    /// An input was handled since the last commit: its writes are still to be worked out.
    dirty: bool,
    /// A restored room's version jumped past anything it handed out before: store it, so
    /// that the next restart jumps past every version this run hands out.
    version_unsaved: bool,
    /// What the current input sends, held until its writes are committed.
    outgoing: Vec<Transmit>,
    /// The last broadcast of the current input, where the request's answer may ride.
    last_broadcast: Option<LastBroadcast>,
    /// The spectator count as of the last update (what snapshots show with its version).
    spectators_shown: u32,
    /// The request being handled: it gets the storage error if its writes fail.
    request: Option<(ConnId, u32)>,
    /// After a restart: until when away players are waited for.
    grace_until: Option<Instant>,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("code", &self.code)
            .field("version", &self.version)
            .field("seats", &self.seats.len())
            .field("conns", &self.conns.len())
            .finish_non_exhaustive()
    }
}

/// Who opens a room: the first seat's player, by name and the hash of their seat token.
#[derive(Clone, Debug)]
pub struct Host {
    pub name: PlayerName,
    pub token_hash: TokenHash,
}

/// When an input is handled: the monotonic clock for timers, the wall clock for what is
/// stored. The room reads neither clock itself; the actor (or a test) says what time it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    pub at: Instant,
    pub unix_ms: i64,
}

impl Room {
    /// A room in its lobby with the host in seat 0 (claimed with the token behind `token_hash`).
    pub fn new(
        code: RoomCode,
        settings: RoomSettings,
        rules: Rules,
        options: RoomOptions,
        host: Host,
        now: Now,
        mut rng: RoomRng,
    ) -> Room {
        Room {
            code,
            settings,
            rules,
            options,
            now: now.at,
            unix_ms: now.unix_ms,
            history: History::new(),
            stand_in: Bot::new(BotLevel::Normal, rng.bot_seed()),
            rng,
            version: 0,
            seats: Seats::hosted_by(SeatSlot::human(host.name, host.token_hash, None)),
            conns: BTreeMap::new(),
            phase: Phase::Lobby,
            games_played: 0,
            results: None,
            empty_since: Some(now.at),
            closed: false,
            committed: None,
            dirty: false,
            version_unsaved: false,
            outgoing: Vec::new(),
            last_broadcast: None,
            spectators_shown: 0,
            request: None,
            grace_until: None,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn code(&self) -> &RoomCode {
        &self.code
    }

    pub fn version(&self) -> RoomVersion {
        self.version
    }

    /// The room's whole logic: one input at a time, no awaiting.
    pub fn handle_event(&mut self, input: Input, now: Now) {
        self.now = now.at;
        self.unix_ms = now.unix_ms;
        self.dirty = true;
        self.last_broadcast = None;
        let now = now.at;
        match input {
            Input::Connect { conn } => {
                debug!(conn, "connected");
                self.conns.insert(
                    conn,
                    Conn {
                        greeted: false,
                        role: Role::Outsider,
                        last_you: None,
                    },
                );
                self.empty_since = None;
            }
            Input::Message { conn, message } => {
                if !self.conns.contains_key(&conn) {
                    return;
                }
                let id = message.id;
                self.request = Some((conn, id));
                let answer = match self.handle_request(conn, message.request, now) {
                    // The answer rides in the update the request sent this connection.
                    Ok(()) if self.ack_in_update(conn, id) => None,
                    Ok(()) => Some(ServerMessage::Ack {
                        id,
                        version: self.version,
                    }),
                    Err(rejection) => {
                        metrics::rejected(rejection.code);
                        Some(ServerMessage::Rejected {
                            id,
                            code: rejection.code,
                            message: rejection.message,
                            detail: rejection.detail,
                        })
                    }
                };
                if let Some(answer) = answer {
                    self.send_to(conn, &answer);
                }
            }
            Input::Refused {
                conn,
                id,
                code,
                message,
            } => self.send_to(conn, &code.reject(id, message)),
            Input::Goodbye {
                conn,
                reason,
                code,
                text,
            } => {
                if let Some(reason) = reason {
                    self.send_to(conn, &ServerMessage::Closing { reason });
                }
                self.push(conn, Frame::Close { code, reason: text }, None);
            }
            Input::Disconnect { conn } => self.on_disconnect(conn, now),
            Input::OutboxFull { conn } => self.on_outbox_full(conn, now),
            Input::Tick => self.tick(now),
            Input::Lost => self.fenced(),
            Input::Close => {
                info!("closing: by the operator");
                // Each connection gets the reason and a close frame, then is ended: a client
                // that does not answer the close frame keeps no socket to a room that is gone.
                let conns: Vec<ConnId> = self.conns.keys().copied().collect();
                for conn in conns {
                    self.close_conn(
                        conn,
                        CloseReason::RoomClosed,
                        close_code::GOING_AWAY,
                        "room closed",
                    );
                }
                self.closed = true;
            }
        }
    }
}

#[cfg(test)]
mod tests;
