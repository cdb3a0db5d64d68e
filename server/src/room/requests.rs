//! The requests a client sends, each answered exactly once: hello, join, claim, spectate, resume, emote, leave, host actions.

use super::*;

/// A rejection: code and message (and detail) for the one answer a request gets.
#[derive(Debug)]
pub(super) struct Rejection {
    pub(super) code: RejectCode,
    pub(super) message: String,
    pub(super) detail: Option<RejectDetail>,
}

impl Rejection {
    pub(super) fn new(code: RejectCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
            detail: None,
        }
    }
}

impl Room {
    pub(super) fn require_host(&self, conn: ConnId) -> Result<Seat, Rejection> {
        match self.role(conn) {
            Role::Seat(seat) if self.seats.is_host(seat) => Ok(seat),
            Role::Seat(_) => Err(Rejection::new(
                RejectCode::NotHost,
                "only the host may do that",
            )),
            Role::Outsider | Role::Spectator => {
                Err(Rejection::new(RejectCode::NotSeated, "take a seat first"))
            }
        }
    }

    pub(super) fn require_between_games(&self) -> Result<(), Rejection> {
        match self.phase {
            Phase::Lobby | Phase::Finished(_) => Ok(()),
            Phase::Playing(_) => Err(Rejection::new(
                RejectCode::WrongPhase,
                "not while a game is running",
            )),
        }
    }

    pub(super) fn require_outsider(&self, conn: ConnId) -> Result<(), Rejection> {
        match self.role(conn) {
            Role::Outsider => Ok(()),
            Role::Seat(_) | Role::Spectator => Err(Rejection::new(
                RejectCode::AlreadyJoined,
                "this connection already joined the room",
            )),
        }
    }

    pub(super) fn handle_request(
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
                    .map_err(|e| Rejection::new(RejectCode::InvalidRules, e.to_string()))?;
                self.options = options;
                self.broadcast(vec![RoomEvent::OptionsChanged { options }]);
                Ok(())
            }
            Request::Emote { emote } => self.emote(conn, emote, now),
            Request::SetRules { rules } => {
                self.require_host(conn)?;
                self.require_between_games()?;
                let rules = Rules::new(rules)
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
                let config = rules.config().clone();
                self.rules = rules;
                self.broadcast(vec![RoomEvent::RulesChanged { rules: config }]);
                Ok(())
            }
            Request::AddBot { level } => {
                self.require_host(conn)?;
                self.require_between_games()?;
                self.require_free_seat()?;
                // Of the first MAX_SEATS + 1 names, one is free.
                let name = (1..)
                    .map(|n| PlayerName::new(&format!("Bot {n}")).expect("a plain name"))
                    .find(|name| !self.seats.slots().iter().any(|s| s.name == *name))
                    .expect("of the first MAX_SEATS + 1 names, one is free");
                let seat = self
                    .seats
                    .push(SeatSlot {
                        name: name.clone(),
                        kind: SeatKind::Bot {
                            level,
                            bot: Box::new(Bot::new(level, self.rng.bot_seed())),
                        },
                        emotes: VecDeque::new(),
                    })
                    .map_err(|_| Self::no_seat_left())?;
                self.broadcast(vec![RoomEvent::SeatTaken {
                    seat,
                    name,
                    occupant: Occupant::Bot { level },
                }]);
                Ok(())
            }
            Request::Kick { seat } => {
                let host = self.require_host(conn)?;
                self.require_between_games()?;
                let target = seat;
                let Some(slot) = self.seats.get(target) else {
                    return Err(Rejection::new(RejectCode::NoSuchSeat, "no such seat"));
                };
                if target == host {
                    return Err(Rejection::new(
                        RejectCode::BadTarget,
                        "the host cannot kick themselves; leave instead",
                    ));
                }
                if let Some(kicked) = slot.conn() {
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
                let target = seat;
                let eligible = self
                    .seats
                    .get(target)
                    .is_some_and(SeatSlot::is_human_still_in)
                    && target != host;
                if !eligible {
                    return Err(Rejection::new(
                        RejectCode::BadTarget,
                        "the host role goes to another player who is still in the room",
                    ));
                }
                self.seats.set_host(Some(target));
                self.broadcast(vec![RoomEvent::HostChanged { seat: Some(seat) }]);
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

    pub(super) fn require_free_seat(&self) -> Result<(), Rejection> {
        if self.seats.len() >= usize::from(self.rules.max_players) {
            return Err(Self::no_seat_left_of(self.rules.max_players));
        }
        Ok(())
    }

    fn no_seat_left() -> Rejection {
        Self::no_seat_left_of(perudo_core::MAX_SEATS)
    }

    fn no_seat_left_of(max: u8) -> Rejection {
        Rejection::new(RejectCode::RoomFull, format!("all {max} seats are taken"))
    }

    pub(super) fn join(&mut self, conn: ConnId, name: &str) -> Result<(), Rejection> {
        self.require_outsider(conn)?;
        if matches!(self.phase, Phase::Playing(_)) {
            return Err(Rejection::new(
                RejectCode::WrongPhase,
                "seats can only be taken between games; watch until this one ends",
            ));
        }
        let name = PlayerName::new(name)
            .map_err(|e| Rejection::new(RejectCode::NameInvalid, e.to_string()))?;
        if self.seats.slots().iter().any(|s| s.name.same(&name)) {
            return Err(Rejection::new(
                RejectCode::NameTaken,
                format!("someone here is already called {name}"),
            ));
        }
        self.require_free_seat()?;
        let token = self.rng.token();
        let seat = self
            .seats
            .push(SeatSlot::human(
                name.clone(),
                ids::hash_token(&token),
                Some(conn),
            ))
            .map_err(|_| Self::no_seat_left())?;
        let mut events = vec![RoomEvent::SeatTaken {
            seat,
            name,
            occupant: Occupant::Human { connected: true },
        }];
        if self.seats.host().is_none() {
            self.seats.set_host(Some(seat));
            events.push(RoomEvent::HostChanged { seat: Some(seat) });
        }
        info!(conn, seat = seat.get(), "joined");
        self.broadcast(events);
        self.seat_conn(conn, seat, token);
        Ok(())
    }

    /// Makes `conn` the holder of `seat`: it learns its token and gets a snapshot.
    pub(super) fn seat_conn(&mut self, conn: ConnId, seat: Seat, token: String) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.role = Role::Seat(seat);
        }
        self.send_to(conn, &ServerMessage::Seated { seat, token });
        self.send_snapshot(conn);
    }

