//! Rooms in PostgreSQL: the second implementation of [`Store`], for several nodes sharing one
//! database.
//!
//! - **Client and pool.** tokio-postgres (the maintained asynchronous driver, with pipelining)
//!   under a deadpool-postgres pool (reconnects, statement cache per connection). Everything
//!   runs on the store's own small runtime, as the SQLite store's writer runs on its own
//!   thread: the trait's blocking calls (`load_rooms`, `game_record`, `close`) wait on it from
//!   any thread, inside the server's runtime or not, and database latency never occupies the
//!   game's workers.
//! - **Schema.** Migrations embedded from `server/migrations` and applied by refinery under an
//!   advisory lock, so nodes starting together migrate once; a database migrated by a newer
//!   perudo is refused ([`StorageError::NewerSchema`]) before anything is written.
//! - **Group commit.** One writer task takes every batch queued (up to `MAX_GROUP`) and commits
//!   them in one transaction: one statement checks the leases of all the group's rooms, then
//!   each room's writes run as their own chain of statements, the rooms' chains pipelined on
//!   the one connection. If the transaction fails, each batch is retried alone, so one room's
//!   bad batch fails only that room. A room hears `Ok` only after `COMMIT` returned.
//! - **Leases.** A room's batch is written only while this node holds the room's lease at the
//!   epoch it was given (checked `FOR SHARE`, so a take-over waits for the write and the write
//!   cannot slip in after one); otherwise the batch is refused with [`StorageError::Fenced`].
//!   Creating a room takes its lease in the same transaction; `load_rooms` claims every room
//!   whose lease is free or expired; one statement renews all of the node's leases; `close`
//!   releases them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use futures_util::future::try_join_all;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{
    Batch, ClusterNode, GameImage, GameStart, MAX_GROUP, Placement, RETENTION_EVERY, RoomImage,
    StorageError, Store, Write, unix_ms,
};
use crate::record::GameRecord;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Settings of the PostgreSQL store.
#[derive(Clone)]
pub struct PostgresOptions {
    /// A libpq connection string: a URL (`postgres://user:password@host/db`) or `key=value`
    /// pairs (`host=/run/postgresql dbname=perudo`).
    pub url: String,
    /// Most connections this node opens.
    pub pool_size: usize,
    /// Finished games (and closed rooms) are deleted this long after they ended.
    pub retention: Duration,
    /// How long a room's lease lasts without being renewed.
    pub lease: Duration,
    /// How often the node renews all its leases and claims the rooms of dead nodes (the
    /// server's cluster loop, `crate::cluster`); `None`: only when called by hand (tests).
    pub renew_every: Option<Duration>,
    /// This node's name in the leases: unique among the nodes, new at every start.
    pub node: String,
    /// Where the other nodes reach this one to pass it the sockets of its rooms
    /// (`--node-url`); `None`: they cannot, so a room's players must reach it directly.
    pub node_url: Option<String>,
    /// A PEM file of CA certificates to trust for the database's certificate, besides the
    /// public roots (`--database-ca`), with `sslmode=require` or `verify-full`.
    pub ca_file: Option<std::path::PathBuf>,
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password.
        f.debug_struct("PostgresOptions")
            .field("pool_size", &self.pool_size)
            .field("retention", &self.retention)
            .field("lease", &self.lease)
            .field("renew_every", &self.renew_every)
            .field("node", &self.node)
            .field("node_url", &self.node_url)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl PostgresOptions {
    /// The defaults for `url`: 16 connections, 30 days' retention, 5 s leases renewed every
    /// 1.5 s, and a fresh node name.
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            pool_size: 16,
            retention: Duration::from_secs(30 * 86_400),
            lease: Duration::from_secs(5),
            renew_every: Some(Duration::from_millis(1500)),
            node: node_name(),
            node_url: None,
            ca_file: None,
        }
    }
}

/// `<host>-<pid>-<random>`: readable in the leases table, and new at every start, so a node
/// that restarts never mistakes its previous life's leases for its own.
pub fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

impl From<tokio_postgres::Error> for StorageError {
    fn from(e: tokio_postgres::Error) -> StorageError {
        use tokio_postgres::error::SqlState;
        let Some(db) = e.as_db_error() else {
            // With its causes: "error performing TLS handshake" alone does not say why.
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            return StorageError::Database(text);
        };
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION {
            StorageError::Conflict
        } else if *code == SqlState::DISK_FULL || *code == SqlState::PROGRAM_LIMIT_EXCEEDED {
            StorageError::Full
        } else if *code == SqlState::READ_ONLY_SQL_TRANSACTION
            || *code == SqlState::INSUFFICIENT_PRIVILEGE
        {
            StorageError::ReadOnly
        } else {
            StorageError::Database(format!("{}: {}", db.code().code(), db.message()))
        }
    }
}

impl From<deadpool_postgres::PoolError> for StorageError {
    fn from(e: deadpool_postgres::PoolError) -> StorageError {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            e => StorageError::Database(format!("no database connection: {e}")),
        }
    }
}

/// The leases this node holds: room code -> epoch.
type Leases = Arc<Mutex<HashMap<String, i64>>>;

struct Job(Batch, oneshot::Sender<Result<(), StorageError>>);

/// What the writer task and the lease task share.
#[derive(Clone)]
struct Shared {
    pool: Pool,
    node: Arc<str>,
    lease_ms: i64,
    leases: Leases,
    /// The last group commit's failure, while it lasts.
    write_health: Arc<Mutex<Option<StorageError>>>,
    /// The last lease renewal's failure (the database unreachable), while it lasts.
    lease_health: Arc<Mutex<Option<StorageError>>>,
}

/// Rooms in PostgreSQL, written by one task with group commit, fenced by room leases.
pub struct PostgresStore {
    shared: Shared,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    jobs: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Ends the session that holds the node's liveness lock.
    stop_liveness: CancellationToken,
    renew_every: Option<Duration>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("node", &self.shared.node)
            .finish_non_exhaustive()
    }
}

/// Serialises migrations of nodes starting together (any fixed number will do).
const MIGRATION_LOCK: i64 = 0x7065_7275_646f; // "perudo"

/// The first key of every node's liveness lock, `pg_advisory_lock(NODE_LOCK, nodes.id)`
/// ("peru"); `live_nodes` (migration V2) looks for it in `pg_locks`.
const NODE_LOCK: i32 = 0x7065_7275;

/// How long a node waits before connecting again when its liveness session broke.
const LIVENESS_RETRY: Duration = Duration::from_secs(1);

