//! The mirror against hand-made message sequences: each rule of PROTOCOL.md's "How a client
//! keeps its state", the request/answer matching, and every broken promise it reports.

use perudo_core::{Action, Bid, BotLevel, Face, Game, GameConfig, Quantity, Rules, Seed};

use super::*;
use crate::{
    AutoPlayReason, Occupant, RoomCode, RoomOptions, SeatInfo, Snapshot, TurnClock, Update,
};

fn seat(n: u8) -> Seat {
    Seat::new(n).expect("a seat below 10")
}

fn game() -> Game {
    Rules::new(GameConfig::default())
        .and_then(|rules| Game::start(rules, 3, Seed::from_u64(7)))
        .expect("a three-seat game starts")
        .0
}

fn you(game: &Game, n: u8) -> YouView {
    let view = game.view_for(seat(n));
    YouView {
        seat: view.seat,
        hand: view.hand,
        legal: view.legal,
    }
}

fn room(phase: RoomPhase, names: &[&str]) -> RoomView {
    RoomView {
        code: RoomCode::parse("K7QF2MXHB").expect("a room code"),
        phase,
        host: Some(seat(0)),
        seats: names
            .iter()
            .map(|name| SeatInfo {
                name: PlayerName::new(name).expect("a name"),
                occupant: Occupant::Human { connected: true },
            })
            .collect(),
        spectators: 0,
        rules: GameConfig::default(),
        options: RoomOptions::default(),
        reveal_pause_ms: 4000,
        games_played: 0,
        results: None,
    }
}

fn snapshot(version: RoomVersion, names: &[&str], you: Option<YouView>) -> ServerMessage {
    ServerMessage::Snapshot(Snapshot {
        version,
        room: room(RoomPhase::Lobby, names),
        table: None,
        you,
        clock: None,
    })
}

fn update(version: RoomVersion, events: Vec<RoomEvent>) -> ServerMessage {
    update_with(version, events, None, None)
}

/// An update that carries this seat's own view and the answer to one of its requests.
fn update_with(
    version: RoomVersion,
    events: Vec<RoomEvent>,
    you: Option<YouView>,
    ack: Option<RequestId>,
) -> ServerMessage {
    ServerMessage::Update(Update {
        version,
        events,
        clock: None,
        you,
        ack,
    })
}

fn spectators(count: u32) -> RoomEvent {
    RoomEvent::Spectators { count }
}

fn ack(id: RequestId, version: RoomVersion) -> ServerMessage {
    ServerMessage::Ack { id, version }
}

fn applied(mirror: &mut RoomMirror, message: &ServerMessage) -> Applied {
    mirror
        .apply(message)
        .unwrap_or_else(|v| panic!("{message:?} is a violation: {v}"))
}

fn results() -> GameResults {
    GameResults {
        game: 1,
        winner: seat(1),
        names: vec!["Ana".into(), "Bo".into()],
        placings: vec![seat(1), seat(0)],
        rounds: 3,
        stats: vec![Default::default(); 2],
        commitment: "00".repeat(32),
        seed: "11".repeat(32),
    }
}

/// Ana joins a room with Bo in it: hello, join, seated, snapshot, ack.
fn joined() -> RoomMirror {
    let mut mirror = RoomMirror::new();
    let hello = mirror.request(Request::Hello { version: 2 });
    assert_eq!(hello.id, 1, "ids count from 1");
    applied(&mut mirror, &ack(1, 4));
    let join = mirror.request(Request::Join { name: "Ana".into() });
    assert_eq!(join.id, 2);
    applied(
        &mut mirror,
        &ServerMessage::Seated {
            seat: seat(1),
            token: "t1".into(),
        },
    );
    applied(&mut mirror, &snapshot(5, &["Bo", "Ana"], None));
    applied(&mut mirror, &ack(2, 5));
    mirror
}

#[test]
fn a_new_mirror_knows_nothing() {
    let mirror = RoomMirror::default();
    assert_eq!(mirror.role(), Role::Outsider);
    assert!(!mirror.synced());
    assert_eq!(mirror.version(), 0);
    assert!(mirror.room().is_none() && mirror.table().is_none() && mirror.you().is_none());
    assert!(mirror.pending().is_empty());
    assert!(!mirror.my_turn());
}

