//! The journal of the SQLite store: a batch that continues what is stored of its room (the
//! moves of its running game, the game's end, the next game's start, a lobby or clock
//! change: every batch a room makes but its creation and its closing) is appended to a file
//! beside the database, one `write` of a checksummed record, and acknowledged; the store's
//! writer folds what the journal holds into SQLite in one transaction every 10 s, at 16,384
//! batches, and before any write through SQLite (so the database always holds a prefix of
//! every room's history, and the journal the rest). A batch then costs a `write` to the page
//! cache instead of an SQLite transaction (its WAL locks, its frames, its B-tree pages), which
//! is the same durability as SQLite's `synchronous=NORMAL`: it survives the process being
//! killed (the record is in the page cache), and a power cut may lose the last records. With
//! `--db-sync full` there is no journal: every commit is an SQLite transaction with its fsync.
//!
//! Files: `<db>-moves-<generation>` (the name is older than the journal's other records).
//! Each fold starts a new generation and, once its transaction has committed, deletes the
//! files it folded. A file starts with [`MAGIC`] and holds records of a length, a CRC-32 of
//! the payload and the payload, the batch in MessagePack; a file without it was written by
//! an earlier release (a SHA-256 prefix and JSON instead, [`decode_v1`]) and is read the
//! same way, so that a server killed before an upgrade loses nothing. The checksum finds a
//! torn write, as PostgreSQL's WAL finds one with its CRC; it is no defence against someone
//! who can write the file, who could write the database too. At open (and in `perudo
//! backup`), the records of every file left are read in generation order up to the first
//! record that does not check (a torn write of a power cut), and applied where they continue
//! what the database holds.
//!
//! A batch is taken only for a room whose stored tail (its last game number, its running game
//! and the next move's sequence number) the store knows, and only if it passes on top of that
//! tail the checks SQLite's keys would make (a repeated move, a move for a game not stored, a
//! game number used again): so nothing acknowledged here can fail at its fold for what it
//! says. Any other batch goes through SQLite as before.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::warn;

use super::{Batch, StorageError, Write};

/// The first bytes of a journal file in this format. A file written before it starts with
/// a record's length instead, whose fourth byte is 0 (no record is 16 MiB long).
pub(super) const MAGIC: &[u8; 8] = b"PRDJRN2\n";

/// A record: `len` (u32, little endian), the CRC-32 of the payload (u32, little endian), and
/// the payload (MessagePack of [`Entry`], fields by name). Encoding and checking it costs a
/// move ~0.4 us less than JSON and SHA-256 did (docs/BENCHMARKS.md).
const HEADER: usize = 8;

/// A record of a file without [`MAGIC`]: `len` (u32, little endian), the first 8 bytes of the
/// SHA-256 of the payload, and the payload (JSON of [`Entry`]).
const HEADER_V1: usize = 12;

/// The largest record buffer kept between appends.
const RECORD_BUFFER: usize = 64 * 1024;

/// A record as it is written: a move-only batch, borrowed (nothing is copied on the way to
/// the file), and when it was appended.
#[derive(Serialize)]
struct Record<'a> {
    code: &'a str,
    version: u64,
    at_ms: i64,
    writes: &'a [Write],
}

impl<'a> Record<'a> {
    fn of(batch: &'a Batch, at_ms: i64) -> Record<'a> {
        Record {
            code: &batch.code,
            version: batch.version,
            at_ms,
            writes: &batch.writes,
        }
    }
}

/// A record as it is read back.
#[derive(Deserialize)]
pub(super) struct Entry {
    code: String,
    version: u64,
    at_ms: i64,
    writes: Vec<Write>,
}

impl Entry {
    /// The batch this entry was made of (the epoch is not kept: one process, no leases), and
    /// when it was appended.
    pub fn batch(self) -> (Batch, i64) {
        let batch = Batch {
            code: self.code,
            version: self.version,
            epoch: super::FIRST_EPOCH,
            writes: self.writes,
        };
        (batch, self.at_ms)
    }
}

/// The file of `generation` of the journal of the database at `db`.
pub(super) fn file_of(db: &Path, generation: u64) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(format!("-moves-{generation}"));
    PathBuf::from(name)
}

