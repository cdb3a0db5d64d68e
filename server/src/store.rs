//! Durable rooms: what a room keeps in storage, the [`Store`] trait rooms write through, and
//! its implementations: SQLite (one process, the default) and PostgreSQL ([`PostgresStore`],
//! several nodes sharing one database, with room leases).
//!
//! A room is event-sourced: its lobby (rules, options, seats with names and token hashes,
//! host, results), each game's start (config, names, seed) and every accepted move are
//! written before any client hears of them; a room is rebuilt by replaying its current game's
//! moves through game-core ([`RoomImage`] is what a room is rebuilt from).
//!
//! Architecture invariants:
//! - A room awaits the commit of an input's writes before it sends anything that input
//!   caused, so every acknowledged or broadcast change is in storage.
//! - With `synchronous=NORMAL`, a batch that continues exactly what is stored of its room
//!   (anything but a room's creation or closing, and only what would pass SQLite's keys) is
//!   appended to the journal (`journal.rs`, one `write` to a file beside the database) and
//!   acknowledged; the journal is folded into the database in one transaction every 10 s,
//!   when it holds 16,384 batches, before any write through SQLite and before anything reads
//!   what it holds, so the database always holds a prefix of each room's history. A fold
//!   writes one `moves` row per run of a room's moves (schema 3), not one per move.
//! - One write connection, behind a lock: any other batch that finds nothing queued, nothing
//!   journaled and the connection free is committed at once on the caller's thread (with
//!   `synchronous=NORMAL`);
//!   otherwise it is queued, and the writer thread commits whatever has queued up in one
//!   transaction (group commit). If a group's transaction fails, each batch is retried alone,
//!   so one room's bad batch fails only that room.
//! - Rooms know only this trait: a networked store can replace SQLite without touching them.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use perudo_core::{BotLevel, GameConfig, Move};
use perudo_protocol::{GameResults, RoomOptions};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::ids::TokenHash;
use crate::record::GameRecord;

mod journal;
pub(crate) mod postgres;
pub use postgres::{Copied, PostgresOptions, PostgresStore, copy_from_sqlite, node_name};

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A room's state between games: everything about it but the running game.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LobbyImage {
    pub rules: GameConfig,
    pub options: RoomOptions,
    pub seats: Vec<SeatImage>,
    pub host: Option<u8>,
    pub games_played: u32,
    /// The last game's results, shared with the room (stored as a plain `GameResults`).
    pub results: Option<Arc<GameResults>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatImage {
    pub name: String,
    pub kind: SeatImageKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SeatImageKind {
    Human {
        /// SHA-256 of the seat token, hex.
        #[serde(with = "hex_hash")]
        token_hash: TokenHash,
        /// Left the game for good.
        left: bool,
    },
    Bot {
        level: BotLevel,
    },
}

mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(hash: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(hash))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(&text).map_err(D::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| D::Error::custom("a token hash is 32 bytes"))
    }
}

/// How a game began: enough, with its moves, to replay it. `Debug` leaves the seed out.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct GameStart {
    pub number: u32,
    pub config: GameConfig,
    /// The players' names in seat order (the game's seats are `0..names.len()`).
    pub names: Vec<String>,
    /// The dice seed, 64 hex digits. Secret until the game is over.
    pub seed: String,
    pub started_ms: i64,
}

impl fmt::Debug for GameStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GameStart")
            .field("number", &self.number)
            .field("names", &self.names)
            .field("started_ms", &self.started_ms)
            .finish_non_exhaustive()
    }
}

/// A game as stored: its start, its moves so far, and its results once it is over.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GameImage {
    pub start: GameStart,
    pub moves: Vec<Move>,
    pub results: Option<GameResults>,
}

/// The running turn's time limit, on the wall clock so that it survives a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockImage {
    pub seat: u8,
    pub limit_at_ms: i64,
}

/// Everything a room is rebuilt from.
#[derive(Clone, Debug, PartialEq)]
pub struct RoomImage {
    pub code: String,
    /// The room's version at its last write.
    pub version: u64,
    pub lobby: LobbyImage,
    /// The room's latest game (running or finished).
    pub game: Option<GameImage>,
    pub clock: Option<ClockImage>,
    /// The room's lease epoch (fencing token) this copy was given: a node's instance of the
    /// room writes at this epoch, and a store several nodes share refuses its writes once the
    /// room's lease is at another epoch (another node took it, or this node took it back for
    /// a new instance). A store only one process uses has no leases: [`FIRST_EPOCH`].
    pub epoch: u64,
}

/// The epoch of a room's lease when it is created.
pub const FIRST_EPOCH: u64 = 1;

impl RoomImage {
    /// The image after `write` (committed).
    pub fn apply(&mut self, write: Write) {
        match write {
            Write::CreateRoom(lobby) | Write::Lobby(lobby) => self.lobby = lobby,
            Write::GameStarted(start) => {
                self.game = Some(GameImage {
                    start,
                    moves: Vec::new(),
                    results: None,
                });
            }
            Write::Moves { number, moves, .. } => {
                if let Some(game) = &mut self.game
                    && game.start.number == number
                {
                    game.moves.extend(moves);
                }
            }
            Write::GameOver { number, results } => {
                if let Some(game) = &mut self.game
                    && game.start.number == number
                {
                    game.results = Some(results);
                }
            }
            Write::Clock(clock) => self.clock = clock,
            Write::Closed => {}
        }
    }
}

/// One change to a room's stored state. (Serialized only into the SQLite store's moves
/// journal; the database keeps each part in its own column.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Write {
    /// A new room; fails with [`StorageError::Conflict`] if the code was ever used.
    CreateRoom(LobbyImage),
    Lobby(LobbyImage),
    GameStarted(GameStart),
    /// Moves `first_seq..` of game `number`.
    Moves {
        number: u32,
        first_seq: u32,
        moves: Vec<Move>,
    },
    GameOver {
        number: u32,
        results: GameResults,
    },
    Clock(Option<ClockImage>),
    /// The room closed for good (nobody came back): it is not restored.
    Closed,
}

/// The writes of one input of one room: committed together or not at all.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub code: String,
    /// The room's version after the input.
    pub version: u64,
    /// The lease epoch the writing instance of the room holds (`RoomImage::epoch`).
    pub epoch: u64,
    pub writes: Vec<Write>,
}

/// Why storage failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageError {
    /// The disk (or the database's size limit) is full.
    Full,
    /// The database file or its directory cannot be written.
    ReadOnly,
    /// The room code is already in the database.
    Conflict,
    /// The store was shut down.
    Closed,
    /// Anything else the database reported.
    Database(String),
    /// Stored data that does not decode.
    Corrupt(String),
    /// The database was written by a newer perudo (its schema version is higher than the
    /// one this build knows); opening it could lose data.
    NewerSchema { found: u32, known: u32 },
    /// This node does not hold the room's lease at the epoch it was given (it expired, or
    /// another node took the room over): the write is refused and the room must stop here.
    /// Not a storage failure: the database is fine.
    Fenced,
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Full => f.write_str("storage is full"),
            StorageError::ReadOnly => f.write_str("storage is not writable"),
            StorageError::Conflict => f.write_str("room code already stored"),
            StorageError::Closed => f.write_str("storage is shut down"),
            StorageError::Database(m) => write!(f, "storage failed: {m}"),
            StorageError::Corrupt(m) => write!(f, "stored data is corrupt: {m}"),
            StorageError::NewerSchema { found, known } => write!(
                f,
                "the database has schema version {found}, newer than the {known} this perudo \
                 knows: it was written by a newer release; run that release (or restore a \
                 backup taken before the upgrade)"
            ),
            StorageError::Fenced => f.write_str(
                "this node no longer holds the room's lease (another node owns the room)",
            ),
        }
    }
}

impl std::error::Error for StorageError {}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> StorageError {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StorageError::Full,
            Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
                StorageError::ReadOnly
            }
            Some(ErrorCode::ConstraintViolation) => StorageError::Conflict,
            _ => StorageError::Database(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for StorageError {
    fn from(e: serde_json::Error) -> StorageError {
        StorageError::Corrupt(e.to_string())
    }
}

/// Where rooms are kept. Rooms use only this, so another backend can be added without
/// touching them.
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Queues a room's batch; the receiver answers once it is committed (or failed).
    fn commit(&self, batch: Batch) -> oneshot::Receiver<Result<(), StorageError>>;
    /// Every room that was not closed, to restore at start. Blocking.
    fn load_rooms(&self) -> Result<Vec<RoomImage>, StorageError>;
    /// A finished game's full record. Blocking.
    fn game_record(&self, code: &str, game: u32) -> Result<Option<GameRecord>, StorageError>;
    /// The last write's error, while it failed.
    fn health(&self) -> Result<(), StorageError>;
    /// Commits what is queued and stops writing (releasing this node's leases). Blocking.
    fn close(&self);

    // Room ownership, for stores that several nodes share (PostgreSQL): a room's writes are
    // accepted only from the node holding its lease, at the epoch (fencing token) it was
    // given. Creating a room takes its lease; `load_rooms` claims the rooms whose lease is free
    // or expired. A store only one process uses owns every room: these defaults say so.

    /// Takes over `code`'s lease if it is free or expired (or already this node's), bumping
    /// its epoch, which it returns; [`StorageError::Fenced`] if a live node holds it. Blocking.
    fn acquire(&self, _code: &str) -> Result<u64, StorageError> {
        Ok(0)
    }
    /// Renews every lease this node holds, in one statement; returns the rooms whose lease it
    /// lost (expired, or taken over): their writes are now refused. Blocking.
    fn renew_leases(&self) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
    /// Gives up every lease this node holds (a drain), so other nodes may take the rooms at
    /// once. Blocking.
    fn release_leases(&self) -> Result<(), StorageError> {
        Ok(())
    }
    /// This node, when several share the store: its name and how often the server must
    /// renew its leases and claim the rooms of dead nodes (`crate::cluster`). `None`: a store
    /// only this process uses.
    fn cluster(&self) -> Option<ClusterNode> {
        None
    }
    /// Claims this node's share of the rooms whose owner died (lease expired, or node no
    /// longer live) and returns them, to restore. Blocking.
    fn claim_rooms(&self) -> Result<Vec<RoomImage>, StorageError> {
        Ok(Vec::new())
    }
    /// A room this node does not run: takes it if no live node holds it (returning it to
    /// restore), else says who holds it. Blocking.
    fn take_room(&self, _code: &str) -> Result<Placement, StorageError> {
        Ok(Placement::Missing)
    }
}

/// This node, in a store several nodes share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNode {
    pub node: String,
    /// How often to renew the leases and claim orphaned rooms; `None`: never by itself.
    pub renew_every: Option<Duration>,
}

/// Where a room runs, as [`Store::take_room`] found it.
#[derive(Clone, Debug, PartialEq)]
pub enum Placement {
    /// Nobody live held it: this node holds its lease now and must restore it.
    Here(Box<RoomImage>),
    /// This node holds its lease already (its room is starting or stopping here).
    Mine,
    /// A live node holds it; `url` is where that node is reached (`--node-url`), if it said.
    Elsewhere { node: String, url: Option<String> },
    /// No open room has this code.
    Missing,
}

/// Awaits a batch's commit.
pub async fn commit(store: &dyn Store, batch: Batch) -> Result<(), StorageError> {
    let result = store
        .commit(batch)
        .await
        .unwrap_or(Err(StorageError::Closed));
    if matches!(&result, Err(e) if !matches!(e, StorageError::Conflict | StorageError::Fenced)) {
        crate::metrics::storage_failure();
    }
    result
}

/// How hard SQLite syncs to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    /// WAL with `synchronous=NORMAL`: every commit survives the process being killed; the
    /// last commits may be lost if the machine loses power.
    Normal,
    /// `synchronous=FULL`: every commit is on disk (fsync) before it is acknowledged.
    Full,
}

/// Settings of the SQLite store.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    pub path: PathBuf,
    pub sync: SyncMode,
    /// Finished games (and closed rooms) are deleted this long after they ended.
    pub retention: Duration,
    /// Caps the database at this many pages (of 4 KiB): a quota, and how tests fill "the disk".
    pub max_pages: Option<u32>,
}

/// Most batches one transaction commits.
const MAX_GROUP: usize = 1024;
/// How often the writer deletes what is past its retention.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rooms (
    code TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    version INTEGER NOT NULL,
    lobby TEXT NOT NULL,
    clock TEXT,
    closed_ms INTEGER,
    clock_version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS games (
    code TEXT NOT NULL,
    number INTEGER NOT NULL,
    config TEXT NOT NULL,
    names TEXT NOT NULL,
    seed TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    finished_ms INTEGER,
    results TEXT,
    PRIMARY KEY (code, number)
);
CREATE TABLE IF NOT EXISTS moves (
    code TEXT NOT NULL,
    number INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    move TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    version INTEGER,
    clock TEXT,
    PRIMARY KEY (code, number, seq)
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '3');
";

