//! Every timer of the room (idle close, reveal pause, bot move, turn deadline, host hand-over, forfeit) and what happens when one is due.

use super::*;

/// What happens when a seated human has been away long enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AwayTimer {
    HandOverHost(usize),
    Forfeit(usize),
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

    pub(super) fn tick(&mut self, now: Instant) {
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
    pub(super) fn away_deadlines(&self) -> impl Iterator<Item = (Instant, AwayTimer)> + '_ {
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
    pub(super) fn update_clock(&mut self) {
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

    pub(super) fn clock(&self) -> Option<TurnClock> {
        let Stage::Playing(play) = &self.stage else {
            return None;
        };
        play.turn_deadline.map(|d| TurnClock {
            seat: d.seat,
            remaining_ms: d.at.saturating_duration_since(self.now).as_millis() as u32,
            reason: d.reason,
        })
    }

    pub(super) fn schedule_bot(&mut self, now: Instant) {
        let due = match &self.stage {
            Stage::Playing(play) if play.pause.is_none() => self.bot_has_move(play),
            Stage::Lobby | Stage::Playing(_) | Stage::Finished(_) => false,
        };
        if let Stage::Playing(play) = &mut self.stage {
            play.bot_at = due.then(|| now + self.settings.bot_delay);
        }
    }
}