/// The generations of the journal files of the database at `db`, oldest first.
pub(super) fn generations(db: &Path) -> Result<Vec<u64>, StorageError> {
    let dir = match db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = db.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{name}-moves-");
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("cannot list", dir, &e)),
    };
    let mut found: Vec<u64> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let rest = name.to_str()?.strip_prefix(&prefix)?.to_owned();
            rest.parse().ok()
        })
        .collect();
    found.sort_unstable();
    Ok(found)
}

/// Every entry the journal files of `db` hold, in order: each file up to its first record that
/// does not check (a torn write). A later file is still read: its records are applied only
/// where they continue what the database holds, room by room, so one that follows a lost
/// record is skipped as a gap. Files that vanish meanwhile (a running server folded them) are
/// skipped.
pub(super) fn read_all(db: &Path) -> Result<Vec<Entry>, StorageError> {
    let mut entries = Vec::new();
    for generation in generations(db)? {
        let path = file_of(db, generation);
        let mut bytes = Vec::new();
        match File::open(&path).and_then(|mut f| f.read_to_end(&mut bytes)) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error("cannot read", &path, &e)),
        }
        let (read, torn) = match bytes.strip_prefix(MAGIC) {
            Some(records) => decode(records),
            None => decode_v1(&bytes),
        };
        if torn > 0 {
            warn!(file = %path.display(), records = read.len(), bytes = torn,
                "the moves journal ends in a record that does not check (a torn write): ignored");
        }
        entries.extend(read);
    }
    Ok(entries)
}

/// The records of one file after its [`MAGIC`], and how many bytes after the last good one
/// were left unread.
fn decode(bytes: &[u8]) -> (Vec<Entry>, usize) {
    read_records(
        bytes,
        HEADER,
        |payload, sum| crc32fast::hash(payload).to_le_bytes() == sum,
        |payload| rmp_serde::from_slice(payload).ok(),
    )
}

/// The records of a file written before [`MAGIC`] (JSON, SHA-256), as [`decode`] reads one.
fn decode_v1(bytes: &[u8]) -> (Vec<Entry>, usize) {
    read_records(
        bytes,
        HEADER_V1,
        |payload, sum| Sha256::digest(payload)[..8] == *sum,
        |payload| serde_json::from_slice(payload).ok(),
    )
}

/// Reads records of a `header`-byte header (the payload's length, u32 little endian, then
/// its checksum) up to the first whose checksum does not `check` or that does not `parse`.
fn read_records(
    mut bytes: &[u8],
    header: usize,
    check: impl Fn(&[u8], &[u8]) -> bool,
    parse: impl Fn(&[u8]) -> Option<Entry>,
) -> (Vec<Entry>, usize) {
    let mut entries = Vec::new();
    while bytes.len() >= header {
        let len = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
        let Some(payload) = bytes.get(header..header + len) else {
            break;
        };
        if !check(payload, &bytes[4..header]) {
            break;
        }
        let Some(entry) = parse(payload) else {
            break;
        };
        entries.push(entry);
        bytes = &bytes[header + len..];
    }
    (entries, bytes.len())
}

/// The record of `batch`, appended at `at_ms` (without the file's [`MAGIC`]).
#[cfg(test)]
pub(super) fn encode(batch: &Batch, at_ms: i64) -> Result<Vec<u8>, StorageError> {
    let mut record = Vec::new();
    encode_into(&mut record, false, batch, at_ms)?;
    Ok(record)
}

/// The record of `batch` as a server before [`MAGIC`] wrote it.
#[cfg(test)]
pub(super) fn encode_v1(batch: &Batch, at_ms: i64) -> Vec<u8> {
    let payload = serde_json::to_vec(&Record::of(batch, at_ms)).expect("encodes");
    let mut record = (payload.len() as u32).to_le_bytes().to_vec();
    record.extend_from_slice(&Sha256::digest(&payload)[..8]);
    record.extend(payload);
    record
}