/// The schema version this build writes and reads (`meta.schema`).
///
/// - 1: `rooms.version` and `rooms.clock` rewritten by every batch.
/// - 2: a batch of moves (and perhaps the turn clock) leaves the `rooms` row alone: the room's
///   version and clock after it ride in its last move's row (`moves.version`, `moves.clock`),
///   and `rooms.clock_version` says at which version `rooms.clock` was written, so that the
///   newer of the two wins on restore ([`room_tail`]).
/// - 3: a `moves` row written by a fold of the journal holds a run of moves (a JSON array,
///   from its `seq` on), with the version and clock of the last batch of the run; a row
///   holding one move is a JSON object, as before ([`push_moves`]). An older build would not
///   read the arrays: it refuses the database.
pub const SCHEMA_VERSION: u32 = 3;

/// Brings a database of an older schema (`meta.schema`) up to [`SCHEMA_VERSION`], in one
/// transaction. Runs after [`check_schema`] and the `CREATE ... IF NOT EXISTS` of a fresh one.
fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let found: String =
        conn.query_row("SELECT value FROM meta WHERE key = 'schema'", [], |row| {
            row.get(0)
        })?;
    if found == SCHEMA_VERSION.to_string() {
        return Ok(());
    }
    let tx = conn.transaction()?;
    if found == "1" {
        // Version 1 wrote the clock with the version on every batch: it is as new as the
        // version.
        tx.execute_batch(
            "ALTER TABLE rooms ADD COLUMN clock_version INTEGER NOT NULL DEFAULT 0;
             UPDATE rooms SET clock_version = version;
             ALTER TABLE moves ADD COLUMN version INTEGER;
             ALTER TABLE moves ADD COLUMN clock TEXT;",
        )?;
    }
    // From 2 to 3 no table changes: rows holding runs come with the next fold.
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema'",
        [SCHEMA_VERSION.to_string()],
    )?;
    tx.commit()?;
    info!(from = %found, to = SCHEMA_VERSION, "storage schema migrated");
    Ok(())
}

/// The stored room's version and turn clock: the `rooms` row's, unless moves written after it
/// carry newer ones (schema 2: a batch of moves writes its version and clock into its last
/// move's row and leaves the `rooms` row alone). `moves` are the latest game's rows in order:
/// each move's version and clock (the JSON of `Option<ClockImage>`) where it has them.
pub(crate) fn room_tail<'a>(
    version: u64,
    clock: Option<ClockImage>,
    clock_version: u64,
    moves: impl IntoIterator<Item = (Option<u64>, Option<&'a str>)>,
) -> Result<(u64, Option<ClockImage>), StorageError> {
    let (mut version, mut clock, mut clock_version) = (version, clock, clock_version);
    for (at, moved_clock) in moves {
        let Some(at) = at else { continue };
        version = version.max(at);
        if let Some(json) = moved_clock
            && at > clock_version
        {
            clock = serde_json::from_str(json)?;
            clock_version = at;
        }
    }
    Ok((version, clock))
}