#[test]
fn joining_seats_and_syncs() {
    let mirror = joined();
    assert_eq!(mirror.role(), Role::Seat(seat(1)));
    assert_eq!(mirror.seat(), Some(seat(1)));
    assert_eq!(mirror.token(), Some("t1"));
    assert!(mirror.synced());
    assert_eq!(mirror.version(), 5);
    assert_eq!(mirror.phase(), Some(RoomPhase::Lobby));
    assert!(mirror.pending().is_empty(), "both requests answered");
}

#[test]
fn updates_before_the_first_snapshot_are_ignored() {
    let mut mirror = RoomMirror::new();
    let message = update(3, vec![spectators(1)]);
    assert_eq!(
        applied(&mut mirror, &message),
        Applied::Ignored(Ignored::BeforeSnapshot)
    );
    assert_eq!(mirror.version(), 0);
    assert!(mirror.room().is_none());
}

#[test]
fn the_next_update_applies_and_a_stale_one_is_ignored() {
    let mut mirror = joined();
    let mut changed = room(RoomPhase::Lobby, &["Bo", "Ana"]);
    changed.spectators = 3;
    let next = update(6, vec![spectators(3)]);
    assert_eq!(
        applied(&mut mirror, &next),
        Applied::Updated {
            version: 6,
            game_over: None,
            answer: None,
        }
    );
    assert_eq!(mirror.room(), Some(&changed));
    for stale in [5, 6] {
        let message = update(stale, vec![spectators(9)]);
        assert_eq!(
            applied(&mut mirror, &message),
            Applied::Ignored(Ignored::Stale {
                version: 6,
                got: stale
            })
        );
    }
    assert_eq!(
        mirror.room(),
        Some(&changed),
        "stale updates change nothing"
    );
}

#[test]
fn a_gap_is_reported_and_changes_nothing() {
    let mut mirror = joined();
    let error = mirror
        .apply(&update(7, vec![RoomEvent::GameStarted { game: 1 }]))
        .expect_err("version 7 after 5 skips 6");
    assert_eq!(error, Violation::Gap { version: 5, got: 7 });
    assert!(error.must_resume());
    assert_eq!(mirror.version(), 5);
    assert_eq!(mirror.phase(), Some(RoomPhase::Lobby));
    // What to send on the new socket.
    mirror.reconnected();
    assert_eq!(mirror.role(), Role::Outsider);
    let resume = mirror.resume();
    assert_eq!(
        resume.request,
        Request::Resume {
            token: Some("t1".into()),
            last_version: 5
        }
    );
}

#[test]
fn events_build_the_room_and_table_and_the_clock_is_always_replaced() {
    let (game, events) = Rules::new(GameConfig::default())
        .and_then(|rules| Game::start(rules, 2, Seed::from_u64(7)))
        .expect("a two-seat game starts");
    let mut mirror = joined();
    let clock = TurnClock {
        seat: seat(0),
        remaining_ms: 900,
        reason: AutoPlayReason::TimeLimit,
    };
    let mut start = vec![RoomEvent::GameStarted { game: 1 }];
    start.extend(events.into_iter().map(|event| RoomEvent::Game { event }));
    let start = ServerMessage::Update(Update {
        version: 6,
        events: start,
        clock: Some(clock),
        you: None,
        ack: None,
    });
    applied(&mut mirror, &start);
    assert_eq!(mirror.table(), Some(&game.spectator_view()));
    assert_eq!(mirror.clock(), Some(&clock));
    assert_eq!(mirror.phase(), Some(RoomPhase::Playing));
    let emote = RoomEvent::Emote {
        seat: seat(0),
        emote: crate::Emote::Wow,
    };
    applied(&mut mirror, &update(7, vec![emote]));
    assert_eq!(
        mirror.table(),
        Some(&game.spectator_view()),
        "an emote changes no table"
    );
    assert_eq!(mirror.clock(), None, "null: no deadline now");
}

