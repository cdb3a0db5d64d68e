//! The store contract: what every [`Store`] promises the rooms, one suite that the SQLite
//! store and the PostgreSQL store both pass (`contract!` instantiates each test for both),
//! and the room leases that only a store shared by several nodes has (PostgreSQL).
//!
//! The PostgreSQL half is built with the `postgres-tests` feature (scripts/test.sh turns it
//! on) and runs against a throwaway cluster (`support/postgres.rs`); nothing is mocked.

use std::path::PathBuf;

use std::time::Duration;

use perudo_core::{Bot, BotLevel, Game, GameConfig, Move, Seat, Seed, play_to_end};
use perudo_protocol::{GameResults, RoomOptions};
use perudo_server::store::{
    Batch, ClockImage, FIRST_EPOCH, GameImage, GameStart, LobbyImage, RoomImage, SeatImage,
    SeatImageKind, SqliteOptions, SqliteStore, StorageError, Store, SyncMode, Write,
};

#[cfg(feature = "postgres-tests")]
#[path = "support/postgres.rs"]
mod postgres;

/// A database, and how to open a store on it: again after a close (a restart), or twice at
/// once (two nodes, where the store allows it).
trait Backend {
    fn open(&self) -> Box<dyn Store> {
        self.open_keeping(Duration::from_secs(3600))
    }
    /// A store that deletes finished games `retention` after their end.
    fn open_keeping(&self, retention: Duration) -> Box<dyn Store>;
    /// The lease epoch a room stored at `before` has once a restarted store loaded it: a
    /// store only one process uses has no leases; a shared one is claimed anew.
    fn epoch_after_restart(&self, _before: u64) -> u64 {
        perudo_server::store::FIRST_EPOCH
    }
}

struct Sqlite {
    dir: PathBuf,
}

impl Sqlite {
    fn new(name: &str) -> Sqlite {
        let dir = std::env::temp_dir().join(format!(
            "perudo-contract-{name}-{}-{}",
            std::process::id(),
            perudo_server::store::unix_ms()
        ));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        Sqlite { dir }
    }
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Backend for Sqlite {
    fn open_keeping(&self, retention: Duration) -> Box<dyn Store> {
        Box::new(
            SqliteStore::open(SqliteOptions {
                path: self.dir.join("perudo.db"),
                sync: SyncMode::Normal,
                retention,
                max_pages: None,
            })
            .expect("the SQLite store opens"),
        )
    }
}

#[cfg(feature = "postgres-tests")]
struct Postgres {
    cluster: std::sync::Arc<postgres::Cluster>,
    url: String,
}

#[cfg(feature = "postgres-tests")]
impl Postgres {
    fn new() -> Postgres {
        let cluster = postgres::Cluster::shared();
        let url = cluster.database();
        Postgres { cluster, url }
    }

    /// A node on this database whose leases last `lease` and are renewed only by hand.
    fn node(&self, lease: Duration) -> perudo_server::store::PostgresStore {
        self.node_keeping(lease, Duration::from_secs(3600))
    }

    fn node_keeping(
        &self,
        lease: Duration,
        retention: Duration,
    ) -> perudo_server::store::PostgresStore {
        let mut options = perudo_server::store::PostgresOptions::new(self.url.clone());
        options.retention = retention;
        options.pool_size = 4;
        options.lease = lease;
        options.renew_every = None;
        perudo_server::store::PostgresStore::open(options).expect("the PostgreSQL store opens")
    }

    fn sql(&self, sql: &str) -> String {
        let database = self
            .url
            .rsplit("dbname=")
            .next()
            .expect("a dbname in the conninfo");
        self.cluster.psql(database, sql)
    }
}

#[cfg(feature = "postgres-tests")]
impl Backend for Postgres {
    fn open_keeping(&self, retention: Duration) -> Box<dyn Store> {
        Box::new(self.node_keeping(Duration::from_secs(60), retention))
    }
    fn epoch_after_restart(&self, before: u64) -> u64 {
        before + 1
    }
}

/// Instantiates each contract test for every store.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name(&super::Sqlite::new(stringify!($name)));
            })*
        }
        #[cfg(feature = "postgres-tests")]
        mod postgresql {
            $(#[test]
            fn $name() {
                super::$name(&super::Postgres::new());
            })*
        }
    };
}

contract!(
    a_new_room_is_stored_and_restored,
    a_room_code_is_stored_once,
    a_game_is_restored_move_by_move_and_its_record_served_once_over,
    a_batch_that_fails_changes_nothing,
    a_batch_for_an_unknown_room_is_refused_and_stores_nothing,
    one_bad_batch_in_a_group_fails_only_its_room,
    a_closed_room_is_not_restored_but_its_finished_game_is_served,
    what_was_queued_before_close_is_committed_and_later_commits_are_refused,
    a_new_game_is_the_one_restored_and_the_last_ones_record_stays,
    a_game_past_its_retention_is_deleted_without_waiting_for_a_write,
    a_finished_games_record_is_served_at_once_and_the_next_game_follows,
);

// --- building blocks ---

fn wait(store: &dyn Store, batch: Batch) -> Result<(), StorageError> {
    store
        .commit(batch)
        .blocking_recv()
        .unwrap_or(Err(StorageError::Closed))
}

fn lobby(names: &[&str]) -> LobbyImage {
    LobbyImage {
        rules: GameConfig::default(),
        options: RoomOptions::default(),
        seats: names
            .iter()
            .enumerate()
            .map(|(i, name)| SeatImage {
                name: name.to_string(),
                kind: SeatImageKind::Human {
                    token_hash: [i as u8; 32],
                    left: false,
                },
            })
            .collect(),
        host: Some(0),
        games_played: 0,
        results: None,
    }
}

fn create(code: &str) -> Batch {
    Batch {
        code: code.into(),
        version: 1,
        epoch: FIRST_EPOCH,
        writes: vec![Write::CreateRoom(lobby(&["Ana", "Bea"]))],
    }
}

fn start(number: u32) -> GameStart {
    GameStart {
        number,
        config: GameConfig::default(),
        names: vec!["Ana".into(), "Bea".into()],
        seed: format!("{number:064x}"),
        started_ms: 1_767_225_600_000 + i64::from(number),
    }
}

