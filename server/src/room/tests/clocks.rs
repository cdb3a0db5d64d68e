//! Clocks: turn limits, away players, forfeits, host hand-over, idle close.

use super::*;

room_test! {
    fn a_room_nobody_is_in_closes_after_the_idle_time() {
        let mut h = Harness::new(RoomSettings {
            idle_close: Duration::from_secs(60),
            ..RoomSettings::default()
        });
        let host = h.host();
        assert_eq!(h.room.next_deadline(), None);
        h.room
            .handle_event(Input::Disconnect { conn: host.conn }, h.clock());
        assert_eq!(
            h.room.next_deadline(),
            Some(h.now + Duration::from_secs(60))
        );
        h.fire_timer();
        assert!(h.room.is_closed());
    }
}

room_test! {
    fn the_turn_time_limit_auto_plays_and_the_game_moves_on() {
        let mut h = Harness::timed(Some(10), 120);
        let mut host = h.host();
        let mut bob = h.player("Bob");
        let frames = h.ok(&mut host, Request::Start);
        let turn = h.turn().unwrap();
        // Every update of the running game carries the clock of the turn.
        let last = updates(&frames).pop().unwrap();
        assert_eq!(
            last.clock,
            Some(TurnClock {
                seat: turn,
                remaining_ms: 10_000,
                reason: AutoPlayReason::TimeLimit
            })
        );
        assert_eq!(
            h.room.next_deadline(),
            Some(h.now + Duration::from_secs(10))
        );
        bob.frames();
        // An emote 3 s later shows the same clock, 3 s further on: only moves restart it.
        h.advance(Duration::from_secs(3));
        let frames = h.ok(&mut host, Request::Emote { emote: Emote::Fire });
        let clock = updates(&frames).pop().unwrap().clock.unwrap();
        assert_eq!((clock.seat, clock.remaining_ms), (turn, 7_000));
        // A newcomer's snapshot has the clock too.
        let mut watcher = h.connect();
        h.hello(&mut watcher);
        let frames = h.ok(&mut watcher, Request::Spectate);
        match frames
            .iter()
            .find(|m| matches!(m, ServerMessage::Snapshot(_)))
        {
            Some(ServerMessage::Snapshot(s)) => {
                assert_eq!(
                    s.clock.map(|c| (c.seat, c.remaining_ms)),
                    Some((turn, 7_000))
                );
            }
            other => panic!("{other:?}"),
        }
        // Nothing happens a moment before the deadline.
        h.advance(Duration::from_millis(6_999));
        h.tick();
        assert_eq!(h.turn(), Some(turn));
        h.advance(Duration::from_millis(1));
        h.tick();
        let seen = watcher.frames();
        let auto = auto_played(&seen);
        assert_eq!(auto.len(), 1, "{seen:?}");
        assert_eq!((auto[0].0, auto[0].2), (turn, AutoPlayReason::TimeLimit));
        assert!(matches!(auto[0].1, Action::Bid(_)), "an opening is a bid");
        let next = h.turn().unwrap();
        assert_ne!(next, turn, "the game moved on");
        let clock = updates(&seen).pop().unwrap().clock.unwrap();
        assert_eq!(
            clock,
            TurnClock {
                seat: next,
                remaining_ms: 10_000,
                reason: AutoPlayReason::TimeLimit
            }
        );
        // The other player moves in time; the clock restarts for the first one.
        let mover = if seat_of(&h, &host) == next.index() {
            &mut host
        } else {
            &mut bob
        };
        h.advance(Duration::from_secs(4));
        mover.frames();
        let frames = h.play_simple(mover);
        assert!(auto_played(&frames).is_empty());
        if h.room.room_phase() == RoomPhase::Playing {
            let clock = updates(&frames).pop().unwrap().clock.unwrap();
            assert_eq!(clock.remaining_ms, 10_000);
            assert_eq!(Some(clock.seat), h.turn());
        }
    }
}

