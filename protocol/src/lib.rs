//! Every perudo message on the wire.
//!
//! WebSocket frames are MessagePack maps with field names (`rmp_serde::to_vec_named`), so the
//! TypeScript client can read them without a schema. A client speaks `ClientMessage`s, each a
//! request with a client-chosen id that gets exactly one answer (an `Update` that carries its
//! id in `ack`, a standalone `Ack`, or `Rejected`); the server speaks `ServerMessage`s. Room
//! broadcasts (`Update`) carry the events of one change and a room version that grows by one
//! with each, which the client uses to notice gaps and to resume. A client keeps the room by
//! applying the events ([`RoomView::apply`], `TableView::apply`): snapshots come only on
//! joining, on a resume the history cannot serve, and after a restart.
//! The HTTP API (`/api/rooms`) speaks JSON with the types in [`http`].
//!
//! Architecture invariant: this is the only crate that knows the wire format.

pub mod client;
pub mod code;
pub mod frames;
pub mod http;
pub mod names;
mod shape;
mod tagged;

use perudo_core::{
    Action, BotLevel, Commitment, Event, GameConfig, Hand, LegalMoves, PlacedBid, Resolution,
    RuleError, Seat, TableView, Wilds,
};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use code::{RoomCode, RoomCodeError};
pub use names::{NameError, PlayerName};
pub use perudo_core;
pub use shape::ShapeError;

/// The protocol this build speaks. Bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 2;
/// Every protocol version this build can serve.
pub const SUPPORTED_VERSIONS: &[u32] = &[PROTOCOL_VERSION];
/// Largest client frame the server decodes. Perudo requests are tiny.
pub const MAX_CLIENT_FRAME: usize = 4 * 1024;
/// Largest WebSocket message the server reads at all. Frames between `MAX_CLIENT_FRAME` and
/// this get a typed `TooLarge` rejection; larger ones close the socket (close code 1009).
pub const MAX_WS_MESSAGE: usize = 64 * 1024;
/// Largest server frame a client should accept.
pub const MAX_SERVER_FRAME: usize = 256 * 1024;

/// Chosen by the client; echoed in the one answer its request gets.
pub type RequestId = u32;
/// A room's broadcast counter: every `Update` carries the next one.
pub type RoomVersion = u64;

/// Client -> server: one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ClientMessage {
    pub id: RequestId,
    pub request: Request,
}

/// What a client can ask of a room.
// Decoded through `strict::Request`, which refuses unknown fields in every variant.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[serde(tag = "type")]
pub enum Request {
    /// The first message on every socket.
    Hello { version: u32 },
    /// Take a free seat in the lobby under `name`.
    Join { name: String },
    /// Take back a seat with its token (the host's comes from room creation).
    Claim { token: String },
    /// Come back after a drop: take the seat of `token` (or watch, without one) and receive
    /// the updates after `last_version` if the room still holds them, else a fresh snapshot.
    Resume {
        token: Option<String>,
        last_version: RoomVersion,
    },
    /// Watch the room: public information only.
    Spectate,
    /// Host, in the lobby: change the house rules.
    SetRules { rules: GameConfig },
    /// Host, between games: change the room's options.
    SetOptions { options: RoomOptions },
    /// Host, in the lobby: add a bot seat.
    AddBot { level: BotLevel },
    /// Host, in the lobby: remove a player or bot.
    Kick { seat: Seat },
    /// Host: hand the host role to another seated human.
    TransferHost { seat: Seat },
    /// Host: start the game (or the next one, after a game ends).
    Start,
    /// A move in the running game.
    Act { action: Action },
    /// Give up this connection's seat (in the lobby: free it; in a game: forfeit).
    Leave,
    /// A quick reaction for the table, rate limited per player.
    Emote { emote: Emote },
}

impl Request {
    /// The request's type as written on the wire, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "Hello",
            Request::Join { .. } => "Join",
            Request::Claim { .. } => "Claim",
            Request::Resume { .. } => "Resume",
            Request::Spectate => "Spectate",
            Request::SetRules { .. } => "SetRules",
            Request::SetOptions { .. } => "SetOptions",
            Request::AddBot { .. } => "AddBot",
            Request::Kick { .. } => "Kick",
            Request::TransferHost { .. } => "TransferHost",
            Request::Start => "Start",
            Request::Act { .. } => "Act",
            Request::Leave => "Leave",
            Request::Emote { .. } => "Emote",
        }
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        strict::Request::deserialize(deserializer).map(Request::from)
    }
}

/// The shape requests are decoded through.
///
/// serde lets unknown fields through in the unit variants of an internally tagged enum, even
/// under `deny_unknown_fields`, and perudo-core's `Action` does not deny them at all. Here every
/// variant has named fields (`Spectate {}`), so `{"type": "Start", "oops": 1}` is refused like
/// any other unknown field. The wire format is exactly `Request`'s.
mod strict {
    use perudo_core::{BotLevel, Face, GameConfig, Quantity, Seat};
    use serde::Deserialize;

    use super::{Emote, RoomOptions, RoomVersion};

