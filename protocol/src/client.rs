//! The client side of a room, without IO: [`RoomMirror`] takes every [`ServerMessage`] a
//! connection receives and keeps the room as that connection may see it.
//!
//! It follows docs/PROTOCOL.md, "How a client keeps its state": updates before the first
//! snapshot are ignored, a snapshot replaces everything, an update applies only at exactly the
//! next version (an older one is stale and ignored, a newer one is a gap: resume), and its
//! events are applied to the room and table ([`RoomView::apply`], [`TableView::apply`]); the
//! seat's own view travels in its update. It also numbers the client's requests and matches
//! each answer to its request (a standalone `Ack` or `Rejected`, or the `ack` of an update),
//! and it checks the server's promises as it goes (an `Ack` names the version the client has
//! seen, a view is this seat's, a `Moved` only moves down): a broken promise is a
//! [`Violation`], and the state is left as it was.
//!
//! No sockets, no clock, no tasks: the caller reads frames however it likes (tokio, a test's
//! channel) and hands each decoded message to [`RoomMirror::apply`]. How an `Update` is
//! applied lives in one place ([`RoomMirror::apply_update`]), so a change to what an update
//! carries changes that function, not the mirror's users.

use std::collections::BTreeMap;

use perudo_core::{Event, Seat, TableView};

use crate::{
    ClientMessage, CloseReason, GameResults, PlayerName, RejectCode, RejectDetail, Request,
    RequestId, RoomEvent, RoomPhase, RoomVersion, RoomView, ServerMessage, Snapshot, TurnClock,
    Update, YouView,
};

/// What this connection is in the room, as far as the client knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Not (or no longer) in the room: nothing of the room reaches it.
    Outsider,
    Seat(Seat),
    Spectator,
}

/// A refused request.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub code: RejectCode,
    pub message: String,
    pub detail: Option<RejectDetail>,
}

/// The one answer a request got.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub id: RequestId,
    /// The request it answers, if this mirror sent one with that id still unanswered: `None`
    /// for id 0 (a frame that could not be read) or an id it never sent (or already saw
    /// answered).
    pub request: Option<Request>,
    /// The room version after it, or why it was refused.
    pub result: Result<RoomVersion, Refusal>,
}

/// Why a message was not applied although the server did nothing wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// An `Update` before the first `Snapshot` (or after leaving the room).
    BeforeSnapshot,
    /// An `Update` at or below the version already applied.
    Stale {
        version: RoomVersion,
        got: RoomVersion,
    },
}

/// What applying one message did.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// The answer to a request.
    Answered(Answer),
    /// This connection holds `seat` now.
    Seated { seat: Seat },
    /// This connection's seat number changed.
    Moved { seat: Seat },
    /// A snapshot replaced everything.
    Synced { version: RoomVersion },
    /// The update of `version` was applied; `game_over` when it ended a game; `answer` when
    /// it answered one of this connection's requests.
    Updated {
        version: RoomVersion,
        game_over: Option<GameResults>,
        answer: Option<Answer>,
    },
    /// The server closes this connection next.
    Closing { reason: CloseReason },
    /// Nothing changed.
    Ignored(Ignored),
}

impl Applied {
    /// The answer this message carried: a standalone one, or an update's `ack`.
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            Applied::Answered(answer) => Some(answer),
            Applied::Updated { answer, .. } => answer.as_ref(),
            _ => None,
        }
    }
}

/// A promise of the protocol the server broke. The mirror's state is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// Updates were missed: reconnect and `Resume` from [`RoomMirror::version`].
    #[error("an update skipped ahead: version {got} after {version}")]
    Gap {
        version: RoomVersion,
        got: RoomVersion,
    },
    #[error("ack #{id} names version {got}, but the last one seen is {version}")]
    AckVersion {
        id: RequestId,
        version: RoomVersion,
        got: RoomVersion,
    },
    #[error("a private view of seat {seat} reached {role:?}")]
    PrivateSeat { role: Role, seat: Seat },
    #[error("an update's events do not fit the room: {0}")]
    Events(String),
    #[error("a snapshot with the view of seat {seat} reached {role:?}")]
    SnapshotSeat { role: Role, seat: Seat },
    #[error("moved to seat {seat} from {role:?}")]
    Moved { role: Role, seat: Seat },
    #[error("the room shows {shown:?} in seat {seat}, not {own:?}")]
    SeatTaken {
        seat: Seat,
        own: String,
        shown: Option<String>,
    },
}