/// Refuses a database whose `meta.schema` is newer than `SCHEMA_VERSION`, before anything
/// is written to it.
fn check_schema(conn: &rusqlite::Connection) -> Result<(), StorageError> {
    let has_meta: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
        [],
        |row| row.get(0),
    )?;
    if !has_meta {
        return Ok(());
    }
    let found: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |row| {
            row.get(0)
        })
        .optional()?;
    let Some(found) = found else {
        return Ok(());
    };
    let found: u32 = found
        .parse()
        .map_err(|_| StorageError::Corrupt(format!("meta.schema is {found:?}, not a number")))?;
    if found > SCHEMA_VERSION {
        return Err(StorageError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(())
}

enum Job {
    Commit(Batch, oneshot::Sender<Result<(), StorageError>>),
}

/// Batches waiting for the writer thread.
struct Queue {
    jobs: Vec<Job>,
    /// Cleared by `close`: later commits are refused.
    open: bool,
}

/// What the writer thread, the rooms committing on their own threads and the checkpointer
/// share.
struct Writing {
    /// The write connection (`None` once the writer has stopped). Whoever holds this lock
    /// writes: the writer thread committing a group, a room committing its batch on its own
    /// thread, or the checkpointer forcing a checkpoint (so that no commit waits for one
    /// inside SQLite's busy handler).
    conn: Mutex<Option<Connection>>,
    queue: Mutex<Queue>,
    /// Signalled when a batch is queued or the store closes.
    queued: Condvar,
    /// The last write's error, while it failed.
    health: Mutex<Option<StorageError>>,
    /// Whether a batch may be committed on the caller's thread when nothing is queued and
    /// nobody is writing (`synchronous=NORMAL`: a commit writes to the page cache and takes
    /// microseconds). With `FULL` a commit waits for an fsync: it always goes to the writer
    /// thread, so that no runtime worker waits for the disk.
    inline: bool,
    /// The moves journal (`synchronous=NORMAL` only): move-only batches are appended to it and
    /// folded into the database by whoever commits next, and at least every [`fold_every`].
    /// Locked after the queue or the connection, never before either.
    journal: Option<Mutex<journal::Journal>>,
}

/// Rooms in an SQLite database (WAL), with group commit: a batch that finds nothing queued
/// and the write connection free is committed at once on the caller's thread (no thread
/// hand-off); batches that arrive while a commit runs are queued and committed together by
/// the writer thread.
pub struct SqliteStore {
    path: PathBuf,
    writing: Arc<Writing>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Dropped to stop the checkpointer.
    stop_checkpoints: Mutex<Option<std::sync::mpsc::Sender<()>>>,
    checkpointer: Mutex<Option<std::thread::JoinHandle<()>>>,
    reader: Mutex<Connection>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn open_connection(options: &SqliteOptions) -> Result<Connection, StorageError> {
    let conn = Connection::open(&options.path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match options.sync {
            SyncMode::Normal => "NORMAL",
            SyncMode::Full => "FULL",
        },
    )?;
    if let Some(pages) = options.max_pages {
        conn.pragma_update(None, "max_page_count", pages)?;
    }
    // When a checkpoint has copied the whole WAL back, the next write starts it over and
    // truncates the file to this: a burst of writes does not leave a WAL of its peak size.
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT as i64)?;
    Ok(conn)
}

/// The WAL is truncated to this once checkpointed, and checkpointed with `TRUNCATE` (which
/// waits for the writer) whenever it has grown past [`WAL_FORCE_CHECKPOINT`].
pub const WAL_SIZE_LIMIT: u64 = 1024 * 1024;

/// A WAL longer than this is checkpointed with `TRUNCATE`: under a steady stream of writes a
/// `PASSIVE` checkpoint never catches up and the WAL would grow without end.
pub const WAL_FORCE_CHECKPOINT: u64 = 16 * 1024 * 1024;

impl SqliteStore {
    /// Folds the journal into the database now, on the writer's connection (none once the
    /// store is closed: then there is nothing to fold).
    fn fold_now(&self) -> Result<(), StorageError> {
        let mut conn = self.writing.conn.lock().expect("storage writer lock");
        if let Some(conn) = conn.as_mut() {
            fold(&self.writing, conn)?;
        }
        Ok(())
    }

    /// Opens (creating it if needed) the database at `options.path` and starts its writer.
    pub fn open(options: SqliteOptions) -> Result<SqliteStore, StorageError> {
        if let Some(dir) = options.path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.exists()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StorageError::Database(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let writer = open_connection(&options)?;
        check_schema(&writer)?;
        let mut writer = writer;
        writer.execute_batch(SCHEMA)?;
        migrate(&mut writer)?;
        // Checkpoints (copying the WAL into the database, with an fsync) run on their own
        // thread and connection, so that no commit waits for one.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        // Every statement the writer runs stays prepared (the default cache holds 16).
        writer.set_prepared_statement_cache_capacity(64);
        // Moves a previous run journaled and did not fold (it was killed): into the database
        // first. Then a new journal, with `synchronous=NORMAL` (with `FULL` every commit is a
        // transaction with its fsync, as the option promises).
        let last = recover_journal(&mut writer, &options.path)?;
        let journal = match options.sync {
            SyncMode::Normal => Some(Mutex::new(journal::Journal::open(&options.path, last)?)),
            SyncMode::Full => None,
        };
        let checkpoints = open_connection(&options)?;
        let reader = open_connection(&options)?;
        let writing = Arc::new(Writing {
            conn: Mutex::new(Some(writer)),
            queue: Mutex::new(Queue {
                jobs: Vec::new(),
                open: true,
            }),
            queued: Condvar::new(),
            health: Mutex::new(None),
            inline: options.sync == SyncMode::Normal,
            journal,
        });
        let (stop_checkpoints, stopped) = std::sync::mpsc::channel::<()>();
        let checkpointer = std::thread::Builder::new()
            .name("perudo-checkpoint".into())
            .spawn({
                let wal = wal_path(&options.path);
                let writing = writing.clone();
                move || checkpoint_loop(checkpoints, stopped, wal, &writing)
            })
            .map_err(|e| StorageError::Database(format!("cannot start the checkpointer: {e}")))?;
        let retention = options.retention;
        let thread = std::thread::Builder::new()
            .name("perudo-store".into())
            .spawn({
                let writing = writing.clone();
                move || write_loop(&writing, retention)
            })
            .map_err(|e| StorageError::Database(format!("cannot start the writer: {e}")))?;
        info!(path = %options.path.display(), sync = ?options.sync, "storage open");
        Ok(SqliteStore {
            path: options.path,
            writing,
            writer: Mutex::new(Some(thread)),
            stop_checkpoints: Mutex::new(Some(stop_checkpoints)),
            checkpointer: Mutex::new(Some(checkpointer)),
            reader: Mutex::new(reader),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// How often the WAL is copied back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The WAL file of the database at `db`.
pub fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

fn checkpoint_loop(
    conn: Connection,
    stop: std::sync::mpsc::Receiver<()>,
    wal: PathBuf,
    writing: &Writing,
) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY)
    {
        let long = std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_FORCE_CHECKPOINT);
        // PASSIVE copies what it can without blocking the writer; TRUNCATE waits for it and
        // empties the file. While it runs it holds the write connection's lock, so that
        // commits queue up for the writer thread instead of waiting in SQLite's busy handler
        // (which sleeps in steps of milliseconds) on a room's thread.
        let result = if long {
            let _writer = writing.conn.lock().expect("storage writer lock");
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        } else {
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        };
        if let Err(e) = result {
            warn!(error = %e, long, "checkpoint failed");
        }
    }
}

/// The writer thread: commits what rooms queued (whatever has queued up, in one transaction),
/// folds the moves journal at least every [`fold_every`], and deletes what is past its
/// retention; at the end, folds the journal and checkpoints the WAL away.
fn write_loop(writing: &Writing, retention: Duration) {
    let mut last_cleanup: Option<Instant> = None;
    let mut last_fold = Instant::now();
    loop {
        let closing = {
            let mut queue = writing.queue.lock().expect("storage queue lock");
            while queue.jobs.is_empty() && queue.open {
                let cleanup_in = last_cleanup.map_or(Duration::ZERO, |at| {
                    RETENTION_EVERY.saturating_sub(at.elapsed())
                });
                let fold_in = match &writing.journal {
                    Some(journal) if journal.lock().expect("journal lock").pending() >= FOLD_AT => {
                        Duration::ZERO
                    }
                    Some(_) => fold_every().saturating_sub(last_fold.elapsed()),
                    None => RETENTION_EVERY,
                };
                let wait = cleanup_in.min(fold_in);
                if wait.is_zero() {
                    break;
                }
                queue = writing
                    .queued
                    .wait_timeout(queue, wait)
                    .expect("storage queue lock")
                    .0;
            }
            !queue.open && queue.jobs.is_empty()
        };
        let mut guard = writing.conn.lock().expect("storage writer lock");
        let Some(conn) = guard.as_mut() else { break };
        if closing {
            match fold(writing, conn) {
                Ok(_) => {
                    if let Some(journal) = &writing.journal {
                        journal.lock().expect("journal lock").close();
                    }
                }
                Err(e) => warn!(error = %e, "the moves journal could not be folded at close; \
                    it is read again at the next start"),
            }
            // Leave the database compact for the next start.
            if let Err(e) = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE") {
                warn!(error = %e, "final checkpoint failed");
            }
            *guard = None;
            break;
        }
        // Everything queued by now, including what came while a room committed on its own
        // thread or a checkpoint held the connection.
        let group: Vec<Job> = {
            let mut queue = writing.queue.lock().expect("storage queue lock");
            let n = queue.jobs.len().min(MAX_GROUP);
            queue.jobs.drain(..n).collect()
        };
        if !group.is_empty() {
            commit_and_answer(writing, conn, group);
        } else {
            // A fold that wrote (or failed) says how the store is; one with nothing to fold
            // says nothing (the last group's failure stands).
            match fold(writing, conn) {
                Ok(0) => {}
                Ok(_) => record_write_health(&writing.health, &[Ok(())]),
                Err(e) => record_write_health(&writing.health, &[Err(e)]),
            }
        }
        last_fold = Instant::now();
        if last_cleanup.is_none_or(|at| at.elapsed() >= RETENTION_EVERY) {
            last_cleanup = Some(Instant::now());
            match delete_expired(conn, retention) {
                Ok(0) => {}
                Ok(n) => info!(rows = n, "deleted finished games past their retention"),
                Err(e) => warn!(error = %e, "could not delete expired games"),
            }
        }
    }
    // Nothing can answer what is still queued (the connection is gone).
    let mut queue = writing.queue.lock().expect("storage queue lock");
    queue.open = false;
    for Job::Commit(_, respond) in queue.jobs.drain(..) {
        let _ = respond.send(Err(StorageError::Closed));
    }
}

/// How often, at least, the writer folds the moves journal into the database. Each fold is a
/// transaction and dirties pages the next checkpoint copies: at a people's pace a fold every
/// 10 s cost 7 µs per move less than one every second (docs/BENCHMARKS.md). The unit tests
/// fold more often, so that they can watch the writer do it.
fn fold_every() -> Duration {
    if cfg!(test) {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(10)
    }
}
/// A journal holding this many batches is folded at once. A fold writes a row and rewrites a
/// B-tree leaf of `moves` per room it holds moves of, whatever their number: at 1,000 busy
/// rooms a fold of 16,384 batches took ~7 % of a move's CPU off against one of 4,096
/// (docs/BENCHMARKS.md). At a people's pace the 10 s timer folds first. At full speed it holds
/// up a room's creation or closing (which folds first) for up to ~0.1 s, and keeps up to ~3 MB
/// of batches until it runs.
const FOLD_AT: usize = 16384;

/// Folds what the moves journal holds into the database, in one transaction, and deletes the
/// files it came from; returns how many batches it folded. The caller holds the connection.
/// If the transaction fails the batches stay pending (and in their files) and the error is
/// returned: no other write may commit before them.
fn fold(writing: &Writing, conn: &mut Connection) -> Result<usize, StorageError> {
    let Some(journal) = &writing.journal else {
        return Ok(0);
    };
    let Some(folding) = journal.lock().expect("journal lock").take()? else {
        return Ok(0);
    };
    if folding.batches.is_empty() {
        // A failed file was replaced; nothing was pending.
        journal.lock().expect("journal lock").folded(&folding)?;
        return Ok(0);
    }
    let started = Instant::now();
    let result = fold_batches(conn, &folding.batches);
    let folded = folding.batches.len();
    crate::metrics::group_commit(folded, started.elapsed());
    let mut journal = journal.lock().expect("journal lock");
    match result {
        Ok(()) => {
            journal.folded(&folding)?;
            Ok(folded)
        }
        Err(e) => {
            warn!(error = %e, batches = folding.batches.len(), "the moves journal could not be folded");
            journal.put_back(folding);
            Err(e)
        }
    }
}

/// Folds the journal (see [`fold`]), commits `group` (see [`commit_group`]), records the
/// store's health and answers each batch. If the fold fails, every batch of the group fails
/// with its error: nothing may be written after moves that are not yet in the database.
fn commit_and_answer(writing: &Writing, conn: &mut Connection, group: Vec<Job>) {
    let results = match fold(writing, conn) {
        Ok(_) => {
            let started = Instant::now();
            let results = commit_group(conn, &group);
            crate::metrics::group_commit(group.len(), started.elapsed());
            results
        }
        Err(e) => vec![Err(e); group.len()],
    };
    record_write_health(&writing.health, &results);
    if let Some(journal) = &writing.journal {
        let mut journal = journal.lock().expect("journal lock");
        for (Job::Commit(batch, _), result) in group.iter().zip(&results) {
            if result.is_ok() {
                journal.committed(batch);
            }
        }
    }
    let mut answers = results.into_iter();
    for Job::Commit(_, respond) in group {
        let _ = respond.send(answers.next().unwrap_or(Err(StorageError::Closed)));
    }
}

/// After a group commit (SQLite's or PostgreSQL's): the store's write health becomes the
/// first failure of the store itself (full, read-only, the database) among `results`, logged,
/// or none; a batch refused for its own content does not make the store unhealthy.
pub(crate) fn record_write_health(
    health: &Mutex<Option<StorageError>>,
    results: &[Result<(), StorageError>],
) {
    let failure = results.iter().find_map(|r| match r {
        Err(e @ (StorageError::Full | StorageError::ReadOnly | StorageError::Database(_))) => {
            Some(e.clone())
        }
        Ok(()) | Err(_) => None,
    });
    if let Some(why) = &failure {
        warn!(error = %why, batches = results.len(), "storage write failed");
    }
    *health.lock().expect("storage health lock") = failure;
}

/// Commits every batch of `group` in one transaction. If that fails, each batch is retried
/// in a transaction of its own, so one room's bad batch fails only that room.
fn commit_group(conn: &mut Connection, group: &[Job]) -> Vec<Result<(), StorageError>> {
    let now = unix_ms();
    let batches: Vec<(&Batch, i64)> = group
        .iter()
        .map(|Job::Commit(batch, _)| (batch, now))
        .collect();
    match commit_batches(conn, &batches) {
        Ok(()) => vec![Ok(()); batches.len()],
        Err(error) if batches.len() == 1 => vec![Err(error)],
        Err(_) => batches
            .iter()
            .map(|batch| commit_batches(conn, &[*batch]))
            .collect(),
    }
}

/// One transaction: each batch with the time its moves were made. `BEGIN` and `COMMIT` are
/// cached statements: `Connection::transaction` parses both anew every time, which was 4 % of
/// the server's CPU with a lone move at a people's pace (`sqlite3_prepare_v3` under
/// `execute_batch`). A failure rolls back.
fn commit_batches(conn: &mut Connection, batches: &[(&Batch, i64)]) -> Result<(), StorageError> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let written = batches
        .iter()
        .try_for_each(|(batch, at)| apply_batch(conn, batch, *at));
    finish(conn, written)
}

/// Ends the transaction `BEGIN` opened: commits it if everything in it was `written`, else (or
/// if the `COMMIT` fails) rolls it back. A failed statement, or a `COMMIT` that failed, can
/// leave the transaction open.
fn finish(conn: &Connection, written: Result<(), StorageError>) -> Result<(), StorageError> {
    let written =
        written.and_then(|()| Ok(conn.prepare_cached("COMMIT")?.execute([]).map(drop)?));
    if written.is_err() && !conn.is_autocommit() {
        let rolled_back = conn
            .prepare_cached("ROLLBACK")
            .and_then(|mut rollback| rollback.execute([]));
        if let Err(e) = rolled_back {
            warn!(error = %e, "could not roll a failed write back");
        }
    }
    written
}

/// A fold's transaction: the batches the journal took, each with the time it was appended.
/// Their moves need none of the checks a batch committed directly gets (the journal took
/// only moves continuing a stored game, or one a batch before them starts), so the moves of
/// move-only batches go in with a plain `INSERT`, in key order, one row per run (schema 3: a
/// room's moves of one game, one after another, with no other batch of that room between
/// them; a fold of 16,384 batches across 1,000 rooms writes ~1,000 rows, not 16,384); every
/// other batch is applied as a commit applies it. All in one transaction, so the order of the
/// rows within it changes nothing. A failure rolls back.
fn fold_batches(conn: &mut Connection, batches: &[(Batch, i64)]) -> Result<(), StorageError> {
    struct Row<'a> {
        code: &'a str,
        number: u32,
        seq: u32,
        /// How many batches of its room that were not moves only this fold applied before
        /// it: a run does not reach across one, whose clock and version it would hide.
        segment: u32,
        step: &'a Move,
        at_ms: i64,
        /// The batch's version and clock, on its last move.
        tail: Option<(u64, Option<String>)>,
    }
    let mut rows = Vec::new();
    let mut segments: HashMap<&str, u32> = HashMap::new();
    conn.prepare_cached("BEGIN")?.execute([])?;
    let mut written = Ok(());
    for (batch, at_ms) in batches {
        if !only_moves(batch) {
            written = apply_batch(conn, batch, *at_ms);
            if written.is_err() {
                break;
            }
            *segments.entry(batch.code.as_str()).or_default() += 1;
            continue;
        }
        let segment = if segments.is_empty() {
            0
        } else {
            segments.get(batch.code.as_str()).copied().unwrap_or(0)
        };
        let clock = batch.writes.iter().rev().find_map(|w| match w {
            Write::Clock(c) => Some(c),
            _ => None,
        });
        let clock = match clock.map(serde_json::to_string).transpose() {
            Ok(clock) => clock,
            Err(e) => {
                written = Err(e.into());
                break;
            }
        };
        let first = rows.len();
        for write in &batch.writes {
            if let Write::Moves {
                number,
                first_seq,
                moves,
            } = write
            {
                rows.extend(moves.iter().enumerate().map(|(i, step)| Row {
                    code: &batch.code,
                    number: *number,
                    seq: first_seq + i as u32,
                    segment,
                    step,
                    at_ms: *at_ms,
                    tail: None,
                }));
            }
        }
        if let Some(last) = rows.get_mut(first..).and_then(|added| added.last_mut()) {
            last.tail = Some((batch.version, clock));
        }
    }
    if written.is_ok() {
        rows.sort_unstable_by(|a, b| (a.code, a.number, a.seq).cmp(&(b.code, b.number, b.seq)));
        written = (|| {
            let mut insert = conn.prepare_cached(
                "INSERT INTO moves (code, number, seq, move, at_ms, version, clock) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            // One buffer for every row's JSON.
            let mut json = Vec::new();
            let mut rest = &rows[..];
            while let Some(first) = rest.first() {
                // A run: the moves of one game of one room, one after another, with no other
                // batch of that room between them.
                let len = 1 + rest
                    .windows(2)
                    .take_while(|pair| {
                        let (a, b) = (&pair[0], &pair[1]);
                        b.code == a.code
                            && b.number == a.number
                            && b.segment == a.segment
                            && b.seq == a.seq + 1
                    })
                    .count();
                let (run, after) = rest.split_at(len);
                rest = after;
                json.clear();
                if let [row] = run {
                    serde_json::to_writer(&mut json, row.step)?;
                } else {
                    let steps: Vec<&Move> = run.iter().map(|row| row.step).collect();
                    serde_json::to_writer(&mut json, &steps)?;
                }
                let steps = std::str::from_utf8(&json)
                    .map_err(|e| StorageError::Database(format!("a move's JSON: {e}")))?;
                // The run's last batch's version, and the last clock any of its batches set.
                let version = run
                    .iter()
                    .rev()
                    .find_map(|row| row.tail.as_ref().map(|t| t.0));
                let clock = run
                    .iter()
                    .rev()
                    .find_map(|row| row.tail.as_ref().and_then(|t| t.1.as_deref()));
                insert.execute(params![
                    first.code,
                    first.number,
                    first.seq,
                    steps,
                    run[len - 1].at_ms,
                    version.map(|v| v as i64),
                    clock,
                ])?;
            }
            Ok(())
        })();
    }
    finish(conn, written)
}

/// The moves a `moves` row holds, appended to `out`: one (a JSON object), or a run of them
/// from its `seq` on (a JSON array: a fold writes one row per run of a room's moves, schema 3).
/// Returns how many.
pub(crate) fn push_moves(out: &mut Vec<Move>, text: &str) -> Result<u32, StorageError> {
    if text.starts_with('[') {
        let run: Vec<Move> = serde_json::from_str(text)?;
        let n = run.len() as u32;
        out.extend(run);
        Ok(n)
    } else {
        out.push(serde_json::from_str(text)?);
        Ok(1)
    }
}

/// How many moves a `moves` row holds (see [`push_moves`]).
fn moves_in_row(text: &str) -> Result<u32, StorageError> {
    if text.starts_with('[') {
        Ok(serde_json::from_str::<Vec<serde::de::IgnoredAny>>(text)?.len() as u32)
    } else {
        Ok(1)
    }
}

/// The last row of game `number` of room `code` whose first move is below `before`: its
/// first move's number and how many it holds.
fn last_row_below(
    conn: &Connection,
    code: &str,
    number: u32,
    before: u32,
) -> Result<Option<(u32, u32)>, StorageError> {
    let row: Option<(u32, String)> = conn
        .prepare_cached(
            "SELECT seq, move FROM moves WHERE code = ?1 AND number = ?2 AND seq < ?3 \
             ORDER BY seq DESC LIMIT 1",
        )?
        .query_row(params![code, number, before], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    row.map(|(seq, text)| Ok((seq, moves_in_row(&text)?)))
        .transpose()
}

/// The sequence number after the last move stored of game `number` of room `code` (0: none).
fn next_seq(conn: &Connection, code: &str, number: u32) -> Result<u32, StorageError> {
    Ok(last_row_below(conn, code, number, u32::MAX)?.map_or(0, |(seq, n)| seq + n))
}

/// Refuses moves `first_seq..first_seq + n` of game `number` of room `code` where a stored
/// row holds any of them, as the primary key refuses a repeated move: a row a fold wrote
/// holds a run, whose later moves the key does not see.
fn refuse_stored_moves(
    tx: &Connection,
    code: &str,
    number: u32,
    first_seq: u32,
    n: usize,
) -> Result<(), StorageError> {
    // Rows do not overlap: the last one starting before the range's end is the only one that
    // can reach into it.
    match last_row_below(tx, code, number, first_seq + n as u32)? {
        Some((seq, held)) if seq + held > first_seq => Err(StorageError::Conflict),
        Some(_) | None => Ok(()),
    }
}

/// Whether `batch` only adds moves (and perhaps sets the turn clock): such a batch, the one
/// almost every input of a game makes, leaves the `rooms` row alone and keeps the room's
/// version and clock in its last move's row, so that a move dirties one page, not two.
pub(crate) fn only_moves(batch: &Batch) -> bool {
    batch
        .writes
        .iter()
        .any(|w| matches!(w, Write::Moves { moves, .. } if !moves.is_empty()))
        && batch
            .writes
            .iter()
            .all(|w| matches!(w, Write::Moves { .. } | Write::Clock(_)))
}

fn apply_moves_only(tx: &Connection, batch: &Batch, now: i64) -> Result<(), StorageError> {
    let code = batch.code.as_str();
    let clock = batch.writes.iter().rev().find_map(|w| match w {
        Write::Clock(c) => Some(c),
        _ => None,
    });
    let clock = clock.map(serde_json::to_string).transpose()?;
    let last = batch
        .writes
        .iter()
        .rposition(|w| matches!(w, Write::Moves { moves, .. } if !moves.is_empty()));
    for (w, write) in batch.writes.iter().enumerate() {
        let Write::Moves {
            number,
            first_seq,
            moves,
        } = write
        else {
            continue;
        };
        refuse_stored_moves(tx, code, *number, *first_seq, moves.len())?;
        // Only into a game the room has stored: the check the `rooms` update made before.
        let mut insert = tx.prepare_cached(
            "INSERT INTO moves (code, number, seq, move, at_ms, version, clock) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 \
             WHERE EXISTS (SELECT 1 FROM games WHERE code = ?1 AND number = ?2)",
        )?;
        for (i, m) in moves.iter().enumerate() {
            let tail = Some(w) == last && i + 1 == moves.len();
            let inserted = insert.execute(params![
                code,
                number,
                first_seq + i as u32,
                serde_json::to_string(m)?,
                now,
                tail.then_some(batch.version as i64),
                if tail { clock.as_deref() } else { None },
            ])?;
            if inserted == 0 {
                return Err(StorageError::Database(format!(
                    "no stored game {number} in room {code}"
                )));
            }
        }
    }
    Ok(())
}

fn apply_batch(tx: &Connection, batch: &Batch, now: i64) -> Result<(), StorageError> {
    if only_moves(batch) {
        return apply_moves_only(tx, batch, now);
    }
    let code = batch.code.as_str();
    // The clock goes into the rooms row with the version, in the one UPDATE every batch makes.
    let mut clock: Option<Option<String>> = None;
    // A room that closes without a game ever started leaves nothing worth keeping: its row
    // goes at once rather than after the retention period.
    let mut deleted = false;
    for write in &batch.writes {
        match write {
            Write::CreateRoom(lobby) => {
                tx.prepare_cached(
                    "INSERT INTO rooms (code, created_ms, updated_ms, version, lobby) \
                     VALUES (?1, ?2, ?2, ?3, ?4)",
                )?
                .execute(params![
                    code,
                    now,
                    batch.version as i64,
                    serde_json::to_string(lobby)?
                ])?;
            }
            Write::Lobby(lobby) => {
                tx.prepare_cached("UPDATE rooms SET lobby = ?2 WHERE code = ?1")?
                    .execute(params![code, serde_json::to_string(lobby)?])?;
            }
            Write::GameStarted(start) => {
                tx.prepare_cached(
                    "INSERT INTO games (code, number, config, names, seed, started_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    code,
                    start.number,
                    serde_json::to_string(&start.config)?,
                    serde_json::to_string(&start.names)?,
                    start.seed,
                    start.started_ms
                ])?;
            }
            Write::Moves {
                number,
                first_seq,
                moves,
            } => {
                refuse_stored_moves(tx, code, *number, *first_seq, moves.len())?;
                let mut insert = tx.prepare_cached(
                    "INSERT INTO moves (code, number, seq, move, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for (i, m) in moves.iter().enumerate() {
                    insert.execute(params![
                        code,
                        number,
                        first_seq + i as u32,
                        serde_json::to_string(m)?,
                        now
                    ])?;
                }
            }
            Write::GameOver { number, results } => {
                tx.prepare_cached(
                    "UPDATE games SET finished_ms = ?3, results = ?4 WHERE code = ?1 AND number = ?2",
                )?
                .execute(params![code, number, now, serde_json::to_string(results)?])?;
            }
            Write::Clock(next) => {
                clock = Some(next.map(|c| serde_json::to_string(&c)).transpose()?);
            }
            Write::Closed => {
                deleted = tx
                    .prepare_cached(
                        "DELETE FROM rooms WHERE code = ?1 \
                         AND NOT EXISTS (SELECT 1 FROM games WHERE games.code = ?1)",
                    )?
                    .execute(params![code])?
                    > 0;
                if !deleted {
                    tx.prepare_cached("UPDATE rooms SET closed_ms = ?2 WHERE code = ?1")?
                        .execute(params![code, now])?;
                }
            }
        }
    }
    if deleted {
        return Ok(());
    }
    let updated = tx
        .prepare_cached(
            "UPDATE rooms SET version = ?2, updated_ms = ?3, \
             clock = CASE WHEN ?4 THEN ?5 ELSE clock END, \
             clock_version = CASE WHEN ?4 THEN ?2 ELSE clock_version END WHERE code = ?1",
        )?
        .execute(params![
            code,
            batch.version as i64,
            now,
            clock.is_some(),
            clock.flatten()
        ])?;
    if updated == 0 {
        return Err(StorageError::Database(format!("no stored room {code}")));
    }
    Ok(())
}

/// Deletes finished games, and rooms closed, longer ago than `retention`. Returns the rows.
fn delete_expired(conn: &Connection, retention: Duration) -> Result<usize, StorageError> {
    let cut = unix_ms() - retention.as_millis() as i64;
    let mut rows = 0;
    rows += conn.execute(
        "DELETE FROM moves WHERE (code, number) IN \
         (SELECT code, number FROM games WHERE finished_ms < ?1)",
        [cut],
    )?;
    rows += conn.execute("DELETE FROM games WHERE finished_ms < ?1", [cut])?;
    rows += conn.execute(
        "DELETE FROM moves WHERE code IN (SELECT code FROM rooms WHERE closed_ms < ?1)",
        [cut],
    )?;
    rows += conn.execute(
        "DELETE FROM games WHERE code IN (SELECT code FROM rooms WHERE closed_ms < ?1)",
        [cut],
    )?;
    rows += conn.execute("DELETE FROM rooms WHERE closed_ms < ?1", [cut])?;
    Ok(rows)
}

fn load_moves(conn: &Connection, code: &str, number: u32) -> Result<Vec<Move>, StorageError> {
    let mut stmt =
        conn.prepare_cached("SELECT move FROM moves WHERE code = ?1 AND number = ?2 ORDER BY seq")?;
    let rows = stmt.query_map(params![code, number], |row| row.get::<_, String>(0))?;
    let mut moves = Vec::new();
    for row in rows {
        push_moves(&mut moves, &row?)?;
    }
    Ok(moves)
}

/// A room's version and clock (as stored JSON) as of its last write, from its `rooms` row's
/// `version` and `clock` and, in a database of schema 2, its latest game's moves (see
/// [`room_tail`]). For copying a database as it is, read only.
pub(crate) fn stored_tail(
    conn: &Connection,
    code: &str,
    version: i64,
    clock: Option<&str>,
) -> Result<(i64, Option<String>), StorageError> {
    let schema: String =
        conn.query_row("SELECT value FROM meta WHERE key = 'schema'", [], |row| {
            row.get(0)
        })?;
    if schema == "1" {
        return Ok((version, clock.map(str::to_owned)));
    }
    let clock_version: i64 = conn
        .prepare_cached("SELECT clock_version FROM rooms WHERE code = ?1")?
        .query_row([code], |row| row.get(0))?;
    let mut stmt = conn.prepare_cached(
        "SELECT version, clock FROM moves WHERE code = ?1 AND version IS NOT NULL \
         AND number = (SELECT max(number) FROM games WHERE code = ?1) ORDER BY seq",
    )?;
    let tails: MoveTails = stmt
        .query_map([code], |row| {
            Ok((
                row.get::<_, Option<i64>>(0)?.map(|v| v as u64),
                row.get::<_, Option<String>>(1)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let stored: Option<ClockImage> = clock.map(serde_json::from_str).transpose()?;
    let (version, clock) = room_tail(
        version as u64,
        stored,
        clock_version as u64,
        tails.iter().map(|(v, c)| (*v, c.as_deref())),
    )?;
    Ok((
        version as i64,
        clock.map(|c| serde_json::to_string(&c)).transpose()?,
    ))
}

/// A game's moves, and each one's version and clock (see [`room_tail`]).
type MoveTails = Vec<(Option<u64>, Option<String>)>;

fn load_moves_with_tails(
    conn: &Connection,
    code: &str,
    number: u32,
) -> Result<(Vec<Move>, MoveTails), StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT move, version, clock FROM moves WHERE code = ?1 AND number = ?2 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![code, number], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, Option<i64>>(1)?,
            row.get::<_, Option<String>>(2)?,
        ))
    })?;
    let (mut moves, mut tails) = (Vec::new(), Vec::new());
    for row in rows {
        let (m, version, clock) = row?;
        push_moves(&mut moves, &m)?;
        if version.is_some() {
            tails.push((version.map(|v| v as u64), clock));
        }
    }
    Ok((moves, tails))
}