    #[derive(Deserialize)]
    #[serde(tag = "type", deny_unknown_fields)]
    pub(crate) enum Request {
        Hello {
            version: u32,
        },
        Join {
            name: String,
        },
        Claim {
            token: String,
        },
        Resume {
            token: Option<String>,
            last_version: RoomVersion,
        },
        Spectate {},
        SetRules {
            rules: GameConfig,
        },
        SetOptions {
            options: RoomOptions,
        },
        AddBot {
            level: BotLevel,
        },
        Kick {
            seat: Seat,
        },
        TransferHost {
            seat: Seat,
        },
        Start {},
        Act {
            action: Action,
        },
        Leave {},
        Emote {
            emote: Emote,
        },
    }

    #[derive(Deserialize)]
    #[serde(tag = "type", deny_unknown_fields)]
    pub(crate) enum Action {
        Bid { quantity: Quantity, face: Face },
        Dudo {},
        Calza {},
        DeclarePalifico {},
    }

    impl From<Request> for super::Request {
        fn from(request: Request) -> Self {
            use super::Request as R;
            match request {
                Request::Hello { version } => R::Hello { version },
                Request::Join { name } => R::Join { name },
                Request::Claim { token } => R::Claim { token },
                Request::Resume {
                    token,
                    last_version,
                } => R::Resume {
                    token,
                    last_version,
                },
                Request::SetOptions { options } => R::SetOptions { options },
                Request::Emote { emote } => R::Emote { emote },
                Request::Spectate {} => R::Spectate,
                Request::SetRules { rules } => R::SetRules { rules },
                Request::AddBot { level } => R::AddBot { level },
                Request::Kick { seat } => R::Kick { seat },
                Request::TransferHost { seat } => R::TransferHost { seat },
                Request::Start {} => R::Start,
                Request::Act { action } => R::Act {
                    action: action.into(),
                },
                Request::Leave {} => R::Leave,
            }
        }
    }

    impl From<Action> for perudo_core::Action {
        fn from(action: Action) -> Self {
            use perudo_core::{Action as A, Bid};
            match action {
                Action::Bid { quantity, face } => A::Bid(Bid { quantity, face }),
                Action::Dudo {} => A::Dudo,
                Action::Calza {} => A::Calza,
                Action::DeclarePalifico {} => A::DeclarePalifico,
            }
        }
    }
}

/// Server -> client.
// A snapshot is much larger than the other messages; messages are encoded or applied as soon
// as they are made, not kept in bulk, so the size of the enum does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type")]
pub enum ServerMessage {
    /// Request `id` was carried out; `version` is the room version after it. A request whose
    /// change reached this connection in an `Update` is answered inside it (`Update::ack`)
    /// instead.
    Ack { id: RequestId, version: RoomVersion },
    /// Request `id` was refused and changed nothing.
    Rejected {
        id: RequestId,
        code: RejectCode,
        /// For people: lowercase, no trailing period.
        message: String,
        detail: Option<RejectDetail>,
    },
    /// This connection now holds `seat`; `token` takes it back after a disconnect.
    Seated { seat: Seat, token: String },
    /// The whole room as this connection may see it (after joining, claiming, spectating).
    Snapshot(Snapshot),
    /// A room change: its events, and for this connection its own view where it changed and
    /// the answer to its request.
    Update(Update),
    /// This connection's seat number changed: a seat before it was freed in the lobby.
    Moved { seat: Seat },
    /// The server is about to close this connection, and why.
    Closing { reason: CloseReason },
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub enum RejectCode {
    /// The frame was not a valid `ClientMessage`.
    Malformed,
    /// The frame was larger than `MAX_CLIENT_FRAME`.
    TooLarge,
    /// The client's protocol version is not served; `detail` lists the supported ones.
    VersionMismatch,
    /// The first request must be `Hello`.
    HelloFirst,
    /// `Hello` was already said on this socket.
    AlreadyGreeted,
    /// This connection already holds a seat or watches.
    AlreadyJoined,
    /// The request needs a seat.
    NotSeated,
    /// Only the host may do this.
    NotHost,
    NameInvalid,
    NameTaken,
    RoomFull,
    SpectatorsFull,
    /// No seat has this token.
    BadToken,
    /// Not possible in the room's current phase (e.g. joining once the game runs).
    WrongPhase,
    InvalidRules,
    NotEnoughPlayers,
    NoSuchSeat,
    /// The target of a host action must be another seat (or a human, for host transfer).
    BadTarget,
    /// The rules engine refused the move; `detail` carries its `RuleError`.
    Rule,
    /// The reveal is on show; moves resume with the next round.
    RoundPaused,
    /// Too many requests of this kind; wait a moment.
    SlowDown,
    /// The server could not save the request (its storage failed, e.g. a full disk), so
    /// nothing changed; try again later.
    Storage,
}

impl ServerMessage {
    /// The message's type as written on the wire, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerMessage::Ack { .. } => "Ack",
            ServerMessage::Rejected { .. } => "Rejected",
            ServerMessage::Seated { .. } => "Seated",
            ServerMessage::Snapshot(_) => "Snapshot",
            ServerMessage::Update(_) => "Update",
            ServerMessage::Moved { .. } => "Moved",
            ServerMessage::Closing { .. } => "Closing",
        }
    }
}

impl ServerMessage {
    /// The request this message answers, if it is an answer, and whether it was carried
    /// out: a standalone `Ack` or `Rejected`, or an `Update` with an `ack`.
    pub fn answer(&self) -> Option<(RequestId, bool)> {
        match self {
            ServerMessage::Ack { id, .. } => Some((*id, true)),
            ServerMessage::Rejected { id, .. } => Some((*id, false)),
            ServerMessage::Update(update) => update.ack.map(|id| (id, true)),
            _ => None,
        }
    }
}

