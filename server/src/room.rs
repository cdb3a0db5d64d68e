//! One actor per room.
//!
//! `Room` owns everything about a room: seats, connections' outboxes, the game. The run loop
//! (`Room::run`) waits for the next input or timer and hands it to the synchronous
//! `handle_event`, so the room logic is tested without a runtime. Nothing else mutates a room.
//!
//! Architecture invariants:
//! - The room never waits on a socket: outboxes are bounded and filled with `try_send`; a
//!   connection whose outbox is full is dropped (it can reconnect and gets a fresh snapshot).
//! - A connection receives nothing about the game until it has joined a seat or spectates.
//!   Public broadcasts are encoded once and shared; the only per-seat frames are that seat's
//!   `Private` view (its own hand and legal moves) and its `Snapshot`.
//! - Every request gets exactly one answer, `Ack` or `Rejected`, after the broadcasts it
//!   caused, so the ack's version is the version the client has then seen.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use perudo_core::{
    Action, Bot, BotLevel, Call, Event, Game, GameConfig, LegalMoves, Seat, Seed, TableView,
};
use perudo_protocol::{
    AutoPlayReason, ClientMessage, CloseReason, Emote, GameResults, Occupant, Private, RejectCode,
    RejectDetail, Request, RoomEvent, RoomOptions, RoomPhase, RoomVersion, RoomView,
    SUPPORTED_VERSIONS, SeatInfo, SeatStats, ServerMessage, Snapshot, TurnClock, Update, YouView,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::ids::{self, TokenHash};
use crate::metrics;
use crate::store::{
    self, Batch, ClockImage, GameImage, GameStart, LobbyImage, RoomImage, SeatImage, SeatImageKind,
    StorageError, Store, Write,
};

/// Frames a room sends to a connection's writer.
#[derive(Clone, Debug)]
pub enum Frame {
    Data(Bytes),
    /// Send a close frame with this code and reason, then stop.
    Close {
        code: u16,
        reason: &'static str,
    },
}

/// A connection's bounded outbox.
pub type Outbox = mpsc::Sender<Frame>;

/// Identifies a connection within the server.
pub type ConnId = u64;

/// Capacity of a room's inbox.
pub const ROOM_INBOX_CAPACITY: usize = 256;

/// Broadcasts a room keeps for clients that resume after a drop.
pub const HISTORY_CAPACITY: usize = 64;

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
            max_spectators: 50,
            idle_close: Duration::from_secs(30 * 60),
            disconnect_grace: Duration::from_secs(5),
            public_url: "http://127.0.0.1:8080".into(),
            restore_grace: Duration::from_secs(20),
        }
    }
}

/// What reaches a room.
#[derive(Debug)]
pub enum Input {
    /// A socket for this room opened. `close` is cancelled when the room drops it.
    Connect {
        conn: ConnId,
        outbox: Outbox,
        close: CancellationToken,
    },
    Message {
        conn: ConnId,
        message: ClientMessage,
    },
    Disconnect {
        conn: ConnId,
    },
    Summary {
        respond_to: oneshot::Sender<perudo_protocol::http::RoomSummary>,
    },
    /// A timer fired (reveal pause over, bot due, idle check).
    Tick,
}

/// The cloneable handle everyone else holds.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    pub code: String,
    tx: mpsc::Sender<Input>,
}

impl RoomHandle {
    /// Sends an input, waiting for inbox space. `false` if the room has closed.
    pub async fn send(&self, input: Input) -> bool {
        self.tx.send(input).await.is_ok()
    }

    pub async fn summary(&self) -> Option<perudo_protocol::http::RoomSummary> {
        let (respond_to, rx) = oneshot::channel();
        if !self.send(Input::Summary { respond_to }).await {
            return None;
        }
        rx.await.ok()
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

#[derive(Debug)]
enum SeatKind {
    Human {
        token_hash: TokenHash,
        conn: Option<ConnId>,
        /// Left the room for good (forfeited); the seat stays for the game's record.
        left: bool,
        /// Since when the player has been disconnected.
        away_since: Option<Instant>,
    },
    Bot {
        level: BotLevel,
        bot: Box<Bot>,
    },
}

#[derive(Debug)]
struct SeatSlot {
    name: String,
    kind: SeatKind,
    /// When this seat's recent emotes were sent, oldest first.
    emotes: VecDeque<Instant>,
}

impl SeatSlot {
    fn is_connected_human(&self) -> bool {
        matches!(self.kind, SeatKind::Human { conn: Some(_), .. })
    }
}

/// What happens when a seated human has been away long enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AwayTimer {
    HandOverHost(usize),
    Forfeit(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Said hello (or not yet) but neither seated nor watching: receives nothing.
    Outsider,
    Seat(usize),
    Spectator,
}

#[derive(Debug)]
struct Conn {
    outbox: Outbox,
    close: CancellationToken,
    greeted: bool,
    role: Role,
    /// The last `YouView` sent, so a `Private` goes out only when it changed.
    last_you: Option<YouView>,
}

#[derive(Debug)]
struct Pause {
    until: Instant,
    /// Events held back until the pause ends (the next `RoundStarted`).
    deferred: Vec<Event>,
}

/// A game in a room, running or finished.
#[derive(Debug)]
struct Play {
    game: Game,
    /// How the game began (its seed among it): what storage replays it from.
    start: GameStart,
    number: u32,
    stats: Vec<SeatStats>,
    /// Seats in the order they went out.
    out_order: Vec<Seat>,
    rounds: u32,
    pause: Option<Pause>,
    bot_at: Option<Instant>,
    /// When the room plays for the human on turn, and why. Reset by every move.
    turn_deadline: Option<TurnDeadline>,
}

/// The running turn's deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TurnDeadline {
    seat: Seat,
    at: Instant,
    reason: AutoPlayReason,
    /// Where the turn time limit ends this turn; kept while the player is away, so that
    /// going away and coming back neither costs nor buys time.
    limit_at: Option<Instant>,
}

#[derive(Debug)]
enum Stage {
    Lobby,
    Playing(Box<Play>),
    Finished(Box<Play>),
}

/// A rejection: code and message (and detail) for the one answer a request gets.
#[derive(Debug)]
struct Rejection {
    code: RejectCode,
    message: String,
    detail: Option<RejectDetail>,
}

impl Rejection {
    fn new(code: RejectCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
            detail: None,
        }
    }
}

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 24;

/// Trims and checks a display name: 1..=24 characters, no control characters.
pub fn validate_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("name must not be empty".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("name must be at most {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("name must not contain control characters".into());
    }
    Ok(name.to_string())
}

pub struct Room {
    code: String,
    settings: RoomSettings,
    rules: GameConfig,
    options: RoomOptions,
    /// The time of the input being handled.
    now: Instant,
    /// The last `HISTORY_CAPACITY` broadcasts, encoded, for `Resume`.
    history: VecDeque<(RoomVersion, Bytes)>,
    /// Plays for humans whose turn timed out or who are away.
    stand_in: Bot,
    version: RoomVersion,
    seats: Vec<SeatSlot>,
    host: Option<usize>,
    conns: BTreeMap<ConnId, Conn>,
    stage: Stage,
    games_played: u32,
    results: Option<GameResults>,
    /// Seats (and their token hashes) whose connection was dropped for not keeping up,
    /// announced at the end of the current input.
    lost: Vec<(usize, TokenHash)>,
    /// Since when nobody has been connected.
    empty_since: Option<Instant>,
    closed: bool,
    /// Where the room is kept; `None`: in memory only.
    store: Option<Arc<dyn Store>>,
    /// With a store: what it holds of this room (the state a failed write rolls back to).
    committed: Option<RoomImage>,
    /// With a store: what the current input sends, held until its writes are committed.
    outgoing: Vec<Out>,
    /// The request being handled: it gets the storage error if its writes fail.
    request: Option<(ConnId, u32)>,
    /// After a restart: until when away players are waited for.
    grace_until: Option<Instant>,
}

