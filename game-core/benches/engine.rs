//! Engine throughput: `cargo bench -p perudo-core --bench engine`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use perudo_core::{Bot, BotLevel, Game, GameConfig, Move, Seat, Seed, play_to_end};
use std::hint::black_box;

const SEATS: u8 = 6;

fn bots(levels: &[BotLevel], seed: u64) -> Vec<Bot> {
    levels
        .iter()
        .enumerate()
        .map(|(i, &level)| Bot::new(level, seed + i as u64))
        .collect()
}

fn mixed_levels() -> Vec<BotLevel> {
    (0..SEATS).map(|i| BotLevel::ALL[i as usize % 3]).collect()
}

/// A recorded 6-seat game: the fresh game and its moves.
fn recorded_game(seed: u64) -> (Game, Vec<Move>) {
    let fresh = Game::new(GameConfig::default(), SEATS, Seed::from_u64(seed)).unwrap();
    let mut game = fresh.clone();
    play_to_end(&mut game, &mut bots(&mixed_levels(), seed), |_| {});
    let moves = game.history().to_vec();
    (fresh, moves)
}

fn engine(c: &mut Criterion) {
    let (fresh, moves) = recorded_game(7);

    let mut group = c.benchmark_group("apply");
    group.throughput(Throughput::Elements(moves.len() as u64));
    group.bench_function("replay a 6-seat game, per action", |b| {
        b.iter_batched(
            || fresh.clone(),
            |mut game| {
                for mv in &moves {
                    black_box(game.play_move(*mv).unwrap());
                }
                game
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();

    // A mid-game position for views and bot decisions.
    let mut mid = fresh.clone();
    for mv in &moves[..moves.len() / 2] {
        mid.play_move(*mv).unwrap();
    }
    let turn = mid.turn().unwrap();

    let mut group = c.benchmark_group("view");
    group.throughput(Throughput::Elements(1));
    group.bench_function("view_for", |b| {
        b.iter(|| black_box(mid.view_for(black_box(turn))))
    });
    group.bench_function("spectator_view", |b| {
        b.iter(|| black_box(mid.spectator_view()))
    });
    group.bench_function("legal_actions", |b| {
        b.iter(|| black_box(mid.legal_actions(black_box(turn))))
    });
    group.finish();

    let view = mid.view_for(turn);
    let mut group = c.benchmark_group("bot decision");
    group.throughput(Throughput::Elements(1));
    for level in BotLevel::ALL {
        let mut bot = Bot::new(level, 1);
        group.bench_function(format!("{level:?}"), |b| {
            b.iter(|| black_box(bot.decide(black_box(&view))))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("full game");
    group.throughput(Throughput::Elements(1));
    // A fresh game and its bots for every iteration, so every game is a different one.
    let mut seed = 0u64;
    let mut fresh_game = move || {
        seed += 1;
        (
            Game::new(GameConfig::default(), SEATS, Seed::from_u64(seed)).unwrap(),
            bots(&mixed_levels(), seed),
        )
    };
    group.bench_function(
        "6-seat bot game, every view rebuilt after every action",
        |b| {
            b.iter_batched(
                &mut fresh_game,
                |(mut game, mut bots)| {
                    play_to_end(&mut game, &mut bots, |game| {
                        for seat in Seat::all(SEATS) {
                            black_box(game.view_for(seat));
                        }
                        black_box(game.spectator_view());
                    });
                    game
                },
                BatchSize::SmallInput,
            )
        },
    );
    group.bench_function("6-seat bot game, no views beyond the bots' own", |b| {
        b.iter_batched(
            &mut fresh_game,
            |(mut game, mut bots)| {
                play_to_end(&mut game, &mut bots, |_| {});
                game
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