impl RejectCode {
    /// The code as written on the wire, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::Malformed => "Malformed",
            RejectCode::TooLarge => "TooLarge",
            RejectCode::VersionMismatch => "VersionMismatch",
            RejectCode::HelloFirst => "HelloFirst",
            RejectCode::AlreadyGreeted => "AlreadyGreeted",
            RejectCode::AlreadyJoined => "AlreadyJoined",
            RejectCode::NotSeated => "NotSeated",
            RejectCode::NotHost => "NotHost",
            RejectCode::NameInvalid => "NameInvalid",
            RejectCode::NameTaken => "NameTaken",
            RejectCode::RoomFull => "RoomFull",
            RejectCode::SpectatorsFull => "SpectatorsFull",
            RejectCode::BadToken => "BadToken",
            RejectCode::WrongPhase => "WrongPhase",
            RejectCode::InvalidRules => "InvalidRules",
            RejectCode::NotEnoughPlayers => "NotEnoughPlayers",
            RejectCode::NoSuchSeat => "NoSuchSeat",
            RejectCode::BadTarget => "BadTarget",
            RejectCode::Rule => "Rule",
            RejectCode::RoundPaused => "RoundPaused",
            RejectCode::SlowDown => "SlowDown",
            RejectCode::Storage => "Storage",
        }
    }
}

/// Machine-readable detail of a rejection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type")]
pub enum RejectDetail {
    /// Why the rules refused the move, e.g. `BidTooLow` with the minimum raise.
    Rule { error: RuleError },
    /// The protocol versions the server speaks.
    Versions { supported: Vec<u32> },
}

/// Why the server closes a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub enum CloseReason {
    /// The host removed this seat.
    Kicked,
    /// Another connection took this seat with its token.
    Replaced,
    /// The server is restarting; reconnect.
    ServerRestart,
    /// This connection kept sending faster than the server allows after being told to
    /// slow down (close code 1008).
    RateLimited,
    /// Nothing (not even a pong) came from this connection for the server's idle timeout.
    IdleTimeout,
    /// The server's operator closed the room (`perudo admin close`): it is gone, do not
    /// reconnect (close code 1001).
    RoomClosed,
}

/// The whole room as one connection may see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Snapshot {
    pub version: RoomVersion,
    pub room: RoomView,
    /// The running or last game's public table.
    pub table: Option<TableView>,
    /// This connection's seat, hand and moves, if it holds a seat in the running game.
    pub you: Option<YouView>,
    /// The running turn's deadline, if one is set.
    pub clock: Option<TurnClock>,
}

/// One change of the room, as one connection receives it: the events (the same for every
/// member), plus this connection's own part. Every member gets exactly one `Update` per
/// change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Update {
    pub version: RoomVersion,
    /// What happened, in order. Applying them to the room and table of `version - 1` gives
    /// the room and table of `version` (`RoomView::apply`, `TableView::apply`).
    pub events: Vec<RoomEvent>,
    /// The running turn's deadline, if one is set (in every update while a game runs).
    pub clock: Option<TurnClock>,
    /// This seat's hand and legal moves, when they changed (only in that seat's own frame).
    pub you: Option<YouView>,
    /// The id of this connection's request that made this change: its answer.
    pub ack: Option<RequestId>,
}

/// When the room will act for the player on turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub struct TurnClock {
    pub seat: Seat,
    /// Milliseconds left when this message was sent.
    pub remaining_ms: u32,
    /// Why there is a deadline: the turn time limit, or the player on turn is away.
    pub reason: AutoPlayReason,
}

/// Why the room played a turn for a player.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub enum AutoPlayReason {
    /// The turn time limit ran out.
    TimeLimit,
    /// The player on turn was disconnected longer than the grace period.
    Away,
}

/// The fixed set of emote reactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub enum Emote {
    ThumbsUp,
    Laugh,
    Wow,
    Thinking,
    Sweat,
    Clap,
    Fire,
    Liar,
}

impl Emote {
    pub const ALL: [Emote; 8] = [
        Emote::ThumbsUp,
        Emote::Laugh,
        Emote::Wow,
        Emote::Thinking,
        Emote::Sweat,
        Emote::Clap,
        Emote::Fire,
        Emote::Liar,
    ];
}

/// Room settings the host chooses (house rules are `GameConfig`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
pub struct RoomOptions {
    /// A player disconnected this long during a game forfeits, so the game never hangs.
    pub forfeit_after_secs: u16,
}

/// Range of `RoomOptions::forfeit_after_secs`.
pub const FORFEIT_AFTER_SECS: std::ops::RangeInclusive<u16> = 15..=3600;

impl Default for RoomOptions {
    fn default() -> Self {
        RoomOptions {
            forfeit_after_secs: 120,
        }
    }
}

/// Room options out of range, by the option at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error(
        "forfeit_after_secs must be {min}..={max}, got {0}",
        min = FORFEIT_AFTER_SECS.start(),
        max = FORFEIT_AFTER_SECS.end()
    )]
    ForfeitAfterOutOfRange(u16),
}