/// Something the room does to a connection once the input's writes are committed.
#[derive(Debug)]
enum Out {
    /// A frame, and the type of the message in it for the metrics (`None`: a close frame).
    Frame(ConnId, Outbox, Frame, Option<&'static str>),
    /// Stop the connection (after the frames queued before this).
    Cancel(CancellationToken),
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

impl Room {
    /// A room in its lobby with the host in seat 0 (claimed with the token behind `token_hash`).
    pub fn new(
        code: String,
        settings: RoomSettings,
        rules: GameConfig,
        options: RoomOptions,
        host_name: String,
        token_hash: TokenHash,
        now: Instant,
    ) -> Room {
        Room {
            code,
            settings,
            rules,
            options,
            now,
            history: VecDeque::with_capacity(HISTORY_CAPACITY),
            stand_in: Bot::new(BotLevel::Normal, ids::new_bot_seed()),
            version: 0,
            seats: vec![SeatSlot {
                name: host_name,
                kind: SeatKind::Human {
                    token_hash,
                    conn: None,
                    left: false,
                    away_since: None,
                },
                emotes: VecDeque::new(),
            }],
            host: Some(0),
            conns: BTreeMap::new(),
            stage: Stage::Lobby,
            games_played: 0,
            results: None,
            lost: Vec::new(),
            empty_since: Some(now),
            closed: false,
            store: None,
            committed: None,
            outgoing: Vec::new(),
            request: None,
            grace_until: None,
        }
    }

    /// Keeps this new room in `store`: returns the batch that creates it there, which must be
    /// committed before anyone hears of the room.
    pub fn with_store(&mut self, store: Arc<dyn Store>) -> Batch {
        self.store = Some(store);
        let lobby = self.lobby_image();
        self.committed = Some(RoomImage {
            code: self.code.clone(),
            version: self.version,
            lobby: lobby.clone(),
            game: None,
            clock: None,
        });
        Batch {
            code: self.code.clone(),
            version: self.version,
            writes: vec![Write::CreateRoom(lobby)],
        }
    }

    /// Rebuilds a room from what storage holds. Nobody is connected; with `grace_until`,
    /// away timers and turn limits wait at least until then for players to come back.
    pub fn restore(
        image: RoomImage,
        settings: RoomSettings,
        store: Option<Arc<dyn Store>>,
        now: Instant,
        grace_until: Option<Instant>,
    ) -> Result<Room, String> {
        let lobby = &image.lobby;
        let seats = lobby
            .seats
            .iter()
            .map(|seat| SeatSlot {
                name: seat.name.clone(),
                kind: match seat.kind {
                    SeatImageKind::Human { token_hash, left } => SeatKind::Human {
                        token_hash,
                        conn: None,
                        left,
                        away_since: Some(now),
                    },
                    SeatImageKind::Bot { level } => SeatKind::Bot {
                        level,
                        bot: Box::new(Bot::new(level, ids::new_bot_seed())),
                    },
                },
                emotes: VecDeque::new(),
            })
            .collect();
        let stage = match &image.game {
            None => Stage::Lobby,
            Some(game) => {
                let play = Self::replay_play(game, image.clock, now, grace_until)?;
                if play.game.is_over() {
                    Stage::Finished(play)
                } else {
                    Stage::Playing(play)
                }
            }
        };
        // Clients hold versions of the room before the restart, perhaps a few past the last
        // write: jump well past them so that any `Resume` gets a snapshot.
        let version = image.version + (1 << 32);
        let mut room = Room {
            code: image.code.clone(),
            settings,
            rules: lobby.rules.clone(),
            options: lobby.options,
            now,
            history: VecDeque::with_capacity(HISTORY_CAPACITY),
            stand_in: Bot::new(BotLevel::Normal, ids::new_bot_seed()),
            version,
            seats,
            host: lobby.host.map(usize::from),
            conns: BTreeMap::new(),
            stage,
            games_played: lobby.games_played,
            results: lobby.results.clone(),
            lost: Vec::new(),
            empty_since: Some(now),
            closed: false,
            committed: store.is_some().then(|| image.clone()),
            store,
            outgoing: Vec::new(),
            request: None,
            grace_until,
        };
        room.schedule_bot(now);
        room.update_clock();
        Ok(room)
    }

    /// Replays a stored game: the engine's state and the room's statistics of it.
    fn replay_play(
        image: &GameImage,
        clock: Option<ClockImage>,
        now: Instant,
        grace_until: Option<Instant>,
    ) -> Result<Box<Play>, String> {
        let start = &image.start;
        let seed = Seed::from_hex(&start.seed).ok_or("the stored seed is not 64 hex digits")?;
        let seats = u8::try_from(start.names.len()).map_err(|_| "too many seats")?;
        let (game, events) = perudo_core::replay(start.config.clone(), seats, seed, &image.moves)
            .map_err(|e| format!("game {} does not replay: {e}", start.number))?;
        let mut play = Box::new(Play {
            game,
            start: start.clone(),
            number: start.number,
            stats: vec![SeatStats::default(); usize::from(seats)],
            out_order: Vec::new(),
            rounds: 0,
            pause: None,
            bot_at: None,
            turn_deadline: None,
        });
        Self::record_stats(&mut play, &events);
        // The turn limit resumes with the time that was left; one that ran out while the
        // server was down gets a fresh grace instead of an instant auto-play.
        if let Some(clock) = clock
            && play.game.turn().map(Seat::get) == Some(clock.seat)
            && let Some(seat) = Seat::new(clock.seat)
        {
            let left = clock.limit_at_ms - store::unix_ms();
            let at = match u64::try_from(left) {
                Ok(ms) if ms > 0 => now + Duration::from_millis(ms),
                _ => grace_until.unwrap_or(now),
            };
            let at = grace_until.map_or(at, |grace| at.max(grace));
            play.turn_deadline = Some(TurnDeadline {
                seat,
                at,
                reason: AutoPlayReason::TimeLimit,
                limit_at: Some(at),
            });
        }
        Ok(play)
    }

    /// The room's durable state between games.
    fn lobby_image(&self) -> LobbyImage {
        LobbyImage {
            rules: self.rules.clone(),
            options: self.options,
            seats: self
                .seats
                .iter()
                .map(|slot| SeatImage {
                    name: slot.name.clone(),
                    kind: match &slot.kind {
                        SeatKind::Human {
                            token_hash, left, ..
                        } => SeatImageKind::Human {
                            token_hash: *token_hash,
                            left: *left,
                        },
                        SeatKind::Bot { level, .. } => SeatImageKind::Bot { level: *level },
                    },
                })
                .collect(),
            host: self.host.map(|h| h as u8),
            games_played: self.games_played,
            results: self.results.clone(),
        }
    }

    /// Whether `image` is what `lobby_image` would build now, without building it.
    fn lobby_matches(&self, image: &LobbyImage) -> bool {
        self.rules == image.rules
            && self.options == image.options
            && self.host.map(|h| h as u8) == image.host
            && self.games_played == image.games_played
            && self.results == image.results
            && self.seats.len() == image.seats.len()
            && self.seats.iter().zip(&image.seats).all(|(slot, seat)| {
                slot.name == seat.name
                    && match (&slot.kind, &seat.kind) {
                        (
                            SeatKind::Human {
                                token_hash, left, ..
                            },
                            SeatImageKind::Human {
                                token_hash: stored,
                                left: stored_left,
                            },
                        ) => token_hash == stored && left == stored_left,
                        (SeatKind::Bot { level, .. }, SeatImageKind::Bot { level: stored }) => {
                            level == stored
                        }
                        (SeatKind::Human { .. }, SeatImageKind::Bot { .. })
                        | (SeatKind::Bot { .. }, SeatImageKind::Human { .. }) => false,
                    }
            })
    }

    /// The running turn's limit on the wall clock.
    fn clock_image(&self) -> Option<ClockImage> {
        let Stage::Playing(play) = &self.stage else {
            return None;
        };
        let deadline = play.turn_deadline?;
        let limit_at = deadline.limit_at?;
        let left = limit_at.saturating_duration_since(self.now).as_millis() as i64;
        Some(ClockImage {
            seat: deadline.seat.get(),
            limit_at_ms: store::unix_ms() + left,
        })
    }

    /// What the current input changed in the room's durable state, as writes.
    fn journal(&self) -> Vec<Write> {
        let Some(committed) = &self.committed else {
            return Vec::new();
        };
        let mut writes = Vec::new();
        // Compared in place: most inputs (moves, reconnects) leave the lobby as it was, and
        // the room should not build and drop an image of it each time.
        if self.lobby_matches(&committed.lobby) {
            debug_assert_eq!(
                self.lobby_image(),
                committed.lobby,
                "lobby_matches is exact"
            );
        } else {
            writes.push(Write::Lobby(self.lobby_image()));
        }
        if let Some(play) = self.play() {
            let history = play.game.history();
            let stored = match &committed.game {
                Some(game) if game.start.number == play.number => Some(game),
                Some(_) | None => None,
            };
            if stored.is_none() {
                writes.push(Write::GameStarted(play.start.clone()));
            }
            let done = stored.map_or(0, |game| game.moves.len());
            if history.len() > done {
                writes.push(Write::Moves {
                    number: play.number,
                    first_seq: done as u32,
                    moves: history[done..].to_vec(),
                });
            }
            if play.game.is_over()
                && stored.is_none_or(|game| game.results.is_none())
                && let Some(results) = &self.results
            {
                writes.push(Write::GameOver {
                    number: play.number,
                    results: results.clone(),
                });
            }
        }
        let clock = self.clock_image();
        // The wall-clock time of an unchanged deadline drifts by a millisecond or so.
        let same_clock = match (clock, committed.clock) {
            (Some(a), Some(b)) => a.seat == b.seat && (a.limit_at_ms - b.limit_at_ms).abs() < 1000,
            (a, b) => a == b,
        };
        if !same_clock {
            writes.push(Write::Clock(clock));
        }
        writes
    }

    /// Spawns the room's task on `tracker` and returns its handle. `on_close` runs when the
    /// room's task ends (the registry forgets it).
    pub fn spawn(
        self,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: CancellationToken,
        on_close: impl FnOnce() + Send + 'static,
    ) -> RoomHandle {
        let (tx, rx) = mpsc::channel(ROOM_INBOX_CAPACITY);
        let handle = RoomHandle {
            code: self.code.clone(),
            tx,
        };
        let span = tracing::info_span!("room", room = %self.code);
        tracker.spawn(tracing::Instrument::instrument(
            async move {
                self.run(rx, shutdown).await;
                on_close();
            },
            span,
        ));
        handle
    }

    async fn run(mut self, mut inbox: mpsc::Receiver<Input>, shutdown: CancellationToken) {
        info!("room open");
        // A restored room's version jumped: store it, so that the next restart jumps past
        // every version this run hands out.
        if let (Some(store), Some(committed)) = (self.store.clone(), &self.committed)
            && committed.version != self.version
        {
            let batch = Batch {
                code: self.code.clone(),
                version: self.version,
                writes: Vec::new(),
            };
            match store::commit(&*store, batch).await {
                Ok(()) => {
                    if let Some(committed) = &mut self.committed {
                        committed.version = self.version;
                    }
                }
                Err(error) => warn!(%error, "could not store the restored room's version"),
            }
        }
        // What the rooms-by-phase gauge counts this room as: changes only, no scans.
        let mut phase = Some(self.phase());
        metrics::room_phase(None, phase);
        while !self.closed {
            let deadline = self.next_deadline();
            let input = tokio::select! {
                // Shutdown first: connections see the same token and report their
                // disconnects, and a room that took those first would forget the sockets
                // before telling them it is a restart.
                biased;
                () = shutdown.cancelled() => {
                    self.close_all(CloseReason::ServerRestart, close_code::SERVICE_RESTART);
                    self.flush();
                    break;
                }
                input = inbox.recv() => match input {
                    Some(input) => input,
                    None => break,
                },
                () = async {
                    match deadline {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => Input::Tick,
            };
            // An `Act` is timed from here until its answer and broadcast are queued.
            let act_started = matches!(
                &input,
                Input::Message { message, .. } if matches!(message.request, Request::Act { .. })
            )
            .then(std::time::Instant::now);
            self.handle_event(input, Instant::now());
            self.persist().await;
            if let Some(started) = act_started {
                metrics::action_latency(started.elapsed());
            }
            let now_phase = self.phase();
            metrics::room_phase(phase, Some(now_phase));
            phase = Some(now_phase);
        }
        metrics::room_phase(phase, None);
        if self.closed
            && let Some(store) = self.store.clone()
        {
            // Closed for good (nobody came back): not restored after a restart.
            let batch = Batch {
                code: self.code.clone(),
                version: self.version,
                writes: vec![Write::Closed],
            };
            if let Err(error) = store::commit(&*store, batch).await {
                warn!(%error, "could not mark the room closed");
            }
        }
        info!("room closed");
    }

    /// With a store: commits what the last input changed, then sends what it caused; if the
    /// commit fails, rolls the room back to what storage holds instead.
    pub async fn persist(&mut self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let writes = self.journal();
        if !writes.is_empty() {
            let batch = Batch {
                code: self.code.clone(),
                version: self.version,
                writes,
            };
            match store::commit(&*store, batch.clone()).await {
                Ok(()) => {
                    if let Some(committed) = &mut self.committed {
                        committed.version = batch.version;
                        for write in batch.writes {
                            committed.apply(write);
                        }
                    }
                }
                Err(error) => self.roll_back(&error),
            }
        }
        self.request = None;
        self.flush();
    }

    /// Sends what the room held back while its writes were committed.
    pub fn flush(&mut self) {
        loop {
            let outgoing = std::mem::take(&mut self.outgoing);
            if outgoing.is_empty() {
                break;
            }
            for out in outgoing {
                match out {
                    Out::Frame(conn, outbox, frame, kind) => {
                        self.deliver(conn, &outbox, frame, kind);
                    }
                    Out::Cancel(close) => close.cancel(),
                }
            }
            self.announce_lost();
        }
    }

    /// A failed write: the input's changes are undone by rebuilding the room from what
    /// storage holds; the connections stay (in the same seats, found by token), the request
    /// gets a `Storage` rejection, and every member a fresh snapshot.
    fn roll_back(&mut self, error: &StorageError) {
        warn!(%error, "storage failed: rolling the room back");
        // Frames are dropped (they describe what did not happen); closes still happen, as
        // those connections were already detached.
        for out in std::mem::take(&mut self.outgoing) {
            if let Out::Cancel(close) = out {
                close.cancel();
            }
        }
        let Some(image) = self.committed.clone() else {
            return;
        };
        let now = self.now;
        let mut fresh =
            match Room::restore(image, self.settings.clone(), self.store.clone(), now, None) {
                Ok(room) => room,
                Err(why) => {
                    // Cannot happen for an image this room committed; close rather than guess.
                    warn!(why, "cannot rebuild the room from storage: closing it");
                    self.close_all(CloseReason::ServerRestart, close_code::SERVICE_RESTART);
                    self.closed = true;
                    return;
                }
            };
        fresh.version = self.version + 1;
        fresh.history.clear();
        fresh.empty_since = self.empty_since;
        fresh.grace_until = self.grace_until;
        // Away times carry over: a rollback must not reset anyone's forfeit clock.
        for (slot, old) in fresh.seats.iter_mut().zip(&self.seats) {
            if let (
                SeatKind::Human {
                    token_hash,
                    away_since,
                    ..
                },
                SeatKind::Human {
                    token_hash: old_hash,
                    away_since: old_since,
                    ..
                },
            ) = (&mut slot.kind, &old.kind)
                && token_hash == old_hash
            {
                *away_since = *old_since;
            }
        }
        // Reattach the connections: a seat by its token (a seat the failed input created
        // is gone, and its connection is an outsider again).
        let conns = std::mem::take(&mut self.conns);
        for (id, mut c) in conns {
            c.last_you = None;
            if let Role::Seat(seat) = c.role {
                let hash = match self.seats.get(seat).map(|s| &s.kind) {
                    Some(SeatKind::Human { token_hash, .. }) => Some(*token_hash),
                    _ => None,
                };
                let found = hash.and_then(|hash| fresh.seat_of_token(hash));
                c.role = match found {
                    Some(j) => {
                        if let SeatKind::Human {
                            conn, away_since, ..
                        } = &mut fresh.seats[j].kind
                        {
                            *conn = Some(id);
                            *away_since = None;
                        }
                        if j != seat {
                            let seat = Seat::new(j as u8).expect("below 10");
                            fresh.push_now(id, &c.outbox, &ServerMessage::Moved { seat });
                        }
                        Role::Seat(j)
                    }
                    None => Role::Outsider,
                };
            }
            fresh.conns.insert(id, c);
        }
        if let Stage::Playing(play) = &mut fresh.stage {
            // A bot or timer whose move failed to save tries again in a moment, not at once.
            let retry = now + self.settings.bot_delay.max(Duration::from_secs(1));
            play.bot_at = play.bot_at.map(|at| at.max(retry));
            if let Some(d) = &mut play.turn_deadline {
                d.at = d.at.max(retry);
            }
        }
        fresh.update_clock();
        let request = self.request.take();
        *self = fresh;
        // Everyone is resynchronised first; the request's one answer comes last.
        let members: Vec<ConnId> = self.members();
        for conn in members {
            self.send_snapshot(conn);
        }
        if let Some((conn, id)) = request {
            metrics::rejected(RejectCode::Storage);
            self.send_to(
                conn,
                &ServerMessage::Rejected {
                    id,
                    code: RejectCode::Storage,
                    message: format!(
                        "the server could not save that ({error}); nothing changed, try again"
                    ),
                    detail: None,
                },
            );
        }
    }

    /// The earliest moment a timer needs the room.
    pub fn next_deadline(&self) -> Option<Instant> {
        let idle = self
            .empty_since
            .map(|since| since + self.settings.idle_close);
        let play = match &self.stage {
            Stage::Playing(play) => match &play.pause {
                Some(pause) => Some(pause.until),
                None => [play.bot_at, play.turn_deadline.map(|d| d.at)]
                    .into_iter()
                    .flatten()
                    .min(),
            },
            Stage::Lobby | Stage::Finished(_) => None,
        };
        let away = self.away_deadlines().map(|(at, _)| at).min();
        [idle, play, away].into_iter().flatten().min()
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn version(&self) -> RoomVersion {
        self.version
    }

    /// The room's whole logic: one input at a time, no awaiting.
    pub fn handle_event(&mut self, input: Input, now: Instant) {
        self.now = now;
        match input {
            Input::Connect {
                conn,
                outbox,
                close,
            } => {
                debug!(conn, "connected");
                self.conns.insert(
                    conn,
                    Conn {
                        outbox,
                        close,
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
                    Ok(()) => ServerMessage::Ack {
                        id,
                        version: self.version,
                    },
                    Err(rejection) => {
                        metrics::rejected(rejection.code);
                        ServerMessage::Rejected {
                            id,
                            code: rejection.code,
                            message: rejection.message,
                            detail: rejection.detail,
                        }
                    }
                };
                self.send_to(conn, &answer);
            }
            Input::Disconnect { conn } => self.drop_conn(conn, now),
            Input::Summary { respond_to } => {
                let _ = respond_to.send(self.summary());
            }
            Input::Tick => self.tick(now),
        }
        if self.store.is_none() {
            self.request = None;
            self.announce_lost();
        }
    }

    fn summary(&self) -> perudo_protocol::http::RoomSummary {
        let view = self.room_view();
        perudo_protocol::http::RoomSummary {
            code: view.code,
            phase: view.phase,
            seats_taken: self.seats.len() as u8,
            max_seats: self.rules.max_players,
            spectators: view.spectators,
            rules: view.rules,
            host: view.host,
            seats: view.seats,
        }
    }

    fn tick(&mut self, now: Instant) {
        if let Some(since) = self.empty_since
            && now >= since + self.settings.idle_close
        {
            info!("closing: nobody connected");
            self.closed = true;
            return;
        }
        let due: Vec<AwayTimer> = self
            .away_deadlines()
            .filter(|(at, _)| *at <= now)
            .map(|(_, timer)| timer)
            .collect();
        for timer in due {
            match timer {
                AwayTimer::HandOverHost(seat) if self.host == Some(seat) => {
                    if let Some(next) = self.next_host(Some(seat))
                        && self.seats[next].is_connected_human()
                    {
                        info!(from = seat, to = next, "host away: handing over");
                        self.host = Some(next);
                        let seat = Seat::new(next as u8).expect("below 10");
                        self.broadcast(
                            vec![RoomEvent::HostChanged { seat: Some(seat) }],
                            true,
                            false,
                        );
                    }
                }
                AwayTimer::HandOverHost(_) => {}
                AwayTimer::Forfeit(seat) => {
                    info!(seat, "away too long: forfeited");
                    self.forfeit_seat(seat, Vec::new(), now);
                }
            }
        }
        let Stage::Playing(play) = &mut self.stage else {
            return;
        };
        if play.pause.is_none()
            && let Some(deadline) = play.turn_deadline
            && now >= deadline.at
        {
            play.turn_deadline = None;
            self.auto_play(deadline.seat, deadline.reason, now);
            return;
        }
        let Stage::Playing(play) = &mut self.stage else {
            return;
        };
        if let Some(pause) = &play.pause {
            if now >= pause.until {
                let pause = play.pause.take().expect("checked above");
                self.end_pause(pause, now);
            }
            return;
        }
        if play.bot_at.is_some_and(|at| now >= at) {
            play.bot_at = None;
            self.play_bot(now);
        }
    }

    /// Timers that run while a seated human is away: handing over the host role after the
    /// grace period, and forfeiting a player still in a running game after the room's time.
    fn away_deadlines(&self) -> impl Iterator<Item = (Instant, AwayTimer)> + '_ {
        let playing = match &self.stage {
            Stage::Playing(play) => Some(play.game.dice_counts()),
            Stage::Lobby | Stage::Finished(_) => None,
        };
        let forfeit_after = Duration::from_secs(u64::from(self.options.forfeit_after_secs));
        self.seats
            .iter()
            .enumerate()
            .filter_map(move |(i, slot)| match slot.kind {
                SeatKind::Human {
                    conn: None,
                    left: false,
                    away_since: Some(since),
                    ..
                } => Some((i, since)),
                SeatKind::Human { .. } | SeatKind::Bot { .. } => None,
            })
            .flat_map(move |(i, since)| {
                // Only while someone connected could take over: otherwise the deadline would
                // stay in the past and wake the room in a loop.
                let successor = self
                    .next_host(Some(i))
                    .is_some_and(|next| self.seats[next].is_connected_human());
                // After a restart everyone is away at first: wait for them a little longer.
                let at_least = |at: Instant| self.grace_until.map_or(at, |g| at.max(g));
                let host = (self.host == Some(i) && successor).then(|| {
                    (
                        at_least(since + self.settings.disconnect_grace),
                        AwayTimer::HandOverHost(i),
                    )
                });
                let forfeit = playing
                    .as_ref()
                    .is_some_and(|dice| dice.get(i).is_some_and(|&d| d > 0))
                    .then(|| (at_least(since + forfeit_after), AwayTimer::Forfeit(i)));
                host.into_iter().chain(forfeit)
            })
    }

    /// Sets the turn deadline for the current turn: the turn time limit for a connected
    /// human, the disconnect grace for an away one, none for bots and between rounds. A
    /// deadline for the same seat and reason is kept, so only moves restart the clock.
    fn update_clock(&mut self) {
        let now = self.now;
        let limit = self.rules.turn_time_limit_secs;
        let grace = self.settings.disconnect_grace;
        let grace_until = self.grace_until;
        let Stage::Playing(play) = &mut self.stage else {
            return;
        };
        let turn = match (play.pause.is_some(), play.game.turn()) {
            (false, Some(turn)) => turn,
            (true, _) | (false, None) => {
                play.turn_deadline = None;
                return;
            }
        };
        let old = play.turn_deadline.filter(|d| d.seat == turn);
        let limit_at = match old {
            Some(d) => d.limit_at,
            None => limit.map(|secs| now + Duration::from_secs(u64::from(secs))),
        };
        play.turn_deadline = match self.seats.get(turn.index()).map(|s| &s.kind) {
            Some(SeatKind::Human { conn: Some(_), .. }) => limit_at.map(|at| TurnDeadline {
                seat: turn,
                at,
                reason: AutoPlayReason::TimeLimit,
                limit_at,
            }),
            Some(SeatKind::Human { conn: None, .. }) => {
                let away_at = match old {
                    Some(d) if d.reason == AutoPlayReason::Away => d.at,
                    Some(_) | None => grace_until.map_or(now + grace, |g| g.max(now + grace)),
                };
                Some(TurnDeadline {
                    seat: turn,
                    at: limit_at.map_or(away_at, |at| at.min(away_at)),
                    reason: AutoPlayReason::Away,
                    limit_at,
                })
            }
            Some(SeatKind::Bot { .. }) | None => None,
        };
    }

    fn clock(&self) -> Option<TurnClock> {
        let Stage::Playing(play) = &self.stage else {
            return None;
        };
        play.turn_deadline.map(|d| TurnClock {
            seat: d.seat,
            remaining_ms: d.at.saturating_duration_since(self.now).as_millis() as u32,
            reason: d.reason,
        })
    }

    /// The room plays the turn of a human who ran out of time or is away.
    fn auto_play(&mut self, seat: Seat, reason: AutoPlayReason, now: Instant) {
        let Stage::Playing(play) = &mut self.stage else {
            return;
        };
        if play.game.turn() != Some(seat) {
            return;
        }
        let Some(action) = self.stand_in.decide(&play.game.view_for(seat)) else {
            return;
        };
        match play.game.apply(seat, action) {
            Ok(events) => {
                info!(seat = seat.get(), ?reason, "auto-played");
                self.after_game_events(
                    events,
                    vec![RoomEvent::AutoPlayed {
                        seat,
                        action,
                        reason,
                    }],
                    false,
                    now,
                );
            }
            Err(error) => warn!(seat = seat.get(), %error, "stand-in chose an illegal move"),
        }
    }

    fn phase(&self) -> RoomPhase {
        match &self.stage {
            Stage::Lobby => RoomPhase::Lobby,
            Stage::Playing(play) if play.pause.is_some() => RoomPhase::Reveal,
            Stage::Playing(_) => RoomPhase::Playing,
            Stage::Finished(_) => RoomPhase::Finished,
        }
    }

    fn spectator_count(&self) -> u32 {
        self.conns
            .values()
            .filter(|c| c.role == Role::Spectator)
            .count() as u32
    }

    fn room_view(&self) -> RoomView {
        RoomView {
            code: self.code.clone(),
            phase: self.phase(),
            host: self.host.and_then(|h| Seat::new(h as u8)),
            seats: self
                .seats
                .iter()
                .map(|slot| SeatInfo {
                    name: slot.name.clone(),
                    occupant: match &slot.kind {
                        SeatKind::Human { conn, .. } => Occupant::Human {
                            connected: conn.is_some(),
                        },
                        SeatKind::Bot { level, .. } => Occupant::Bot { level: *level },
                    },
                })
                .collect(),
            spectators: self.spectator_count(),
            rules: self.rules.clone(),
            options: self.options,
            reveal_pause_ms: self.settings.reveal_pause.as_millis() as u32,
            games_played: self.games_played,
            results: self.results.clone(),
        }
    }

    fn play(&self) -> Option<&Play> {
        match &self.stage {
            Stage::Lobby => None,
            Stage::Playing(play) | Stage::Finished(play) => Some(play),
        }
    }

    fn table_view(&self) -> Option<TableView> {
        self.play().map(|play| play.game.spectator_view())
    }

    /// What `seat` should see of itself now. During a reveal the next round's hand is held
    /// back with the round.
    fn you_view(&self, seat: usize) -> Option<YouView> {
        let play = self.play()?;
        let seat = Seat::new(seat as u8)?;
        if seat.index() >= play.game.seat_count() as usize {
            return None;
        }
        // Only the seat's own part: the public table goes out once, in the broadcast.
        if play.pause.is_some() {
            return Some(YouView {
                seat,
                hand: Default::default(),
                legal: LegalMoves::NONE,
            });
        }
        Some(YouView {
            seat,
            hand: play.game.hand(seat).cloned().unwrap_or_default(),
            legal: play.game.legal_moves(seat),
        })
    }

    fn encode(message: &ServerMessage) -> Bytes {
        Bytes::from(
            message
                .encode()
                .expect("server messages always encode to MessagePack"),
        )
    }

    /// Queues a frame for `conn` (with a store: once the input's writes are committed); a
    /// full outbox drops the connection.
    /// `kind` is the type of the message in the frame (`None`: a close frame).
    fn push(&mut self, conn: ConnId, frame: Frame, kind: Option<&'static str>) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if self.store.is_some() {
            self.outgoing
                .push(Out::Frame(conn, c.outbox.clone(), frame, kind));
            return;
        }
        let outbox = c.outbox.clone();
        self.deliver(conn, &outbox, frame, kind);
    }

    /// Queues a message at once, whatever the store: for a room being rebuilt.
    fn push_now(&mut self, conn: ConnId, outbox: &Outbox, message: &ServerMessage) {
        self.outgoing.push(Out::Frame(
            conn,
            outbox.clone(),
            Frame::Data(Self::encode(message)),
            Some(message.kind()),
        ));
    }

    /// Puts a frame in a connection's outbox; a full outbox drops the connection.
    fn deliver(&mut self, conn: ConnId, outbox: &Outbox, frame: Frame, kind: Option<&'static str>) {
        let role = self.conns.get(&conn).map(|c| c.role);
        let failed = match outbox.try_send(frame) {
            Ok(()) => {
                if let Some(kind) = kind {
                    metrics::message_out(kind);
                }
                false
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!(conn, "outbox full: dropping slow connection");
                metrics::slow_consumer_dropped();
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => true,
        };
        if !failed {
            return;
        }
        let Some(role) = role else {
            // Already detached (closed by the room): nothing more to do.
            return;
        };
        // A player lost this way is announced once the current input is handled: this may
        // run in the middle of a broadcast.
        if let Role::Seat(seat) = role
            && let Some(SeatSlot {
                kind:
                    SeatKind::Human {
                        token_hash,
                        conn: Some(held),
                        ..
                    },
                ..
            }) = self.seats.get(seat)
            && *held == conn
        {
            self.lost.push((seat, *token_hash));
        }
        self.kill_conn(conn);
    }

    /// Tells the room about players whose connections were dropped for not keeping up.
    fn announce_lost(&mut self) {
        while !self.lost.is_empty() {
            let lost = std::mem::take(&mut self.lost);
            let events: Vec<RoomEvent> = lost
                .into_iter()
                .filter(|&(seat, hash)| {
                    // Still that player's seat, still without a connection.
                    matches!(
                        self.seats.get(seat).map(|s| &s.kind),
                        Some(SeatKind::Human { token_hash, conn: None, .. }) if *token_hash == hash
                    )
                })
                .filter_map(|(seat, _)| Seat::new(seat as u8))
                .map(|seat| RoomEvent::Disconnected { seat })
                .collect();
            if !events.is_empty() {
                self.broadcast(events, true, false);
            }
        }
    }

    fn send_to(&mut self, conn: ConnId, message: &ServerMessage) {
        self.push(
            conn,
            Frame::Data(Self::encode(message)),
            Some(message.kind()),
        );
    }

    /// Tells `conn` why it is being closed, closes it, and forgets it. Its seat stays.
    fn close_conn(&mut self, conn: ConnId, reason: CloseReason, code: u16, text: &'static str) {
        self.send_to(conn, &ServerMessage::Closing { reason });
        self.push(conn, Frame::Close { code, reason: text }, None);
        self.kill_conn(conn);
    }

    /// Drops a connection the room can no longer talk to. Its seat stays.
    fn kill_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get(&conn) {
            if self.store.is_some() {
                // After the frames queued for it (a goodbye) have gone out.
                self.outgoing.push(Out::Cancel(c.close.clone()));
            } else {
                c.close.cancel();
            }
        }
        // The reader will report the disconnect; detach now so nothing else is queued.
        self.detach(conn);
    }

    /// Forgets `conn` and frees whatever it held, without any broadcast. A seat it held
    /// waits for its player from now on (the away timers start).
    fn detach(&mut self, conn: ConnId) -> Option<Role> {
        let c = self.conns.remove(&conn)?;
        if let Role::Seat(seat) = c.role
            && let Some(SeatSlot {
                kind:
                    SeatKind::Human {
                        conn: held,
                        away_since,
                        ..
                    },
                ..
            }) = self.seats.get_mut(seat)
            && *held == Some(conn)
        {
            *held = None;
            *away_since = Some(self.now);
        }
        Some(c.role)
    }

    fn drop_conn(&mut self, conn: ConnId, now: Instant) {
        debug!(conn, "disconnected");
        let held = match self.conns.get(&conn).map(|c| c.role) {
            Some(Role::Seat(seat)) => matches!(
                self.seats.get(seat).map(|s| &s.kind),
                Some(SeatKind::Human { conn: Some(c), .. }) if *c == conn
            )
            .then_some(seat),
            Some(Role::Outsider | Role::Spectator) | None => None,
        };
        let role = self.detach(conn);
        if self.conns.is_empty() {
            self.empty_since = Some(now);
        }
        if let Some(seat) = held {
            info!(seat, "player disconnected");
            let seat = Seat::new(seat as u8).expect("below 10");
            self.broadcast(vec![RoomEvent::Disconnected { seat }], true, false);
        } else if matches!(role, Some(Role::Seat(_) | Role::Spectator)) {
            self.broadcast(Vec::new(), true, false);
        }
    }

    fn close_all(&mut self, reason: CloseReason, code: u16) {
        let closing = Self::encode(&ServerMessage::Closing { reason });
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.push(conn, Frame::Data(closing.clone()), Some("Closing"));
            self.push(
                conn,
                Frame::Close {
                    code,
                    reason: "server restart",
                },
                None,
            );
        }
    }

    /// Connections that receive room broadcasts.
    fn members(&self) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.role != Role::Outsider)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Sends one `Update` to every member, encoded once, then each seat's `Private` if it
    /// changed.
    fn broadcast(&mut self, events: Vec<RoomEvent>, room_changed: bool, table_changed: bool) {
        self.broadcast_except(None, events, room_changed, table_changed);
    }

    /// `broadcast`, leaving out one member that will catch up by itself.
    fn broadcast_except(
        &mut self,
        except: Option<ConnId>,
        events: Vec<RoomEvent>,
        room_changed: bool,
        table_changed: bool,
    ) {
        self.update_clock();
        self.version += 1;
        let update = ServerMessage::Update(Update {
            version: self.version,
            events,
            room: room_changed.then(|| self.room_view()),
            table: if table_changed {
                self.table_view()
            } else {
                None
            },
            clock: self.clock(),
        });
        let bytes = Self::encode(&update);
        if self.history.len() == HISTORY_CAPACITY {
            self.history.pop_front();
        }
        self.history.push_back((self.version, bytes.clone()));
        for conn in self.members() {
            if Some(conn) != except {
                self.push(conn, Frame::Data(bytes.clone()), Some("Update"));
            }
        }
        self.send_privates();
    }

    /// Sends each seated connection its own view where it changed.
    fn send_privates(&mut self) {
        let seated: Vec<(ConnId, usize)> = self
            .conns
            .iter()
            .filter_map(|(&id, c)| match c.role {
                Role::Seat(seat) => Some((id, seat)),
                Role::Outsider | Role::Spectator => None,
            })
            .collect();
        for (conn, seat) in seated {
            let you = self.you_view(seat);
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            if you == c.last_you {
                continue;
            }
            c.last_you.clone_from(&you);
            if let Some(you) = you {
                let message = ServerMessage::Private(Private {
                    version: self.version,
                    you,
                });
                self.send_to(conn, &message);
            }
        }
    }

    /// The full state for one connection.
    fn send_snapshot(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let you = match c.role {
            Role::Seat(seat) => self.you_view(seat),
            Role::Outsider | Role::Spectator => None,
        };
        let snapshot = ServerMessage::Snapshot(Snapshot {
            version: self.version,
            room: self.room_view(),
            table: self.table_view(),
            you: you.clone(),
            clock: self.clock(),
        });
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_you = you;
        }
        self.send_to(conn, &snapshot);
    }

    fn role(&self, conn: ConnId) -> Role {
        self.conns.get(&conn).map_or(Role::Outsider, |c| c.role)
    }

    fn require_host(&self, conn: ConnId) -> Result<usize, Rejection> {
        match self.role(conn) {
            Role::Seat(seat) if self.host == Some(seat) => Ok(seat),
            Role::Seat(_) => Err(Rejection::new(
                RejectCode::NotHost,
                "only the host may do that",
            )),
            Role::Outsider | Role::Spectator => {
                Err(Rejection::new(RejectCode::NotSeated, "take a seat first"))
            }
        }
    }

    fn require_between_games(&self) -> Result<(), Rejection> {
        match self.stage {
            Stage::Lobby | Stage::Finished(_) => Ok(()),
            Stage::Playing(_) => Err(Rejection::new(
                RejectCode::WrongPhase,
                "not while a game is running",
            )),
        }
    }

    fn require_outsider(&self, conn: ConnId) -> Result<(), Rejection> {
        match self.role(conn) {
            Role::Outsider => Ok(()),
            Role::Seat(_) | Role::Spectator => Err(Rejection::new(
                RejectCode::AlreadyJoined,
                "this connection already joined the room",
            )),
        }
    }

    fn handle_request(
        &mut self,
        conn: ConnId,
        request: Request,
        now: Instant,
    ) -> Result<(), Rejection> {
        let greeted = self.conns.get(&conn).is_some_and(|c| c.greeted);
        match request {
            Request::Hello { version } => {
                if greeted {
                    return Err(Rejection::new(
                        RejectCode::AlreadyGreeted,
                        "hello was already said on this connection",
                    ));
                }
                if !SUPPORTED_VERSIONS.contains(&version) {
                    return Err(Rejection {
                        code: RejectCode::VersionMismatch,
                        message: format!(
                            "protocol version {version} is not supported; this server speaks {SUPPORTED_VERSIONS:?}"
                        ),
                        detail: Some(RejectDetail::Versions {
                            supported: SUPPORTED_VERSIONS.to_vec(),
                        }),
                    });
                }
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.greeted = true;
                }
                Ok(())
            }
            _ if !greeted => Err(Rejection::new(
                RejectCode::HelloFirst,
                "say hello with the protocol version first",
            )),
            Request::Join { name } => self.join(conn, &name),
            Request::Claim { token } => self.claim(conn, &token, None),
            Request::Spectate => self.spectate(conn, None),
            Request::Resume {
                token: Some(token),
                last_version,
            } => self.claim(conn, &token, Some(last_version)),
            Request::Resume {
                token: None,
                last_version,
            } => self.spectate(conn, Some(last_version)),
            Request::SetOptions { options } => {
                self.require_host(conn)?;
                self.require_between_games()?;
                options
                    .validate()
                    .map_err(|m| Rejection::new(RejectCode::InvalidRules, m))?;
                self.options = options;
                self.broadcast(vec![RoomEvent::RulesChanged], true, false);
                Ok(())
            }
            Request::Emote { emote } => self.emote(conn, emote, now),
            Request::SetRules { rules } => {
                self.require_host(conn)?;
                self.require_between_games()?;
                rules
                    .validate()
                    .map_err(|e| Rejection::new(RejectCode::InvalidRules, e.to_string()))?;
                if usize::from(rules.max_players) < self.seats.len() {
                    return Err(Rejection::new(
                        RejectCode::InvalidRules,
                        format!(
                            "max_players is {} but {} seats are taken",
                            rules.max_players,
                            self.seats.len()
                        ),
                    ));
                }
                self.rules = rules;
                self.broadcast(vec![RoomEvent::RulesChanged], true, false);
                Ok(())
            }
            Request::AddBot { level } => {
                self.require_host(conn)?;
                self.require_between_games()?;
                self.require_free_seat()?;
                let n = (1..)
                    .find(|n| {
                        let name = format!("Bot {n}");
                        !self.seats.iter().any(|s| s.name == name)
                    })
                    .expect("fewer than 10 seats");
                let name = format!("Bot {n}");
                let seat = self.seats.len();
                self.seats.push(SeatSlot {
                    name: name.clone(),
                    kind: SeatKind::Bot {
                        level,
                        bot: Box::new(Bot::new(level, ids::new_bot_seed())),
                    },
                    emotes: VecDeque::new(),
                });
                self.broadcast(
                    vec![RoomEvent::SeatTaken {
                        seat: Seat::new(seat as u8).expect("below 10"),
                        name,
                    }],
                    true,
                    false,
                );
                Ok(())
            }
            Request::Kick { seat } => {
                let host = self.require_host(conn)?;
                self.require_between_games()?;
                let target = seat.index();
                if target >= self.seats.len() {
                    return Err(Rejection::new(RejectCode::NoSuchSeat, "no such seat"));
                }
                if target == host {
                    return Err(Rejection::new(
                        RejectCode::BadTarget,
                        "the host cannot kick themselves; leave instead",
                    ));
                }
                if let SeatKind::Human {
                    conn: Some(kicked), ..
                } = self.seats[target].kind
                {
                    self.close_conn(
                        kicked,
                        CloseReason::Kicked,
                        close_code::NORMAL,
                        "kicked by the host",
                    );
                }
                self.remove_seat(target);
                Ok(())
            }
            Request::TransferHost { seat } => {
                let host = self.require_host(conn)?;
                let target = seat.index();
                let eligible = self
                    .seats
                    .get(target)
                    .is_some_and(|s| matches!(s.kind, SeatKind::Human { left: false, .. }))
                    && target != host;
                if !eligible {
                    return Err(Rejection::new(
                        RejectCode::BadTarget,
                        "the host role goes to another player who is still in the room",
                    ));
                }
                self.host = Some(target);
                self.broadcast(
                    vec![RoomEvent::HostChanged { seat: Some(seat) }],
                    true,
                    false,
                );
                Ok(())
            }
            Request::Start => {
                self.require_host(conn)?;
                self.require_between_games()?;
                self.start_game(now)
            }
            Request::Act { action } => {
                let Role::Seat(seat) = self.role(conn) else {
                    return Err(Rejection::new(RejectCode::NotSeated, "take a seat first"));
                };
                self.act(seat, action, now)
            }
            Request::Leave => self.leave(conn, now),
        }
    }