#[test]
fn a_game_event_before_any_game_is_a_violation() {
    let mut mirror = joined();
    let bid = RoomEvent::Game {
        event: perudo_core::Event::GameWon { winner: seat(0) },
    };
    assert!(matches!(
        mirror.apply(&update(6, vec![bid])),
        Err(Violation::Events(_))
    ));
    assert_eq!(mirror.version(), 5, "nothing applied");
}

#[test]
fn an_update_carries_this_seats_own_view() {
    let game = game();
    let mut mirror = RoomMirror::new();
    mirror.request(Request::Hello { version: 2 });
    let claim = mirror.request(Request::Claim { token: "t0".into() });
    applied(
        &mut mirror,
        &ServerMessage::Seated {
            seat: seat(1),
            token: "t0".into(),
        },
    );
    applied(&mut mirror, &snapshot(2, &["Ana", "Bo", "Cy"], None));
    applied(&mut mirror, &ack(claim.id, 2));
    let mine = you(&game, 1);
    applied(
        &mut mirror,
        &update_with(3, vec![], Some(mine.clone()), None),
    );
    assert_eq!(mirror.you(), Some(&mine));
    assert_eq!(mirror.my_turn(), mine.legal.any());
    applied(&mut mirror, &update(4, vec![spectators(1)]));
    assert_eq!(mirror.you(), Some(&mine), "no view: unchanged");
}

#[test]
fn another_seats_view_is_a_violation() {
    let game = game();
    let mut mirror = joined();
    let other = update_with(6, vec![], Some(you(&game, 0)), None);
    assert_eq!(
        mirror.apply(&other),
        Err(Violation::PrivateSeat {
            role: Role::Seat(seat(1)),
            seat: seat(0)
        })
    );
    assert!(mirror.you().is_none(), "not applied");
    assert_eq!(mirror.version(), 5);
}

#[test]
fn a_snapshot_with_another_seats_view_is_a_violation() {
    let game = game();
    let mut mirror = RoomMirror::new();
    let error = mirror
        .apply(&snapshot(1, &["Ana"], Some(you(&game, 0))))
        .expect_err("a spectator gets no seat's view");
    assert_eq!(
        error,
        Violation::SnapshotSeat {
            role: Role::Spectator,
            seat: seat(0)
        }
    );
    assert!(!mirror.synced());
}

#[test]
fn a_snapshot_without_seated_makes_a_spectator() {
    let mut mirror = RoomMirror::new();
    mirror.request(Request::Spectate);
    assert_eq!(
        applied(&mut mirror, &snapshot(9, &["Ana"], None)),
        Applied::Synced { version: 9 }
    );
    assert_eq!(mirror.role(), Role::Spectator);
    applied(&mut mirror, &ack(1, 9));
    assert_eq!(mirror.role(), Role::Spectator);
}

#[test]
fn a_resume_without_a_token_that_replays_makes_a_spectator() {
    let mut mirror = RoomMirror::new();
    applied(&mut mirror, &snapshot(3, &["Ana"], None));
    mirror.reconnected();
    let resume = mirror.resume();
    assert_eq!(
        resume.request,
        Request::Resume {
            token: None,
            last_version: 3
        }
    );
    applied(&mut mirror, &update(4, vec![spectators(2)]));
    assert_eq!(
        mirror.version(),
        4,
        "replayed updates apply after a reconnect"
    );
    applied(&mut mirror, &ack(resume.id, 4));
    assert_eq!(mirror.role(), Role::Spectator);
}