impl RoomOptions {
    /// Checks the options, naming the one out of range.
    pub fn validate(&self) -> Result<(), OptionsError> {
        if !FORFEIT_AFTER_SECS.contains(&self.forfeit_after_secs) {
            return Err(OptionsError::ForfeitAfterOutOfRange(
                self.forfeit_after_secs,
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct YouView {
    pub seat: Seat,
    /// This seat's dice in the running round; empty between rounds or when out.
    pub hand: Hand,
    /// What this seat may do now (minimum quantity per face, cap, calls).
    pub legal: LegalMoves,
}

/// Where a room is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub enum RoomPhase {
    /// Seats fill, the host sets the rules.
    Lobby,
    /// A game runs.
    Playing,
    /// A round was just revealed; the next one starts by itself.
    Reveal,
    /// The game ended; the host may start another.
    Finished,
}

/// Who sits in a seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(tag = "type")]
pub enum Occupant {
    Human { connected: bool },
    Bot { level: BotLevel },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SeatInfo {
    pub name: PlayerName,
    pub occupant: Occupant,
}

/// The public state of a room.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct RoomView {
    pub code: RoomCode,
    pub phase: RoomPhase,
    pub host: Option<Seat>,
    /// In seat order; in a game, index = the game's seat.
    pub seats: Vec<SeatInfo>,
    pub spectators: u32,
    pub rules: GameConfig,
    pub options: RoomOptions,
    /// Milliseconds the reveal stays on show before the next round starts.
    pub reveal_pause_ms: u32,
    /// Games finished in this room.
    pub games_played: u32,
    /// The last finished game's results.
    pub results: Option<GameResults>,
}

/// Something that happened in a room.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[serde(tag = "type")]
pub enum RoomEvent {
    /// A rules-engine event (all of them are public).
    Game {
        event: Event,
    },
    /// A seat was taken (always the next one: `seat` is the number of seats before it).
    SeatTaken {
        seat: Seat,
        name: PlayerName,
        occupant: Occupant,
    },
    /// A seat was freed between games: the seats after it move down by one.
    SeatFreed {
        seat: Seat,
        name: PlayerName,
    },
    HostChanged {
        seat: Option<Seat>,
    },
    /// The host changed the house rules.
    RulesChanged {
        rules: GameConfig,
    },
    /// The host changed the room's options.
    OptionsChanged {
        options: RoomOptions,
    },
    /// The number of spectators changed.
    Spectators {
        count: u32,
    },
    GameStarted {
        game: u32,
    },
    /// A seated player connected for the first time (the host, after creating the room).
    Arrived {
        seat: Seat,
    },
    /// A seated player's connection dropped; the seat waits for them.
    Disconnected {
        seat: Seat,
    },
    /// A seated player is back.
    Reconnected {
        seat: Seat,
    },
    /// A player left the running game for good (it forfeits); the seat is no longer
    /// connected.
    Left {
        seat: Seat,
    },
    /// The room played `action` for `seat` (the next event is its result).
    AutoPlayed {
        seat: Seat,
        action: Action,
        reason: AutoPlayReason,
    },
    Emote {
        seat: Seat,
        emote: Emote,
    },
    /// The reveal is on show (the room's phase is `Reveal`); the next round starts in `ms`
    /// milliseconds, with the game's `RoundStarted`.
    NextRoundIn {
        ms: u32,
    },
    /// The game ended: the room's phase is `Finished`, and these are its results.
    GameOver {
        results: GameResults,
    },
}

impl<'de> Deserialize<'de> for RoomEvent {
    /// Reads the tag first when it comes first, as the server writes it (`tagged`).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        tagged::tag_first::<RoomEventTwin, D>(deserializer, "a room event")
    }
}

/// `RoomEvent` as serde's externally tagged derive reads it, for `tagged::tag_first`. The
/// remote derive checks its fields against `RoomEvent`'s; the unused `Serialize` derive
/// checks that it has every variant.
#[derive(Serialize, Deserialize)]
#[serde(remote = "RoomEvent")]
#[allow(dead_code)]
enum RoomEventTwin {
    Game {
        #[serde(deserialize_with = "read_game_event")]
        event: Event,
    },
    SeatTaken {
        seat: Seat,
        name: PlayerName,
        occupant: Occupant,
    },
    SeatFreed {
        seat: Seat,
        name: PlayerName,
    },
    HostChanged {
        seat: Option<Seat>,
    },
    RulesChanged {
        rules: GameConfig,
    },
    OptionsChanged {
        options: RoomOptions,
    },
    Spectators {
        count: u32,
    },
    GameStarted {
        game: u32,
    },
    Arrived {
        seat: Seat,
    },
    Disconnected {
        seat: Seat,
    },
    Reconnected {
        seat: Seat,
    },
    Left {
        seat: Seat,
    },
    AutoPlayed {
        seat: Seat,
        action: Action,
        reason: AutoPlayReason,
    },
    Emote {
        seat: Seat,
        emote: Emote,
    },
    NextRoundIn {
        ms: u32,
    },
    GameOver {
        results: GameResults,
    },
}

impl tagged::Twin for RoomEventTwin {
    type Enum = RoomEvent;
    fn read<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<RoomEvent, D::Error> {
        RoomEventTwin::deserialize(deserializer)
    }
}

/// A rules event inside `RoomEvent::Game`, tag first (`tagged`).
fn read_game_event<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Event, D::Error> {
    tagged::tag_first::<EventTwin, D>(deserializer, "a game event")
}

/// The rules' `Event` as serde's externally tagged derive reads it (see `RoomEventTwin`).
#[derive(Serialize, Deserialize)]
#[serde(remote = "Event")]
#[allow(dead_code)]
enum EventTwin {
    GameStarted {
        seats: u8,
        starting_dice: u8,
        commitment: Commitment,
    },
    RoundStarted {
        round: u32,
        opener: Seat,
        palifico: Option<Seat>,
        wilds: Wilds,
        dice: Vec<u8>,
    },
    PalificoDeclared {
        seat: Seat,
    },
    BidPlaced(PlacedBid),
    RoundResolved(Resolution),
    Forfeited {
        seat: Seat,
    },
    Eliminated {
        seat: Seat,
    },
    GameWon {
        winner: Seat,
    },
}

impl tagged::Twin for EventTwin {
    type Enum = Event;
    fn read<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Event, D::Error> {
        EventTwin::deserialize(deserializer)
    }
}

impl RoomView {
    /// Follows one event: a client that starts from a snapshot's room and applies every later
    /// update's events in order reaches exactly the room a snapshot would show then. Events
    /// that do not fit this room (a seat it does not have) are ignored.
    pub fn apply(&mut self, event: &RoomEvent) {
        match event {
            RoomEvent::Game { event } => {
                if matches!(event, Event::RoundStarted { .. }) && self.phase == RoomPhase::Reveal {
                    self.phase = RoomPhase::Playing;
                }
            }
            RoomEvent::SeatTaken {
                seat,
                name,
                occupant,
            } => {
                let info = SeatInfo {
                    name: name.clone(),
                    occupant: *occupant,
                };
                if seat.index() <= self.seats.len() {
                    self.seats.insert(seat.index(), info);
                }
            }
            RoomEvent::SeatFreed { seat, .. } => {
                if seat.index() < self.seats.len() {
                    self.seats.remove(seat.index());
                }
            }
            RoomEvent::HostChanged { seat } => self.host = *seat,
            RoomEvent::RulesChanged { rules } => self.rules = rules.clone(),
            RoomEvent::OptionsChanged { options } => self.options = *options,
            RoomEvent::Spectators { count } => self.spectators = *count,
            RoomEvent::GameStarted { .. } => self.phase = RoomPhase::Playing,
            RoomEvent::Arrived { seat } | RoomEvent::Reconnected { seat } => {
                self.set_connected(*seat, true)
            }
            RoomEvent::Disconnected { seat } | RoomEvent::Left { seat } => {
                self.set_connected(*seat, false)
            }
            RoomEvent::AutoPlayed { .. } | RoomEvent::Emote { .. } => {}
            RoomEvent::NextRoundIn { .. } => self.phase = RoomPhase::Reveal,
            RoomEvent::GameOver { results } => {
                self.phase = RoomPhase::Finished;
                self.games_played += 1;
                self.results = Some(results.clone());
            }
        }
    }

    fn set_connected(&mut self, seat: Seat, now: bool) {
        if let Some(SeatInfo {
            occupant: Occupant::Human { connected },
            ..
        }) = self.seats.get_mut(seat.index())
        {
            *connected = now;
        }
    }
}

/// The results of a finished game.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GameResults {
    pub game: u32,
    pub winner: Seat,
    /// The players' names by the game's seat numbers (seats may move once the game is over).
    pub names: Vec<String>,
    /// Seats from the winner to the first out.
    pub placings: Vec<Seat>,
    pub rounds: u32,
    pub stats: Vec<SeatStats>,
    /// The seed's SHA-256, published when the game started.
    pub commitment: String,
    /// The seed itself (64 hex digits), revealed now that the game is over.
    pub seed: String,
}

/// One seat's play in a finished game.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub struct SeatStats {
    pub bids: u32,
    pub dudos: u32,
    pub dudos_won: u32,
    pub calzas: u32,
    pub calzas_won: u32,
    pub dice_lost: u32,
    pub dice_gained: u32,
    /// Rounds this seat was dealt dice in.
    pub rounds_played: u32,
}

/// Why bytes could not be read as a message.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {len} bytes is larger than the {max} byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("not a valid message: {0}")]
    Invalid(#[from] InvalidFrame),
}

/// What is wrong with a frame that is not a valid message.
#[derive(Debug, thiserror::Error)]
pub enum InvalidFrame {
    /// A client frame that is not shaped like a request: see [`ShapeError`].
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// A client frame shaped like a request, but not a valid one (an unknown type or field,
    /// a missing field, a wrong type, a number out of range).
    #[error(transparent)]
    Request(#[from] serde_json::Error),
    /// A server frame that does not decode.
    #[error(transparent)]
    Server(#[from] rmp_serde::decode::Error),
}

impl From<rmp_serde::decode::Error> for DecodeError {
    fn from(error: rmp_serde::decode::Error) -> Self {
        DecodeError::Invalid(InvalidFrame::Server(error))
    }
}

/// Why a message could not be written (a bug, never a client's doing).
pub type EncodeError = rmp_serde::encode::Error;

/// Deepest nesting of arrays and maps a frame may have. The deepest real message (a round's
/// resolution inside an update) nests 6 deep; rmp-serde's default of 1024 would let a 4 KiB
/// frame make the decoder recurse a thousand times.
const MAX_NESTING: usize = 32;

/// Reads exactly one message filling the whole frame: bytes after it make the frame invalid.
/// Strings and keys are borrowed from the frame while serde reads it (`from_read_ref`), not
/// copied: serde copies every internally tagged enum (`type`) into a tree of its own before
/// reading it, and borrowed strings spare that tree an allocation per string.
fn decode<'de, T: Deserialize<'de>>(bytes: &'de [u8], max: usize) -> Result<T, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    let end = value_len(bytes).ok_or_else(|| {
        rmp_serde::decode::Error::Syntax("the frame ends inside the message".to_owned())
    })?;
    if end != bytes.len() {
        return Err(rmp_serde::decode::Error::Syntax(format!(
            "{} bytes after the end of the message",
            bytes.len() - end
        ))
        .into());
    }
    let mut deserializer = rmp_serde::Deserializer::from_read_ref(bytes);
    deserializer.set_max_depth(MAX_NESTING);
    Ok(T::deserialize(&mut deserializer)?)
}

/// The length of the one MessagePack value at the start of `bytes`, or `None` when the
/// bytes end inside it (or hold the reserved marker 0xc1). Walks the values without
/// recursion or allocation; every value takes at least one byte, so it stops within
/// `bytes.len()` steps whatever lengths the frame claims.
fn value_len(bytes: &[u8]) -> Option<usize> {
    let mut pos = 0usize;
    // Values still to walk: the first, plus every element and key and value of the arrays
    // and maps met so far.
    let mut pending: u64 = 1;
    let be = |at: usize, n: usize| -> Option<u64> {
        let b = bytes.get(at..at.checked_add(n)?)?;
        Some(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    };
    while pending > 0 {
        pending -= 1;
        let marker = *bytes.get(pos)?;
        pos += 1;
        // Bytes of payload after the marker (and its length field), and values it contains.
        let (skip, items): (u64, u64) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * u64::from(marker & 0x0f)),
            0x90..=0x9f => (0, u64::from(marker & 0x0f)),
            0xa0..=0xbf => (u64::from(marker & 0x1f), 0),
            0xc1 => return None,
            0xc4 | 0xd9 => (1 + be(pos, 1)?, 0),
            0xc5 | 0xda => (2 + be(pos, 2)?, 0),
            0xc6 | 0xdb => (4 + be(pos, 4)?, 0),
            0xc7 => (2 + be(pos, 1)?, 0),
            0xc8 => (3 + be(pos, 2)?, 0),
            0xc9 => (5 + be(pos, 4)?, 0),
            0xca => (4, 0),
            0xcb => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 => (4, 0),
            0xcf | 0xd3 => (8, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (2, be(pos, 2)?),
            0xdd => (4, be(pos, 4)?),
            0xde => (2, 2 * be(pos, 2)?),
            0xdf => (4, 2 * be(pos, 4)?),
        };
        pos = pos.checked_add(usize::try_from(skip).ok()?)?;
        if pos > bytes.len() {
            return None;
        }
        pending += items;
    }
    Some(pos)
}

/// The value of the `type` key when it is the first key of the MessagePack map in `bytes`
/// (a str value of at most 31 bytes), else `None`.
fn leading_tag(bytes: &[u8]) -> Option<&[u8]> {
    let rest = match *bytes.first()? {
        0x81..=0x8f => &bytes[1..],
        0xde => bytes.get(3..)?,
        0xdf => bytes.get(5..)?,
        _ => return None,
    };
    let rest = rest.strip_prefix(&[0xa4, b't', b'y', b'p', b'e'][..])?;
    let len = match *rest.first()? {
        marker @ 0xa0..=0xbf => usize::from(marker & 0x1f),
        _ => return None,
    };
    rest.get(1..1 + len)
}

impl ClientMessage {
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        rmp_serde::to_vec_named(self)
    }