    /// Takes the seat of `token` for `conn`. With `last_version`, the connection catches up
    /// from the room's history where it can instead of getting a snapshot.
    pub(super) fn claim(
        &mut self,
        conn: ConnId,
        token: &str,
        last_version: Option<RoomVersion>,
    ) -> Result<(), Rejection> {
        self.require_outsider(conn)?;
        let hash = ids::hash_token(token);
        let seat = self.seats.of_token(hash).ok_or_else(|| {
            Rejection::new(RejectCode::BadToken, "no seat in this room has that token")
        })?;
        // Only a player who was away comes back: not the host's first claim of a new room,
        // nor a second socket taking over from a live one.
        let (returned, arrived) = match self.seats[seat].kind {
            SeatKind::Human {
                conn: None,
                away_since,
                ..
            } => (away_since.is_some(), away_since.is_none()),
            _ => (false, false),
        };
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
        info!(conn, seat = seat.get(), "claimed seat");
        let events = if returned {
            vec![RoomEvent::Reconnected { seat }]
        } else if arrived {
            vec![RoomEvent::Arrived { seat }]
        } else {
            Vec::new()
        };
        // Broadcast before the connection is a member: it catches up below.
        self.broadcast(events);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.role = Role::Seat(seat);
        }
        self.send_to(
            conn,
            &ServerMessage::Seated {
                seat,
                token: token.to_string(),
            },
        );
        self.catch_up(conn, last_version);
        Ok(())
    }

    /// Watches the room; with `last_version`, catches up from the history where it can.
    pub(super) fn spectate(
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
        self.broadcast_except(Some(conn), Vec::new());
        self.catch_up(conn, last_version);
        Ok(())
    }

    /// Brings a new member up to date: the updates after `last_version` if the history
    /// still holds them all, the last one carrying this seat's own view; else (or when it
    /// missed nothing, so its own view has no update to ride in) a snapshot.
    pub(super) fn catch_up(&mut self, conn: ConnId, last_version: Option<RoomVersion>) {
        let replay = last_version
            .and_then(|last| self.history.since(last, self.version))
            .filter(|missed| !missed.is_empty());
        let Some(mut missed) = replay else {
            self.send_snapshot(conn);
            return;
        };
        debug!(conn, missed = missed.len(), "resuming from history");
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_you = None;
        }
        let you = self.you_changed(conn).cloned();
        if let Some(you) = you
            && let Some(last) = missed.last_mut()
        {
            // The history holds only the public `Update`s.
            let Ok(ServerMessage::Update(update)) = ServerMessage::decode(last) else {
                unreachable!("the history holds the updates this room encoded")
            };
            *last = Self::encode(&ServerMessage::Update(Update {
                you: Some(you),
                ..update
            }));
        }
        for bytes in missed {
            self.push(conn, Frame::Data(bytes), Some("Update"));
        }
    }

    pub(super) fn emote(
        &mut self,
        conn: ConnId,
        emote: Emote,
        now: Instant,
    ) -> Result<(), Rejection> {
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
        self.broadcast(vec![RoomEvent::Emote { seat, emote }]);
        Ok(())
    }

    pub(super) fn leave(&mut self, conn: ConnId, now: Instant) -> Result<(), Rejection> {
        match self.role(conn) {
            Role::Outsider => Err(Rejection::new(RejectCode::NotSeated, "not in this room")),
            Role::Spectator => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.role = Role::Outsider;
                }
                self.broadcast(Vec::new());
                Ok(())
            }
            Role::Seat(seat) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.role = Role::Outsider;
                    c.last_you = None;
                }
                match &mut self.phase {
                    Phase::Lobby | Phase::Finished(_) => {
                        self.remove_seat(seat);
                    }
                    Phase::Playing(_) => {
                        if let SeatKind::Human {
                            conn: held, left, ..
                        } = &mut self.seats[seat].kind
                        {
                            *held = None;
                            *left = true;
                        }
                        info!(seat = seat.get(), "left the game");
                        self.forfeit_seat(seat, vec![RoomEvent::Left { seat }], now);
                    }
                }
                Ok(())
            }
        }
    }
}