room_test! {
    fn a_disconnected_player_on_turn_is_auto_played_after_the_grace() {
        let mut h = Harness::timed(None, 120);
        let mut host = h.host();
        let bob = h.player("Bob");
        h.ok(&mut host, Request::Start);
        // No turn limit: a connected player has all the time in the world.
        assert_eq!(h.room.next_deadline(), None);
        let turn = h.turn().unwrap();
        let (away, mut stays) = if turn.index() == 0 {
            (host, bob)
        } else {
            (bob, host)
        };
        stays.frames();
        h.disconnect(&away);
        let frames = stays.frames();
        let last = updates(&frames).pop().unwrap();
        assert_eq!(last.events, vec![RoomEvent::Disconnected { seat: turn }]);
        assert_eq!(
            last.clock,
            Some(TurnClock {
                seat: turn,
                remaining_ms: 5_000,
                reason: AutoPlayReason::Away
            })
        );
        let seats = &stays.mirror.room().unwrap().seats;
        assert_eq!(
            seats[turn.index()].occupant,
            Occupant::Human { connected: false }
        );
        h.advance(Duration::from_millis(4_999));
        h.tick();
        assert_eq!(h.turn(), Some(turn));
        h.advance(Duration::from_millis(1));
        h.tick();
        let frames = stays.frames();
        let auto = auto_played(&frames);
        assert_eq!(auto.len(), 1, "{frames:?}");
        assert_eq!((auto[0].0, auto[0].2), (turn, AutoPlayReason::Away));
        // Whenever the turn comes back, the away seat is played again after the grace.
        let mut autos = 1;
        while autos < 3 && h.room.room_phase() == RoomPhase::Playing {
            if h.turn() == Some(turn) {
                let at = h.now;
                assert!(h.fire_timer());
                assert_eq!(h.now, at + Duration::from_secs(5));
                let frames = stays.frames();
                let auto = auto_played(&frames);
                assert_eq!(auto.len(), 1);
                assert_eq!(auto[0].2, AutoPlayReason::Away);
                autos += 1;
            } else {
                h.play_simple(&mut stays);
            }
        }
    }
}

room_test! {
    fn a_player_away_too_long_forfeits_and_the_others_finish() {
        let mut h = Harness::timed(None, 15);
        let mut host = h.host();
        let (bob, bob_token) = join_with_token(&mut h, "Bob");
        let mut cid = h.player("Cid");
        h.ok(&mut host, Request::Start);
        let gone_at = h.now;
        h.disconnect(&bob);
        let mut forfeited = false;
        let mut steps = 0;
        while h.room.room_phase() != RoomPhase::Finished {
            steps += 1;
            assert!(steps < 10_000, "the game did not finish");
            match h.turn() {
                Some(t) if t.index() == 0 => {
                    h.play_simple(&mut host);
                }
                Some(t) if t.index() == 2 => {
                    h.play_simple(&mut cid);
                }
                _ => {
                    assert!(h.fire_timer(), "waiting on the away seat needs a timer");
                }
            }
            let events = room_events(&host.frames());
            if events.contains(&RoomEvent::Game {
                event: Event::Forfeited {
                    seat: Seat::new(1).unwrap(),
                },
            }) {
                assert!(!forfeited, "forfeited once");
                forfeited = true;
                assert_eq!(h.now, gone_at + Duration::from_secs(15));
            }
            cid.frames();
        }
        assert!(forfeited, "bob never forfeited");
        let results = h.room.results.clone().unwrap();
        assert_ne!(results.winner.index(), 1);
        assert_eq!(h.room.play().unwrap().game.dice_counts()[1], 0);
        // After the game no timer is left for the away player.
        assert_eq!(h.room.next_deadline(), None);
        // He can still come back to his seat between games.
        let mut back = h.connect();
        h.hello(&mut back);
        h.ok(&mut back, Request::Claim { token: bob_token });
        assert_eq!(
            room_events(&host.frames()),
            vec![RoomEvent::Reconnected {
                seat: Seat::new(1).unwrap()
            }]
        );
    }
}

room_test! {
    fn coming_back_before_the_forfeit_takes_the_seat_back() {
        let mut h = Harness::timed(None, 15);
        let mut host = h.host();
        let (bob, token) = join_with_token(&mut h, "Bob");
        h.ok(&mut host, Request::Start);
        // Bob should be on turn when he goes.
        if h.turn() != Some(Seat::new(1).unwrap()) {
            h.play_simple(&mut host);
        }
        assert_eq!(h.turn(), Some(Seat::new(1).unwrap()));
        let hand = h.room.you_view(seat(1)).unwrap().hand;
        h.disconnect(&bob);
        assert_eq!(h.room.next_deadline(), Some(h.now + Duration::from_secs(5)));
        h.advance(Duration::from_secs(3));
        host.frames();
        let mut back = h.connect();
        h.hello(&mut back);
        let frames = h.ok(
            &mut back,
            Request::Claim {
                token: token.clone(),
            },
        );
        assert_eq!(latest_you(&frames).unwrap().hand, hand);
        let events = room_events(&host.frames());
        assert_eq!(
            events,
            vec![RoomEvent::Reconnected {
                seat: Seat::new(1).unwrap()
            }]
        );
        // No clock any more: no auto-play, no forfeit, however long Bob thinks.
        assert_eq!(h.room.next_deadline(), None);
        h.advance(Duration::from_secs(600));
        h.tick();
        assert_eq!(h.turn(), Some(Seat::new(1).unwrap()));
        assert!(room_events(&host.frames()).is_empty());
        assert_eq!(h.room.play().unwrap().game.dice_counts()[1], 5);
        h.play_simple(&mut back);
    }
}

