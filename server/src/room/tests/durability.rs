//! Durable rooms: rebuilt from storage, restore grace, failed writes roll back.

use super::*;

#[test]
fn a_stored_room_is_rebuilt_to_the_same_game() {
    let store = Arc::new(store::MemoryStore::new());
    with_store(store.clone(), || {
        let mut h = Harness::timed(Some(60), 600);
        let host = h.host();
        let (bob, _) = join_with_token(&mut h, "Bob");
        let (carol, _) = join_with_token(&mut h, "Carol");
        let mut clients = [host, bob, carol];
        h.ok(&mut clients[0], Request::Start);
        // Several rounds' worth of moves, so that dice were lost and re-rolled.
        for _ in 0..25 {
            if h.room.room_phase() != RoomPhase::Playing {
                break;
            }
            let client = on_turn(&h, &mut clients);
            h.play_simple(client);
        }
        let image = store.room(h.room.code().as_str()).expect("stored");
        assert_eq!(image.lobby, h.room.lobby_image());
        let rebuilt = Room::restore(
            image,
            h.room.settings.clone(),
            false,
            h.clock(),
            None,
            RoomRng::from_key(TEST_KEY),
        )
        .expect("the image replays");
        assert_eq!(rebuilt.table_view(), h.room.table_view());
        for seat in Seat::all(3) {
            assert_eq!(
                rebuilt.you_view(seat),
                h.room.you_view(seat),
                "seat {seat:?}"
            );
        }
        assert_eq!(rebuilt.seats.host(), h.room.seats.host());
        assert!(
            rebuilt.version() > h.room.version() + 1000,
            "a restored room's version jumps"
        );
        let (a, b) = (rebuilt.play().unwrap(), h.room.play().unwrap());
        assert_eq!(a.stats, b.stats);
        assert_eq!(a.rounds, b.rounds);
        assert_eq!(a.game.history(), b.game.history());
        // The turn limit resumes with the time that was left (to the millisecond clock).
        let (da, db) = (a.turn_deadline.unwrap(), b.turn_deadline.unwrap());
        assert_eq!(da.seat, db.seat);
        // Nobody is connected to the rebuilt room, so its deadline is the away grace; the
        // turn's own limit is what was stored.
        let (la, lb) = (da.limit_at.unwrap(), db.limit_at.unwrap());
        let diff = if la > lb { la - lb } else { lb - la };
        assert!(diff < Duration::from_secs(2), "deadline moved by {diff:?}");
    });
}

/// The reveal pause is not stored: a room restored during one comes back already in the next
/// round (phase Playing, the next round's table with the reveal as its last resolution, every
/// seat's new hand), as docs/PROTOCOL.md says under "Restarts".
#[test]
fn a_room_restored_during_a_reveal_is_already_in_the_next_round() {
    let store = Arc::new(store::MemoryStore::new());
    with_store(store.clone(), || {
        let mut h = Harness::quick();
        let host = h.host();
        let (bob, _) = join_with_token(&mut h, "Bob");
        let (carol, _) = join_with_token(&mut h, "Carol");
        let mut clients = [host, bob, carol];
        h.ok(&mut clients[0], Request::Start);
        // A bid, then a dudo (the simple move once there is a bid): the reveal pause.
        for _ in 0..2 {
            let client = on_turn(&h, &mut clients);
            h.play_simple(client);
        }
        assert_eq!(h.room.room_phase(), RoomPhase::Reveal);
        let image = store.room(h.room.code().as_str()).expect("stored");
        let rebuilt = Room::restore(
            image,
            h.room.settings.clone(),
            false,
            h.clock(),
            None,
            RoomRng::from_key(TEST_KEY),
        )
        .expect("the image replays");
        assert_eq!(rebuilt.room_phase(), RoomPhase::Playing);
        let table = rebuilt.table_view().expect("a table");
        let perudo_core::TableState::Bidding(round) = &table.state else {
            panic!("a round is running: {table:?}")
        };
        assert_eq!(round.round, 1, "the next round");
        assert!(round.bids.is_empty());
        assert_eq!(
            table.last_resolution.as_ref().map(|r| r.round),
            Some(0),
            "the reveal is the table's last resolution"
        );
        // The live room holds the next round back during the pause; its game has rolled it.
        assert_eq!(
            table,
            h.room.play().unwrap().game.spectator_view(),
            "the same game"
        );
        for seat in Seat::all(3) {
            let you = rebuilt.you_view(seat).expect("a seat in the game");
            assert_eq!(
                you.hand.len(),
                usize::from(rebuilt.play().unwrap().game.spectator_view().seats[seat.index()].dice),
                "seat {seat:?} has its new hand"
            );
        }
    });
}

