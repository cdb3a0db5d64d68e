//! The lobby: hello, joining, names, seats, kicks, claims, options, emotes.

use super::*;

room_test! {
    fn hello_comes_first_and_checks_the_version() {
        let mut h = Harness::quick();
        let mut c = h.connect();
        assert_eq!(
            h.rejected(&mut c, Request::Spectate),
            RejectCode::HelloFirst
        );
        let frames = h.request(&mut c, Request::Hello { version: 999 });
        match frames.last() {
            Some(ServerMessage::Rejected {
                code: RejectCode::VersionMismatch,
                detail: Some(RejectDetail::Versions { supported }),
                ..
            }) => assert_eq!(supported, &vec![PROTOCOL_VERSION]),
            other => panic!("{other:?}"),
        }
        h.hello(&mut c);
        assert_eq!(
            h.rejected(
                &mut c,
                Request::Hello {
                    version: PROTOCOL_VERSION
                }
            ),
            RejectCode::AlreadyGreeted
        );
    }
}

room_test! {
    fn outsiders_receive_nothing_about_the_room() {
        let mut h = Harness::quick();
        let mut outsider = h.connect();
        h.hello(&mut outsider);
        let mut host = h.host();
        let _bob = h.player("Bob");
        h.ok(&mut host, Request::Start);
        while h.fire_timer() && h.room.room_phase() != RoomPhase::Finished {}
        assert!(outsider.frames().is_empty(), "an outsider got frames");
    }
}

room_test! {
    fn lobby_join_names_and_capacity() {
        let mut h = Harness::quick();
        let mut host = h.host();
        let mut bob = h.player("Bob");
        let mut dup = h.connect();
        h.hello(&mut dup);
        assert_eq!(
            h.rejected(
                &mut dup,
                Request::Join {
                    name: " bob ".into()
                }
            ),
            RejectCode::NameTaken
        );
        assert_eq!(
            h.rejected(
                &mut dup,
                Request::Join {
                    name: "a\u{7}b".into()
                }
            ),
            RejectCode::NameInvalid
        );
        assert_eq!(
            h.rejected(
                &mut dup,
                Request::Join {
                    name: "x".repeat(25)
                }
            ),
            RejectCode::NameInvalid
        );
        assert_eq!(h.rejected(&mut bob, Request::Start), RejectCode::NotHost);
        assert_eq!(
            h.rejected(
                &mut bob,
                Request::Join {
                    name: "Again".into()
                }
            ),
            RejectCode::AlreadyJoined
        );
        for _ in 0..4 {
            h.ok(
                &mut host,
                Request::AddBot {
                    level: BotLevel::Easy,
                },
            );
        }
        assert_eq!(
            h.rejected(
                &mut dup,
                Request::Join {
                    name: "Late".into()
                }
            ),
            RejectCode::RoomFull
        );
        assert_eq!(
            h.rejected(
                &mut host,
                Request::AddBot {
                    level: BotLevel::Hard
                }
            ),
            RejectCode::RoomFull
        );
    }
}

room_test! {
    fn kicking_renumbers_seats_and_closes_the_kicked_socket() {
        let mut h = Harness::quick();
        let mut host = h.host();
        let mut bob = h.player("Bob");
        let mut cid = h.player("Cid");
        h.ok(
            &mut host,
            Request::Kick {
                seat: Seat::new(1).unwrap(),
            },
        );
        let frames = bob.frames();
        assert!(frames.iter().any(|m| matches!(
            m,
            ServerMessage::Closing {
                reason: CloseReason::Kicked
            }
        )));
        assert!(bob.rx.try_recv().is_err());
        // Cid moved from seat 2 to seat 1; as seat 1 Cid can still leave and is still seated.
        cid.frames();
        let room = cid.mirror.room().cloned().unwrap();
        assert_eq!(
            room.seats
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["Host", "Cid"]
        );
        assert_eq!(
            h.rejected(
                &mut host,
                Request::Kick {
                    seat: Seat::new(0).unwrap()
                }
            ),
            RejectCode::BadTarget
        );
        assert_eq!(
            h.rejected(
                &mut host,
                Request::Kick {
                    seat: Seat::new(5).unwrap()
                }
            ),
            RejectCode::NoSuchSeat
        );
        h.ok(&mut cid, Request::Leave);
        assert_eq!(h.room.seats.len(), 1);
    }
}

