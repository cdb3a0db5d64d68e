//! Durable rooms: the lobby image, the journal of what an input changed, commit-then-send, restore and roll back.

use super::*;

/// Why a stored room cannot be rebuilt.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RestoreError {
    #[error("the stored name {0:?} is not a name: {1}")]
    Name(String, perudo_protocol::NameError),
    #[error("the stored code {0:?} is not a room code: {1}")]
    Code(String, perudo_protocol::RoomCodeError),
    #[error("the stored host is not a seat")]
    HostNotASeat,
    #[error("the stored seats are more than a room holds, or the host is not one of them")]
    Seats,
    #[error("the stored rules are invalid: {0}")]
    Rules(perudo_core::ConfigError),
    #[error("the stored seed of game {game} is not 64 hex digits")]
    Seed { game: u32 },
    #[error("game {game} does not replay: {error}")]
    Replay {
        game: u32,
        error: perudo_core::ReplayError,
    },
}

impl Room {
    /// Makes this new room durable: from now on each input's writes are committed before
    /// what it caused is sent. Returns the batch that creates the room in its store, which
    /// must be committed before anyone hears of the room.
    pub fn make_durable(&mut self) -> Batch {
        let lobby = self.lobby_image();
        self.committed = Some(Box::new(RoomImage {
            code: self.code.to_string(),
            version: self.version,
            lobby: lobby.clone(),
            game: None,
            clock: None,
            epoch: store::FIRST_EPOCH,
        }));
        Batch {
            code: self.code.to_string(),
            version: self.version,
            epoch: store::FIRST_EPOCH,
            writes: vec![Write::CreateRoom(lobby)],
        }
    }

    /// Rebuilds a room from what storage holds. Nobody is connected; with `grace_until`,
    /// away timers and turn limits wait at least until then for players to come back.
    pub fn restore(
        image: RoomImage,
        settings: RoomSettings,
        durable: bool,
        now: Now,
        grace_until: Option<Instant>,
        mut rng: RoomRng,
    ) -> Result<Room, RestoreError> {
        let Now { at: now, unix_ms } = now;
        let lobby = &image.lobby;
        let seats = lobby
            .seats
            .iter()
            .map(|seat| {
                Ok(SeatSlot {
                    name: PlayerName::new(&seat.name)
                        .map_err(|e| RestoreError::Name(seat.name.clone(), e))?,
                    kind: match seat.kind {
                        SeatImageKind::Human { token_hash, left } => SeatKind::Human {
                            token_hash,
                            conn: None,
                            left,
                            away_since: Some(now),
                        },
                        SeatImageKind::Bot { level } => SeatKind::Bot {
                            level,
                            bot: Box::new(Bot::new(level, rng.bot_seed())),
                        },
                    },
                    emotes: VecDeque::new(),
                })
            })
            .collect::<Result<Vec<_>, RestoreError>>()?;
        let host = match lobby.host {
            Some(h) => Some(Seat::new(h).ok_or(RestoreError::HostNotASeat)?),
            None => None,
        };
        let seats = Seats::from_slots(seats, host).ok_or(RestoreError::Seats)?;
        let phase = match &image.game {
            None => Phase::Lobby,
            Some(game) => {
                let play =
                    Self::replay_play(game, image.clock, Now { at: now, unix_ms }, grace_until)?;
                if play.game.is_over() {
                    Phase::Finished(play)
                } else {
                    Phase::Playing(play)
                }
            }
        };
        // Clients hold versions of the room before the restart, perhaps a few past the last
        // write: jump well past them so that any `Resume` gets a snapshot.
        let version = image.version + (1 << 32);
        let mut room = Room {
            code: RoomCode::parse(&image.code)
                .map_err(|e| RestoreError::Code(image.code.clone(), e))?,
            settings,
            rules: Rules::new(lobby.rules.clone()).map_err(RestoreError::Rules)?,
            options: lobby.options,
            now,
            unix_ms,
            history: History::new(),
            stand_in: Bot::new(BotLevel::Normal, rng.bot_seed()),
            rng,
            version,
            seats,
            conns: BTreeMap::new(),
            phase,
            games_played: lobby.games_played,
            results: lobby.results.clone(),
            empty_since: Some(now),
            closed: false,
            committed: durable.then(|| Box::new(image.clone())),
            dirty: false,
            version_unsaved: durable,
            outgoing: Vec::new(),
            last_broadcast: None,
            spectators_shown: 0,
            request: None,
            grace_until,
        };
        room.schedule_bot(now);
        room.update_clock();
        Ok(room)
    }