impl Violation {
    /// Whether the client should reconnect and `Resume` (the state is still good to resume
    /// from); the other violations are a broken server.
    pub fn must_resume(&self) -> bool {
        matches!(self, Violation::Gap { .. })
    }
}

/// The room as one connection sees it, and its requests in flight.
#[derive(Clone, Debug)]
pub struct RoomMirror {
    next_id: RequestId,
    pending: BTreeMap<RequestId, Request>,
    role: Role,
    token: Option<String>,
    /// The name at this connection's seat: seats shift when an earlier one is freed, and the
    /// name (unique in a room) tells whether the room still shows this seat where it is.
    seat_name: Option<PlayerName>,
    synced: bool,
    version: RoomVersion,
    room: Option<RoomView>,
    table: Option<TableView>,
    you: Option<YouView>,
    clock: Option<TurnClock>,
    results: Option<GameResults>,
    closing: Option<CloseReason>,
}

impl Default for RoomMirror {
    fn default() -> Self {
        RoomMirror::new()
    }
}

impl RoomMirror {
    pub fn new() -> RoomMirror {
        RoomMirror {
            next_id: 0,
            pending: BTreeMap::new(),
            role: Role::Outsider,
            token: None,
            seat_name: None,
            synced: false,
            version: 0,
            room: None,
            table: None,
            you: None,
            clock: None,
            results: None,
            closing: None,
        }
    }

    // ---- reading ------------------------------------------------------------------------

    /// The version of the last snapshot or update applied (what `Resume` sends).
    pub fn version(&self) -> RoomVersion {
        self.version
    }

    /// Whether a snapshot was applied since this connection (last) entered the room.
    pub fn synced(&self) -> bool {
        self.synced
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// This connection's seat, if it holds one.
    pub fn seat(&self) -> Option<Seat> {
        match self.role {
            Role::Seat(seat) => Some(seat),
            Role::Outsider | Role::Spectator => None,
        }
    }

    /// The seat's token from `Seated` (or given with [`RoomMirror::set_token`]).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn room(&self) -> Option<&RoomView> {
        self.room.as_ref()
    }

    pub fn phase(&self) -> Option<RoomPhase> {
        self.room.as_ref().map(|room| room.phase)
    }

    /// The running or last game's public table.
    pub fn table(&self) -> Option<&TableView> {
        self.table.as_ref()
    }

    /// This seat's hand and legal moves.
    pub fn you(&self) -> Option<&YouView> {
        self.you.as_ref()
    }

    /// Whether this seat may move now.
    pub fn my_turn(&self) -> bool {
        self.you.as_ref().is_some_and(|you| you.legal.any())
    }

    /// The turn's deadline as of the last snapshot or update.
    pub fn clock(&self) -> Option<&TurnClock> {
        self.clock.as_ref()
    }

    /// The results of the last game this connection saw end.
    pub fn results(&self) -> Option<&GameResults> {
        self.results.as_ref()
    }

    /// Why the server said it closes this connection, if it did.
    pub fn closing(&self) -> Option<CloseReason> {
        self.closing
    }

    /// Requests sent and not answered yet, by id.
    pub fn pending(&self) -> &BTreeMap<RequestId, Request> {
        &self.pending
    }

    // ---- writing ------------------------------------------------------------------------

    /// `request` with the next id (from 1), kept until its answer arrives.
    pub fn request(&mut self, request: Request) -> ClientMessage {
        self.next_id += 1;
        self.pending.insert(self.next_id, request.clone());
        ClientMessage {
            id: self.next_id,
            request,
        }
    }

    /// `Resume` this connection's seat (or watch, without a token) from the last version
    /// applied: what a client sends on a new socket after `Hello`.
    pub fn resume(&mut self) -> ClientMessage {
        self.request(Request::Resume {
            token: self.token.clone(),
            last_version: self.version,
        })
    }