    /// Reads a client frame strictly, refusing anything over `MAX_CLIENT_FRAME`: the frame
    /// must be one MessagePack map with field names and str strings (no arrays, bin,
    /// extension types or floats anywhere: see `shape`), and then a valid request.
    pub fn decode(bytes: &[u8]) -> Result<ClientMessage, DecodeError> {
        if bytes.len() > MAX_CLIENT_FRAME {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max: MAX_CLIENT_FRAME,
            });
        }
        if let Some(message) = written_move(bytes) {
            return Ok(message);
        }
        ClientMessage::decode_strictly(bytes)
    }

    /// The strict path of `decode`, for any frame.
    fn decode_strictly(bytes: &[u8]) -> Result<ClientMessage, DecodeError> {
        shape::check(bytes, MAX_NESTING).map_err(InvalidFrame::from)?;
        Ok(shape::from_checked(bytes).map_err(InvalidFrame::from)?)
    }
}

/// A move (`Act`) in the one layout clients write it in (this crate's `encode` and the web
/// client's `@msgpack/msgpack` alike): `{id, request: {type: "Act", action: {type, ...}}}`,
/// keys in that order, strings as fixstr, numbers as positive fixint or `uint 8/16/32`.
/// Read byte for byte, without the shape check and serde's copy of the two tagged maps: a
/// move is nearly every frame a room reads. Anything else, also a move written any other
/// way or one whose numbers are out of range, is `None` and takes the strict path, which
/// gives every answer and error (the tests check that both read the same).
fn written_move(bytes: &[u8]) -> Option<ClientMessage> {
    const ID: &[u8] = b"\x82\xa2id";
    const ACT: &[u8] = b"\xa7request\x82\xa4type\xa3Act\xa6action";
    const BID: &[u8] = b"\x83\xa4type\xa3Bid\xa8quantity";
    const FACE: &[u8] = b"\xa4face";
    const TYPE: &[u8] = b"\x81\xa4type";
    let rest = bytes.strip_prefix(ID)?;
    let (id, rest) = match *rest.first()? {
        n @ 0x00..=0x7f => (u32::from(n), &rest[1..]),
        0xcc => (u32::from(*rest.get(1)?), &rest[2..]),
        0xcd => (
            u32::from(u16::from_be_bytes(rest.get(1..3)?.try_into().ok()?)),
            &rest[3..],
        ),
        0xce => (
            u32::from_be_bytes(rest.get(1..5)?.try_into().ok()?),
            &rest[5..],
        ),
        _ => return None,
    };
    let rest = rest.strip_prefix(ACT)?;
    let small = |rest: &[u8]| -> Option<(u8, usize)> {
        match *rest.first()? {
            n @ 0x00..=0x7f => Some((n, 1)),
            0xcc => Some((*rest.get(1)?, 2)),
            _ => None,
        }
    };
    let action = if let Some(rest) = rest.strip_prefix(BID) {
        let (quantity, used) = small(rest)?;
        let rest = rest[used..].strip_prefix(FACE)?;
        let (face, used) = small(rest)?;
        if used != rest.len() {
            return None;
        }
        Action::Bid(perudo_core::Bid {
            quantity: perudo_core::Quantity::try_from(quantity).ok()?,
            face: perudo_core::Face::try_from(face).ok()?,
        })
    } else {
        match rest.strip_prefix(TYPE)? {
            b"\xa4Dudo" => Action::Dudo,
            b"\xa5Calza" => Action::Calza,
            b"\xafDeclarePalifico" => Action::DeclarePalifico,
            _ => return None,
        }
    };
    Some(ClientMessage {
        id,
        request: Request::Act { action },
    })
}