    fn require_free_seat(&self) -> Result<(), Rejection> {
        if self.seats.len() >= usize::from(self.rules.max_players) {
            return Err(Rejection::new(
                RejectCode::RoomFull,
                format!("all {} seats are taken", self.rules.max_players),
            ));
        }
        Ok(())
    }

    fn join(&mut self, conn: ConnId, name: &str) -> Result<(), Rejection> {
        self.require_outsider(conn)?;
        if matches!(self.stage, Stage::Playing(_)) {
            return Err(Rejection::new(
                RejectCode::WrongPhase,
                "seats can only be taken between games; watch until this one ends",
            ));
        }
        let name = validate_name(name).map_err(|m| Rejection::new(RejectCode::NameInvalid, m))?;
        if self
            .seats
            .iter()
            .any(|s| s.name.to_lowercase() == name.to_lowercase())
        {
            return Err(Rejection::new(
                RejectCode::NameTaken,
                format!("someone here is already called {name}"),
            ));
        }
        self.require_free_seat()?;
        let token = ids::new_token();
        let seat = self.seats.len();
        self.seats.push(SeatSlot {
            name: name.clone(),
            kind: SeatKind::Human {
                token_hash: ids::hash_token(&token),
                conn: Some(conn),
                left: false,
                away_since: None,
            },
            emotes: VecDeque::new(),
        });
        if self.host.is_none() {
            self.host = Some(seat);
        }
        let seat_id = Seat::new(seat as u8).expect("below 10 seats");
        info!(conn, seat, "joined");
        self.broadcast(
            vec![RoomEvent::SeatTaken {
                seat: seat_id,
                name,
            }],
            true,
            false,
        );
        self.seat_conn(conn, seat, token);
        Ok(())
    }