    /// The token of a seat taken by other means (the host's, from `POST /api/rooms`).
    pub fn set_token(&mut self, token: impl Into<String>) {
        self.token = Some(token.into());
    }

    /// The socket was replaced by a new one: nothing is in the room on it yet and the old
    /// socket's requests will not be answered. The room as last seen is kept, to `Resume`.
    pub fn reconnected(&mut self) {
        self.role = Role::Outsider;
        self.closing = None;
        self.pending.clear();
    }

    /// Carries on from the public room `other` has seen (its version, room, table and clock),
    /// as a second socket of the same player would before it resumes; this mirror's own
    /// seat, token, view and requests stay its own.
    pub fn adopt_room(&mut self, other: &RoomMirror) {
        self.synced = other.synced;
        self.version = other.version;
        self.room.clone_from(&other.room);
        self.table.clone_from(&other.table);
        self.clock = other.clock;
    }

    /// Takes in one message from the server.
    pub fn apply(&mut self, message: &ServerMessage) -> Result<Applied, Violation> {
        match message {
            ServerMessage::Ack { id, version } => self.answered(*id, Ok(*version)),
            ServerMessage::Rejected {
                id,
                code,
                message,
                detail,
            } => self.answered(
                *id,
                Err(Refusal {
                    code: *code,
                    message: message.clone(),
                    detail: detail.clone(),
                }),
            ),
            ServerMessage::Seated { seat, token } => {
                self.role = Role::Seat(*seat);
                self.token = Some(token.clone());
                self.seat_name = None;
                Ok(Applied::Seated { seat: *seat })
            }
            ServerMessage::Moved { seat } => {
                if !matches!(self.role, Role::Seat(old) if old > *seat) {
                    return Err(Violation::Moved {
                        role: self.role,
                        seat: *seat,
                    });
                }
                self.role = Role::Seat(*seat);
                Ok(Applied::Moved { seat: *seat })
            }
            ServerMessage::Snapshot(snapshot) => self.apply_snapshot(snapshot),
            ServerMessage::Update(update) => self.apply_update(update),
            ServerMessage::Closing { reason } => {
                // The room as last seen stays: a new socket may `Resume` from it.
                self.closing = Some(*reason);
                self.role = Role::Outsider;
                Ok(Applied::Closing { reason: *reason })
            }
        }
    }

    fn answered(
        &mut self,
        id: RequestId,
        result: Result<RoomVersion, Refusal>,
    ) -> Result<Applied, Violation> {
        let request = self.pending.get(&id);
        if let Ok(got) = result {
            match request {
                // Outside the room again: nothing reaches this connection until it joins,
                // claims or watches, which brings a snapshot.
                Some(Request::Leave) => {}
                // The answer comes after everything its request caused.
                Some(_) if self.synced && self.role != Role::Outsider && got != self.version => {
                    return Err(Violation::AckVersion {
                        id,
                        version: self.version,
                        got,
                    });
                }
                Some(_) | None => {}
            }
        }
        let request = self.pending.remove(&id);
        if result.is_ok() {
            match &request {
                Some(Request::Leave) => {
                    self.role = Role::Outsider;
                    self.synced = false;
                }
                // A resume that replayed updates brings no snapshot to say so.
                Some(Request::Resume { token: None, .. } | Request::Spectate) => {
                    self.role = Role::Spectator;
                }
                _ => {}
            }
        }
        Ok(Applied::Answered(Answer {
            id,
            request,
            result,
        }))
    }

    fn apply_snapshot(&mut self, snapshot: &Snapshot) -> Result<Applied, Violation> {
        // A snapshot without `Seated` comes from `Spectate` (or `Resume` without a token).
        let role = match self.role {
            Role::Outsider => Role::Spectator,
            role => role,
        };
        match (&snapshot.you, role) {
            (Some(you), Role::Seat(seat)) if you.seat == seat => {}
            (Some(you), role) => {
                return Err(Violation::SnapshotSeat {
                    role,
                    seat: you.seat,
                });
            }
            (None, _) => {}
        }
        self.role = role;
        self.seat_name = match role {
            Role::Seat(seat) => snapshot
                .room
                .seats
                .get(seat.index())
                .map(|s| s.name.clone()),
            Role::Outsider | Role::Spectator => None,
        };
        self.synced = true;
        self.version = snapshot.version;
        self.room = Some(snapshot.room.clone());
        self.table.clone_from(&snapshot.table);
        self.you.clone_from(&snapshot.you);
        self.clock = snapshot.clock;
        Ok(Applied::Synced {
            version: snapshot.version,
        })
    }