impl ServerMessage {
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        rmp_serde::to_vec_named(self)
    }

    /// Reads a server frame, refusing anything over `MAX_SERVER_FRAME`.
    ///
    /// The server writes `type` as the first key of every message. An `Update` or a
    /// `Snapshot` (nearly every frame a client gets) that starts so is read straight into its
    /// struct, whose derived reader skips the `type` key as an unknown field. serde reads an
    /// internally tagged enum by first copying the whole message into a tree of its own (it
    /// cannot know where the tag is), then reading the variant from that tree: for a bid's
    /// update that was 4.3 µs of a client's CPU per frame (`cargo bench -p perudo-protocol
    /// --bench decode`). Any other frame, or one that does not start with its tag, takes
    /// serde's way.
    pub fn decode(bytes: &[u8]) -> Result<ServerMessage, DecodeError> {
        match leading_tag(bytes) {
            Some(b"Update") => decode(bytes, MAX_SERVER_FRAME).map(ServerMessage::Update),
            Some(b"Snapshot") => decode(bytes, MAX_SERVER_FRAME).map(ServerMessage::Snapshot),
            _ => decode(bytes, MAX_SERVER_FRAME),
        }
    }
}

impl RejectCode {
    /// Rejection for a rules-engine refusal, with the engine's reason.
    pub fn rule(id: RequestId, error: RuleError) -> ServerMessage {
        ServerMessage::Rejected {
            id,
            code: RejectCode::Rule,
            message: error.to_string(),
            detail: Some(RejectDetail::Rule { error }),
        }
    }

