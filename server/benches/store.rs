//! What the SQLite store costs per commit: a lone move, the batch almost every input of a game
//! makes, committed on the caller's thread as a room at a people's pace does (nothing else
//! queued). `cargo bench -p perudo-server --bench store`; results in docs/BENCHMARKS.md.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use perudo_core::{Bot, BotLevel, Game, GameConfig, Move, Seed, play_to_end};
use perudo_protocol::RoomOptions;
use perudo_server::store::{
    Batch, FIRST_EPOCH, GameStart, LobbyImage, SeatImage, SeatImageKind, SqliteOptions,
    SqliteStore, StorageError, Store, SyncMode, Write,
};

/// The moves of a game two bots played, to store over and over.
fn moves() -> Vec<Move> {
    let seed = Seed::from_hex(&format!("{:064x}", 7)).expect("a seed");
    let mut game = Game::new(GameConfig::default(), 2, seed).expect("a game");
    let mut bots = [Bot::new(BotLevel::Normal, 1), Bot::new(BotLevel::Normal, 2)];
    play_to_end(&mut game, &mut bots, |_| {});
    game.history().to_vec()
}

fn wait(store: &dyn Store, batch: Batch) {
    store
        .commit(batch)
        .blocking_recv()
        .unwrap_or(Err(StorageError::Closed))
        .expect("the batch is stored");
}

fn lone_move(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("perudo-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let store = SqliteStore::open(SqliteOptions {
        path: dir.join("perudo.db"),
        sync: SyncMode::Normal,
        retention: Duration::from_secs(3600),
        max_pages: None,
    })
    .expect("the store opens");
    let seat = |name: &str, i: u8| SeatImage {
        name: name.into(),
        kind: SeatImageKind::Human {
            token_hash: [i; 32],
            left: false,
        },
    };
    let code = "BENCHROOM";
    wait(
        &store,
        Batch {
            code: code.into(),
            version: 1,
            epoch: FIRST_EPOCH,
            writes: vec![
                Write::CreateRoom(LobbyImage {
                    rules: GameConfig::default(),
                    options: RoomOptions::default(),
                    seats: vec![seat("Ana", 0), seat("Bea", 1)],
                    host: Some(0),
                    games_played: 0,
                    results: None,
                }),
                Write::GameStarted(GameStart {
                    number: 1,
                    config: GameConfig::default(),
                    names: vec!["Ana".into(), "Bea".into()],
                    seed: format!("{:064x}", 7),
                    started_ms: 1_767_225_600_000,
                }),
            ],
        },
    );
    let moves = moves();
    let mut seq = 0u32;
    c.bench_function("sqlite: a lone move's commit", |b| {
        b.iter(|| {
            seq += 1;
            wait(
                &store,
                Batch {
                    code: code.into(),
                    version: u64::from(seq) + 1,
                    epoch: FIRST_EPOCH,
                    writes: vec![Write::Moves {
                        number: 1,
                        first_seq: seq,
                        moves: vec![moves[seq as usize % moves.len()]],
                    }],
                },
            );
        });
    });
    store.close();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, lone_move);
criterion_main!(benches);
