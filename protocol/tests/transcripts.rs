//! The golden transcripts (`tests/golden/transcripts/*.json`, written by the server's room
//! tests): each is one connection's frames of a scripted room with the state expected after
//! each. The mirror replays every one from a fresh state and must reach each state exactly,
//! without reporting a violation. The web client's state replays the same files in its tests.

use std::path::PathBuf;

use perudo_protocol::ServerMessage;
use perudo_protocol::client::RoomMirror;
use serde_json::{Value, json};

fn transcripts() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/transcripts");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read a transcript");
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                serde_json::from_str(&text).expect("a transcript is JSON"),
            )
        })
        .collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn the_mirror_replays_every_golden_transcript() {
    let transcripts = transcripts();
    assert!(
        transcripts.len() >= 3,
        "the host's, a player's, a spectator's"
    );
    for (name, transcript) in transcripts {
        assert_eq!(
            transcript["protocol_version"],
            json!(perudo_protocol::PROTOCOL_VERSION),
            "{name}"
        );
        let frames = transcript["frames"].as_array().expect("frames");
        assert!(frames.len() > 20, "{name}: a whole game");
        let mut mirror = RoomMirror::new();
        for (i, step) in frames.iter().enumerate() {
            let bytes = unhex(step["frame"].as_str().expect("a hex frame"));
            let message =
                ServerMessage::decode(&bytes).unwrap_or_else(|e| panic!("{name} frame {i}: {e}"));
            if let Err(violation) = mirror.apply(&message) {
                panic!("{name} frame {i}: {violation}");
            }
            let state = json!({
                "version": mirror.version(),
                "room": mirror.room(),
                "table": mirror.table(),
                "you": mirror.you(),
            });
            assert_eq!(state, step["state"], "{name}: the state after frame {i}");
        }
    }
}
