//! Every message survives encode -> decode unchanged, and decoding refuses what it must:
//! frames over the size cap, out-of-range numbers, unknown fields and message types, trailing
//! bytes, and (never panicking) arbitrary or damaged bytes.

mod common;

use std::collections::BTreeSet;

use common::{bid, clock_for, custom_options, on_turn, room_view, seat, you};
use perudo_protocol::http::CreateRoom;
use perudo_protocol::perudo_core::{
    Action, Bot, BotLevel, CalzaCaller, Event, FirstOpener, Game, GameConfig, LegalMoves,
    PalificoRefusal, Quantity, RuleError, Seat, Seed, TableState,
};
use perudo_protocol::{
    AutoPlayReason, ClientMessage, CloseReason, DecodeError, Emote, FORFEIT_AFTER_SECS,
    MAX_CLIENT_FRAME, MAX_SERVER_FRAME, Occupant, PROTOCOL_VERSION, RejectCode, RejectDetail,
    Request, RoomEvent, RoomOptions, RoomPhase, RoomView, ServerMessage, Snapshot, TurnClock,
    Update,
};
use proptest::prelude::*;
use serde_json::json;

/// Encodes and decodes `message`, and checks that the MessagePack holds the same structure as
/// serde's JSON of the value: the TypeScript types are generated from that structure.
#[track_caller]
fn round_trip_client(message: &ClientMessage) -> Vec<u8> {
    let bytes = message.encode().expect("client messages encode");
    assert!(bytes.len() <= MAX_CLIENT_FRAME, "{message:?} is too large");
    let decoded = ClientMessage::decode(&bytes)
        .unwrap_or_else(|error| panic!("{message:?} does not decode: {error}"));
    assert_eq!(&decoded, message);
    assert_same_structure(&bytes, serde_json::to_value(message).expect("json"));
    bytes
}

#[track_caller]
fn round_trip_server(message: &ServerMessage) -> Vec<u8> {
    let bytes = message.encode().expect("server messages encode");
    assert!(bytes.len() <= MAX_SERVER_FRAME, "{message:?} is too large");
    let decoded = ServerMessage::decode(&bytes)
        .unwrap_or_else(|error| panic!("{message:?} does not decode: {error}"));
    assert_eq!(&decoded, message);
    assert_same_structure(&bytes, serde_json::to_value(message).expect("json"));
    bytes
}

#[track_caller]
fn assert_same_structure(bytes: &[u8], json: serde_json::Value) {
    let generic: serde_json::Value =
        rmp_serde::from_slice(bytes).expect("any MessagePack map reads as a JSON value");
    assert_eq!(generic, json, "MessagePack and JSON disagree");
}

/// Asserts that `samples` show every variant named in `all` (`kind` must name each variant
/// with a `match` without a wildcard, so a new variant fails to compile until it is added
/// there, and then fails here until a sample shows it).
#[track_caller]
fn assert_covers<T>(samples: &[T], kind: fn(&T) -> &'static str, all: &[&str]) {
    let seen: BTreeSet<&str> = samples.iter().map(kind).collect();
    let all: BTreeSet<&str> = all.iter().copied().collect();
    assert_eq!(seen, all, "the samples do not show every variant");
}

// ---------------------------------------------------------------------------------------------
// Samples

fn all_requests() -> Vec<Request> {
    let rules = GameConfig {
        starting_dice: 3,
        max_players: 8,
        first_round_opener: FirstOpener::Seat(seat(2)),
        calza_caller: CalzaCaller::AnyExceptNext,
        turn_time_limit_secs: Some(45),
        ..GameConfig::default()
    };
    vec![
        Request::Hello {
            version: PROTOCOL_VERSION,
        },
        Request::Join {
            name: "Ana María 🎲".into(),
        },
        Request::Claim {
            token: "3f9c2a7be04d1c8865f0a9d2b47e61c3".into(),
        },
        Request::Resume {
            token: Some("3f9c2a7be04d1c8865f0a9d2b47e61c3".into()),
            last_version: 41,
        },
        Request::Resume {
            token: None,
            last_version: 0,
        },
        Request::Resume {
            token: Some(String::new()),
            last_version: u64::from(u32::MAX) + 5,
        },
        Request::Spectate,
        Request::SetRules {
            rules: GameConfig::default(),
        },
        Request::SetRules { rules },
        Request::SetOptions {
            options: RoomOptions::default(),
        },
        Request::SetOptions {
            options: custom_options(),
        },
        // Out of range, but still a well-formed request: the server refuses it, not the decoder.
        Request::SetOptions {
            options: RoomOptions {
                forfeit_after_secs: u16::MAX,
            },
        },
        Request::AddBot {
            level: BotLevel::Easy,
        },
        Request::AddBot {
            level: BotLevel::Normal,
        },
        Request::AddBot {
            level: BotLevel::Hard,
        },
        Request::Kick { seat: seat(9) },
        Request::TransferHost { seat: seat(0) },
        Request::Start,
        Request::Act {
            action: Action::Bid(bid(100, 6)),
        },
        Request::Act {
            action: Action::Bid(bid(1, 1)),
        },
        Request::Act {
            action: Action::Dudo,
        },
        Request::Act {
            action: Action::Calza,
        },
        Request::Act {
            action: Action::DeclarePalifico,
        },
        Request::Leave,
    ]
    .into_iter()
    .chain(Emote::ALL.map(|emote| Request::Emote { emote }))
    .collect()
}

fn emote_kind(emote: &Emote) -> &'static str {
    match emote {
        Emote::ThumbsUp => "ThumbsUp",
        Emote::Laugh => "Laugh",
        Emote::Wow => "Wow",
        Emote::Thinking => "Thinking",
        Emote::Sweat => "Sweat",
        Emote::Clap => "Clap",
        Emote::Fire => "Fire",
        Emote::Liar => "Liar",
    }
}

const ALL_EMOTE_NAMES: [&str; 8] = [
    "ThumbsUp", "Laugh", "Wow", "Thinking", "Sweat", "Clap", "Fire", "Liar",
];

const ALL_AUTO_PLAY_REASONS: [AutoPlayReason; 2] =
    [AutoPlayReason::TimeLimit, AutoPlayReason::Away];

fn auto_play_reason_kind(reason: &AutoPlayReason) -> &'static str {
    match reason {
        AutoPlayReason::TimeLimit => "TimeLimit",
        AutoPlayReason::Away => "Away",
    }
}

fn action_kind(action: &Action) -> &'static str {
    match action {
        Action::Bid(_) => "Bid",
        Action::Dudo => "Dudo",
        Action::Calza => "Calza",
        Action::DeclarePalifico => "DeclarePalifico",
    }
}

const ALL_REJECT_CODES: [RejectCode; 22] = [
    RejectCode::Malformed,
    RejectCode::TooLarge,
    RejectCode::VersionMismatch,
    RejectCode::HelloFirst,
    RejectCode::AlreadyGreeted,
    RejectCode::AlreadyJoined,
    RejectCode::NotSeated,
    RejectCode::NotHost,
    RejectCode::NameInvalid,
    RejectCode::NameTaken,
    RejectCode::RoomFull,
    RejectCode::SpectatorsFull,
    RejectCode::BadToken,
    RejectCode::WrongPhase,
    RejectCode::InvalidRules,
    RejectCode::NotEnoughPlayers,
    RejectCode::NoSuchSeat,
    RejectCode::BadTarget,
    RejectCode::Rule,
    RejectCode::RoundPaused,
    RejectCode::SlowDown,
    RejectCode::Storage,
];

