//! Room logic through the synchronous `handle_event`, without a runtime or sockets.

use super::*;
use perudo_core::{Bid, Face, Quantity};
use perudo_protocol::PROTOCOL_VERSION;
use std::time::Duration;

const HOST_TOKEN: &str = "host-token";

struct Client {
    conn: ConnId,
    rx: mpsc::Receiver<Frame>,
    close: CancellationToken,
    next_id: u32,
}

impl Client {
    fn frames(&mut self) -> Vec<ServerMessage> {
        let mut out = Vec::new();
        while let Ok(frame) = self.rx.try_recv() {
            if let Frame::Data(bytes) = frame {
                out.push(ServerMessage::decode(&bytes).expect("server frames decode"));
            }
        }
        out
    }
}

struct Harness {
    room: Room,
    now: Instant,
    next_conn: ConnId,
}

impl Harness {
    fn new(settings: RoomSettings) -> Harness {
        let now = Instant::now();
        let room = Room::new(
            "TESTROOM2".into(),
            settings,
            GameConfig::default(),
            "Host".into(),
            ids::hash_token(HOST_TOKEN),
            now,
        );
        Harness {
            room,
            now,
            next_conn: 1,
        }
    }

    fn quick() -> Harness {
        Harness::new(RoomSettings {
            reveal_pause: Duration::from_millis(500),
            bot_delay: Duration::from_millis(10),
            ..RoomSettings::default()
        })
    }

    fn connect_with_capacity(&mut self, capacity: usize) -> Client {
        let (tx, rx) = mpsc::channel(capacity);
        let close = CancellationToken::new();
        let conn = self.next_conn;
        self.next_conn += 1;
        self.room.handle_event(
            Input::Connect {
                conn,
                outbox: tx,
                close: close.clone(),
            },
            self.now,
        );
        Client {
            conn,
            rx,
            close,
            next_id: 1,
        }
    }

    fn connect(&mut self) -> Client {
        self.connect_with_capacity(1024)
    }

    /// Sends a request and returns every frame it produced; the last must be its answer.
    fn request(&mut self, client: &mut Client, request: Request) -> Vec<ServerMessage> {
        let id = client.next_id;
        client.next_id += 1;
        self.room.handle_event(
            Input::Message {
                conn: client.conn,
                message: ClientMessage { id, request },
            },
            self.now,
        );
        let frames = client.frames();
        let answers: Vec<_> = frames
            .iter()
            .filter(|m| matches!(m, ServerMessage::Ack { id: i, .. } | ServerMessage::Rejected { id: i, .. } if *i == id))
            .collect();
        assert_eq!(
            answers.len(),
            1,
            "exactly one answer to request {id}: {frames:?}"
        );
        frames
    }

    #[track_caller]
    fn ok(&mut self, client: &mut Client, request: Request) -> Vec<ServerMessage> {
        let frames = self.request(client, request);
        assert!(
            matches!(frames.last(), Some(ServerMessage::Ack { .. })),
            "expected an ack: {frames:?}"
        );
        frames
    }

