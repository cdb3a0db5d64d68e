//! The game's flow: starting a game, moves, bots and stand-ins, the reveal pause, game over.

use super::*;

#[derive(Debug)]
pub(super) struct Pause {
    pub(super) until: Instant,
    /// Events held back until the pause ends (the next `RoundStarted`).
    pub(super) deferred: Vec<Event>,
}

/// A game in a room, running or finished.
#[derive(Debug)]
pub(super) struct Play {
    pub(super) game: Game,
    /// How the game began (its seed among it): what storage replays it from.
    pub(super) start: GameStart,
    pub(super) number: u32,
    pub(super) stats: Vec<SeatStats>,
    /// Seats in the order they went out.
    pub(super) out_order: Vec<Seat>,
    pub(super) rounds: u32,
    pub(super) pause: Option<Pause>,
    pub(super) bot_at: Option<Instant>,
    /// When the room plays for the human on turn, and why. Reset by every move.
    pub(super) turn_deadline: Option<TurnDeadline>,
    /// The public table as the members have it from the updates' events: the game's own
    /// view, except that during a reveal pause the next round is held back.
    pub(super) table: TableView,
}

impl Play {
    /// A game just started (or replayed from `start`), with no statistics yet.
    pub(super) fn new(game: Game, start: GameStart) -> Box<Play> {
        let seats = usize::from(game.seat_count());
        let table = game.spectator_view();
        Box::new(Play {
            table,
            game,
            number: start.number,
            start,
            stats: vec![SeatStats::default(); seats],
            out_order: Vec::new(),
            rounds: 0,
            pause: None,
            bot_at: None,
            turn_deadline: None,
        })
    }
}

/// Where the room is in its life: between games, or a game running or over. The wire's
/// `RoomPhase` (`Room::room_phase`) is this, with the reveal pause told apart.
#[derive(Debug)]
pub(super) enum Phase {
    Lobby,
    Playing(Box<Play>),
    Finished(Box<Play>),
}

impl Room {
    /// The room plays the turn of a human who ran out of time or is away.
    pub(super) fn auto_play(&mut self, seat: Seat, reason: AutoPlayReason, now: Instant) {
        let Phase::Playing(play) = &mut self.phase else {
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
                    now,
                );
            }
            Err(error) => warn!(seat = seat.get(), %error, "stand-in chose an illegal move"),
        }
    }

    /// Takes `seat` out of the running game (its dice leave, the round is re-rolled) and
    /// hands the host role on if it was the host's.
    pub(super) fn forfeit_seat(&mut self, seat: Seat, mut extra: Vec<RoomEvent>, now: Instant) {
        let Phase::Playing(play) = &mut self.phase else {
            return;
        };
        let in_game = play
            .game
            .dice_counts()
            .get(seat.index())
            .is_some_and(|&d| d > 0);
        let events = if in_game {
            play.game.forfeit(seat).unwrap_or_default()
        } else {
            Vec::new()
        };
        if self.seats.is_host(seat) {
            let next = self.seats.next_host(Some(seat));
            self.seats.set_host(next);
            extra.push(RoomEvent::HostChanged { seat: next });
        }
        // The room changed too: the seat is no longer connected, perhaps no longer host.
        self.after_game_events(events, extra, now);
    }

    pub(super) fn start_game(&mut self, now: Instant) -> Result<(), Rejection> {
        // Players who left for good do not sit in the next game. Check first, so that a
        // refused start changes nothing.
        let seats = self.seats.staying();
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
            .check_seats(seats)
            .map_err(|e| Rejection::new(RejectCode::InvalidRules, e.to_string()))?;
        let mut room_events = Vec::new();
        while let Some(seat) = self.first_left_seat() {
            room_events.push(self.take_out_seat(seat));
        }
        debug_assert_eq!(seats, self.seats.count());
        // Time away in the lobby does not count towards forfeiting this game.
        for (_, slot) in self.seats.iter_mut() {
            if let SeatKind::Human {
                away_since: Some(since),
                ..
            } = &mut slot.kind
            {
                *since = now;
            }
        }
        let seed = self.rng.game_seed();
        let (game, events) = Game::start(self.rules.clone(), seats, seed)
            .map_err(|e| Rejection::new(RejectCode::InvalidRules, e.to_string()))?;
        let number = self.games_played + 1;
        info!(game = number, seats, "game started");
        let start = GameStart {
            number,
            config: self.rules.config().clone(),
            names: self.seats.names(),
            seed: seed.to_hex(),
            started_ms: self.unix_ms,
        };
        self.phase = Phase::Playing(Play::new(game, start));
        for c in self.conns.values_mut() {
            c.last_you = None;
        }
        room_events.push(RoomEvent::GameStarted { game: number });
        self.after_game_events(events, room_events, now);
        Ok(())
    }

    pub(super) fn act(
        &mut self,
        seat: Seat,
        action: Action,
        now: Instant,
    ) -> Result<(), Rejection> {
        let Phase::Playing(play) = &mut self.phase else {
            return Err(Rejection::new(RejectCode::WrongPhase, "no game is running"));
        };
        if play.pause.is_some() {
            return Err(Rejection::new(
                RejectCode::RoundPaused,
                "the next round has not started yet",
            ));
        }
        let events = play.game.apply(seat, action).map_err(|error| Rejection {
            code: RejectCode::Rule,
            message: error.to_string(),
            detail: Some(RejectDetail::Rule { error }),
        })?;
        self.after_game_events(events, Vec::new(), now);
        Ok(())
    }

    pub(super) fn play_bot(&mut self, now: Instant) {
        let Phase::Playing(play) = &mut self.phase else {
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
            }) = self.seats.get_mut(seat)
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
            Ok(events) => self.after_game_events(events, Vec::new(), now),
            Err(error) => warn!(seat = seat.get(), %error, "bot chose an illegal move"),
        }
    }

    /// The first seat of a player who left for good.
    fn first_left_seat(&self) -> Option<Seat> {
        self.seats
            .iter()
            .find(|(_, s)| s.has_left())
            .map(|(seat, _)| seat)
    }

    /// Whether a bot has something to do now.
    pub(super) fn bot_has_move(&self, play: &Play) -> bool {
        let Some(turn) = play.game.turn() else {
            return false;
        };
        self.seats.iter().any(|(seat, slot)| {
            slot.is_bot() && (seat == turn || play.game.is_legal(seat, &Action::DeclarePalifico))
        })
    }

    pub(super) fn record_stats(play: &mut Play, events: &[Event]) {
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
    /// pause, finishes the game, and schedules bots.
    pub(super) fn after_game_events(
        &mut self,
        events: Vec<Event>,
        extra: Vec<RoomEvent>,
        now: Instant,
    ) {
        let Phase::Playing(play) = &mut self.phase else {
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
                self.broadcast(room_events);
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
                names: self.seats.names(),
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
            self.results = Some(Arc::new(results));
            let Phase::Playing(play) = std::mem::replace(&mut self.phase, Phase::Lobby) else {
                unreachable!("matched above")
            };
            self.phase = Phase::Finished(play);
            self.broadcast(room_events);
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
            self.broadcast(room_events);
            return;
        }
        room_events.extend(events.into_iter().map(|event| RoomEvent::Game { event }));
        self.broadcast(room_events);
        self.schedule_bot(now);
    }

    pub(super) fn end_pause(&mut self, pause: Pause, now: Instant) {
        let events = pause
            .deferred
            .into_iter()
            .map(|event| RoomEvent::Game { event })
            .collect();
        self.broadcast(events);
        self.schedule_bot(now);
    }
}