    /// Makes `conn` the holder of `seat`: it learns its token and gets a snapshot.
    fn seat_conn(&mut self, conn: ConnId, seat: usize, token: String) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.role = Role::Seat(seat);
        }
        let seat_id = Seat::new(seat as u8).expect("below 10 seats");
        self.send_to(
            conn,
            &ServerMessage::Seated {
                seat: seat_id,
                token,
            },
        );
        self.send_snapshot(conn);
    }

    /// The seat of a player still in the room whose token hashes to `hash`.
    fn seat_of_token(&self, hash: TokenHash) -> Option<usize> {
        self.seats.iter().position(|s| {
            matches!(s.kind, SeatKind::Human { token_hash, left: false, .. } if token_hash == hash)
        })
    }

    /// Takes the seat of `token` for `conn`. With `last_version`, the connection catches up
    /// from the room's history where it can instead of getting a snapshot.
    fn claim(
        &mut self,
        conn: ConnId,
        token: &str,
        last_version: Option<RoomVersion>,
    ) -> Result<(), Rejection> {
        self.require_outsider(conn)?;
        let hash = ids::hash_token(token);
        let seat = self.seat_of_token(hash).ok_or_else(|| {
            Rejection::new(RejectCode::BadToken, "no seat in this room has that token")
        })?;
        // Only a player who was away comes back: not the host's first claim of a new room,
        // nor a second socket taking over from a live one.
        let returned = matches!(
            self.seats[seat].kind,
            SeatKind::Human {
                conn: None,
                away_since: Some(_),
                ..
            }
        );
        if let SeatKind::Human {
            conn: Some(old), ..
        } = self.seats[seat].kind
            && old != conn
        {
            self.close_conn(
                old,
                CloseReason::Replaced,
                close_code::POLICY,
                "seat taken by another connection",
            );
        }
        if let SeatKind::Human {
            conn: held,
            away_since,
            ..
        } = &mut self.seats[seat].kind
        {
            *held = Some(conn);
            *away_since = None;
        }
        info!(conn, seat, "claimed seat");
        let seat_id = Seat::new(seat as u8).expect("below 10 seats");
        let events = if returned {
            vec![RoomEvent::Reconnected { seat: seat_id }]
        } else {
            Vec::new()
        };
        // Broadcast before the connection is a member: it catches up below.
        self.broadcast(events, true, false);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.role = Role::Seat(seat);
        }
        self.send_to(
            conn,
            &ServerMessage::Seated {
                seat: seat_id,
                token: token.to_string(),
            },
        );
        self.catch_up(conn, last_version);
        Ok(())
    }

    /// Watches the room; with `last_version`, catches up from the history where it can.
    fn spectate(
        &mut self,
        conn: ConnId,
        last_version: Option<RoomVersion>,
    ) -> Result<(), Rejection> {
        self.require_outsider(conn)?;
        if self.spectator_count() >= self.settings.max_spectators {
            return Err(Rejection::new(
                RejectCode::SpectatorsFull,
                format!(
                    "this room has its {} spectators already",
                    self.settings.max_spectators
                ),
            ));
        }
        // Counted as a spectator in this broadcast, but not sent it: it catches up below.
        if let Some(c) = self.conns.get_mut(&conn) {
            c.role = Role::Spectator;
        }
        self.broadcast_except(Some(conn), Vec::new(), true, false);
        self.catch_up(conn, last_version);
        Ok(())
    }

    /// Brings a new member up to date: the broadcasts after `last_version` if the history
    /// still holds them all (then its own view), else a snapshot.
    fn catch_up(&mut self, conn: ConnId, last_version: Option<RoomVersion>) {
        let replay: Option<Vec<Bytes>> = last_version.and_then(|last| {
            if last > self.version {
                return None;
            }
            let missed: Vec<Bytes> = self
                .history
                .iter()
                .filter(|(v, _)| *v > last)
                .map(|(_, bytes)| bytes.clone())
                .collect();
            (missed.len() as u64 == self.version - last).then_some(missed)
        });
        let Some(missed) = replay else {
            self.send_snapshot(conn);
            return;
        };
        debug!(conn, missed = missed.len(), "resuming from history");
        for bytes in missed {
            // The history holds only `Update`s.
            self.push(conn, Frame::Data(bytes), Some("Update"));
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_you = None;
        }
        self.send_privates();
    }

    fn emote(&mut self, conn: ConnId, emote: Emote, now: Instant) -> Result<(), Rejection> {
        let Role::Seat(seat) = self.role(conn) else {
            return Err(Rejection::new(
                RejectCode::NotSeated,
                "only players send emotes",
            ));
        };
        let recent = &mut self.seats[seat].emotes;
        while recent.front().is_some_and(|&at| at + EMOTE_WINDOW <= now) {
            recent.pop_front();
        }
        if recent.len() >= EMOTE_BURST {
            return Err(Rejection::new(
                RejectCode::SlowDown,
                format!(
                    "at most {EMOTE_BURST} emotes every {} seconds",
                    EMOTE_WINDOW.as_secs()
                ),
            ));
        }
        recent.push_back(now);
        let seat = Seat::new(seat as u8).expect("below 10");
        self.broadcast(vec![RoomEvent::Emote { seat, emote }], false, false);
        Ok(())
    }

    /// Takes a seat out between games: the seats after it move up one, and their
    /// connections are told their new number. Returns the `SeatFreed` event.
    fn take_out_seat(&mut self, target: usize) -> RoomEvent {
        let slot = self.seats.remove(target);
        let mut moved = Vec::new();
        for (&id, c) in self.conns.iter_mut() {
            if let Role::Seat(seat) = &mut c.role
                && *seat > target
            {
                *seat -= 1;
                moved.push((id, *seat));
                // Its last private view names the old seat.
                c.last_you = None;
            }
        }
        for (conn, seat) in moved {
            let seat = Seat::new(seat as u8).expect("below 10");
            self.send_to(conn, &ServerMessage::Moved { seat });
        }
        self.host = match self.host {
            Some(h) if h == target => None,
            Some(h) if h > target => Some(h - 1),
            other => other,
        };
        RoomEvent::SeatFreed {
            seat: Seat::new(target as u8).expect("below 10"),
            name: slot.name,
        }
    }

    /// Removes a seat between games and shifts the seats after it.
    fn remove_seat(&mut self, target: usize) {
        let mut events = vec![self.take_out_seat(target)];
        if self.host.is_none() {
            self.host = self.next_host(None);
            events.push(RoomEvent::HostChanged {
                seat: self.host.and_then(|h| Seat::new(h as u8)),
            });
        }
        self.broadcast(events, true, false);
    }

    /// The first connected human (after `after`, in seat order), else any human still in.
    fn next_host(&self, after: Option<usize>) -> Option<usize> {
        let n = self.seats.len();
        let start = after.map_or(0, |a| a + 1);
        let order: Vec<usize> = (0..n).map(|i| (start + i) % n).collect();
        order
            .iter()
            .copied()
            .find(|&i| Some(i) != after && self.seats[i].is_connected_human())
            .or_else(|| {
                order.iter().copied().find(|&i| {
                    Some(i) != after
                        && matches!(self.seats[i].kind, SeatKind::Human { left: false, .. })
                })
            })
    }

    fn leave(&mut self, conn: ConnId, now: Instant) -> Result<(), Rejection> {
        match self.role(conn) {
            Role::Outsider => Err(Rejection::new(RejectCode::NotSeated, "not in this room")),
            Role::Spectator => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.role = Role::Outsider;
                }
                self.broadcast(Vec::new(), true, false);
                Ok(())
            }
            Role::Seat(seat) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.role = Role::Outsider;
                    c.last_you = None;
                }
                match &mut self.stage {
                    Stage::Lobby | Stage::Finished(_) => {
                        self.remove_seat(seat);
                    }
                    Stage::Playing(_) => {
                        if let SeatKind::Human {
                            conn: held, left, ..
                        } = &mut self.seats[seat].kind
                        {
                            *held = None;
                            *left = true;
                        }
                        info!(seat, "left the game");
                        self.forfeit_seat(seat, Vec::new(), now);
                    }
                }
                Ok(())
            }
        }
    }

    /// Takes `seat` out of the running game (its dice leave, the round is re-rolled) and
    /// hands the host role on if it was the host's.
    fn forfeit_seat(&mut self, seat: usize, mut extra: Vec<RoomEvent>, now: Instant) {
        let Stage::Playing(play) = &mut self.stage else {
            return;
        };
        let game_seat = Seat::new(seat as u8).expect("below 10");
        let events = if play.game.dice_counts().get(seat).is_some_and(|&d| d > 0) {
            play.game.forfeit(game_seat).unwrap_or_default()
        } else {
            Vec::new()
        };
        if self.host == Some(seat) {
            self.host = self.next_host(Some(seat));
            extra.push(RoomEvent::HostChanged {
                seat: self.host.and_then(|h| Seat::new(h as u8)),
            });
        }
        // The room changed too: the seat is no longer connected, perhaps no longer host.
        self.after_game_events(events, extra, true, now);
    }

    fn start_game(&mut self, now: Instant) -> Result<(), Rejection> {
        // Players who left for good do not sit in the next game. Check first, so that a
        // refused start changes nothing.
        let seats = self
            .seats
            .iter()
            .filter(|s| !matches!(s.kind, SeatKind::Human { left: true, .. }))
            .count() as u8;
        if seats < self.rules.min_players {
            return Err(Rejection::new(
                RejectCode::NotEnoughPlayers,
                format!(
                    "a game needs at least {} players; {seats} seated (add a bot?)",
                    self.rules.min_players
                ),
            ));
        }
        self.rules
            .validate_for(seats)
            .map_err(|e| Rejection::new(RejectCode::InvalidRules, e.to_string()))?;
        let mut room_events = Vec::new();
        while let Some(i) = self
            .seats
            .iter()
            .position(|s| matches!(s.kind, SeatKind::Human { left: true, .. }))
        {
            room_events.push(self.take_out_seat(i));
        }
        debug_assert_eq!(usize::from(seats), self.seats.len());
        // Time away in the lobby does not count towards forfeiting this game.
        for slot in &mut self.seats {
            if let SeatKind::Human {
                away_since: Some(since),
                ..
            } = &mut slot.kind
            {
                *since = now;
            }
        }
        let seed = ids::new_seed();
        let (game, events) = Game::start(self.rules.clone(), seats, seed)
            .map_err(|e| Rejection::new(RejectCode::InvalidRules, e.to_string()))?;
        let number = self.games_played + 1;
        info!(game = number, seats, "game started");
        let start = GameStart {
            number,
            config: self.rules.clone(),
            names: self.seats.iter().map(|slot| slot.name.clone()).collect(),
            seed: seed.to_hex(),
            started_ms: store::unix_ms(),
        };
        self.stage = Stage::Playing(Box::new(Play {
            game,
            start,
            number,
            stats: vec![SeatStats::default(); usize::from(seats)],
            out_order: Vec::new(),
            rounds: 0,
            pause: None,
            bot_at: None,
            turn_deadline: None,
        }));
        for c in self.conns.values_mut() {
            c.last_you = None;
        }
        room_events.push(RoomEvent::GameStarted { game: number });
        self.after_game_events(events, room_events, true, now);
        Ok(())
    }

    fn act(&mut self, seat: usize, action: Action, now: Instant) -> Result<(), Rejection> {
        let Stage::Playing(play) = &mut self.stage else {
            return Err(Rejection::new(RejectCode::WrongPhase, "no game is running"));
        };
        if play.pause.is_some() {
            return Err(Rejection::new(
                RejectCode::RoundPaused,
                "the next round has not started yet",
            ));
        }
        let game_seat = Seat::new(seat as u8).expect("below 10");
        let events = play
            .game
            .apply(game_seat, action)
            .map_err(|error| Rejection {
                code: RejectCode::Rule,
                message: error.to_string(),
                detail: Some(RejectDetail::Rule { error }),
            })?;
        self.after_game_events(events, Vec::new(), false, now);
        Ok(())
    }

    fn play_bot(&mut self, now: Instant) {
        let Stage::Playing(play) = &mut self.stage else {
            return;
        };
        let Some(turn) = play.game.turn() else {
            return;
        };
        // Out-of-turn moves first (declaring palifico), then the bot on turn.
        let order = Seat::all(play.game.seat_count())
            .filter(|&s| s != turn)
            .chain(std::iter::once(turn));
        let mut chosen = None;
        for seat in order {
            if let Some(SeatSlot {
                kind: SeatKind::Bot { bot, .. },
                ..
            }) = self.seats.get_mut(seat.index())
                && (seat == turn || play.game.is_legal(seat, &Action::DeclarePalifico))
                && let Some(action) = bot.decide(&play.game.view_for(seat))
            {
                chosen = Some((seat, action));
                break;
            }
        }
        let Some((seat, action)) = chosen else {
            return;
        };
        match play.game.apply(seat, action) {
            Ok(events) => self.after_game_events(events, Vec::new(), false, now),
            Err(error) => warn!(seat = seat.get(), %error, "bot chose an illegal move"),
        }
    }

    /// Whether a bot has something to do now.
    fn bot_has_move(&self, play: &Play) -> bool {
        let Some(turn) = play.game.turn() else {
            return false;
        };
        self.seats.iter().enumerate().any(|(i, slot)| {
            matches!(slot.kind, SeatKind::Bot { .. })
                && Seat::new(i as u8).is_some_and(|seat| {
                    seat == turn || play.game.is_legal(seat, &Action::DeclarePalifico)
                })
        })
    }

    fn record_stats(play: &mut Play, events: &[Event]) {
        for event in events {
            match event {
                Event::RoundStarted { dice, .. } => {
                    play.rounds += 1;
                    for (stats, &d) in play.stats.iter_mut().zip(dice) {
                        if d > 0 {
                            stats.rounds_played += 1;
                        }
                    }
                }
                Event::BidPlaced(placed) => play.stats[placed.seat.index()].bids += 1,
                Event::RoundResolved(resolution) => {
                    match resolution.call {
                        Call::Dudo { challenger } => {
                            let s = &mut play.stats[challenger.index()];
                            s.dudos += 1;
                            s.dudos_won += u32::from(resolution.call_succeeded);
                        }
                        Call::Calza { caller } => {
                            let s = &mut play.stats[caller.index()];
                            s.calzas += 1;
                            s.calzas_won += u32::from(resolution.call_succeeded);
                        }
                    }
                    for change in &resolution.changes {
                        let s = &mut play.stats[change.seat.index()];
                        if change.after < change.before {
                            s.dice_lost += u32::from(change.before - change.after);
                        } else {
                            s.dice_gained += u32::from(change.after - change.before);
                        }
                    }
                }
                Event::Eliminated { seat } => play.out_order.push(*seat),
                Event::GameStarted { .. }
                | Event::PalificoDeclared { .. }
                | Event::Forfeited { .. }
                | Event::GameWon { .. } => {}
            }
        }
    }

    /// Broadcasts what a game change produced, holds the next round back for the reveal
    /// pause, finishes the game, and schedules bots. `room_changed`: the room's public state
    /// changed with it (a game started, a seat left), so the update carries the room view.
    fn after_game_events(
        &mut self,
        events: Vec<Event>,
        extra: Vec<RoomEvent>,
        room_changed: bool,
        now: Instant,
    ) {
        let Stage::Playing(play) = &mut self.stage else {
            return;
        };
        if !events.is_empty() {
            // A move: the next turn's clock starts afresh.
            play.turn_deadline = None;
        }
        Self::record_stats(play, &events);
        let mut room_events = extra;
        let mut events = events;
        if let Some(pause) = &mut play.pause {
            // Only a forfeit changes the game during a reveal. Its events go out after the
            // ones held back for the pause's end, so that the room's event stream stays the
            // engine's, in order: when the pause ends, or now if the forfeit ended the game.
            if play.game.winner().is_none() {
                pause.deferred.append(&mut events);
                self.broadcast(room_events, true, false);
                return;
            }
            let mut held = std::mem::take(&mut pause.deferred);
            held.append(&mut events);
            events = held;
            play.pause = None;
        }
        let resolved = events.iter().any(|e| matches!(e, Event::RoundResolved(_)));
        if let Some(winner) = play.game.winner() {
            let placings = std::iter::once(winner)
                .chain(play.out_order.iter().rev().copied())
                .collect();
            let seed = play
                .game
                .revealed_seed()
                .expect("the game is over")
                .to_hex();
            let results = GameResults {
                game: play.number,
                winner,
                names: self.seats.iter().map(|slot| slot.name.clone()).collect(),
                placings,
                rounds: play.rounds,
                stats: play.stats.clone(),
                commitment: play.game.commitment().to_hex(),
                seed,
            };
            room_events.extend(events.into_iter().map(|event| RoomEvent::Game { event }));
            room_events.push(RoomEvent::GameOver {
                results: results.clone(),
            });
            info!(game = play.number, winner = winner.get(), "game over");
            self.games_played += 1;
            self.results = Some(results);
            let Stage::Playing(play) = std::mem::replace(&mut self.stage, Stage::Lobby) else {
                unreachable!("matched above")
            };
            self.stage = Stage::Finished(play);
            self.broadcast(room_events, true, true);
            return;
        }
        let pause = self.settings.reveal_pause;
        if resolved && !pause.is_zero() {
            // Show the reveal now; the next round starts when the pause ends.
            let split = events
                .iter()
                .position(|e| matches!(e, Event::RoundStarted { .. }))
                .unwrap_or(events.len());
            let deferred = events.split_off(split);
            play.pause = Some(Pause {
                until: now + pause,
                deferred,
            });
            play.bot_at = None;
            room_events.extend(events.into_iter().map(|event| RoomEvent::Game { event }));
            room_events.push(RoomEvent::NextRoundIn {
                ms: pause.as_millis() as u32,
            });
            self.broadcast(room_events, true, false);
            return;
        }
        room_events.extend(events.into_iter().map(|event| RoomEvent::Game { event }));
        self.broadcast(room_events, room_changed, true);
        self.schedule_bot(now);
    }

    fn end_pause(&mut self, pause: Pause, now: Instant) {
        let events = pause
            .deferred
            .into_iter()
            .map(|event| RoomEvent::Game { event })
            .collect();
        self.broadcast(events, true, true);
        self.schedule_bot(now);
    }

    fn schedule_bot(&mut self, now: Instant) {
        let due = match &self.stage {
            Stage::Playing(play) if play.pause.is_none() => self.bot_has_move(play),
            Stage::Lobby | Stage::Playing(_) | Stage::Finished(_) => false,
        };
        if let Stage::Playing(play) = &mut self.stage {
            play.bot_at = due.then(|| now + self.settings.bot_delay);
        }
    }
}

#[cfg(test)]
#[path = "room_tests.rs"]
mod tests;
