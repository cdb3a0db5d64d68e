//! Staying in the game: slow connections, drops, resume from the history or a snapshot.

use super::*;

room_test! {
    fn a_slow_connection_is_dropped_without_stalling_the_room() {
        let mut h = Harness::quick();
        let mut host = h.host();
        let mut slow = h.connect_with_capacity(4);
        h.hello(&mut slow);
        h.ok(&mut slow, Request::Spectate);
        // The spectator never reads; the host keeps changing things.
        for level in [
            BotLevel::Easy,
            BotLevel::Normal,
            BotLevel::Hard,
            BotLevel::Easy,
        ] {
            h.ok(&mut host, Request::AddBot { level });
            h.ok(
                &mut host,
                Request::Kick {
                    seat: Seat::new(1).unwrap(),
                },
            );
        }
        assert!(slow.close.is_cancelled(), "the slow reader was cut off");
        assert!(!h.room.conns.contains_key(&slow.conn));
        h.ok(
            &mut host,
            Request::AddBot {
                level: BotLevel::Easy,
            },
        );
    }
}

room_test! {
    fn a_player_dropped_for_not_reading_is_announced_and_waited_for() {
        let mut h = Harness::timed(None, 120);
        let mut host = h.host();
        let mut slow = h.connect_with_capacity(8);
        h.hello(&mut slow);
        h.ok(
            &mut slow,
            Request::Join {
                name: "Slow".into(),
            },
        );
        slow.frames();
        // The slow player stops reading; the host keeps the room busy until its outbox is full.
        // (The announcement comes after the ack: the emote did not cause it.)
        let mut seen = Vec::new();
        for _ in 0..12 {
            seen.extend(h.request(&mut host, Request::Emote { emote: Emote::Clap }));
            h.advance(Duration::from_secs(5));
        }
        assert!(slow.close.is_cancelled(), "the slow reader was cut off");
        let events = room_events(&seen);
        assert!(
            events.contains(&RoomEvent::Disconnected {
                seat: Seat::new(1).unwrap()
            }),
            "{events:?}"
        );
        assert!(matches!(
            h.room.seats[seat(1)].kind,
            SeatKind::Human {
                conn: None,
                away_since: Some(_),
                ..
            }
        ));
    }
}

room_test! {
    fn resume_within_the_history_sends_exactly_the_missed_updates() {
        let mut h = Harness::timed(None, 3600);
        let mut host = h.host();
        let (mut bob, token) = join_with_token(&mut h, "Bob");
        h.ok(&mut host, Request::Start);
        let hand = latest_you(&bob.frames()).unwrap().hand;
        let seen = h.room.version();
        h.disconnect(&bob);
        emotes(&mut h, &mut host, 10);
        let mut back = h.connect();
        h.hello(&mut back);
        let frames = h.ok(
            &mut back,
            Request::Resume {
                token: Some(token.clone()),
                last_version: seen,
            },
        );
        let now = h.room.version();
        let token2 = token;
        // Seated, the missed updates in order (the Disconnected one, the emotes, his own
        // return), his private view, the ack.
        assert!(matches!(frames[0], ServerMessage::Seated { seat, .. } if seat.index() == 1));
        let got: Vec<RoomVersion> = updates(&frames).iter().map(|u| u.version).collect();
        assert_eq!(got, ((seen + 1)..=now).collect::<Vec<_>>());
        assert_eq!(frames.len(), 1 + got.len() + 1, "{frames:?}");
        assert!(
            !frames
                .iter()
                .any(|m| matches!(m, ServerMessage::Snapshot(_)))
        );
        // The seat's own view rides in the last update it missed.
        match &frames[frames.len() - 2] {
            ServerMessage::Update(u) => {
                assert_eq!(u.version, now);
                assert_eq!(u.you.as_ref().map(|you| &you.hand), Some(&hand));
            }
            other => panic!("{other:?}"),
        }
        let events = room_events(&frames);
        assert_eq!(
            events.first(),
            Some(&RoomEvent::Disconnected {
                seat: Seat::new(1).unwrap()
            })
        );
        assert_eq!(
            events.last(),
            Some(&RoomEvent::Reconnected {
                seat: Seat::new(1).unwrap()
            })
        );
        // Up to date already, from yet another socket: that one replaces the last, so no
        // Reconnected; one update (the room view) and the private view.
        let mut third = h.connect();
        h.hello(&mut third);
        let frames = h.ok(
            &mut third,
            Request::Resume {
                token: Some(token2.clone()),
                last_version: now,
            },
        );
        assert!(back.frames().iter().any(|m| matches!(
            m,
            ServerMessage::Closing {
                reason: CloseReason::Replaced
            }
        )));
        let got: Vec<RoomVersion> = updates(&frames).iter().map(|u| u.version).collect();
        assert_eq!(got, vec![now + 1]);
        assert!(room_events(&frames).is_empty());
        assert_eq!(latest_you(&frames).unwrap().hand, hand);
        assert!(
            !frames
                .iter()
                .any(|m| matches!(m, ServerMessage::Snapshot(_)))
        );
    }
}

