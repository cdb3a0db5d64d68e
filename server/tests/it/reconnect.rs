//! Drops and returns over real sockets: `Resume` within the room's history and beyond it,
//! a second socket for a seat, a player who leaves for good, and a rematch.

use std::time::Duration;

use perudo_protocol::perudo_core::{Event, GameConfig, TableState};
use perudo_protocol::{CloseReason, Emote, Request, RoomEvent, RoomPhase, ServerMessage, Update};
use perudo_server::RoomSettings;

use crate::client::{Client, Role, seat};
use crate::game::{final_dice, game_events, play_all, verify_game};
use crate::server::{TestServer, fast_settings};

/// Fast games, and a long grace: nobody is played for while a test looks at them.
fn patient() -> RoomSettings {
    RoomSettings {
        disconnect_grace: Duration::from_secs(60),
        ..fast_settings()
    }
}

/// Ana (host), Bob and Cy in a started game, everyone read up to the start.
async fn three_playing(server: &TestServer) -> (String, Client, Client, Client) {
    let room = server.create_room("Ana", None).await;
    let mut ana = server.host(&room, "Ana").await;
    let mut bob = server.player(&room.code, "Bob").await;
    let mut cy = server.player(&room.code, "Cy").await;
    let started = ana.ack(Request::Start).await;
    for client in [&mut ana, &mut bob, &mut cy] {
        client.catch_up(started).await;
        if client.you().is_none_or(|y| y.hand.is_empty()) {
            client
                .wait_for(|m| {
                    matches!(m, ServerMessage::Update(Update { you: Some(you), .. }) if !you.hand.is_empty())
                })
                .await;
        }
    }
    (room.code.to_string(), ana, bob, cy)
}

fn turn(client: &Client) -> usize {
    match &client.table().expect("a table").state {
        TableState::Bidding(round) => round.turn.index(),
        TableState::Over { .. } => panic!("the game is over"),
    }
}

