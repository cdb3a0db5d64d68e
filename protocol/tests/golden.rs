//! Golden byte vectors: one MessagePack frame per representative message, in
//! `protocol/tests/golden/`, with `index.json` listing every file and the same message as JSON.
//! The web client's tests decode the same files and compare them with the JSON, so the Rust
//! encoder and the TypeScript decoder are held to one set of bytes.
//!
//! The messages are built deterministically (fixed seeds, fixed moves, fixed names). This test
//! fails when a file is missing, differs, or is left over. After an intended change to the wire
//! format (or to the scripted game), rewrite the files with
//!
//! ```sh
//! UPDATE_GOLDEN=1 cargo test -p perudo-protocol --test golden
//! ```
//!
//! and review the diff: a changed byte here is a changed wire format for every client.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{bid, clock_for, custom_options, on_turn, room_view, seat, you};
use perudo_protocol::perudo_core::{Action, BotLevel, Event, FirstOpener, Game, GameConfig, Seed};
use perudo_protocol::{
    AutoPlayReason, ClientMessage, CloseReason, Emote, GameResults, PROTOCOL_VERSION, RejectCode,
    RejectDetail, Request, RoomEvent, RoomPhase, SUPPORTED_VERSIONS, SeatStats, ServerMessage,
    Snapshot, Update,
};
use serde::Serialize;

const REGENERATE: &str = "UPDATE_GOLDEN=1 cargo test -p perudo-protocol --test golden";

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Direction {
    /// A `ClientMessage`.
    Client,
    /// A `ServerMessage`.
    Server,
}

#[derive(Debug)]
enum Message {
    Client(ClientMessage),
    Server(Box<ServerMessage>),
}

#[derive(Debug)]
struct Vector {
    name: &'static str,
    description: &'static str,
    message: Message,
}

impl Vector {
    fn file(&self) -> String {
        format!("{}.msgpack", self.name)
    }

