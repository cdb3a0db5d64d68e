//! Wire-level secrecy: nobody receives another seat's dice before the round's reveal.
//!
//! The check reads every frame twice. Typed: an update's and a snapshot's `you` are only
//! ever the receiver's own seat, and a revealed `Resolution` belongs to a round that has
//! ended. Untyped: each frame's raw MessagePack is decoded as a generic tree (so a field the
//! typed decoder would skip cannot hide), and every `hand`, `hands` and `seed` key and every
//! array of die-sized integers in it must be one of the few places where they are allowed.
//! The game's seed, as hex and as raw bytes, must not appear in any frame before the game
//! is over.

use std::collections::{BTreeMap, BTreeSet};

use perudo_protocol::perudo_core::{BotLevel, Event, GameConfig, Hand, Resolution, TableState};
use perudo_protocol::{RoomEvent, ServerMessage};
use serde_json::Value;

use crate::client::{Client, Received, Role};
use crate::game::play_all;
use crate::server::TestServer;

/// Identifies a round across games: (game number, round number).
type RoundKey = (u32, u32);

/// What one client learned, for the cross-client checks.
#[derive(Debug, Default)]
pub struct Seen {
    /// This connection's own hand per round, from the views in its updates and snapshots.
    pub own_hands: BTreeMap<RoundKey, Hand>,
    /// Reveals received, per round.
    pub reveals: BTreeMap<RoundKey, Resolution>,
    /// Index of the frame that announced each game's end, by seed.
    pub game_over_at: BTreeMap<String, usize>,
}

/// Where a die-sized integer array may sit (by the key that holds it).
const ALLOWED_INT_ARRAYS: &[&str] = &[
    // RoundStarted: dice counts per seat, public.
    "dice",
    // LegalMoves: smallest quantity per face.
    "min_bid",
    // GameResults.
    "placings",
    // RejectDetail::Versions.
    "supported",
    // Checked on their own below.
    "hand",
    "hands",
];

/// A key path and what sits there, for the generic scan.
#[derive(Debug)]
enum Found {
    /// A `hand` key at this path.
    Hand(Vec<String>),
    /// A `hands` key in an object whose `round` is this.
    Hands(Option<u64>),
    Seed(String),
    IntArray(String),
}

