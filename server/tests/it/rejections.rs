//! Every way a request can be refused, each answered with its typed code; refusals change
//! nothing; the HTTP API's errors; and the host's powers over seats.

use std::time::Duration;

use perudo_protocol::perudo_core::{
    Action, Bid, BidQuantityCap, BotLevel, Event, FirstOpener, GameConfig, Quantity, RuleError,
    TableState,
};
use perudo_protocol::{
    ClientMessage, CloseReason, MAX_CLIENT_FRAME, MAX_WS_MESSAGE, Occupant, PROTOCOL_VERSION,
    RejectCode, RejectDetail, Request, RoomEvent, RoomPhase, ServerMessage,
};
use perudo_server::RoomSettings;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Role, bid, seat};
use crate::server::{TestServer, fast_settings};

/// WebSocket close codes the server uses.
const NORMAL: u16 = 1000;
const POLICY: u16 = 1008;
const SERVICE_RESTART: u16 = 1012;

/// Every kind of request, each with plausible arguments.
fn every_request() -> Vec<Request> {
    vec![
        Request::Hello {
            version: PROTOCOL_VERSION,
        },
        Request::Join { name: "Zoe".into() },
        Request::Claim {
            token: "0".repeat(32),
        },
        Request::Spectate,
        Request::SetRules {
            rules: GameConfig::default(),
        },
        Request::AddBot {
            level: BotLevel::Normal,
        },
        Request::Kick { seat: seat(1) },
        Request::TransferHost { seat: seat(1) },
        Request::Start,
        Request::Act {
            action: Action::Dudo,
        },
        Request::Leave,
    ]
}

fn rules_3_seats_seat_0_opens() -> GameConfig {
    GameConfig {
        max_players: 3,
        first_round_opener: FirstOpener::Seat(seat(0)),
        ..GameConfig::default()
    }
}

#[tokio::test]
async fn frames_that_are_not_requests_are_malformed() {
    let server = TestServer::fast().await;
    let room = server.create_room("Ana", None).await;
    let mut client = server.connect(&room.code, "client").await;

    let garbage = client
        .reject_raw(Message::Binary(vec![0xc1, 0xff, 0x00].into()))
        .await;
    assert_eq!(garbage.code, RejectCode::Malformed);
    let text = client.reject_raw(Message::Text("hello".into())).await;
    assert_eq!(text.code, RejectCode::Malformed);
    // Valid MessagePack, but not a request: an unknown request type, an unknown field, a
    // missing id.
    let unknown_type = rmp_serde::to_vec_named(&serde_json::json!({
        "id": 7, "request": { "type": "Cheat" }
    }))
    .expect("encode");
    let unknown_field = rmp_serde::to_vec_named(&serde_json::json!({
        "id": 8, "request": { "type": "Hello", "version": 1 }, "extra": true
    }))
    .expect("encode");
    let no_id = rmp_serde::to_vec_named(&serde_json::json!({
        "request": { "type": "Spectate" }
    }))
    .expect("encode");
    // Valid requests in shapes the protocol does not allow (maps with field names, str
    // strings): the whole message as arrays (rmp-serde's compact encoding), the name as bin,
    // the type tag as bin.
    let as_arrays = rmp_serde::to_vec(&ClientMessage {
        id: 9,
        request: Request::Hello {
            version: PROTOCOL_VERSION,
        },
    })
    .expect("encode");
    let bin_name = b"\x82\xa2id\x0a\xa7request\x82\xa4type\xa4Join\xa4name\xc4\x03Zoe".to_vec();
    let mut bin_type = b"\x82\xa2id\x0b\xa7request\x82\xa4type\xc4\x05Hello\xa7version".to_vec();
    bin_type.push(u8::try_from(PROTOCOL_VERSION).expect("a small version"));
    for bytes in [
        unknown_type,
        unknown_field,
        no_id,
        Vec::new(),
        as_arrays,
        bin_name,
        bin_type,
    ] {
        let refusal = client.reject_raw(Message::Binary(bytes.into())).await;
        assert_eq!(refusal.code, RejectCode::Malformed, "{refusal:?}");
    }
    // The connection is still fine: hello works, and the requests got one answer each.
    client.hello().await;
    client.assert_answered_once().await;
    server.stop().await;
}

