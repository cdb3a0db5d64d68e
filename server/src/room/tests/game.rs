//! Playing: whole games with humans and bots, rule rejections, hidden hands, leaving mid-game.

use super::*;

room_test! {
    fn a_full_game_with_humans_and_bots_runs_to_results() {
        let mut h = Harness::quick();
        let mut host = h.host();
        let mut bob = h.player("Bob");
        h.ok(
            &mut host,
            Request::AddBot {
                level: BotLevel::Hard,
            },
        );
        h.ok(&mut host, Request::Start);
        let mut steps = 0;
        let mut saw_pause_rejection = false;
        while h.room.room_phase() != RoomPhase::Finished {
            steps += 1;
            assert!(steps < 10_000, "the game did not finish");
            let mut acted = false;
            for client in [&mut host, &mut bob] {
                let frames = client.frames();
                let _ = frames;
                let Role::Seat(seat) = h.room.role(client.conn) else {
                    continue;
                };
                let Some(you) = h.room.you_view(seat) else {
                    continue;
                };
                if h.room.room_phase() == RoomPhase::Reveal {
                    if !saw_pause_rejection {
                        let code = h.rejected(
                            client,
                            Request::Act {
                                action: Action::Dudo,
                            },
                        );
                        assert_eq!(code, RejectCode::RoundPaused);
                        saw_pause_rejection = true;
                    }
                    continue;
                }
                if let Some(action) = simple_move(&you.legal) {
                    h.ok(client, Request::Act { action });
                    acted = true;
                    break;
                }
            }
            if !acted {
                assert!(h.fire_timer(), "nothing to do and no timer: the room hangs");
            }
        }
        assert!(saw_pause_rejection, "the reveal pause was never observed");
        let results = h.room.results.clone().expect("results after the game");
        assert_eq!(results.placings.len(), 3);
        assert_eq!(results.placings[0], results.winner);
        let seed = perudo_core::Seed::from_hex(&results.seed).unwrap();
        assert_eq!(seed.commitment().to_hex(), results.commitment);
        // A rematch with the same seats and a fresh seed.
        h.ok(&mut host, Request::Start);
        assert_eq!(h.room.room_phase(), RoomPhase::Playing);
        let play = h.room.play().unwrap();
        assert_ne!(play.game.commitment().to_hex(), results.commitment);
    }
}

room_test! {
    fn a_bid_too_low_is_rejected_with_the_minimum_raise() {
        let mut h = Harness::new(RoomSettings {
            reveal_pause: Duration::ZERO,
            bot_delay: Duration::ZERO,
            ..RoomSettings::default()
        });
        let mut host = h.host();
        let mut bob = h.player("Bob");
        h.ok(&mut host, Request::Start);
        let turn = h.room.play().unwrap().game.turn().unwrap();
        let (first, second) = if turn.index() == 0 {
            (&mut host, &mut bob)
        } else {
            (&mut bob, &mut host)
        };
        let bid = |q, f| {
            Action::Bid(Bid {
                quantity: Quantity::new(q).unwrap(),
                face: Face::new(f).unwrap(),
            })
        };
        assert_eq!(
            h.rejected(second, Request::Act { action: bid(1, 2) }),
            RejectCode::Rule
        );
        h.ok(first, Request::Act { action: bid(3, 4) });
        let frames = h.request(second, Request::Act { action: bid(2, 5) });
        match frames.last() {
            Some(ServerMessage::Rejected {
                code: RejectCode::Rule,
                detail:
                    Some(RejectDetail::Rule {
                        error: perudo_core::RuleError::BidTooLow { minimum, .. },
                    }),
                ..
            }) => assert_eq!(*minimum, 3),
            other => panic!("{other:?}"),
        }
    }
}

room_test! {
    fn privates_carry_only_the_receivers_hand_and_spectators_get_none() {
        let mut h = Harness::quick();
        let mut host = h.host();
        let mut bob = h.player("Bob");
        let mut watcher = h.connect();
        h.hello(&mut watcher);
        h.ok(&mut watcher, Request::Spectate);
        let host_frames = h.ok(&mut host, Request::Start);
        let you = latest_you(&host_frames).expect("the host got its view");
        assert_eq!(you.seat.index(), 0);
        assert_eq!(
            &you.hand,
            h.room.play().unwrap().game.hand(you.seat).unwrap()
        );
        let bob_you = latest_you(&bob.frames()).unwrap();
        assert_eq!(bob_you.seat.index(), 1);
        let watched = watcher.frames();
        assert!(latest_you(&watched).is_none());
        assert!(!game_events(&watched).is_empty());
    }
}

room_test! {
    fn leaving_mid_game_forfeits_and_hands_over_the_host_role() {
        let mut h = Harness::quick();
        let mut host = h.host();
        let _bob = h.player("Bob");
        let _cid = h.player("Cid");
        h.ok(&mut host, Request::Start);
        h.ok(&mut host, Request::Leave);
        let play = h.room.play().unwrap();
        assert_eq!(play.game.dice_counts()[0], 0);
        assert_eq!(h.room.seats.host(), Some(seat(1)));
        assert!(!play.game.is_over());
    }
}