struct GameRow {
    start: GameStart,
    finished_ms: Option<i64>,
    results: Option<GameResults>,
}

fn load_game(
    conn: &Connection,
    code: &str,
    number: Option<u32>,
) -> Result<Option<GameRow>, StorageError> {
    let sql = "SELECT number, config, names, seed, started_ms, finished_ms, results FROM games \
               WHERE code = ?1 AND (?2 IS NULL OR number = ?2) ORDER BY number DESC LIMIT 1";
    let row = conn
        .prepare_cached(sql)?
        .query_row(params![code, number], |row| {
            Ok((
                row.get::<_, u32>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, Option<i64>>(5)?,
                row.get::<_, Option<String>>(6)?,
            ))
        })
        .optional()?;
    let Some((number, config, names, seed, started_ms, finished_ms, results)) = row else {
        return Ok(None);
    };
    Ok(Some(GameRow {
        start: GameStart {
            number,
            config: serde_json::from_str(&config)?,
            names: serde_json::from_str(&names)?,
            seed,
            started_ms,
        },
        finished_ms,
        results: results.map(|r| serde_json::from_str(&r)).transpose()?,
    }))
}

impl Store for SqliteStore {
    fn commit(&self, batch: Batch) -> oneshot::Receiver<Result<(), StorageError>> {
        let (respond, rx) = oneshot::channel();
        let writing = &*self.writing;
        let mut queue = writing.queue.lock().expect("storage queue lock");
        if !queue.open {
            let _ = respond.send(Err(StorageError::Closed));
            return rx;
        }
        // A batch continuing what is stored of its room (nearly all: moves, a game's end and
        // the next one's start, lobby changes): one append to the journal, acknowledged at
        // once (the queue stays locked so that `close` cannot fold before the append).
        let mut journaled = 0;
        let batch = match &writing.journal {
            Some(journal) => {
                let mut journal = journal.lock().expect("journal lock");
                journaled = journal.pending();
                match journal.append(batch, unix_ms()) {
                    Ok(()) => {
                        let fold_now = journal.pending() == FOLD_AT;
                        drop(journal);
                        drop(queue);
                        if fold_now {
                            writing.queued.notify_one();
                        }
                        let _ = respond.send(Ok(()));
                        return rx;
                    }
                    Err(batch) => batch,
                }
            }
            None => batch,
        };
        // Nothing queued, nothing journaled and nobody writing: commit here, without waking
        // the writer thread and being woken by it. (The writer thread locks the connection,
        // then the queue; this holds the queue and only tries the connection, so neither
        // waits for the other.) With moves journaled this commit would fold them first, up
        // to 16,384 batches and milliseconds: that is the writer thread's work, not a runtime
        // worker's, where it would hold up every other room on that worker.
        if writing.inline
            && queue.jobs.is_empty()
            && journaled == 0
            && let Ok(mut guard) = writing.conn.try_lock()
            && let Some(conn) = guard.as_mut()
        {
            drop(queue);
            commit_and_answer(writing, conn, vec![Job::Commit(batch, respond)]);
            return rx;
        }
        queue.jobs.push(Job::Commit(batch, respond));
        drop(queue);
        writing.queued.notify_one();
        rx
    }