fn reject_code_kind(code: &RejectCode) -> &'static str {
    match code {
        RejectCode::Malformed => "Malformed",
        RejectCode::TooLarge => "TooLarge",
        RejectCode::VersionMismatch => "VersionMismatch",
        RejectCode::HelloFirst => "HelloFirst",
        RejectCode::AlreadyGreeted => "AlreadyGreeted",
        RejectCode::AlreadyJoined => "AlreadyJoined",
        RejectCode::NotSeated => "NotSeated",
        RejectCode::NotHost => "NotHost",
        RejectCode::NameInvalid => "NameInvalid",
        RejectCode::NameTaken => "NameTaken",
        RejectCode::RoomFull => "RoomFull",
        RejectCode::SpectatorsFull => "SpectatorsFull",
        RejectCode::BadToken => "BadToken",
        RejectCode::WrongPhase => "WrongPhase",
        RejectCode::InvalidRules => "InvalidRules",
        RejectCode::NotEnoughPlayers => "NotEnoughPlayers",
        RejectCode::NoSuchSeat => "NoSuchSeat",
        RejectCode::BadTarget => "BadTarget",
        RejectCode::Rule => "Rule",
        RejectCode::RoundPaused => "RoundPaused",
        RejectCode::SlowDown => "SlowDown",
        RejectCode::Storage => "Storage",
    }
}

const ALL_CLOSE_REASONS: [CloseReason; 6] = [
    CloseReason::Kicked,
    CloseReason::Replaced,
    CloseReason::ServerRestart,
    CloseReason::RateLimited,
    CloseReason::IdleTimeout,
    CloseReason::RoomClosed,
];

fn close_reason_kind(reason: &CloseReason) -> &'static str {
    match reason {
        CloseReason::Kicked => "Kicked",
        CloseReason::Replaced => "Replaced",
        CloseReason::ServerRestart => "ServerRestart",
        CloseReason::RateLimited => "RateLimited",
        CloseReason::IdleTimeout => "IdleTimeout",
        CloseReason::RoomClosed => "RoomClosed",
    }
}

const ALL_ROOM_PHASES: [RoomPhase; 4] = [
    RoomPhase::Lobby,
    RoomPhase::Playing,
    RoomPhase::Reveal,
    RoomPhase::Finished,
];

fn room_phase_kind(phase: &RoomPhase) -> &'static str {
    match phase {
        RoomPhase::Lobby => "Lobby",
        RoomPhase::Playing => "Playing",
        RoomPhase::Reveal => "Reveal",
        RoomPhase::Finished => "Finished",
    }
}

fn occupant_kind(occupant: &Occupant) -> &'static str {
    match occupant {
        Occupant::Human { .. } => "Human",
        Occupant::Bot { .. } => "Bot",
    }
}

fn all_rule_errors() -> Vec<RuleError> {
    let q = |n| Quantity::new(n).expect("a quantity");
    let mut errors = vec![
        RuleError::NoSuchSeat { seat: seat(7) },
        RuleError::GameOver,
        RuleError::PlayerEliminated { seat: seat(1) },
        RuleError::NotYourTurn { turn: seat(2) },
        RuleError::NoBidToChallenge,
        RuleError::OwnBid,
        RuleError::QuantityTooHigh { max: q(15) },
        RuleError::OpeningOnAces,
        RuleError::FaceLocked {
            face: bid(1, 4).face,
        },
        RuleError::FaceNotAllowed {
            face: bid(1, 2).face,
            previous: bid(4, 5),
        },
        RuleError::BidTooLow {
            previous: bid(4, 5),
            minimum: 5,
        },
        RuleError::CalzaDisabled,
        RuleError::CalzaNeedsMissingDie,
        RuleError::CalzaAlreadyUsed,
    ];
    errors.extend(
        [
            CalzaCaller::CurrentPlayer,
            CalzaCaller::AnyExceptBidderAndCurrent,
            CalzaCaller::AnyExceptNext,
            CalzaCaller::AnyExceptBidder,
        ]
        .map(|rule| RuleError::CalzaNotAllowed { rule }),
    );
    errors.extend(
        [
            PalificoRefusal::NotDeclarable,
            PalificoRefusal::NeedsOneDie,
            PalificoRefusal::AlreadyUsed,
            PalificoRefusal::TooFewPlayers { min: 3 },
            PalificoRefusal::BiddingStarted,
            PalificoRefusal::AlreadyPalifico,
        ]
        .map(|reason| RuleError::PalificoNotAllowed { reason }),
    );
    errors
}

fn rule_error_kind(error: &RuleError) -> &'static str {
    match error {
        RuleError::NoSuchSeat { .. } => "NoSuchSeat",
        RuleError::GameOver => "GameOver",
        RuleError::PlayerEliminated { .. } => "PlayerEliminated",
        RuleError::NotYourTurn { .. } => "NotYourTurn",
        RuleError::NoBidToChallenge => "NoBidToChallenge",
        RuleError::OwnBid => "OwnBid",
        RuleError::QuantityTooHigh { .. } => "QuantityTooHigh",
        RuleError::OpeningOnAces => "OpeningOnAces",
        RuleError::FaceLocked { .. } => "FaceLocked",
        RuleError::FaceNotAllowed { .. } => "FaceNotAllowed",
        RuleError::BidTooLow { .. } => "BidTooLow",
        RuleError::CalzaDisabled => "CalzaDisabled",
        RuleError::CalzaNotAllowed { .. } => "CalzaNotAllowed",
        RuleError::CalzaNeedsMissingDie => "CalzaNeedsMissingDie",
        RuleError::CalzaAlreadyUsed => "CalzaAlreadyUsed",
        RuleError::PalificoNotAllowed { .. } => "PalificoNotAllowed",
    }
}

fn event_kind(event: &Event) -> &'static str {
    match event {
        Event::GameStarted { .. } => "GameStarted",
        Event::RoundStarted { .. } => "RoundStarted",
        Event::PalificoDeclared { .. } => "PalificoDeclared",
        Event::BidPlaced(_) => "BidPlaced",
        Event::RoundResolved(_) => "RoundResolved",
        Event::Forfeited { .. } => "Forfeited",
        Event::Eliminated { .. } => "Eliminated",
        Event::GameWon { .. } => "GameWon",
    }
}

fn room_event_kind(event: &RoomEvent) -> &'static str {
    match event {
        RoomEvent::Game { .. } => "Game",
        RoomEvent::SeatTaken { .. } => "SeatTaken",
        RoomEvent::SeatFreed { .. } => "SeatFreed",
        RoomEvent::HostChanged { .. } => "HostChanged",
        RoomEvent::RulesChanged { .. } => "RulesChanged",
        RoomEvent::OptionsChanged { .. } => "OptionsChanged",
        RoomEvent::Spectators { .. } => "Spectators",
        RoomEvent::GameStarted { .. } => "GameStarted",
        RoomEvent::Arrived { .. } => "Arrived",
        RoomEvent::Disconnected { .. } => "Disconnected",
        RoomEvent::Reconnected { .. } => "Reconnected",
        RoomEvent::Left { .. } => "Left",
        RoomEvent::AutoPlayed { .. } => "AutoPlayed",
        RoomEvent::Emote { .. } => "Emote",
        RoomEvent::NextRoundIn { .. } => "NextRoundIn",
        RoomEvent::GameOver { .. } => "GameOver",
    }
}

fn server_kind(message: &ServerMessage) -> &'static str {
    match message {
        ServerMessage::Ack { .. } => "Ack",
        ServerMessage::Rejected { .. } => "Rejected",
        ServerMessage::Seated { .. } => "Seated",
        ServerMessage::Snapshot(_) => "Snapshot",
        ServerMessage::Update(_) => "Update",
        ServerMessage::Moved { .. } => "Moved",
        ServerMessage::Closing { .. } => "Closing",
    }
}

fn reject_detail_kind(detail: &RejectDetail) -> &'static str {
    match detail {
        RejectDetail::Rule { .. } => "Rule",
        RejectDetail::Versions { .. } => "Versions",
    }
}

/// Game events from real games: the scripted one, one that someone forfeits, and bot games
/// that end (eliminations, a winner) and declare palifico.
fn real_events() -> Vec<Event> {
    let (mut game, mut events) = common::scripted_start();
    events.extend(on_turn(&mut game, Action::Bid(bid(2, 3))));
    events.extend(on_turn(&mut game, Action::Bid(bid(3, 3))));
    events.extend(on_turn(&mut game, Action::Dudo));
    let leaver = game.turn().expect("running");
    events.extend(game.forfeit(leaver).expect("a player on turn can forfeit"));
    let (_, finished) = common::bot_game(GameConfig::default(), 4, 11);
    events.extend(finished);
    let (_, palifico) = common::bot_game_with_declared_palifico();
    events.extend(
        palifico
            .into_iter()
            .filter(|e| matches!(e, Event::PalificoDeclared { .. })),
    );
    events
}

