//! Room logic through the synchronous `handle_event`, without a runtime or sockets.

use super::*;
use perudo_core::{Bid, Face, Quantity};
use perudo_protocol::PROTOCOL_VERSION;
use std::time::Duration;

const HOST_TOKEN: &str = "host-token";

fn seat(i: u8) -> Seat {
    Seat::new(i).expect("a seat number below 10")
}

thread_local! {
    /// Set by `the_scenarios_hold_with_a_store_too`: harnesses keep their room in a
    /// `MemoryStore`, so every input goes through commit-then-send.
    static STORED: std::cell::Cell<Option<Arc<store::MemoryStore>>> = const { std::cell::Cell::new(None) };
}

/// Gives a new test room the thread's store, if a test set one.
fn maybe_store(room: &mut Room) {
    let stored = STORED.with(|s| {
        let store = s.take();
        s.set(store.clone());
        store
    });
    if let Some(store) = stored {
        let batch = room.with_store(store.clone());
        futures_util::FutureExt::now_or_never(store::commit(&*store, batch))
            .expect("the memory store answers at once")
            .expect("the room is stored");
    }
}

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
        Harness::build(settings, GameConfig::default(), RoomOptions::default())
    }

    /// Hands an input to the room; with a store, commits it and sends what it caused.
    fn step(&mut self, input: Input) {
        self.room.handle_event(input, self.now);
        if self.room.store.is_some() {
            futures_util::FutureExt::now_or_never(self.room.persist())
                .expect("the memory store answers at once");
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
        self.step(Input::Connect {
            conn,
            outbox: tx,
            close: close.clone(),
        });
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
        self.step(Input::Message {
            conn: client.conn,
            message: ClientMessage { id, request },
        });
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
        self.step(Input::Tick);
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
    assert_eq!(h.room.seats.host(), Some(seat(1)));
    assert!(!play.game.is_over());
}

// ---- issue 4: clocks, disconnects, forfeits, emotes, options, resume --------------------

impl Harness {
    fn build(settings: RoomSettings, rules: GameConfig, options: RoomOptions) -> Harness {
        let now = Instant::now();
        let room = Room::new(
            "TESTROOM2".into(),
            settings,
            rules,
            options,
            "Host".into(),
            ids::hash_token(HOST_TOKEN),
            now,
        );
        let mut room = room;
        maybe_store(&mut room);
        Harness {
            room,
            now,
            next_conn: 1,
        }
    }

    /// No reveal pause and no bot delay, a 5 s grace; turn limit and forfeit time as given.
    fn timed(turn_limit: Option<u16>, forfeit_after_secs: u16) -> Harness {
        Harness::build(
            RoomSettings {
                reveal_pause: Duration::ZERO,
                bot_delay: Duration::ZERO,
                disconnect_grace: Duration::from_secs(5),
                ..RoomSettings::default()
            },
            GameConfig {
                turn_time_limit_secs: turn_limit,
                ..GameConfig::default()
            },
            RoomOptions { forfeit_after_secs },
        )
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn tick(&mut self) {
        self.step(Input::Tick);
    }

    fn disconnect(&mut self, client: &Client) {
        self.step(Input::Disconnect { conn: client.conn });
    }

    fn turn(&self) -> Option<Seat> {
        match &self.room.stage {
            Stage::Playing(play) => play.game.turn(),
            Stage::Lobby | Stage::Finished(_) => None,
        }
    }

    /// The seat's view must offer a move; plays the simplest one.
    fn play_simple(&mut self, client: &mut Client) -> Vec<ServerMessage> {
        let Role::Seat(seat) = self.room.role(client.conn) else {
            panic!("not seated");
        };
        let you = self.room.you_view(seat).expect("a view");
        let action = simple_move(&you.legal).expect("a move");
        self.ok(client, Request::Act { action })
    }
}

fn updates(frames: &[ServerMessage]) -> Vec<Update> {
    frames
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Update(u) => Some(u.clone()),
            _ => None,
        })
        .collect()
}

fn room_events(frames: &[ServerMessage]) -> Vec<RoomEvent> {
    updates(frames).into_iter().flat_map(|u| u.events).collect()
}

