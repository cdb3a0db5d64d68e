//! What a client spends on one server frame: decoding it (`ServerMessage::decode`), and
//! decoding and applying it to its `RoomMirror`, for the golden frames of a move (a bid, the
//! round's resolution) and a snapshot of a game in play, and a player's whole game replayed. `perudo-bench loadtest` runs four
//! such clients per room: their cost is CPU the server under test does not get.
//!
//!   cargo bench -p perudo-protocol --bench decode

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use perudo_protocol::ServerMessage;
use perudo_protocol::client::RoomMirror;

fn golden(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.msgpack"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for name in [
        "server_update_bid_placed",
        "server_update_round_resolved",
        "server_snapshot_playing",
        "server_ack",
    ] {
        let bytes = golden(name);
        ServerMessage::decode(&bytes).expect("a golden frame decodes");
        group.bench_function(name, |b| {
            b.iter(|| ServerMessage::decode(std::hint::black_box(&bytes)).expect("decodes"))
        });
    }
    group.finish();
}

/// A player's whole game (the golden transcript `player.json`, written by the server's room
/// tests: join, a game start, bids, reveals, game over), decoded and applied frame by frame
/// to a fresh `RoomMirror`: a client's work for one game's frames.
fn replay(c: &mut Criterion) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/transcripts/player.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let transcript: serde_json::Value = serde_json::from_str(&text).expect("a transcript is JSON");
    let frames: Vec<Vec<u8>> = transcript["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|step| {
            let hex = step["frame"].as_str().expect("a hex frame");
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect()
        })
        .collect();
    let play = |frames: &[Vec<u8>]| {
        let mut mirror = RoomMirror::new();
        for bytes in frames {
            let message = ServerMessage::decode(bytes).expect("decodes");
            mirror
                .apply(&message)
                .expect("the mirror applies every frame");
        }
        mirror
    };
    play(&frames);
    c.bench_function(
        &format!("replay/player.json ({} frames)", frames.len()),
        |b| b.iter(|| play(std::hint::black_box(&frames))),
    );
}

criterion_group!(benches, decode, replay);
criterion_main!(benches);