fn all_room_events() -> Vec<RoomEvent> {
    let (game, events) = common::bot_game(GameConfig::default(), 3, 5);
    let results = common::results_of(&game, &events, 2);
    let mut room_events: Vec<RoomEvent> = real_events()
        .into_iter()
        .map(|event| RoomEvent::Game { event })
        .collect();
    room_events.extend([
        RoomEvent::SeatTaken {
            seat: seat(3),
            name: perudo_protocol::PlayerName::new("Zoë").unwrap(),
            occupant: Occupant::Human { connected: true },
        },
        RoomEvent::SeatTaken {
            seat: seat(4),
            name: perudo_protocol::PlayerName::new("Bot 1").unwrap(),
            occupant: Occupant::Bot {
                level: BotLevel::Hard,
            },
        },
        RoomEvent::SeatFreed {
            seat: seat(1),
            name: perudo_protocol::PlayerName::new("Bruno").unwrap(),
        },
        RoomEvent::HostChanged {
            seat: Some(seat(1)),
        },
        RoomEvent::HostChanged { seat: None },
        RoomEvent::RulesChanged {
            rules: GameConfig::default(),
        },
        RoomEvent::OptionsChanged {
            options: RoomOptions {
                forfeit_after_secs: *FORFEIT_AFTER_SECS.end(),
            },
        },
        RoomEvent::Spectators { count: 0 },
        RoomEvent::Spectators { count: u32::MAX },
        RoomEvent::GameStarted { game: 3 },
        RoomEvent::Arrived { seat: seat(0) },
        RoomEvent::Disconnected { seat: seat(1) },
        RoomEvent::Reconnected { seat: seat(1) },
        RoomEvent::Left { seat: seat(2) },
        RoomEvent::AutoPlayed {
            seat: seat(2),
            action: Action::Bid(bid(4, 3)),
            reason: AutoPlayReason::TimeLimit,
        },
        RoomEvent::AutoPlayed {
            seat: seat(9),
            action: Action::Dudo,
            reason: AutoPlayReason::Away,
        },
        RoomEvent::NextRoundIn { ms: 4000 },
        RoomEvent::GameOver { results },
    ]);
    room_events.extend(
        Emote::ALL
            .into_iter()
            .enumerate()
            .map(|(i, emote)| RoomEvent::Emote {
                seat: seat(i as u8),
                emote,
            }),
    );
    room_events
}

fn all_server_messages() -> Vec<ServerMessage> {
    let (mid, _, second_bid) = common::scripted_mid_round();
    let (after, reveal) = common::scripted_after_dudo();
    let (over, over_events) = common::bot_game(GameConfig::default(), 3, 5);
    let results = common::results_of(&over, &over_events, 1);
    assert!(matches!(
        over.spectator_view().state,
        TableState::Over { .. }
    ));

    let mut messages = vec![
        ServerMessage::Ack { id: 0, version: 0 },
        ServerMessage::Ack {
            id: u32::MAX,
            version: u64::from(u32::MAX) + 17,
        },
        RejectCode::VersionMismatch.reject(1, "protocol version 9 is not supported"),
        ServerMessage::Rejected {
            id: 1,
            code: RejectCode::VersionMismatch,
            message: "protocol version 9 is not supported; this server speaks [1]".into(),
            detail: Some(RejectDetail::Versions { supported: vec![1] }),
        },
        ServerMessage::Seated {
            seat: seat(2),
            token: "3f9c2a7be04d1c8865f0a9d2b47e61c3".into(),
        },
        ServerMessage::Snapshot(Snapshot {
            version: 0,
            room: room_view(RoomPhase::Lobby, None),
            table: None,
            you: None,
            clock: None,
        }),
        ServerMessage::Snapshot(Snapshot {
            version: 1,
            room: RoomView {
                options: custom_options(),
                ..room_view(RoomPhase::Lobby, None)
            },
            table: None,
            you: None,
            clock: None,
        }),
        ServerMessage::Snapshot(Snapshot {
            version: 12,
            room: room_view(RoomPhase::Playing, None),
            table: Some(mid.spectator_view()),
            you: Some(you(&mid, 2)),
            clock: Some(clock_for(&mid, 29_500, AutoPlayReason::TimeLimit)),
        }),
        ServerMessage::Snapshot(Snapshot {
            version: 12,
            room: room_view(RoomPhase::Playing, None),
            table: Some(mid.spectator_view()),
            you: None,
            clock: Some(clock_for(&mid, 0, AutoPlayReason::Away)),
        }),
        ServerMessage::Snapshot(Snapshot {
            version: 40,
            room: room_view(RoomPhase::Finished, Some(results.clone())),
            table: Some(over.spectator_view()),
            you: Some(you(&over, 0)),
            clock: None,
        }),
        ServerMessage::Update(Update {
            version: 13,
            events: second_bid
                .into_iter()
                .map(|event| RoomEvent::Game { event })
                .collect(),
            you: None,
            ack: None,
            clock: Some(clock_for(&mid, 60_000, AutoPlayReason::TimeLimit)),
        }),
        ServerMessage::Update(Update {
            version: 14,
            events: reveal
                .iter()
                .cloned()
                .map(|event| RoomEvent::Game { event })
                .chain([RoomEvent::NextRoundIn { ms: 4000 }])
                .collect(),
            you: None,
            ack: None,
            clock: None,
        }),
        ServerMessage::Update(Update {
            version: 15,
            events: all_room_events(),
            you: None,
            ack: None,
            clock: Some(clock_for(&after, u32::MAX, AutoPlayReason::Away)),
        }),
        ServerMessage::Update(Update {
            version: 16,
            events: vec![RoomEvent::OptionsChanged {
                options: RoomOptions::default(),
            }],
            you: None,
            ack: None,
            clock: None,
        }),
        ServerMessage::Update(Update {
            version: 15,
            events: Vec::new(),
            clock: None,
            you: Some(you(&after, 1)),
            ack: Some(u32::MAX),
        }),
        ServerMessage::Update(Update {
            version: 14,
            events: Vec::new(),
            clock: None,
            you: Some(perudo_protocol::YouView {
                seat: seat(1),
                hand: Default::default(),
                legal: LegalMoves::NONE,
            }),
            ack: Some(0),
        }),
    ];
    messages.extend(ALL_REJECT_CODES.map(|code| code.reject(9, "lowercase, no period")));
    messages.extend(
        all_rule_errors()
            .into_iter()
            .map(|e| RejectCode::rule(4, e)),
    );
    messages.push(ServerMessage::Moved {
        seat: Seat::new(2).unwrap(),
    });
    messages.extend(ALL_CLOSE_REASONS.map(|reason| ServerMessage::Closing { reason }));
    messages.extend(ALL_ROOM_PHASES.map(|phase| {
        ServerMessage::Snapshot(Snapshot {
            version: 3,
            room: room_view(phase, None),
            table: None,
            you: None,
            clock: None,
        })
    }));
    messages
}

// ---------------------------------------------------------------------------------------------
// Round trips

#[test]
fn every_request_round_trips() {
    let requests = all_requests();
    assert_covers(
        &requests,
        Request::kind,
        &[
            "Hello",
            "Join",
            "Claim",
            "Resume",
            "Spectate",
            "SetRules",
            "SetOptions",
            "AddBot",
            "Kick",
            "TransferHost",
            "Start",
            "Act",
            "Leave",
            "Emote",
        ],
    );
    let emotes: Vec<Emote> = requests
        .iter()
        .filter_map(|r| match r {
            Request::Emote { emote } => Some(*emote),
            _ => None,
        })
        .collect();
    assert_covers(&emotes, emote_kind, &ALL_EMOTE_NAMES);
    let actions: Vec<Action> = requests
        .iter()
        .filter_map(|r| match r {
            Request::Act { action } => Some(*action),
            _ => None,
        })
        .collect();
    assert_covers(
        &actions,
        action_kind,
        &["Bid", "Dudo", "Calza", "DeclarePalifico"],
    );
    for (id, request) in requests.into_iter().enumerate() {
        round_trip_client(&ClientMessage {
            id: id as u32 * 1000,
            request,
        });
    }
    round_trip_client(&ClientMessage {
        id: u32::MAX,
        request: Request::Start,
    });
}

