//! insta snapshots of scripted games: every event of the game, and every seat's view plus the
//! spectator view at key points (round starts that matter, and the end).
//!
//! The games are scripted without `Bot`, so a change to the bot never changes these files:
//! players follow `policy`, a small deterministic rule that reads only the player's own view;
//! where a script needs a particular call (calza on an exact bid), the script itself decides
//! it from all hands, as a host-side test may.
//!
//! At every checkpoint the test also asserts what the snapshot cannot show by itself: each
//! player's public part equals the spectator view, and each hand is that seat's own.

use perudo_core::{
    Action, Event, Face, Game, GameConfig, Hand, LegalMoves, PlayerView, Resolution, Seat, Seed,
    TableState, TableView, Wilds, count_matches,
};
use serde::Serialize;

/// What a test snapshots at one moment: the spectator view and every seat's view. A seat's
/// view is stored without its `table`, which is asserted equal to `spectator`, so each
/// checkpoint shows the public table once and every seat's private part.
#[derive(Serialize)]
struct Checkpoint {
    label: String,
    spectator: TableView,
    players: Vec<SeatPart>,
}

/// The fields of a `PlayerView` besides `table`, in the same order.
#[derive(Serialize)]
struct SeatPart {
    seat: Seat,
    hand: Hand,
    legal: LegalMoves,
}

/// A game being played, with everything it emitted and the checkpoints taken.
struct Recorder {
    game: Game,
    events: Vec<Event>,
    checkpoints: Vec<Checkpoint>,
}

impl Recorder {
    fn start(config: GameConfig, seats: u8, seed: u64) -> Recorder {
        let (game, events) = perudo_core::Rules::new(config)
            .and_then(|rules| Game::start(rules, seats, Seed::from_u64(seed)))
            .expect("valid");
        Recorder {
            game,
            events,
            checkpoints: Vec::new(),
        }
    }

    fn act(&mut self, seat: Seat, action: Action) -> Vec<Event> {
        let events = self
            .game
            .apply(seat, action)
            .unwrap_or_else(|error| panic!("{seat} {action:?} rejected: {error}"));
        self.events.extend(events.iter().cloned());
        events
    }

    fn checkpoint(&mut self, label: impl Into<String>) {
        let spectator = self.game.spectator_view();
        let players: Vec<PlayerView> = Seat::all(self.game.seat_count())
            .map(|seat| self.game.view_for(seat))
            .collect();
        for view in &players {
            assert_eq!(view.table, spectator, "public parts of all views are equal");
            assert_eq!(
                Some(&view.hand),
                self.game.hand(view.seat).or(Some(&Default::default())),
                "a view holds its own seat's hand"
            );
            assert_eq!(view.legal, self.game.legal_moves(view.seat));
        }
        self.checkpoint_hands_hidden(&spectator);
        let players = players
            .into_iter()
            .map(|view| {
                let PlayerView {
                    seat,
                    hand,
                    table,
                    legal,
                } = view;
                assert_eq!(table, spectator);
                SeatPart { seat, hand, legal }
            })
            .collect();
        self.checkpoints.push(Checkpoint {
            label: label.into(),
            spectator,
            players,
        });
    }

    /// The spectator view, as sent, mentions dice only in the last (finished) round's reveal.
    fn checkpoint_hands_hidden(&self, spectator: &TableView) {
        let mut json = serde_json::to_value(spectator).expect("serializable");
        json.as_object_mut()
            .expect("an object")
            .remove("last_resolution");
        let text = json.to_string();
        assert!(
            !text.contains("hand"),
            "spectator view leaks a hand: {text}"
        );
        if let Some(resolution) = &spectator.last_resolution {
            assert_ne!(
                Some(resolution.round),
                self.game.round_number(),
                "only a finished round is revealed"
            );
        }
    }

    fn round_started(&self) -> bool {
        self.game.bids().is_empty()
    }
}

fn resolution(events: &[Event]) -> Option<&Resolution> {
    events.iter().find_map(|event| match event {
        Event::RoundResolved(resolution) => Some(resolution),
        _ => None,
    })
}

