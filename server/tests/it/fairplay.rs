//! The fair-play record: games played through the real server, their
//! records fetched over HTTP, and two verifiers that share no code — `perudo verify` (Rust,
//! replays every move) and `tools/verify-record.mjs` (Node, OpenSSL's ChaCha20, written from
//! docs/FAIRPLAY.md) — must both accept every good record and both refuse every tampered one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use perudo_protocol::perudo_core::{BotLevel, FirstOpener, GameConfig, Seed};
use perudo_protocol::{Request, RoomEvent};
use perudo_server::record::{GameRecord, RECORD_FORMAT, RoundEnd};
use serde_json::Value;

use crate::client::{Client, Strategy, seat};
use crate::server::{Scratch, TestServer};

/// The server binary cargo built for these tests.
const BIN: &str = env!("CARGO_BIN_EXE_perudo");

/// The Node verifier, from the workspace root.
fn node_verifier() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/verify-record.mjs")
}

/// What one verifier said of one record file.
#[derive(Debug)]
struct Verdict {
    accepted: bool,
    output: String,
}

/// Runs `program args.. file` and reads its verdict from the exit status: 0 accepts, 1
/// refuses. Anything else (it could not run, or could not read the file) fails the test.
fn run(program: &str, args: &[&std::ffi::OsStr], file: &Path) -> Verdict {
    let output = Command::new(program)
        .args(args)
        .arg(file)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (the suite needs it on PATH): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    match output.status.code() {
        Some(0) => Verdict {
            accepted: true,
            output: text,
        },
        Some(1) => Verdict {
            accepted: false,
            output: text,
        },
        other => panic!(
            "{program} on {} ended with {other:?}: {text}",
            file.display()
        ),
    }
}

/// Both verifiers on `record` written to `file`: (Rust, Node).
fn both(dir: &Scratch, name: &str, record: &Value) -> (Verdict, Verdict) {
    let file = dir.path(&format!("{name}.json"));
    std::fs::write(&file, record.to_string()).expect("write the record");
    let rust = run(BIN, &["verify".as_ref()], &file);
    let node = run("node", &[node_verifier().as_os_str()], &file);
    (rust, node)
}

/// Both verifiers accept `record`.
#[track_caller]
fn assert_accepted(dir: &Scratch, name: &str, record: &Value) {
    let (rust, node) = both(dir, name, record);
    assert!(
        rust.accepted,
        "perudo verify refuses good record {name}: {}",
        rust.output
    );
    assert!(
        node.accepted,
        "verify-record.mjs refuses good record {name}: {}",
        node.output
    );
    assert!(rust.output.starts_with("ok:"), "{}", rust.output);
    assert!(node.output.starts_with("ok:"), "{}", node.output);
}

/// Both verifiers refuse `record`, each naming why: `rust_says` and `node_says` must appear
/// in their messages.
#[track_caller]
fn assert_refused(dir: &Scratch, name: &str, record: &Value, rust_says: &str, node_says: &str) {
    let (rust, node) = both(dir, name, record);
    assert!(
        !rust.accepted,
        "perudo verify accepts tampered record {name}: {}",
        rust.output
    );
    assert!(
        !node.accepted,
        "verify-record.mjs accepts tampered record {name}: {}",
        node.output
    );
    assert!(
        rust.output.contains(rust_says),
        "perudo verify on {name} should say {rust_says:?}: {}",
        rust.output
    );
    assert!(
        node.output.contains(node_says),
        "verify-record.mjs on {name} should say {node_says:?}: {}",
        node.output
    );
}

/// `GET /api/rooms/{code}/games/{game}` as JSON, checked to be a record with every round.
async fn fetch_record(server: &TestServer, code: &str, game: u32) -> Value {
    let response = server.get(&format!("/api/rooms/{code}/games/{game}")).await;
    assert_eq!(response.status, 200, "the record: {}", response.body);
    let record: GameRecord = serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("not a game record ({e}): {}", response.body));
    assert_eq!(record.format, RECORD_FORMAT);
    assert_eq!(record.rounds.len() as u32, record.results.rounds);
    serde_json::from_str(&response.body).expect("json")
}

/// The record's hands as the table showed them: every `RoundResolved` that `client` received
/// in game `game`, by round number.
fn shown_hands(client: &Client, game: u32) -> Vec<(u32, Value)> {
    crate::game::game_events(client, game)
        .into_iter()
        .filter_map(|event| match event {
            perudo_protocol::perudo_core::Event::RoundResolved(r) => {
                Some((r.round, serde_json::to_value(&r.hands).expect("json")))
            }
            _ => None,
        })
        .collect()
}