#[test]
fn every_server_message_round_trips() {
    let messages = all_server_messages();
    assert_covers(
        &messages,
        server_kind,
        &[
            "Ack", "Rejected", "Seated", "Snapshot", "Update", "Moved", "Closing",
        ],
    );
    for message in &messages {
        round_trip_server(message);
    }
}

#[test]
fn every_reject_code_close_reason_and_phase_round_trips() {
    assert_covers(
        &ALL_REJECT_CODES,
        reject_code_kind,
        &[
            "Malformed",
            "TooLarge",
            "VersionMismatch",
            "HelloFirst",
            "AlreadyGreeted",
            "AlreadyJoined",
            "NotSeated",
            "NotHost",
            "NameInvalid",
            "NameTaken",
            "RoomFull",
            "SpectatorsFull",
            "BadToken",
            "WrongPhase",
            "InvalidRules",
            "NotEnoughPlayers",
            "NoSuchSeat",
            "BadTarget",
            "Rule",
            "RoundPaused",
            "SlowDown",
            "Storage",
        ],
    );
    assert_covers(
        &ALL_CLOSE_REASONS,
        close_reason_kind,
        &[
            "Kicked",
            "Replaced",
            "ServerRestart",
            "RateLimited",
            "IdleTimeout",
            "RoomClosed",
        ],
    );
    assert_covers(
        &ALL_ROOM_PHASES,
        room_phase_kind,
        &["Lobby", "Playing", "Reveal", "Finished"],
    );
    // Unit variants travel as their names, like JSON strings.
    for code in ALL_REJECT_CODES {
        let bytes = rmp_serde::to_vec_named(&code).expect("encodes");
        assert_eq!(bytes[1..], *reject_code_kind(&code).as_bytes());
    }
    for emote in Emote::ALL {
        let bytes = rmp_serde::to_vec_named(&emote).expect("encodes");
        assert_eq!(bytes[1..], *emote_kind(&emote).as_bytes());
    }
    for reason in ALL_AUTO_PLAY_REASONS {
        let bytes = rmp_serde::to_vec_named(&reason).expect("encodes");
        assert_eq!(bytes[1..], *auto_play_reason_kind(&reason).as_bytes());
    }
    for message in all_server_messages() {
        if let ServerMessage::Rejected { code, .. } = message {
            round_trip_server(&code.reject(0, "again"));
        }
    }
}

#[test]
fn every_reject_detail_and_rule_error_round_trips() {
    let errors = all_rule_errors();
    assert_covers(
        &errors,
        rule_error_kind,
        &[
            "NoSuchSeat",
            "GameOver",
            "PlayerEliminated",
            "NotYourTurn",
            "NoBidToChallenge",
            "OwnBid",
            "QuantityTooHigh",
            "OpeningOnAces",
            "FaceLocked",
            "FaceNotAllowed",
            "BidTooLow",
            "CalzaDisabled",
            "CalzaNotAllowed",
            "CalzaNeedsMissingDie",
            "CalzaAlreadyUsed",
            "PalificoNotAllowed",
        ],
    );
    let details: Vec<RejectDetail> = all_server_messages()
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::Rejected { detail, .. } => detail,
            _ => None,
        })
        .collect();
    assert_covers(&details, reject_detail_kind, &["Rule", "Versions"]);
    // A real refusal from the engine, as the server sends it.
    let (mut game, _, _) = common::scripted_mid_round();
    let turn = game.turn().expect("running");
    let error = game
        .apply(turn, Action::Bid(bid(2, 3)))
        .expect_err("2 × threes does not raise 3 × threes");
    assert!(matches!(error, RuleError::BidTooLow { .. }));
    let message = RejectCode::rule(5, error);
    round_trip_server(&message);
    let ServerMessage::Rejected { message: text, .. } = message else {
        unreachable!("rule() makes a rejection")
    };
    assert!(text.starts_with("bid must be"), "{text}");
}

/// docs/PROTOCOL.md's "Rule errors" table names every `RuleError` and every palifico
/// refusal as the wire spells them (the samples above cover every variant).
#[test]
fn the_protocol_doc_lists_every_rule_error() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md"))
        .expect("docs/PROTOCOL.md");
    let section = doc
        .split("\n## Rule errors\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Rule errors section");
    for error in all_rule_errors() {
        let json = serde_json::to_value(error).expect("json");
        let code = json["code"].as_str().expect("a code");
        assert!(
            section.contains(&format!("| `{code}` |")),
            "{code} is not in the table"
        );
        let reason = match &json["reason"] {
            serde_json::Value::Null => continue,
            serde_json::Value::String(reason) => format!("\"{reason}\""),
            serde_json::Value::Object(map) => {
                format!("{{\"{}\":", map.keys().next().expect("a tag"))
            }
            other => panic!("a palifico refusal as {other}"),
        };
        assert!(section.contains(&reason), "{reason} is not named");
    }
}

