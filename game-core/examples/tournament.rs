//! Bot-vs-bot tournament: plays many games across bot levels and prints win rates.
//!
//! `cargo run --release -p perudo-core --example tournament -- --games 100000`
//! Options: `--games N` (default 10000), `--seed S` (default 1), `--seats N` (default:
//! 2..=6 drawn per game).

use perudo_core::{Bot, BotLevel, Game, GameConfig, Seed, play_to_end};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    match args.get(i + 1).map(|v| v.parse()) {
        Some(Ok(v)) => Some(v),
        _ => {
            eprintln!("{name} needs a whole number");
            std::process::exit(2)
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Tally {
    seats_played: u64,
    wins: u64,
    /// Sum over games of 1/seats: the wins a level would get if every seat were equal.
    fair_share: f64,
}

fn main() {
    let games = arg("--games").unwrap_or(10_000);
    let seed = arg("--seed").unwrap_or(1);
    let fixed_seats = arg("--seats").map(|s| s as u8);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut mixed = [Tally::default(); 3];
    // Head-to-head: 1 vs 1 between every pair of levels, (wins of the first, games).
    let mut duels = [[(0u64, 0u64); 3]; 3];
    let mut actions = 0usize;
    let started = Instant::now();
    for g in 0..games {
        let duel = g % 2 == 1;
        let (seats, levels): (u8, Vec<BotLevel>) = if duel {
            let a = rng.random_range(0..3usize);
            let b = (a + rng.random_range(1..3usize)) % 3;
            (2, vec![BotLevel::ALL[a], BotLevel::ALL[b]])
        } else {
            let seats = fixed_seats.unwrap_or_else(|| rng.random_range(2..=6u8));
            (
                seats,
                (0..seats)
                    .map(|_| BotLevel::ALL[rng.random_range(0..3usize)])
                    .collect(),
            )
        };
        let mut game = match Game::new(
            GameConfig::default(),
            seats,
            Seed::from_u64(seed ^ (g << 8)),
        ) {
            Ok(game) => game,
            Err(e) => {
                eprintln!("cannot start a game with {seats} seats: {e}");
                std::process::exit(2)
            }
        };
        let mut bots: Vec<Bot> = levels
            .iter()
            .enumerate()
            .map(|(i, &level)| Bot::new(level, rng.random::<u64>() ^ i as u64))
            .collect();
        actions += play_to_end(&mut game, &mut bots, |_| {});
        let winner = game.winner().expect("played to the end").index();
        if duel {
            let (a, b) = (levels[0] as usize, levels[1] as usize);
            duels[a][b].1 += 1;
            duels[b][a].1 += 1;
            if winner == 0 {
                duels[a][b].0 += 1;
            } else {
                duels[b][a].0 += 1;
            }
        } else {
            for &level in &levels {
                let t = &mut mixed[level as usize];
                t.seats_played += 1;
                t.fair_share += 1.0 / f64::from(seats);
            }
            mixed[levels[winner] as usize].wins += 1;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{games} games, {actions} actions in {:.2} s ({:.0} games/s)",
        elapsed.as_secs_f64(),
        games as f64 / elapsed.as_secs_f64()
    );
    println!("\nmixed tables (2..=6 seats, random levels): wins against an equal share");
    println!(
        "{:<8} {:>12} {:>10} {:>12} {:>8}",
        "level", "seats played", "wins", "fair share", "ratio"
    );
    for (i, t) in mixed.iter().enumerate() {
        println!(
            "{:<8} {:>12} {:>10} {:>12.0} {:>8.2}",
            format!("{:?}", BotLevel::ALL[i]),
            t.seats_played,
            t.wins,
            t.fair_share,
            t.wins as f64 / t.fair_share.max(1e-9)
        );
    }
    println!("\nhead to head (2 seats): row's win rate against column");
    print!("{:<8}", "");
    for level in BotLevel::ALL {
        print!("{:>10}", format!("{level:?}"));
    }
    println!();
    for (a, row) in duels.iter().enumerate() {
        print!("{:<8}", format!("{:?}", BotLevel::ALL[a]));
        for (b, &(wins, played)) in row.iter().enumerate() {
            if a == b || played == 0 {
                print!("{:>10}", "-");
            } else {
                print!("{:>9.1}%", 100.0 * wins as f64 / played as f64);
            }
        }
        println!();
    }
}