    /// Rejection with this code and a message.
    pub fn reject(self, id: RequestId, message: impl Into<String>) -> ServerMessage {
        ServerMessage::Rejected {
            id,
            code: self,
            message: message.into(),
            detail: None,
        }
    }
}

/// Re-exported so users of the protocol name one `Resolution`.
pub type RoundResolution = Resolution;

#[cfg(test)]
mod frame_tests {
    use super::{ClientMessage, leading_tag, value_len, written_move};
    use proptest::prelude::*;

    /// A move as clients write it, with any numbers (also ones no bid may have).
    fn move_frame(id: u32, action: u8, quantity: u8, face: u8) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Message {
            id: u32,
            request: Request,
        }
        #[derive(serde::Serialize)]
        #[serde(tag = "type")]
        enum Request {
            Act { action: Action },
        }
        #[derive(serde::Serialize)]
        #[serde(tag = "type")]
        enum Action {
            Bid { quantity: u8, face: u8 },
            Dudo,
            Calza,
            DeclarePalifico,
        }
        let action = match action % 4 {
            0 => Action::Bid { quantity, face },
            1 => Action::Dudo,
            2 => Action::Calza,
            _ => Action::DeclarePalifico,
        };
        rmp_serde::to_vec_named(&Message {
            id,
            request: Request::Act { action },
        })
        .unwrap()
    }

    proptest! {
        /// The move reader reads a frame only as the strict path does, reads every valid
        /// move written as clients write it, and leaves any frame it does not read to the
        /// strict path (also every frame of one byte changed).
        #[test]
        fn moves_read_byte_for_byte_read_as_the_strict_path_reads_them(
            id in any::<u32>(),
            action in 0u8..4,
            quantity in any::<u8>(),
            face in any::<u8>(),
            change in proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
        ) {
            let mut frame = move_frame(id, action, quantity, face);
            let strict = ClientMessage::decode_strictly(&frame);
            let fast = written_move(&frame);
            prop_assert_eq!(fast.clone(), strict.as_ref().ok().cloned());
            prop_assert_eq!(ClientMessage::decode(&frame).ok(), fast);
            if let Some((at, byte)) = change {
                let at = at.index(frame.len());
                frame[at] = byte;
                if let Some(fast) = written_move(&frame) {
                    prop_assert_eq!(Some(fast), ClientMessage::decode_strictly(&frame).ok());
                }
            }
        }
    }

    /// The golden moves are read byte for byte; the web client's codec test encodes these
    /// very bytes (web-client/tests/codec.test.ts), so a browser's moves are read so too.
    #[test]
    fn the_golden_moves_are_read_byte_for_byte() {
        let golden: [&[u8]; 4] = [
            include_bytes!("../tests/golden/client_act_bid.msgpack"),
            include_bytes!("../tests/golden/client_act_dudo.msgpack"),
            include_bytes!("../tests/golden/client_act_calza.msgpack"),
            include_bytes!("../tests/golden/client_act_declare_palifico.msgpack"),
        ];
        for bytes in golden {
            let read = written_move(bytes);
            assert!(read.is_some(), "{bytes:x?}");
            assert_eq!(read, ClientMessage::decode_strictly(bytes).ok());
        }
    }

    #[test]
    fn a_move_written_another_way_takes_the_strict_path() {
        // Keys in another order, and the id as a uint 64: valid, read strictly.
        let frame = b"\x82\xa7request\x82\xa4type\xa3Act\xa6action\x81\xa4type\xa4Dudo\xa2id\x07";
        assert_eq!(written_move(frame), None);
        assert!(ClientMessage::decode(frame).is_ok());
        let frame = b"\x82\xa2id\xcf\x00\x00\x00\x00\x00\x00\x00\x07\xa7request\x82\xa4type\xa3Act\xa6action\x81\xa4type\xa4Dudo";
        assert_eq!(written_move(frame), None);
        assert!(ClientMessage::decode(frame).is_ok());
        // One byte more: refused by the strict path.
        let mut frame = move_frame(7, 0, 3, 4);
        assert!(written_move(&frame).is_some());
        frame.push(0xc0);
        assert_eq!(written_move(&frame), None);
        assert!(ClientMessage::decode(&frame).is_err());
    }
    use serde::Deserialize;

    fn golden_server_frames() -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
        let mut frames: Vec<_> = std::fs::read_dir(&dir)
            .expect("the golden frames")
            .map(|entry| entry.expect("an entry").path())
            .filter(|path| {
                let name = path.file_name().unwrap().to_string_lossy();
                name.starts_with("server_") && name.ends_with(".msgpack")
            })
            .map(|path| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&path).expect("a frame"))
            })
            .collect();
        frames.sort();
        frames
    }

    /// The walk agrees with rmp-serde on where a value ends: every golden server frame is one
    /// whole value, every prefix of it is not, and a value followed by more ends where it did.
    #[test]
    fn value_len_finds_the_end_of_every_golden_frame() {
        let frames = golden_server_frames();
        assert!(frames.len() >= 15, "the golden server frames");
        for (name, bytes) in &frames {
            assert_eq!(value_len(bytes), Some(bytes.len()), "{name}");
            for end in 0..bytes.len() {
                assert_eq!(value_len(&bytes[..end]), None, "{name} cut at {end}");
            }
            let mut longer = bytes.clone();
            longer.extend_from_slice(&[0xc0, 0x91, 0x01]);
            assert_eq!(
                value_len(&longer),
                Some(bytes.len()),
                "{name} with more after it"
            );
            let mut reader = std::io::Cursor::new(&longer[..]);
            let mut deserializer = rmp_serde::Deserializer::new(&mut reader);
            serde::de::IgnoredAny::deserialize(&mut deserializer).expect("rmp-serde reads it");
            assert_eq!(
                reader.position() as usize,
                bytes.len(),
                "{name}: rmp-serde agrees"
            );
        }
        // Lengths that claim more than the frame holds, and the reserved marker.
        assert_eq!(value_len(&[0xdb, 0xff, 0xff, 0xff, 0xff, b'a']), None);
        assert_eq!(value_len(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]), None);
        assert_eq!(value_len(&[0xc1]), None);
        assert_eq!(value_len(&[]), None);
    }

    #[test]
    fn leading_tag_reads_only_a_first_type_key() {
        for (name, bytes) in golden_server_frames() {
            let expected = if name.starts_with("server_update") {
                Some(&b"Update"[..])
            } else if name.starts_with("server_snapshot") {
                Some(&b"Snapshot"[..])
            } else {
                leading_tag(&bytes)
            };
            assert_eq!(leading_tag(&bytes), expected, "{name}");
            assert!(
                leading_tag(&bytes).is_some(),
                "{name}: the server writes `type` first"
            );
        }
        // {"version": 1, "type": "Update"}: not first, so serde's way.
        assert_eq!(leading_tag(b"\x82\xa7version\x01\xa4type\xa6Update"), None);
        // Cut inside the tag.
        assert_eq!(leading_tag(b"\x81\xa4type\xa6Upd"), None);
        assert_eq!(leading_tag(b"\x80"), None);
    }
}
