//! Every timer of the room in one table: idle close, host hand-over, forfeit, the turn
//! deadline (time limit or away), the reveal pause and a bot's move. The run loop sleeps until
//! `Deadlines::next`; `tick` handles what is `due`. Timers are room state, not tasks, so
//! reconnects and broadcasts cannot restart anyone's clock by accident.

use super::*;

/// A timer of the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// Nobody has been connected for `idle_close` (`unplayed_close` before the first game):
    /// the room closes.
    IdleClose,
    /// The host has been away for the disconnect grace and a connected human can take over.
    HandOverHost(Seat),
    /// A player still in a running game has been away for the room's forfeit time.
    Forfeit(Seat),
    /// The turn's deadline (`Play::turn_deadline`): the room plays for the human on turn.
    Turn,
    /// The reveal pause is over: the next round starts.
    RevealPause,
    /// A bot's "thinking" time is over: it moves.
    BotMove,
}

impl Timer {
    /// Timers of the running game, handled one per tick, in this order, after the others.
    fn is_game(self) -> bool {
        matches!(self, Timer::Turn | Timer::RevealPause | Timer::BotMove)
    }
}

/// Most timers a room can have running at once: idle close, a host hand-over and a forfeit
/// per seat, and the turn and a bot's move (or the reveal pause).
const MAX_TIMERS: usize = 1 + 2 * perudo_core::MAX_SEATS as usize + 2;

/// When each of the room's running timers is due. Built on the stack: the run loop asks for
/// it after every input, so it allocates nothing.
#[derive(Debug)]
pub(super) struct Deadlines {
    entries: [Option<(Instant, Timer)>; MAX_TIMERS],
    len: usize,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            entries: [None; MAX_TIMERS],
            len: 0,
        }
    }
}

impl Deadlines {
    fn add(&mut self, at: Option<Instant>, timer: Timer) {
        if let Some(at) = at
            && let Some(slot) = self.entries.get_mut(self.len)
        {
            *slot = Some((at, timer));
            self.len += 1;
        }
    }

    fn iter(&self) -> impl Iterator<Item = (Instant, Timer)> + '_ {
        self.entries[..self.len].iter().flatten().copied()
    }

    /// The earliest moment a timer needs the room.
    pub(super) fn next(&self) -> Option<Instant> {
        self.iter().map(|(at, _)| at).min()
    }

    /// The timers due at `now`, in the order they are handled.
    pub(super) fn due(&self, now: Instant) -> impl Iterator<Item = Timer> + '_ {
        self.iter()
            .filter(move |&(at, _)| at <= now)
            .map(|(_, timer)| timer)
    }
}

/// The running turn's deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TurnDeadline {
    pub(super) seat: Seat,
    pub(super) at: Instant,
    pub(super) reason: AutoPlayReason,
    /// Where the turn time limit ends this turn; kept while the player is away, so that
    /// going away and coming back neither costs nor buys time.
    pub(super) limit_at: Option<Instant>,
}

impl Room {
    /// Every running timer of the room, in the order `tick` handles them.
    pub(super) fn deadlines(&self) -> Deadlines {
        let mut table = Deadlines::default();
        table.add(
            self.empty_since
                .map(|since| since + self.empty_close_after()),
            Timer::IdleClose,
        );
        self.add_away_deadlines(&mut table);
        if let Phase::Playing(play) = &self.phase {
            match &play.pause {
                // During the reveal nothing moves: no bot, no turn clock.
                Some(pause) => table.add(Some(pause.until), Timer::RevealPause),
                None => {
                    table.add(play.turn_deadline.map(|d| d.at), Timer::Turn);
                    table.add(play.bot_at, Timer::BotMove);
                }
            }
        }
        table
    }

    /// How long the room stays open with nobody connected: shorter while no game has started.
    fn empty_close_after(&self) -> Duration {
        if self.games_played == 0 && matches!(self.phase, Phase::Lobby) {
            self.settings.unplayed_close.min(self.settings.idle_close)
        } else {
            self.settings.idle_close
        }
    }