    /// Replays a stored game: the engine's state and the room's statistics of it.
    pub(super) fn replay_play(
        image: &GameImage,
        clock: Option<ClockImage>,
        now: Now,
        grace_until: Option<Instant>,
    ) -> Result<Box<Play>, RestoreError> {
        let Now { at: now, unix_ms } = now;
        let start = &image.start;
        let game = start.number;
        let seed = Seed::from_hex(&start.seed).ok_or(RestoreError::Seed { game })?;
        let seats = u8::try_from(start.names.len()).map_err(|_| RestoreError::Seats)?;
        let (game, events) = perudo_core::replay(start.config.clone(), seats, seed, &image.moves)
            .map_err(|error| RestoreError::Replay { game, error })?;
        let mut play = Play::new(game, start.clone());
        Self::record_stats(&mut play, &events);
        // The turn limit resumes with the time that was left; one that ran out while the
        // server was down gets a fresh grace instead of an instant auto-play.
        if let Some(clock) = clock
            && play.game.turn().map(Seat::get) == Some(clock.seat)
            && let Some(seat) = Seat::new(clock.seat)
        {
            let left = clock.limit_at_ms - unix_ms;
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
    pub(super) fn lobby_image(&self) -> LobbyImage {
        LobbyImage {
            rules: self.rules.config().clone(),
            options: self.options,
            seats: self
                .seats
                .slots()
                .iter()
                .map(|slot| SeatImage {
                    name: slot.name.to_string(),
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
            host: self.seats.host().map(Seat::get),
            games_played: self.games_played,
            results: self.results.clone(),
        }
    }

    /// Whether `image` is what `lobby_image` would build now, without building it.
    pub(super) fn lobby_matches(&self, image: &LobbyImage) -> bool {
        *self.rules.config() == image.rules
            && self.options == image.options
            && self.seats.host().map(Seat::get) == image.host
            && self.games_played == image.games_played
            && match (&self.results, &image.results) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
                (a, b) => a.is_none() && b.is_none(),
            }
            && self.seats.len() == image.seats.len()
            && self
                .seats
                .slots()
                .iter()
                .zip(&image.seats)
                .all(|(slot, seat)| {
                    *slot.name == *seat.name
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
    pub(super) fn clock_image(&self) -> Option<ClockImage> {
        let Phase::Playing(play) = &self.phase else {
            return None;
        };
        let deadline = play.turn_deadline?;
        let limit_at = deadline.limit_at?;
        let left = limit_at.saturating_duration_since(self.now).as_millis() as i64;
        Some(ClockImage {
            seat: deadline.seat.get(),
            limit_at_ms: self.unix_ms + left,
        })
    }

    /// What the current input changed in the room's durable state, as writes.
    pub(super) fn journal(&self) -> Vec<Write> {
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
                    results: GameResults::clone(results),
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

    /// What to do after the inputs handled so far: first, for a durable room whose state
    /// changed, the batch to commit (report its result with `committed`); then the frames to
    /// send. Nothing leaves the room before its writes are committed. A room in memory has
    /// nothing to commit: the same path only sends.
    pub fn poll_output(&mut self) -> Output {
        if std::mem::take(&mut self.dirty) || self.version_unsaved {
            let mut writes = self.journal();
            if self.closed && self.committed.is_some() {
                // Closed for good (nobody came back): not restored after a restart.
                writes.push(Write::Closed);
            }
            if !writes.is_empty() || self.version_unsaved {
                return Output::Commit(Batch {
                    code: self.code.to_string(),
                    version: self.version,
                    epoch: self
                        .committed
                        .as_ref()
                        .map_or(store::FIRST_EPOCH, |image| image.epoch),
                    writes,
                });
            }
        }
        self.request = None;
        Output::Transmit(std::mem::take(&mut self.outgoing))
    }

    /// The outcome of the batch `poll_output` gave: on success storage holds it; on failure
    /// the room rolls back to what storage holds.
    pub fn committed(&mut self, batch: Batch, result: Result<(), StorageError>) {
        match result {
            Ok(()) => {
                self.version_unsaved = false;
                if let Some(committed) = &mut self.committed {
                    committed.version = batch.version;
                    for write in batch.writes {
                        committed.apply(write);
                    }
                }
            }
            Err(StorageError::Fenced) => self.fenced(),
            Err(error) => {
                self.roll_back(&error);
                // The rebuilt room is what storage holds: nothing more to commit for this
                // input (a store that keeps failing is tried again on the next one).
                self.dirty = false;
                self.version_unsaved = false;
            }
        }
    }

    /// This node lost the room's lease (another node owns the room now, or will): nothing of
    /// the input happened, and nothing more is written from here. The request is refused,
    /// every connection is told the server restarts (close code 1012) so that the clients
    /// reconnect and reach the room's owner, and the room ends on this node.
    pub(super) fn fenced(&mut self) {
        warn!("another node owns the room now (this node's lease was lost): dropping it here");
        let ends: Vec<Transmit> = std::mem::take(&mut self.outgoing)
            .into_iter()
            .filter(|out| matches!(out, Transmit::End { .. }))
            .collect();
        self.outgoing = ends;
        self.committed = None;
        self.dirty = false;
        self.version_unsaved = false;
        if let Some((conn, id)) = self.request.take() {
            metrics::rejected(RejectCode::Storage);
            self.send_to(
                conn,
                &ServerMessage::Rejected {
                    id,
                    code: RejectCode::Storage,
                    message: "another server runs this room now; nothing changed, reconnect \
                              to reach it"
                        .into(),
                    detail: None,
                },
            );
        }
        self.close_all(CloseReason::ServerRestart, close_code::SERVICE_RESTART);
        self.closed = true;
    }

    /// A failed write: the input's changes are undone by rebuilding the room from what
    /// storage holds; the connections stay (in the same seats, found by token), the request
    /// gets a `Storage` rejection, and every member a fresh snapshot.
    pub(super) fn roll_back(&mut self, error: &StorageError) {
        warn!(%error, "storage failed: rolling the room back");
        // Frames are dropped (they describe what did not happen); ends still happen, as
        // those connections were already forgotten.
        let ends: Vec<Transmit> = std::mem::take(&mut self.outgoing)
            .into_iter()
            .filter(|out| matches!(out, Transmit::End { .. }))
            .collect();
        let Some(image) = self.committed.as_deref().cloned() else {
            self.outgoing = ends;
            return;
        };
        let now = self.now;
        let mut fresh = match Room::restore(
            image,
            self.settings.clone(),
            true,
            Now {
                at: now,
                unix_ms: self.unix_ms,
            },
            None,
            RoomRng::from_key(self.rng.key()),
        ) {
            Ok(room) => room,
            Err(error) => {
                // Cannot happen for an image this room committed; close rather than guess.
                warn!(%error, "cannot rebuild the room from storage: closing it");
                self.outgoing = ends;
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
        for ((_, slot), old) in fresh.seats.iter_mut().zip(self.seats.slots()) {
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
        let mut moved = Vec::new();
        for (id, mut c) in conns {
            c.last_you = None;
            if let Role::Seat(seat) = c.role {
                let hash = self.seats.get(seat).and_then(SeatSlot::token_hash);
                let found = hash.and_then(|hash| fresh.seats.of_token(hash));
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
                            moved.push((id, j));
                        }
                        Role::Seat(j)
                    }
                    None => Role::Outsider,
                };
            }
            fresh.conns.insert(id, c);
        }
        if let Phase::Playing(play) = &mut fresh.phase {
            // A bot or timer whose move failed to save tries again in a moment, not at once.
            let retry = now + self.settings.bot_delay.max(Duration::from_secs(1));
            play.bot_at = play.bot_at.map(|at| at.max(retry));
            if let Some(d) = &mut play.turn_deadline {
                d.at = d.at.max(retry);
            }
        }
        fresh.update_clock();
        let request = self.request.take();
        fresh.outgoing = ends;
        for (conn, seat) in moved {
            fresh.send_to(conn, &ServerMessage::Moved { seat });
        }
        *self = fresh;
        self.spectators_shown = self.spectator_count();
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
}