/// Writes the record of `batch`, appended at `at_ms`, into `record` (cleared first), after
/// the file's [`MAGIC`] if `first`: the payload is encoded in place after room for the
/// header, so an append allocates nothing once the buffer has grown.
fn encode_into(
    record: &mut Vec<u8>,
    first: bool,
    batch: &Batch,
    at_ms: i64,
) -> Result<(), StorageError> {
    record.clear();
    if first {
        record.extend_from_slice(MAGIC);
    }
    let start = record.len();
    record.extend_from_slice(&[0; HEADER]);
    Record::of(batch, at_ms)
        .serialize(&mut rmp_serde::Serializer::new(&mut *record).with_struct_map())
        .map_err(|e| StorageError::Database(format!("cannot encode a journal record: {e}")))?;
    let payload = &record[start + HEADER..];
    let len = payload.len() as u32;
    let crc = crc32fast::hash(payload);
    record[start..start + 4].copy_from_slice(&len.to_le_bytes());
    record[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> StorageError {
    match e.raw_os_error() {
        Some(28) | Some(122) => StorageError::Full, // ENOSPC, EDQUOT
        Some(30) | Some(13) | Some(1) => StorageError::ReadOnly, // EROFS, EACCES, EPERM
        _ => StorageError::Database(format!("{what} {}: {e}", path.display())),
    }
}

/// Removes the journal files of `db` of generations `..=upto`.
pub(super) fn remove_upto(db: &Path, upto: u64) -> Result<(), StorageError> {
    for generation in generations(db)?.into_iter().filter(|g| *g <= upto) {
        let path = file_of(db, generation);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("cannot remove", &path, &e)),
        }
    }
    Ok(())
}

/// Whether `db` has journal files holding records (moves not yet in the database).
pub(super) fn holds_records(db: &Path) -> Result<bool, StorageError> {
    Ok(generations(db)?
        .into_iter()
        .any(|g| std::fs::metadata(file_of(db, g)).is_ok_and(|m| m.len() > 0)))
}

/// The open journal (behind the store's lock).
pub(super) struct Journal {
    db: PathBuf,
    generation: u64,
    /// The current generation's file (`None` after it failed: nothing is appended until a
    /// fold starts a new one).
    file: Option<File>,
    /// Batches in the journal and not yet in the database, oldest first, with the time each
    /// was appended (the moves' `at_ms`).
    pending: Vec<(Batch, i64)>,
    /// What the store knows of each room's stored state (database and journal): the checks
    /// a batch must pass to be taken here. A room is missing until a batch of it has gone
    /// through SQLite (its creation, or the first write after a restart).
    tails: HashMap<String, Tail>,
    /// Whether the current file holds records.
    written: bool,
    /// The record being appended (kept between appends: see [`encode_into`]).
    record: Vec<u8>,
    /// The oldest generation whose file may still exist (not yet removed by a fold).
    oldest: u64,
    /// Batches taken since the store opened (for the tests: the journal is a path a batch
    /// takes silently).
    #[cfg(test)]
    appended: u64,
    /// The last fold failed (the database is full, or cannot be written): nothing more is
    /// taken until a fold succeeds, so that batches go through SQLite and are refused there.
    failed: bool,
}

/// What a fold takes out of the journal: its batches, and the last generation they are in.
pub(super) struct Folding {
    pub batches: Vec<(Batch, i64)>,
    pub upto: u64,
}

impl Journal {
    /// Opens a new generation after `last` (the journal's files must have been folded).
    pub fn open(db: &Path, last: Option<u64>) -> Result<Journal, StorageError> {
        let generation = last.map_or(0, |g| g + 1);
        let mut journal = Journal {
            db: db.to_owned(),
            generation,
            file: None,
            pending: Vec::new(),
            tails: HashMap::new(),
            written: false,
            record: Vec::new(),
            oldest: generation,
            #[cfg(test)]
            appended: 0,
            failed: false,
        };
        journal.file = Some(journal.create(generation)?);
        Ok(journal)
    }