room_test! {
    fn a_disconnected_host_is_replaced_by_the_next_connected_human_after_the_grace() {
        let mut h = Harness::timed(None, 120);
        let host = h.host();
        let bob = h.player("Bob");
        let mut cid = h.player("Cid");
        h.disconnect(&bob);
        // Bob is away without a timer: he is not the host.
        assert_eq!(h.room.next_deadline(), None);
        h.disconnect(&host);
        assert_eq!(h.room.next_deadline(), Some(h.now + Duration::from_secs(5)));
        cid.frames();
        h.advance(Duration::from_millis(4_999));
        h.tick();
        assert_eq!(h.room.seats.host(), Some(seat(0)));
        h.advance(Duration::from_millis(1));
        h.tick();
        assert_eq!(
            h.room.seats.host(),
            Some(seat(2)),
            "Bob is away too: Cid is next"
        );
        let frames = cid.frames();
        assert_eq!(
            room_events(&frames),
            vec![RoomEvent::HostChanged {
                seat: Some(Seat::new(2).unwrap())
            }]
        );
        assert_eq!(h.room.next_deadline(), None);
        // The new host can start the game.
        h.ok(&mut cid, Request::Start);
    }
}

room_test! {
    fn a_disconnected_host_with_nobody_to_take_over_stays_host() {
        let mut h = Harness::timed(None, 120);
        let host = h.host();
        let mut outsider = h.connect();
        h.hello(&mut outsider);
        h.disconnect(&host);
        h.advance(Duration::from_secs(6));
        h.tick();
        assert_eq!(h.room.seats.host(), Some(seat(0)));
        // No deadline is left in the past, which would wake the room in a loop.
        assert!(h.room.next_deadline().is_none_or(|at| at > h.now));
    }
}

room_test! {
    fn coming_back_on_turn_restores_the_turn_limit_deadline() {
        let mut h = Harness::timed(Some(30), 120);
        let mut host = h.host();
        let (bob, bob_token) = join_with_token(&mut h, "Bob");
        h.ok(&mut host, Request::Start);
        let turn = h.turn().unwrap();
        let (away, token) = if turn.index() == 0 {
            (host, HOST_TOKEN.to_string())
        } else {
            (bob, bob_token)
        };
        let deadline = |h: &Harness| match &h.room.phase {
            Phase::Playing(play) => play.turn_deadline.map(|d| (d.at, d.reason)),
            Phase::Lobby | Phase::Finished(_) => None,
        };
        let start = h.now;
        assert_eq!(
            deadline(&h),
            Some((start + Duration::from_secs(30), AutoPlayReason::TimeLimit))
        );
        h.advance(Duration::from_secs(10));
        h.disconnect(&away);
        assert_eq!(
            deadline(&h),
            Some((start + Duration::from_secs(15), AutoPlayReason::Away)),
            "the grace"
        );
        h.advance(Duration::from_secs(2));
        let mut back = h.connect();
        h.hello(&mut back);
        h.ok(&mut back, Request::Claim { token });
        // Back in time: the turn's own 30 s deadline again, neither shorter nor longer.
        assert_eq!(
            deadline(&h),
            Some((start + Duration::from_secs(30), AutoPlayReason::TimeLimit))
        );
    }
}

room_test! {
    fn time_away_in_the_lobby_does_not_count_towards_a_forfeit() {
        let mut h = Harness::timed(None, 15);
        let mut host = h.host();
        let bob = h.player("Bob");
        let _cid = h.player("Cid");
        h.disconnect(&bob);
        h.advance(Duration::from_secs(60));
        h.ok(&mut host, Request::Start);
        let bob_dice = |h: &Harness| match &h.room.phase {
            Phase::Playing(play) | Phase::Finished(play) => play.game.dice_counts()[1],
            Phase::Lobby => 0,
        };
        assert_eq!(bob_dice(&h), 5, "not forfeited at the start");
        h.advance(Duration::from_secs(14));
        h.tick();
        assert_eq!(bob_dice(&h), 5);
        h.advance(Duration::from_secs(1));
        h.tick();
        assert_eq!(bob_dice(&h), 0, "forfeited 15 s into the game");
    }
}
