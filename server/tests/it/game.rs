//! Whole games over real sockets: four humans, a human with bots, spectators and sockets
//! that never joined.

use std::time::Duration;

use perudo_protocol::perudo_core::{
    BotLevel, Call, Event, GameConfig, Move, Seat, Seed, TableState, count_matches, replay,
};
use perudo_protocol::{
    GameResults, Occupant, Request, RoomEvent, RoomPhase, ServerMessage, Update,
};
use sha2::{Digest, Sha256};

use crate::client::{Client, Role, Strategy, seat};
use crate::secrecy;
use crate::server::TestServer;

/// An upper bound for playing one whole game; the bot-delay and reveal pause are a few
/// milliseconds, so a game takes well under a second.
const GAME_TIMEOUT: Duration = Duration::from_secs(30);

/// Plays every client's seat (or just reads, for spectators) until game `game` is over,
/// concurrently, and hands the clients back in order.
pub async fn play_all(clients: Vec<Client>, game: u32) -> Vec<Client> {
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            tokio::spawn(async move {
                match client.role() {
                    Role::Seat(_) => {
                        let mut strategy = Strategy::bot(BotLevel::ALL[i % 3], i as u64);
                        client.play_to_end(game, &mut strategy).await;
                    }
                    Role::Spectator => {
                        client
                            .wait_event(|e| matches!(e, RoomEvent::GameOver { results } if results.game == game))
                            .await;
                    }
                    Role::Outsider => panic!("{} is not in the room", client.name),
                }
                client
            })
        })
        .collect();
    let mut clients = Vec::new();
    for task in tasks {
        let client = tokio::time::timeout(GAME_TIMEOUT, task)
            .await
            .expect("the game ends in time")
            .expect("no client panics");
        clients.push(client);
    }
    clients
}

/// The rules-engine events of game `game` as `client` received them.
pub fn game_events(client: &Client, game: u32) -> Vec<Event> {
    let start = client
        .events
        .iter()
        .position(|(_, e)| matches!(e, RoomEvent::GameStarted { game: g } if *g == game))
        .unwrap_or_else(|| panic!("{} saw game {game} start", client.name));
    client.events[start..]
        .iter()
        .take_while(|(_, e)| !matches!(e, RoomEvent::GameOver { results } if results.game == game))
        .filter_map(|(_, e)| match e {
            RoomEvent::Game { event } => Some(event.clone()),
            _ => None,
        })
        .collect()
}