impl PostgresStore {
    /// Connects, applies the migrations this build carries and starts the writer (and the
    /// lease renewal). Blocking.
    pub fn open(options: PostgresOptions) -> Result<PostgresStore, StorageError> {
        let (pg_config, tls) = connect_config(&options.url, options.ca_file.as_deref())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("perudo-pg")
            .enable_all()
            .build()
            .map_err(|e| StorageError::Database(format!("cannot start the store: {e}")))?;
        let handle = runtime.handle().clone();
        let recycling = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        // A node paused (SIGSTOP, a frozen VM) inside a group commit holds its leases' rows
        // `FOR SHARE` until it resumes, and no other node could take its rooms meanwhile (the
        // claim skips locked rows): the pool's sessions end a transaction left idle longer
        // than the lease, which releases the rows. (The liveness session is never in a
        // transaction.)
        let mut pool_config = pg_config.clone();
        let idle = format!(
            "-c idle_in_transaction_session_timeout={}",
            options.lease.as_millis().max(1)
        );
        let joined = match pool_config.get_options() {
            Some(given) if !given.trim().is_empty() => format!("{given} {idle}"),
            _ => idle,
        };
        pool_config.options(&joined);
        let manager = match &tls {
            Tls::Plain => Manager::from_config(pool_config, NoTls, recycling),
            Tls::Verified(connector) => {
                Manager::from_config(pool_config, connector.clone(), recycling)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(2))
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(10)))
            .wait_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StorageError::Database(format!("the connection pool: {e}")))?;
        let shared = Shared {
            pool,
            node: options.node.as_str().into(),
            lease_ms: options.lease.as_millis() as i64,
            leases: Arc::default(),
            write_health: Arc::default(),
            lease_health: Arc::default(),
        };
        block_on(&handle, migrate(shared.pool.clone()))?;
        // Live (its lock held) before it claims anything: a node that is not live may have
        // its rooms taken at once.
        let liveness_config = pg_config.clone();
        let liveness_tls = tls.clone();
        let node = shared.node.clone();
        let node_url = options.node_url.clone();
        let (id, session) = block_on(&handle, async move {
            let (client, connection) = connect_liveness(&liveness_config, &liveness_tls).await?;
            let id: i32 = client
                .query_one(
                    "INSERT INTO nodes (name, url) VALUES ($1, $2) RETURNING id",
                    &[&&*node, &node_url],
                )
                .await?
                .get(0);
            client
                .execute("SELECT pg_advisory_lock($1, $2)", &[&NODE_LOCK, &id])
                .await?;
            Ok((id, (client, connection)))
        })?;
        let stop_liveness = CancellationToken::new();
        handle.spawn(hold_liveness(
            pg_config,
            tls,
            id,
            session,
            shared.lease_health.clone(),
            stop_liveness.clone(),
        ));
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = handle.spawn(write_loop(shared.clone(), rx, options.retention));
        info!(node = %shared.node, lease_ms = shared.lease_ms, "storage open (PostgreSQL)");
        Ok(PostgresStore {
            shared,
            runtime: Mutex::new(Some(runtime)),
            handle,
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            stop_liveness,
            renew_every: options.renew_every,
        })
    }

    /// This node's name in the leases table.
    pub fn node(&self) -> &str {
        &self.shared.node
    }

    /// The epoch of this node's lease on `code`, if it holds one.
    pub fn epoch(&self, code: &str) -> Option<u64> {
        let leases = self.shared.leases.lock().expect("leases lock");
        leases.get(code).map(|e| *e as u64)
    }
}

type LivenessSession = (
    tokio_postgres::Client,
    tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
);

/// How the store reaches the database, from the URL's `sslmode`.
#[derive(Clone)]
pub(crate) enum Tls {
    /// `disable`, `allow`, `prefer` (the default): no TLS. A Unix socket never uses TLS.
    Plain,
    /// `require`, `verify-ca`, `verify-full`: TLS, and the server's certificate verified for
    /// its host name against the public roots and `--database-ca`.
    Verified(tokio_postgres_rustls::MakeRustlsConnect),
}

/// The URL's `sslmode` value, if it has one (`sslmode=` in a URL's query or in `key=value`
/// pairs).
fn ssl_mode(url: &str) -> Option<&str> {
    let at = url.find("sslmode=")?;
    let rest = &url[at + "sslmode=".len()..];
    rest.split(|c: char| c == '&' || c.is_whitespace()).next()
}

/// Parses a libpq connection string and chooses the TLS its `sslmode` asks for. libpq's
/// modes that tokio-postgres does not parse are mapped to its own: `allow` to `disable`,
/// `verify-ca` and `verify-full` to `require` (the certificate is verified in every TLS mode:
/// an unverified TLS connection protects against nothing but a passive listener, which is
/// why `prefer` stays without TLS rather than trying it unverified).
pub(crate) fn connect_config(
    url: &str,
    ca_file: Option<&std::path::Path>,
) -> Result<(tokio_postgres::Config, Tls), StorageError> {
    let mode = ssl_mode(url).map(str::to_string);
    let rewritten = match mode.as_deref() {
        Some(m @ ("verify-ca" | "verify-full")) => {
            url.replacen(&format!("sslmode={m}"), "sslmode=require", 1)
        }
        Some("allow") => url.replacen("sslmode=allow", "sslmode=disable", 1),
        _ => url.to_string(),
    };
    let mut config: tokio_postgres::Config = rewritten
        .parse()
        .map_err(|e| StorageError::Database(format!("the database URL: {e}")))?;
    let verified = matches!(
        mode.as_deref(),
        Some("require" | "verify-ca" | "verify-full")
    );
    if !verified {
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        return Ok((config, Tls::Plain));
    }
    let ca = ca_file.map(std::path::Path::to_path_buf);
    let roots = crate::check::tls_roots(ca.as_ref())
        .map_err(|e| StorageError::Database(format!("the database CA (database-ca): {e}")))?;
    Ok((
        config,
        Tls::Verified(tokio_postgres_rustls::MakeRustlsConnect::new(
            (*roots).clone(),
        )),
    ))
}

/// Connects one client outside the pool.
async fn connect_one(
    config: &tokio_postgres::Config,
    tls: &Tls,
) -> Result<LivenessSession, StorageError> {
    Ok(match tls {
        Tls::Plain => {
            let (client, connection) = config.connect(NoTls).await?;
            (client, tokio::spawn(connection))
        }
        Tls::Verified(connector) => {
            let (client, connection) = config.connect(connector.clone()).await?;
            (client, tokio::spawn(connection))
        }
    })
}

/// A connection of its own (not the pool's, which recycles connections): the session that
/// holds the node's liveness lock.
async fn connect_liveness(
    config: &tokio_postgres::Config,
    tls: &Tls,
) -> Result<LivenessSession, StorageError> {
    connect_one(config, tls).await
}

/// Keeps the node's liveness lock held for as long as the store is open: when its session
/// breaks (the database restarted, the connection was cut), connects again and takes the
/// lock again. Meanwhile the other nodes count this one as dead and may take its rooms; its
/// next renewal reports them lost, and fencing refuses their writes.
async fn hold_liveness(
    config: tokio_postgres::Config,
    tls: Tls,
    id: i32,
    mut session: LivenessSession,
    lease_health: Arc<Mutex<Option<StorageError>>>,
    stop: CancellationToken,
) {
    loop {
        let (client, connection) = session;
        tokio::select! {
            () = stop.cancelled() => return,
            ended = connection => {
                drop(client);
                let why = match ended {
                    Ok(Err(e)) => e.to_string(),
                    Ok(Ok(())) | Err(_) => "the session ended".into(),
                };
                warn!(error = %why, "lost the node's liveness session: connecting again");
            }
        }
        session = loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(LIVENESS_RETRY) => {}
            }
            let attempt = async {
                let (client, connection) = connect_liveness(&config, &tls).await?;
                client
                    .execute("SELECT pg_advisory_lock($1, $2)", &[&NODE_LOCK, &id])
                    .await?;
                Ok::<_, StorageError>((client, connection))
            };
            match attempt.await {
                Ok(session) => {
                    info!("the node's liveness session is back");
                    break session;
                }
                Err(e) => {
                    warn!(error = %e, "cannot take the node's liveness lock");
                    *lease_health.lock().expect("lease health lock") = Some(e);
                }
            }
        };
    }
}

