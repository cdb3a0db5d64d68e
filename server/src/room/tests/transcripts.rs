//! Golden transcripts: a scripted room, as three of its connections received it, frame by
//! frame, with the state each client must have after each frame. Written to
//! `protocol/tests/golden/transcripts/`, where the protocol crate's mirror
//! (`protocol/tests/transcripts.rs`) and the web client's state (`web-client/tests/`)
//! replay them: a client that applies these frames and reaches these states speaks protocol
//! version 2 as the server does.
//!
//! The expected states are the Rust mirror's, and the script checks after every step that
//! each client's mirror equals a snapshot the room would send it then, so they are the
//! server's own idea of the room. This test fails when a file is missing or differs; after an
//! intended change, rewrite them with
//!
//! ```sh
//! UPDATE_GOLDEN=1 cargo test -p perudo-server --lib transcripts
//! ```

use std::path::PathBuf;

use serde::Serialize;

use super::*;

/// What a client knows after a frame: what a snapshot would give it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(super) struct State {
    version: RoomVersion,
    room: Option<RoomView>,
    table: Option<TableView>,
    you: Option<YouView>,
}

impl State {
    pub(super) fn of(mirror: &RoomMirror) -> State {
        State {
            version: mirror.version(),
            room: mirror.room().cloned(),
            table: mirror.table().cloned(),
            you: mirror.you().cloned(),
        }
    }
}

#[derive(Serialize)]
struct Step<'a> {
    /// The frame, as hex of its MessagePack bytes.
    frame: String,
    /// The state after applying it.
    state: &'a State,
}

#[derive(Serialize)]
struct Transcript<'a> {
    about: &'static str,
    protocol_version: u32,
    connection: &'a str,
    frames: Vec<Step<'a>>,
}

const ABOUT: &str = "One connection's frames of a scripted room (written by server/src/room/tests/transcripts.rs): apply each frame, in order, to a fresh client state; after each, the client's version, room, table and own view must equal `state`.";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../protocol/tests/golden/transcripts")
}

/// Drains every client's frames and checks each mirror against the room's snapshot.
fn settle_all(h: &Harness, clients: &mut [&mut Client]) {
    for client in clients.iter_mut() {
        client.frames();
        h.check_mirror(client);
    }
}

/// The scripted room: a host, a player who is moved down a seat when the one before is
/// kicked, another player who drops and comes back (and whose turns the room plays while
/// away), a spectator, a bot; house rules with a turn limit, room options, the host role
/// handed over and back, a whole game with reveals, a second game in which the player leaves
/// (a forfeit), played to its end.
fn script() -> Vec<(&'static str, Client)> {
    let mut h = Harness::quick();
    let mut host = h.host();
    let mut cy = h.player("Cy");
    let mut bob = h.player("Bob");
    let mut dee = h.player("Dee");
    let mut watcher = h.connect();
    h.hello(&mut watcher);
    h.ok(&mut watcher, Request::Spectate);
    h.ok(
        &mut host,
        Request::SetRules {
            rules: GameConfig {
                starting_dice: 2,
                turn_time_limit_secs: Some(30),
                ..GameConfig::default()
            },
        },
    );
    h.ok(
        &mut host,
        Request::SetOptions {
            options: RoomOptions {
                forfeit_after_secs: 600,
            },
        },
    );
    h.ok(&mut host, Request::Kick { seat: seat(1) });
    h.ok(&mut host, Request::TransferHost { seat: seat(1) });
    h.ok(&mut bob, Request::TransferHost { seat: seat(0) });
    h.ok(
        &mut host,
        Request::AddBot {
            level: BotLevel::Easy,
        },
    );
    h.ok(
        &mut host,
        Request::Emote {
            emote: Emote::ThumbsUp,
        },
    );
    drop(cy.frames());
    settle_all(&h, &mut [&mut host, &mut bob, &mut watcher]);
    let mut dee_away = false;
    for game in 1..=2 {
        h.ok(&mut host, Request::Start);
        settle_all(&h, &mut [&mut host, &mut bob, &mut watcher]);
        let mut moves = 0;
        while matches!(h.room.phase, Phase::Playing(_)) {
            moves += 1;
            assert!(moves < 500, "the game ends");
            let turn = h.turn();
            let paused = h.paused();
            if game == 1 && moves == 2 {
                h.disconnect(&dee);
                dee_away = true;
            } else if game == 1 && moves == 12 && dee_away {
                h.reconnect(&mut dee);
                dee_away = false;
            } else if game == 2 && moves == 3 {
                h.ok(&mut bob, Request::Leave);
            } else if turn == Some(seat(0)) && !paused {
                h.play_simple(&mut host);
            } else if turn == Some(seat(1)) && !paused && h.seated(&bob).is_some() {
                h.play_simple(&mut bob);
            } else if turn == Some(seat(2)) && !paused && !dee_away {
                h.play_simple(&mut dee);
            } else {
                assert!(h.fire_timer(), "a bot, a pause or a stand-in is due");
            }
            if !dee_away {
                dee.frames();
            }
            settle_all(&h, &mut [&mut host, &mut bob, &mut watcher]);
        }
    }
    vec![("host", host), ("player", bob), ("spectator", watcher)]
}

impl Harness {
    fn paused(&self) -> bool {
        matches!(&self.room.phase, Phase::Playing(play) if play.pause.is_some())
    }
}

#[test]
fn golden_transcripts_are_current() {
    let dir = dir();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut problems = Vec::new();
    for (name, client) in script() {
        let transcript = Transcript {
            about: ABOUT,
            protocol_version: perudo_protocol::PROTOCOL_VERSION,
            connection: name,
            frames: client
                .log
                .iter()
                .map(|(bytes, state)| Step {
                    frame: hex(bytes),
                    state,
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&transcript).expect("a transcript is JSON") + "\n";
        let path = dir.join(format!("{name}.json"));
        if update {
            std::fs::create_dir_all(&dir).expect("create the transcripts folder");
            std::fs::write(&path, &text).expect("write a transcript");
        }
        match std::fs::read_to_string(&path) {
            Ok(on_disk) if on_disk == text => {}
            Ok(_) => problems.push(format!("{}: differs", path.display())),
            Err(error) => problems.push(format!("{}: {error}", path.display())),
        }
    }
    assert!(
        problems.is_empty(),
        "the golden transcripts are stale:\n  {}\nif the protocol or the script changed on purpose, rewrite them with `UPDATE_GOLDEN=1 cargo test -p perudo-server --lib transcripts` and review the diff",
        problems.join("\n  ")
    );
}
