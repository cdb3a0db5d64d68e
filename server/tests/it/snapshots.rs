//! insta snapshots of the messages a scripted game produces, one per connection.
//!
//! Seeds are random, so the script is chosen to play the same way whatever the dice:
//! with `BidQuantityCap::Unbounded` a bid for more dice than are in play is certainly
//! false, so every dudo against one succeeds and every calza on one fails. What is still
//! random (room code, token, commitment, seed, the faces in each hand, the count at each
//! reveal) is redacted from the summaries; hand sizes stay.

use std::fmt::Write as _;

use perudo_protocol::perudo_core::{
    Action, BidQuantityCap, Event, FirstOpener, GameConfig, LegalMoves, Resolution, TableState,
    TableView,
};
use perudo_protocol::{
    GameResults, Occupant, Request, RoomEvent, RoomView, ServerMessage, Snapshot, TurnClock,
    YouView,
};

use crate::client::{Client, bid, seat};
use crate::game::{game_events, verify_game};
use crate::server::TestServer;

fn scripted_rules() -> GameConfig {
    GameConfig {
        starting_dice: 2,
        max_players: 4,
        first_round_opener: FirstOpener::Seat(seat(0)),
        bid_quantity_cap: BidQuantityCap::Unbounded,
        ..GameConfig::default()
    }
}

/// One step of the script: who acts, and whether the server must carry it out.
enum Step {
    Act(usize, Action),
    Refused(usize, Action),
}