    fn create(&self, generation: u64) -> Result<File, StorageError> {
        let path = file_of(&self.db, generation);
        // Only the server reads it (it holds what the database holds, seeds aside).
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_error("cannot create", &path, &e))
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether a batch of room `code` waits in the journal for its fold.
    pub fn holds(&self, code: &str) -> bool {
        self.pending.iter().any(|(batch, _)| batch.code == code)
    }

    /// Batches taken since the store opened.
    #[cfg(test)]
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// Appends `batch` if it continues its room's known tail (see [`continues`]); gives it
    /// back otherwise (a room's creation or closing, a room whose tail is unknown or that it
    /// does not continue, a journal that failed), to be committed through SQLite.
    pub fn append(&mut self, batch: Batch, at_ms: i64) -> Result<(), Batch> {
        if self.file.is_none() || self.failed {
            return Err(batch);
        }
        let Some(tail) = self.tails.get_mut(&batch.code) else {
            return Err(batch);
        };
        let Some(next) = continues(*tail, &batch) else {
            return Err(batch);
        };
        if encode_into(&mut self.record, !self.written, &batch, at_ms).is_err() {
            return Err(batch);
        }
        let file = self.file.as_mut().expect("checked above");
        let written = file.write_all(&self.record);
        if self.record.capacity() > RECORD_BUFFER {
            // A large lobby's record: the buffer does not keep its size.
            self.record = Vec::new();
        }
        if let Err(e) = written {
            // A partial record may be in the file: nothing more goes after it. What is
            // pending is still folded; this batch goes through SQLite.
            warn!(error = %e, generation = self.generation,
                "cannot append to the moves journal; writing through SQLite until the next fold");
            self.file = None;
            return Err(batch);
        }
        *tail = next;
        self.written = true;
        #[cfg(test)]
        {
            self.appended += 1;
        }
        self.pending.push((batch, at_ms));
        Ok(())
    }

    /// Takes every pending batch for a fold, starting a new generation if the current one
    /// holds records (or failed). `None` if nothing is pending (and the current file is
    /// sound).
    pub fn take(&mut self) -> Result<Option<Folding>, StorageError> {
        if self.pending.is_empty() && self.file.is_some() {
            return Ok(None);
        }
        let upto = if self.written || self.file.is_none() || self.generation == 0 {
            let file = self.create(self.generation + 1)?;
            self.generation += 1;
            self.file = Some(file);
            self.written = false;
            self.generation - 1
        } else {
            // Everything pending is in older files (a fold failed since): the current file,
            // empty, stays.
            self.generation.saturating_sub(1)
        };
        Ok(Some(Folding {
            batches: std::mem::take(&mut self.pending),
            upto,
        }))
    }

    /// A fold's transaction failed: its batches go back in front of what came since, and
    /// nothing more is taken until a fold succeeds.
    pub fn put_back(&mut self, folding: Folding) {
        let later = std::mem::replace(&mut self.pending, folding.batches);
        self.pending.extend(later);
        self.failed = true;
    }