#[test]
fn answers_are_matched_to_their_requests() {
    let mut mirror = joined();
    let bid = Request::Act {
        action: Action::Bid(Bid {
            quantity: Quantity::new(2).expect("a quantity"),
            face: Face::new(3).expect("a face"),
        }),
    };
    let act = mirror.request(bid.clone());
    let bot = mirror.request(Request::AddBot {
        level: BotLevel::Easy,
    });
    assert_eq!(mirror.pending().len(), 2);
    let refused = ServerMessage::Rejected {
        id: act.id,
        code: RejectCode::WrongPhase,
        message: "no game is running".into(),
        detail: None,
    };
    assert_eq!(
        applied(&mut mirror, &refused),
        Applied::Answered(Answer {
            id: act.id,
            request: Some(bid),
            result: Err(Refusal {
                code: RejectCode::WrongPhase,
                message: "no game is running".into(),
                detail: None
            })
        })
    );
    assert_eq!(mirror.version(), 5, "a refusal changes nothing");
    assert_eq!(
        mirror.pending().keys().copied().collect::<Vec<_>>(),
        [bot.id]
    );
    // A second answer to the same request matches nothing.
    let Applied::Answered(again) = applied(&mut mirror, &ack(act.id, 5)) else {
        panic!("an answer")
    };
    assert_eq!(again.request, None);
    // An unreadable frame's answer carries id 0.
    let malformed = ServerMessage::Rejected {
        id: 0,
        code: RejectCode::Malformed,
        message: "not a request".into(),
        detail: None,
    };
    let Applied::Answered(answer) = applied(&mut mirror, &malformed) else {
        panic!("an answer")
    };
    assert_eq!((answer.id, answer.request), (0, None));
}

#[test]
fn an_ack_must_name_the_version_seen() {
    let mut mirror = joined();
    let start = mirror.request(Request::Start);
    assert_eq!(
        mirror.apply(&ack(start.id, 6)),
        Err(Violation::AckVersion {
            id: start.id,
            version: 5,
            got: 6
        }),
        "the update of version 6 must come before the ack"
    );
    assert_eq!(mirror.pending().len(), 1, "still waiting for a good answer");
    applied(
        &mut mirror,
        &update(6, vec![RoomEvent::GameStarted { game: 1 }]),
    );
    applied(&mut mirror, &ack(start.id, 6));
    assert!(mirror.pending().is_empty());
    // Usually the answer rides in the update the request made.
    let emote = mirror.request(Request::Emote {
        emote: crate::Emote::Fire,
    });
    let event = RoomEvent::Emote {
        seat: seat(1),
        emote: crate::Emote::Fire,
    };
    let Applied::Updated {
        answer: Some(answer),
        ..
    } = applied(
        &mut mirror,
        &update_with(7, vec![event], None, Some(emote.id)),
    )
    else {
        panic!("an answered update")
    };
    assert_eq!(answer.id, emote.id);
    assert_eq!(answer.result, Ok(7));
    assert!(mirror.pending().is_empty());
}

#[test]
fn leaving_puts_the_connection_outside_the_room() {
    let mut mirror = joined();
    let leave = mirror.request(Request::Leave);
    // The room moved on (the leave's own broadcast is not sent to the leaver).
    applied(&mut mirror, &ack(leave.id, 6));
    assert_eq!(mirror.role(), Role::Outsider);
    assert!(!mirror.synced());
    assert_eq!(
        applied(&mut mirror, &update(7, vec![])),
        Applied::Ignored(Ignored::BeforeSnapshot)
    );
}

#[test]
fn moved_only_moves_down() {
    let mut mirror = joined();
    assert_eq!(
        mirror.apply(&ServerMessage::Moved { seat: seat(2) }),
        Err(Violation::Moved {
            role: Role::Seat(seat(1)),
            seat: seat(2)
        })
    );
    assert_eq!(
        applied(&mut mirror, &ServerMessage::Moved { seat: seat(0) }),
        Applied::Moved { seat: seat(0) }
    );
    // Bo's seat was freed: the room now shows Ana in seat 0.
    let freed = RoomEvent::SeatFreed {
        seat: seat(0),
        name: PlayerName::new("Bo").expect("a name"),
    };
    applied(&mut mirror, &update(6, vec![freed]));
    assert_eq!(mirror.seat(), Some(seat(0)));
    assert_eq!(mirror.room(), Some(&room(RoomPhase::Lobby, &["Ana"])));
}