/// Move `i` of game `number` (seed `start(number).seed`) as two bots played it: records are
/// built by replaying the stored moves, so the stored moves must be a real game's.
fn mv(number: u32, i: usize) -> Move {
    let seed = Seed::from_hex(&start(number).seed).expect("a seed");
    let mut game = Game::new(GameConfig::default(), 2, seed).expect("a game");
    let mut bots = [Bot::new(BotLevel::Normal, 1), Bot::new(BotLevel::Normal, 2)];
    play_to_end(&mut game, &mut bots, |_| {});
    game.history()[i]
}

fn results(game: u32) -> GameResults {
    GameResults {
        game,
        winner: Seat::new(1).expect("a seat"),
        names: vec!["Ana".into(), "Bea".into()],
        placings: vec![Seat::new(1).expect("a seat"), Seat::new(0).expect("a seat")],
        rounds: 3,
        stats: Vec::new(),
        commitment: "c".repeat(64),
        seed: format!("{game:064x}"),
    }
}

/// Commits `writes` as the room's next batch, and applies them to `model` when it commits.
fn step(store: &dyn Store, model: &mut RoomImage, writes: Vec<Write>) -> Result<(), StorageError> {
    let batch = Batch {
        code: model.code.clone(),
        version: model.version + 1,
        epoch: model.epoch,
        writes: writes.clone(),
    };
    wait(store, batch)?;
    model.version += 1;
    for write in writes {
        model.apply(write);
    }
    Ok(())
}

/// Game 1 of `model`'s room: started, one move, over.
fn play_one_move_game(store: &dyn Store, model: &mut RoomImage) {
    step(
        store,
        model,
        vec![
            Write::GameStarted(start(1)),
            Write::Moves {
                number: 1,
                first_seq: 0,
                moves: vec![mv(1, 0)],
            },
            Write::GameOver {
                number: 1,
                results: results(1),
            },
        ],
    )
    .expect("a game played to the end");
}

fn created(store: &dyn Store, code: &str) -> RoomImage {
    wait(store, create(code)).expect("the room is stored");
    RoomImage {
        code: code.into(),
        version: 1,
        lobby: lobby(&["Ana", "Bea"]),
        game: None,
        clock: None,
        epoch: FIRST_EPOCH,
    }
}

/// What a restart finds: the store closed and opened again. `models` (the rooms expected)
/// take the epoch the restarted store gives their rooms.
fn restarted(
    backend: &dyn Backend,
    store: Box<dyn Store>,
    models: &mut [RoomImage],
) -> (Box<dyn Store>, Vec<RoomImage>) {
    for model in models.iter_mut() {
        model.epoch = backend.epoch_after_restart(model.epoch);
    }
    store.close();
    drop(store);
    let store = backend.open();
    let mut rooms = store.load_rooms().expect("rooms load");
    rooms.sort_by(|a, b| a.code.cmp(&b.code));
    (store, rooms)
}

// --- the contract ---

fn a_new_room_is_stored_and_restored(backend: &dyn Backend) {
    let store = backend.open();
    let mut model = created(&*store, "AAAAAAAAA");
    assert_eq!(store.health(), Ok(()));
    let (store, rooms) = restarted(backend, store, std::slice::from_mut(&mut model));
    assert_eq!(rooms, vec![model]);
    store.close();
}

fn a_room_code_is_stored_once(backend: &dyn Backend) {
    let store = backend.open();
    let mut model = created(&*store, "AAAAAAAAA");
    let mut again = create("AAAAAAAAA");
    again.writes = vec![Write::CreateRoom(lobby(&["Eve"]))];
    assert_eq!(wait(&*store, again), Err(StorageError::Conflict));
    let (store, rooms) = restarted(backend, store, std::slice::from_mut(&mut model));
    assert_eq!(rooms, vec![model], "the first room is kept as it was");
    store.close();
}

fn a_game_is_restored_move_by_move_and_its_record_served_once_over(backend: &dyn Backend) {
    let store = backend.open();
    let mut model = created(&*store, "BBBBBBBBB");
    let mut playing = lobby(&["Ana", "Bea"]);
    playing.games_played = 0;
    step(
        &*store,
        &mut model,
        vec![
            Write::Lobby(playing),
            Write::GameStarted(start(1)),
            Write::Clock(Some(ClockImage {
                seat: 0,
                limit_at_ms: 1_767_225_700_000,
            })),
        ],
    )
    .expect("the game starts");
    step(
        &*store,
        &mut model,
        vec![Write::Moves {
            number: 1,
            first_seq: 0,
            moves: vec![mv(1, 0)],
        }],
    )
    .expect("a move");
    step(
        &*store,
        &mut model,
        vec![
            Write::Moves {
                number: 1,
                first_seq: 1,
                moves: vec![mv(1, 1), mv(1, 2), mv(1, 3)],
            },
            Write::Clock(None),
        ],
    )
    .expect("three moves at once");
    assert_eq!(
        store.game_record("BBBBBBBBB", 1),
        Ok(None),
        "a running game has no record"
    );
    let (store, rooms) = restarted(backend, store, std::slice::from_mut(&mut model));
    assert_eq!(rooms, vec![model.clone()]);
    let game = rooms[0].game.as_ref().expect("the game");
    assert_eq!(game.moves.len(), 4);

    let mut model = rooms[0].clone();
    step(
        &*store,
        &mut model,
        vec![Write::GameOver {
            number: 1,
            results: results(1),
        }],
    )
    .expect("the game ends");
    let record = store
        .game_record("BBBBBBBBB", 1)
        .expect("the record reads")
        .expect("a finished game has a record");
    assert_eq!(record.room, "BBBBBBBBB");
    assert_eq!(record.game, 1);
    assert_eq!(record.moves, model.game.as_ref().expect("a game").moves);
    assert_eq!(record.results, results(1));
    assert_eq!(record.seed, start(1).seed);
    assert_eq!(store.game_record("BBBBBBBBB", 2), Ok(None), "no game 2");
    assert_eq!(store.game_record("ZZZZZZZZZ", 1), Ok(None), "no such room");
    let (store, rooms) = restarted(backend, store, std::slice::from_mut(&mut model));
    assert_eq!(rooms, vec![model]);
    store.close();
}