    /// A fold's transaction committed: its files go (by name: the journal knows which).
    pub fn folded(&mut self, folding: &Folding) -> Result<(), StorageError> {
        self.failed = false;
        for generation in self.oldest..=folding.upto {
            let path = file_of(&self.db, generation);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("cannot remove", &path, &e)),
            }
            self.oldest = generation + 1;
        }
        Ok(())
    }

    /// The store closes: with everything folded, the current (empty) file goes too.
    pub fn close(&mut self) {
        if self.pending.is_empty() && !self.written {
            let _ = remove_upto(&self.db, self.generation);
            self.file = None;
        }
    }

    /// After `batch` committed through SQLite: the room's tail as it now stands.
    pub fn committed(&mut self, batch: &Batch) {
        let mut tail = self.tails.get(&batch.code).copied();
        for write in &batch.writes {
            match write {
                Write::CreateRoom(_) => {
                    tail = Some(Tail {
                        last_game: Some(0),
                        running: None,
                    })
                }
                Write::Closed => tail = None,
                // The room is stored; what else this says of it, nothing.
                Write::Lobby(_) | Write::Clock(_) => {
                    tail.get_or_insert_default();
                }
                Write::GameStarted(start) => {
                    let tail = tail.get_or_insert_default();
                    // Never lower: a game number below one known stays taken.
                    tail.last_game =
                        Some(tail.last_game.map_or(start.number, |n| n.max(start.number)));
                    tail.running = Some((start.number, 0));
                }
                Write::Moves {
                    number,
                    first_seq,
                    moves,
                } if !moves.is_empty() => {
                    let tail = tail.get_or_insert_default();
                    let next = first_seq + moves.len() as u32;
                    match tail.running {
                        Some((game, _)) if game == *number => tail.running = Some((game, next)),
                        // Moves of a game this store did not see start (a room restored
                        // from the database, whose running game is its last one): from now
                        // on its tail is known.
                        None => {
                            tail.running = Some((*number, next));
                            tail.last_game = Some(*number);
                        }
                        Some(_) => {}
                    }
                }
                Write::Moves { .. } => {}
                Write::GameOver { .. } => {
                    if let Some(tail) = &mut tail {
                        tail.running = None;
                    }
                }
            }
        }
        match tail {
            Some(t) => self.tails.insert(batch.code.clone(), t),
            None => self.tails.remove(&batch.code),
        };
    }
}

/// What the store knows of a room's stored state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Tail {
    /// The room's highest game number stored (0: none yet), if the store knows it.
    last_game: Option<u32>,
    /// The running game and its next move's sequence number, if one runs and the store
    /// knows it.
    running: Option<(u32, u32)>,
}

impl Tail {
    /// A room's tail as the database holds it: its last game (0: none) and, if that game is
    /// not over, its number and next move.
    pub(super) fn stored(last_game: u32, running: Option<(u32, u32)>) -> Tail {
        Tail {
            last_game: Some(last_game),
            running,
        }
    }
}