/// Checks a finished game against everything public about it: the seed matches the
/// commitment published at the start, replaying the moves from the seed gives exactly the
/// events the room broadcast (so every revealed hand is what the seed rolled), and the
/// results and statistics agree with the events.
pub fn verify_game(rules: &GameConfig, results: &GameResults, events: &[Event], final_dice: &[u8]) {
    let Some(Event::GameStarted {
        seats, commitment, ..
    }) = events.first()
    else {
        panic!("a game starts with GameStarted: {events:?}");
    };
    let seats = *seats;
    assert_eq!(
        commitment.to_hex(),
        results.commitment,
        "the commitment published at the start"
    );
    assert_eq!(results.seed.len(), 64, "a 256-bit seed in hex");
    let seed = Seed::from_hex(&results.seed).expect("the seed is hex");
    let digest: [u8; 32] = Sha256::digest(seed.0).into();
    assert_eq!(
        hex::encode(digest),
        results.commitment,
        "SHA-256 of the revealed seed is the commitment"
    );

    let moves: Vec<Move> = events
        .iter()
        .filter_map(|event| match event {
            Event::BidPlaced(placed) => Some(Move::Act {
                seat: placed.seat,
                action: perudo_protocol::perudo_core::Action::Bid(placed.bid),
            }),
            Event::RoundResolved(resolution) => Some(match resolution.call {
                Call::Dudo { challenger } => Move::Act {
                    seat: challenger,
                    action: perudo_protocol::perudo_core::Action::Dudo,
                },
                Call::Calza { caller } => Move::Act {
                    seat: caller,
                    action: perudo_protocol::perudo_core::Action::Calza,
                },
            }),
            Event::PalificoDeclared { seat } => Some(Move::Act {
                seat: *seat,
                action: perudo_protocol::perudo_core::Action::DeclarePalifico,
            }),
            Event::Forfeited { seat } => Some(Move::Forfeit { seat: *seat }),
            Event::GameStarted { .. }
            | Event::RoundStarted { .. }
            | Event::Eliminated { .. }
            | Event::GameWon { .. } => None,
        })
        .collect();
    let (game, replayed) =
        replay(rules.clone(), seats, seed, &moves).expect("the broadcast moves replay");
    assert_eq!(
        replayed, events,
        "replaying the seed gives the broadcast events"
    );
    assert_eq!(game.winner(), Some(results.winner));

    // Counts are right for the revealed hands.
    for event in events {
        if let Event::RoundResolved(r) = event {
            assert_eq!(r.count, count_matches(&r.hands, r.bid, r.wilds));
        }
    }

    // Results and stats agree with the events.
    let n = usize::from(seats);
    assert_eq!(results.stats.len(), n);
    let count = |f: &dyn Fn(&Event) -> bool| events.iter().filter(|e| f(e)).count() as u32;
    assert_eq!(
        results.rounds,
        count(&|e| matches!(e, Event::RoundStarted { .. }))
    );
    let calls = count(&|e| matches!(e, Event::RoundResolved(_)));
    let sum = |f: fn(&perudo_protocol::SeatStats) -> u32| results.stats.iter().map(f).sum::<u32>();
    assert_eq!(sum(|s| s.dudos) + sum(|s| s.calzas), calls);
    assert_eq!(
        sum(|s| s.bids),
        count(&|e| matches!(e, Event::BidPlaced(_)))
    );
    assert!(sum(|s| s.dudos_won) <= sum(|s| s.dudos));
    assert!(sum(|s| s.calzas_won) <= sum(|s| s.calzas));
    let forfeited: u32 = events
        .iter()
        .filter_map(|e| match e {
            Event::Forfeited { seat } => Some(*seat),
            _ => None,
        })
        .map(|s| {
            // A forfeit takes the seat's dice without a `RoundResolved`.
            let mut dice = u32::from(rules.starting_dice);
            for e in events {
                if let Event::RoundResolved(r) = e {
                    for c in r.changes.iter().filter(|c| c.seat == s) {
                        dice = u32::from(c.after);
                    }
                }
            }
            dice
        })
        .sum();
    let start_total = u32::from(rules.starting_dice) * u32::from(seats);
    let end_total: u32 = final_dice.iter().map(|&d| u32::from(d)).sum();
    assert_eq!(
        start_total - end_total,
        sum(|s| s.dice_lost) - sum(|s| s.dice_gained) + forfeited,
        "dice lost and gained add up"
    );
    assert_eq!(
        final_dice.iter().filter(|&&d| d > 0).count(),
        1,
        "one seat has dice left"
    );
    assert!(final_dice[results.winner.index()] > 0);
    assert_eq!(
        results.stats[results.winner.index()].rounds_played,
        results.rounds
    );

    // Placings: the winner, then the others from the last out to the first.
    let mut out: Vec<Seat> = events
        .iter()
        .filter_map(|e| match e {
            Event::Eliminated { seat } => Some(*seat),
            _ => None,
        })
        .collect();
    out.reverse();
    let mut expected = vec![results.winner];
    expected.extend(out);
    assert_eq!(results.placings, expected);
    let mut sorted = results.placings.clone();
    sorted.sort();
    assert_eq!(sorted, Seat::all(seats).collect::<Vec<_>>());
    assert!(matches!(events.last(), Some(Event::GameWon { winner }) if *winner == results.winner));
}