room_test! {
    fn resume_after_the_history_gets_a_snapshot_with_the_same_hand() {
        let mut h = Harness::timed(Some(60), 3600);
        let mut host = h.host();
        let (mut bob, token) = join_with_token(&mut h, "Bob");
        h.ok(&mut host, Request::Start);
        let hand = latest_you(&bob.frames()).unwrap().hand;
        let seen = h.room.version();
        h.disconnect(&bob);
        // One update too many for the history (the return is one more).
        emotes(&mut h, &mut host, HISTORY_CAPACITY - 1);
        let mut back = h.connect();
        h.hello(&mut back);
        let frames = h.ok(
            &mut back,
            Request::Resume {
                token: Some(token.clone()),
                last_version: seen,
            },
        );
        assert_eq!(h.room.version(), seen + 1 + HISTORY_CAPACITY as u64);
        assert_eq!(frames.len(), 3, "Seated, Snapshot, Ack: {frames:?}");
        match &frames[1] {
            ServerMessage::Snapshot(s) => {
                assert_eq!(s.version, h.room.version());
                assert_eq!(s.you.as_ref().unwrap().hand, hand);
                assert!(s.clock.is_some(), "a game with a turn limit has a clock");
            }
            other => panic!("{other:?}"),
        }
        // A version from the future (another room's, say) gets a snapshot too.
        let mut again = h.connect();
        h.hello(&mut again);
        let frames = h.ok(
            &mut again,
            Request::Resume {
                token: Some(token),
                last_version: h.room.version() + 5,
            },
        );
        assert!(
            frames
                .iter()
                .any(|m| matches!(m, ServerMessage::Snapshot(_)))
        );
        assert!(updates(&frames).is_empty());
    }
}

room_test! {
    fn a_spectator_resumes_without_a_token() {
        let mut h = Harness::timed(None, 3600);
        let mut host = h.host();
        let _bob = h.player("Bob");
        h.ok(&mut host, Request::Start);
        let mut watcher = h.connect();
        h.hello(&mut watcher);
        h.ok(&mut watcher, Request::Spectate);
        let seen = h.room.version();
        h.disconnect(&watcher);
        emotes(&mut h, &mut host, 5);
        let mut back = h.connect();
        h.hello(&mut back);
        let frames = h.ok(
            &mut back,
            Request::Resume {
                token: None,
                last_version: seen,
            },
        );
        let now = h.room.version();
        let got: Vec<RoomVersion> = updates(&frames).iter().map(|u| u.version).collect();
        // The watcher leaving, five emotes, the watcher back: each exactly once.
        assert_eq!(got, ((seen + 1)..=now).collect::<Vec<_>>());
        assert_eq!(got.len(), 7);
        assert_eq!(
            frames.len(),
            got.len() + 1,
            "updates then the ack: {frames:?}"
        );
        assert_eq!(h.room.role(back.conn), Role::Spectator);
        // Too far behind: a snapshot without a private view.
        h.disconnect(&back);
        let seen = h.room.version();
        emotes(&mut h, &mut host, HISTORY_CAPACITY + 1);
        let mut late = h.connect();
        h.hello(&mut late);
        let frames = h.ok(
            &mut late,
            Request::Resume {
                token: None,
                last_version: seen,
            },
        );
        assert_eq!(frames.len(), 2, "{frames:?}");
        match &frames[0] {
            ServerMessage::Snapshot(s) => {
                assert!(s.you.is_none());
                assert!(s.table.is_some());
            }
            other => panic!("{other:?}"),
        }
    }
}