/// Runs `future` on the store's runtime and waits for it on this thread, whichever thread it
/// is (a runtime's worker included: it blocks it, as the SQLite store's calls do).
fn block_on<T: Send + 'static>(
    handle: &tokio::runtime::Handle,
    future: impl Future<Output = Result<T, StorageError>> + Send + 'static,
) -> Result<T, StorageError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv().unwrap_or(Err(StorageError::Closed))
}

async fn migrate(pool: Pool) -> Result<(), StorageError> {
    let mut conn = pool.get().await?;
    migrate_client(&mut conn).await
}

/// Applies the migrations this build carries, under the migration lock.
async fn migrate_client(conn: &mut tokio_postgres::Client) -> Result<(), StorageError> {
    conn.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = migrate_locked(conn).await;
    conn.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    result
}

async fn migrate_locked(conn: &mut tokio_postgres::Client) -> Result<(), StorageError> {
    let runner = embedded::migrations::runner();
    let known = runner
        .get_migrations()
        .iter()
        .map(|m| m.version())
        .max()
        .unwrap_or(0);
    // Refused before refinery touches anything: a schema newer than this build's.
    let has_history: bool = conn
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    let applied: Option<i32> = if has_history {
        conn.query_one("SELECT max(version) FROM refinery_schema_history", &[])
            .await?
            .get(0)
    } else {
        None
    };
    if let Some(found) = applied
        && found > known
    {
        return Err(StorageError::NewerSchema {
            found: found as u32,
            known: known as u32,
        });
    }
    let report = runner
        .run_async(conn)
        .await
        .map_err(|e| StorageError::Database(format!("migrating the schema: {e}")))?;
    for migration in report.applied_migrations() {
        info!(
            version = migration.version(),
            name = migration.name(),
            "schema migrated"
        );
    }
    Ok(())
}

async fn write_loop(shared: Shared, mut jobs: mpsc::UnboundedReceiver<Job>, retention: Duration) {
    // When the next cleanup is due: at once after the start, then every RETENTION_EVERY, also
    // while nothing is written. One timer for the loop's life, reset after each cleanup.
    let cleanup = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(cleanup);
    loop {
        tokio::select! {
            job = jobs.recv() => match job {
                Some(first) => commit_jobs(&shared, &mut jobs, first).await,
                None => break,
            },
            () = &mut cleanup => {}
        }
        if cleanup.is_elapsed() {
            match delete_expired(&shared.pool, retention).await {
                Ok(0) => {}
                Ok(n) => info!(rows = n, "deleted finished games past their retention"),
                Err(e) => warn!(error = %e, "could not delete expired games"),
            }
            cleanup
                .as_mut()
                .reset(tokio::time::Instant::now() + RETENTION_EVERY);
        }
    }
}