#[test]
fn after_a_restart_away_players_get_the_restore_grace() {
    let store = Arc::new(store::MemoryStore::new());
    with_store(store.clone(), || {
        let mut h = Harness::timed(Some(10), 15);
        let mut host = h.host();
        let (_bob, _) = join_with_token(&mut h, "Bob");
        h.ok(&mut host, Request::Start);
        let image = store.room(h.room.code().as_str()).expect("stored");
        // The server comes back a minute later: the 10 s turn limit ran out meanwhile.
        let later = h.now + Duration::from_secs(60);
        let mut settings = h.room.settings.clone();
        settings.restore_grace = Duration::from_secs(20);
        let limit = image.clock.expect("a turn limit is stored");
        assert!(
            limit.limit_at_ms < h.clock_at(later).unix_ms,
            "the limit is past on the wall clock a minute later"
        );
        let grace = later + settings.restore_grace;
        let room = Room::restore(
            image,
            settings,
            false,
            h.clock_at(later),
            Some(grace),
            RoomRng::from_key(TEST_KEY),
        )
        .expect("replays");
        let Phase::Playing(play) = &room.phase else {
            panic!("still playing")
        };
        let deadline = play.turn_deadline.expect("a deadline");
        assert!(
            deadline.at >= grace,
            "no instant auto-play: {:?}",
            deadline.at - later
        );
        assert!(deadline.at <= grace + Duration::from_secs(10));
        // Nobody is forfeited or replaced as host before the grace either.
        assert!(room.next_deadline().unwrap() >= grace);
    });
}

#[test]
fn a_move_that_cannot_be_saved_changes_nothing_and_can_be_retried() {
    let store = Arc::new(store::MemoryStore::new());
    with_store(store.clone(), || {
        let mut h = Harness::timed(Some(60), 600);
        let host = h.host();
        let (bob, _) = join_with_token(&mut h, "Bob");
        let mut clients = [host, bob];
        h.ok(&mut clients[0], Request::Start);
        for client in clients.iter_mut() {
            client.frames();
        }
        let table = h.room.table_view();
        let views: Vec<_> = Seat::all(2).map(|s| h.room.you_view(s)).collect();
        let history = h.room.play().unwrap().game.history().len();
        let turn_seat = h.turn().unwrap();
        let turn = turn_seat.index();
        let you = h.room.you_view(turn_seat).unwrap();
        let action = simple_move(&you.legal).unwrap();

        store.fail.store(true, std::sync::atomic::Ordering::Relaxed);
        let client = on_turn(&h, &mut clients);
        let frames = h.request(client, Request::Act { action });
        match frames.last() {
            Some(ServerMessage::Rejected { code, .. }) => assert_eq!(*code, RejectCode::Storage),
            other => panic!("expected a Storage rejection, got {other:?}"),
        }
        assert!(
            frames.iter().any(|m| matches!(m, ServerMessage::Snapshot(s) if s.you.as_ref().map(|y| y.seat.index()) == Some(turn))),
            "the player is resynchronised: {frames:?}"
        );
        assert!(
            updates(&frames).iter().all(|u| u.events.is_empty()),
            "no event of the failed move went out"
        );
        assert_eq!(h.room.table_view(), table);
        assert_eq!(h.room.play().unwrap().game.history().len(), history);
        for (s, view) in Seat::all(2).zip(&views) {
            assert_eq!(&h.room.you_view(s), view, "seat {s:?} unchanged");
        }
        // The other player got a snapshot too, and still holds its seat.
        let other = &mut clients[1 - turn];
        assert!(
            other
                .frames()
                .iter()
                .any(|m| matches!(m, ServerMessage::Snapshot(_)))
        );
        assert_eq!(seat_of(&h, other), 1 - turn);

        store
            .fail
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let client = on_turn(&h, &mut clients);
        h.ok(client, Request::Act { action });
        assert_eq!(h.room.play().unwrap().game.history().len(), history + 1);
        assert_eq!(
            store
                .room(h.room.code().as_str())
                .unwrap()
                .game
                .unwrap()
                .moves
                .len(),
            history + 1
        );
    });
}