    fn load_rooms(&self) -> Result<Vec<RoomImage>, StorageError> {
        // What the journal holds, into the database first, so that the reader sees it.
        self.fold_now()?;
        let conn = self.reader.lock().expect("storage reader lock");
        let mut stmt = conn.prepare(
            "SELECT code, version, lobby, clock, clock_version FROM rooms \
             WHERE closed_ms IS NULL ORDER BY code",
        )?;
        type Row = (String, i64, String, Option<String>, i64);
        let rows: Vec<Row> = stmt
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        let mut rooms = Vec::with_capacity(rows.len());
        for (code, version, lobby, clock, clock_version) in rows {
            let clock = clock.map(|c| serde_json::from_str(&c)).transpose()?;
            let (game, tail) = match load_game(&conn, &code, None)? {
                Some(row) => {
                    let (moves, tails) = load_moves_with_tails(&conn, &code, row.start.number)?;
                    let game = GameImage {
                        moves,
                        start: row.start,
                        results: row.results,
                    };
                    (Some(game), tails)
                }
                None => (None, Vec::new()),
            };
            let (version, clock) = room_tail(
                version as u64,
                clock,
                clock_version as u64,
                tail.iter().map(|(v, c)| (*v, c.as_deref())),
            )?;
            rooms.push(RoomImage {
                lobby: serde_json::from_str(&lobby)?,
                clock,
                version,
                game,
                code,
                epoch: FIRST_EPOCH,
            });
        }
        Ok(rooms)
    }

    fn game_record(&self, code: &str, game: u32) -> Result<Option<GameRecord>, StorageError> {
        // A game that just ended may still be in the journal: the room's batches into the
        // database first.
        let journaled = self
            .writing
            .journal
            .as_ref()
            .is_some_and(|journal| journal.lock().expect("journal lock").holds(code));
        if journaled {
            self.fold_now()?;
        }
        let conn = self.reader.lock().expect("storage reader lock");
        let Some(row) = load_game(&conn, code, Some(game))? else {
            return Ok(None);
        };
        let (Some(finished_ms), Some(results)) = (row.finished_ms, row.results) else {
            return Ok(None);
        };
        let moves = load_moves(&conn, code, game)?;
        GameRecord::new(code, row.start, moves, results, finished_ms)
            .map(Some)
            .map_err(StorageError::Corrupt)
    }

    fn health(&self) -> Result<(), StorageError> {
        match &*self.writing.health.lock().expect("storage health lock") {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    fn close(&self) {
        self.stop_checkpoints
            .lock()
            .expect("storage checkpointer lock")
            .take();
        if let Some(thread) = self
            .checkpointer
            .lock()
            .expect("storage checkpointer lock")
            .take()
        {
            let _ = thread.join();
        }
        // The writer commits what is queued, then stops.
        self.writing.queue.lock().expect("storage queue lock").open = false;
        self.writing.queued.notify_one();
        if let Some(thread) = self.writer.lock().expect("storage writer lock").take()
            && thread.join().is_err()
        {
            warn!("the storage writer panicked");
        }
    }
}

/// Makes a consistent copy of the database at `from` (which a server may be using) at `to`.
pub fn backup(from: &Path, to: &Path) -> Result<(), StorageError> {
    if to.exists() {
        return Err(StorageError::Database(format!(
            "{} exists; a backup never overwrites",
            to.display()
        )));
    }
    if !from.exists() {
        return Err(StorageError::Database(format!(
            "no database at {}",
            from.display()
        )));
    }
    // The journal first: a move is in the database or, until its fold, in the journal; read
    // in this order, the copy holds every move acknowledged before the backup began.
    let journaled = journal::read_all(from)?;
    let conn = Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute("VACUUM INTO ?1", [to.to_string_lossy()])?;
    drop(conn);
    if !journaled.is_empty() {
        let mut copy = Connection::open(to)?;
        apply_journaled(&mut copy, journaled)?;
    }
    Ok(())
}

/// Moves a run of the server journaled and did not fold (it was killed), into the database
/// at `db`; their files are removed once committed. Returns the last generation found.
fn recover_journal(conn: &mut Connection, db: &Path) -> Result<Option<u64>, StorageError> {
    let generations = journal::generations(db)?;
    let Some(&last) = generations.last() else {
        return Ok(None);
    };
    let entries = journal::read_all(db)?;
    let (applied, skipped) = apply_journaled(conn, entries)?;
    if applied + skipped > 0 {
        info!(
            applied,
            skipped,
            files = generations.len(),
            "moves journal recovered"
        );
    }
    journal::remove_upto(db, last)?;
    Ok(Some(last))
}

/// Applies journaled batches, in one transaction, in the order they were appended. A batch
/// whose version is not above what the database holds of its room was folded before the
/// server stopped (its files not yet removed) and is skipped. Any other batch is applied if
/// it continues what the database holds by the same checks the journal made when it took it
/// ([`journal::continues`], on the room's tail as stored); one that does not, a record lost
/// before it (a torn write), is skipped with every later batch of its room, so a room is
/// restored as it stood at its last record that applied. Returns (applied, skipped).
fn apply_journaled(
    conn: &mut Connection,
    entries: Vec<journal::Entry>,
) -> Result<(usize, usize), StorageError> {
    let (mut applied, mut skipped) = (0, 0);
    let tx = conn.transaction()?;
    // Each room's last stored version and tail, or `None` when its records stopped applying
    // (or it is not stored).
    let mut rooms: HashMap<String, Option<(u64, journal::Tail)>> = HashMap::new();
    for entry in entries {
        let (batch, at_ms) = entry.batch();
        let stored = match rooms.get(&batch.code) {
            Some(stored) => *stored,
            None => {
                let stored = stored_tail_of(&tx, &batch.code)?;
                if stored.is_none() {
                    warn!(room = %batch.code, "a journaled batch of a room not stored: skipped");
                }
                rooms.insert(batch.code.clone(), stored);
                stored
            }
        };
        let Some((version, tail)) = stored else {
            skipped += 1;
            continue;
        };
        if batch.version <= version {
            skipped += 1;
            continue;
        }
        let next = match journal::continues(tail, &batch) {
            Some(next) => {
                tx.prepare_cached("SAVEPOINT journaled")?.execute([])?;
                let result = apply_batch(&tx, &batch, at_ms);
                if result.is_err() {
                    tx.prepare_cached("ROLLBACK TO journaled")?.execute([])?;
                }
                tx.prepare_cached("RELEASE journaled")?.execute([])?;
                result.ok().map(|()| next)
            }
            None => None,
        };
        if next.is_some() {
            applied += 1;
        } else {
            warn!(room = %batch.code, version = batch.version, stored_version = version,
                "a journaled batch continues nothing stored: skipped, with the room's later ones");
            skipped += 1;
        }
        rooms.insert(batch.code.clone(), next.map(|tail| (batch.version, tail)));
    }
    tx.commit()?;
    Ok((applied, skipped))
}

/// What the database holds of room `code`: the version of its last batch (kept in its
/// `rooms` row, or in the last move of a move-only batch) and its tail (its last game, and
/// that game's next move if it is not over), or `None` if the room is not stored.
fn stored_tail_of(
    conn: &Connection,
    code: &str,
) -> Result<Option<(u64, journal::Tail)>, StorageError> {
    let version: Option<i64> = conn
        .prepare_cached(
            "SELECT max(version, coalesce((SELECT max(version) FROM moves WHERE code = ?1), 0)) \
             FROM rooms WHERE code = ?1",
        )?
        .query_row(params![code], |row| row.get(0))
        .optional()?;
    let Some(version) = version else {
        return Ok(None);
    };
    let last: Option<(u32, bool)> = conn
        .prepare_cached(
            "SELECT number, finished_ms IS NOT NULL \
             FROM games WHERE code = ?1 ORDER BY number DESC LIMIT 1",
        )?
        .query_row(params![code], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let tail = match last {
        None => journal::Tail::stored(0, None),
        Some((number, true)) => journal::Tail::stored(number, None),
        Some((number, false)) => {
            journal::Tail::stored(number, Some((number, next_seq(conn, code, number)?)))
        }
    };
    Ok(Some((version as u64, tail)))
}

/// Rooms kept in memory: for tests (restarts without a disk, injected failures).
#[derive(Debug, Default)]
pub struct MemoryStore {
    rooms: Mutex<std::collections::BTreeMap<String, MemoryRoom>>,
    /// While set, every commit fails with [`StorageError::Full`].
    pub fail: AtomicBool,
    /// While set, every commit is refused with [`StorageError::Fenced`] (another node took
    /// the rooms over).
    pub fenced: AtomicBool,
    commits: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Clone)]
struct MemoryRoom {
    image: RoomImage,
    closed: bool,
    finished: Vec<(GameImage, i64)>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Batches committed so far.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// A stored room's image, closed or not.
    pub fn room(&self, code: &str) -> Option<RoomImage> {
        let rooms = self.rooms.lock().expect("memory store lock");
        rooms.get(code).map(|r| r.image.clone())
    }

    fn apply(&self, batch: Batch) -> Result<(), StorageError> {
        if self.fail.load(Ordering::Relaxed) {
            return Err(StorageError::Full);
        }
        if self.fenced.load(Ordering::Relaxed) {
            return Err(StorageError::Fenced);
        }
        let mut rooms = self.rooms.lock().expect("memory store lock");
        let mut room = match rooms.get(&batch.code) {
            Some(room) => room.clone(),
            None => match batch.writes.first() {
                Some(Write::CreateRoom(lobby)) => MemoryRoom {
                    image: RoomImage {
                        code: batch.code.clone(),
                        version: batch.version,
                        lobby: lobby.clone(),
                        game: None,
                        clock: None,
                        epoch: FIRST_EPOCH,
                    },
                    closed: false,
                    finished: Vec::new(),
                },
                _ => return Err(StorageError::Database(format!("no room {}", batch.code))),
            },
        };
        for write in batch.writes {
            match &write {
                Write::CreateRoom(_) if rooms.contains_key(&batch.code) => {
                    return Err(StorageError::Conflict);
                }
                Write::Moves {
                    number, first_seq, ..
                } => {
                    let fits = room.image.game.as_ref().is_some_and(|game| {
                        game.start.number == *number && game.moves.len() == *first_seq as usize
                    });
                    if !fits {
                        return Err(StorageError::Conflict);
                    }
                }
                Write::Closed => room.closed = true,
                _ => {}
            }
            let over = matches!(write, Write::GameOver { .. });
            room.image.apply(write);
            if over && let Some(game) = &room.image.game {
                room.finished.push((game.clone(), unix_ms()));
            }
        }
        room.image.version = batch.version;
        rooms.insert(batch.code, room);
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl Store for MemoryStore {
    fn commit(&self, batch: Batch) -> oneshot::Receiver<Result<(), StorageError>> {
        let (respond, rx) = oneshot::channel();
        let _ = respond.send(self.apply(batch));
        rx
    }

    fn load_rooms(&self) -> Result<Vec<RoomImage>, StorageError> {
        let rooms = self.rooms.lock().expect("memory store lock");
        Ok(rooms
            .values()
            .filter(|r| !r.closed)
            .map(|r| r.image.clone())
            .collect())
    }

    fn game_record(&self, code: &str, game: u32) -> Result<Option<GameRecord>, StorageError> {
        let rooms = self.rooms.lock().expect("memory store lock");
        let Some(room) = rooms.get(code) else {
            return Ok(None);
        };
        room.finished
            .iter()
            .find(|(g, _)| g.start.number == game)
            .and_then(|(g, at)| {
                g.results.clone().map(|results| {
                    GameRecord::new(code, g.start.clone(), g.moves.clone(), results, *at)
                        .map_err(StorageError::Corrupt)
                })
            })
            .transpose()
    }

    fn health(&self) -> Result<(), StorageError> {
        if self.fail.load(Ordering::Relaxed) {
            Err(StorageError::Full)
        } else {
            Ok(())
        }
    }

    fn close(&self) {}
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    pub(super) fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "perudo-store-{name}-{}-{}",
            std::process::id(),
            unix_ms()
        ));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        dir
    }

    pub(super) fn options(path: PathBuf) -> SqliteOptions {
        SqliteOptions {
            path,
            sync: SyncMode::Normal,
            retention: Duration::from_secs(3600),
            max_pages: None,
        }
    }

    fn lobby_of(name: &str) -> LobbyImage {
        LobbyImage {
            rules: GameConfig::default(),
            options: RoomOptions::default(),
            seats: vec![SeatImage {
                name: name.into(),
                kind: SeatImageKind::Human {
                    token_hash: [7; 32],
                    left: false,
                },
            }],
            host: Some(0),
            games_played: 0,
            results: None,
        }
    }

    /// With nothing queued and nobody writing, a batch is committed on the caller's thread:
    /// its answer is there when `commit` returns (through the writer thread it would come a
    /// thread wake-up later). Every such answer is a real commit: the rooms restore.
    #[test]
    fn a_lone_batch_is_committed_on_the_callers_thread() {
        let path = scratch("inline").join("perudo.db");
        let store = SqliteStore::open(options(path.clone())).expect("a fresh database opens");
        let rooms = 20;
        let mut answered_at_once = 0;
        for i in 0..rooms {
            let mut answer = store.commit(Batch {
                code: format!("L{i:08}"),
                version: 1,
                epoch: FIRST_EPOCH,
                writes: vec![Write::CreateRoom(lobby_of("Ana"))],
            });
            match answer.try_recv() {
                Ok(result) => {
                    answered_at_once += 1;
                    assert_eq!(result, Ok(()));
                }
                Err(_) => assert_eq!(answer.blocking_recv().expect("an answer"), Ok(())),
            }
        }
        // The writer thread holds the connection for a moment at start (the retention
        // cleanup): the first commits may queue behind it.
        assert!(
            answered_at_once >= rooms / 2,
            "only {answered_at_once} of {rooms} lone batches were committed at once"
        );
        store.close();
        let store = SqliteStore::open(options(path)).expect("reopens");
        assert_eq!(store.load_rooms().expect("loads").len(), rooms);
        store.close();
    }

    #[test]
    fn a_database_from_a_newer_release_is_refused_and_left_as_it_was() {
        let dir = scratch("newer");
        let path = dir.join("perudo.db");
        let store = SqliteStore::open(options(path.clone())).expect("a fresh database opens");
        store.close();
        let conn = Connection::open(&path).expect("open with sqlite");
        let newer = SCHEMA_VERSION + 1;
        conn.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'schema'",
            [newer.to_string()],
        )
        .expect("pretend a newer release wrote it");
        drop(conn);

        let error = SqliteStore::open(options(path.clone())).expect_err("a newer schema");
        assert_eq!(
            error,
            StorageError::NewerSchema {
                found: newer,
                known: SCHEMA_VERSION
            }
        );
        assert!(error.to_string().contains("newer release"), "{error}");
        let conn = Connection::open(&path).expect("open with sqlite");
        let kept: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .expect("meta.schema");
        assert_eq!(kept, newer.to_string(), "nothing was written");
        drop(conn);

        // Schema 2 (the same tables: rows of runs come with the next fold) opens, and is
        // schema 3 from then on, which the release before this one refuses.
        let conn = Connection::open(&path).expect("open with sqlite");
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema'", [])
            .expect("back to version 2");
        drop(conn);
        SqliteStore::open(options(path.clone()))
            .expect("schema 2 opens")
            .close();
        let conn = Connection::open(&path).expect("open with sqlite");
        let migrated: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .expect("meta.schema");
        assert_eq!(migrated, "3");
        let _ = std::fs::remove_dir_all(dir);
    }
    /// Schema 1, as the release before schema 2 created it.
    const SCHEMA_1: &str = "
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE rooms (code TEXT PRIMARY KEY, created_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL, version INTEGER NOT NULL, lobby TEXT NOT NULL,
            clock TEXT, closed_ms INTEGER);
        CREATE TABLE games (code TEXT NOT NULL, number INTEGER NOT NULL, config TEXT NOT NULL,
            names TEXT NOT NULL, seed TEXT NOT NULL, started_ms INTEGER NOT NULL,
            finished_ms INTEGER, results TEXT, PRIMARY KEY (code, number));
        CREATE TABLE moves (code TEXT NOT NULL, number INTEGER NOT NULL, seq INTEGER NOT NULL,
            move TEXT NOT NULL, at_ms INTEGER NOT NULL, PRIMARY KEY (code, number, seq))
            WITHOUT ROWID;
        INSERT INTO meta (key, value) VALUES ('schema', '1');
    ";