    #[track_caller]
    fn rejected(&mut self, client: &mut Client, request: Request) -> RejectCode {
        let before = self.room.version();
        let frames = self.request(client, request);
        assert_eq!(self.room.version(), before, "a rejection changes nothing");
        match frames.last() {
            Some(ServerMessage::Rejected { code, .. }) => *code,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    fn hello(&mut self, client: &mut Client) {
        self.ok(
            client,
            Request::Hello {
                version: PROTOCOL_VERSION,
            },
        );
    }

    /// Advances the clock to the room's next deadline and fires it.
    fn fire_timer(&mut self) -> bool {
        let Some(at) = self.room.next_deadline() else {
            return false;
        };
        self.now = self.now.max(at);
        self.room.handle_event(Input::Tick, self.now);
        true
    }

    fn host(&mut self) -> Client {
        let mut host = self.connect();
        self.hello(&mut host);
        self.ok(
            &mut host,
            Request::Claim {
                token: HOST_TOKEN.into(),
            },
        );
        host
    }

    fn player(&mut self, name: &str) -> Client {
        let mut client = self.connect();
        self.hello(&mut client);
        self.ok(&mut client, Request::Join { name: name.into() });
        client
    }
}

fn latest_you(frames: &[ServerMessage]) -> Option<YouView> {
    frames.iter().rev().find_map(|m| match m {
        ServerMessage::Private(p) => Some(p.you.clone()),
        ServerMessage::Snapshot(s) => s.you.clone(),
        _ => None,
    })
}

fn game_events(frames: &[ServerMessage]) -> Vec<Event> {
    frames
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Update(u) => Some(u.events.clone()),
            _ => None,
        })
        .flatten()
        .filter_map(|e| match e {
            RoomEvent::Game { event } => Some(event),
            _ => None,
        })
        .collect()
}

/// The simplest legal move: dudo if possible, else the smallest bid on the highest face.
fn simple_move(legal: &LegalMoves) -> Option<Action> {
    if legal.dudo {
        return Some(Action::Dudo);
    }
    Face::ALL.into_iter().rev().find_map(|face| {
        legal.min_bid[face.index()].map(|quantity| Action::Bid(Bid { quantity, face }))
    })
}

#[test]
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

#[test]
fn outsiders_receive_nothing_about_the_room() {
    let mut h = Harness::quick();
    let mut outsider = h.connect();
    h.hello(&mut outsider);
    let mut host = h.host();
    let _bob = h.player("Bob");
    h.ok(&mut host, Request::Start);
    while h.fire_timer() && h.room.phase() != RoomPhase::Finished {}
    assert!(outsider.frames().is_empty(), "an outsider got frames");
}

#[test]
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

#[test]
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
    let frames = cid.frames();
    let room = frames
        .iter()
        .rev()
        .find_map(|m| match m {
            ServerMessage::Update(u) => u.room.clone(),
            _ => None,
        })
        .unwrap();
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

#[test]
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
    while h.room.phase() != RoomPhase::Finished {
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
            if h.room.phase() == RoomPhase::Reveal {
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
    assert_eq!(h.room.phase(), RoomPhase::Playing);
    let play = h.room.play().unwrap();
    assert_ne!(play.game.commitment().to_hex(), results.commitment);
}

#[test]
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

#[test]
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
    assert!(
        watched
            .iter()
            .all(|m| !matches!(m, ServerMessage::Private(_)))
    );
    assert!(latest_you(&watched).is_none());
    assert!(!game_events(&watched).is_empty());
}

#[test]
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

#[test]
fn a_room_nobody_is_in_closes_after_the_idle_time() {
    let mut h = Harness::new(RoomSettings {
        idle_close: Duration::from_secs(60),
        ..RoomSettings::default()
    });
    let host = h.host();
    assert_eq!(h.room.next_deadline(), None);
    h.room
        .handle_event(Input::Disconnect { conn: host.conn }, h.now);
    assert_eq!(
        h.room.next_deadline(),
        Some(h.now + Duration::from_secs(60))
    );
    h.fire_timer();
    assert!(h.room.is_closed());
}

#[test]
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
    assert_eq!(h.room.role(second.conn), Role::Seat(0));
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

#[test]
fn leaving_mid_game_forfeits_and_hands_over_the_host_role() {
    let mut h = Harness::quick();
    let mut host = h.host();
    let _bob = h.player("Bob");
    let _cid = h.player("Cid");
    h.ok(&mut host, Request::Start);
    h.ok(&mut host, Request::Leave);
    let play = h.room.play().unwrap();
    assert_eq!(play.game.dice_counts()[0], 0);
    assert_eq!(h.room.host, Some(1));
    assert!(!play.game.is_over());
}