room_test! {
    fn claiming_a_seat_again_replaces_the_old_connection() {
        let mut h = Harness::quick();
        let mut first = h.host();
        let mut second = h.connect();
        h.hello(&mut second);
        h.ok(
            &mut second,
            Request::Claim {
                token: HOST_TOKEN.into(),
            },
        );
        assert!(first.frames().iter().any(|m| matches!(
            m,
            ServerMessage::Closing {
                reason: CloseReason::Replaced
            }
        )));
        assert_eq!(h.room.role(second.conn), Role::Seat(seat(0)));
        assert_eq!(h.room.role(first.conn), Role::Outsider);
        let mut third = h.connect();
        h.hello(&mut third);
        assert_eq!(
            h.rejected(
                &mut third,
                Request::Claim {
                    token: "nope".into()
                }
            ),
            RejectCode::BadToken
        );
    }
}

room_test! {
    fn emotes_are_rate_limited_per_seat() {
        let mut h = Harness::timed(None, 120);
        let mut host = h.host();
        let mut bob = h.player("Bob");
        let mut watcher = h.connect();
        h.hello(&mut watcher);
        h.ok(&mut watcher, Request::Spectate);
        watcher.frames();
        for emote in [Emote::Laugh, Emote::Wow, Emote::Clap] {
            h.ok(&mut host, Request::Emote { emote });
            h.advance(Duration::from_secs(1));
        }
        assert_eq!(
            room_events(&watcher.frames()),
            [Emote::Laugh, Emote::Wow, Emote::Clap]
                .map(|emote| RoomEvent::Emote {
                    seat: Seat::new(0).unwrap(),
                    emote
                })
                .to_vec()
        );
        assert_eq!(
            h.rejected(&mut host, Request::Emote { emote: Emote::Liar }),
            RejectCode::SlowDown
        );
        // Per seat: Bob is not limited by the host's emotes.
        h.ok(&mut bob, Request::Emote { emote: Emote::Liar });
        // 5 s after the first one, one more is allowed, not two.
        h.now = h.now - Duration::from_secs(3) + EMOTE_WINDOW;
        h.ok(&mut host, Request::Emote { emote: Emote::Liar });
        assert_eq!(
            h.rejected(&mut host, Request::Emote { emote: Emote::Liar }),
            RejectCode::SlowDown
        );
        h.advance(EMOTE_WINDOW);
        for _ in 0..EMOTE_BURST {
            h.ok(
                &mut host,
                Request::Emote {
                    emote: Emote::Sweat,
                },
            );
        }
        // An emote's update carries the emote and nothing else.
        let last = updates(&watcher.frames()).pop().unwrap();
        assert!(matches!(&last.events[..], [RoomEvent::Emote { .. }]));
        assert!(last.you.is_none() && last.ack.is_none());
        assert_eq!(
            h.rejected(
                &mut watcher,
                Request::Emote {
                    emote: Emote::ThumbsUp
                }
            ),
            RejectCode::NotSeated
        );
    }
}

room_test! {
    fn set_options_is_validated_and_for_the_host_between_games() {
        let mut h = Harness::timed(None, 120);
        let mut host = h.host();
        let mut bob = h.player("Bob");
        for bad in [0, 14, 3601, u16::MAX] {
            assert_eq!(
                h.rejected(
                    &mut host,
                    Request::SetOptions {
                        options: RoomOptions {
                            forfeit_after_secs: bad
                        }
                    }
                ),
                RejectCode::InvalidRules,
                "{bad}"
            );
        }
        let good = RoomOptions {
            forfeit_after_secs: 15,
        };
        assert_eq!(
            h.rejected(&mut bob, Request::SetOptions { options: good }),
            RejectCode::NotHost
        );
        bob.frames();
        h.ok(&mut host, Request::SetOptions { options: good });
        let last = updates(&bob.frames()).pop().unwrap();
        assert_eq!(last.events, vec![RoomEvent::OptionsChanged { options: good }]);
        assert_eq!(bob.mirror.room().unwrap().options, good);
        h.ok(
            &mut host,
            Request::SetOptions {
                options: RoomOptions {
                    forfeit_after_secs: 3600,
                },
            },
        );
        h.ok(&mut host, Request::Start);
        assert_eq!(
            h.rejected(&mut host, Request::SetOptions { options: good }),
            RejectCode::WrongPhase
        );
        assert_eq!(h.room.options.forfeit_after_secs, 3600);
    }
}