/// A frame of exactly `MAX_CLIENT_FRAME` bytes is read; a larger one (up to `MAX_WS_MESSAGE`)
/// gets a typed `TooLarge` and the connection stays; a message over `MAX_WS_MESSAGE` closes
/// the connection with 1009 ("message too big").
#[tokio::test]
async fn oversized_frames_get_too_large_then_a_1009_close() {
    let server = TestServer::fast().await;
    let room = server.create_room("Ana", None).await;
    let mut client = server.connect(&room.code, "client").await;
    client.hello().await;

    // A name padded to make the frame exactly MAX_CLIENT_FRAME bytes: read, and refused by
    // the rules as too long a name.
    let frame_len = |pad: usize| {
        ClientMessage {
            id: 2,
            request: Request::Join {
                name: "x".repeat(pad),
            },
        }
        .encode()
        .expect("encode")
        .len()
    };
    let pad = (1..MAX_CLIENT_FRAME)
        .find(|&pad| frame_len(pad) == MAX_CLIENT_FRAME)
        .expect("a padding that hits the limit");
    let refusal = client
        .reject(Request::Join {
            name: "x".repeat(pad),
        })
        .await;
    assert_eq!(refusal.code, RejectCode::NameInvalid);

    let too_big = ClientMessage {
        id: 99,
        request: Request::Join {
            name: "x".repeat(pad + 1),
        },
    }
    .encode()
    .expect("encode");
    assert_eq!(too_big.len(), MAX_CLIENT_FRAME + 1);
    // Undecodable frames are answered with id 0: the id inside was never read.
    let refusal = client.reject_raw(Message::Binary(too_big.into())).await;
    assert_eq!(refusal.code, RejectCode::TooLarge);
    // The connection is still usable.
    client
        .expect_reject(
            Request::Hello {
                version: PROTOCOL_VERSION,
            },
            RejectCode::AlreadyGreeted,
        )
        .await;

    let huge = vec![0u8; MAX_WS_MESSAGE + 1];
    client.send_raw(Message::Binary(huge.into())).await;
    let (code, reason) = client.wait_closed().await;
    assert_eq!(code, Some(1009), "{reason}");
    server.stop().await;
}