#[test]
fn every_room_event_and_game_event_round_trips() {
    let room_events = all_room_events();
    assert_covers(
        &room_events,
        room_event_kind,
        &[
            "Game",
            "SeatTaken",
            "SeatFreed",
            "HostChanged",
            "RulesChanged",
            "OptionsChanged",
            "Spectators",
            "GameStarted",
            "Arrived",
            "Disconnected",
            "Reconnected",
            "Left",
            "AutoPlayed",
            "Emote",
            "NextRoundIn",
            "GameOver",
        ],
    );
    let emotes: Vec<Emote> = room_events
        .iter()
        .filter_map(|e| match e {
            RoomEvent::Emote { emote, .. } => Some(*emote),
            _ => None,
        })
        .collect();
    assert_covers(&emotes, emote_kind, &ALL_EMOTE_NAMES);
    let reasons: Vec<AutoPlayReason> = room_events
        .iter()
        .filter_map(|e| match e {
            RoomEvent::AutoPlayed { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_covers(&reasons, auto_play_reason_kind, &["TimeLimit", "Away"]);
    let game_events: Vec<Event> = room_events
        .iter()
        .filter_map(|e| match e {
            RoomEvent::Game { event } => Some(event.clone()),
            _ => None,
        })
        .collect();
    assert_covers(
        &game_events,
        event_kind,
        &[
            "GameStarted",
            "RoundStarted",
            "PalificoDeclared",
            "BidPlaced",
            "RoundResolved",
            "Forfeited",
            "Eliminated",
            "GameWon",
        ],
    );
    // One update per event, so a failure names the event.
    for (version, event) in room_events.into_iter().enumerate() {
        round_trip_server(&ServerMessage::Update(Update {
            version: version as u64,
            events: vec![event],
            you: None,
            ack: None,
            clock: None,
        }));
    }
}

/// The server writes an event's tag first, and clients read it so without buffering
/// (`tagged.rs`); an event whose tag comes later (keys sorted, as `serde_json` and
/// PostgreSQL's `jsonb` keep them) reads the same, and a map without a tag, with a tag that
/// names no variant or is not a string is refused.
#[test]
fn room_events_read_with_the_tag_anywhere() {
    let mut tag_later = 0;
    for event in all_room_events() {
        let json = serde_json::to_value(&event).expect("json");
        // serde_json's maps keep their keys sorted: "type" after "bid", "seat", "event"...
        let sorted = rmp_serde::to_vec_named(&json).expect("msgpack");
        let first_key_is_tag = sorted.get(1..6) == Some(b"\xa4type".as_slice());
        if !first_key_is_tag {
            tag_later += 1;
        }
        let read: RoomEvent = rmp_serde::from_slice(&sorted)
            .unwrap_or_else(|e| panic!("{event:?} with sorted keys: {e}"));
        assert_eq!(read, event);
        let read: RoomEvent = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("{event:?} from JSON: {e}"));
        assert_eq!(read, event);
        let text = serde_json::to_string(&event).expect("json text");
        assert_eq!(
            serde_json::from_str::<RoomEvent>(&text).expect("reads"),
            event
        );
    }
    assert!(
        tag_later > 10,
        "only {tag_later} events had their tag later"
    );

    let refused = |value: serde_json::Value| {
        let bytes = rmp_serde::to_vec_named(&value).expect("msgpack");
        let from_msgpack = rmp_serde::from_slice::<RoomEvent>(&bytes).expect_err("refused");
        let from_json = serde_json::from_value::<RoomEvent>(value).expect_err("refused");
        (from_msgpack.to_string(), from_json.to_string())
    };
    let (m, j) = refused(json!({"seat": 1}));
    assert!(m.contains("type") && j.contains("type"), "{m} / {j}");
    let (m, j) = refused(json!({"type": "Nonsense", "seat": 1}));
    assert!(
        m.contains("Nonsense") && j.contains("Nonsense"),
        "{m} / {j}"
    );
    let (m, j) = refused(json!({"seat": 1, "type": "Nonsense"}));
    assert!(
        m.contains("Nonsense") && j.contains("Nonsense"),
        "{m} / {j}"
    );
    let (m, j) = refused(json!({"seat": 1, "type": 7}));
    assert!(m.contains("type") && j.contains("type"), "{m} / {j}");
    let (m, j) = refused(json!({"type": 7, "seat": 1}));
    assert!(m.contains("string") && j.contains("string"), "{m} / {j}");
    let (m, j) = refused(json!({}));
    assert!(m.contains("type") && j.contains("type"), "{m} / {j}");
    let (m, _) = refused(json!({"type": "Arrived"}));
    assert!(m.contains("seat"), "{m}");
    let (m, _) = refused(json!({"type": "Game", "event": {"type": "BidPlaced", "seat": 1}}));
    assert!(m.contains("bid"), "{m}");
    // Not a map at all.
    let bytes = rmp_serde::to_vec_named(&json!(["Arrived", 1])).expect("msgpack");
    assert!(rmp_serde::from_slice::<RoomEvent>(&bytes).is_err());
}

#[test]
fn every_occupant_round_trips() {
    let occupants = [
        Occupant::Human { connected: true },
        Occupant::Human { connected: false },
        Occupant::Bot {
            level: BotLevel::Easy,
        },
        Occupant::Bot {
            level: BotLevel::Hard,
        },
    ];
    assert_covers(&occupants, occupant_kind, &["Human", "Bot"]);
    for occupant in occupants {
        let mut room = room_view(RoomPhase::Lobby, None);
        room.seats[1].occupant = occupant;
        round_trip_server(&ServerMessage::Snapshot(Snapshot {
            version: 1,
            room,
            table: None,
            you: None,
            clock: None,
        }));
    }
}

/// The views the server sends mid-play: every seat's, through a whole bot game.
#[test]
fn views_of_a_whole_game_round_trip() {
    let config = GameConfig {
        starting_dice: 2,
        ..GameConfig::default()
    };
    let (mut game, _) = perudo_core::Rules::new(config)
        .and_then(|rules| Game::start(rules, 4, Seed::from_u64(3)))
        .expect("starts");
    let mut bots: Vec<_> = (0..4).map(|i| Bot::new(BotLevel::Hard, i)).collect();
    let mut version = 0;
    while let Some(turn) = game.turn() {
        version += 1;
        for n in 0..4 {
            round_trip_server(&ServerMessage::Update(Update {
                version,
                events: Vec::new(),
                clock: None,
                you: Some(you(&game, n)),
                ack: Some(7),
            }));
        }
        round_trip_server(&ServerMessage::Update(Update {
            version,
            events: Vec::new(),
            you: None,
            ack: None,
            clock: Some(TurnClock {
                seat: turn,
                remaining_ms: 30_000,
                reason: AutoPlayReason::TimeLimit,
            }),
        }));
        let action = bots[turn.index()]
            .decide(&game.view_for(turn))
            .expect("the bot on turn moves");
        game.apply(turn, action).expect("legal");
    }
}

// ---------------------------------------------------------------------------------------------
// What decoding refuses

fn encode_json(value: &serde_json::Value) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("json values encode")
}

#[track_caller]
fn decode_json(value: serde_json::Value) -> Result<ClientMessage, DecodeError> {
    ClientMessage::decode(&encode_json(&value))
}

#[track_caller]
fn assert_refused(value: serde_json::Value, why: &str) {
    match decode_json(value.clone()) {
        Err(DecodeError::Invalid(error)) => assert!(
            error.to_string().contains(why),
            "{value} was refused for `{error}`, not for `{why}`"
        ),
        other => panic!("{value} decoded to {other:?}"),
    }
}

#[test]
fn client_frames_over_the_cap_are_too_large() {
    let frame = vec![0xc0; MAX_CLIENT_FRAME + 1];
    assert!(matches!(
        ClientMessage::decode(&frame),
        Err(DecodeError::TooLarge { len, max }) if len == MAX_CLIENT_FRAME + 1 && max == MAX_CLIENT_FRAME
    ));
    // A well-formed message is refused for its size alone.
    let long = ClientMessage {
        id: 1,
        request: Request::Join {
            name: "x".repeat(MAX_CLIENT_FRAME),
        },
    };
    let bytes = long.encode().expect("encodes");
    assert!(matches!(
        ClientMessage::decode(&bytes),
        Err(DecodeError::TooLarge { .. })
    ));
    // Exactly at the cap is fine.
    let overhead = ClientMessage {
        id: 1,
        request: Request::Join {
            name: "x".repeat(1000),
        },
    }
    .encode()
    .expect("encodes")
    .len()
        - 1000;
    let at_cap = ClientMessage {
        id: 1,
        request: Request::Join {
            name: "x".repeat(MAX_CLIENT_FRAME - overhead),
        },
    };
    let bytes = at_cap.encode().expect("encodes");
    assert_eq!(bytes.len(), MAX_CLIENT_FRAME);
    assert_eq!(ClientMessage::decode(&bytes).expect("at the cap"), at_cap);
}

#[test]
fn server_frames_over_the_cap_are_too_large() {
    let frame = vec![0xc0; MAX_SERVER_FRAME + 1];
    assert!(matches!(
        ServerMessage::decode(&frame),
        Err(DecodeError::TooLarge { len, max }) if len == MAX_SERVER_FRAME + 1 && max == MAX_SERVER_FRAME
    ));
    // The largest realistic message stays far below the cap: a ten-seat snapshot mid-game.
    let config = GameConfig {
        max_players: 10,
        ..GameConfig::default()
    };
    let (game, _) = perudo_core::Rules::new(config)
        .and_then(|rules| Game::start(rules, 10, Seed::from_u64(1)))
        .expect("starts");
    let mut room = room_view(RoomPhase::Playing, None);
    room.seats = (0..10)
        .map(|i| perudo_protocol::SeatInfo {
            name: perudo_protocol::PlayerName::new(&format!("{i}").repeat(24)).unwrap(),
            occupant: Occupant::Human { connected: true },
        })
        .collect();
    let bytes = round_trip_server(&ServerMessage::Snapshot(Snapshot {
        version: 1,
        room,
        table: Some(game.spectator_view()),
        you: Some(you(&game, 0)),
        clock: Some(clock_for(&game, 123_456, AutoPlayReason::TimeLimit)),
    }));
    assert!(bytes.len() < MAX_SERVER_FRAME / 16, "{} bytes", bytes.len());
}

#[test]
fn range_checked_numbers_are_refused_out_of_range() {
    let act = |quantity: i64, face: i64| json!({"id": 1, "request": {"type": "Act", "action": {"type": "Bid", "quantity": quantity, "face": face}}});
    assert_refused(act(3, 7), "face must be 1..=6, got 7");
    assert_refused(act(3, 0), "face must be 1..=6, got 0");
    assert_refused(act(0, 3), "quantity must be 1..=100, got 0");
    assert_refused(act(101, 3), "quantity must be 1..=100, got 101");
    assert_refused(act(3, -1), "");
    assert_refused(act(300, 3), "");
    assert_refused(
        json!({"id": 1, "request": {"type": "Kick", "seat": 10}}),
        "seat must be 0..10, got 10",
    );
    assert_refused(
        json!({"id": 1, "request": {"type": "TransferHost", "seat": 255}}),
        "seat must be 0..10, got 255",
    );
    // Inside the rules too.
    assert_refused(
        json!({"id": 1, "request": {"type": "SetRules", "rules": {"first_round_opener": {"kind": "Seat", "seat": 12}}}}),
        "seat must be 0..10, got 12",
    );
    // And in what the server sends.
    let mut bytes = ServerMessage::Seated {
        seat: seat(9),
        token: "t".into(),
    }
    .encode()
    .expect("encodes");
    let at = bytes
        .windows(5)
        .position(|w| w == b"seat\x09")
        .expect("the seat field")
        + 4;
    bytes[at] = 10;
    assert!(matches!(
        ServerMessage::decode(&bytes),
        Err(DecodeError::Invalid(error)) if error.to_string().contains("seat must be 0..10, got 10")
    ));
}

proptest! {
    /// A bid decodes exactly when both numbers are in range; a seat exactly when below 10.
    #[test]
    fn numbers_decode_exactly_in_range(quantity in -2i64..300, face in -2i64..300, target in -2i64..300) {
        let bid = decode_json(json!({"id": 1, "request": {"type": "Act", "action": {"type": "Bid", "quantity": quantity, "face": face}}}));
        prop_assert_eq!(bid.is_ok(), (1..=100).contains(&quantity) && (1..=6).contains(&face));
        if let Ok(message) = bid {
            let expected = Action::Bid(perudo_protocol::perudo_core::Bid::new(quantity as u8, face as u8).expect("in range"));
            prop_assert_eq!(message.request, Request::Act { action: expected });
        }
        let kick = decode_json(json!({"id": 1, "request": {"type": "Kick", "seat": target}}));
        prop_assert_eq!(kick.is_ok(), (0..10).contains(&target));
    }
}

#[test]
fn unknown_fields_are_refused() {
    // At the top, in struct variants, in unit variants (which serde alone would let through)
    // and inside the action.
    assert_refused(
        json!({"id": 1, "extra": 2, "request": {"type": "Start"}}),
        "unknown field `extra`",
    );
    assert_refused(
        json!({"id": 1, "request": {"type": "Join", "name": "a", "admin": true}}),
        "unknown field `admin`",
    );
    for unit in ["Spectate", "Start", "Leave"] {
        assert_refused(
            json!({"id": 1, "request": {"type": unit, "seat": 0}}),
            "unknown field `seat`",
        );
    }
    assert_refused(
        json!({"id": 1, "request": {"type": "Act", "action": {"type": "Bid", "quantity": 2, "face": 3, "seat": 1}}}),
        "unknown field `seat`",
    );
    for call in ["Dudo", "Calza", "DeclarePalifico"] {
        assert_refused(
            json!({"id": 1, "request": {"type": "Act", "action": {"type": call, "x": 1}}}),
            "unknown field `x`",
        );
    }
    assert_refused(
        json!({"id": 1, "request": {"type": "SetRules", "rules": {"bogus": 1}}}),
        "unknown field `bogus`",
    );
    // Without extras the same shapes decode.
    for unit in ["Spectate", "Start", "Leave"] {
        assert!(decode_json(json!({"id": 1, "request": {"type": unit}})).is_ok());
    }
    assert!(
        decode_json(json!({"id": 1, "request": {"type": "Act", "action": {"type": "Dudo"}}}))
            .is_ok()
    );
}

#[test]
fn unknown_message_types_and_missing_fields_are_refused() {
    assert_refused(
        json!({"id": 1, "request": {"type": "Cheat"}}),
        "unknown variant `Cheat`",
    );
    assert_refused(
        json!({"id": 1, "request": {"type": "Act", "action": {"type": "Peek"}}}),
        "unknown variant `Peek`",
    );
    assert_refused(json!({"id": 1, "request": {}}), "missing field `type`");
    assert_refused(
        json!({"id": 1, "request": {"type": "Join"}}),
        "missing field `name`",
    );
    assert_refused(json!({"request": {"type": "Start"}}), "missing field `id`");
    assert_refused(json!({"id": 1}), "missing field `request`");
    assert_refused(json!({"id": -1, "request": {"type": "Start"}}), "");
    assert_refused(json!({"id": "1", "request": {"type": "Start"}}), "");
    assert_refused(json!([1, 2, 3]), "");
    assert_refused(json!("Start"), "");
    // A server message is not a client message.
    let ack = ServerMessage::Ack { id: 1, version: 2 }
        .encode()
        .expect("encodes");
    assert!(ClientMessage::decode(&ack).is_err());
    let mut unknown = serde_json::to_value(ServerMessage::Ack { id: 1, version: 2 }).expect("json");
    unknown["type"] = json!("Teleport");
    assert!(ServerMessage::decode(&encode_json(&unknown)).is_err());
}

#[test]
fn resume_round_trips_and_decodes_strictly() {
    let token = "3f9c2a7be04d1c8865f0a9d2b47e61c3";
    for resume in [
        Request::Resume {
            token: Some(token.into()),
            last_version: 17,
        },
        Request::Resume {
            token: None,
            last_version: 17,
        },
    ] {
        round_trip_client(&ClientMessage {
            id: 3,
            request: resume,
        });
    }
    // What the encoder writes: `token` is always present, `nil` without a seat.
    let decoded = |value| decode_json(value).map(|m| m.request);
    assert_eq!(
        decoded(
            json!({"id": 1, "request": {"type": "Resume", "token": token, "last_version": 17}})
        )
        .expect("decodes"),
        Request::Resume {
            token: Some(token.into()),
            last_version: 17,
        }
    );
    assert_eq!(
        decoded(json!({"id": 1, "request": {"type": "Resume", "token": null, "last_version": 0}}))
            .expect("decodes"),
        Request::Resume {
            token: None,
            last_version: 0,
        }
    );
    // Deliberately lenient, and documented in PROTOCOL.md: a missing `token` reads as `nil`
    // (serde's rule for `Option` fields, which the strict mirror keeps), so a client that
    // leaves out an `undefined` member still resumes as a spectator.
    assert_eq!(
        decoded(json!({"id": 1, "request": {"type": "Resume", "last_version": 5}}))
            .expect("decodes"),
        Request::Resume {
            token: None,
            last_version: 5,
        }
    );
    // Everything else is as strict as any request.
    assert_refused(
        json!({"id": 1, "request": {"type": "Resume", "token": null}}),
        "missing field `last_version`",
    );
    assert_refused(
        json!({"id": 1, "request": {"type": "Resume", "token": null, "last_version": 1, "seat": 0}}),
        "unknown field `seat`",
    );
    assert_refused(
        json!({"id": 1, "request": {"type": "Resume", "token": 7, "last_version": 1}}),
        "",
    );
    assert_refused(
        json!({"id": 1, "request": {"type": "Resume", "token": null, "last_version": -1}}),
        "",
    );
    assert_refused(
        json!({"id": 1, "request": {"type": "Resume", "token": null, "last_version": "3"}}),
        "",
    );
}

#[test]
fn set_options_and_emote_decode_strictly() {
    let decoded = |value| decode_json(value).map(|m| m.request);
    assert_eq!(
        decoded(json!({"id": 1, "request": {"type": "SetOptions", "options": {"forfeit_after_secs": 60}}}))
            .expect("decodes"),
        Request::SetOptions {
            options: RoomOptions {
                forfeit_after_secs: 60
            }
        }
    );
    // Like the rules, options left out take their defaults.
    assert_eq!(
        decoded(json!({"id": 1, "request": {"type": "SetOptions", "options": {}}}))
            .expect("decodes"),
        Request::SetOptions {
            options: RoomOptions::default()
        }
    );
    assert_refused(
        json!({"id": 1, "request": {"type": "SetOptions"}}),
        "missing field `options`",
    );
    assert_refused(
        json!({"id": 1, "request": {"type": "SetOptions", "options": {"forfeit": 60}}}),
        "unknown field `forfeit`",
    );
    assert_refused(
        json!({"id": 1, "request": {"type": "SetOptions", "options": {}, "rules": {}}}),
        "unknown field `rules`",
    );
    // Out of a u16: refused by the decoder. In a u16 but out of range: the server's business
    // (`InvalidRules`), see `room_options_validate_their_range`.
    assert_refused(
        json!({"id": 1, "request": {"type": "SetOptions", "options": {"forfeit_after_secs": 65536}}}),
        "",
    );
    for emote in Emote::ALL {
        let name = emote_kind(&emote);
        assert_eq!(
            decoded(json!({"id": 1, "request": {"type": "Emote", "emote": name}}))
                .expect("decodes"),
            Request::Emote { emote }
        );
    }
    assert_refused(
        json!({"id": 1, "request": {"type": "Emote", "emote": "Wink"}}),
        "unknown variant `Wink`",
    );
    assert_refused(
        json!({"id": 1, "request": {"type": "Emote"}}),
        "missing field `emote`",
    );
    assert_refused(
        json!({"id": 1, "request": {"type": "Emote", "emote": "Fire", "seat": 0}}),
        "unknown field `seat`",
    );
}

#[test]
fn room_options_validate_their_range() {
    assert_eq!(FORFEIT_AFTER_SECS, 15..=3600);
    let options = |forfeit_after_secs| RoomOptions { forfeit_after_secs };
    assert_eq!(RoomOptions::default(), options(120));
    for ok in [15, 16, 120, 3599, 3600] {
        assert_eq!(options(ok).validate(), Ok(()), "{ok}");
    }
    for bad in [0, 1, 14, 3601, u16::MAX] {
        let error = options(bad).validate().expect_err("out of range");
        assert_eq!(
            error,
            perudo_protocol::OptionsError::ForfeitAfterOutOfRange(bad)
        );
        assert_eq!(
            error.to_string(),
            format!("forfeit_after_secs must be 15..=3600, got {bad}")
        );
    }
    assert!(RoomOptions::default().validate().is_ok());
}

#[test]
fn create_room_options_are_optional() {
    let bare: CreateRoom = serde_json::from_value(json!({"name": "Ana"})).expect("decodes");
    assert_eq!(bare.options, RoomOptions::default());
    assert_eq!(bare.rules, GameConfig::default());
    let empty: CreateRoom =
        serde_json::from_value(json!({"name": "Ana", "options": {}})).expect("decodes");
    assert_eq!(empty.options, RoomOptions::default());
    let set: CreateRoom =
        serde_json::from_value(json!({"name": "Ana", "options": {"forfeit_after_secs": 900}}))
            .expect("decodes");
    assert_eq!(
        set.options,
        RoomOptions {
            forfeit_after_secs: 900
        }
    );
    // The decoder takes any u16; the server validates the range.
    let out: CreateRoom =
        serde_json::from_value(json!({"name": "Ana", "options": {"forfeit_after_secs": 5}}))
            .expect("decodes");
    assert!(out.options.validate().is_err());
    assert!(
        serde_json::from_value::<CreateRoom>(json!({"name": "Ana", "options": {"bogus": 1}}))
            .is_err()
    );
    // And it writes the field back.
    let json = serde_json::to_value(&bare).expect("json");
    assert_eq!(json["options"], json!({"forfeit_after_secs": 120}));
}

#[test]
fn a_frame_is_exactly_one_message() {
    let mut bytes = ClientMessage {
        id: 1,
        request: Request::Start,
    }
    .encode()
    .expect("encodes");
    assert!(ClientMessage::decode(&bytes).is_ok());
    bytes.push(0xc0);
    assert!(matches!(
        ClientMessage::decode(&bytes),
        Err(DecodeError::Invalid(error)) if error.to_string().contains("1 bytes after the end")
    ));
    let mut twice = ServerMessage::Ack { id: 1, version: 2 }
        .encode()
        .expect("encodes");
    twice.extend_from_slice(&twice.clone());
    assert!(ServerMessage::decode(&twice).is_err());
    assert!(ClientMessage::decode(&[]).is_err());
    assert!(ServerMessage::decode(&[]).is_err());
}

/// Deep nesting is refused by a depth limit (the shape check for client frames, rmp-serde's for
/// server frames), not by overflowing the stack.
#[test]
fn deeply_nested_frames_are_refused() {
    // {"id": 1, "request": {"type": "Join", "name": {"a": {"a": ...}}}}
    let mut frame = b"\x82\xa2id\x01\xa7request\x82\xa4type\xa4Join\xa4name".to_vec();
    while frame.len() + 3 < MAX_CLIENT_FRAME {
        frame.extend_from_slice(b"\x81\xa1a");
    }
    frame.push(0xc0);
    assert!(frame.len() <= MAX_CLIENT_FRAME);
    assert!(matches!(
        ClientMessage::decode(&frame),
        Err(DecodeError::Invalid(error)) if error.to_string().contains("depth limit exceeded")
    ));
    // The limit is far below rmp-serde's default of 1024: 40 deep is already refused.
    let mut frame = b"\x82\xa2id\x01\xa7request\x82\xa4type\xa4Join\xa4name".to_vec();
    frame.extend(b"\x81\xa1a".repeat(40));
    frame.push(0xc0);
    assert!(matches!(
        ClientMessage::decode(&frame),
        Err(DecodeError::Invalid(error)) if error.to_string().contains("depth limit exceeded")
    ));
    // The server's larger cap allows deeper nesting: still refused, still no overflow. Each
    // frame is `start` then arrays nested as deep as MAX_SERVER_FRAME allows, ending in nil.
    let refused = |start: &[u8], words: &str| {
        let mut frame = start.to_vec();
        frame.extend(std::iter::repeat_n(
            0x91,
            MAX_SERVER_FRAME - frame.len() - 1,
        ));
        frame.push(0xc0);
        assert!(
            matches!(
                ServerMessage::decode(&frame),
                Err(DecodeError::Invalid(ref error)) if error.to_string().contains(words)
            ),
            "{words}: {:?}",
            ServerMessage::decode(&frame).map(|_| ())
        );
    };
    // {"type": "Update", "version": 1, "room": nil, "table": nil, "clock": nil,
    //  "events": [[[[...]]]]}: an event must be a map, so the reader stops at the first
    // array in `events`.
    refused(
        b"\x86\xa4type\xa6Update\xa7version\x01\xa4room\xc0\xa5table\xc0\xa5clock\xc0\xa6events",
        "invalid type: sequence, expected a room event",
    );
    // Nesting the reader must walk through, in a field it skips: the depth limit stops it.
    // {"type": "Update", "version": 1, "events": [], "clock": nil, "you": nil, "ack": nil,
    //  "x": [[[[...]]]]}
    refused(
        b"\x87\xa4type\xa6Update\xa7version\x01\xa6events\x90\xa5clock\xc0\xa3you\xc0\xa3ack\xc0\xa1x",
        "depth limit exceeded",
    );
    // And the same frame read through serde's tree of an internally tagged enum (the `type`
    // key not first).
    refused(
        b"\x87\xa7version\x01\xa4type\xa6Update\xa6events\x90\xa5clock\xc0\xa3you\xc0\xa3ack\xc0\xa1x",
        "depth limit exceeded",
    );
}

/// What the docs promise (docs/PROTOCOL.md, "Encoding"): requests are maps with field names,
/// strings are str, enum variants are named; every other shape rmp-serde would read is
/// `Malformed`, however valid the request it spells.
#[test]
fn requests_are_maps_with_field_names_and_str_strings() {
    let join = ClientMessage {
        id: 7,
        request: Request::Join { name: "Ann".into() },
    };
    assert_eq!(
        ClientMessage::decode(&join.encode().unwrap()).unwrap(),
        join
    );
    let refused = |bytes: &[u8], why: &str| match ClientMessage::decode(bytes) {
        Err(DecodeError::Invalid(error)) => assert!(
            error.to_string().contains(why),
            "{bytes:x?} was refused for `{error}`, not for `{why}`"
        ),
        other => panic!("{bytes:x?} decoded to {other:?}"),
    };
    // The whole message as arrays (rmp-serde's compact encoding of the same value).
    refused(&rmp_serde::to_vec(&join).unwrap(), "an array where a map");
    // Only the request as an array, tag first.
    refused(
        b"\x82\xa2id\x07\xa7request\x92\xa4Join\xa3Ann",
        "an array where a map",
    );
    // `name` as bin.
    refused(
        b"\x82\xa2id\x07\xa7request\x82\xa4type\xa4Join\xa4name\xc4\x03Ann",
        "bin where a string",
    );
    // The `type` tag as bin, and a field name as bin.
    refused(
        b"\x82\xa2id\x07\xa7request\x82\xa4type\xc4\x04Join\xa4name\xa3Ann",
        "bin where a string",
    );
    refused(
        b"\x82\xa2id\x07\xa7request\x82\xa4type\xa4Join\xc4\x04name\xa3Ann",
        "bin where a string",
    );
    // A field named by its index.
    refused(
        b"\x82\x00\x07\xa7request\x82\xa4type\xa4Join\xa4name\xa3Ann",
        "not a string",
    );
    // A bid's numbers as floats.
    refused(
        b"\x82\xa2id\x07\xa7request\x82\xa4type\xa3Act\xa6action\x83\xa4type\xa3Bid\xa8quantity\xcb\x40\x08\0\0\0\0\0\0\xa4face\x04",
        "a float",
    );
    // Variants named by their index: the tag (Join is variant 1), a unit enum (Hard is 2).
    assert_refused(
        json!({"id": 7, "request": {"type": 1, "name": "Ann"}}),
        "invalid type: integer `1`",
    );
    assert_refused(
        json!({"id": 7, "request": {"type": "AddBot", "level": 2}}),
        "invalid type: integer `2`",
    );
    assert_refused(
        json!({"id": 7, "request": {"type": "SetRules", "rules": {"raise_rule": 1}}}),
        "invalid type: integer `1`",
    );
    // A key twice.
    refused(
        b"\x82\xa2id\x07\xa7request\x83\xa4type\xa4Join\xa4name\xa3Ann\xa4name\xa3Bob",
        "the key `name` twice",
    );
    // The same requests spelled as documented still decode.
    assert_eq!(
        decode_json(json!({"id": 7, "request": {"type": "AddBot", "level": "Hard"}})).unwrap(),
        ClientMessage {
            id: 7,
            request: Request::AddBot {
                level: BotLevel::Hard
            }
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Arbitrary bytes

/// Encodings of real messages to damage.
fn valid_frames() -> Vec<(bool, Vec<u8>)> {
    let mut frames: Vec<(bool, Vec<u8>)> = all_requests()
        .into_iter()
        .map(|request| {
            (
                true,
                ClientMessage { id: 7, request }.encode().expect("encodes"),
            )
        })
        .collect();
    frames.extend(
        all_server_messages()
            .iter()
            .take(16)
            .map(|m| (false, m.encode().expect("encodes"))),
    );
    frames
}

#[derive(Clone, Debug)]
enum Damage {
    Flip { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, byte: u8 },
    Remove { at: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Flip { at, byte }),
        any::<usize>().prop_map(|at| Damage::Truncate { at }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Insert { at, byte }),
        any::<usize>().prop_map(|at| Damage::Remove { at }),
    ]
}

fn apply_damage(bytes: &mut Vec<u8>, damage: &Damage) {
    if bytes.is_empty() {
        return;
    }
    match *damage {
        Damage::Flip { at, byte } => {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        Damage::Truncate { at } => bytes.truncate(at % bytes.len()),
        Damage::Insert { at, byte } => bytes.insert(at % (bytes.len() + 1), byte),
        Damage::Remove { at } => {
            bytes.remove(at % bytes.len());
        }
    }
}

/// Decodes with both decoders; whatever decodes must encode again and decode to itself.
fn decode_anything(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(message) = ClientMessage::decode(bytes) {
        let again = message.encode().expect("a decoded message encodes");
        prop_assert_eq!(ClientMessage::decode(&again).ok(), Some(message));
    }
    if let Ok(message) = ServerMessage::decode(bytes) {
        let again = message.encode().expect("a decoded message encodes");
        prop_assert_eq!(ServerMessage::decode(&again).ok(), Some(message));
    }
    Ok(())
}

/// Cases per decoder property: 2000 by default (every `cargo test`, so CI), more with
/// `PROPTEST_CASES`, e.g. `PROPTEST_CASES=1000000 cargo test --release -p perudo-protocol
/// --test roundtrip never_panic` (docs/FUZZING.md).
fn decoder_cases() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(decoder_cases())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        decode_anything(&bytes)?;
    }

    /// Bytes that start like a message: a map header and a known key, then noise.
    #[test]
    fn arbitrary_bytes_after_a_message_start_never_panic(
        start in prop::sample::select(vec![
            &b"\x82\xa2id\x01\xa7request\x81\xa4type"[..],
            &b"\x82\xa2id\x01\xa7request\x82\xa4type\xa3Act\xa6action"[..],
            &b"\x84\xa4type\xa6Update\xa7version\x01\xa6events"[..],
            &b"\x85\xa4type\xa8Snapshot\xa7version\x01\xa4room"[..],
        ]),
        rest in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = start.to_vec();
        bytes.extend(rest);
        decode_anything(&bytes)?;
    }

    #[test]
    fn damaged_messages_never_panic(
        pick in any::<prop::sample::Index>(),
        damages in proptest::collection::vec(damage(), 1..6),
    ) {
        let frames = valid_frames();
        let (is_client, mut bytes) = frames[pick.index(frames.len())].clone();
        for d in &damages {
            apply_damage(&mut bytes, d);
        }
        decode_anything(&bytes)?;
        // A damaged client frame either decodes to something valid or is refused; never
        // anything else.
        if is_client && let Err(error) = ClientMessage::decode(&bytes) {
            prop_assert!(matches!(error, DecodeError::Invalid(_)));
        }
    }
}

/// Every truncation of every sample frame is refused cleanly.
#[test]
fn every_truncation_is_refused() {
    for (is_client, bytes) in valid_frames() {
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            if is_client {
                assert!(ClientMessage::decode(cut).is_err(), "a cut frame decoded");
            } else {
                assert!(ServerMessage::decode(cut).is_err(), "a cut frame decoded");
            }
        }
    }
}

/// A seat index the server could send is always accepted back.
#[test]
fn every_seat_round_trips() {
    for n in 0..10 {
        let seat = Seat::new(n).expect("below 10");
        round_trip_server(&ServerMessage::Seated {
            seat,
            token: String::new(),
        });
    }
}

#[test]
fn request_kind_is_the_wire_type_tag() {
    for request in all_requests() {
        let json = serde_json::to_value(&request).expect("requests serialize");
        assert_eq!(json["type"].as_str(), Some(request.kind()), "{request:?}");
    }
}

#[test]
fn server_message_kind_is_the_wire_type_tag() {
    for message in all_server_messages() {
        let json = serde_json::to_value(&message).expect("server messages serialize");
        assert_eq!(json["type"].as_str(), Some(message.kind()), "{message:?}");
        assert_eq!(message.kind(), server_kind(&message));
    }
}

#[test]
fn reject_code_as_str_is_the_wire_name() {
    for code in ALL_REJECT_CODES {
        let json = serde_json::to_value(code).expect("codes serialize");
        assert_eq!(json.as_str(), Some(code.as_str()), "{code:?}");
        assert_eq!(code.as_str(), reject_code_kind(&code));
    }
}