#[test]
fn a_join_that_cannot_be_saved_leaves_an_outsider() {
    let store = Arc::new(store::MemoryStore::new());
    with_store(store.clone(), || {
        let mut h = Harness::quick();
        let _host = h.host();
        let mut bob = h.connect();
        h.hello(&mut bob);
        store.fail.store(true, std::sync::atomic::Ordering::Relaxed);
        let frames = h.request(&mut bob, Request::Join { name: "Bob".into() });
        assert!(matches!(
            frames.last(),
            Some(ServerMessage::Rejected {
                code: RejectCode::Storage,
                ..
            })
        ));
        assert!(
            !frames
                .iter()
                .any(|m| matches!(m, ServerMessage::Seated { .. })),
            "no token for a seat that was not saved"
        );
        assert_eq!(h.room.seats.len(), 1);
        assert_eq!(h.room.role(bob.conn), Role::Outsider);
        store
            .fail
            .store(false, std::sync::atomic::Ordering::Relaxed);
        h.ok(&mut bob, Request::Join { name: "Bob".into() });
        assert_eq!(h.room.seats.len(), 2);
        assert_eq!(
            store
                .room(h.room.code().as_str())
                .unwrap()
                .lobby
                .seats
                .len(),
            2
        );
    });
}

#[test]
fn a_room_whose_lease_was_lost_tells_its_players_to_reconnect_and_stops_writing() {
    let store = Arc::new(store::MemoryStore::new());
    with_store(store.clone(), || {
        let mut h = Harness::timed(Some(60), 600);
        let host = h.host();
        let (bob, _) = join_with_token(&mut h, "Bob");
        let mut clients = [host, bob];
        h.ok(&mut clients[0], Request::Start);
        for client in clients.iter_mut() {
            client.frames();
        }
        let code = h.room.code().as_str().to_string();
        let stored = store.room(&code).expect("stored");
        let commits = store.commits();
        let turn = h.turn().unwrap();
        let action = simple_move(&h.room.you_view(turn).unwrap().legal).unwrap();

        store
            .fenced
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let client = on_turn(&h, &mut clients);
        let frames = h.request(client, Request::Act { action });
        assert!(
            frames.iter().any(|m| matches!(
                m,
                ServerMessage::Rejected {
                    code: RejectCode::Storage,
                    ..
                }
            )),
            "the request gets its one answer: {frames:?}"
        );
        assert!(
            matches!(
                frames.last(),
                Some(ServerMessage::Closing {
                    reason: CloseReason::ServerRestart
                })
            ),
            "then the client is told to reconnect: {frames:?}"
        );
        assert!(
            updates(&frames).iter().all(|u| u.events.is_empty()),
            "no event of the refused move went out"
        );
        let other = &mut clients[1 - turn.index()];
        assert!(
            other.frames().iter().any(|m| matches!(
                m,
                ServerMessage::Closing {
                    reason: CloseReason::ServerRestart
                }
            )),
            "every member is told to reconnect"
        );
        assert!(h.room.closed, "the room ends on this node");
        // Nothing more is written from here, not even the room's close.
        store
            .fenced
            .store(false, std::sync::atomic::Ordering::Relaxed);
        h.step(Input::Tick);
        assert_eq!(store.commits(), commits);
        assert_eq!(
            store.room(&code),
            Some(stored),
            "the owner's data is untouched"
        );
    });
}

#[test]
fn a_room_told_its_lease_was_lost_stops_at_once_without_writing() {
    let store = Arc::new(store::MemoryStore::new());
    with_store(store.clone(), || {
        let mut h = Harness::timed(Some(60), 600);
        let host = h.host();
        let (bob, _) = join_with_token(&mut h, "Bob");
        let mut clients = [host, bob];
        h.ok(&mut clients[0], Request::Start);
        for client in clients.iter_mut() {
            client.frames();
        }
        let code = h.room.code().as_str().to_string();
        let stored = store.room(&code).expect("stored");
        let commits = store.commits();

        // The node's renewal found another node's epoch: the room is told, between inputs.
        h.step(Input::Lost);
        for client in clients.iter_mut() {
            let frames = client.frames();
            assert!(
                matches!(
                    frames.last(),
                    Some(ServerMessage::Closing {
                        reason: CloseReason::ServerRestart
                    })
                ),
                "every member is told to reconnect: {frames:?}"
            );
            assert!(
                updates(&frames).is_empty(),
                "nothing else is said: {frames:?}"
            );
        }
        assert!(h.room.closed, "the room ends on this node");
        h.step(Input::Tick);
        assert_eq!(store.commits(), commits, "nothing is written");
        assert_eq!(
            store.room(&code),
            Some(stored),
            "the owner's data is untouched"
        );
    });
}