/// Commits `first` and whatever else is queued (up to `MAX_GROUP`) as one group, and answers
/// each batch.
async fn commit_jobs(shared: &Shared, jobs: &mut mpsc::UnboundedReceiver<Job>, first: Job) {
    let mut group = vec![first];
    while group.len() < MAX_GROUP {
        match jobs.try_recv() {
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
    let started = Instant::now();
    let batches: Vec<&Batch> = group.iter().map(|Job(batch, _)| batch).collect();
    let results = commit_group(shared, &batches).await;
    crate::metrics::group_commit(group.len(), started.elapsed());
    super::record_write_health(&shared.write_health, &results);
    for (Job(_, respond), result) in group.into_iter().zip(results) {
        let _ = respond.send(result);
    }
}

/// Commits every batch of `group` in one transaction; if that fails, each batch alone.
async fn commit_group(shared: &Shared, batches: &[&Batch]) -> Vec<Result<(), StorageError>> {
    let mut conn = match shared.pool.get().await {
        Ok(conn) => conn,
        Err(e) => {
            let error = StorageError::from(e);
            return batches.iter().map(|_| Err(error.clone())).collect();
        }
    };
    match commit_retrying(shared, &mut conn, batches).await {
        Ok(results) => results,
        Err(error) if batches.len() == 1 => vec![Err(error)],
        Err(_) => {
            let mut results = Vec::with_capacity(batches.len());
            for batch in batches {
                results.push(
                    commit_retrying(shared, &mut conn, &[batch])
                        .await
                        .and_then(|mut r| r.pop().unwrap_or(Err(StorageError::Closed))),
                );
            }
            results
        }
    }
}

/// [`commit_batches`], run again (up to [`DEADLOCK_TRIES`] times in all) while PostgreSQL
/// aborts it to break a deadlock: the whole transaction was rolled back, fencing check
/// included, so running it again is safe.
async fn commit_retrying(
    shared: &Shared,
    conn: &mut Object,
    batches: &[&Batch],
) -> Result<Vec<Result<(), StorageError>>, StorageError> {
    let mut tries = 1;
    loop {
        match commit_batches(shared, conn, batches).await {
            Err(e) if tries < DEADLOCK_TRIES && is_deadlock(&e) => {
                tries += 1;
                warn!(error = %e, batches = batches.len(), "a commit met a deadlock: trying again");
            }
            result => return result,
        }
    }
}

/// What committing a batch changes in the node's leases.
enum LeaseChange {
    None,
    Acquired(i64),
    Released,
}

/// One transaction: the fencing check of every room of `batches` in one statement, then the
/// writes of the batches that passed it, pipelined. `Ok` holds each batch's answer (`Ok` or
/// `Fenced`); `Err` means the transaction failed and nothing was written.
async fn commit_batches(
    shared: &Shared,
    conn: &mut Object,
    batches: &[&Batch],
) -> Result<Vec<Result<(), StorageError>>, StorageError> {
    let tx = conn.transaction().await?;
    let creates = |b: &Batch| matches!(b.writes.first(), Some(Write::CreateRoom(_)));
    let checked: Vec<&str> = batches
        .iter()
        .filter(|b| !creates(b))
        .map(|b| b.code.as_str())
        .collect();
    let mut live: HashMap<String, i64> = HashMap::new();
    if !checked.is_empty() {
        let check = tx
            .prepare_cached(
                "SELECT code, epoch FROM leases WHERE code = ANY($1) AND node = $2 \
                 AND expires_at > now() ORDER BY code FOR SHARE",
            )
            .await?;
        for row in tx.query(&check, &[&checked, &&*shared.node]).await? {
            live.insert(row.get(0), row.get(1));
        }
    }
    let verdicts: Vec<Result<(), StorageError>> = batches
        .iter()
        .map(|b| {
            if creates(b) {
                return Ok(());
            }
            // The epoch is the writing instance's, not the node's: an instance that lost the
            // lease is refused even after this node took the room back for a new instance.
            match live.get(&b.code) {
                Some(stored) if *stored == b.epoch as i64 => Ok(()),
                _ => Err(StorageError::Fenced),
            }
        })
        .collect();
    let now = unix_ms();
    let writes = batches
        .iter()
        .zip(&verdicts)
        .filter(|(_, verdict)| verdict.is_ok())
        .map(|(batch, _)| apply_batch(&tx, shared, batch, now));
    let changes = try_join_all(writes).await?;
    tx.commit().await?;
    let mut leases = shared.leases.lock().expect("leases lock");
    let passed = batches.iter().zip(&verdicts).filter(|(_, v)| v.is_ok());
    for ((batch, _), change) in passed.zip(changes) {
        match change {
            LeaseChange::None => {}
            LeaseChange::Acquired(epoch) => {
                leases.insert(batch.code.clone(), epoch);
            }
            LeaseChange::Released => {
                leases.remove(&batch.code);
            }
        }
    }
    crate::metrics::leases_held(leases.len());
    Ok(verdicts)
}

/// A room's writes, in order, as the SQLite store makes them.
async fn apply_batch(
    tx: &deadpool_postgres::Transaction<'_>,
    shared: &Shared,
    batch: &Batch,
    now: i64,
) -> Result<LeaseChange, StorageError> {
    let code = batch.code.as_str();
    let mut change = LeaseChange::None;
    let mut clock: Option<Option<String>> = None;
    let mut deleted = false;
    for write in &batch.writes {
        match write {
            Write::CreateRoom(lobby) => {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rooms (code, created_ms, updated_ms, version, lobby) \
                         VALUES ($1, $2, $2, $3, $4)",
                    )
                    .await?;
                tx.execute(
                    &insert,
                    &[
                        &code,
                        &now,
                        &(batch.version as i64),
                        &serde_json::to_string(lobby)?,
                    ],
                )
                .await?;
                // The room is new (its row was just inserted), so nobody can own it: take
                // its lease at the batch's epoch, the one the new room's instance writes at.
                // A stale lease row of a room deleted earlier is taken over: only that
                // room's own last instance deleted it, and that instance has ended.
                let lease = tx
                    .prepare_cached(
                        "INSERT INTO leases (code, node, epoch, expires_at) \
                         VALUES ($1, $2, $4, now() + $3::bigint * interval '1 millisecond') \
                         ON CONFLICT (code) DO UPDATE SET node = excluded.node, \
                         epoch = excluded.epoch, expires_at = excluded.expires_at \
                         RETURNING epoch",
                    )
                    .await?;
                let row = tx
                    .query_one(
                        &lease,
                        &[
                            &code,
                            &&*shared.node,
                            &shared.lease_ms,
                            &(batch.epoch as i64),
                        ],
                    )
                    .await?;
                change = LeaseChange::Acquired(row.get(0));
            }
            Write::Lobby(lobby) => {
                let update = tx
                    .prepare_cached("UPDATE rooms SET lobby = $2 WHERE code = $1")
                    .await?;
                tx.execute(&update, &[&code, &serde_json::to_string(lobby)?])
                    .await?;
            }
            Write::GameStarted(start) => {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO games (code, number, config, names, seed, started_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .await?;
                tx.execute(
                    &insert,
                    &[
                        &code,
                        &i64::from(start.number),
                        &serde_json::to_string(&start.config)?,
                        &serde_json::to_string(&start.names)?,
                        &start.seed,
                        &start.started_ms,
                    ],
                )
                .await?;
            }
            Write::Moves {
                number,
                first_seq,
                moves,
            } => {
                // All of an input's moves in one statement.
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO moves (code, number, seq, move, at_ms) \
                         SELECT $1, $2, $3 + m.i - 1, m.move, $5 \
                         FROM unnest($4::text[]) WITH ORDINALITY AS m(move, i)",
                    )
                    .await?;
                let encoded: Vec<String> = moves
                    .iter()
                    .map(serde_json::to_string)
                    .collect::<Result<_, _>>()?;
                tx.execute(
                    &insert,
                    &[
                        &code,
                        &i64::from(*number),
                        &i64::from(*first_seq),
                        &encoded,
                        &now,
                    ],
                )
                .await?;
            }
            Write::GameOver { number, results } => {
                let update = tx
                    .prepare_cached(
                        "UPDATE games SET finished_ms = $3, results = $4 \
                         WHERE code = $1 AND number = $2",
                    )
                    .await?;
                tx.execute(
                    &update,
                    &[
                        &code,
                        &i64::from(*number),
                        &now,
                        &serde_json::to_string(results)?,
                    ],
                )
                .await?;
            }
            Write::Clock(next) => {
                clock = Some(next.map(|c| serde_json::to_string(&c)).transpose()?);
            }
            Write::Closed => {
                let delete = tx
                    .prepare_cached(
                        "DELETE FROM rooms WHERE code = $1 \
                         AND NOT EXISTS (SELECT 1 FROM games WHERE games.code = $1)",
                    )
                    .await?;
                deleted = tx.execute(&delete, &[&code]).await? > 0;
                if !deleted {
                    let close = tx
                        .prepare_cached("UPDATE rooms SET closed_ms = $2 WHERE code = $1")
                        .await?;
                    tx.execute(&close, &[&code, &now]).await?;
                }
                // A closed room is never restored: nobody needs its lease.
                let release = tx
                    .prepare_cached("DELETE FROM leases WHERE code = $1")
                    .await?;
                tx.execute(&release, &[&code]).await?;
                change = LeaseChange::Released;
            }
        }
    }
    if deleted {
        return Ok(change);
    }
    let update = tx
        .prepare_cached(
            "UPDATE rooms SET version = $2, updated_ms = $3, \
             clock = CASE WHEN $4 THEN $5 ELSE clock END WHERE code = $1",
        )
        .await?;
    let updated = tx
        .execute(
            &update,
            &[
                &code,
                &(batch.version as i64),
                &now,
                &clock.is_some(),
                &clock.flatten(),
            ],
        )
        .await?;
    if updated == 0 {
        return Err(StorageError::Database(format!("no stored room {code}")));
    }
    Ok(change)
}

/// Deletes finished games, and rooms closed, longer ago than `retention`. Returns the rows.
async fn delete_expired(pool: &Pool, retention: Duration) -> Result<u64, StorageError> {
    let cut = unix_ms() - retention.as_millis() as i64;
    let mut conn = pool.get().await?;
    let tx = conn.transaction().await?;
    let mut rows = 0;
    for sql in [
        "DELETE FROM moves WHERE (code, number) IN \
         (SELECT code, number FROM games WHERE finished_ms < $1)",
        "DELETE FROM games WHERE finished_ms < $1",
        "DELETE FROM moves WHERE code IN (SELECT code FROM rooms WHERE closed_ms < $1)",
        "DELETE FROM games WHERE code IN (SELECT code FROM rooms WHERE closed_ms < $1)",
        "DELETE FROM rooms WHERE closed_ms < $1",
    ] {
        rows += tx.execute(sql, &[&cut]).await?;
    }
    // Nodes that died and whose rooms have all moved on.
    tx.execute(
        "DELETE FROM nodes WHERE name NOT IN (SELECT name FROM live_nodes) \
         AND NOT EXISTS (SELECT 1 FROM leases WHERE leases.node = nodes.name)",
        &[],
    )
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// How many times a statement or a group commit is run when PostgreSQL keeps breaking
/// deadlocks by aborting it.
const DEADLOCK_TRIES: u32 = 5;

/// Whether PostgreSQL aborted the statement to break a deadlock (40P01): its transaction was
/// rolled back, so nothing of it happened and running it again is safe. With every statement
/// that locks several leases locking them in the codes' order there should be none; this is
/// what stays correct if one is missed.
fn is_deadlock(e: &StorageError) -> bool {
    let deadlock = tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED.code();
    matches!(e, StorageError::Database(m) if m.strip_prefix(deadlock).is_some_and(|m| m.starts_with(':')))
}

/// Runs `statement` again, up to [`DEADLOCK_TRIES`] times in all, while PostgreSQL aborts it
/// to break a deadlock.
async fn retrying_deadlocks<T, F, Fut>(what: &str, mut statement: F) -> Result<T, StorageError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
{
    let mut tries = 1;
    loop {
        match statement().await.map_err(StorageError::from) {
            Err(e) if tries < DEADLOCK_TRIES && is_deadlock(&e) => {
                tries += 1;
                warn!(error = %e, "{what} met a deadlock: trying again");
            }
            result => return result,
        }
    }
}

/// Renews every lease `node` holds in one statement; forgets (and returns) the rooms whose
/// lease it no longer holds: expired, or taken over by another node.
async fn renew(shared: &Shared) -> Result<Vec<String>, StorageError> {
    let started = Instant::now();
    // Only the leases held before the statement can have been lost by it: a room created or
    // claimed while it runs is not in its answer, and is not lost.
    let before: HashMap<String, i64> = shared.leases.lock().expect("leases lock").clone();
    let conn = shared.pool.get().await?;
    // The rows are locked in the codes' order (`mine`), as every statement that locks several
    // leases does: in the table's order it deadlocked with a claim that keeps a row it found
    // taken locked while it waits for the next one.
    let renew = conn
        .prepare_cached(
            "WITH beat AS (UPDATE nodes SET renewed_at = now() WHERE name = $1), \
             mine AS MATERIALIZED (SELECT code FROM leases \
               WHERE node = $1 AND expires_at > now() ORDER BY code FOR UPDATE) \
             UPDATE leases SET expires_at = now() + $2::bigint * interval '1 millisecond' \
             FROM mine WHERE leases.code = mine.code RETURNING leases.code, leases.epoch",
        )
        .await?;
    let node: &str = &shared.node;
    let params: [&(dyn ToSql + Sync); 2] = [&node, &shared.lease_ms];
    let rows = retrying_deadlocks("renewing the leases", || conn.query(&renew, &params)).await?;
    crate::metrics::lease_renewal(started.elapsed());
    let renewed: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut leases = shared.leases.lock().expect("leases lock");
    let lost: Vec<String> = before
        .iter()
        .filter(|(code, epoch)| renewed.get(*code) != Some(epoch))
        .filter(|(code, epoch)| leases.get(*code) == Some(epoch))
        .map(|(code, _)| code.clone())
        .collect();
    for code in &lost {
        leases.remove(code);
    }
    crate::metrics::leases_held(leases.len());
    crate::metrics::handovers("lost", lost.len());
    Ok(lost)
}

/// The nodes whose liveness lock is held, as a subquery.
const LIVE_NODES: &str = "(SELECT name FROM live_nodes)";

/// Claims for this node every room not closed whose lease is free or expired, or held by a
/// node that is not live (`only`: just that room, also when this node already holds it),
/// bumping each epoch; returns the claimed codes with their epochs. A node's own live rooms
/// are never claimed again by a full claim, so calling it while running finds only the rooms
/// of dead nodes.
async fn claim(shared: &Shared, only: Option<&str>) -> Result<Vec<(String, i64)>, StorageError> {
    let conn = shared.pool.get().await?;
    let claim = conn
        .prepare_cached(&format!(
            "INSERT INTO leases (code, node, epoch, expires_at) \
             SELECT r.code, $1, 1, now() + $2::bigint * interval '1 millisecond' FROM rooms r \
             WHERE r.closed_ms IS NULL AND ($3::text IS NULL OR r.code = $3) \
             AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.code = r.code \
               AND l.expires_at > now() AND l.node IN {LIVE_NODES} \
               AND NOT ($3::text IS NOT NULL AND l.node = $1)) \
             ORDER BY r.code \
             ON CONFLICT (code) DO UPDATE SET node = excluded.node, \
             epoch = leases.epoch + 1, expires_at = excluded.expires_at \
             WHERE leases.expires_at <= now() \
             OR ($3::text IS NOT NULL AND leases.node = excluded.node) \
             OR (leases.node <> excluded.node AND leases.node NOT IN {LIVE_NODES}) \
             RETURNING code, epoch"
        ))
        .await?;
    // ON CONFLICT DO UPDATE locks each conflicting row even where its WHERE then declines, so
    // a claim of many rooms could deadlock with other nodes' renewals and commits (seen: a
    // node restarted after a kill exited with 40P01). The rooms live nodes hold are left out
    // before any lock, the rest are locked in code order, and a deadlock is retried.
    let node: &str = &shared.node;
    let params: [&(dyn ToSql + Sync); 3] = [&node, &shared.lease_ms, &only];
    let rows = retrying_deadlocks("claiming rooms", || conn.query(&claim, &params)).await?;
    let claimed: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    remember(shared, &claimed);
    Ok(claimed)
}

fn remember(shared: &Shared, claimed: &[(String, i64)]) {
    let mut leases = shared.leases.lock().expect("leases lock");
    for (code, epoch) in claimed {
        leases.insert(code.clone(), *epoch);
    }
    crate::metrics::leases_held(leases.len());
    crate::metrics::handovers("claimed", claimed.len());
}

/// Claims this node's share of the rooms orphaned by dead nodes (their lease expired, or their
/// node is no longer live), picked at random, skipping the rows another node is claiming at
/// this moment. The share fills this node up to the average load of the nodes that renew
/// their leases (live, and renewed within a lease: a paused node is live but renews nothing,
/// and is not counted) once the orphans are placed (the least loaded take the most), and is
/// at least one room while any is orphaned. Each node does the same at its own tick: a dead
/// or paused node's rooms spread over the survivors in about one tick each, with no
/// coordination beyond the database.
async fn claim_share(shared: &Shared) -> Result<Vec<(String, i64)>, StorageError> {
    let conn = shared.pool.get().await?;
    // Rooms that have no lease row at all (copied by `perudo migrate`) get an expired one,
    // so that the claim below finds them.
    let unleased = conn
        .prepare_cached(
            "INSERT INTO leases (code, node, epoch, expires_at) \
             SELECT r.code, '', 0, '-infinity' FROM rooms r WHERE r.closed_ms IS NULL \
             AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.code = r.code) \
             ON CONFLICT (code) DO NOTHING",
        )
        .await?;
    conn.execute(&unleased, &[]).await?;
    let claim = conn
        .prepare_cached(&format!(
            "WITH live AS {LIVE_NODES}, \
             renewing AS (SELECT n.name FROM nodes n WHERE n.name IN (SELECT name FROM live) \
               AND (n.name = $1 \
               OR n.renewed_at > now() - $2::bigint * interval '1 millisecond')), \
             orphan AS (SELECT l.code FROM leases l JOIN rooms r ON r.code = l.code \
               WHERE r.closed_ms IS NULL AND (l.expires_at <= now() \
               OR (l.node <> $1 AND l.node NOT IN (SELECT name FROM live)))), \
             held AS (SELECT count(*) FILTER (WHERE l.node = $1) AS mine, count(*) AS total \
               FROM leases l WHERE l.expires_at > now() \
               AND l.node IN (SELECT name FROM live)), \
             sizes AS (SELECT (SELECT count(*) FROM orphan)::float8 AS orphans, \
               greatest((SELECT count(*) FROM renewing), 1)::float8 AS nodes, \
               (SELECT mine FROM held)::float8 AS mine, (SELECT total FROM held)::float8 AS total), \
             quota AS (SELECT greatest( \
               ceil((total + orphans) / nodes) - mine, least(orphans, 1))::bigint AS n \
               FROM sizes), \
             picked AS (SELECT l.code FROM leases l WHERE l.code IN (SELECT code FROM orphan) \
               ORDER BY random() LIMIT (SELECT n FROM quota) \
               FOR UPDATE SKIP LOCKED) \
             UPDATE leases SET node = $1, epoch = leases.epoch + 1, \
               expires_at = now() + $2::bigint * interval '1 millisecond' \
             FROM picked WHERE leases.code = picked.code AND (leases.expires_at <= now() \
               OR (leases.node <> $1 AND leases.node NOT IN (SELECT name FROM live))) \
             RETURNING leases.code, leases.epoch"
        ))
        .await?;
    let rows = conn
        .query(&claim, &[&&*shared.node, &shared.lease_ms])
        .await?;
    let claimed: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    remember(shared, &claimed);
    Ok(claimed)
}

/// Takes `code` for this node if nobody live holds it (see [`claim`], without bumping a live
/// lease of this node's), else says who does.
async fn take_or_locate(shared: &Shared, code: &str) -> Result<Placement, StorageError> {
    let conn = shared.pool.get().await?;
    let take = conn
        .prepare_cached(&format!(
            "INSERT INTO leases (code, node, epoch, expires_at) \
             SELECT r.code, $1, 1, now() + $2::bigint * interval '1 millisecond' FROM rooms r \
             WHERE r.closed_ms IS NULL AND r.code = $3 \
             ON CONFLICT (code) DO UPDATE SET node = excluded.node, \
             epoch = leases.epoch + 1, expires_at = excluded.expires_at \
             WHERE leases.expires_at <= now() \
             OR (leases.node <> excluded.node AND leases.node NOT IN {LIVE_NODES}) \
             RETURNING code, epoch"
        ))
        .await?;
    let rows = conn
        .query(&take, &[&&*shared.node, &shared.lease_ms, &code])
        .await?;
    if let Some(row) = rows.first() {
        let claimed = vec![(row.get::<_, String>(0), row.get::<_, i64>(1))];
        remember(shared, &claimed);
        drop(conn);
        let mut images = load_images(shared.pool.clone(), claimed).await?;
        return Ok(match images.pop() {
            Some(image) => Placement::Here(Box::new(image)),
            None => Placement::Missing,
        });
    }
    let owner = conn
        .query_opt(
            "SELECT l.node, n.url FROM leases l JOIN rooms r ON r.code = l.code \
             LEFT JOIN nodes n ON n.name = l.node WHERE l.code = $1 AND r.closed_ms IS NULL",
            &[&code],
        )
        .await?;
    Ok(match owner {
        None => Placement::Missing,
        Some(row) if row.get::<_, &str>(0) == &*shared.node => Placement::Mine,
        Some(row) => Placement::Elsewhere {
            node: row.get(0),
            url: row.get(1),
        },
    })
}

/// The rooms just claimed at `claimed` (code, epoch), each image at its claimed epoch.
async fn load_images(
    pool: Pool,
    claimed: Vec<(String, i64)>,
) -> Result<Vec<RoomImage>, StorageError> {
    let (codes, epochs): (Vec<String>, Vec<i64>) = claimed.into_iter().unzip();
    let epochs: HashMap<&str, i64> = codes.iter().map(String::as_str).zip(epochs).collect();
    let conn = pool.get().await?;
    let rooms = conn
        .query(
            "SELECT code, version, lobby, clock FROM rooms WHERE code = ANY($1) ORDER BY code",
            &[&codes],
        )
        .await?;
    let games = conn
        .query(
            "SELECT DISTINCT ON (code) code, number, config, names, seed, started_ms, results \
             FROM games WHERE code = ANY($1) ORDER BY code, number DESC",
            &[&codes],
        )
        .await?;
    let mut latest: HashMap<String, GameImage> = HashMap::new();
    for row in &games {
        let code: String = row.get(0);
        latest.insert(
            code,
            GameImage {
                start: GameStart {
                    number: row.get::<_, i64>(1) as u32,
                    config: serde_json::from_str(row.get(2))?,
                    names: serde_json::from_str(row.get(3))?,
                    seed: row.get(4),
                    started_ms: row.get(5),
                },
                moves: Vec::new(),
                results: row
                    .get::<_, Option<&str>>(6)
                    .map(serde_json::from_str)
                    .transpose()?,
            },
        );
    }
    let (game_codes, numbers): (Vec<&str>, Vec<i64>) = latest
        .iter()
        .map(|(code, g)| (code.as_str(), i64::from(g.start.number)))
        .unzip();
    let moves = conn
        .query(
            "SELECT m.code, m.move FROM moves m \
             JOIN unnest($1::text[], $2::bigint[]) AS g(code, number) \
             ON m.code = g.code AND m.number = g.number ORDER BY m.code, m.seq",
            &[&game_codes, &numbers],
        )
        .await?;
    let mut by_room: HashMap<String, Vec<perudo_core::Move>> = HashMap::new();
    for row in &moves {
        by_room
            .entry(row.get(0))
            .or_default()
            .push(serde_json::from_str(row.get(1))?);
    }
    let mut images = Vec::with_capacity(rooms.len());
    for row in &rooms {
        let code: String = row.get(0);
        let game = latest.remove(&code).map(|mut game| {
            game.moves = by_room.remove(&code).unwrap_or_default();
            game
        });
        let Some(&epoch) = epochs.get(code.as_str()) else {
            continue;
        };
        images.push(RoomImage {
            epoch: epoch as u64,
            version: row.get::<_, i64>(1) as u64,
            lobby: serde_json::from_str(row.get(2))?,
            clock: row
                .get::<_, Option<&str>>(3)
                .map(serde_json::from_str)
                .transpose()?,
            game,
            code,
        });
    }
    Ok(images)
}

async fn load_record(
    pool: Pool,
    code: String,
    game: u32,
) -> Result<Option<GameRecord>, StorageError> {
    let conn = pool.get().await?;
    let row = conn
        .query_opt(
            "SELECT config, names, seed, started_ms, finished_ms, results FROM games \
             WHERE code = $1 AND number = $2",
            &[&code, &i64::from(game)],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (Some(finished_ms), Some(results)) =
        (row.get::<_, Option<i64>>(4), row.get::<_, Option<&str>>(5))
    else {
        return Ok(None);
    };
    let start = GameStart {
        number: game,
        config: serde_json::from_str(row.get(0))?,
        names: serde_json::from_str(row.get(1))?,
        seed: row.get(2),
        started_ms: row.get(3),
    };
    let results = serde_json::from_str(results)?;
    let moves = conn
        .query(
            "SELECT move FROM moves WHERE code = $1 AND number = $2 ORDER BY seq",
            &[&code, &i64::from(game)],
        )
        .await?
        .iter()
        .map(|r| serde_json::from_str(r.get(0)))
        .collect::<Result<Vec<_>, _>>()?;
    GameRecord::new(&code, start, moves, results, finished_ms)
        .map(Some)
        .map_err(StorageError::Corrupt)
}

impl Store for PostgresStore {
    fn commit(&self, batch: Batch) -> oneshot::Receiver<Result<(), StorageError>> {
        let (respond, rx) = oneshot::channel();
        let jobs = self.jobs.lock().expect("storage jobs lock");
        match jobs.as_ref() {
            Some(jobs) => {
                if let Err(mpsc::error::SendError(Job(_, respond))) = jobs.send(Job(batch, respond))
                {
                    let _ = respond.send(Err(StorageError::Closed));
                }
            }
            None => {
                let _ = respond.send(Err(StorageError::Closed));
            }
        }
        rx
    }

    /// Claims every room whose lease is free or expired (a fresh start, or the rooms of a
    /// node that died) and returns those rooms.
    fn load_rooms(&self) -> Result<Vec<RoomImage>, StorageError> {
        let shared = self.shared.clone();
        block_on(&self.handle, async move {
            let claimed = claim(&shared, None).await?;
            load_images(shared.pool.clone(), claimed).await
        })
    }

    fn game_record(&self, code: &str, game: u32) -> Result<Option<GameRecord>, StorageError> {
        block_on(
            &self.handle,
            load_record(self.shared.pool.clone(), code.to_string(), game),
        )
    }

    fn health(&self) -> Result<(), StorageError> {
        for health in [&self.shared.write_health, &self.shared.lease_health] {
            if let Some(error) = &*health.lock().expect("storage health lock") {
                return Err(error.clone());
            }
        }
        Ok(())
    }

    fn acquire(&self, code: &str) -> Result<u64, StorageError> {
        let shared = self.shared.clone();
        let code = code.to_string();
        block_on(&self.handle, async move {
            match claim(&shared, Some(&code)).await?.pop() {
                Some((_, epoch)) => Ok(epoch as u64),
                None => Err(StorageError::Fenced),
            }
        })
    }

    fn renew_leases(&self) -> Result<Vec<String>, StorageError> {
        let shared = self.shared.clone();
        block_on(&self.handle, async move {
            let result = renew(&shared).await;
            match &result {
                Ok(lost) if !lost.is_empty() => {
                    warn!(
                        rooms = lost.len(),
                        "lost room leases (expired or taken over)"
                    );
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "cannot renew the room leases"),
            }
            // The renewal is the node's heartbeat to the database: `/readyz` follows it.
            *shared.lease_health.lock().expect("lease health lock") =
                result.as_ref().err().cloned();
            // It is a write, too: a group commit that failed on a broken connection (say,
            // one the database closed while the node was paused) no longer says the node
            // cannot write once this one went through. Without it a node left with no rooms
            // to write for stayed unready for good. (A full disk or a read-only database is
            // cleared only by a group commit that succeeds.)
            if result.is_ok() {
                let mut write = shared.write_health.lock().expect("storage health lock");
                if matches!(&*write, Some(StorageError::Database(_))) {
                    *write = None;
                }
            }
            result
        })
    }

    fn cluster(&self) -> Option<ClusterNode> {
        Some(ClusterNode {
            node: self.shared.node.to_string(),
            renew_every: self.renew_every,
        })
    }

    fn claim_rooms(&self) -> Result<Vec<RoomImage>, StorageError> {
        let shared = self.shared.clone();
        block_on(&self.handle, async move {
            let claimed = claim_share(&shared).await?;
            if claimed.is_empty() {
                return Ok(Vec::new());
            }
            load_images(shared.pool.clone(), claimed).await
        })
    }

    fn take_room(&self, code: &str) -> Result<Placement, StorageError> {
        let shared = self.shared.clone();
        let code = code.to_string();
        block_on(
            &self.handle,
            async move { take_or_locate(&shared, &code).await },
        )
    }

    fn release_leases(&self) -> Result<(), StorageError> {
        let shared = self.shared.clone();
        block_on(&self.handle, async move {
            let conn = shared.pool.get().await?;
            // Expired at once, epochs kept: the next owner's claim bumps them. Locked in the
            // codes' order, as the renewal does.
            let node: &str = &shared.node;
            let params: [&(dyn ToSql + Sync); 1] = [&node];
            retrying_deadlocks("releasing the leases", || {
                conn.execute(
                    "UPDATE leases SET expires_at = now() FROM (SELECT code FROM leases \
                     WHERE node = $1 ORDER BY code FOR UPDATE) mine \
                     WHERE leases.code = mine.code",
                    &params,
                )
            })
            .await?;
            let mut leases = shared.leases.lock().expect("leases lock");
            crate::metrics::handovers("released", leases.len());
            leases.clear();
            crate::metrics::leases_held(0);
            Ok(())
        })
    }

    fn close(&self) {
        // Dropping the sender ends the writer's loop once the queue is empty.
        self.jobs.lock().expect("storage jobs lock").take();
        if let Some(writer) = self.writer.lock().expect("storage writer lock").take() {
            let handle = self.handle.clone();
            let _ = block_on(&handle, async move {
                writer
                    .await
                    .map_err(|e| StorageError::Database(e.to_string()))
            });
        }
        if self.runtime.lock().expect("store runtime lock").is_some() {
            if let Err(e) = self.release_leases() {
                warn!(error = %e, "could not release the room leases");
            }
            // Gone from the nodes at once (its leases are released already).
            let shared = self.shared.clone();
            let _ = block_on(&self.handle, async move {
                let conn = shared.pool.get().await?;
                conn.execute("DELETE FROM nodes WHERE name = $1", &[&&*shared.node])
                    .await?;
                Ok(())
            });
            self.stop_liveness.cancel();
            self.shared.pool.close();
        }
        if let Some(runtime) = self.runtime.lock().expect("store runtime lock").take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// What `perudo migrate` copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copied {
    pub rooms: u64,
    pub games: u64,
    pub moves: u64,
}

/// Rows copied per statement.
const COPY_CHUNK: usize = 1000;

/// Copies every room, game and move of the SQLite database at `from` (which must not be in
/// use by a server) into the PostgreSQL database at `url`, migrating its schema first, in one
/// transaction: all or nothing. The PostgreSQL database must hold no rooms yet. The rows are
/// copied as stored (the JSON byte for byte), after checking that each decodes.
pub async fn copy_from_sqlite(from: &std::path::Path, url: &str) -> Result<Copied, StorageError> {
    use rusqlite::{Connection, OpenFlags};
    if !from.exists() {
        return Err(StorageError::Database(format!(
            "no database at {}",
            from.display()
        )));
    }
    // A server killed with moves journaled but not folded: they are not in the file yet.
    if super::journal::holds_records(from)? {
        return Err(StorageError::Database(format!(
            "{} has moves not yet folded into it (files {}-moves-N): a server is using it, \
             or one stopped without closing it; start `perudo serve` on it once and stop it \
             (it folds them), then copy",
            from.display(),
            from.display()
        )));
    }
    let sqlite = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    super::check_schema(&sqlite)?;
    let (config, tls) = connect_config(url, None)?;
    let (mut client, connection) = connect_one(&config, &tls).await?;
    let result = copy_rows(&sqlite, &mut client).await;
    drop(client);
    let _ = connection.await;
    result
}

async fn copy_rows(
    sqlite: &rusqlite::Connection,
    client: &mut tokio_postgres::Client,
) -> Result<Copied, StorageError> {
    migrate_client(client).await?;
    let tx = client.transaction().await?;
    // Taken before the check, so two copies at once cannot both find the database empty.
    tx.execute("LOCK TABLE rooms IN EXCLUSIVE MODE", &[])
        .await?;
    let present: i64 = tx
        .query_one("SELECT count(*) FROM rooms", &[])
        .await?
        .get(0);
    if present > 0 {
        return Err(StorageError::Database(format!(
            "the PostgreSQL database already holds {present} rooms: perudo migrate copies into \
             an empty database only"
        )));
    }

    type RoomRow = (String, i64, i64, i64, String, Option<String>, Option<i64>);
    let mut stmt = sqlite.prepare(
        "SELECT code, created_ms, updated_ms, version, lobby, clock, closed_ms FROM rooms",
    )?;
    let rooms: Vec<RoomRow> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    // Schema 2 keeps a room's version and clock after its last moves in their rows: the
    // PostgreSQL store keeps them in the room's row.
    let mut rooms = rooms;
    for row in &mut rooms {
        let (version, clock) = super::stored_tail(sqlite, &row.0, row.3, row.5.as_deref())?;
        row.3 = version;
        row.5 = clock;
    }
    for row in &rooms {
        serde_json::from_str::<super::LobbyImage>(&row.4)?;
        if let Some(clock) = &row.5 {
            serde_json::from_str::<super::ClockImage>(clock)?;
        }
    }
    for chunk in rooms.chunks(COPY_CHUNK) {
        let column = |f: fn(&RoomRow) -> String| chunk.iter().map(f).collect::<Vec<_>>();
        let codes = column(|r| r.0.clone());
        let lobbies = column(|r| r.4.clone());
        let created: Vec<i64> = chunk.iter().map(|r| r.1).collect();
        let updated: Vec<i64> = chunk.iter().map(|r| r.2).collect();
        let versions: Vec<i64> = chunk.iter().map(|r| r.3).collect();
        let clocks: Vec<Option<String>> = chunk.iter().map(|r| r.5.clone()).collect();
        let closed: Vec<Option<i64>> = chunk.iter().map(|r| r.6).collect();
        tx.execute(
            "INSERT INTO rooms (code, created_ms, updated_ms, version, lobby, clock, closed_ms) \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], \
             $5::text[], $6::text[], $7::bigint[])",
            &[
                &codes, &created, &updated, &versions, &lobbies, &clocks, &closed,
            ],
        )
        .await?;
    }

    type GameRow = (
        String,
        i64,
        String,
        String,
        String,
        i64,
        Option<i64>,
        Option<String>,
    );
    let mut stmt = sqlite.prepare(
        "SELECT code, number, config, names, seed, started_ms, finished_ms, results FROM games",
    )?;
    let games: Vec<GameRow> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    for row in &games {
        serde_json::from_str::<perudo_core::GameConfig>(&row.2)?;
        serde_json::from_str::<Vec<String>>(&row.3)?;
        if let Some(results) = &row.7 {
            serde_json::from_str::<perudo_protocol::GameResults>(results)?;
        }
    }
    for chunk in games.chunks(COPY_CHUNK) {
        let codes: Vec<&str> = chunk.iter().map(|r| r.0.as_str()).collect();
        let numbers: Vec<i64> = chunk.iter().map(|r| r.1).collect();
        let configs: Vec<&str> = chunk.iter().map(|r| r.2.as_str()).collect();
        let names: Vec<&str> = chunk.iter().map(|r| r.3.as_str()).collect();
        let seeds: Vec<&str> = chunk.iter().map(|r| r.4.as_str()).collect();
        let started: Vec<i64> = chunk.iter().map(|r| r.5).collect();
        let finished: Vec<Option<i64>> = chunk.iter().map(|r| r.6).collect();
        let results: Vec<Option<&str>> = chunk.iter().map(|r| r.7.as_deref()).collect();
        tx.execute(
            "INSERT INTO games (code, number, config, names, seed, started_ms, finished_ms, \
             results) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], \
             $5::text[], $6::bigint[], $7::bigint[], $8::text[])",
            &[
                &codes, &numbers, &configs, &names, &seeds, &started, &finished, &results,
            ],
        )
        .await?;
    }

    let mut stmt = sqlite.prepare("SELECT code, number, seq, move, at_ms FROM moves")?;
    let mut rows = stmt.query([])?;
    let mut moves = 0u64;
    let mut chunk: Vec<(String, i64, i64, String, i64)> = Vec::with_capacity(COPY_CHUNK);
    loop {
        let row = rows.next()?;
        if let Some(row) = row {
            let text: String = row.get(3)?;
            let (code, number, seq, at): (String, i64, i64, i64) =
                (row.get(0)?, row.get(1)?, row.get(2)?, row.get(4)?);
            let mut run = Vec::new();
            // A row of SQLite's may hold a run of moves (schema 3); PostgreSQL's hold one each.
            if super::push_moves(&mut run, &text)? == 1 {
                chunk.push((code, number, seq, text, at));
            } else {
                for (i, step) in run.iter().enumerate() {
                    let text = serde_json::to_string(step)?;
                    chunk.push((code.clone(), number, seq + i as i64, text, at));
                }
            }
        }
        if chunk.len() >= COPY_CHUNK || (row.is_none() && !chunk.is_empty()) {
            let codes: Vec<&str> = chunk.iter().map(|r| r.0.as_str()).collect();
            let numbers: Vec<i64> = chunk.iter().map(|r| r.1).collect();
            let seqs: Vec<i64> = chunk.iter().map(|r| r.2).collect();
            let texts: Vec<&str> = chunk.iter().map(|r| r.3.as_str()).collect();
            let at: Vec<i64> = chunk.iter().map(|r| r.4).collect();
            tx.execute(
                "INSERT INTO moves (code, number, seq, move, at_ms) SELECT * FROM \
                 unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[])",
                &[&codes, &numbers, &seqs, &texts, &at],
            )
            .await?;
            moves += chunk.len() as u64;
            chunk.clear();
        }
        if row.is_none() {
            break;
        }
    }
    tx.commit().await?;
    Ok(Copied {
        rooms: rooms.len() as u64,
        games: games.len() as u64,
        moves,
    })
}