/// The events that follow each `AutoPlayed`, which must be the move's own events.
fn auto_played(frames: &[ServerMessage]) -> Vec<(Seat, Action, AutoPlayReason)> {
    let mut out = Vec::new();
    for update in updates(frames) {
        for (i, event) in update.events.iter().enumerate() {
            if let RoomEvent::AutoPlayed {
                seat,
                action,
                reason,
            } = event
            {
                match update.events.get(i + 1) {
                    Some(RoomEvent::Game {
                        event: Event::BidPlaced(placed),
                    }) => {
                        assert_eq!(placed.seat, *seat);
                        assert_eq!(Action::Bid(placed.bid), *action);
                    }
                    Some(RoomEvent::Game {
                        event: Event::RoundResolved(_),
                    }) => assert!(matches!(action, Action::Dudo | Action::Calza)),
                    other => panic!("after AutoPlayed came {other:?}"),
                }
                out.push((*seat, *action, *reason));
            }
        }
    }
    out
}

fn seat_of(h: &Harness, client: &Client) -> usize {
    match h.room.role(client.conn) {
        Role::Seat(seat) => seat.index(),
        other => panic!("not seated: {other:?}"),
    }
}

#[test]
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
    if h.room.phase() == RoomPhase::Playing {
        let clock = updates(&frames).pop().unwrap().clock.unwrap();
        assert_eq!(clock.remaining_ms, 10_000);
        assert_eq!(Some(clock.seat), h.turn());
    }
}