/// Ana, Bob and Cy with two dice each; every bid names more dice than are in play.
fn script() -> Vec<Step> {
    use Step::{Act, Refused};
    vec![
        // Round 0: Ana opens, Cy speaks out of turn, Bob bids too low, then calls dudo.
        Act(0, bid(7, 2)),
        Refused(2, Action::Dudo),
        Refused(1, bid(7, 2)),
        Act(1, Action::Dudo),
        // Round 1: Ana is down to one die: her palifico. Bob's calza fails.
        Act(0, bid(6, 3)),
        Act(1, Action::Calza),
        // Round 2: Bob's palifico; Cy's dudo puts him out.
        Act(1, bid(5, 2)),
        Act(2, Action::Dudo),
        // Rounds 3 and 4: two players left, no palifico; Ana calls Cy's bids.
        Act(2, bid(4, 5)),
        Act(0, Action::Dudo),
        Act(2, bid(3, 6)),
        Act(0, Action::Dudo),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_game_sends_these_messages() {
    let server = TestServer::fast().await;
    let room = server.create_room("Ana", None).await;
    let ana = server.host(&room, "Ana").await;
    let mut spectator = server.connect(&room.code, "spectator").await;
    spectator.hello().await;
    spectator.spectate().await;
    let mut players = vec![ana];
    players.push(server.player(&room.code, "Bob").await);
    players.push(server.player(&room.code, "Cy").await);
    let mut latest = players[0]
        .ack(Request::SetRules {
            rules: scripted_rules(),
        })
        .await;
    latest = players[0].ack(Request::Start).await.max(latest);

    for step in script() {
        let (who, action, carried_out) = match step {
            Step::Act(who, action) => (who, action, true),
            Step::Refused(who, action) => (who, action, false),
        };
        let actor = &mut players[who];
        // Reading up to the latest version first keeps every stream in one order.
        while actor.version() < latest {
            actor.recv().await;
        }
        if carried_out {
            actor.wait_turn().await;
            latest = actor.act(action).await;
        } else {
            let id = actor.send(Request::Act { action }).await;
            let answer = actor.answer(id).await;
            assert!(
                matches!(answer, ServerMessage::Rejected { .. }),
                "{answer:?}"
            );
        }
    }
    for client in players.iter_mut().chain([&mut spectator]) {
        while client.results.is_empty() {
            client.recv().await;
        }
    }

    let results = players[0].results[0].clone();
    assert_eq!(results.winner, seat(0));
    assert_eq!(results.placings, [seat(0), seat(2), seat(1)]);
    let table = players[0].table().cloned().expect("a table");
    let dice: Vec<u8> = table.seats.iter().map(|s| s.dice).collect();
    verify_game(
        &scripted_rules(),
        &results,
        &game_events(&players[0], 1),
        &dice,
    );

    let redact = Redact {
        code: room.code.to_string(),
        tokens: players
            .iter()
            .filter_map(|c| c.token().map(str::to_string))
            .collect(),
    };
    let [ana, bob, cy] = <[Client; 3]>::try_from(players).expect("three players");
    insta::assert_snapshot!("scripted_game_ana", redact.stream(&ana));
    insta::assert_snapshot!("scripted_game_bob", redact.stream(&bob));
    insta::assert_snapshot!("scripted_game_cy", redact.stream(&cy));
    insta::assert_snapshot!("scripted_game_spectator", redact.stream(&spectator));
    server.stop().await;
}

/// Turns a connection's frames into lines that are the same on every run.
struct Redact {
    code: String,
    tokens: Vec<String>,
}

impl Redact {
    fn stream(&self, client: &Client) -> String {
        let mut out = String::new();
        for frame in &client.frames {
            self.message(&mut out, &frame.message);
        }
        for token in &self.tokens {
            assert!(!out.contains(token.as_str()), "a token was left in");
        }
        assert!(
            !out.contains(self.code.as_str()),
            "the room code was left in"
        );
        out
    }

    fn message(&self, out: &mut String, message: &ServerMessage) {
        match message {
            ServerMessage::Ack { id, version } => writeln!(out, "Ack #{id} v{version}"),
            ServerMessage::Rejected {
                id,
                code,
                message,
                detail,
            } => writeln!(out, "Rejected #{id} {code:?} {message:?} {detail:?}"),
            ServerMessage::Moved { seat } => writeln!(out, "Moved to seat {}", seat.get()),
            ServerMessage::Seated { seat, token } => {
                assert!(self.tokens.contains(token));
                writeln!(out, "Seated seat {} token <redacted>", seat.get())
            }
            ServerMessage::Snapshot(Snapshot {
                version,
                room,
                table,
                you,
                clock,
            }) => {
                writeln!(out, "Snapshot v{version}").ok();
                clock_line(out, clock.as_ref());
                self.room(out, room);
                if let Some(table) = table {
                    table_lines(out, table);
                }
                if let Some(you) = you {
                    you_line(out, you);
                }
                Ok(())
            }
            ServerMessage::Update(update) => {
                writeln!(out, "Update v{}", update.version).ok();
                clock_line(out, update.clock.as_ref());
                for event in &update.events {
                    event_line(out, event);
                }
                if let Some(id) = update.ack {
                    writeln!(out, "  answers #{id}").ok();
                }
                if let Some(you) = &update.you {
                    you_line(out, you);
                }
                Ok(())
            }
            ServerMessage::Closing { reason } => writeln!(out, "Closing {reason:?}"),
        }
        .expect("writing to a string");
    }

    fn room(&self, out: &mut String, room: &RoomView) {
        assert_eq!(room.code.as_str(), self.code);
        let seats: Vec<String> = room
            .seats
            .iter()
            .map(|s| match s.occupant {
                Occupant::Human { connected: true } => s.name.to_string(),
                Occupant::Human { connected: false } => format!("{} (away)", s.name),
                Occupant::Bot { level } => format!("{} ({level:?} bot)", s.name),
            })
            .collect();
        let rules = if room.rules == GameConfig::default() {
            "default"
        } else if room.rules == scripted_rules() {
            "scripted"
        } else {
            "other"
        };
        writeln!(
            out,
            "  room: {:?}, host {:?}, seats [{}], {} watching, rules {rules}, pause {} ms, {} played",
            room.phase,
            room.host.map(|s| s.get()),
            seats.join(", "),
            room.spectators,
            room.reveal_pause_ms,
            room.games_played,
        )
        .ok();
        if let Some(results) = &room.results {
            results_lines(out, "  room results", results);
        }
    }
}

/// The clock's seat and reason; the milliseconds left depend on timing and are left out.
fn clock_line(out: &mut String, clock: Option<&TurnClock>) {
    if let Some(clock) = clock {
        writeln!(
            out,
            "  clock: seat {}, {:?}, <ms redacted>",
            clock.seat.get(),
            clock.reason
        )
        .ok();
    }
}

fn you_line(out: &mut String, you: &YouView) {
    writeln!(
        out,
        "  you: seat {}, {} dice, {}",
        you.seat.get(),
        you.hand.len(),
        legal(&you.legal)
    )
    .ok();
}

fn legal(legal: &LegalMoves) -> String {
    if !legal.any() {
        return "no moves".into();
    }
    let mins: Vec<String> = legal
        .min_bid
        .iter()
        .map(|q| q.map_or("-".into(), |q| q.get().to_string()))
        .collect();
    format!(
        "min bid per face [{}] up to {}, dudo {}, calza {}, palifico {}",
        mins.join(" "),
        legal.max_quantity.get(),
        legal.dudo,
        legal.calza,
        legal.declare_palifico
    )
}

fn table_lines(out: &mut String, table: &TableView) {
    let dice: Vec<String> = table.seats.iter().map(|s| s.dice.to_string()).collect();
    let state = match &table.state {
        TableState::Bidding(round) => {
            let bids: Vec<String> = round
                .bids
                .iter()
                .map(|b| format!("{}: {}", b.seat.get(), b.bid))
                .collect();
            format!(
                "round {}, opener {}, turn {}, palifico {:?}, wilds {:?}, bids [{}]",
                round.round,
                round.opener.get(),
                round.turn.get(),
                round.palifico.map(|s| s.get()),
                round.wilds,
                bids.join(", ")
            )
        }
        TableState::Over { winner } => format!("over, winner {}", winner.get()),
    };
    writeln!(
        out,
        "  table: dice [{}] of {}, {state}, last reveal {:?}",
        dice.join(" "),
        table.total_dice,
        table.last_resolution.as_ref().map(|r| r.round)
    )
    .ok();
}

fn resolution(r: &Resolution) -> String {
    let hands: Vec<String> = r.hands.iter().map(|h| h.len().to_string()).collect();
    let changes: Vec<String> = r
        .changes
        .iter()
        .map(|c| format!("{}: {}->{}", c.seat.get(), c.before, c.after))
        .collect();
    format!(
        "round {}, {:?} on {}: {}, hands of [{}] dice, wilds {:?}, count <redacted>, succeeded {}, changes [{}]",
        r.round,
        r.call,
        r.bid.seat.get(),
        r.bid.bid,
        hands.join(" "),
        r.wilds,
        r.call_succeeded,
        changes.join(", ")
    )
}

fn event_line(out: &mut String, event: &RoomEvent) {
    let text = match event {
        RoomEvent::Game { event } => match event {
            Event::GameStarted {
                seats,
                starting_dice,
                ..
            } => {
                format!("game: started, {seats} seats, {starting_dice} dice, commitment <redacted>")
            }
            Event::RoundStarted {
                round,
                opener,
                palifico,
                wilds,
                dice,
            } => format!(
                "game: round {round} started, opener {}, palifico {:?}, wilds {wilds:?}, dice {dice:?}",
                opener.get(),
                palifico.map(|s| s.get())
            ),
            Event::PalificoDeclared { seat } => {
                format!("game: palifico declared by {}", seat.get())
            }
            Event::BidPlaced(placed) => format!("game: {} bids {}", placed.seat.get(), placed.bid),
            Event::RoundResolved(r) => format!("game: resolved {}", resolution(r)),
            Event::Forfeited { seat } => format!("game: {} forfeited", seat.get()),
            Event::Eliminated { seat } => format!("game: {} is out", seat.get()),
            Event::GameWon { winner } => format!("game: {} won", winner.get()),
        },
        RoomEvent::GameOver { results } => {
            results_lines(out, "  - game over", results);
            return;
        }
        other => format!("{other:?}"),
    };
    writeln!(out, "  - {text}").ok();
}

fn results_lines(out: &mut String, label: &str, results: &GameResults) {
    let placings: Vec<String> = results
        .placings
        .iter()
        .map(|s| s.get().to_string())
        .collect();
    writeln!(
        out,
        "{label}: game {}, winner {}, placings [{}], {} rounds, seed and commitment <redacted>",
        results.game,
        results.winner.get(),
        placings.join(" "),
        results.rounds
    )
    .ok();
    for (seat, stats) in results.stats.iter().enumerate() {
        writeln!(out, "      seat {seat}: {stats:?}").ok();
    }
}