/// The dice each seat holds on `client`'s final table.
pub fn final_dice(client: &Client) -> Vec<u8> {
    let table = client.table().expect("a table");
    assert!(
        matches!(table.state, TableState::Over { .. }),
        "the table shows the game over"
    );
    table.seats.iter().map(|s| s.dice).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_players_play_a_game_to_the_end() {
    let server = TestServer::fast().await;
    let room = server.create_room("Ana", None).await;
    assert_eq!(room.url, format!("http://perudo.test/r/{}", room.code));
    assert_eq!(room.token.len(), 32);

    let mut clients = vec![server.host(&room, "Ana").await];
    assert_eq!(clients[0].role(), Role::Seat(seat(0)));
    assert_eq!(clients[0].room().expect("room").host, Some(seat(0)));
    for name in ["Bruno", "Carla", "Diego"] {
        clients.push(server.player(&room.code, name).await);
    }
    for (i, client) in clients.iter().enumerate() {
        assert_eq!(client.role(), Role::Seat(seat(i as u8)));
    }
    let summary = server.summary(&room.code).await;
    assert_eq!(summary.seats_taken, 4);
    assert_eq!(summary.phase, RoomPhase::Lobby);
    // The share link's join page shows the host and who sits at the table.
    assert_eq!(
        summary.host,
        Some(seat(0)),
        "the summary names the host's seat"
    );
    let names: Vec<&str> = summary.seats.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Ana", "Bruno", "Carla", "Diego"]);
    assert!(
        summary
            .seats
            .iter()
            .all(|s| s.occupant == Occupant::Human { connected: true }),
        "every player is a connected human: {:?}",
        summary.seats
    );

    clients[0].ack(Request::Start).await;
    assert_eq!(
        clients[0].phase(),
        RoomPhase::Playing,
        "the start update carries the room"
    );
    assert_eq!(server.summary(&room.code).await.phase, RoomPhase::Playing);

    let clients = play_all(clients, 1).await;

    let results = clients[0].results[0].clone();
    for client in &clients {
        assert_eq!(
            client.results,
            vec![results.clone()],
            "{} saw the same results",
            client.name
        );
        let view = client.room().expect("room");
        assert_eq!(view.phase, RoomPhase::Finished);
        assert_eq!(view.games_played, 1);
        assert_eq!(view.results.as_ref(), Some(&results));
        assert_eq!(
            game_events(client, 1),
            game_events(&clients[0], 1),
            "everyone saw the same events"
        );
    }
    verify_game(
        &GameConfig::default(),
        &results,
        &game_events(&clients[0], 1),
        &final_dice(&clients[0]),
    );
    secrecy::check_room(&clients);
    assert_eq!(server.summary(&room.code).await.phase, RoomPhase::Finished);
    for mut client in clients {
        client.assert_answered_once().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_human_plays_two_games_against_bots() {
    let server = TestServer::fast().await;
    let room = server.create_room("Ana", None).await;
    let mut host = server.host(&room, "Ana").await;
    for level in BotLevel::ALL {
        host.ack(Request::AddBot { level }).await;
    }
    let view = host.room().cloned().expect("room");
    let seats: Vec<_> = view
        .seats
        .iter()
        .map(|s| (s.name.as_str(), s.occupant))
        .collect();
    assert_eq!(
        seats,
        vec![
            ("Ana", Occupant::Human { connected: true }),
            (
                "Bot 1",
                Occupant::Bot {
                    level: BotLevel::Easy
                }
            ),
            (
                "Bot 2",
                Occupant::Bot {
                    level: BotLevel::Normal
                }
            ),
            (
                "Bot 3",
                Occupant::Bot {
                    level: BotLevel::Hard
                }
            ),
        ]
    );

    for game in 1..=2 {
        host.ack(Request::Start).await;
        let mut strategy = Strategy::Simple;
        let results = tokio::time::timeout(GAME_TIMEOUT, host.play_to_end(game, &mut strategy))
            .await
            .expect("the game ends in time");
        assert_eq!(results.game, game);
        verify_game(
            &GameConfig::default(),
            &results,
            &game_events(&host, game),
            &final_dice(&host),
        );
        let view = host.room().expect("room");
        assert_eq!(view.games_played, game);
        assert_eq!(view.phase, RoomPhase::Finished);
    }
    secrecy::check_room(std::slice::from_ref(&host));
    host.assert_answered_once().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spectators_see_the_table_and_outsiders_see_nothing() {
    let server = TestServer::fast().await;
    let room = server.create_room("Ana", None).await;
    let mut clients = vec![server.host(&room, "Ana").await];
    for name in ["Bruno", "Carla"] {
        clients.push(server.player(&room.code, name).await);
    }

    // Connected, said hello, never joined; and connected without a word.
    let mut greeted = server.connect(&room.code, "greeted").await;
    greeted.hello().await;
    let mut silent = server.connect(&room.code, "silent").await;

    let mut early = server.connect(&room.code, "early").await;
    early.hello().await;
    early.spectate().await;
    let snapshot = early.frames.iter().find_map(|f| match &f.message {
        ServerMessage::Snapshot(s) => Some(s.clone()),
        _ => None,
    });
    let snapshot = snapshot.expect("a spectator gets a snapshot");
    assert!(snapshot.you.is_none() && snapshot.table.is_none());
    assert_eq!(snapshot.room.spectators, 1);

    clients[0].ack(Request::Start).await;

    // A spectator arriving mid-game gets the public table, nothing of anyone's hand.
    let mut late = server.connect(&room.code, "late").await;
    late.hello().await;
    late.spectate().await;
    let snapshot = late
        .frames
        .iter()
        .rev()
        .find_map(|f| match &f.message {
            ServerMessage::Snapshot(s) => Some(s),
            _ => None,
        })
        .expect("a spectator gets a snapshot");
    assert!(snapshot.you.is_none());
    assert!(matches!(
        snapshot.table.as_ref().map(|t| &t.state),
        Some(TableState::Bidding(_))
    ));
    assert_eq!(snapshot.room.spectators, 2);
    assert_eq!(server.summary(&room.code).await.spectators, 2);

    clients.push(early);
    clients.push(late);
    let mut clients = play_all(clients, 1).await;

    for spectator in &clients[3..] {
        for frame in &spectator.frames {
            assert!(
                !matches!(
                    frame.message,
                    ServerMessage::Update(Update { you: Some(_), .. })
                        | ServerMessage::Seated { .. }
                ),
                "{} got {:?}",
                spectator.name,
                frame.message
            );
        }
        assert_eq!(spectator.results.len(), 1);
    }
    secrecy::check_room(&clients);

    // The outsiders heard nothing of the game: one ack for the hello, and not a byte more.
    greeted.expect_silence(Duration::from_millis(100)).await;
    assert_eq!(greeted.frames.len(), 1);
    assert!(matches!(
        greeted.frames[0].message,
        ServerMessage::Ack { id: 1, .. }
    ));
    silent.expect_silence(Duration::from_millis(100)).await;
    assert!(silent.frames.is_empty());

    // A spectator that leaves hears nothing more; the other one does.
    let mut late = clients.pop().expect("late");
    let mut early = clients.pop().expect("early");
    early.ack(Request::Leave).await;
    clients[0]
        .ack(Request::AddBot {
            level: BotLevel::Easy,
        })
        .await;
    late.wait_event(|e| matches!(e, RoomEvent::SeatTaken { .. }))
        .await;
    assert_eq!(late.room().expect("room").spectators, 1);
    early.expect_silence(Duration::from_millis(100)).await;

    for mut client in clients.into_iter().chain([early, late, greeted, silent]) {
        client.assert_answered_once().await;
    }
    server.stop().await;
}