    /// The earliest moment a timer needs the room.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines().next()
    }

    pub(super) fn tick(&mut self, now: Instant) {
        let due: Vec<Timer> = self.deadlines().due(now).collect();
        if due.contains(&Timer::IdleClose) {
            info!("closing: nobody connected");
            self.closed = true;
            return;
        }
        for timer in due {
            match timer {
                Timer::HandOverHost(seat) if self.seats.is_host(seat) => {
                    if let Some(next) = self.seats.next_host(Some(seat))
                        && self.seats[next].is_connected_human()
                    {
                        info!(
                            from = seat.get(),
                            to = next.get(),
                            "host away: handing over"
                        );
                        self.seats.set_host(Some(next));
                        self.broadcast(vec![RoomEvent::HostChanged { seat: Some(next) }]);
                    }
                }
                Timer::Forfeit(seat) => {
                    info!(seat = seat.get(), "away too long: forfeited");
                    self.forfeit_seat(seat, Vec::new(), now);
                }
                Timer::HandOverHost(_)
                | Timer::IdleClose
                | Timer::Turn
                | Timer::RevealPause
                | Timer::BotMove => {}
            }
        }
        // One game timer per tick, against the room as the away timers left it.
        let game_timer = self.deadlines().due(now).find(|t| t.is_game());
        let Phase::Playing(play) = &mut self.phase else {
            return;
        };
        match game_timer {
            Some(Timer::Turn) => {
                if let Some(deadline) = play.turn_deadline.take() {
                    self.auto_play(deadline.seat, deadline.reason, now);
                }
            }
            Some(Timer::RevealPause) => {
                if let Some(pause) = play.pause.take() {
                    self.end_pause(pause, now);
                }
            }
            Some(Timer::BotMove) => {
                play.bot_at = None;
                self.play_bot(now);
            }
            Some(Timer::IdleClose | Timer::HandOverHost(_) | Timer::Forfeit(_)) | None => {}
        }
    }

    /// Timers that run while a seated human is away: handing over the host role after the
    /// grace period, and forfeiting a player still in a running game after the room's time.
    fn add_away_deadlines(&self, table: &mut Deadlines) {
        let playing = match &self.phase {
            Phase::Playing(play) => Some(play.game.dice_counts()),
            Phase::Lobby | Phase::Finished(_) => None,
        };
        let forfeit_after = Duration::from_secs(u64::from(self.options.forfeit_after_secs));
        // After a restart everyone is away at first: wait for them a little longer.
        let at_least = |at: Instant| self.grace_until.map_or(at, |g| at.max(g));
        for (seat, slot) in self.seats.iter() {
            let SeatKind::Human {
                conn: None,
                left: false,
                away_since: Some(since),
                ..
            } = slot.kind
            else {
                continue;
            };
            // Only while someone connected could take over: otherwise the deadline would
            // stay in the past and wake the room in a loop.
            let successor = self
                .seats
                .next_host(Some(seat))
                .is_some_and(|next| self.seats[next].is_connected_human());
            if self.seats.is_host(seat) && successor {
                table.add(
                    Some(at_least(since + self.settings.disconnect_grace)),
                    Timer::HandOverHost(seat),
                );
            }
            let in_game = playing
                .as_ref()
                .is_some_and(|dice| dice.get(seat.index()).is_some_and(|&d| d > 0));
            if in_game {
                table.add(Some(at_least(since + forfeit_after)), Timer::Forfeit(seat));
            }
        }
    }

    /// Sets the turn deadline for the current turn: the turn time limit for a connected
    /// human, the disconnect grace for an away one, none for bots and between rounds. A
    /// deadline for the same seat and reason is kept, so only moves restart the clock.
    pub(super) fn update_clock(&mut self) {
        let now = self.now;
        let limit = self.rules.turn_time_limit_secs;
        let grace = self.settings.disconnect_grace;
        let grace_until = self.grace_until;
        let Phase::Playing(play) = &mut self.phase else {
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
        play.turn_deadline = match self.seats.get(turn).map(|s| &s.kind) {
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

    pub(super) fn clock(&self) -> Option<TurnClock> {
        let Phase::Playing(play) = &self.phase else {
            return None;
        };
        play.turn_deadline.map(|d| TurnClock {
            seat: d.seat,
            remaining_ms: d.at.saturating_duration_since(self.now).as_millis() as u32,
            reason: d.reason,
        })
    }

    pub(super) fn schedule_bot(&mut self, now: Instant) {
        let due = match &self.phase {
            Phase::Playing(play) if play.pause.is_none() => self.bot_has_move(play),
            Phase::Lobby | Phase::Playing(_) | Phase::Finished(_) => false,
        };
        if let Phase::Playing(play) = &mut self.phase {
            play.bot_at = due.then(|| now + self.settings.bot_delay);
        }
    }
}