/// Three games: bots with a seeded opener; humans where one leaves mid-round (a forfeit
/// voids and re-rolls the round); and a fixed opener with three dice each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_verifiers_accept_real_records_and_refuse_tampered_ones() {
    let dir = Scratch::new("fairplay");
    let server = TestServer::fast().await;
    let mut records = Vec::new();

    // 1. A human and three bots, default rules (the first opener drawn from the seed).
    let room = server.create_room("Ana", None).await;
    let mut ana = server.host(&room, "Ana").await;
    for level in [BotLevel::Easy, BotLevel::Normal, BotLevel::Hard] {
        ana.ack(Request::AddBot { level }).await;
    }
    ana.ack(Request::Start).await;
    ana.play_to_end(1, &mut Strategy::bot(BotLevel::Hard, 11))
        .await;
    let record = fetch_record(&server, &room.code, 1).await;
    for (round, hands) in shown_hands(&ana, 1) {
        assert_eq!(
            record["rounds"][round as usize]["hands"], hands,
            "round {round}: the record lists the dice the table was shown"
        );
    }
    records.push(("bots", record));
    // The Node verifier also reads a record straight from the server.
    let url = format!("http://{}/api/rooms/{}/games/1", server.addr, room.code);
    // (block_in_place: the server must keep serving on this runtime while node asks it.)
    let node = tokio::task::block_in_place(|| {
        run("node", &[node_verifier().as_os_str()], Path::new(&url))
    });
    assert!(
        node.accepted && node.output.starts_with("ok:"),
        "{}",
        node.output
    );

    // 2. Three humans and a bot; Cy leaves during the first round: it is void and re-rolled.
    let room = server.create_room("Bea", None).await;
    let bea = server.host(&room, "Bea").await;
    let mut clients = vec![bea];
    for name in ["Cy", "Di"] {
        clients.push(server.player(&room.code, name).await);
    }
    clients[0]
        .ack(Request::AddBot {
            level: BotLevel::Normal,
        })
        .await;
    clients[0].ack(Request::Start).await;
    let mut cy = clients.remove(1);
    let left = cy.ack(Request::Leave).await;
    // Everyone sees the re-rolled round before playing on, so no one moves on the old one:
    // the version of the leave, then (protocol 1 sends a seat's new hand in a frame of its
    // own, after the table's) whatever follows until the room goes quiet.
    for client in &mut clients {
        client.catch_up(left).await;
    }
    for client in &mut clients {
        while client
            .recv_within(std::time::Duration::from_millis(20))
            .await
            .is_some()
        {}
    }
    let clients = crate::game::play_all(clients, 1).await;
    clients[0]
        .events
        .iter()
        .find(|(_, e)| {
            matches!(
                e,
                RoomEvent::Game {
                    event: perudo_protocol::perudo_core::Event::Forfeited { .. }
                }
            )
        })
        .expect("the room told of the forfeit");
    let record = fetch_record(&server, &room.code, 1).await;
    let parsed: GameRecord = serde_json::from_value(record.clone()).expect("a record");
    assert_eq!(
        parsed.rounds[0].end,
        RoundEnd::Forfeit { seat: seat(1) },
        "the first round was voided by Cy's forfeit"
    );
    assert!(parsed.rounds[1].hands[1].is_empty(), "Cy has no dice after");
    records.push(("forfeit", record));

    // 3. Fixed first opener, three dice each.
    let rules = GameConfig {
        starting_dice: 3,
        first_round_opener: FirstOpener::Seat(seat(1)),
        ..GameConfig::default()
    };
    let room = server.create_room("Eve", Some(rules)).await;
    let mut eve = server.host(&room, "Eve").await;
    for level in [BotLevel::Hard, BotLevel::Hard] {
        eve.ack(Request::AddBot { level }).await;
    }
    eve.ack(Request::Start).await;
    eve.play_to_end(1, &mut Strategy::bot(BotLevel::Normal, 5))
        .await;
    records.push(("fixed-opener", fetch_record(&server, &room.code, 1).await));

    for (name, record) in &records {
        assert_accepted(&dir, name, record);
        // A record re-serialized in another key order and spacing is the same record.
        let pretty = serde_json::to_string_pretty(record).expect("json");
        assert_accepted(
            &dir,
            &format!("{name}-pretty"),
            &serde_json::from_str(&pretty).expect("json"),
        );
    }

    // A record saved before rounds were listed (format 1): perudo verify still replays it and
    // says it could not compare dice; the Node verifier, which only compares dice, refuses it.
    let mut old = records[0].1.clone();
    old["format"] = Value::from(1);
    old.as_object_mut().expect("an object").remove("rounds");
    let (rust, node) = both(&dir, "format-1", &old);
    assert!(rust.accepted, "{}", rust.output);
    assert!(rust.output.contains("lists no dice"), "{}", rust.output);
    assert!(
        !node.accepted && node.output.contains("format 1"),
        "{}",
        node.output
    );
    old["rounds"] = records[0].1["rounds"].clone();
    let (rust, _) = both(&dir, "format-1-with-rounds", &old);
    assert!(
        !rust.accepted,
        "a format 1 record has no rounds: {}",
        rust.output
    );

    for (name, good) in &records {
        let rounds = good["rounds"].as_array().expect("rounds").len();
        // A changed die: the first die of the first seat with dice in the last round.
        let mut bad = good.clone();
        let last = &mut bad["rounds"][rounds - 1]["hands"];
        let (owner, hand) = last
            .as_array_mut()
            .expect("hands")
            .iter_mut()
            .enumerate()
            .find(|(_, h)| !h.as_array().expect("hand").is_empty())
            .expect("someone has dice");
        let die = hand[0].as_u64().expect("a face");
        hand[0] = Value::from(if die == 6 { 5 } else { die + 1 });
        let mut sorted: Vec<u64> = hand
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        sorted.sort_unstable();
        *hand = Value::from(sorted);
        assert_refused(
            &dir,
            &format!("{name}-die"),
            &bad,
            &format!("round {}, seat {owner}", rounds - 1),
            &format!("round {}, seat {owner}", rounds - 1),
        );

        // A changed seed: it no longer hashes to the commitment.
        let mut bad = good.clone();
        let other = Seed::from_u64(7).to_hex();
        bad["seed"] = Value::from(other.clone());
        bad["results"]["seed"] = Value::from(other);
        assert_refused(
            &dir,
            &format!("{name}-seed"),
            &bad,
            "commitment",
            "commitment",
        );

        // A changed seed with a commitment to match: the dice are then not the seed's.
        let mut bad = good.clone();
        let other = Seed::from_u64(7);
        for key in ["seed", "commitment"] {
            let value = if key == "seed" {
                other.to_hex()
            } else {
                other.commitment().to_hex()
            };
            bad[key] = Value::from(value.clone());
            bad["results"][key] = Value::from(value);
        }
        assert_refused(
            &dir,
            &format!("{name}-seed-and-commitment"),
            &bad,
            "",
            "the seed rolls",
        );

        // A changed commitment.
        let mut bad = good.clone();
        let commitment = Seed::from_u64(8).commitment().to_hex();
        bad["commitment"] = Value::from(commitment.clone());
        bad["results"]["commitment"] = Value::from(commitment);
        assert_refused(
            &dir,
            &format!("{name}-commitment"),
            &bad,
            "commitment",
            "commitment",
        );

        // A removed round: the last, and (when there is one) one in the middle.
        let mut bad = good.clone();
        bad["rounds"].as_array_mut().unwrap().pop();
        assert_refused(
            &dir,
            &format!("{name}-no-last-round"),
            &bad,
            "rounds",
            "rounds",
        );
        if rounds > 2 {
            let mut bad = good.clone();
            bad["rounds"].as_array_mut().unwrap().remove(1);
            assert_refused(&dir, &format!("{name}-no-round-1"), &bad, "round", "round");
        }

        // A die dropped from a hand: the count no longer follows from the game.
        let mut bad = good.clone();
        let hands = bad["rounds"][0]["hands"].as_array_mut().unwrap();
        let seat_with_dice = hands
            .iter()
            .rposition(|h| !h.as_array().unwrap().is_empty())
            .unwrap();
        hands[seat_with_dice].as_array_mut().unwrap().pop();
        assert_refused(
            &dir,
            &format!("{name}-dropped-die"),
            &bad,
            "round 0",
            &format!("round 0, seat {seat_with_dice}: "),
        );
    }
    server.stop().await;
}