#[test]
fn a_room_that_shows_someone_else_in_the_seat_is_a_violation() {
    let mut mirror = joined();
    // Bo's seat is freed, but Ana was not told she moved.
    let freed = RoomEvent::SeatFreed {
        seat: seat(0),
        name: PlayerName::new("Bo").expect("a name"),
    };
    let error = mirror
        .apply(&update(6, vec![freed]))
        .expect_err("Ana was not told she moved");
    assert_eq!(
        error,
        Violation::SeatTaken {
            seat: seat(1),
            own: "Ana".into(),
            shown: None
        }
    );
    assert_eq!(mirror.room(), Some(&room(RoomPhase::Lobby, &["Bo", "Ana"])));
    assert!(!error.must_resume());
    assert_eq!(mirror.version(), 5);
}

#[test]
fn game_over_keeps_the_results() {
    let mut mirror = joined();
    let over = RoomEvent::GameOver { results: results() };
    assert_eq!(
        applied(&mut mirror, &update(6, vec![over])),
        Applied::Updated {
            version: 6,
            game_over: Some(results()),
            answer: None,
        }
    );
    assert_eq!(
        mirror.room().and_then(|r| r.results.clone()),
        Some(results())
    );
    assert_eq!(mirror.room().map(|r| r.games_played), Some(1));
    assert_eq!(mirror.results(), Some(&results()));
    assert_eq!(mirror.phase(), Some(RoomPhase::Finished));
}

#[test]
fn closing_says_why_and_keeps_the_room_to_resume() {
    let mut mirror = joined();
    assert_eq!(
        applied(
            &mut mirror,
            &ServerMessage::Closing {
                reason: CloseReason::IdleTimeout
            }
        ),
        Applied::Closing {
            reason: CloseReason::IdleTimeout
        }
    );
    assert_eq!(mirror.closing(), Some(CloseReason::IdleTimeout));
    assert_eq!(mirror.role(), Role::Outsider);
    mirror.reconnected();
    assert_eq!(mirror.closing(), None);
    let resume = mirror.resume();
    applied(
        &mut mirror,
        &ServerMessage::Seated {
            seat: seat(1),
            token: "t1".into(),
        },
    );
    applied(
        &mut mirror,
        &update(6, vec![RoomEvent::Reconnected { seat: seat(1) }]),
    );
    applied(&mut mirror, &ack(resume.id, 6));
    assert_eq!(
        mirror.version(),
        6,
        "the replay continued from the room kept"
    );
}

#[test]
fn a_snapshot_replaces_everything() {
    let game = game();
    let mut mirror = joined();
    applied(
        &mut mirror,
        &update(6, vec![RoomEvent::GameOver { results: results() }]),
    );
    let fresh = ServerMessage::Snapshot(Snapshot {
        version: 1 << 32,
        room: room(RoomPhase::Playing, &["Bo", "Ana", "Cy"]),
        table: Some(game.view_for(seat(0)).table),
        you: Some(you(&game, 1)),
        clock: None,
    });
    assert_eq!(
        applied(&mut mirror, &fresh),
        Applied::Synced { version: 1 << 32 }
    );
    assert_eq!(mirror.version(), 1 << 32);
    assert_eq!(mirror.room().map(|r| r.seats.len()), Some(3));
    assert_eq!(mirror.table(), Some(&game.view_for(seat(0)).table));
    assert_eq!(mirror.you(), Some(&you(&game, 1)));
}

#[test]
fn a_second_socket_adopts_the_public_room_only() {
    let game = game();
    let mut first = joined();
    applied(
        &mut first,
        &update_with(6, vec![], Some(you(&game, 1)), None),
    );
    let mut second = RoomMirror::new();
    second.request(Request::Hello { version: 2 });
    second.adopt_room(&first);
    assert!(second.synced());
    assert_eq!(second.version(), 6);
    assert_eq!(second.room(), first.room());
    assert_eq!(second.you(), None, "its own view comes from the server");
    assert_eq!(second.token(), None);
    assert_eq!(second.role(), Role::Outsider);
    assert_eq!(second.pending().len(), 1, "its own hello is still pending");
}