/// A modest player who sees only its own view: it expects the unknown dice to match at their
/// average rate, calls dudo on a bid it expects to be short by more than one die, and
/// otherwise makes the cheapest raise it believes most. Integer arithmetic (counts times 6).
fn policy(view: &PlayerView) -> Action {
    let TableState::Bidding(round) = &view.table.state else {
        panic!("the game is over")
    };
    assert_eq!(round.turn, view.seat, "policy is asked only on turn");
    let legal = &view.legal;
    let wild = round.wilds != Wilds::None;
    let unknown = i64::from(view.table.total_dice) - view.hand.len() as i64;
    // Six times the dice this player expects to show `face`.
    let expected6 = |face: Face| -> i64 {
        let wild_here = wild && !face.is_ace();
        let mine = view.hand.count_exact(face)
            + if wild_here {
                view.hand.count_exact(Face::ACE)
            } else {
                0
            };
        6 * i64::from(mine) + unknown * if wild_here { 2 } else { 1 }
    };
    let candidates = Face::ALL
        .into_iter()
        .filter_map(|face| legal.min_bid[face.index()].map(|min| (face, i64::from(min.get()))));
    match round.bids.last() {
        None => {
            let (face, min) = candidates
                .max_by_key(|&(face, _)| (expected6(face), face))
                .expect("an opening bid always exists");
            let q = (expected6(face) / 6 - 2).clamp(min, i64::from(legal.max_quantity.get()));
            bid(q, face)
        }
        Some(last) => {
            let q = i64::from(last.bid.quantity.get());
            if legal.dudo && expected6(last.bid.face) - 6 * q < -6 {
                return Action::Dudo;
            }
            match candidates.max_by_key(|&(face, min)| (expected6(face) - 6 * min, face)) {
                Some((face, min)) if expected6(face) - 6 * min >= -6 || !legal.dudo => {
                    bid(min, face)
                }
                _ => Action::Dudo,
            }
        }
    }
}

fn bid(quantity: i64, face: Face) -> Action {
    Action::Bid(perudo_core::Bid {
        quantity: perudo_core::Quantity::new(quantity as u8).expect("a legal quantity"),
        face,
    })
}

/// Whether the bid standing now is exactly right (host-side knowledge of every hand).
fn standing_bid_is_exact(game: &Game) -> bool {
    let Some(&placed) = game.bids().last() else {
        return false;
    };
    let hands: Vec<_> = Seat::all(game.seat_count())
        .map(|seat| game.hand(seat).cloned().unwrap_or_default())
        .collect();
    let TableState::Bidding(round) = game.spectator_view().state else {
        return false;
    };
    count_matches(&hands, placed, round.wilds) == u32::from(placed.bid.quantity.get())
}

/// Plays to the end with `policy`, except where `script` returns a move. `checkpoint` decides,
/// after every move, whether to take a checkpoint (and names it).
fn play(
    recorder: &mut Recorder,
    mut script: impl FnMut(&Game, Seat) -> Option<Action>,
    mut checkpoint: impl FnMut(&Game, &[Event]) -> Option<String>,
) {
    let mut steps = 0;
    while let Some(turn) = recorder.game.turn() {
        let action =
            script(&recorder.game, turn).unwrap_or_else(|| policy(&recorder.game.view_for(turn)));
        let events = recorder.act(turn, action);
        if let Some(label) = checkpoint(&recorder.game, &events) {
            recorder.checkpoint(label);
        }
        steps += 1;
        assert!(steps < 2_000, "the game does not end");
    }
}

#[test]
fn default_rules_full_game() {
    let mut recorder = Recorder::start(GameConfig::default(), 3, 42);
    recorder.checkpoint("start");
    let mut eliminations = 0;
    play(
        &mut recorder,
        |_, _| None,
        |game, events| {
            let resolved = resolution(events)?;
            let eliminated = events
                .iter()
                .filter(|e| matches!(e, Event::Eliminated { .. }))
                .count();
            eliminations += eliminated;
            if game.is_over() {
                None
            } else if resolved.round == 0 {
                Some("after round 0".to_owned())
            } else if eliminated > 0 {
                Some(format!("round {} after an elimination", resolved.round + 1))
            } else {
                None
            }
        },
    );
    recorder.checkpoint("end");
    assert_eq!(eliminations, 2);
    assert!(recorder.game.is_over());
    assert!(recorder.round_started());
    insta::assert_yaml_snapshot!("default_game_events", recorder.events);
    insta::assert_yaml_snapshot!("default_game_views", recorder.checkpoints);
}