    #[test]
    fn a_database_of_schema_1_is_migrated_and_restores_the_same_rooms() {
        use perudo_core::{Bot, Game, Seed, play_to_end};
        let dir = scratch("schema1");
        let path = dir.join("perudo.db");
        let seed = "07".repeat(32);
        let mut game = Game::new(
            GameConfig::default(),
            2,
            Seed::from_hex(&seed).expect("a seed"),
        )
        .expect("a game");
        let mut bots = [Bot::new(BotLevel::Normal, 1), Bot::new(BotLevel::Normal, 2)];
        play_to_end(&mut game, &mut bots, |_| {});
        let played = game.history().to_vec();
        let lobby = LobbyImage {
            rules: GameConfig::default(),
            options: RoomOptions::default(),
            seats: ["Ana", "Bea"]
                .iter()
                .enumerate()
                .map(|(i, name)| SeatImage {
                    name: (*name).into(),
                    kind: SeatImageKind::Human {
                        token_hash: [i as u8; 32],
                        left: false,
                    },
                })
                .collect(),
            host: Some(0),
            games_played: 0,
            results: None,
        };
        let start = GameStart {
            number: 1,
            config: GameConfig::default(),
            names: vec!["Ana".into(), "Bea".into()],
            seed: seed.clone(),
            started_ms: 1_767_225_600_000,
        };
        let clock = ClockImage {
            seat: 1,
            limit_at_ms: 1_767_225_700_000,
        };
        // What the previous release wrote: a room at version 9 with its clock, in a game
        // with three moves (the rooms row rewritten by each of them).
        let conn = Connection::open(&path).expect("open with sqlite");
        conn.execute_batch(SCHEMA_1).expect("schema 1");
        conn.execute(
            "INSERT INTO rooms (code, created_ms, updated_ms, version, lobby, clock) \
             VALUES ('AAAAAAAAA', 1, 2, 9, ?1, ?2)",
            params![
                serde_json::to_string(&lobby).expect("encodes"),
                serde_json::to_string(&clock).expect("encodes")
            ],
        )
        .expect("a room");
        conn.execute(
            "INSERT INTO games (code, number, config, names, seed, started_ms) \
             VALUES ('AAAAAAAAA', 1, ?1, ?2, ?3, ?4)",
            params![
                serde_json::to_string(&start.config).expect("encodes"),
                serde_json::to_string(&start.names).expect("encodes"),
                start.seed,
                start.started_ms
            ],
        )
        .expect("a game");
        for (seq, m) in played[..3].iter().enumerate() {
            conn.execute(
                "INSERT INTO moves (code, number, seq, move, at_ms) \
                 VALUES ('AAAAAAAAA', 1, ?1, ?2, 3)",
                params![seq as i64, serde_json::to_string(m).expect("encodes")],
            )
            .expect("a move");
        }
        drop(conn);

        let mut expected = RoomImage {
            code: "AAAAAAAAA".into(),
            version: 9,
            lobby,
            game: Some(GameImage {
                start,
                moves: played[..3].to_vec(),
                results: None,
            }),
            clock: Some(clock),
            epoch: FIRST_EPOCH,
        };
        let store = SqliteStore::open(options(path.clone())).expect("schema 1 opens");
        assert_eq!(store.load_rooms(), Ok(vec![expected.clone()]));
        // The room goes on under schema 2: a move with a new clock (kept with the move), then
        // a move that leaves the clock as it was.
        let next = ClockImage {
            seat: 0,
            limit_at_ms: 1_767_225_800_000,
        };
        for (version, writes) in [
            (
                10,
                vec![
                    Write::Moves {
                        number: 1,
                        first_seq: 3,
                        moves: vec![played[3]],
                    },
                    Write::Clock(Some(next)),
                ],
            ),
            (
                11,
                vec![Write::Moves {
                    number: 1,
                    first_seq: 4,
                    moves: vec![played[4]],
                }],
            ),
        ] {
            let batch = Batch {
                code: expected.code.clone(),
                version,
                epoch: FIRST_EPOCH,
                writes: writes.clone(),
            };
            store
                .commit(batch)
                .blocking_recv()
                .expect("an answer")
                .expect("committed");
            expected.version = version;
            for write in writes {
                expected.apply(write);
            }
        }
        store.close();
        drop(store);
        let conn = Connection::open(&path).expect("open with sqlite");
        let (schema, room_version): (String, i64) = conn
            .query_row(
                "SELECT (SELECT value FROM meta WHERE key = 'schema'), version FROM rooms",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("reads");
        assert_eq!(schema, SCHEMA_VERSION.to_string());
        assert_eq!(room_version, 9, "moves leave the rooms row alone");
        drop(conn);
        let store = SqliteStore::open(options(path)).expect("schema 2 opens");
        assert_eq!(store.load_rooms(), Ok(vec![expected]));
        store.close();
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The moves journal as the store uses it: what it takes, when it reaches the database, and
/// what a killed server's files give back.
#[cfg(test)]
mod journal_tests {
    use super::schema_tests::{options, scratch};
    use super::*;
    use perudo_core::Seat;

    fn lobby() -> LobbyImage {
        LobbyImage {
            rules: GameConfig::default(),
            options: RoomOptions::default(),
            seats: Vec::new(),
            host: None,
            games_played: 0,
            results: None,
        }
    }

    fn start() -> GameStart {
        GameStart {
            number: 1,
            config: GameConfig::default(),
            names: vec!["Ana".into(), "Bea".into()],
            seed: "00".repeat(32),
            started_ms: 1,
        }
    }

    /// Move `seq` of the test game: any move will do for the store.
    fn mv(seq: u32) -> Move {
        Move::Forfeit {
            seat: Seat::new((seq % 2) as u8).expect("a seat"),
        }
    }

    fn batch(code: &str, version: u64, writes: Vec<Write>) -> Batch {
        Batch {
            code: code.into(),
            version,
            epoch: FIRST_EPOCH,
            writes,
        }
    }

    fn moves(code: &str, version: u64, first_seq: u32, n: u32) -> Batch {
        batch(
            code,
            version,
            vec![
                Write::Moves {
                    number: 1,
                    first_seq,
                    moves: (first_seq..first_seq + n).map(mv).collect(),
                },
                Write::Clock(Some(ClockImage {
                    seat: 1,
                    limit_at_ms: i64::from(first_seq),
                })),
            ],
        )
    }

    fn wait(store: &SqliteStore, batch: Batch) -> Result<(), StorageError> {
        store.commit(batch).blocking_recv().expect("an answer")
    }

    /// A room with game 1 started, through SQLite.
    fn room_with_a_game(store: &SqliteStore, code: &str) {
        let created = batch(
            code,
            1,
            vec![Write::CreateRoom(lobby()), Write::GameStarted(start())],
        );
        assert_eq!(wait(store, created), Ok(()));
    }

    /// The sequence numbers of the moves stored of game 1 of `code`, row by row: each row's
    /// first, and its length (a row a fold wrote holds a run).
    fn stored_rows(path: &Path, code: &str) -> Vec<(u32, u32)> {
        let conn = Connection::open(path).expect("open with sqlite");
        let mut stmt = conn
            .prepare("SELECT seq, move FROM moves WHERE code = ?1 AND number = 1 ORDER BY seq")
            .expect("a query");
        stmt.query_map([code], |row| {
            Ok((row.get::<_, u32>(0)?, row.get::<_, String>(1)?))
        })
        .expect("rows")
        .map(|row| {
            let (seq, text) = row.expect("a row");
            (seq, moves_in_row(&text).expect("a row's moves"))
        })
        .collect()
    }

    /// The sequence numbers of the moves stored of game 1 of `code`.
    fn stored_moves(path: &Path, code: &str) -> Vec<u32> {
        stored_rows(path, code)
            .into_iter()
            .flat_map(|(seq, n)| seq..seq + n)
            .collect()
    }

    /// A batch of moves alone (the turn clock as it was).
    fn bare_moves(code: &str, version: u64, first_seq: u32, n: u32) -> Batch {
        let mut batch = moves(code, version, first_seq, n);
        batch.writes.retain(|w| matches!(w, Write::Moves { .. }));
        batch
    }

    /// A fold writes one row per run of a room's moves (a JSON array), not one per move; a run
    /// stops at any other batch of its room, so that the clock that batch set is not hidden
    /// by an older one; everything that reads moves reads the runs, and a move repeated into
    /// a run is refused as a repeated single one is.
    #[test]
    fn a_fold_writes_runs_of_moves_that_everything_reads() {
        let path = scratch("journal-runs").join("perudo.db");
        let store = SqliteStore::open(options(path.clone())).expect("opens");
        room_with_a_game(&store, "RUNRUNRUN");
        room_with_a_game(&store, "ONEONEONE");
        assert_eq!(wait(&store, moves("RUNRUNRUN", 2, 0, 2)), Ok(()));
        assert_eq!(wait(&store, moves("ONEONEONE", 2, 0, 1)), Ok(()));
        assert_eq!(wait(&store, moves("RUNRUNRUN", 3, 2, 1)), Ok(())); // clock 2
        let set_clock = batch(
            "RUNRUNRUN",
            4,
            vec![
                Write::Lobby(lobby()),
                Write::Clock(Some(ClockImage {
                    seat: 0,
                    limit_at_ms: 99,
                })),
            ],
        );
        assert_eq!(wait(&store, set_clock), Ok(()));
        assert_eq!(wait(&store, bare_moves("RUNRUNRUN", 5, 3, 2)), Ok(()));
        let journaled = {
            let journal = store.writing.journal.as_ref().expect("a journal");
            journal.lock().expect("journal lock").appended()
        };
        assert_eq!(journaled, 5, "all in the journal, for one fold");
        let rooms = store.load_rooms().expect("loads");
        let room = rooms.iter().find(|r| r.code == "RUNRUNRUN");
        let room = room.expect("the room of runs");
        assert_eq!(room.version, 5);
        assert_eq!(
            room.game.as_ref().map(|g| g.moves.clone()),
            Some((0..5).map(mv).collect())
        );
        assert_eq!(
            room.clock.map(|c| c.limit_at_ms),
            Some(99),
            "the clock the lobby batch set, not the older one of the run before it"
        );
        assert_eq!(
            stored_rows(&path, "RUNRUNRUN"),
            vec![(0, 3), (3, 2)],
            "one run per stretch between the room's other batches"
        );
        assert_eq!(stored_rows(&path, "ONEONEONE"), vec![(0, 1)]);
        {
            let conn = Connection::open(&path).expect("open with sqlite");
            let text: String = conn
                .query_row(
                    "SELECT move FROM moves WHERE code = 'ONEONEONE'",
                    [],
                    |row| row.get(0),
                )
                .expect("a row");
            assert!(
                text.starts_with('{'),
                "one move is a JSON object, as before"
            );
            assert_eq!(
                load_moves(&conn, "RUNRUNRUN", 1).expect("loads"),
                (0..5).map(mv).collect::<Vec<_>>(),
                "a game's record reads the runs"
            );
        }
        store.close();

        // After a restart the room's first batch goes through SQLite: a move inside a run is
        // refused, the next one taken.
        let store = SqliteStore::open(options(path.clone())).expect("reopens");
        let rooms = store.load_rooms().expect("loads");
        assert_eq!(rooms.len(), 2);
        assert_eq!(
            wait(&store, moves("RUNRUNRUN", 6, 4, 1)),
            Err(StorageError::Conflict)
        );
        assert_eq!(
            wait(&store, moves("RUNRUNRUN", 6, 1, 1)),
            Err(StorageError::Conflict)
        );
        assert_eq!(wait(&store, moves("RUNRUNRUN", 6, 5, 1)), Ok(()));
        assert_eq!(wait(&store, moves("RUNRUNRUN", 7, 6, 2)), Ok(()));
        store.close();
        assert_eq!(stored_moves(&path, "RUNRUNRUN"), (0..8).collect::<Vec<_>>());
        let store = SqliteStore::open(options(path.clone())).expect("reopens");
        let rooms = store.load_rooms().expect("loads");
        let room = rooms.iter().find(|r| r.code == "RUNRUNRUN");
        let room = room.expect("the room of runs");
        assert_eq!(room.version, 7);
        assert_eq!(
            room.game.as_ref().map(|g| g.moves.clone()),
            Some((0..8).map(mv).collect())
        );
        assert_eq!(room.clock.map(|c| c.limit_at_ms), Some(6));
        store.close();
    }

    fn journal_bytes(path: &Path) -> u64 {
        journal::generations(path)
            .expect("list the journal")
            .into_iter()
            .map(|g| std::fs::metadata(journal::file_of(path, g)).map_or(0, |m| m.len()))
            .sum()
    }

    #[test]
    fn moves_are_acknowledged_from_the_journal_and_folded_before_anything_reads() {
        let path = scratch("journal-fold").join("perudo.db");
        let store = SqliteStore::open(options(path.clone())).expect("opens");
        room_with_a_game(&store, "JJJJJJJJJ");
        let journaled = || {
            let journal = store.writing.journal.as_ref().expect("a journal");
            journal.lock().expect("journal lock").appended()
        };
        for seq in 0..5 {
            let mut answer = store.commit(moves("JJJJJJJJJ", 2 + u64::from(seq), seq, 1));
            assert_eq!(
                answer.try_recv(),
                Ok(Ok(())),
                "move {seq} is answered at once"
            );
        }
        assert_eq!(journaled(), 5, "every move went to the journal");
        // Reading the rooms folds first.
        let rooms = store.load_rooms().expect("loads");
        let game = rooms[0].game.as_ref().expect("a game");
        assert_eq!(game.moves, (0..5).map(mv).collect::<Vec<_>>());
        assert_eq!(rooms[0].version, 6);
        assert_eq!(rooms[0].clock.map(|c| c.limit_at_ms), Some(4));
        assert_eq!(stored_moves(&path, "JJJJJJJJJ"), vec![0, 1, 2, 3, 4]);
        assert_eq!(journal_bytes(&path), 0, "folded files are removed");
        // Journaled and not folded: only in the journal's file.
        assert_eq!(wait(&store, moves("JJJJJJJJJ", 7, 5, 1)), Ok(()));
        let pending = {
            let journal = store.writing.journal.as_ref().expect("a journal");
            let journal = journal.lock().expect("journal lock");
            journal.pending()
        };
        if pending == 1 {
            assert!(
                journal_bytes(&path) > 0,
                "the journal's file holds the move"
            );
        }
        // A lobby change of a stored room is journaled too.
        let lobby_change = batch("JJJJJJJJJ", 8, vec![Write::Lobby(lobby())]);
        assert_eq!(wait(&store, lobby_change), Ok(()));
        assert_eq!(journaled(), 7);
        // A write through SQLite (a room's creation) folds what was journaled before it, first.
        let create = batch("KKKKKKKKK", 1, vec![Write::CreateRoom(lobby())]);
        assert_eq!(wait(&store, create), Ok(()));
        assert_eq!(journaled(), 7, "a room's creation is not journaled");
        assert_eq!(stored_moves(&path, "JJJJJJJJJ"), vec![0, 1, 2, 3, 4, 5]);
        // And the writer folds on its own, every `fold_every()`.
        assert_eq!(wait(&store, moves("JJJJJJJJJ", 9, 6, 1)), Ok(()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while stored_moves(&path, "JJJJJJJJJ").len() < 7 {
            assert!(
                Instant::now() < deadline,
                "the writer did not fold the journal"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        store.close();
        assert_eq!(
            journal::generations(&path).expect("list"),
            Vec::<u64>::new(),
            "a closed store leaves no journal file"
        );
    }

    #[test]
    fn a_repeated_or_unknown_rooms_move_goes_through_sqlite_and_is_refused_there() {
        let path = scratch("journal-repeat").join("perudo.db");
        let store = SqliteStore::open(options(path.clone())).expect("opens");
        room_with_a_game(&store, "RRRRRRRRR");
        assert_eq!(wait(&store, moves("RRRRRRRRR", 2, 0, 3)), Ok(()));
        // Seq 1 again: not the journal's (it does not continue the tail); SQLite refuses it
        // once the journal's moves are folded in before it.
        assert!(wait(&store, moves("RRRRRRRRR", 3, 1, 1)).is_err());
        // Moves for a room the store never saw: refused, nothing stored.
        assert!(wait(&store, moves("NOPENOPE9", 2, 0, 1)).is_err());
        assert_eq!(wait(&store, moves("RRRRRRRRR", 3, 3, 1)), Ok(()));
        store.close();
        let store = SqliteStore::open(options(path.clone())).expect("reopens");
        let rooms = store.load_rooms().expect("loads");
        assert_eq!(rooms.len(), 1);
        assert_eq!(
            rooms[0].game.as_ref().map(|g| g.moves.clone()),
            Some((0..4).map(mv).collect())
        );
        assert_eq!(rooms[0].version, 3);
        store.close();
    }

    /// What a killed server leaves: journal files whose moves are partly in the database
    /// already (a fold committed, its files not yet removed), then new ones, a torn record, a
    /// later file, and records that continue nothing stored.
    #[test]
    fn a_killed_servers_journal_is_read_back_up_to_what_does_not_check() {
        let path = scratch("journal-killed").join("perudo.db");
        let store = SqliteStore::open(options(path.clone())).expect("opens");
        room_with_a_game(&store, "KKKKKKKKK");
        assert_eq!(wait(&store, moves("KKKKKKKKK", 2, 0, 2)), Ok(()));
        store.close();
        assert_eq!(stored_moves(&path, "KKKKKKKKK"), vec![0, 1]);

        // The first file as an earlier release wrote it (JSON, SHA-256), the second in this
        // release's format: an upgrade after a kill reads both.
        let old_record = |batch: &Batch| journal::encode_v1(batch, 1_000);
        let record = |batch: &Batch| journal::encode(batch, 1_000).expect("encodes");
        let mut first = Vec::new();
        first.extend(old_record(&moves("KKKKKKKKK", 2, 0, 2))); // in the database already
        first.extend(old_record(&moves("KKKKKKKKK", 3, 2, 1)));
        first.extend(old_record(&moves("KKKKKKKKK", 4, 3, 2)));
        let torn = old_record(&moves("KKKKKKKKK", 5, 5, 1));
        first.extend(&torn[..torn.len() - 4]);
        std::fs::write(journal::file_of(&path, 7), &first).expect("write a journal file");
        let mut second = journal::MAGIC.to_vec();
        second.extend(record(&moves("KKKKKKKKK", 5, 5, 1)));
        second.extend(record(&moves("KKKKKKKKK", 9, 9, 1))); // a gap: continues nothing
        second.extend(record(&moves("UNKNOWN99", 2, 0, 1))); // no such room
        std::fs::write(journal::file_of(&path, 8), &second).expect("write a journal file");

        let store = SqliteStore::open(options(path.clone())).expect("reopens");
        let rooms = store.load_rooms().expect("loads");
        assert_eq!(rooms.len(), 1);
        assert_eq!(
            rooms[0].game.as_ref().map(|g| g.moves.clone()),
            Some((0..6).map(mv).collect()),
            "every good record that continues the room, in order"
        );
        assert_eq!(rooms[0].version, 5);
        assert_eq!(rooms[0].clock.map(|c| c.limit_at_ms), Some(5));
        let left = journal::generations(&path).expect("list");
        assert_eq!(
            left,
            vec![9],
            "the read files are gone; a new one follows them"
        );
        // The journal goes on from there.
        assert_eq!(wait(&store, moves("KKKKKKKKK", 6, 6, 1)), Ok(()));
        store.close();
        let store = SqliteStore::open(options(path.clone())).expect("reopens");
        let rooms = store.load_rooms().expect("loads");
        assert_eq!(rooms[0].game.as_ref().map(|g| g.moves.len()), Some(7));
        store.close();
    }

    /// The results of game `game` of the test room: seat 1 beat seat 0.
    fn results_of(game: u32) -> GameResults {
        GameResults {
            game,
            winner: Seat::new(1).expect("a seat"),
            names: vec!["Ana".into(), "Bea".into()],
            placings: vec![Seat::new(1).expect("a seat"), Seat::new(0).expect("a seat")],
            rounds: 1,
            stats: Vec::new(),
            commitment: "c".repeat(64),
            seed: "00".repeat(32),
        }
    }

    /// A killed server's journal holds every kind of change but a room's creation and
    /// closing: a game's end, the next game's start and lobby changes come back with the
    /// moves, in order, and a room whose records stop continuing what is stored (a lost
    /// record) keeps nothing after that point, while other rooms go on.
    #[test]
    fn a_killed_servers_journal_restores_games_ends_starts_and_lobbies_up_to_a_gap() {
        let path = scratch("journal-mixed").join("perudo.db");
        let store = SqliteStore::open(options(path.clone())).expect("opens");
        room_with_a_game(&store, "MMMMMMMMM");
        room_with_a_game(&store, "NNNNNNNNN");
        assert_eq!(wait(&store, moves("MMMMMMMMM", 2, 0, 2)), Ok(()));
        store.close();

        let results = results_of(1);
        let after_one = LobbyImage {
            games_played: 1,
            results: Some(Arc::new(results.clone())),
            ..lobby()
        };
        // Appended now: a game that ended long ago would be past its retention at the open.
        let at = unix_ms();
        let record = |batch: &Batch| journal::encode(batch, at).expect("encodes");
        let mut file = journal::MAGIC.to_vec();
        file.extend(record(&moves("MMMMMMMMM", 2, 0, 2))); // in the database already
        file.extend(record(&batch(
            "MMMMMMMMM",
            3,
            vec![
                Write::Moves {
                    number: 1,
                    first_seq: 2,
                    moves: vec![mv(2)],
                },
                Write::GameOver {
                    number: 1,
                    results: results.clone(),
                },
                Write::Lobby(after_one.clone()),
                Write::Clock(None),
            ],
        )));
        file.extend(record(&moves("NNNNNNNNN", 2, 0, 1)));
        file.extend(record(&batch(
            "MMMMMMMMM",
            4,
            vec![Write::GameStarted(GameStart {
                number: 2,
                ..start()
            })],
        )));
        file.extend(record(&moves("NNNNNNNNN", 3, 5, 1))); // a gap: N stops here
        file.extend(record(&batch(
            "MMMMMMMMM",
            5,
            vec![Write::Moves {
                number: 2,
                first_seq: 0,
                moves: vec![mv(0)],
            }],
        )));
        file.extend(record(&batch(
            "NNNNNNNNN",
            4,
            vec![Write::Lobby(after_one.clone())],
        )));
        let torn = record(&moves("MMMMMMMMM", 6, 1, 1));
        file.extend(&torn[..torn.len() - 1]);
        std::fs::write(journal::file_of(&path, 3), &file).expect("write a journal file");

        let store = SqliteStore::open(options(path.clone())).expect("reopens");
        let mut rooms = store.load_rooms().expect("loads");
        rooms.sort_by(|a, b| a.code.cmp(&b.code));
        let (m, n) = (&rooms[0], &rooms[1]);
        assert_eq!(m.version, 5);
        assert_eq!(m.lobby, after_one);
        let game = m.game.as_ref().expect("game 2");
        assert_eq!((game.start.number, game.moves.clone()), (2, vec![mv(0)]));
        assert_eq!(
            stored_moves(&path, "MMMMMMMMM"),
            vec![0, 1, 2],
            "game 1, whole"
        );
        let finished: Option<i64> = Connection::open(&path)
            .expect("open with sqlite")
            .query_row(
                "SELECT finished_ms FROM games WHERE code = 'MMMMMMMMM' AND number = 1",
                [],
                |row| row.get(0),
            )
            .expect("game 1");
        assert_eq!(finished, Some(at), "ended when its record was appended");
        assert_eq!(n.version, 2, "nothing of N after its gap");
        assert_eq!(n.lobby, lobby());
        assert_eq!(n.game.as_ref().map(|g| g.moves.clone()), Some(vec![mv(0)]));
        store.close();
    }

    #[test]
    fn a_backup_holds_what_is_still_in_the_journal() {
        let path = scratch("journal-backup").join("perudo.db");
        let store = SqliteStore::open(options(path.clone())).expect("opens");
        room_with_a_game(&store, "BBBBBBBBB");
        // Holding the write connection keeps the writer's timer (100 ms in tests) from
        // folding the journal before the backup reads it: journaled batches need no connection.
        let writer = store.writing.conn.lock().expect("writer lock");
        assert_eq!(wait(&store, moves("BBBBBBBBB", 2, 0, 2)), Ok(()));
        assert_eq!(wait(&store, moves("BBBBBBBBB", 3, 2, 1)), Ok(()));
        let lobby_change = batch(
            "BBBBBBBBB",
            4,
            vec![Write::Lobby(LobbyImage {
                games_played: 5,
                ..lobby()
            })],
        );
        assert_eq!(wait(&store, lobby_change), Ok(()));
        assert!(journal_bytes(&path) > 0, "the changes are still journaled");
        let copy = path.with_file_name("copy.db");
        backup(&path, &copy).expect("a backup");
        assert_eq!(stored_moves(&copy, "BBBBBBBBB"), vec![0, 1, 2]);
        drop(writer);
        store.close();
        let restored = SqliteStore::open(options(copy)).expect("the copy opens");
        let rooms = restored.load_rooms().expect("loads");
        assert_eq!(
            (rooms[0].version, rooms[0].lobby.games_played),
            (4, 5),
            "the journaled lobby change is in the copy"
        );
        restored.close();
    }

    #[test]
    fn copying_to_postgresql_refuses_a_database_with_moves_in_its_journal() {
        let path = scratch("journal-copy").join("perudo.db");
        let store = SqliteStore::open(options(path.clone())).expect("opens");
        room_with_a_game(&store, "CCCCCCCCC");
        // The writer cannot fold (on its 100 ms timer in tests) while this is held.
        let writer = store.writing.conn.lock().expect("writer lock");
        assert_eq!(wait(&store, moves("CCCCCCCCC", 2, 0, 1)), Ok(()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        // Refused before any connection is tried: this URL leads nowhere.
        let error = runtime
            .block_on(copy_from_sqlite(
                &path,
                "postgres://nobody@127.0.0.1:1/none",
            ))
            .expect_err("refused");
        assert!(error.to_string().contains("not yet folded"), "{error}");
        drop(writer);
        store.close();
        let error = runtime
            .block_on(copy_from_sqlite(
                &path,
                "postgres://nobody@127.0.0.1:1/none",
            ))
            .expect_err("no PostgreSQL here");
        assert!(!error.to_string().contains("not yet folded"), "{error}");
    }

    #[test]
    fn with_full_sync_there_is_no_journal() {
        let path = scratch("journal-full").join("perudo.db");
        let store = SqliteStore::open(SqliteOptions {
            sync: SyncMode::Full,
            ..options(path.clone())
        })
        .expect("opens");
        room_with_a_game(&store, "FFFFFFFFF");
        assert_eq!(wait(&store, moves("FFFFFFFFF", 2, 0, 1)), Ok(()));
        assert_eq!(
            stored_moves(&path, "FFFFFFFFF"),
            vec![0],
            "committed, with its fsync"
        );
        assert_eq!(
            journal::generations(&path).expect("list"),
            Vec::<u64>::new()
        );
        store.close();
    }

    /// A journal record carries every kind of write and gives back exactly what went in.
    #[test]
    fn every_write_round_trips_through_a_journal_record() {
        let path = scratch("journal-round-trip").join("perudo.db");
        let results = GameResults {
            names: vec!["Ana".into(), "Bea \u{1F3B2}".into()],
            rounds: 7,
            seed: "0f".repeat(32),
            ..results_of(3)
        };
        let lobby = LobbyImage {
            games_played: 3,
            results: Some(Arc::new(results.clone())),
            ..lobby()
        };
        let writes = vec![
            Write::CreateRoom(lobby.clone()),
            Write::Lobby(lobby),
            Write::GameStarted(start()),
            Write::Moves {
                number: 1,
                first_seq: u32::MAX - 5,
                moves: vec![
                    Move::Act {
                        seat: Seat::new(0).expect("a seat"),
                        action: perudo_core::Action::Bid(
                            perudo_core::Bid::new(30, 6).expect("a bid"),
                        ),
                    },
                    Move::Act {
                        seat: Seat::new(1).expect("a seat"),
                        action: perudo_core::Action::Dudo,
                    },
                    Move::Act {
                        seat: Seat::new(1).expect("a seat"),
                        action: perudo_core::Action::Calza,
                    },
                    Move::Act {
                        seat: Seat::new(0).expect("a seat"),
                        action: perudo_core::Action::DeclarePalifico,
                    },
                    Move::Forfeit {
                        seat: Seat::new(1).expect("a seat"),
                    },
                ],
            },
            Write::GameOver { number: 3, results },
            Write::Clock(Some(ClockImage {
                seat: 1,
                limit_at_ms: 1_767_225_600_000,
            })),
            Write::Clock(None),
            Write::Closed,
        ];
        let batch = batch("RRRRRRRRR", u64::MAX - 1, writes);
        let mut file = journal::MAGIC.to_vec();
        file.extend(journal::encode(&batch, -5).expect("encodes"));
        std::fs::write(journal::file_of(&path, 0), &file).expect("write a journal file");
        let read: Vec<(Batch, i64)> = journal::read_all(&path)
            .expect("reads")
            .into_iter()
            .map(journal::Entry::batch)
            .collect();
        assert_eq!(read, vec![(batch, -5)]);
    }
}

/// The JSON the database keeps, pinned: a change to a stored type's encoding shows up here
/// (and needs a `meta.schema` step and a migration) instead of silently breaking restores.
#[cfg(test)]
mod golden_tests {
    use super::*;
    use perudo_core::{Action, Bid, Seat};

    fn seat(i: u8) -> Seat {
        Seat::new(i).expect("a seat")
    }

    #[test]
    fn stored_json_is_pinned_and_round_trips() {
        let lobby = LobbyImage {
            rules: GameConfig::default(),
            options: RoomOptions::default(),
            seats: vec![
                SeatImage {
                    name: "Ana".into(),
                    kind: SeatImageKind::Human {
                        token_hash: [0xab; 32],
                        left: false,
                    },
                },
                SeatImage {
                    name: "Bot 1".into(),
                    kind: SeatImageKind::Bot {
                        level: BotLevel::Normal,
                    },
                },
            ],
            host: Some(0),
            games_played: 0,
            results: None,
        };
        let moves = vec![
            Move::Act {
                seat: seat(0),
                action: Action::Bid(Bid::new(3, 5).expect("a bid")),
            },
            Move::Act {
                seat: seat(1),
                action: Action::Dudo,
            },
            Move::Forfeit { seat: seat(1) },
        ];
        let clock = ClockImage {
            seat: 1,
            limit_at_ms: 1_767_225_600_000,
        };
        let lobby_json = serde_json::to_string_pretty(&lobby).expect("encodes");
        let moves_json: Vec<String> = moves
            .iter()
            .map(|m| serde_json::to_string(m).expect("encodes"))
            .collect();
        let clock_json = serde_json::to_string(&clock).expect("encodes");
        insta::assert_snapshot!("stored_lobby", lobby_json);
        insta::assert_snapshot!("stored_moves", moves_json.join("\n"));
        insta::assert_snapshot!("stored_clock", clock_json);
        assert_eq!(
            serde_json::from_str::<LobbyImage>(&lobby_json).expect("decodes"),
            lobby
        );
        for (json, m) in moves_json.iter().zip(&moves) {
            assert_eq!(&serde_json::from_str::<Move>(json).expect("decodes"), m);
        }
        assert_eq!(
            serde_json::from_str::<ClockImage>(&clock_json).expect("decodes"),
            clock
        );
    }
}