#[test]
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
    let seats = &last.room.unwrap().seats;
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
    while autos < 3 && h.room.phase() == RoomPhase::Playing {
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

#[test]
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
    while h.room.phase() != RoomPhase::Finished {
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

#[test]
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

#[test]
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

#[test]
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

#[test]
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
    let deadline = |h: &Harness| match &h.room.stage {
        Stage::Playing(play) => play.turn_deadline.map(|d| (d.at, d.reason)),
        Stage::Lobby | Stage::Finished(_) => None,
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

#[test]
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

#[test]
fn time_away_in_the_lobby_does_not_count_towards_a_forfeit() {
    let mut h = Harness::timed(None, 15);
    let mut host = h.host();
    let bob = h.player("Bob");
    let _cid = h.player("Cid");
    h.disconnect(&bob);
    h.advance(Duration::from_secs(60));
    h.ok(&mut host, Request::Start);
    let bob_dice = |h: &Harness| match &h.room.stage {
        Stage::Playing(play) | Stage::Finished(play) => play.game.dice_counts()[1],
        Stage::Lobby => 0,
    };
    assert_eq!(bob_dice(&h), 5, "not forfeited at the start");
    h.advance(Duration::from_secs(14));
    h.tick();
    assert_eq!(bob_dice(&h), 5);
    h.advance(Duration::from_secs(1));
    h.tick();
    assert_eq!(bob_dice(&h), 0, "forfeited 15 s into the game");
}

#[test]
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
    // Emotes carry neither the room nor the table.
    let last = updates(&watcher.frames()).pop().unwrap();
    assert!(last.room.is_none() && last.table.is_none());
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

#[test]
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
    assert_eq!(last.events, vec![RoomEvent::RulesChanged]);
    assert_eq!(last.room.unwrap().options, good);
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

/// Joins Bob and returns his client and token.
fn join_with_token(h: &mut Harness, name: &str) -> (Client, String) {
    let mut client = h.connect();
    h.hello(&mut client);
    let frames = h.ok(&mut client, Request::Join { name: name.into() });
    let token = frames
        .iter()
        .find_map(|m| match m {
            ServerMessage::Seated { token, .. } => Some(token.clone()),
            _ => None,
        })
        .unwrap();
    (client, token)
}

/// Sends `n` emotes, from the host, advancing past the rate limit as needed.
fn emotes(h: &mut Harness, host: &mut Client, n: usize) {
    for i in 0..n {
        if i % EMOTE_BURST == 0 {
            h.advance(EMOTE_WINDOW);
        }
        h.ok(host, Request::Emote { emote: Emote::Wow });
    }
}

#[test]
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
    assert_eq!(frames.len(), 1 + got.len() + 2, "{frames:?}");
    assert!(
        !frames
            .iter()
            .any(|m| matches!(m, ServerMessage::Snapshot(_)))
    );
    match &frames[frames.len() - 2] {
        ServerMessage::Private(p) => {
            assert_eq!(p.version, now);
            assert_eq!(p.you.hand, hand);
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

#[test]
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

#[test]
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

// ---- the real room task, with paused tokio time ------------------------------------------

mod task {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio_util::task::TaskTracker;

    /// A connection to a spawned room: its outbox is a plain channel.
    struct Peer {
        conn: ConnId,
        rx: mpsc::Receiver<Frame>,
        next_id: u32,
        token: Option<String>,
    }

    struct Live {
        handle: RoomHandle,
        tracker: TaskTracker,
        closed: Arc<AtomicBool>,
        _shutdown: CancellationToken,
        next_conn: ConnId,
    }

    const WAIT: Duration = Duration::from_secs(3600);

    impl Live {
        fn spawn(settings: RoomSettings, rules: GameConfig, options: RoomOptions) -> Live {
            let room = Room::new(
                "TASKROOM2".into(),
                settings,
                rules,
                options,
                "Host".into(),
                ids::hash_token(HOST_TOKEN),
                Instant::now(),
            );
            let tracker = TaskTracker::new();
            let shutdown = CancellationToken::new();
            let closed = Arc::new(AtomicBool::new(false));
            let flag = closed.clone();
            let handle = room.spawn(&tracker, shutdown.clone(), move || {
                flag.store(true, Ordering::SeqCst);
            });
            tracker.close();
            Live {
                handle,
                tracker,
                closed,
                _shutdown: shutdown,
                next_conn: 1,
            }
        }

        async fn connect(&mut self) -> Peer {
            let (tx, rx) = mpsc::channel(1024);
            let conn = self.next_conn;
            self.next_conn += 1;
            assert!(
                self.handle
                    .send(Input::Connect {
                        conn,
                        outbox: tx,
                        close: CancellationToken::new(),
                    })
                    .await
            );
            let mut peer = Peer {
                conn,
                rx,
                next_id: 1,
                token: None,
            };
            self.request(
                &mut peer,
                Request::Hello {
                    version: PROTOCOL_VERSION,
                },
            )
            .await;
            peer
        }

        /// Sends a request; returns the frames up to and with its answer (an ack).
        async fn request(&self, peer: &mut Peer, request: Request) -> Vec<ServerMessage> {
            let id = peer.next_id;
            peer.next_id += 1;
            assert!(
                self.handle
                    .send(Input::Message {
                        conn: peer.conn,
                        message: ClientMessage { id, request },
                    })
                    .await
            );
            let frames = peer
                .until(|m| matches!(m, ServerMessage::Ack { id: i, .. } | ServerMessage::Rejected { id: i, .. } if *i == id))
                .await;
            assert!(
                matches!(frames.last(), Some(ServerMessage::Ack { .. })),
                "{frames:?}"
            );
            for m in &frames {
                if let ServerMessage::Seated { token, .. } = m {
                    peer.token = Some(token.clone());
                }
            }
            frames
        }

        async fn disconnect(&self, peer: &Peer) {
            assert!(
                self.handle
                    .send(Input::Disconnect { conn: peer.conn })
                    .await
            );
        }
    }

    impl Peer {
        /// Frames until one satisfies `want` (included), within an hour of paused time.
        async fn until(
            &mut self,
            mut want: impl FnMut(&ServerMessage) -> bool,
        ) -> Vec<ServerMessage> {
            let mut out = Vec::new();
            let read = async {
                loop {
                    match self.rx.recv().await {
                        Some(Frame::Data(bytes)) => {
                            let m = ServerMessage::decode(&bytes).unwrap();
                            let done = want(&m);
                            out.push(m);
                            if done {
                                return;
                            }
                        }
                        Some(Frame::Close { .. }) => {}
                        None => panic!("the outbox closed"),
                    }
                }
            };
            tokio::time::timeout(WAIT, read)
                .await
                .expect("the awaited frame arrives");
            out
        }

        /// Frames queued now, without waiting.
        fn drain(&mut self) -> Vec<ServerMessage> {
            let mut out = Vec::new();
            while let Ok(frame) = self.rx.try_recv() {
                if let Frame::Data(bytes) = frame {
                    out.push(ServerMessage::decode(&bytes).unwrap());
                }
            }
            out
        }

        async fn until_event(&mut self, mut want: impl FnMut(&RoomEvent) -> bool) -> Update {
            let frames = self
                .until(|m| matches!(m, ServerMessage::Update(u) if u.events.iter().any(&mut want)))
                .await;
            match frames.last() {
                Some(ServerMessage::Update(u)) => u.clone(),
                _ => unreachable!(),
            }
        }
    }

    fn settings() -> RoomSettings {
        RoomSettings {
            reveal_pause: Duration::from_millis(500),
            bot_delay: Duration::from_millis(100),
            idle_close: Duration::from_secs(60),
            disconnect_grace: Duration::from_secs(5),
            ..RoomSettings::default()
        }
    }

    /// A room with the host and Bob seated and a game started.
    async fn two_playing(
        rules: GameConfig,
        options: RoomOptions,
    ) -> (Live, Peer, Peer, Vec<ServerMessage>) {
        let mut live = Live::spawn(settings(), rules, options);
        let mut host = live.connect().await;
        live.request(
            &mut host,
            Request::Claim {
                token: HOST_TOKEN.into(),
            },
        )
        .await;
        let mut bob = live.connect().await;
        live.request(&mut bob, Request::Join { name: "Bob".into() })
            .await;
        let started = live.request(&mut host, Request::Start).await;
        (live, host, bob, started)
    }

    fn clock_of(update: &Update) -> TurnClock {
        update.clock.expect("a clock")
    }

    #[tokio::test(start_paused = true)]
    async fn the_turn_timer_fires_in_the_room_task() {
        let rules = GameConfig {
            turn_time_limit_secs: Some(10),
            ..GameConfig::default()
        };
        let (live, mut host, _bob, frames) = two_playing(rules, RoomOptions::default()).await;
        let clock = updates(&frames).pop().map(|u| clock_of(&u)).unwrap();
        assert_eq!(clock.remaining_ms, 10_000);
        let start = Instant::now();
        tokio::time::sleep(Duration::from_millis(9_900)).await;
        assert!(host.drain().is_empty(), "nothing before the deadline");
        let update = host
            .until_event(|e| matches!(e, RoomEvent::AutoPlayed { .. }))
            .await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert!(matches!(
            update.events[0],
            RoomEvent::AutoPlayed { seat, reason: AutoPlayReason::TimeLimit, .. } if seat == clock.seat
        ));
        let next = clock_of(&update);
        assert_ne!(next.seat, clock.seat);
        assert_eq!(next.remaining_ms, 10_000);
        // And again for the other seat, 10 s later.
        let update = host
            .until_event(|e| matches!(e, RoomEvent::AutoPlayed { .. }))
            .await;
        assert_eq!(start.elapsed(), Duration::from_secs(20));
        assert!(
            matches!(update.events[0], RoomEvent::AutoPlayed { seat, .. } if seat == next.seat)
        );
        drop(live);
    }

    #[tokio::test(start_paused = true)]
    async fn the_disconnect_grace_fires_in_the_room_task() {
        let (live, host, mut bob, frames) =
            two_playing(GameConfig::default(), RoomOptions::default()).await;
        let turn = {
            bob.drain();
            // No limit: find the turn from the table.
            let table = updates(&frames)
                .into_iter()
                .rev()
                .find_map(|u| u.table)
                .unwrap();
            match table.state {
                perudo_core::TableState::Bidding(round) => round.turn,
                perudo_core::TableState::Over { .. } => unreachable!(),
            }
        };
        let (away, mut stays) = if turn.index() == 0 {
            (host, bob)
        } else {
            (bob, host)
        };
        let start = Instant::now();
        live.disconnect(&away).await;
        let update = stays
            .until_event(|e| matches!(e, RoomEvent::Disconnected { .. }))
            .await;
        assert_eq!(clock_of(&update).reason, AutoPlayReason::Away);
        let update = stays
            .until_event(|e| matches!(e, RoomEvent::AutoPlayed { .. }))
            .await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        assert!(matches!(
            update.events[0],
            RoomEvent::AutoPlayed { seat, reason: AutoPlayReason::Away, .. } if seat == turn
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn the_forfeit_timer_fires_in_the_room_task_and_the_game_ends() {
        let (live, mut host, bob, _) = two_playing(
            GameConfig::default(),
            RoomOptions {
                forfeit_after_secs: 15,
            },
        )
        .await;
        let start = Instant::now();
        live.disconnect(&bob).await;
        let update = host
            .until_event(|e| {
                matches!(e, RoomEvent::Game { event: Event::Forfeited { seat } } if seat.index() == 1)
            })
            .await;
        assert_eq!(start.elapsed(), Duration::from_secs(15));
        let results = update
            .events
            .iter()
            .find_map(|e| match e {
                RoomEvent::GameOver { results } => Some(results.clone()),
                _ => None,
            })
            .expect("two players: the forfeit ends the game");
        assert_eq!(results.winner.index(), 0);
        assert_eq!(update.clock, None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_room_task_ends_after_the_idle_time_and_runs_on_close() {
        let mut live = Live::spawn(settings(), GameConfig::default(), RoomOptions::default());
        let mut host = live.connect().await;
        live.request(
            &mut host,
            Request::Claim {
                token: HOST_TOKEN.into(),
            },
        )
        .await;
        let start = Instant::now();
        live.disconnect(&host).await;
        // Sleeping lets the room take the disconnect before time moves on.
        tokio::time::sleep(Duration::from_secs(1)).await;
        tokio::time::advance(Duration::from_secs(58)).await;
        tokio::task::yield_now().await;
        assert!(!live.closed.load(Ordering::SeqCst));
        assert!(!live.handle.is_closed());
        tokio::time::timeout(WAIT, live.tracker.wait())
            .await
            .expect("the room task ends");
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        assert!(live.closed.load(Ordering::SeqCst), "on_close ran");
        assert!(live.handle.is_closed());
        assert!(!live.handle.send(Input::Tick).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_return_in_time_stops_the_timers_in_the_room_task() {
        let (mut live, mut host, bob, _) = two_playing(
            GameConfig::default(),
            RoomOptions {
                forfeit_after_secs: 15,
            },
        )
        .await;
        let token = bob.token.clone().unwrap();
        live.disconnect(&bob).await;
        tokio::time::sleep(Duration::from_secs(4)).await;
        let mut back = live.connect().await;
        let frames = live
            .request(
                &mut back,
                Request::Resume {
                    token: Some(token),
                    last_version: 0,
                },
            )
            .await;
        // Everything since version 0 is still in the history: no snapshot needed.
        assert!(
            !frames
                .iter()
                .any(|m| matches!(m, ServerMessage::Snapshot(_)))
        );
        assert!(
            frames
                .iter()
                .any(|m| matches!(m, ServerMessage::Private(_)))
        );
        host.until_event(|e| matches!(e, RoomEvent::Reconnected { .. }))
            .await;
        // A long wait: if the room acted for Bob, the host would hear of it.
        tokio::time::sleep(Duration::from_secs(600)).await;
        let events = room_events(&host.drain());
        assert!(
            !events.iter().any(|e| matches!(
                e,
                RoomEvent::AutoPlayed { seat, .. } | RoomEvent::Game { event: Event::Forfeited { seat } }
                    if seat.index() == 1
            )),
            "{events:?}"
        );
    }
}

// ---- issue 7: durable rooms ---------------------------------------------------------------

/// Runs `f` with every harness it builds keeping its room in `store`.
fn with_store<T>(store: Arc<store::MemoryStore>, f: impl FnOnce() -> T) -> T {
    STORED.with(|s| s.set(Some(store)));
    let out = f();
    STORED.with(|s| s.set(None));
    out
}

#[test]
fn the_scenarios_hold_with_a_store_too() {
    let scenarios: [(&str, fn()); 25] = [
        (
            "hello_comes_first_and_checks_the_version",
            hello_comes_first_and_checks_the_version,
        ),
        (
            "outsiders_receive_nothing_about_the_room",
            outsiders_receive_nothing_about_the_room,
        ),
        (
            "lobby_join_names_and_capacity",
            lobby_join_names_and_capacity,
        ),
        (
            "kicking_renumbers_seats_and_closes_the_kicked_socket",
            kicking_renumbers_seats_and_closes_the_kicked_socket,
        ),
        (
            "a_full_game_with_humans_and_bots_runs_to_results",
            a_full_game_with_humans_and_bots_runs_to_results,
        ),
        (
            "a_bid_too_low_is_rejected_with_the_minimum_raise",
            a_bid_too_low_is_rejected_with_the_minimum_raise,
        ),
        (
            "privates_carry_only_the_receivers_hand_and_spectators_get_none",
            privates_carry_only_the_receivers_hand_and_spectators_get_none,
        ),
        (
            "a_slow_connection_is_dropped_without_stalling_the_room",
            a_slow_connection_is_dropped_without_stalling_the_room,
        ),
        (
            "a_room_nobody_is_in_closes_after_the_idle_time",
            a_room_nobody_is_in_closes_after_the_idle_time,
        ),
        (
            "claiming_a_seat_again_replaces_the_old_connection",
            claiming_a_seat_again_replaces_the_old_connection,
        ),
        (
            "leaving_mid_game_forfeits_and_hands_over_the_host_role",
            leaving_mid_game_forfeits_and_hands_over_the_host_role,
        ),
        (
            "the_turn_time_limit_auto_plays_and_the_game_moves_on",
            the_turn_time_limit_auto_plays_and_the_game_moves_on,
        ),
        (
            "a_disconnected_player_on_turn_is_auto_played_after_the_grace",
            a_disconnected_player_on_turn_is_auto_played_after_the_grace,
        ),
        (
            "a_player_away_too_long_forfeits_and_the_others_finish",
            a_player_away_too_long_forfeits_and_the_others_finish,
        ),
        (
            "coming_back_before_the_forfeit_takes_the_seat_back",
            coming_back_before_the_forfeit_takes_the_seat_back,
        ),
        (
            "a_disconnected_host_is_replaced_by_the_next_connected_human_after_the_grace",
            a_disconnected_host_is_replaced_by_the_next_connected_human_after_the_grace,
        ),
        (
            "a_disconnected_host_with_nobody_to_take_over_stays_host",
            a_disconnected_host_with_nobody_to_take_over_stays_host,
        ),
        (
            "coming_back_on_turn_restores_the_turn_limit_deadline",
            coming_back_on_turn_restores_the_turn_limit_deadline,
        ),
        (
            "a_player_dropped_for_not_reading_is_announced_and_waited_for",
            a_player_dropped_for_not_reading_is_announced_and_waited_for,
        ),
        (
            "time_away_in_the_lobby_does_not_count_towards_a_forfeit",
            time_away_in_the_lobby_does_not_count_towards_a_forfeit,
        ),
        (
            "emotes_are_rate_limited_per_seat",
            emotes_are_rate_limited_per_seat,
        ),
        (
            "set_options_is_validated_and_for_the_host_between_games",
            set_options_is_validated_and_for_the_host_between_games,
        ),
        (
            "resume_within_the_history_sends_exactly_the_missed_updates",
            resume_within_the_history_sends_exactly_the_missed_updates,
        ),
        (
            "resume_after_the_history_gets_a_snapshot_with_the_same_hand",
            resume_after_the_history_gets_a_snapshot_with_the_same_hand,
        ),
        (
            "a_spectator_resumes_without_a_token",
            a_spectator_resumes_without_a_token,
        ),
    ];
    for (name, scenario) in scenarios {
        let store = Arc::new(store::MemoryStore::new());
        eprintln!("scenario with a store: {name}");
        with_store(store.clone(), scenario);
        assert!(store.commits() > 0, "{name}: the room was stored");
    }
}

/// The player on turn among `clients`.
fn on_turn<'a>(h: &Harness, clients: &'a mut [Client]) -> &'a mut Client {
    let turn = h.turn().expect("a turn").index();
    clients
        .iter_mut()
        .find(|c| seat_of(h, c) == turn)
        .expect("a client on turn")
}

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
            if h.room.phase() != RoomPhase::Playing {
                break;
            }
            let client = on_turn(&h, &mut clients);
            h.play_simple(client);
        }
        let image = store.room(h.room.code()).expect("stored");
        assert_eq!(image.lobby, h.room.lobby_image());
        let rebuilt = Room::restore(image, h.room.settings.clone(), None, h.now, None)
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

#[test]
fn after_a_restart_away_players_get_the_restore_grace() {
    let store = Arc::new(store::MemoryStore::new());
    with_store(store.clone(), || {
        let mut h = Harness::timed(Some(10), 15);
        let mut host = h.host();
        let (_bob, _) = join_with_token(&mut h, "Bob");
        h.ok(&mut host, Request::Start);
        let image = store.room(h.room.code()).expect("stored");
        // The server comes back a minute later: the 10 s turn limit ran out meanwhile.
        let later = h.now + Duration::from_secs(60);
        let mut settings = h.room.settings.clone();
        settings.restore_grace = Duration::from_secs(20);
        let mut limit = image.clock.expect("a turn limit is stored");
        limit.limit_at_ms -= 60_000;
        let image = RoomImage {
            clock: Some(limit),
            ..image
        };
        let grace = later + settings.restore_grace;
        let room = Room::restore(image, settings, None, later, Some(grace)).expect("replays");
        let Stage::Playing(play) = &room.stage else {
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
            store.room(h.room.code()).unwrap().game.unwrap().moves.len(),
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
        assert_eq!(store.room(h.room.code()).unwrap().lobby.seats.len(), 2);
    });
}