/// A game's record is served as soon as its batch is answered, without a restart (SQLite
/// may still hold it in its journal), and the room's next game, a lobby change and a stored
/// game number used again behave as they would after a restart.
fn a_finished_games_record_is_served_at_once_and_the_next_game_follows(backend: &dyn Backend) {
    let store = backend.open();
    let mut model = created(&*store, "DDDDDDDDD");
    play_one_move_game(&*store, &mut model);
    let record = store
        .game_record("DDDDDDDDD", 1)
        .expect("the record reads")
        .expect("a finished game's record, at once");
    assert_eq!(record.moves, vec![mv(1, 0)]);
    assert_eq!(record.results, results(1));
    let mut next = lobby(&["Ana", "Bea"]);
    next.games_played = 1;
    step(
        &*store,
        &mut model,
        vec![
            Write::Lobby(next),
            Write::GameStarted(start(2)),
            Write::Moves {
                number: 2,
                first_seq: 0,
                moves: vec![mv(2, 0), mv(2, 1)],
            },
        ],
    )
    .expect("the next game starts");
    let again = Batch {
        code: model.code.clone(),
        version: model.version + 1,
        epoch: model.epoch,
        writes: vec![Write::GameStarted(start(2))],
    };
    assert!(wait(&*store, again).is_err(), "game 2 is stored once");
    step(
        &*store,
        &mut model,
        vec![
            Write::Moves {
                number: 2,
                first_seq: 2,
                moves: vec![mv(2, 2)],
            },
            Write::Clock(Some(ClockImage {
                seat: 1,
                limit_at_ms: 1_767_225_800_000,
            })),
        ],
    )
    .expect("a move of game 2");
    assert_eq!(store.game_record("DDDDDDDDD", 2), Ok(None), "game 2 runs");
    let (store, rooms) = restarted(backend, store, std::slice::from_mut(&mut model));
    assert_eq!(rooms, vec![model]);
    assert_eq!(
        store
            .game_record("DDDDDDDDD", 1)
            .expect("the record reads")
            .map(|r| r.moves),
        Some(vec![mv(1, 0)])
    );
    store.close();
}

fn a_batch_that_fails_changes_nothing(backend: &dyn Backend) {
    let store = backend.open();
    let mut model = created(&*store, "CCCCCCCCC");
    step(
        &*store,
        &mut model,
        vec![
            Write::GameStarted(start(1)),
            Write::Moves {
                number: 1,
                first_seq: 0,
                moves: vec![mv(1, 0), mv(1, 1)],
            },
        ],
    )
    .expect("a game with two moves");
    // The lobby changes, then a move repeats a stored sequence number: all or nothing.
    let bad = Batch {
        code: model.code.clone(),
        version: model.version + 1,
        epoch: model.epoch,
        writes: vec![
            Write::Lobby(lobby(&["Ana", "Bea", "Cid"])),
            Write::Moves {
                number: 1,
                first_seq: 1,
                moves: vec![mv(1, 1)],
            },
        ],
    };
    assert!(wait(&*store, bad).is_err(), "a repeated move is refused");
    let (store, rooms) = restarted(backend, store, std::slice::from_mut(&mut model));
    assert_eq!(
        rooms,
        vec![model.clone()],
        "nothing of the batch was written"
    );
    // And the room goes on from where it was.
    let mut model = rooms[0].clone();
    step(
        &*store,
        &mut model,
        vec![Write::Moves {
            number: 1,
            first_seq: 2,
            moves: vec![mv(1, 2)],
        }],
    )
    .expect("the next move");
    assert_eq!(
        store.health(),
        Ok(()),
        "a good write makes the store healthy"
    );
    let (store, rooms) = restarted(backend, store, std::slice::from_mut(&mut model));
    assert_eq!(rooms, vec![model]);
    store.close();
}

fn a_batch_for_an_unknown_room_is_refused_and_stores_nothing(backend: &dyn Backend) {
    let store = backend.open();
    let stray = Batch {
        code: "NOPENOPE9".into(),
        version: 7,
        epoch: FIRST_EPOCH,
        writes: vec![Write::Lobby(lobby(&["Ana"]))],
    };
    assert!(wait(&*store, stray).is_err());
    let (store, rooms) = restarted(backend, store, &mut []);
    assert_eq!(rooms, Vec::new());
    store.close();
}

fn one_bad_batch_in_a_group_fails_only_its_room(backend: &dyn Backend) {
    let store = backend.open();
    let codes: Vec<String> = (0..40).map(|i| format!("G{i:08}")).collect();
    let mut models: Vec<RoomImage> = codes.iter().map(|c| created(&*store, c)).collect();
    // Queue one batch per room without waiting, so the writer finds them together; the
    // twentieth starts a game twice.
    let mut answers = Vec::new();
    for (i, model) in models.iter_mut().enumerate() {
        let mut writes = vec![Write::GameStarted(start(1))];
        if i == 20 {
            writes.push(Write::GameStarted(start(1)));
        }
        let batch = Batch {
            code: model.code.clone(),
            version: model.version + 1,
            epoch: model.epoch,
            writes: writes.clone(),
        };
        answers.push(store.commit(batch));
        if i != 20 {
            model.version += 1;
            for write in writes {
                model.apply(write);
            }
        }
    }
    for (i, answer) in answers.into_iter().enumerate() {
        let result = answer.blocking_recv().expect("an answer");
        if i == 20 {
            assert!(result.is_err(), "the bad batch fails");
        } else {
            assert_eq!(result, Ok(()), "room {i} is not failed by another's batch");
        }
    }
    let (store, rooms) = restarted(backend, store, &mut models);
    assert_eq!(rooms, models);
    store.close();
}

fn a_closed_room_is_not_restored_but_its_finished_game_is_served(backend: &dyn Backend) {
    let store = backend.open();
    let mut unplayed = created(&*store, "DDDDDDDDD");
    step(&*store, &mut unplayed, vec![Write::Closed]).expect("an unplayed room closes");
    let mut played = created(&*store, "EEEEEEEEE");
    play_one_move_game(&*store, &mut played);
    step(&*store, &mut played, vec![Write::Closed]).expect("the played room closes");
    let mut open = created(&*store, "FFFFFFFFF");
    let (store, rooms) = restarted(backend, store, std::slice::from_mut(&mut open));
    assert_eq!(rooms, vec![open], "closed rooms are not restored");
    let record = store
        .game_record("EEEEEEEEE", 1)
        .expect("reads")
        .expect("a closed room's finished game is still served");
    assert_eq!(record.moves, vec![mv(1, 0)]);
    store.close();
}