#[tokio::test]
async fn hello_comes_first_and_once_in_a_version_the_server_speaks() {
    let server = TestServer::fast().await;
    let room = server.create_room("Ana", None).await;
    let mut client = server.connect(&room.code, "client").await;

    for request in every_request().into_iter().skip(1) {
        client.expect_reject(request, RejectCode::HelloFirst).await;
    }
    let refusal = client
        .expect_reject(
            Request::Hello {
                version: PROTOCOL_VERSION + 1,
            },
            RejectCode::VersionMismatch,
        )
        .await;
    assert_eq!(
        refusal.detail,
        Some(RejectDetail::Versions {
            supported: vec![PROTOCOL_VERSION]
        })
    );
    client
        .expect_reject(Request::Hello { version: 0 }, RejectCode::VersionMismatch)
        .await;
    // A refused hello greets nobody: still hello first.
    client
        .expect_reject(Request::Spectate, RejectCode::HelloFirst)
        .await;
    client.hello().await;
    client
        .expect_reject(
            Request::Hello {
                version: PROTOCOL_VERSION,
            },
            RejectCode::AlreadyGreeted,
        )
        .await;
    client.assert_answered_once().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_has_its_code_and_changes_nothing() {
    let server = TestServer::start_with(perudo_server::ServerConfig {
        rooms: fast_settings(),
        limits: perudo_server::Limits {
            max_spectators: 1,
            ..perudo_server::Limits::unlimited()
        },
        store: Some(std::sync::Arc::new(perudo_server::store::MemoryStore::new())),
        ..perudo_server::ServerConfig::default()
    })
    .await;
    let rules = rules_3_seats_seat_0_opens();
    let room = server.create_room("Ana", Some(rules.clone())).await;
    let mut host = server.host(&room, "Ana").await;
    let mut witness = server.connect(&room.code, "witness").await;
    witness.hello().await;
    witness.spectate().await;
    let v0 = witness.version();
    host.catch_up(v0).await;

    host.expect_reject(Request::Start, RejectCode::NotEnoughPlayers)
        .await;

    // A socket that said hello but neither sits nor watches.
    let mut outsider = server.connect(&room.code, "outsider").await;
    outsider.hello().await;
    for request in every_request().into_iter().skip(4) {
        outsider.expect_reject(request, RejectCode::NotSeated).await;
    }
    for token in ["0".repeat(32), String::new(), "not hex at all".into()] {
        outsider
            .expect_reject(Request::Claim { token }, RejectCode::BadToken)
            .await;
    }
    outsider
        .expect_reject(Request::Spectate, RejectCode::SpectatorsFull)
        .await;
    for name in [
        String::new(),
        "   ".into(),
        "x".repeat(25),
        "bell\u{7}".into(),
        "tab\tname".into(),
        "\u{200B}\u{200B}".into(),
        "\u{3164}".into(),
        "\u{202E}".into(),
    ] {
        outsider
            .expect_reject(Request::Join { name }, RejectCode::NameInvalid)
            .await;
    }
    // Look-alikes are the same name: case, a Cyrillic А, a zero-width space, a soft hyphen,
    // a right-to-left override (look-alike names).
    for name in [
        "Ana",
        "ana",
        "  ANA ",
        "\u{410}na",
        "A\u{200B}na",
        "An\u{AD}a",
        "\u{202E}Ana",
    ] {
        outsider
            .expect_reject(Request::Join { name: name.into() }, RejectCode::NameTaken)
            .await;
    }

    // A seated player who is not the host.
    let mut bob = server.player(&room.code, "Bob").await;
    assert_eq!(
        bob.version(),
        v0 + 1,
        "none of the refusals above changed the room"
    );
    witness.catch_up(bob.version()).await;
    host.catch_up(bob.version()).await;
    let bob_token = bob.token().map(str::to_string).expect("a token");
    bob.expect_reject(
        Request::Join { name: "Bo".into() },
        RejectCode::AlreadyJoined,
    )
    .await;
    bob.expect_reject(Request::Spectate, RejectCode::AlreadyJoined)
        .await;
    for token in [bob_token.clone(), room.token.clone()] {
        bob.expect_reject(Request::Claim { token }, RejectCode::AlreadyJoined)
            .await;
    }
    witness
        .expect_reject(
            Request::Join { name: "Wit".into() },
            RejectCode::AlreadyJoined,
        )
        .await;
    witness
        .expect_reject(Request::Start, RejectCode::NotSeated)
        .await;
    for request in [
        Request::SetRules {
            rules: rules.clone(),
        },
        Request::AddBot {
            level: BotLevel::Easy,
        },
        Request::Kick { seat: seat(0) },
        Request::TransferHost { seat: seat(1) },
        Request::Start,
    ] {
        bob.expect_reject(request, RejectCode::NotHost).await;
    }
    bob.expect_reject(
        Request::Act {
            action: Action::Dudo,
        },
        RejectCode::WrongPhase,
    )
    .await;
    bob.expect_reject(
        Request::Hello {
            version: PROTOCOL_VERSION,
        },
        RejectCode::AlreadyGreeted,
    )
    .await;

    // The host's own mistakes.
    for target in [2, 9] {
        host.expect_reject(Request::Kick { seat: seat(target) }, RejectCode::NoSuchSeat)
            .await;
    }
    host.expect_reject(Request::Kick { seat: seat(0) }, RejectCode::BadTarget)
        .await;
    for target in [0, 2, 9] {
        host.expect_reject(
            Request::TransferHost { seat: seat(target) },
            RejectCode::BadTarget,
        )
        .await;
    }
    for bad in [
        GameConfig {
            starting_dice: 0,
            ..rules.clone()
        },
        GameConfig {
            min_players: 4,
            max_players: 3,
            ..rules.clone()
        },
        GameConfig {
            max_players: 11,
            ..rules.clone()
        },
    ] {
        host.expect_reject(Request::SetRules { rules: bad }, RejectCode::InvalidRules)
            .await;
    }
    let v1 = host
        .ack(Request::AddBot {
            level: BotLevel::Easy,
        })
        .await;
    assert_eq!(v1, v0 + 2, "none of the refusals above changed the room");
    // Three of three seats taken.
    host.expect_reject(
        Request::AddBot {
            level: BotLevel::Easy,
        },
        RejectCode::RoomFull,
    )
    .await;
    outsider
        .expect_reject(Request::Join { name: "Cy".into() }, RejectCode::RoomFull)
        .await;
    host.expect_reject(
        Request::SetRules {
            rules: GameConfig {
                max_players: 2,
                ..rules.clone()
            },
        },
        RejectCode::InvalidRules,
    )
    .await;
    host.expect_reject(
        Request::TransferHost { seat: seat(2) },
        RejectCode::BadTarget,
    )
    .await;

    // The game runs: seat 0 (the host) opens.
    let v2 = host.ack(Request::Start).await;
    assert_eq!(v2, v1 + 1);
    witness.catch_up(v2).await;
    bob.catch_up(v2).await;
    outsider
        .expect_reject(Request::Join { name: "Cy".into() }, RejectCode::WrongPhase)
        .await;
    for request in [
        Request::SetRules {
            rules: rules.clone(),
        },
        Request::AddBot {
            level: BotLevel::Easy,
        },
        Request::Kick { seat: seat(1) },
        Request::Start,
    ] {
        host.expect_reject(request, RejectCode::WrongPhase).await;
    }
    witness
        .expect_reject(
            Request::Act {
                action: Action::Dudo,
            },
            RejectCode::NotSeated,
        )
        .await;
    let rule = |error| Some(RejectDetail::Rule { error });
    let refusal = bob
        .expect_reject(Request::Act { action: bid(1, 2) }, RejectCode::Rule)
        .await;
    assert_eq!(
        refusal.detail,
        rule(RuleError::NotYourTurn { turn: seat(0) })
    );
    let refusal = host
        .expect_reject(
            Request::Act {
                action: Action::Dudo,
            },
            RejectCode::Rule,
        )
        .await;
    assert_eq!(refusal.detail, rule(RuleError::NoBidToChallenge));
    let refusal = host
        .expect_reject(Request::Act { action: bid(1, 1) }, RejectCode::Rule)
        .await;
    assert_eq!(refusal.detail, rule(RuleError::OpeningOnAces));
    let refusal = host
        .expect_reject(Request::Act { action: bid(16, 2) }, RejectCode::Rule)
        .await;
    assert_eq!(
        refusal.detail,
        rule(RuleError::QuantityTooHigh {
            max: Quantity::new(15).expect("15")
        })
    );
    let v3 = host.act(bid(3, 4)).await;
    assert_eq!(v3, v2 + 1, "the refused moves changed nothing");

    // Bob must raise 3 × fours: at least 4 fours, or 2 aces.
    bob.catch_up(v3).await;
    bob.wait_turn().await;
    let legal = bob.you().expect("bob's view").legal;
    let previous = Bid::new(3, 4).expect("a bid");
    for (action, minimum) in [
        (bid(2, 4), 4),
        (bid(3, 4), 4),
        (bid(3, 3), 4),
        (bid(1, 1), 2),
    ] {
        let refusal = bob
            .expect_reject(Request::Act { action }, RejectCode::Rule)
            .await;
        assert_eq!(
            refusal.detail,
            rule(RuleError::BidTooLow { previous, minimum }),
            "{action:?}"
        );
        let Action::Bid(b) = action else {
            unreachable!()
        };
        assert_eq!(
            legal.min_bid[b.face.index()].map(|q| u16::from(q.get())),
            Some(minimum),
            "the legal moves sent agree with the refusal"
        );
    }
    let refusal = bob
        .expect_reject(
            Request::Act {
                action: Action::DeclarePalifico,
            },
            RejectCode::Rule,
        )
        .await;
    assert!(matches!(
        refusal.detail,
        Some(RejectDetail::Rule {
            error: RuleError::PalificoNotAllowed { .. }
        })
    ));
    let v4 = bob.act(bid(4, 4)).await;
    assert_eq!(v4, v3 + 1, "the refused moves changed nothing");
    witness.catch_up(v4).await;

    for client in [&mut host, &mut bob, &mut witness, &mut outsider] {
        client.assert_answered_once().await;
    }

    // Shutting down tells every socket, seated, watching or not, and closes it as a
    // restart.
    server.stop().await;
    for mut client in [host, bob, witness, outsider] {
        let (code, reason) = client.wait_closed().await;
        assert_eq!(
            client.closing(),
            Some(CloseReason::ServerRestart),
            "{}",
            client.name
        );
        assert_eq!(code, Some(SERVICE_RESTART), "{}: {reason}", client.name);
    }
}

/// The reveal stays on show for a while: moves then are refused as `RoundPaused`, and the
/// seats' private views hold no hand and no move until the next round starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_during_the_reveal_are_refused_as_round_paused() {
    let server = TestServer::start(RoomSettings {
        reveal_pause: Duration::from_millis(1500),
        ..fast_settings()
    })
    .await;
    let rules = GameConfig {
        bid_quantity_cap: BidQuantityCap::Unbounded,
        ..rules_3_seats_seat_0_opens()
    };
    let room = server.create_room("Ana", Some(rules.clone())).await;
    let mut ana = server.host(&room, "Ana").await;
    let mut bob = server.player(&room.code, "Bob").await;
    let mut cy = server.player(&room.code, "Cy").await;
    ana.ack(Request::Start).await;

    // 16 fives among 15 dice is certainly false: Ana loses a die and opens again.
    ana.act(bid(16, 5)).await;
    bob.wait_turn().await;
    bob.act(Action::Dudo).await;
    assert_eq!(bob.phase(), RoomPhase::Reveal);
    let Some((_, RoomEvent::NextRoundIn { ms })) = bob.events.last().cloned() else {
        panic!(
            "the reveal update ends with NextRoundIn: {:?}",
            bob.events.last()
        );
    };
    assert_eq!(ms, 1500);
    // Bob's dudo was answered in its update; the others read up to the reveal, whose update
    // carries their own view with the hand put away.
    for client in [&mut ana, &mut cy] {
        client
            .wait_event(|e| matches!(e, RoomEvent::NextRoundIn { .. }))
            .await;
        assert!(client.you().is_some_and(|you| you.hand.is_empty()));
    }
    for client in [&mut ana, &mut bob, &mut cy] {
        let you = client.you().cloned().expect("a seat's view");
        assert!(
            you.hand.is_empty() && !you.legal.any(),
            "{}: {you:?}",
            client.name
        );
        let refusal = client
            .expect_reject(Request::Act { action: bid(1, 2) }, RejectCode::RoundPaused)
            .await;
        assert!(refusal.detail.is_none());
    }

    // The next round starts by itself, Ana (the loser) opening.
    let round_started = |e: &RoomEvent| {
        matches!(
            e,
            RoomEvent::Game {
                event: Event::RoundStarted { .. }
            }
        )
    };
    ana.wait_event(round_started).await;
    assert_eq!(ana.phase(), RoomPhase::Playing);
    ana.wait_turn().await;
    assert_eq!(ana.you().expect("view").hand.len(), 4);
    ana.act(bid(1, 2)).await;

    // A player who leaves during a reveal forfeits at once, but the news waits with the
    // next round: the room's event stream stays the engine's, in order. Only the room view
    // (the seat is empty) changes now.
    bob.wait_turn().await;
    bob.act(bid(20, 2)).await;
    cy.wait_turn().await;
    cy.act(Action::Dudo).await;
    assert_eq!(cy.phase(), RoomPhase::Reveal);
    let before = ana.version();
    ana.wait_event(|e| matches!(e, RoomEvent::NextRoundIn { .. }))
        .await;
    assert_eq!(ana.version(), before + 2);
    let left = cy.ack(Request::Leave).await;
    let ServerMessage::Update(update) = ana
        .wait_for(|m| matches!(m, ServerMessage::Update(u) if u.version == left))
        .await
    else {
        unreachable!()
    };
    assert_eq!(update.events, [RoomEvent::Left { seat: seat(2) }]);
    let round = match &ana.table().expect("a table").state {
        TableState::Bidding(round) => round.round,
        TableState::Over { .. } => unreachable!("the game goes on"),
    };
    assert_eq!(round, 1, "the next round stays hidden during the reveal");
    let view = ana.room().cloned().expect("the room view: Cy is gone");
    assert_eq!(view.phase, RoomPhase::Reveal);
    assert_eq!(view.seats[2].occupant, Occupant::Human { connected: false });

    // When the pause ends: round 2 (dealt before Cy left), Cy's forfeit, which voids it, and
    // its re-roll as round 3 without Cy's dice.
    let ServerMessage::Update(update) = ana
        .wait_for(|m| matches!(m, ServerMessage::Update(u) if u.version == left + 1))
        .await
    else {
        unreachable!()
    };
    let events: Vec<Event> = update
        .events
        .into_iter()
        .map(|e| match e {
            RoomEvent::Game { event } => event,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        matches!(
            events.as_slice(),
            [
                Event::RoundStarted { round: 2, .. },
                Event::Forfeited { seat: s1 },
                Event::Eliminated { seat: s2 },
                Event::RoundStarted { round: 3, dice, .. },
            ] if *s1 == seat(2) && *s2 == seat(2) && *dice == [4, 4, 0]
        ),
        "{events:?}"
    );
    assert_eq!(ana.room().expect("room").phase, RoomPhase::Playing);
    assert!(!ana.you().expect("Ana's view").hand.is_empty());

    // Bob, who lost the last round, opens; Ana's dudo wins. Bob leaves during that reveal,
    // which ends the game at once: what was held back goes out first, in order.
    bob.wait_turn().await;
    bob.act(bid(20, 3)).await;
    ana.wait_turn().await;
    ana.act(Action::Dudo).await;
    assert_eq!(ana.phase(), RoomPhase::Reveal);
    bob.ack(Request::Leave).await;
    let over = ana
        .wait_event(|e| matches!(e, RoomEvent::GameOver { .. }))
        .await;
    let RoomEvent::GameOver { results } = over else {
        unreachable!()
    };
    assert_eq!(results.winner, seat(0));
    assert_eq!(results.placings, [seat(0), seat(1), seat(2)]);
    let dice: Vec<u8> = ana
        .table()
        .as_ref()
        .expect("table")
        .seats
        .iter()
        .map(|s| s.dice)
        .collect();
    let events = crate::game::game_events(&ana, 1);
    crate::game::verify_game(&rules, &results, &events, &dice);
    let tail: Vec<&Event> = events.iter().rev().take(4).rev().collect();
    assert!(
        matches!(
            tail.as_slice(),
            [
                Event::RoundStarted { round: 4, .. },
                Event::Forfeited { .. },
                Event::Eliminated { .. },
                Event::GameWon { .. }
            ]
        ),
        "{tail:?}"
    );
    for client in [&mut ana, &mut bob, &mut cy] {
        client.assert_answered_once().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_kicks_hands_over_and_seats_are_taken_back() {
    let server = TestServer::fast().await;
    let rules = GameConfig {
        max_players: 5,
        ..GameConfig::default()
    };
    let room = server.create_room("Ana", Some(rules)).await;
    let mut ana = server.host(&room, "Ana").await;
    let mut bob = server.player(&room.code, "Bob").await;
    let mut cy = server.player(&room.code, "Cy").await;
    let mut dee = server.player(&room.code, "Dee").await;
    let mut witness = server.connect(&room.code, "witness").await;
    witness.hello().await;
    witness.spectate().await;

    // Kick: the kicked socket is told why, then closed; everyone sees the seat freed.
    ana.ack(Request::Kick { seat: seat(3) }).await;
    let (code, reason) = dee.wait_closed().await;
    assert_eq!(dee.closing(), Some(CloseReason::Kicked));
    assert!(matches!(
        dee.frames.last().map(|f| &f.message),
        Some(ServerMessage::Closing {
            reason: CloseReason::Kicked
        })
    ));
    assert_eq!(code, Some(NORMAL), "{reason}");
    let freed = witness
        .wait_event(|e| matches!(e, RoomEvent::SeatFreed { .. }))
        .await;
    assert_eq!(
        freed,
        RoomEvent::SeatFreed {
            seat: seat(3),
            name: perudo_protocol::PlayerName::new("Dee").unwrap()
        }
    );
    // Dee's token no longer holds a seat.
    let mut dee_again = server.connect(&room.code, "Dee").await;
    dee_again.hello().await;
    dee_again
        .expect_reject(
            Request::Claim {
                token: dee.token().map(str::to_string).expect("token"),
            },
            RejectCode::BadToken,
        )
        .await;

    // Leaving a lobby frees the seat, and the seats after it move up.
    bob.ack(Request::Leave).await;
    assert_eq!(bob.role(), Role::Outsider);
    cy.wait_event(|e| matches!(e, RoomEvent::SeatFreed { name, .. } if name == "Bob"))
        .await;
    assert_eq!(cy.role(), Role::Seat(seat(1)), "Cy moved up a seat");
    let names: Vec<String> = cy
        .room()
        .as_ref()
        .expect("room")
        .seats
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["Ana", "Cy"]);
    bob.join("Bob").await;
    assert_eq!(bob.role(), Role::Seat(seat(2)));

    // Hand the host role to Cy: Ana may no longer start, Cy may.
    ana.ack(Request::TransferHost { seat: seat(1) }).await;
    let changed = witness
        .wait_event(|e| matches!(e, RoomEvent::HostChanged { .. }))
        .await;
    assert_eq!(
        changed,
        RoomEvent::HostChanged {
            seat: Some(seat(1))
        }
    );
    ana.expect_reject(Request::Start, RejectCode::NotHost).await;

    // Another socket claims Cy's seat with its token: the old socket is replaced.
    let token = cy.token().map(str::to_string).expect("a token");
    let mut cy2 = server.connect(&room.code, "Cy").await;
    cy2.hello().await;
    cy2.claim(&token).await;
    assert_eq!(cy2.role(), Role::Seat(seat(1)));
    assert_eq!(cy2.token(), Some(token.as_str()), "the same token");
    let (code, reason) = cy.wait_closed().await;
    assert_eq!(cy.closing(), Some(CloseReason::Replaced));
    assert_eq!(code, Some(POLICY), "{reason}");
    cy2.ack(Request::AddBot {
        level: BotLevel::Normal,
    })
    .await;

    // Leaving a running game forfeits it. Ana leaves first, then Cy (the host): the host
    // role goes to Bob, and Bob plays the bot to the end.
    cy2.ack(Request::Start).await;
    assert_eq!(cy2.phase(), RoomPhase::Playing);
    ana.ack(Request::Leave).await;
    assert_eq!(ana.role(), Role::Outsider);
    let forfeit = witness
        .wait_event(|e| {
            matches!(
                e,
                RoomEvent::Game {
                    event: Event::Forfeited { .. }
                }
            )
        })
        .await;
    assert_eq!(
        forfeit,
        RoomEvent::Game {
            event: Event::Forfeited { seat: seat(0) }
        }
    );
    assert_eq!(
        witness.room().expect("room").seats[0].occupant,
        perudo_protocol::Occupant::Human { connected: false },
        "the forfeit update carries the room: Ana is gone"
    );
    cy2.wait_event(|e| {
        matches!(
            e,
            RoomEvent::Game {
                event: Event::Forfeited { .. }
            }
        )
    })
    .await;
    cy2.ack(Request::Leave).await;
    bob.wait_event(|e| {
        *e == RoomEvent::HostChanged {
            seat: Some(seat(2)),
        }
    })
    .await;
    assert_eq!(bob.room().expect("room").host, Some(seat(2)));
    let mut strategy = crate::client::Strategy::Simple;
    let results = tokio::time::timeout(Duration::from_secs(30), bob.play_to_end(1, &mut strategy))
        .await
        .expect("the game ends in time");
    assert_eq!(results.placings.len(), 4);
    assert_eq!(
        &results.placings[2..],
        [seat(1), seat(0)],
        "the leavers placed last"
    );
    // The leavers left for good: the next game seats Bob and the bot only.
    bob.ack(Request::Start).await;
    let names: Vec<String> = bob
        .room()
        .as_ref()
        .expect("room")
        .seats
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["Bob", "Bot 1"]);
    assert_eq!(bob.role(), Role::Seat(seat(0)));
    bob.wait_turn().await;
    assert_eq!(bob.you().expect("view").seat, seat(0));

    for client in [&mut ana, &mut bob, &mut cy2, &mut witness, &mut dee_again] {
        client.assert_answered_once().await;
    }
    server.stop().await;
}

#[tokio::test]
async fn the_http_api_answers_errors_with_codes() {
    let server = TestServer::fast().await;
    let room = server.create_room("Ana", None).await;
    let summary = server.summary(&room.code).await;
    assert_eq!(summary.code, room.code);
    assert_eq!(summary.phase, RoomPhase::Lobby);
    assert_eq!((summary.seats_taken, summary.max_seats), (1, 6));
    // Codes are read leniently: lower case, dashes.
    let typed = format!(
        "{}-{}-{}",
        &room.code[..3],
        &room.code[3..6],
        &room.code[6..]
    )
    .to_lowercase();
    assert_eq!(server.summary(&typed).await.code, room.code);

    for path in ["/api/rooms/ZZZZZZZZZ", "/api/rooms/nope"] {
        let response = server.get(path).await;
        assert_eq!(response.status, 404, "{path}: {}", response.body);
        assert_eq!(response.error_code(), "no_such_room");
    }
    // Every path the API does not take answers its JSON error too, never axum's text/plain:
    // a game number that is not one, a path that is not UTF-8, a plain GET of the socket, an
    // endpoint that does not exist, a method a route does not serve.
    let code = &room.code;
    for (method, path, status, error) in [
        (
            "GET",
            format!("/api/rooms/{code}/games/abc"),
            400,
            "bad_request",
        ),
        (
            "GET",
            format!("/api/rooms/{code}/games/-1"),
            400,
            "bad_request",
        ),
        (
            "GET",
            format!("/api/rooms/{code}/games/99999999999"),
            400,
            "bad_request",
        ),
        ("GET", "/api/rooms/%FF%FE".to_string(), 400, "bad_request"),
        (
            "GET",
            "/api/rooms/%FF/games/1".to_string(),
            400,
            "bad_request",
        ),
        ("GET", "/api/rooms/%FF/ws".to_string(), 400, "bad_request"),
        ("GET", format!("/api/rooms/{code}/ws"), 400, "not_websocket"),
        ("GET", "/api/nope".to_string(), 404, "not_found"),
        ("POST", "/api/rooms/a/b/c".to_string(), 404, "not_found"),
        (
            "POST",
            format!("/api/rooms/{code}"),
            405,
            "method_not_allowed",
        ),
        (
            "DELETE",
            format!("/api/rooms/{code}/games/1"),
            405,
            "method_not_allowed",
        ),
        ("GET", "/api/rooms".to_string(), 405, "method_not_allowed"),
    ] {
        let response = server.http(method, &path, None).await;
        assert_eq!(
            response.status, status,
            "{method} {path}: {}",
            response.body
        );
        assert_eq!(response.error_code(), error, "{method} {path}");
        assert!(
            response
                .headers
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{method} {path}: {}",
            response.headers
        );
    }
    let url = format!("ws://{}/api/rooms/ZZZZZZZZZ/ws", server.addr);
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 404);
        }
        other => panic!("a socket to an unknown room: {other:?}"),
    }
    for (body, status, code) in [
        (r#"{"name":""}"#, 422, "name_invalid"),
        (r#"{"name":"   "}"#, 422, "name_invalid"),
        // Nothing visible: zero-width spaces, a Hangul filler, a bidi override.
        (r#"{"name":"\u200b\u200b"}"#, 422, "name_invalid"),
        (r#"{"name":"\u3164"}"#, 422, "name_invalid"),
        (r#"{"name":"\u202e"}"#, 422, "name_invalid"),
        (
            r#"{"name":"Ana","rules":{"starting_dice":0}}"#,
            422,
            "invalid_rules",
        ),
        (
            r#"{"name":"Ana","rules":{"min_players":5,"max_players":3}}"#,
            422,
            "invalid_rules",
        ),
        (
            r#"{"name":"Ana","rules":{"no_such_rule":true}}"#,
            400,
            "bad_request",
        ),
        (r#"{"name":"Ana","extra":1}"#, 400, "bad_request"),
        (r#"{"name":5}"#, 400, "bad_request"),
        ("not json", 400, "bad_request"),
        ("", 400, "bad_request"),
    ] {
        let response = server.post_json("/api/rooms", body).await;
        assert_eq!(response.status, status, "{body}: {}", response.body);
        assert_eq!(response.error_code(), code, "{body}");
        assert!(
            response
                .headers
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{}",
            response.headers
        );
    }
    let response = server
        .http(
            "POST",
            "/api/rooms",
            Some(("text/plain", r#"{"name":"Ana"}"#)),
        )
        .await;
    assert_eq!(response.status, 400, "{}", response.body);
    assert_eq!(response.error_code(), "bad_request");

    // Partial rules take the defaults for the rest.
    let partial = server
        .post_json("/api/rooms", r#"{"name":"Cy","rules":{"starting_dice":2}}"#)
        .await;
    assert_eq!(partial.status, 200, "{}", partial.body);
    let partial: perudo_protocol::http::RoomCreated =
        serde_json::from_str(&partial.body).expect("json");
    let rules = server.summary(&partial.code).await.rules;
    assert_eq!(
        rules,
        GameConfig {
            starting_dice: 2,
            ..GameConfig::default()
        }
    );
    server.stop().await;
}

#[tokio::test]
async fn a_room_nobody_is_connected_to_closes() {
    let server = TestServer::start(RoomSettings {
        idle_close: Duration::from_millis(100),
        ..fast_settings()
    })
    .await;
    let idle = server.create_room("Ana", None).await;
    let busy = server.create_room("Bea", None).await;
    let mut bea = server.host(&busy, "Bea").await;
    // Polled, not timed: the idle room goes within a few seconds at most.
    let mut closed = false;
    for _ in 0..100 {
        if server
            .get(&format!("/api/rooms/{}", idle.code))
            .await
            .status
            == 404
        {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(closed, "the idle room closed");
    // The room with a socket stays open.
    assert_eq!(server.summary(&busy.code).await.seats_taken, 1);
    bea.assert_answered_once().await;
    server.stop().await;
}

/// After a game, seats of players who left are dropped when the next game starts; a start
/// that is refused must not drop them (or change anything else).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_start_keeps_the_seats_of_those_who_left() {
    let server = TestServer::fast().await;
    let room = server.create_room("Ana", None).await;
    let mut ana = server.host(&room, "Ana").await;
    let mut bob = server.player(&room.code, "Bob").await;
    ana.ack(Request::Start).await;
    bob.ack(Request::Leave).await;
    let over = ana
        .wait_event(|e| matches!(e, RoomEvent::GameOver { .. }))
        .await;
    let RoomEvent::GameOver { results } = over else {
        unreachable!()
    };
    assert_eq!(results.winner, seat(0));
    assert_eq!(results.placings, [seat(0), seat(1)]);
    let over_version = ana.version();
    let before = ana.room().cloned().expect("room");
    assert_eq!(before.phase, RoomPhase::Finished);
    assert_eq!(before.seats.len(), 2);

    ana.expect_reject(Request::Start, RejectCode::NotEnoughPlayers)
        .await;
    // The bot takes the next seat after Bob's: the refused start freed nothing.
    let version = ana
        .ack(Request::AddBot {
            level: BotLevel::Easy,
        })
        .await;
    assert_eq!(
        version,
        over_version + 1,
        "the refused start changed nothing"
    );
    assert!(ana.events.iter().any(|(v, e)| *v == version
        && *e
            == RoomEvent::SeatTaken {
                seat: seat(2),
                name: perudo_protocol::PlayerName::new("Bot 1").unwrap(),
                occupant: Occupant::Bot {
                    level: BotLevel::Easy
                },
            }));
    // Now the start goes through, without Bob.
    ana.ack(Request::Start).await;
    let names: Vec<String> = ana
        .room()
        .as_ref()
        .expect("room")
        .seats
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["Ana", "Bot 1"]);
    for client in [&mut ana, &mut bob] {
        client.assert_answered_once().await;
    }
    server.stop().await;
}