fn walk(value: &Value, path: &mut Vec<String>, found: &mut Vec<Found>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match key.as_str() {
                    "hand" => found.push(Found::Hand(
                        path.iter().cloned().chain([key.clone()]).collect(),
                    )),
                    "hands" => found.push(Found::Hands(map.get("round").and_then(Value::as_u64))),
                    "seed" => {
                        found.push(Found::Seed(child.as_str().unwrap_or_default().to_string()))
                    }
                    _ => {}
                }
                path.push(key.clone());
                walk(child, path, found);
                path.pop();
            }
        }
        Value::Array(items) => {
            let dice_like = !items.is_empty()
                && items
                    .iter()
                    .all(|v| v.as_u64().is_some_and(|n| (1..=6).contains(&n)));
            if dice_like {
                found.push(Found::IntArray(path.last().cloned().unwrap_or_default()));
            }
            for item in items {
                walk(item, path, found);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// Checks every frame one client received; returns what it learned.
pub fn check_client(client: &Client) -> Seen {
    let name = &client.name;
    let mut seen = Seen::default();
    let mut game = 0u32;
    let mut round: Option<u32> = None;
    let mut resolved: BTreeSet<RoundKey> = BTreeSet::new();
    let mut finished_seeds: BTreeSet<String> = BTreeSet::new();

    for (
        index,
        Received {
            bytes,
            message,
            role,
        },
    ) in client.frames.iter().enumerate()
    {
        // Typed pass: update what this client knows, check the views are its own.
        match message {
            ServerMessage::Moved { .. } => {}
            ServerMessage::Snapshot(snapshot) => {
                match (&snapshot.you, role) {
                    (None, _) => {}
                    (Some(you), Role::Seat(seat)) => assert_eq!(you.seat, *seat, "{name}"),
                    (Some(you), other) => panic!("{name} ({other:?}) got seat {}'s view", you.seat),
                }
                if let Some(results) = &snapshot.room.results {
                    assert_eq!(
                        results.game, snapshot.room.games_played,
                        "{name}: results of a finished game"
                    );
                    finished_seeds.insert(results.seed.clone());
                }
                if let Some(table) = &snapshot.table {
                    game = snapshot.room.games_played
                        + u32::from(matches!(table.state, TableState::Bidding(_)));
                    if let TableState::Bidding(view) = &table.state {
                        round = Some(view.round);
                    }
                    if let Some(last) = &table.last_resolution {
                        match &table.state {
                            TableState::Bidding(view) => assert!(last.round < view.round, "{name}"),
                            TableState::Over { .. } => {}
                        }
                        resolved.insert((game, last.round));
                    }
                    if let (Some(you), Some(r)) = (&snapshot.you, round)
                        && !you.hand.is_empty()
                    {
                        seen.own_hands.insert((game, r), you.hand.clone());
                    }
                }
            }
            ServerMessage::Update(update) => {
                for event in &update.events {
                    match event {
                        RoomEvent::GameStarted { game: g } => {
                            game = *g;
                            round = None;
                        }
                        RoomEvent::Game {
                            event: Event::RoundStarted { round: r, .. },
                        } => round = Some(*r),
                        RoomEvent::Game {
                            event: Event::RoundResolved(resolution),
                        } => {
                            assert_eq!(
                                Some(resolution.round),
                                round,
                                "{name}: a reveal of a round that is not the one being played"
                            );
                            resolved.insert((game, resolution.round));
                            seen.reveals
                                .insert((game, resolution.round), resolution.clone());
                        }
                        RoomEvent::GameOver { results } => {
                            finished_seeds.insert(results.seed.clone());
                            seen.game_over_at.insert(results.seed.clone(), index);
                        }
                        _ => {}
                    }
                }
                if let Some(you) = &update.you {
                    assert_eq!(*role, Role::Seat(you.seat), "{name}: another seat's view");
                    if !you.hand.is_empty() {
                        let r = round.expect("a hand belongs to a running round");
                        let old = seen.own_hands.insert((game, r), you.hand.clone());
                        assert!(
                            old.is_none_or(|old| old == you.hand),
                            "{name}: a hand changed within round {r}"
                        );
                    }
                }
            }
            ServerMessage::Ack { .. }
            | ServerMessage::Rejected { .. }
            | ServerMessage::Seated { .. }
            | ServerMessage::Closing { .. } => {}
        }

        // Untyped pass over the raw bytes.
        let tree: Value = rmp_serde::from_slice(bytes).expect("a frame is a MessagePack value");
        let kind = tree
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut found = Vec::new();
        walk(&tree, &mut Vec::new(), &mut found);
        for item in found {
            match item {
                Found::Hand(path) => {
                    assert!(
                        matches!(kind.as_str(), "Update" | "Snapshot") && path == ["you", "hand"],
                        "{name}: a hand at {path:?} in a {kind} frame"
                    );
                }
                Found::Hands(r) => {
                    let r = r.unwrap_or_else(|| {
                        panic!("{name}: hands outside a resolution in a {kind}")
                    });
                    assert!(
                        resolved.contains(&(game, r as u32)),
                        "{name}: hands of round {r} of game {game} before its reveal ({kind} frame {index})"
                    );
                }
                Found::Seed(seed) => assert!(
                    finished_seeds.contains(&seed),
                    "{name}: a seed before its game was over ({kind} frame {index})"
                ),
                Found::IntArray(key) => assert!(
                    ALLOWED_INT_ARRAYS.contains(&key.as_str()),
                    "{name}: an unexpected array of die-sized numbers under {key:?} in a {kind} frame"
                ),
            }
        }
    }
    seen
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Checks a room's clients one by one, then against each other: every revealed hand is
/// the hand its seat was shown, and no seed shows up in any frame before its game's end.
pub fn check_room(clients: &[Client]) {
    let seen: Vec<Seen> = clients.iter().map(check_client).collect();
    let seeds: BTreeSet<String> = clients
        .iter()
        .flat_map(|c| c.results.iter().map(|r| r.seed.clone()))
        .collect();
    assert!(!seeds.is_empty(), "at least one game ended");

    for (client, seen) in clients.iter().zip(&seen) {
        for seed in &seeds {
            let raw = hex::decode(seed).expect("hex");
            let until = seen
                .game_over_at
                .get(seed)
                .copied()
                .unwrap_or(client.frames.len());
            for (i, frame) in client.frames[..until].iter().enumerate() {
                assert!(
                    !contains(&frame.bytes, seed.as_bytes()) && !contains(&frame.bytes, &raw),
                    "{}: frame {i} holds a seed before its game ended",
                    client.name
                );
            }
        }
    }

    // Own hands (what each seat was shown) agree with every reveal of that round.
    let mut compared = 0;
    for (client, own) in clients.iter().zip(&seen) {
        let Some(seat) = client.frames.iter().find_map(|f| match f.message {
            ServerMessage::Seated { seat, .. } => Some(seat),
            _ => None,
        }) else {
            continue;
        };
        for (key, hand) in &own.own_hands {
            for other in &seen {
                if let Some(reveal) = other.reveals.get(key) {
                    assert_eq!(
                        &reveal.hands[seat.index()],
                        hand,
                        "{}: round {key:?} revealed a hand other than the one shown",
                        client.name
                    );
                    compared += 1;
                }
            }
        }
    }
    if clients.iter().any(|c| matches!(c.role(), Role::Seat(_))) {
        assert!(compared > 0, "some hands were compared");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_frame_reveals_another_seats_dice_before_the_reveal() {
    use perudo_protocol::Request;

    let server = TestServer::fast().await;
    let rooms = [
        // Four humans, the default rules.
        (GameConfig::default(), 4, 0),
        // Three humans and a bot; fewer dice, the dudo winner opens.
        (
            GameConfig {
                starting_dice: 3,
                opener_after_dudo: perudo_protocol::perudo_core::OpenerAfterDudo::Winner,
                ..GameConfig::default()
            },
            3,
            1,
        ),
        // Two humans and two bots; no wild aces, no calza.
        (
            GameConfig {
                aces_wild: false,
                calza_enabled: false,
                ..GameConfig::default()
            },
            2,
            2,
        ),
    ];

    let mut tasks = Vec::new();
    for (index, (rules, humans, bots)) in rooms.into_iter().enumerate() {
        let room = server.create_room("P0", Some(rules)).await;
        let mut clients = vec![server.host(&room, "P0").await];
        for i in 1..humans {
            clients.push(server.player(&room.code, &format!("P{i}")).await);
        }
        for _ in 0..bots {
            clients[0]
                .ack(Request::AddBot {
                    level: BotLevel::Hard,
                })
                .await;
        }
        let mut spectator = server
            .connect(&room.code, &format!("spectator {index}"))
            .await;
        spectator.hello().await;
        spectator.spectate().await;
        clients.push(spectator);
        let mut outsider = server
            .connect(&room.code, &format!("outsider {index}"))
            .await;
        outsider.hello().await;
        clients[0].ack(Request::Start).await;
        tasks.push(tokio::spawn(async move {
            let mut clients = play_all(clients, 1).await;
            outsider
                .expect_silence(std::time::Duration::from_millis(50))
                .await;
            clients.push(outsider);
            clients
        }));
    }
    for task in tasks {
        let clients = task.await.expect("the room's game ends");
        check_room(&clients);
        let revealed: usize = clients.iter().map(|c| check_client(c).reveals.len()).sum();
        assert!(revealed > 0, "rounds were revealed");
    }
    server.stop().await;
}