/// A store deletes finished games past their retention by itself: also one that nothing
/// writes to (the PostgreSQL store used to delete only after a commit, so an idle node kept
/// them, and served them, until its next write).
fn a_game_past_its_retention_is_deleted_without_waiting_for_a_write(backend: &dyn Backend) {
    let store = backend.open();
    let mut played = created(&*store, "KKKKKKKKK");
    play_one_move_game(&*store, &mut played);
    store.close();
    // Opened again with a retention the game is already past, and nothing written.
    std::thread::sleep(Duration::from_millis(5));
    let store = backend.open_keeping(Duration::from_millis(1));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while store.game_record("KKKKKKKKK", 1).expect("reads").is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "a game past its retention is still stored 20 s after the store opened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    store.close();
}

fn what_was_queued_before_close_is_committed_and_later_commits_are_refused(backend: &dyn Backend) {
    let store = backend.open();
    let answers: Vec<_> = (0..20)
        .map(|i| store.commit(create(&format!("H{i:08}"))))
        .collect();
    store.close();
    for answer in answers {
        assert_eq!(answer.blocking_recv().expect("an answer"), Ok(()));
    }
    assert_eq!(
        wait(&*store, create("IIIIIIIII")),
        Err(StorageError::Closed)
    );
    let (store, rooms) = restarted(backend, store, &mut []);
    assert_eq!(rooms.len(), 20, "every acknowledged room is stored");
    assert!(rooms.iter().all(|r| r.code.starts_with('H')));
    store.close();
}

fn a_new_game_is_the_one_restored_and_the_last_ones_record_stays(backend: &dyn Backend) {
    let store = backend.open();
    let mut model = created(&*store, "JJJJJJJJJ");
    step(
        &*store,
        &mut model,
        vec![
            Write::GameStarted(start(1)),
            Write::Moves {
                number: 1,
                first_seq: 0,
                moves: vec![mv(1, 0), mv(1, 1)],
            },
            Write::GameOver {
                number: 1,
                results: results(1),
            },
        ],
    )
    .expect("game 1");
    step(
        &*store,
        &mut model,
        vec![
            Write::GameStarted(start(2)),
            Write::Moves {
                number: 2,
                first_seq: 0,
                moves: vec![mv(2, 0)],
            },
        ],
    )
    .expect("game 2 starts");
    let (store, rooms) = restarted(backend, store, std::slice::from_mut(&mut model));
    assert_eq!(rooms, vec![model]);
    assert_eq!(
        rooms[0].game,
        Some(GameImage {
            start: start(2),
            moves: vec![mv(2, 0)],
            results: None,
        })
    );
    let first = store
        .game_record("JJJJJJJJJ", 1)
        .expect("reads")
        .expect("game 1's record");
    assert_eq!(first.moves, vec![mv(1, 0), mv(1, 1)]);
    store.close();
}

// --- leases: several nodes on one PostgreSQL database ---

#[cfg(feature = "postgres-tests")]
mod leases {
    use super::*;
    use perudo_server::store::Placement;

    /// Waits (bounded) until `node` can take `code` over, i.e. its previous owner's lease ran
    /// out; returns the new epoch.
    fn take_over(node: &dyn Store, code: &str) -> u64 {
        for _ in 0..200 {
            match node.acquire(code) {
                Ok(epoch) => return epoch,
                Err(StorageError::Fenced) => std::thread::sleep(Duration::from_millis(25)),
                Err(e) => panic!("acquire failed: {e}"),
            }
        }
        panic!("the lease of {code} never expired");
    }

    /// A lobby change by the instance of the room that holds its lease at `epoch`.
    fn renamed(code: &str, version: u64, epoch: u64) -> Batch {
        Batch {
            code: code.into(),
            version,
            epoch,
            writes: vec![Write::Lobby(lobby(&["Ana", "Bea", "Cid"]))],
        }
    }

    /// Creates a room on `node`, with a game when `game`, in one batch: a batch that creates
    /// its room takes the lease and cannot be fenced, however short the lease is.
    fn created_with(node: &dyn Store, code: &str, game: bool) -> RoomImage {
        let mut writes = vec![Write::CreateRoom(lobby(&["Ana", "Bea"]))];
        if game {
            writes.push(Write::GameStarted(start(1)));
        }
        let batch = Batch {
            code: code.into(),
            version: 1,
            epoch: FIRST_EPOCH,
            writes: writes.clone(),
        };
        wait(node, batch).expect("the room is stored");
        let mut image = RoomImage {
            code: code.into(),
            version: 1,
            lobby: lobby(&[]),
            game: None,
            clock: None,
            epoch: FIRST_EPOCH,
        };
        for write in writes {
            image.apply(write);
        }
        image
    }