/// The tail after `batch` if every write of it would pass SQLite's checks on top of `tail`:
/// a new game numbered above every stored one, moves continuing the running game exactly,
/// the end of the running game, lobby and clock changes of a stored room. A room's creation
/// and closing always go through SQLite (its keys are what make a code unique).
pub(super) fn continues(tail: Tail, batch: &Batch) -> Option<Tail> {
    let mut tail = tail;
    for write in &batch.writes {
        match write {
            Write::CreateRoom(_) | Write::Closed => return None,
            Write::Lobby(_) | Write::Clock(_) => {}
            Write::GameStarted(start) => {
                if start.number <= tail.last_game? {
                    return None;
                }
                tail.last_game = Some(start.number);
                tail.running = Some((start.number, 0));
            }
            Write::Moves {
                number,
                first_seq,
                moves,
            } => {
                if moves.is_empty() {
                    continue;
                }
                let (game, next) = tail.running?;
                if *number != game || *first_seq != next {
                    return None;
                }
                tail.running = Some((game, next + moves.len() as u32));
            }
            Write::GameOver { number, .. } => {
                if tail.running?.0 != *number {
                    return None;
                }
                tail.running = None;
            }
        }
    }
    Some(tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perudo_core::Move;

    fn clock(code: &str, version: u64) -> Batch {
        Batch {
            code: code.into(),
            version,
            epoch: super::super::FIRST_EPOCH,
            writes: vec![Write::Clock(None)],
        }
    }

    fn moves(code: &str, first_seq: u32) -> Batch {
        Batch {
            code: code.into(),
            version: u64::from(first_seq) + 2,
            epoch: super::super::FIRST_EPOCH,
            writes: vec![Write::Moves {
                number: 1,
                first_seq,
                moves: vec![Move::Forfeit {
                    seat: perudo_core::Seat::new(0).expect("a seat"),
                }],
            }],
        }
    }

    /// After a failed fold nothing more is taken (batches go through SQLite, which refuses
    /// them the same way), retries start no new files, and a fold that succeeds takes both.
    #[test]
    fn a_failed_fold_stops_the_journal_until_one_succeeds() {
        let dir = std::env::temp_dir().join(format!(
            "perudo-journal-unit-{}-{}",
            std::process::id(),
            super::super::unix_ms()
        ));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let db = dir.join("perudo.db");
        let mut journal = Journal::open(&db, None).expect("opens");
        assert!(
            journal.append(moves("AAAAAAAAA", 0), 1).is_err(),
            "an unknown room"
        );
        journal.committed(&Batch {
            writes: vec![Write::GameStarted(super::super::GameStart {
                number: 1,
                config: perudo_core::GameConfig::default(),
                names: vec!["Ana".into(), "Bea".into()],
                seed: "00".repeat(32),
                started_ms: 1,
            })],
            ..moves("AAAAAAAAA", 0)
        });
        assert!(journal.append(moves("AAAAAAAAA", 1), 1).is_err(), "a gap");
        assert!(journal.append(moves("AAAAAAAAA", 0), 1).is_ok());
        assert!(
            journal.append(moves("AAAAAAAAA", 0), 1).is_err(),
            "a repeat"
        );
        let folding = journal.take().expect("takes").expect("something pending");
        assert_eq!((folding.batches.len(), folding.upto), (1, 0));
        journal.put_back(folding);
        assert!(journal.append(moves("AAAAAAAAA", 1), 1).is_err(), "stopped");
        for _ in 0..3 {
            let folding = journal.take().expect("takes").expect("still pending");
            assert_eq!(folding.upto, 0, "its file is the oldest");
            journal.put_back(folding);
        }
        assert_eq!(
            generations(&db).expect("lists"),
            vec![0, 1],
            "no file per retry"
        );
        let folding = journal.take().expect("takes").expect("still pending");
        journal.folded(&folding).expect("removes");
        assert_eq!(generations(&db).expect("lists"), vec![1]);
        assert!(
            journal.append(moves("AAAAAAAAA", 1), 1).is_ok(),
            "going again"
        );
        assert_eq!(journal.appended(), 2);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// What the journal takes on top of what it knows of a room: the checks SQLite's keys
    /// would make, so that nothing it acknowledges can fail at its fold.
    #[test]
    fn the_journal_takes_a_batch_only_where_sqlite_would() {
        let start = |number| {
            Write::GameStarted(super::super::GameStart {
                number,
                config: perudo_core::GameConfig::default(),
                names: vec!["Ana".into(), "Bea".into()],
                seed: "00".repeat(32),
                started_ms: 1,
            })
        };
        let over = |number| Write::GameOver {
            number,
            results: perudo_protocol::GameResults {
                game: number,
                winner: perudo_core::Seat::new(0).expect("a seat"),
                names: Vec::new(),
                placings: Vec::new(),
                rounds: 1,
                stats: Vec::new(),
                commitment: String::new(),
                seed: String::new(),
            },
        };
        let with = |writes: Vec<Write>| Batch {
            writes,
            ..clock("AAAAAAAAA", 9)
        };
        let one = |number, first_seq| Write::Moves {
            number,
            first_seq,
            moves: moves("AAAAAAAAA", 0)
                .writes
                .into_iter()
                .find_map(|w| match w {
                    Write::Moves { moves, .. } => Some(moves),
                    _ => None,
                })
                .expect("a move"),
        };
        let fresh = Tail {
            last_game: Some(0),
            running: None,
        };
        let playing = Tail {
            last_game: Some(1),
            running: Some((1, 4)),
        };
        // A game's end with its last move and the lobby, then the next game's start.
        let ended = continues(playing, &with(vec![one(1, 4), over(1)])).expect("taken");
        assert_eq!(
            ended,
            Tail {
                last_game: Some(1),
                running: None
            }
        );
        assert_eq!(
            continues(ended, &with(vec![start(2), one(2, 0)])),
            Some(Tail {
                last_game: Some(2),
                running: Some((2, 1))
            })
        );
        assert!(continues(fresh, &with(vec![Write::Clock(None)])).is_some());
        // Refused: creation and closing, a game number not above the last, a game's end
        // that is not the running one's, moves that do not continue it, a new game where
        // the last one is not known.
        assert_eq!(continues(fresh, &with(vec![Write::Closed])), None);
        assert_eq!(continues(ended, &with(vec![start(1)])), None);
        assert_eq!(continues(playing, &with(vec![over(2)])), None);
        assert_eq!(continues(ended, &with(vec![over(1)])), None);
        assert_eq!(continues(playing, &with(vec![one(1, 5)])), None);
        assert_eq!(continues(fresh, &with(vec![one(1, 0)])), None);
        let unknown = Tail::default();
        assert_eq!(continues(unknown, &with(vec![start(1)])), None);
        assert!(continues(unknown, &with(vec![Write::Clock(None)])).is_some());
    }

    #[test]
    fn records_decode_up_to_the_first_that_does_not_check() {
        let mut bytes = Vec::new();
        for v in 1..=3 {
            bytes.extend(encode(&clock("AAAAAAAAA", v), 7).unwrap());
        }
        let whole = bytes.len();
        let (read, left) = decode(&bytes);
        assert_eq!((read.len(), left), (3, 0));
        assert_eq!(
            read.iter().map(|e| e.version).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // A torn last record (a power cut mid-write) and a flipped byte.
        let (read, left) = decode(&bytes[..whole - 3]);
        assert_eq!(read.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2]);
        assert!(left > 0);
        let mut flipped = bytes.clone();
        let second = whole / 3 + HEADER + 2;
        flipped[second] ^= 0x20;
        let (read, _) = decode(&flipped);
        assert_eq!(
            read.len(),
            1,
            "nothing is read past a record that does not check"
        );
        // Zeros (a file extended but not written) are no record.
        let (read, left) = decode(&[0u8; 64]);
        assert_eq!((read.len(), left), (0, 64));
    }

    /// A file an earlier release wrote (JSON, SHA-256, no magic) reads as it did; one of this
    /// format starts with the magic, which its first append writes.
    #[test]
    fn files_of_either_format_are_read() {
        let dir =
            std::env::temp_dir().join(format!("perudo-journal-formats-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("perudo.db");
        let mut old = Vec::new();
        for v in 1..=2 {
            old.extend(encode_v1(&clock("AAAAAAAAA", v), 7));
        }
        old.extend(&encode_v1(&clock("AAAAAAAAA", 3), 7)[..20]); // torn
        assert_ne!(&old[..MAGIC.len()], MAGIC);
        std::fs::write(file_of(&db, 0), &old).unwrap();
        let mut journal = Journal::open(&db, Some(0)).unwrap();
        journal
            .tails
            .insert("BBBBBBBBB".into(), Tail::stored(0, None));
        for v in 1..=2 {
            assert!(journal.append(clock("BBBBBBBBB", v), 9).is_ok());
        }
        let written = std::fs::read(file_of(&db, 1)).unwrap();
        assert!(
            written.starts_with(MAGIC),
            "the first append writes the magic"
        );
        assert_eq!(
            written.windows(MAGIC.len()).filter(|w| w == MAGIC).count(),
            1,
            "and only the first"
        );
        let read: Vec<(String, u64, i64)> = read_all(&db)
            .unwrap()
            .into_iter()
            .map(|e| (e.code, e.version, e.at_ms))
            .collect();
        assert_eq!(
            read,
            [
                ("AAAAAAAAA".into(), 1, 7),
                ("AAAAAAAAA".into(), 2, 7),
                ("BBBBBBBBB".into(), 1, 9),
                ("BBBBBBBBB".into(), 2, 9),
            ]
        );
        // A batch of moves comes back as it went in (every kind of write: the store's tests).
        let entries = decode(&encode(&moves("CCCCCCCCC", 4), 11).unwrap()[..]).0;
        let (batch, at) = entries.into_iter().next().expect("one record").batch();
        assert_eq!((batch, at), (moves("CCCCCCCCC", 4), 11));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