/// Frames received from index `from` on.
fn since(client: &Client, from: usize) -> Vec<ServerMessage> {
    client.frames[from..]
        .iter()
        .map(|f| f.message.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_within_the_history_sends_only_the_missed_updates_and_the_same_hand() {
    let server = TestServer::start(patient()).await;
    let (code, mut ana, mut bob, mut cy) = three_playing(&server).await;
    let hand = bob.you().cloned().expect("a view").hand;
    let seen = bob.version();
    bob.redial(server.addr, &code).await;
    ana.wait_event(|e| *e == RoomEvent::Disconnected { seat: seat(1) })
        .await;
    // While Bob is away: emotes, and a bid if it is Ana's or Cy's turn.
    for client in [&mut ana, &mut cy] {
        client.ack(Request::Emote { emote: Emote::Wow }).await;
    }
    let on_turn = turn(&ana);
    if on_turn != 1 {
        let mover = if on_turn == 0 { &mut ana } else { &mut cy };
        mover.wait_turn().await;
        let action = mover
            .choose(&mut crate::client::Strategy::Simple)
            .expect("a move");
        assert!(matches!(
            action,
            perudo_protocol::perudo_core::Action::Bid(_)
        ));
        mover.act(action).await;
    }
    let latest = ana.ack(Request::Emote { emote: Emote::Clap }).await;
    bob.hello().await;
    let from = bob.frames.len();
    let back = bob
        .ack(Request::Resume {
            token: bob.token().map(str::to_string),
            last_version: seen,
        })
        .await;
    assert_eq!(back, latest + 1, "one more update: Bob's return");
    let frames = since(&bob, from);
    assert!(
        matches!(frames[0], ServerMessage::Seated { seat: s, .. } if s == seat(1)),
        "{frames:?}"
    );
    let versions: Vec<u64> = frames
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Update(u) => Some(u.version),
            _ => None,
        })
        .collect();
    assert_eq!(versions, ((seen + 1)..=back).collect::<Vec<_>>());
    assert!(
        !frames
            .iter()
            .any(|m| matches!(m, ServerMessage::Snapshot(_))),
        "no snapshot: {frames:?}"
    );
    let n = frames.len();
    assert_eq!(n, 1 + versions.len() + 1, "Seated, updates, Ack");
    // The seat's own view rides in the last update it missed.
    match &frames[n - 2] {
        ServerMessage::Update(Update { you: Some(you), .. }) => {
            assert_eq!(you.hand, hand, "the same hand")
        }
        other => panic!("{other:?}"),
    }
    let events: Vec<&RoomEvent> = bob.events.iter().map(|(_, e)| e).collect();
    assert_eq!(
        events.last(),
        Some(&&RoomEvent::Reconnected { seat: seat(1) })
    );
    ana.wait_event(|e| *e == RoomEvent::Reconnected { seat: seat(1) })
        .await;
    // Bob is playing again: the game goes on from where his client left it.
    assert_eq!(bob.role(), Role::Seat(seat(1)));
    assert_eq!(bob.phase(), RoomPhase::Playing);
    for mut client in [ana, bob, cy] {
        client.assert_answered_once().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_beyond_the_history_gets_a_snapshot_with_the_same_hand() {
    let server = TestServer::start(patient()).await;
    let (code, mut ana, mut bob, mut cy) = three_playing(&server).await;
    let hand = bob.you().cloned().expect("a view").hand;
    let seen = bob.version();
    bob.redial(server.addr, &code).await;
    ana.wait_event(|e| *e == RoomEvent::Disconnected { seat: seat(1) })
        .await;
    // The host role goes back and forth: more updates than the room keeps.
    let mut latest = 0;
    for _ in 0..35 {
        ana.ack(Request::TransferHost { seat: seat(2) }).await;
        latest = cy.ack(Request::TransferHost { seat: seat(0) }).await;
    }
    assert!(latest > seen + 64);
    bob.hello().await;
    let from = bob.frames.len();
    let back = bob
        .ack(Request::Resume {
            token: bob.token().map(str::to_string),
            last_version: seen,
        })
        .await;
    let frames = since(&bob, from);
    assert_eq!(frames.len(), 3, "Seated, Snapshot, Ack: {frames:?}");
    match &frames[1] {
        ServerMessage::Snapshot(snapshot) => {
            assert_eq!(snapshot.version, back);
            assert_eq!(
                snapshot.you.as_ref().expect("a view").hand,
                hand,
                "still the same round: the same hand"
            );
            assert_eq!(snapshot.room.host, Some(seat(0)));
        }
        other => panic!("{other:?}"),
    }
    ana.catch_up(back).await;
    for mut client in [ana, bob, cy] {
        client.assert_answered_once().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_socket_for_a_seat_replaces_the_first() {
    let server = TestServer::start(patient()).await;
    let (code, mut ana, mut bob, _cy) = three_playing(&server).await;
    let mut bob2 = server.connect(&code, "Bob again").await;
    bob2.hello().await;
    let before = ana.version();
    // The second socket carries on from what the first had seen.
    bob2.adopt_room(&bob);
    let back = bob2
        .ack(Request::Resume {
            token: bob.token().map(str::to_string),
            last_version: bob.version(),
        })
        .await;
    assert_eq!(bob2.role(), Role::Seat(seat(1)));
    bob.wait_closed().await;
    assert_eq!(bob.closing(), Some(CloseReason::Replaced));
    assert_eq!(bob2.you().map(|y| &y.hand), bob.you().map(|y| &y.hand));
    // Bob never went away, so nobody hears he is back.
    ana.catch_up(back).await;
    let events: Vec<&RoomEvent> = ana
        .events
        .iter()
        .filter(|(v, _)| *v > before)
        .map(|(_, e)| e)
        .collect();
    assert!(events.is_empty(), "{events:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_who_leaves_for_good_and_a_rematch_with_a_fresh_commitment() {
    let server = TestServer::fast().await;
    let (_code, ana, mut bob, cy) = three_playing(&server).await;
    bob.ack(Request::Leave).await;
    let clients = play_all(vec![ana, cy], 1).await;
    let [mut ana, mut cy] = <[Client; 2]>::try_from(clients).expect("two");
    let first = ana.results[0].clone();
    assert_ne!(first.winner, seat(1));
    let events = game_events(&ana, 1);
    assert!(
        events.contains(&Event::Forfeited { seat: seat(1) }),
        "{events:?}"
    );
    verify_game(&GameConfig::default(), &first, &events, &final_dice(&ana));

    // The rematch: Bob's seat is gone, the game gets a fresh seed.
    let started = ana.ack(Request::Start).await;
    cy.catch_up(started).await;
    let view = ana.room().cloned().expect("room");
    assert_eq!(view.seats.len(), 2);
    assert_eq!(cy.role(), Role::Seat(seat(1)), "Cy moved up");
    let clients = play_all(vec![ana, cy], 2).await;
    let ana = &clients[0];
    let second = ana.results[1].clone();
    assert_eq!(second.game, 2);
    assert_ne!(second.commitment, first.commitment);
    assert_ne!(second.seed, first.seed);
    verify_game(
        &GameConfig::default(),
        &second,
        &game_events(ana, 2),
        &final_dice(ana),
    );
    server.stop().await;
}