    /// Waits (bounded) until every lease of `node` has expired on the database's clock.
    fn until_expired(db: &Postgres, node: &str) {
        for _ in 0..400 {
            let live = db.sql(&format!(
                "SELECT count(*) FROM leases WHERE node = '{node}' AND expires_at > now()"
            ));
            if live == "0" {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the leases of {node} never expired");
    }

    #[test]
    fn a_stale_owners_write_is_refused_after_another_node_took_the_room() {
        let db = Postgres::new();
        // A's leases last 300 ms and A never renews: A is "paused" from the start.
        let a = db.node(Duration::from_millis(300));
        let b = db.node(Duration::from_secs(60));
        created_with(&a, "KKKKKKKKK", true);
        assert_eq!(
            a.epoch("KKKKKKKKK"),
            Some(1),
            "creating a room takes its lease"
        );

        // B takes the room over, at the next epoch, once A's lease ran out.
        let epoch = take_over(&b, "KKKKKKKKK");
        assert_eq!(epoch, 2);
        assert_eq!(b.epoch("KKKKKKKKK"), Some(2));

        // A wakes up and writes with epoch 1: refused, and nothing of it is stored.
        assert_eq!(
            wait(&a, renamed("KKKKKKKKK", 2, 1)),
            Err(StorageError::Fenced)
        );
        assert_eq!(a.health(), Ok(()), "being fenced is not a storage failure");
        assert_eq!(
            a.renew_leases(),
            Ok(vec!["KKKKKKKKK".to_string()]),
            "A's renewal reports the room lost"
        );
        assert_eq!(a.epoch("KKKKKKKKK"), None);
        assert_eq!(
            db.sql("SELECT version FROM rooms WHERE code = 'KKKKKKKKK'"),
            "1"
        );
        // B, the owner, writes.
        wait(&b, renamed("KKKKKKKKK", 3, 2)).expect("the owner's write");
        assert_eq!(
            db.sql("SELECT version FROM rooms WHERE code = 'KKKKKKKKK'"),
            "3"
        );
        assert_eq!(
            db.sql("SELECT node || ' ' || epoch FROM leases WHERE code = 'KKKKKKKKK'"),
            format!("{} 2", b.node())
        );
    }

    /// The epoch belongs to an instance of the room, not to the node: a node that lost a
    /// room and took it back runs a new instance at a new epoch, and the old instance (still
    /// stopping, its inbox not yet read) cannot write any more.
    #[test]
    fn an_old_instance_is_refused_after_its_node_took_the_room_back() {
        let db = Postgres::new();
        let a = db.node(Duration::from_millis(200));
        created_with(&a, "JJJJJJJJJ", true);
        until_expired(&db, a.node());
        assert_eq!(a.acquire("JJJJJJJJJ"), Ok(2), "A takes its room back");
        assert_eq!(a.epoch("JJJJJJJJJ"), Some(2));
        assert_eq!(
            wait(&a, renamed("JJJJJJJJJ", 2, 1)),
            Err(StorageError::Fenced),
            "the first instance's write is refused"
        );
        assert_eq!(
            db.sql("SELECT version FROM rooms WHERE code = 'JJJJJJJJJ'"),
            "1"
        );
        // The write is taken at the new epoch: a 200 ms lease may have run out again on a
        // slow machine, so take it back once more if it did (the write then needs that epoch).
        let epoch = match wait(&a, renamed("JJJJJJJJJ", 2, 2)) {
            Ok(()) => 2,
            Err(StorageError::Fenced) => {
                let epoch = a.acquire("JJJJJJJJJ").expect("taken back again");
                wait(&a, renamed("JJJJJJJJJ", 2, epoch)).expect("the new instance writes");
                epoch
            }
            Err(e) => panic!("the new instance's write failed: {e}"),
        };
        assert_eq!(
            db.sql(
                "SELECT version || ' ' || epoch FROM rooms JOIN leases USING (code) \
                    WHERE code = 'JJJJJJJJJ'"
            ),
            format!("2 {epoch}")
        );
    }

    #[test]
    fn a_node_paused_past_its_lease_cannot_write_even_if_nobody_took_over() {
        let db = Postgres::new();
        let a = db.node(Duration::from_millis(200));
        created_with(&a, "LLLLLLLLL", true);
        until_expired(&db, a.node());
        assert_eq!(
            wait(&a, renamed("LLLLLLLLL", 2, 1)),
            Err(StorageError::Fenced)
        );
        assert_eq!(a.renew_leases(), Ok(vec!["LLLLLLLLL".to_string()]));
        assert_eq!(
            db.sql("SELECT version FROM rooms WHERE code = 'LLLLLLLLL'"),
            "1"
        );
    }

    #[test]
    fn rooms_of_a_node_whose_leases_expired_are_restored_by_another() {
        let db = Postgres::new();
        let a = db.node(Duration::from_millis(300));
        let rooms: Vec<RoomImage> = [
            ("MMMMMMMMM", false),
            ("NNNNNNNNN", true),
            ("PPPPPPPPP", false),
        ]
        .iter()
        .map(|(code, game)| RoomImage {
            epoch: 2,
            ..created_with(&a, code, *game)
        })
        .collect();
        until_expired(&db, a.node());
        let b = db.node(Duration::from_secs(60));
        let mut restored = b.load_rooms().expect("rooms load");
        restored.sort_by(|x, y| x.code.cmp(&y.code));
        assert_eq!(
            restored, rooms,
            "B restores A's rooms once A's leases ran out"
        );
        for room in &rooms {
            assert_eq!(b.epoch(&room.code), Some(2));
        }
        assert_eq!(
            wait(&a, renamed("NNNNNNNNN", 2, 1)),
            Err(StorageError::Fenced)
        );
        assert_eq!(
            b.load_rooms(),
            Ok(Vec::new()),
            "B's own live rooms are not claimed again"
        );
    }

    #[test]
    fn a_drained_node_hands_its_rooms_over_at_once() {
        let db = Postgres::new();
        let a = db.node(Duration::from_secs(60));
        let room = RoomImage {
            epoch: 2,
            ..created(&a, "QQQQQQQQQ")
        };
        let b = db.node(Duration::from_secs(60));
        assert_eq!(
            b.acquire("QQQQQQQQQ"),
            Err(StorageError::Fenced),
            "a live lease is not taken"
        );
        assert_eq!(
            b.load_rooms(),
            Ok(Vec::new()),
            "a live node's rooms are not restored elsewhere"
        );
        a.close();
        assert_eq!(
            b.load_rooms(),
            Ok(vec![room]),
            "released leases are taken without waiting for them to expire"
        );
        assert_eq!(b.epoch("QQQQQQQQQ"), Some(2));
        assert_eq!(
            b.acquire("QQQQQQQQQ"),
            Ok(3),
            "acquiring a room it holds renews the node's claim at the next epoch"
        );
    }

    /// A room whose lease names a node that is not live (no session holds its lock: the
    /// process died) is taken at once, long before the lease would expire.
    #[test]
    fn a_room_of_a_node_that_is_not_live_is_taken_at_once_and_a_live_ones_is_located() {
        let db = Postgres::new();
        let a = db.node(Duration::from_secs(60));
        let b = db.node(Duration::from_secs(60));
        let room = created(&a, "TTTTTTTTT");
        assert_eq!(
            b.take_room("TTTTTTTTT"),
            Ok(Placement::Elsewhere {
                node: a.node().to_string(),
                url: None
            }),
            "a live node's room is located, not taken"
        );
        assert_eq!(b.take_room("UUUUUUUUU"), Ok(Placement::Missing));
        assert_eq!(a.take_room("TTTTTTTTT"), Ok(Placement::Mine));
        // A dead node: its lease is live for an hour, but no session holds its lock.
        db.sql(
            "INSERT INTO rooms (code, created_ms, updated_ms, version, lobby) \
             SELECT 'GGGGGGGGG', created_ms, updated_ms, version, lobby FROM rooms \
             WHERE code = 'TTTTTTTTT'",
        );
        db.sql("INSERT INTO leases VALUES ('GGGGGGGGG', 'ghost', 5, now() + interval '1 hour')");
        let Ok(Placement::Here(image)) = b.take_room("GGGGGGGGG") else {
            panic!("the dead node's room is taken");
        };
        assert_eq!(image.code, "GGGGGGGGG");
        assert_eq!(image.lobby, room.lobby);
        assert_eq!(b.epoch("GGGGGGGGG"), Some(6), "at the next epoch");
        assert_eq!(
            a.take_room("GGGGGGGGG"),
            Ok(Placement::Elsewhere {
                node: b.node().to_string(),
                url: None
            })
        );
    }

    /// A paused node keeps its session, so it stays live, but it renews nothing: it does not
    /// count among the nodes that share its orphaned rooms, and the survivors take them all
    /// at their next tick instead of a share each as if it could take some.
    #[test]
    fn a_paused_node_does_not_count_in_the_share_of_its_own_rooms() {
        let db = Postgres::new();
        let a = db.node(Duration::from_millis(300));
        for i in 0..10 {
            created(&a, &format!("P{i:08}"));
        }
        let b = db.node(Duration::from_secs(2));
        let c = db.node(Duration::from_secs(2));
        until_expired(&db, a.node());
        // Longer than B's lease since A (and B, C) last renewed: none of them counts yet.
        std::thread::sleep(Duration::from_millis(2100));
        // C renews (so it counts), then B claims: two nodes share the 10 rooms.
        assert_eq!(c.renew_leases(), Ok(Vec::new()));
        let first = b.claim_rooms().expect("B claims");
        assert_eq!(
            first.len(),
            5,
            "B takes half: C renews, A (paused) does not count"
        );
        let second = c.claim_rooms().expect("C claims");
        assert_eq!(second.len(), 5, "C takes the rest at its own tick");
        assert_eq!(
            db.sql(&format!(
                "SELECT count(*) FROM leases WHERE node = '{}'",
                a.node()
            )),
            "0"
        );
    }

    /// Each live node claims its share of the orphaned rooms per call (up to the average load,
    /// and at least one); together they take every room exactly once, the least loaded the
    /// most.
    #[test]
    fn orphaned_rooms_are_shared_out_among_the_live_nodes() {
        let db = Postgres::new();
        let a = db.node(Duration::from_millis(300));
        for i in 0..10 {
            created(&a, &format!("O{i:08}"));
        }
        let b = db.node(Duration::from_secs(60));
        let c = db.node(Duration::from_secs(60));
        let d = db.node(Duration::from_secs(60));
        // D is busy already: 6 rooms of its own.
        for i in 0..6 {
            created(&d, &format!("D{i:08}"));
        }
        assert_eq!(
            b.claim_rooms(),
            Ok(Vec::new()),
            "a live lease is not claimed"
        );
        until_expired(&db, a.node());
        // Four live nodes (A is paused, not dead) and 16 rooms: 4 each on average. D, which
        // holds 6, takes just one; B fills up to the average.
        let busy = d.claim_rooms().expect("D claims");
        assert_eq!(busy.len(), 1, "a node above the average takes one room");
        let first = b.claim_rooms().expect("B claims");
        assert_eq!(first.len(), 4, "B fills up to the average");
        let mut taken: Vec<String> = busy.into_iter().chain(first).map(|r| r.code).collect();
        // Then C does, and the last ones go at least one a call, as A, paused but live,
        // takes none.
        for round in 0..10 {
            let node: &dyn Store = if round % 2 == 0 { &c } else { &b };
            taken.extend(
                node.claim_rooms()
                    .expect("claims")
                    .into_iter()
                    .map(|r| r.code),
            );
        }
        taken.sort();
        let all: Vec<String> = (0..10).map(|i| format!("O{i:08}")).collect();
        assert_eq!(taken, all, "every room taken exactly once");
        assert_eq!(
            db.sql("SELECT count(*) FROM leases WHERE epoch = 2 AND code LIKE 'O%'"),
            "10"
        );
        assert_eq!(
            db.sql(&format!(
                "SELECT count(*) FROM leases WHERE node = '{}'",
                d.node()
            )),
            "7",
            "the busy node took the fewest"
        );
        assert_eq!(
            db.sql(&format!(
                "SELECT count(*) FROM leases WHERE node = '{}'",
                a.node()
            )),
            "0"
        );
        for code in &all {
            assert_eq!(wait(&a, renamed(code, 2, 1)), Err(StorageError::Fenced));
        }
        let mut lost = a.renew_leases().expect("A renews");
        lost.sort();
        assert_eq!(lost, all, "A's renewal reports every room lost");
    }

    /// Every statement that locks several lease rows locks them in one order, the rooms'
    /// codes. A claim that began before another node took one of its rooms waits for that
    /// row, declines it, and keeps it locked to the statement's end; the owner's renewal used
    /// to lock its rows in the table's order, and the two deadlocked (40P01). A renewal lost
    /// that way let the leases lapse under live games, and a commit lost that way refused a
    /// player's move (both seen in the rolling-restart test). The interleaving is built here
    /// step by step, with two sessions that hold a row each to pause B's claim, and
    /// `pg_blocking_pids` to see who waits for whom.
    #[test]
    fn a_claim_that_meets_rooms_taken_meanwhile_does_not_deadlock_their_renewal() {
        use std::process::Stdio;
        let db = Postgres::new();
        let database = db
            .url
            .rsplit("dbname=")
            .next()
            .expect("a dbname")
            .to_string();
        let a = db.node(Duration::from_secs(60));
        let b = db.node(Duration::from_secs(60));
        let gone = db.node(Duration::from_secs(60));
        let code = |i: u32| format!("Y{i:08}");
        // Created in the reverse of their codes' order: the table's order is not the codes'.
        for i in (0..10).rev() {
            created(&gone, &code(i));
        }
        db.sql(&format!(
            "UPDATE leases SET expires_at = now() WHERE node = '{}'",
            gone.node()
        ));
        let pid = |sql: &str| db.sql(&format!("SELECT pid FROM pg_stat_activity WHERE {sql}"));
        let until = |what: &str, done: &dyn Fn() -> bool| {
            for _ in 0..400 {
                if done() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            panic!("never: {what}");
        };
        // A session that holds the lease row of room `i` until it is terminated.
        let hold = |i: u32| {
            let name = format!("hold-{i}");
            let child = db
                .cluster
                .psql_command(
                    &database,
                    &format!(
                        "SELECT code FROM leases WHERE code = '{}' FOR UPDATE; \
                         SELECT pg_sleep(60)",
                        code(i)
                    ),
                )
                .env("PGAPPNAME", &name)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("psql starts");
            let query = format!("application_name = '{name}' AND wait_event = 'PgSleep'");
            until(&format!("{name} holds its row"), &|| {
                !pid(&query).is_empty()
            });
            (child, pid(&query))
        };
        let release = |(mut child, pid): (std::process::Child, String)| {
            db.sql(&format!("SELECT pg_terminate_backend({pid})"));
            let _ = child.wait();
        };
        let blocked_by = |query: &str| {
            db.sql(&format!(
                "SELECT pg_blocking_pids(pid) FROM pg_stat_activity \
                 WHERE state = 'active' AND query LIKE '{query}%'"
            ))
        };
        let first = hold(2);
        let second = hold(5);
        std::thread::scope(|s| {
            // B's claim starts while every room is orphaned, and waits at room 2.
            let claiming = s.spawn(|| b.load_rooms());
            until("B's claim waits at room 2", &|| {
                blocked_by("INSERT INTO leases") == format!("{{{}}}", first.1)
            });
            // Meanwhile A takes rooms 7 and 3, in that order (so the table holds 7 first).
            for i in [7, 3] {
                assert!(
                    matches!(a.take_room(&code(i)), Ok(Placement::Here(_))),
                    "A takes room {i}"
                );
            }
            // B goes on: it declines room 3 (A's now) but keeps it locked, and waits at 5.
            let second_pid = second.1.clone();
            release(first);
            until("B's claim waits at room 5", &|| {
                blocked_by("INSERT INTO leases") == format!("{{{second_pid}}}")
            });
            // A renews rooms 3 and 7: it must wait for B, holding nothing B waits for.
            let renewing = s.spawn(|| a.renew_leases());
            until("A's renewal waits", &|| {
                !matches!(blocked_by("WITH beat").as_str(), "" | "{}")
            });
            let renewal = pid("state = 'active' AND query LIKE 'WITH beat%'");
            // B goes on to room 7, which A's renewal must not hold while it waits for B.
            release(second);
            until("B's claim ends", &|| {
                assert_ne!(
                    blocked_by("INSERT INTO leases"),
                    format!("{{{renewal}}}"),
                    "B's claim waits for A's renewal, which waits for B"
                );
                claiming.is_finished()
            });
            let mut claimed: Vec<String> = claiming
                .join()
                .expect("B's claim")
                .expect("B claims")
                .into_iter()
                .map(|image| image.code)
                .collect();
            claimed.sort();
            let expected: Vec<String> = [0, 1, 2, 4, 5, 6, 8, 9].map(code).to_vec();
            assert_eq!(claimed, expected, "B claims every room but A's");
            assert_eq!(
                renewing.join().expect("A's renewal"),
                Ok(Vec::new()),
                "A's renewal waits for B's claim and keeps both rooms"
            );
        });
        assert_eq!(
            db.sql(&format!(
                "SELECT string_agg(code, ' ' ORDER BY code) FROM leases WHERE node = '{}' \
                 AND expires_at > now()",
                a.node()
            )),
            format!("{} {}", code(3), code(7))
        );
    }

    #[test]
    fn renewing_every_lease_of_a_node_is_one_statement() {
        let db = Postgres::new();
        let a = db.node(Duration::from_secs(60));
        for i in 0..30 {
            created(&a, &format!("R{i:08}"));
        }
        let other = db.node(Duration::from_secs(60));
        created(&other, "SSSSSSSSS");
        // The writer's retention sweep (which forgets dead nodes without leases) runs after
        // a node's first commit, in the background, so it may land after the reset: it is
        // not part of the renewal and is left out below.
        db.sql("SELECT pg_stat_statements_reset()");
        assert_eq!(a.renew_leases(), Ok(Vec::new()), "nothing lost");
        let statements = db.sql(
            "SELECT calls || ' ' || rows FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND query ILIKE '%leases%' AND query NOT ILIKE '%pg_stat_statements%' \
             AND query NOT ILIKE 'DELETE FROM nodes%'",
        );
        assert_eq!(
            statements, "1 30",
            "one statement, called once, renewed the node's 30 leases"
        );
        assert_eq!(
            db.sql(&format!(
                "SELECT count(*) FROM leases WHERE node = '{}' AND expires_at > now()",
                other.node()
            )),
            "1",
            "the other node's lease is its own"
        );
    }
}

/// The PostgreSQL twin of the SQLite store's `meta.schema` check: a database migrated by a
/// newer release is refused before anything is written to it.
#[cfg(feature = "postgres-tests")]
#[test]
fn postgresql_refuses_a_schema_newer_than_it_knows_and_leaves_it_as_it_was() {
    let db = Postgres::new();
    db.node(Duration::from_secs(60)).close();
    db.sql(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
         VALUES (99, 'from_the_future', '2030-01-01T00:00:00Z', '0')",
    );
    let mut options = perudo_server::store::PostgresOptions::new(db.url.clone());
    options.renew_every = None;
    let error = perudo_server::store::PostgresStore::open(options).expect_err("a newer schema");
    assert_eq!(
        error,
        StorageError::NewerSchema {
            found: 99,
            known: 3
        }
    );
    assert!(error.to_string().contains("newer release"), "{error}");
    assert_eq!(
        db.sql(
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM refinery_schema_history"
        ),
        "1,2,3,99"
    );
}

/// TLS to the database: with `sslmode=require` (or libpq's `verify-full`) the store
/// connects over TLS and verifies the server's certificate, so a certificate from an unknown
/// CA is refused until `--database-ca` names it; without an `sslmode` that asks for TLS it
/// stays in clear.
#[cfg(feature = "postgres-tests")]
#[test]
fn postgresql_over_tls_verifies_the_servers_certificate() {
    use perudo_server::store::{PostgresOptions, PostgresStore};
    let (cluster, port, ca) = postgres::Cluster::start_tls();
    let encrypted = || {
        cluster.psql(
            "postgres",
            "SELECT count(*) FILTER (WHERE s.ssl) || ' ' || count(*) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.client_addr IS NOT NULL",
        )
    };
    let open = |url: String, ca: Option<std::path::PathBuf>| {
        let mut options = PostgresOptions::new(url);
        options.renew_every = None;
        options.ca_file = ca;
        PostgresStore::open(options)
    };
    let tcp = format!("host=localhost port={port} user=perudo dbname=postgres");

    let error = open(format!("{tcp} sslmode=require"), None).expect_err("an unknown CA");
    assert!(
        error.to_string().contains("certificate") || error.to_string().contains("UnknownIssuer"),
        "says why: {error}"
    );
    assert_eq!(encrypted(), "0 0", "nothing stayed connected");

    let store = open(format!("{tcp} sslmode=require"), Some(ca.clone())).expect("TLS");
    created(&store, "WWWWWWWWW");
    let (tls, all) = {
        let counts = encrypted();
        let (tls, all) = counts.split_once(' ').expect("two counts");
        (tls.to_string(), all.to_string())
    };
    assert_eq!(tls, all, "every connection of the node is encrypted");
    assert!(
        tls.parse::<u32>().expect("a count") >= 2,
        "the pool's and the liveness session"
    );
    store.close();

    // libpq's `verify-full`, in URL form, to the address the certificate also names.
    let url = format!("postgres://perudo@127.0.0.1:{port}/postgres?sslmode=verify-full");
    let store = open(url, Some(ca)).expect("verify-full");
    assert_eq!(store.load_rooms().map(|r| r.len()), Ok(1));
    store.close();

    // No sslmode: in clear, as before.
    let store = open(tcp, None).expect("no TLS");
    assert_eq!(
        encrypted().split_once(' ').map(|(tls, _)| tls.to_string()),
        Some("0".to_string())
    );
    store.close();
}

// --- `perudo migrate`: from one SQLite file to PostgreSQL ---

#[cfg(feature = "postgres-tests")]
mod migrate {
    use super::*;
    use std::process::{Command, Output};

    fn perudo_migrate(db: &std::path::Path, url: &str) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_perudo"));
        command
            .arg("migrate")
            .arg("--db")
            .arg(db)
            .args(["--database-url", url]);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PERUDO_") {
                command.env_remove(name);
            }
        }
        command.output().expect("run perudo migrate")
    }