/// A default game with palifico rounds: checkpoints at each palifico round's start, after its
/// opening bid (the face lock shows in every seat's legal moves), after it, and at the end.
fn palifico_game(seed: u64) -> Recorder {
    let mut recorder = Recorder::start(GameConfig::default(), 3, seed);
    recorder.checkpoint("start");
    let mut in_palifico = false;
    play(
        &mut recorder,
        |_, _| None,
        |game, events| {
            let label = if let Some(resolved) = resolution(events) {
                let was = std::mem::replace(&mut in_palifico, game.palifico().is_some());
                if game.is_over() {
                    return None;
                }
                match (was, game.palifico()) {
                    (_, Some(seat)) => format!("round {} palifico for {seat}", resolved.round + 1),
                    (true, None) => format!("round {} after a palifico round", resolved.round + 1),
                    (false, None) => return None,
                }
            } else if game.palifico().is_some() && game.bids().len() == 1 {
                format!(
                    "palifico round {} after the opening bid",
                    game.round_number()?
                )
            } else {
                return None;
            };
            Some(label)
        },
    );
    recorder.checkpoint("end");
    recorder
}

#[test]
fn game_with_palifico_rounds() {
    let recorder = palifico_game(7);
    let palifico_rounds: Vec<(u32, Seat)> = recorder
        .events
        .iter()
        .filter_map(|event| match event {
            Event::RoundStarted {
                round,
                palifico: Some(seat),
                dice,
                opener,
                ..
            } => {
                assert_eq!(opener, seat, "the palifico player opens");
                assert_eq!(dice[seat.index()], 1, "with exactly one die");
                assert!(dice.iter().filter(|&&d| d > 0).count() >= 3);
                Some((*round, *seat))
            }
            _ => None,
        })
        .collect();
    assert!(
        !palifico_rounds.is_empty(),
        "the script has a palifico round"
    );
    for event in &recorder.events {
        if let Event::RoundResolved(resolution) = event {
            let palifico = palifico_rounds.iter().any(|&(r, _)| r == resolution.round);
            assert_eq!(resolution.wilds == Wilds::None, palifico);
        }
    }
    insta::assert_yaml_snapshot!("palifico_game_events", recorder.events);
    insta::assert_yaml_snapshot!("palifico_game_views", recorder.checkpoints);
}

/// A default game in which the script calls calza on an exact bid twice: once by a player at
/// full dice (no gain) and once by a player below it (gains a die). `None` if the policy's bids
/// never give both chances.
fn calza_game(seed: u64) -> Option<Recorder> {
    let mut recorder = Recorder::start(GameConfig::default(), 3, seed);
    recorder.checkpoint("start");
    let (mut at_cap, mut below_cap) = (false, false);
    let label = std::cell::RefCell::new(None);
    play(
        &mut recorder,
        |game, turn| {
            if !game.legal_moves(turn).calza || !standing_bid_is_exact(game) {
                return None;
            }
            let dice = game.dice_counts()[turn.index()];
            let full = dice == game.config().starting_dice;
            let case = if full { &mut at_cap } else { &mut below_cap };
            if *case {
                return None;
            }
            *case = true;
            *label.borrow_mut() = Some(format!("after a correct calza by {turn} with {dice} dice"));
            Some(Action::Calza)
        },
        |game, events| {
            resolution(events)?;
            if game.is_over() {
                return None;
            }
            label.borrow_mut().take()
        },
    );
    recorder.checkpoint("end");
    (at_cap && below_cap).then_some(recorder)
}

#[test]
fn game_with_calza_at_and_below_the_cap() {
    let recorder = calza_game(0).expect("seed 0 gives both calza cases");
    let calzas: Vec<&Resolution> = recorder
        .events
        .iter()
        .filter_map(|event| match event {
            Event::RoundResolved(resolution) => Some(resolution),
            _ => None,
        })
        .filter(|resolution| matches!(resolution.call, perudo_core::Call::Calza { .. }))
        .collect();
    assert_eq!(calzas.len(), 2);
    for resolution in &calzas {
        let perudo_core::Call::Calza { caller } = resolution.call else {
            unreachable!("filtered to calza")
        };
        assert!(resolution.call_succeeded);
        assert_eq!(
            resolution.count,
            u32::from(resolution.bid.bid.quantity.get())
        );
        assert_eq!(
            resolution.hands[caller.index()].len() == 5,
            resolution.changes.is_empty()
        );
        for change in &resolution.changes {
            assert_eq!((change.seat, change.after), (caller, change.before + 1));
        }
    }
    insta::assert_yaml_snapshot!("calza_game_events", recorder.events);
    insta::assert_yaml_snapshot!("calza_game_views", recorder.checkpoints);
}