    /// Applies the update that follows the current version: the one place that knows what
    /// an update carries.
    fn apply_update(&mut self, update: &Update) -> Result<Applied, Violation> {
        if !self.synced {
            return Ok(Applied::Ignored(Ignored::BeforeSnapshot));
        }
        if update.version <= self.version {
            return Ok(Applied::Ignored(Ignored::Stale {
                version: self.version,
                got: update.version,
            }));
        }
        if update.version != self.version + 1 {
            return Err(Violation::Gap {
                version: self.version,
                got: update.version,
            });
        }
        if let (Some(you), role) = (&update.you, self.role)
            && role != Role::Seat(you.seat)
        {
            return Err(Violation::PrivateSeat {
                role,
                seat: you.seat,
            });
        }
        // A broken promise leaves the state as it was. A game event needs a game: checked
        // before anything changes.
        let mut started = self.table.is_some();
        for event in &update.events {
            match event {
                RoomEvent::Game {
                    event: Event::GameStarted { .. },
                } => started = true,
                RoomEvent::Game { event } if !started => {
                    return Err(Violation::Events(format!(
                        "a game event before any game started: {event:?}"
                    )));
                }
                _ => {}
            }
        }
        // Only a seat taken or freed renames seats: such an update is worked out on copies
        // and checked after; any other one (nearly all: bids, reveals) leaves this seat's
        // name as it was, so it is checked first and applied in place, without copying the
        // room and table for every frame.
        let reseats = update.events.iter().any(|event| {
            matches!(
                event,
                RoomEvent::SeatTaken { .. } | RoomEvent::SeatFreed { .. }
            )
        });
        if reseats {
            let mut room = self.room.clone();
            let mut table = self.table.clone();
            follow(&mut room, &mut table, &update.events);
            self.check_own_seat(room.as_ref())?;
            self.room = room;
            self.table = table;
        } else {
            self.check_own_seat(self.room.as_ref())?;
            follow(&mut self.room, &mut self.table, &update.events);
        }
        self.version = update.version;
        if let Some(you) = &update.you {
            self.you = Some(you.clone());
        }
        self.clock = update.clock;
        let game_over = update.events.iter().find_map(|event| match event {
            RoomEvent::GameOver { results } => Some(results.clone()),
            _ => None,
        });
        if let Some(results) = &game_over {
            self.results = Some(results.clone());
        }
        let answer = match update.ack {
            Some(id) => match self.answered(id, Ok(update.version))? {
                Applied::Answered(answer) => Some(answer),
                _ => None,
            },
            None => None,
        };
        Ok(Applied::Updated {
            version: update.version,
            game_over,
            answer,
        })
    }
}

impl RoomMirror {
    /// The server says `Moved` before an update that renumbers this seat: the seat this
    /// connection holds shows its own name in `room`.
    fn check_own_seat(&self, room: Option<&RoomView>) -> Result<(), Violation> {
        if let (Some(room), Role::Seat(seat), Some(own)) = (room, self.role, &self.seat_name) {
            let shown = room.seats.get(seat.index()).map(|s| s.name.as_str());
            if shown != Some(own.as_str()) {
                return Err(Violation::SeatTaken {
                    seat,
                    own: own.to_string(),
                    shown: shown.map(str::to_string),
                });
            }
        }
        Ok(())
    }
}

/// Applies `events` to the room and table (a game event finds a table: checked before).
fn follow(room: &mut Option<RoomView>, table: &mut Option<TableView>, events: &[RoomEvent]) {
    for event in events {
        if let Some(room) = room {
            room.apply(event);
        }
        match event {
            RoomEvent::Game {
                event:
                    Event::GameStarted {
                        seats,
                        starting_dice,
                        commitment,
                    },
            } => *table = Some(TableView::started(*seats, *starting_dice, *commitment)),
            RoomEvent::Game { event } => {
                if let Some(table) = table {
                    table.apply(event);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
