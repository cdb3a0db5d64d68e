//! Deterministic fixtures shared by the protocol tests: real games from fixed seeds and fixed
//! moves, and the room views a server would send about them.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use perudo_protocol::perudo_core::{
    Action, Bid, Bot, BotLevel, Event, Game, GameConfig, PalificoTrigger, Seat, Seed,
};
use perudo_protocol::{
    AutoPlayReason, GameResults, Occupant, RoomOptions, RoomPhase, RoomView, SeatInfo, SeatStats,
    TurnClock, YouView,
};

pub fn seat(n: u8) -> Seat {
    Seat::new(n).expect("a seat below 10")
}

pub fn bid(quantity: u8, face: u8) -> Bid {
    Bid::new(quantity, face).expect("a bid in range")
}

/// The seed of the scripted game.
pub const SCRIPTED_SEED: u64 = 7;
pub const SCRIPTED_SEATS: u8 = 3;

/// A three-seat game under the default rules, started from `Seed::from_u64(7)`.
pub fn scripted_start() -> (Game, Vec<Event>) {
    perudo_core::Rules::new(GameConfig::default())
        .and_then(|rules| Game::start(rules, SCRIPTED_SEATS, Seed::from_u64(SCRIPTED_SEED)))
        .expect("the default rules start a three-seat game")
}

/// Applies `action` for whoever is on turn.
pub fn on_turn(game: &mut Game, action: Action) -> Vec<Event> {
    let turn = game.turn().expect("the game is running");
    game.apply(turn, action)
        .unwrap_or_else(|error| panic!("{action:?} by {turn} refused: {error}"))
}

/// The scripted game after two bids: 2 × threes, then 3 × threes. Returns the game and the
/// events of each bid. Both bids are legal whatever the dice: the opening bid is not on aces
/// and the second raises it.
pub fn scripted_mid_round() -> (Game, Vec<Event>, Vec<Event>) {
    let (mut game, _) = scripted_start();
    let first = on_turn(&mut game, Action::Bid(bid(2, 3)));
    let second = on_turn(&mut game, Action::Bid(bid(3, 3)));
    (game, first, second)
}

/// The scripted game after the third player calls dudo on 3 × threes: the reveal and the
/// next round's start.
pub fn scripted_after_dudo() -> (Game, Vec<Event>) {
    let (mut game, _, _) = scripted_mid_round();
    let events = on_turn(&mut game, Action::Dudo);
    (game, events)
}

/// Plays a game to its end with bots (fixed seeds), returning the finished game and every
/// event, the start's included.
pub fn bot_game(config: GameConfig, seats: u8, seed: u64) -> (Game, Vec<Event>) {
    let (mut game, mut events) = perudo_core::Rules::new(config)
        .and_then(|rules| Game::start(rules, seats, Seed::from_u64(seed)))
        .expect("a valid game");
    let mut bots: Vec<Bot> = (0..seats)
        .map(|i| Bot::new(BotLevel::ALL[usize::from(i) % 3], seed * 16 + u64::from(i)))
        .collect();
    let mut guard = 0;
    while let Some(turn) = game.turn() {
        guard += 1;
        assert!(guard < 10_000, "a bot game that does not end");
        // Declaring palifico happens out of turn; then the player on turn.
        let actor = Seat::all(seats)
            .find(|&s| s != turn && game.legal_moves(s).declare_palifico)
            .unwrap_or(turn);
        let action = bots[actor.index()]
            .decide(&game.view_for(actor))
            .expect("a bot with a move decides");
        events.extend(game.apply(actor, action).expect("bots choose legal moves"));
    }
    (game, events)
}

/// A bot game with declared palifico in which somebody declares it (tries fixed seeds in
/// order, so the result is always the same).
pub fn bot_game_with_declared_palifico() -> (Game, Vec<Event>) {
    let config = GameConfig {
        starting_dice: 2,
        palifico_trigger: PalificoTrigger::Declared,
        ..GameConfig::default()
    };
    for seed in 0..200 {
        let (game, events) = bot_game(config.clone(), 4, seed);
        if events
            .iter()
            .any(|e| matches!(e, Event::PalificoDeclared { .. }))
        {
            return (game, events);
        }
    }
    panic!("no bot game of 200 declared palifico");
}

/// The seats of the scripted room: a connected host, a disconnected player, a bot.
pub fn seat_infos() -> Vec<SeatInfo> {
    vec![
        SeatInfo {
            name: "Ana".into(),
            occupant: Occupant::Human { connected: true },
        },
        SeatInfo {
            name: "Bruno".into(),
            occupant: Occupant::Human { connected: false },
        },
        SeatInfo {
            name: "Bot 1".into(),
            occupant: Occupant::Bot {
                level: BotLevel::Normal,
            },
        },
    ]
}

pub fn room_view(phase: RoomPhase, results: Option<GameResults>) -> RoomView {
    RoomView {
        code: "K7QF2MXHB".into(),
        phase,
        host: Some(seat(0)),
        seats: seat_infos(),
        spectators: 1,
        rules: GameConfig::default(),
        options: RoomOptions::default(),
        reveal_pause_ms: 4000,
        games_played: u32::from(results.is_some()),
        results,
    }
}

/// Room options other than the defaults, for a host who changed them.
pub fn custom_options() -> RoomOptions {
    RoomOptions {
        forfeit_after_secs: 300,
    }
}

/// The clock of the player on turn in `game` (which must be running), `remaining_ms` left.
pub fn clock_for(game: &Game, remaining_ms: u32, reason: AutoPlayReason) -> TurnClock {
    TurnClock {
        seat: game.turn().expect("the game is running"),
        remaining_ms,
        reason,
    }
}

/// What seat `n` of `game` sees of itself.
pub fn you(game: &Game, n: u8) -> YouView {
    let view = game.view_for(seat(n));
    YouView {
        seat: view.seat,
        hand: view.hand,
        legal: view.legal,
    }
}

/// Results of a finished game, as the room reports them (placings and rounds from its
/// events; the statistics are made up but plausible).
pub fn results_of(game: &Game, events: &[Event], number: u32) -> GameResults {
    let winner = game.winner().expect("the game is over");
    let mut placings = vec![winner];
    placings.extend(events.iter().rev().filter_map(|e| match e {
        Event::Eliminated { seat } => Some(*seat),
        _ => None,
    }));
    let rounds = events
        .iter()
        .filter(|e| matches!(e, Event::RoundStarted { .. }))
        .count() as u32;
    GameResults {
        game: number,
        winner,
        names: (0..game.seat_count())
            .map(|i| format!("Player {i}"))
            .collect(),
        placings,
        rounds,
        stats: (0..u32::from(game.seat_count()))
            .map(|i| SeatStats {
                bids: 10 + i,
                dudos: 3,
                dudos_won: 2,
                calzas: 1,
                calzas_won: 0,
                dice_lost: 5,
                dice_gained: u32::from(i == 0),
                rounds_played: rounds - i,
            })
            .collect(),
        commitment: game.commitment().to_hex(),
        seed: game.revealed_seed().expect("the game is over").to_hex(),
    }
}