    fn direction(&self) -> Direction {
        match self.message {
            Message::Client(_) => Direction::Client,
            Message::Server(_) => Direction::Server,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match &self.message {
            Message::Client(m) => m.encode().expect("client messages encode"),
            Message::Server(m) => m.encode().expect("server messages encode"),
        }
    }

    fn json(&self) -> serde_json::Value {
        match &self.message {
            Message::Client(m) => serde_json::to_value(m),
            Message::Server(m) => serde_json::to_value(m),
        }
        .expect("messages are JSON")
    }

    /// Decodes `bytes` the way this vector's direction is decoded, and says whether that gives
    /// back the message.
    fn decodes_from(&self, bytes: &[u8]) -> Result<(), String> {
        let same = match &self.message {
            Message::Client(m) => ClientMessage::decode(bytes).map(|d| d == *m),
            Message::Server(m) => ServerMessage::decode(bytes).map(|d| d == **m),
        };
        match same {
            Ok(true) => Ok(()),
            Ok(false) => Err("decodes to a different message".into()),
            Err(error) => Err(format!("does not decode: {error}")),
        }
    }
}

#[derive(Serialize)]
struct Index {
    /// What these files are; for whoever opens the file.
    about: &'static str,
    protocol_version: u32,
    vectors: Vec<IndexEntry>,
}

#[derive(Serialize)]
struct IndexEntry {
    file: String,
    direction: Direction,
    description: &'static str,
    /// The message as JSON: decoding the file with a MessagePack decoder gives this value.
    json: serde_json::Value,
}

fn client(name: &'static str, description: &'static str, id: u32, request: Request) -> Vector {
    Vector {
        name,
        description,
        message: Message::Client(ClientMessage { id, request }),
    }
}

fn server(name: &'static str, description: &'static str, message: ServerMessage) -> Vector {
    Vector {
        name,
        description,
        message: Message::Server(Box::new(message)),
    }
}

/// A whole game played to its end, as the server sends its last update: three seats with one
/// die each (the golden room's Ana, Bruno and Bot 1), seed 42, seat 0 opens; whoever is on
/// turn opens with the smallest bid that is not on aces, and the next player calls dudo.
/// Returns the final game, the events of the call that ended it, and the results the room
/// announces (counted from the events as the room counts them).
fn finished_game() -> (Game, Vec<Event>, GameResults) {
    use perudo_protocol::perudo_core::{Call, Face, Quantity, Rules, TableState};
    let seed = Seed::from_u64(42);
    let rules = Rules::new(GameConfig {
        starting_dice: 1,
        first_round_opener: FirstOpener::Seat(seat(0)),
        ..GameConfig::default()
    })
    .expect("valid rules");
    let (mut game, mut events) = Game::start(rules, 3, seed).expect("starts");
    let mut stats = vec![SeatStats::default(); 3];
    let (mut rounds, mut out_order) = (0, Vec::new());
    let last = loop {
        for event in &events {
            match event {
                Event::RoundStarted { dice, .. } => {
                    rounds += 1;
                    for (stats, &d) in stats.iter_mut().zip(dice) {
                        stats.rounds_played += u32::from(d > 0);
                    }
                }
                Event::BidPlaced(placed) => stats[placed.seat.index()].bids += 1,
                Event::RoundResolved(resolution) => {
                    let Call::Dudo { challenger } = resolution.call else {
                        unreachable!("only dudo is called")
                    };
                    stats[challenger.index()].dudos += 1;
                    stats[challenger.index()].dudos_won += u32::from(resolution.call_succeeded);
                    for change in &resolution.changes {
                        stats[change.seat.index()].dice_lost +=
                            u32::from(change.before.saturating_sub(change.after));
                    }
                }
                Event::Eliminated { seat } => out_order.push(*seat),
                _ => {}
            }
        }
        if game.winner().is_some() {
            break events;
        }
        let TableState::Bidding(round) = game.spectator_view().state else {
            unreachable!("the game is running")
        };
        let action = if round.bids.is_empty() {
            let legal = game.legal_moves(round.turn);
            let (face, quantity) = Face::ALL
                .into_iter()
                .filter(|face| !face.is_ace())
                .find_map(|face| legal.min_bid[face.index()].map(|q| (face, q)))
                .expect("an opening bid");
            Action::Bid(perudo_protocol::perudo_core::Bid {
                quantity: Quantity::from_u32(u32::from(quantity.get())).expect("in range"),
                face,
            })
        } else {
            Action::Dudo
        };
        events = on_turn(&mut game, action);
    };
    let winner = game.winner().expect("over");
    let results = GameResults {
        game: 1,
        winner,
        names: vec!["Ana".into(), "Bruno".into(), "Bot 1".into()],
        placings: std::iter::once(winner)
            .chain(out_order.iter().rev().copied())
            .collect(),
        rounds,
        stats,
        commitment: seed.commitment().to_hex(),
        seed: seed.to_hex(),
    };
    (game, last, results)
}

fn vectors() -> Vec<Vector> {
    let rules = GameConfig {
        starting_dice: 3,
        first_round_opener: FirstOpener::Seat(seat(1)),
        turn_time_limit_secs: Some(60),
        ..GameConfig::default()
    };
    let mut vectors = vec![
        client(
            "client_hello",
            "Hello with the protocol version: the first request on every socket",
            1,
            Request::Hello {
                version: PROTOCOL_VERSION,
            },
        ),
        client(
            "client_join",
            "Join: take a free seat in the lobby",
            2,
            Request::Join {
                name: "Ana María".into(),
            },
        ),
        client(
            "client_claim",
            "Claim: take a seat back with its token",
            2,
            Request::Claim {
                token: "3f9c2a7be04d1c8865f0a9d2b47e61c3".into(),
            },
        ),
        client(
            "client_resume",
            "Resume with a seat token after a drop: the last room version this client saw",
            2,
            Request::Resume {
                token: Some("3f9c2a7be04d1c8865f0a9d2b47e61c3".into()),
                last_version: 12,
            },
        ),
        client(
            "client_spectate",
            "Spectate: a unit request, only its type",
            2,
            Request::Spectate,
        ),
        client(
            "client_set_rules",
            "SetRules with every option present; a seat as first opener, a turn time limit",
            3,
            Request::SetRules { rules },
        ),
        client(
            "client_set_options",
            "SetOptions: forfeit players away for 300 seconds",
            3,
            Request::SetOptions {
                options: custom_options(),
            },
        ),
        client(
            "client_add_bot",
            "AddBot at level Hard",
            4,
            Request::AddBot {
                level: BotLevel::Hard,
            },
        ),
        client(
            "client_kick",
            "Kick seat 2",
            5,
            Request::Kick { seat: seat(2) },
        ),
        client(
            "client_transfer_host",
            "TransferHost to seat 1",
            6,
            Request::TransferHost { seat: seat(1) },
        ),
        client("client_start", "Start the game", 7, Request::Start),
        client(
            "client_act_bid",
            "Act: bid 3 × fours (the action's fields sit beside its type)",
            8,
            Request::Act {
                action: Action::Bid(bid(3, 4)),
            },
        ),
        client(
            "client_act_dudo",
            "Act: dudo",
            9,
            Request::Act {
                action: Action::Dudo,
            },
        ),
        client(
            "client_act_calza",
            "Act: calza",
            10,
            Request::Act {
                action: Action::Calza,
            },
        ),
        client(
            "client_act_declare_palifico",
            "Act: declare palifico",
            11,
            Request::Act {
                action: Action::DeclarePalifico,
            },
        ),
        client(
            "client_leave",
            "Leave the seat",
            4_000_000_000,
            Request::Leave,
        ),
        client(
            "client_emote",
            "Emote: a quick reaction (a plain string)",
            12,
            Request::Emote { emote: Emote::Liar },
        ),
    ];

    // The scripted game: three seats, default rules, seed 7; 2 × threes, 3 × threes, dudo.
    let (_, start_events) = common::scripted_start();
    let (mid, _, second_bid) = common::scripted_mid_round();
    // Who made the second bid: the bidder's frame carries its own view.
    let bidder = match second_bid.first() {
        Some(Event::BidPlaced(placed)) => placed.seat,
        other => panic!("the second bid's event: {other:?}"),
    };
    let mut refused = mid.clone();
    let turn = refused.turn().expect("running");
    let too_low = refused
        .apply(turn, Action::Bid(bid(2, 3)))
        .expect_err("2 × threes does not raise 3 × threes");
    let (after, reveal) = common::scripted_after_dudo();
    let (resolved, next_round): (Vec<Event>, Vec<Event>) = reveal
        .into_iter()
        .partition(|e| !matches!(e, Event::RoundStarted { .. }));
    let opener = after.turn().expect("running");
    let (_, last_call, results) = finished_game();
    // The scripted game's first bid, played by the room for the opener.
    let (mut auto, _) = common::scripted_start();
    let timed_out = auto.turn().expect("running");
    let auto_action = Action::Bid(bid(2, 3));
    let auto_events = on_turn(&mut auto, auto_action);
    assert_eq!(
        auto.turn(),
        Some(seat(1)),
        "Bruno, disconnected in the room view, is on turn"
    );

    vectors.extend([
        server(
            "server_ack",
            "Ack of request 2 at room version 5",
            ServerMessage::Ack { id: 2, version: 5 },
        ),
        server(
            "server_rejected_bid_too_low",
            "Rejected by the rules: code Rule, detail Rule with RuleError BidTooLow",
            RejectCode::rule(8, too_low),
        ),
        server(
            "server_rejected_version_mismatch",
            "Rejected hello: code VersionMismatch, detail Versions with the supported versions",
            ServerMessage::Rejected {
                id: 1,
                code: RejectCode::VersionMismatch,
                message: format!(
                    "protocol version 99 is not supported; this server speaks {SUPPORTED_VERSIONS:?}"
                ),
                detail: Some(RejectDetail::Versions {
                    supported: SUPPORTED_VERSIONS.to_vec(),
                }),
            },
        ),
        server(
            "server_rejected_not_host",
            "Rejected without detail: detail is nil",
            RejectCode::NotHost.reject(4, "only the host may do that"),
        ),
        server(
            "server_seated",
            "Seated in seat 1 with the token that claims it back",
            ServerMessage::Seated {
                seat: seat(1),
                token: "3f9c2a7be04d1c8865f0a9d2b47e61c3".into(),
            },
        ),
        server(
            "server_snapshot_lobby",
            "Snapshot in the lobby: no table, no hand",
            ServerMessage::Snapshot(Snapshot {
                version: 3,
                room: room_view(RoomPhase::Lobby, None),
                table: None,
                you: None,
                clock: None,
            }),
        ),
        server(
            "server_snapshot_playing",
            "Snapshot mid-round for seat 1: the public table with two bids, and seat 1's hand and moves",
            ServerMessage::Snapshot(Snapshot {
                version: 12,
                room: room_view(RoomPhase::Playing, None),
                table: Some(mid.spectator_view()),
                you: Some(you(&mid, 1)),
                clock: None,
            }),
        ),
        server(
            "server_update_game_started",
            "Update as a game starts: GameStarted, then the engine's GameStarted and RoundStarted (with the round's wilds)",
            ServerMessage::Update(Update {
                version: 10,
                events: [RoomEvent::GameStarted { game: 1 }]
                    .into_iter()
                    .chain(start_events.into_iter().map(|event| RoomEvent::Game { event }))
                    .collect(),
                you: None,
                ack: None,
                clock: None,
            }),
        ),
        server(
            "server_update_bid_placed",
            "Update after a bid, as the bidder receives it: one BidPlaced, the bidder's own view (no moves now) and the answer to its request 5",
            ServerMessage::Update(Update {
                version: 12,
                events: second_bid
                    .into_iter()
                    .map(|event| RoomEvent::Game { event })
                    .collect(),
                you: Some(you(&mid, bidder.get())),
                ack: Some(5),
                clock: None,
            }),
        ),
        server(
            "server_update_auto_played",
            "Update after the turn time limit ran out: AutoPlayed, then the move's BidPlaced; the next player's clock",
            ServerMessage::Update(Update {
                version: 11,
                events: [RoomEvent::AutoPlayed {
                    seat: timed_out,
                    action: auto_action,
                    reason: AutoPlayReason::TimeLimit,
                }]
                .into_iter()
                .chain(auto_events.into_iter().map(|event| RoomEvent::Game { event }))
                .collect(),
                you: None,
                ack: None,
                clock: Some(clock_for(&auto, 60_000, AutoPlayReason::TimeLimit)),
            }),
        ),
        server(
            "server_update_disconnected",
            "Update when seat 1 drops on turn: Disconnected (seat 1 not connected), the clock now Away with the 5 s grace",
            ServerMessage::Update(Update {
                version: 12,
                events: vec![RoomEvent::Disconnected { seat: seat(1) }],
                you: None,
                ack: None,
                clock: Some(clock_for(&auto, 5_000, AutoPlayReason::Away)),
            }),
        ),
        server(
            "server_rejected_slow_down",
            "Rejected emote: code SlowDown, no detail",
            RejectCode::SlowDown.reject(12, "at most 3 emotes every 5 seconds"),
        ),
        server(
            "server_rejected_storage",
            "Rejected move: code Storage (the server could not save it), no detail",
            RejectCode::Storage.reject(
                13,
                "the server could not save that (storage is full); nothing changed, try again",
            ),
        ),
        server(
            "server_update_round_resolved",
            "Update at a dudo: RoundResolved with every hand, NextRoundIn (the room's phase becomes Reveal)",
            ServerMessage::Update(Update {
                version: 13,
                events: resolved
                    .into_iter()
                    .map(|event| RoomEvent::Game { event })
                    .chain([RoomEvent::NextRoundIn { ms: 4000 }])
                    .collect(),
                you: None,
                ack: None,
                clock: None,
            }),
        ),
        server(
            "server_update_next_round",
            "Update when the reveal pause ends, as the opener receives it: RoundStarted (the room back in Playing), and the opener's own view: its new hand and legal moves",
            ServerMessage::Update(Update {
                version: 14,
                events: next_round
                    .into_iter()
                    .map(|event| RoomEvent::Game { event })
                    .collect(),
                you: Some(you(&after, opener.get())),
                ack: None,
                clock: None,
            }),
        ),
        server(
            "server_update_game_over",
            "Update as a game ends, as the server sends it: the last call's RoundResolved, Eliminated and GameWon, then GameOver with the results (the room's phase becomes Finished, the table's state Over)",
            ServerMessage::Update(Update {
                version: 90,
                events: last_call
                    .into_iter()
                    .map(|event| RoomEvent::Game { event })
                    .chain([RoomEvent::GameOver {
                        results: results.clone(),
                    }])
                    .collect(),
                you: None,
                ack: None,
                clock: None,
            }),
        ),
        server(
            "server_moved",
            "Moved: an earlier seat was freed, this connection now holds seat 1",
            ServerMessage::Moved { seat: seat(1) },
        ),
        server(
            "server_closing",
            "Closing: the host kicked this seat",
            ServerMessage::Closing {
                reason: CloseReason::Kicked,
            },
        ),
        server(
            "server_closing_rate_limited",
            "Closing: the connection kept flooding after SlowDown rejections (then close 1008)",
            ServerMessage::Closing {
                reason: CloseReason::RateLimited,
            },
        ),
    ]);
    vectors
}

fn index_text(vectors: &[Vector]) -> String {
    let index = Index {
        about: "Golden MessagePack frames of the perudo protocol, written by protocol/tests/golden.rs. Each file is one WebSocket frame; `json` is the same message as JSON.",
        protocol_version: PROTOCOL_VERSION,
        vectors: vectors
            .iter()
            .map(|v| IndexEntry {
                file: v.file(),
                direction: v.direction(),
                description: v.description,
                json: v.json(),
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&index).expect("the index is JSON");
    text.push('\n');
    text
}

fn msgpack_files(dir: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".msgpack"))
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

fn rewrite(dir: &Path, vectors: &[Vector]) {
    std::fs::create_dir_all(dir).expect("create the golden folder");
    let keep: BTreeSet<String> = vectors.iter().map(Vector::file).collect();
    for stale in msgpack_files(dir).difference(&keep) {
        std::fs::remove_file(dir.join(stale)).expect("remove a stale vector");
    }
    for vector in vectors {
        std::fs::write(dir.join(vector.file()), vector.bytes()).expect("write a vector");
    }
    std::fs::write(dir.join("index.json"), index_text(vectors)).expect("write the index");
}

#[test]
fn golden_vectors_match() {
    let dir = golden_dir();
    let vectors = vectors();
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        rewrite(&dir, &vectors);
    }

    let mut problems = Vec::new();
    let names: BTreeSet<String> = vectors.iter().map(Vector::file).collect();
    assert_eq!(names.len(), vectors.len(), "two vectors share a name");
    for vector in &vectors {
        let file = vector.file();
        match std::fs::read(dir.join(&file)) {
            Err(error) => problems.push(format!("{file}: cannot read it ({error})")),
            Ok(bytes) => {
                if bytes != vector.bytes() {
                    problems.push(format!(
                        "{file}: the bytes differ from what the encoder writes now"
                    ));
                }
                // The file itself (not just today's encoder) decodes to the message and reads
                // as the JSON in the index.
                if let Err(why) = vector.decodes_from(&bytes) {
                    problems.push(format!("{file}: {why}"));
                }
                match rmp_serde::from_slice::<serde_json::Value>(&bytes) {
                    Ok(generic) if generic == vector.json() => {}
                    Ok(_) => problems.push(format!("{file}: its MessagePack is not its JSON")),
                    Err(error) => problems.push(format!("{file}: not MessagePack ({error})")),
                }
            }
        }
    }
    for extra in msgpack_files(&dir).difference(&names) {
        problems.push(format!("{extra}: left over, no vector has this name"));
    }
    match std::fs::read_to_string(dir.join("index.json")) {
        Ok(text) if text == index_text(&vectors) => {}
        Ok(_) => problems.push("index.json: differs from the vectors".into()),
        Err(error) => problems.push(format!("index.json: cannot read it ({error})")),
    }
    assert!(
        problems.is_empty(),
        "the golden vectors in {} are stale:\n  {}\nif the wire format changed on purpose, regenerate them with `{REGENERATE}` and review the diff",
        dir.display(),
        problems.join("\n  ")
    );
}

/// The vectors cover every request and the main server messages.
#[test]
fn golden_vectors_cover_every_request() {
    let mut requests = BTreeSet::new();
    let mut servers = BTreeSet::new();
    for vector in vectors() {
        match vector.message {
            Message::Client(m) => {
                requests.insert(m.request.kind());
            }
            Message::Server(m) => {
                servers.insert(match *m {
                    ServerMessage::Ack { .. } => "Ack",
                    ServerMessage::Rejected { .. } => "Rejected",
                    ServerMessage::Seated { .. } => "Seated",
                    ServerMessage::Snapshot(_) => "Snapshot",
                    ServerMessage::Update(_) => "Update",
                    ServerMessage::Moved { .. } => "Moved",
                    ServerMessage::Closing { .. } => "Closing",
                });
            }
        }
    }
    assert_eq!(requests.len(), 14, "{requests:?}");
    assert_eq!(servers.len(), 7, "{servers:?}");
}

/// The scripted game the vectors come from is what they say: fixed seed, fixed moves.
#[test]
fn golden_game_is_deterministic() {
    let (a, _) = common::scripted_after_dudo();
    let (b, _) = common::scripted_after_dudo();
    assert_eq!(a, b);
    let again = perudo_core::Rules::new(GameConfig::default())
        .and_then(|rules| {
            Game::start(
                rules,
                common::SCRIPTED_SEATS,
                Seed::from_u64(common::SCRIPTED_SEED),
            )
        })
        .expect("starts")
        .0;
    assert_eq!(again, common::scripted_start().0);
}