    #[test]
    fn perudo_migrate_copies_every_room_game_and_move_once() {
        let source = Sqlite::new("migrate");
        let store = source.open();
        let store = &*store;
        created(store, "TTTTTTTTT");
        let mut running = created(store, "UUUUUUUUU");
        step(
            store,
            &mut running,
            vec![
                Write::GameStarted(start(1)),
                Write::Moves {
                    number: 1,
                    first_seq: 0,
                    moves: vec![mv(1, 0), mv(1, 1)],
                },
                Write::Clock(Some(ClockImage {
                    seat: 0,
                    limit_at_ms: 1_767_225_700_000,
                })),
            ],
        )
        .expect("a running game");
        // Moves alone: journaled, and folded as one row holding both (SQLite's schema 3),
        // which PostgreSQL gets as a row each.
        step(
            store,
            &mut running,
            vec![Write::Moves {
                number: 1,
                first_seq: 2,
                moves: vec![mv(1, 2), mv(1, 3)],
            }],
        )
        .expect("two more moves");
        let mut finished = created(store, "VVVVVVVVV");
        play_one_move_game(store, &mut finished);
        step(store, &mut finished, vec![Write::Closed]).expect("closed after it");
        let record = store
            .game_record("VVVVVVVVV", 1)
            .expect("reads")
            .expect("a record");
        let mut rooms = store.load_rooms().expect("rooms");
        rooms.sort_by(|a, b| a.code.cmp(&b.code));
        store.close();
        let db_file = source.dir.join("perudo.db");

        let target = Postgres::new();
        // A missing file is refused before PostgreSQL is touched.
        let missing = perudo_migrate(&source.dir.join("nope.db"), &target.url);
        assert!(!missing.status.success());
        assert!(
            String::from_utf8_lossy(&missing.stderr).contains("no database at"),
            "{}",
            String::from_utf8_lossy(&missing.stderr)
        );
        assert_eq!(target.sql("SELECT to_regclass('rooms') IS NULL"), "t");

        let copied = perudo_migrate(&db_file, &target.url);
        let stdout = String::from_utf8_lossy(&copied.stdout);
        assert!(
            copied.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&copied.stderr)
        );
        assert!(
            stdout.contains("copied 3 rooms, 2 games and 5 moves"),
            "{stdout}"
        );
        let node = target.node(Duration::from_secs(60));
        let mut restored = node.load_rooms().expect("rooms load from PostgreSQL");
        restored.sort_by(|a, b| a.code.cmp(&b.code));
        assert_eq!(
            restored, rooms,
            "the same open rooms, games, moves and clocks"
        );
        assert_eq!(node.game_record("VVVVVVVVV", 1), Ok(Some(record)));

        // Twice is refused, and changes nothing.
        let again = perudo_migrate(&db_file, &target.url);
        assert!(!again.status.success());
        let stderr = String::from_utf8_lossy(&again.stderr);
        assert!(stderr.contains("already holds 3 rooms"), "{stderr}");
        assert_eq!(target.sql("SELECT count(*) FROM moves"), "5");
    }
}
