//! Durable rooms, proven against the real `perudo` binary on an SQLite file:
//! SIGKILL at random moments during play, SIGTERM, a database that fills up, and a finished
//! game's record served, verified and backed up. The in-memory store's injected failure
//! covers the disk-error path deterministically.
//!
//! Every server process is owned by a [`Binary`] guard that kills it when dropped, so a
//! failing assertion never leaves one behind; every wait is bounded.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use perudo_protocol::perudo_core::{
    Action, BotLevel, Event, Hand, Move, Seed, TableState, TableView, replay,
};
use perudo_protocol::{
    CloseReason, PROTOCOL_VERSION, RejectCode, Request, RoomEvent, RoomPhase, RoomVersion,
    RoomView, ServerMessage, Snapshot, YouView,
};
use perudo_server::ServerConfig;
use perudo_server::record::GameRecord;
use perudo_server::store::MemoryStore;
use tokio::sync::watch;

use crate::client::{Client, Incoming, Role, Strategy};
use crate::server::{HttpResponse, Scratch, TestServer, exchange_at, fast_settings};

/// The server binary cargo built for these tests.
const BIN: &str = env!("CARGO_BIN_EXE_perudo");
/// How long a started binary may take to log its address.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// The binaries' shutdown grace (`--shutdown-grace-secs`).
const SHUTDOWN_GRACE_SECS: u64 = 5;

// ---- harness ----------------------------------------------------------------------------

/// A `perudo serve` process. Dropping it kills the process (SIGKILL) and reaps it.
pub(crate) struct Binary {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    log: PathBuf,
}

/// Numbers the binaries' log files.
static STARTS: AtomicU32 = AtomicU32::new(0);

impl Binary {
    /// Starts `perudo serve` on `127.0.0.1:0` with database `db` and fast games, plus
    /// `extra` flags; returns once it logs the address it listens on.
    pub(crate) async fn start(dir: &Scratch, db: &Path, extra: &[&str]) -> Binary {
        Binary::start_on(dir, db, "127.0.0.1:0", extra).await
    }

    /// `start` listening on `listen` (a cluster's nodes keep their address across restarts:
    /// the proxy in front of them has it in its configuration).
    pub(crate) async fn start_on(dir: &Scratch, db: &Path, listen: &str, extra: &[&str]) -> Binary {
        let n = STARTS.fetch_add(1, Ordering::Relaxed);
        let log = dir.path(&format!("server-{n}.log"));
        let file = std::fs::File::create(&log).expect("create a log file");
        let child = Command::new(BIN)
            .arg("serve")
            .args(["--listen", listen, "--db"])
            .arg(db)
            .args(["--reveal-pause-ms", "0", "--bot-delay-ms", "0"])
            // Players at machine speed, all from 127.0.0.1: no rate limits or caps.
            .args(["--messages-per-sec", "0", "--connects-per-ip-per-min", "0"])
            .args([
                "--rooms-per-ip-per-min",
                "0",
                "--max-connections-per-ip",
                "0",
            ])
            .args(["--shutdown-grace-secs", &SHUTDOWN_GRACE_SECS.to_string()])
            .args(extra)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start the perudo binary");
        let mut server = Binary {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(addr) = listening_addr(&server.log_text()) {
                server.addr = addr;
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "the server exited ({status}) before listening:\n{}",
                    server.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the server did not log its address within {START_TIMEOUT:?}:\n{}",
                server.log_text()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, and reap the process.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: the server should drain and exit by itself.
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the process to exit by itself, at most `within`.
    pub(crate) async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {within:?}:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn get(&self, path: &str) -> HttpResponse {
        exchange_at(self.addr, "GET", path, &[], None).await
    }

    async fn post_json(&self, path: &str, body: &str) -> HttpResponse {
        exchange_at(
            self.addr,
            "POST",
            path,
            &[],
            Some(("application/json", body)),
        )
        .await
    }

    /// `POST /api/rooms` as `host`: the response, whatever it is.
    pub(crate) async fn try_create_room(&self, host: &str) -> HttpResponse {
        self.post_json(
            "/api/rooms",
            &serde_json::json!({ "name": host }).to_string(),
        )
        .await
    }

    /// A room with `host` seated (by the creation token), `players` joined, `bots` added.
    pub(crate) async fn room(
        &self,
        host: &str,
        players: &[&str],
        bots: &[BotLevel],
    ) -> (String, Vec<Client>) {
        let response = self.try_create_room(host).await;
        assert_eq!(response.status, 200, "create a room: {}", response.body);
        let created: perudo_protocol::http::RoomCreated =
            serde_json::from_str(&response.body).expect("a RoomCreated body");
        let mut first = Client::connect(self.addr, &created.code, host).await;
        first.hello().await;
        first.claim(&created.token).await;
        let mut clients = vec![first];
        for name in players {
            let mut player = Client::connect(self.addr, &created.code, name).await;
            player.hello().await;
            player.join(name).await;
            clients.push(player);
        }
        for &level in bots {
            clients[0].ack(Request::AddBot { level }).await;
        }
        (created.code.to_string(), clients)
    }

    /// `GET /api/rooms/{code}/games/{game}`, which must serve a record.
    pub(crate) async fn record(&self, code: &str, game: u32) -> (GameRecord, String) {
        let response = self.get(&format!("/api/rooms/{code}/games/{game}")).await;
        assert_eq!(
            response.status, 200,
            "the record of game {game} of room {code}: {}",
            response.body
        );
        let record = serde_json::from_str(&response.body)
            .unwrap_or_else(|e| panic!("not a game record ({e}): {}", response.body));
        (record, response.body)
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The address in a `listening addr=...` log line.
fn listening_addr(log: &str) -> Option<SocketAddr> {
    log.lines()
        .map(strip_ansi)
        .filter(|line| line.contains("listening"))
        .find_map(|line| {
            let rest = &line[line.find("addr=")? + "addr=".len()..];
            rest.split_whitespace().next()?.parse().ok()
        })
}

/// The line without terminal colour codes (in case `NO_COLOR` is not honoured).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs the binary with `args` (not `serve`) and returns its exit status, stdout and stderr.
fn run_cli(args: &[&std::ffi::OsStr]) -> (ExitStatus, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run the perudo binary");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `perudo verify <file>` on `json` written to `file`.
pub(crate) fn verify_cli(file: &Path, json: &str) -> (ExitStatus, String, String) {
    std::fs::write(file, json).expect("write the record");
    run_cli(&["verify".as_ref(), file.as_os_str()])
}

/// A small seeded generator (xorshift64*), so a failing run can be repeated.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// `Ok` if `small` is an in-order subsequence of `big`, else the index in `small` of the
/// first item not found.
pub(crate) fn subsequence<T: PartialEq>(small: &[T], big: &[T]) -> Result<(), usize> {
    let mut rest = big.iter();
    for (i, item) in small.iter().enumerate() {
        if !rest.any(|other| other == item) {
            return Err(i);
        }
    }
    Ok(())
}

/// The game a room view is in (running) or last finished; 0 before the first.
pub(crate) fn game_of(room: &RoomView) -> u32 {
    match room.phase {
        RoomPhase::Playing | RoomPhase::Reveal => room.games_played + 1,
        RoomPhase::Lobby | RoomPhase::Finished => room.games_played,
    }
}

/// The snapshot among `client`'s frames from index `from` on.
pub(crate) fn snapshot_since(client: &Client, from: usize) -> Option<Snapshot> {
    client.frames[from..].iter().find_map(|f| match &f.message {
        ServerMessage::Snapshot(s) => Some(s.clone()),
        _ => None,
    })
}

/// Replays a record with `perudo_core::replay`: the engine's events, and whether it ended.
pub(crate) fn replay_record(record: &GameRecord) -> (Vec<Event>, bool) {
    let seed = Seed::from_hex(&record.seed).expect("the record's seed is 64 hex digits");
    let seats = u8::try_from(record.names.len()).expect("few seats");
    let (game, events) = replay(record.config.clone(), seats, seed, &record.moves)
        .unwrap_or_else(|e| panic!("the record of game {} does not replay: {e}", record.game));
    (events, game.is_over())
}

// ---- the crash test's players -----------------------------------------------------------

/// What one room's players share: whether the host starts another game, and the last game
/// once it decided not to.
#[derive(Debug, Default)]
pub(crate) struct RoomPlan {
    pub(crate) more_games: AtomicBool,
    pub(crate) last_game: AtomicU32,
}

/// What a player knew of the room when its socket dropped.
#[derive(Clone, Debug)]
pub(crate) struct Before {
    pub(crate) version: RoomVersion,
    game: u32,
    table: Option<TableView>,
    /// Its hand, when its private view was of the latest version it saw.
    hand: Option<Hand>,
}

/// A simulated player that survives the server's deaths: it redials the newest server,
/// resumes with its token, checks the snapshot against what it saw, and plays on.
pub(crate) struct Player {
    pub(crate) client: Client,
    pub(crate) code: String,
    host: bool,
    strategy: Strategy,
    /// The game the updates it reads belong to.
    game: u32,
    /// The version of its latest private view (or seated snapshot).
    you_version: RoomVersion,
    /// Game number -> the engine events it received, in order.
    pub(crate) events: BTreeMap<u32, Vec<Event>>,
    /// Game number -> its moves the server acknowledged, in order.
    pub(crate) acked: BTreeMap<u32, Vec<Move>>,
    pub(crate) resumes: u32,
    /// Resumes into the round it had seen, where bids, dice counts and hand were compared.
    pub(crate) same_round: u32,
    pub(crate) rejected: Vec<String>,
}

/// Why a session ended early.
pub(crate) type Dropped = String;

impl Player {
    pub(crate) fn new(client: Client, code: &str, host: bool, strategy: Strategy) -> Player {
        let game = client.room().map_or(0, game_of);
        Player {
            you_version: client.version(),
            client,
            code: code.to_string(),
            host,
            strategy,
            game,
            events: BTreeMap::new(),
            acked: BTreeMap::new(),
            resumes: 0,
            same_round: 0,
            rejected: Vec::new(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.client.name
    }

    /// Takes note of a message the client applied.
    fn observe(&mut self, message: &ServerMessage) {
        match message {
            ServerMessage::Snapshot(snapshot) => {
                self.game = game_of(&snapshot.room);
                if snapshot.you.is_some() {
                    self.you_version = snapshot.version;
                }
            }
            ServerMessage::Update(update) if self.client.synced() => {
                // The seat's own view, changed or not, is current with every update.
                self.you_version = update.version;
                for event in &update.events {
                    match event {
                        RoomEvent::GameStarted { game } => self.game = *game,
                        RoomEvent::Game { event } => {
                            self.events
                                .entry(self.game)
                                .or_default()
                                .push(event.clone());
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// The next frame, noted; `Err` once the socket is gone.
    pub(crate) async fn next(&mut self, wait: Duration) -> Result<Option<ServerMessage>, Dropped> {
        match self.client.recv_within(wait).await {
            None => Ok(None),
            Some(Incoming::Closed(code, reason)) => Err(format!("closed: {code:?} {reason}")),
            Some(Incoming::Message(message)) => {
                self.observe(&message);
                Ok(Some(message))
            }
        }
    }

    /// Sends `request` and reads until its answer.
    pub(crate) async fn request(&mut self, request: Request) -> Result<ServerMessage, Dropped> {
        let id = self.client.try_send(request.clone()).await?;
        loop {
            let message = self
                .next(crate::client::RECV_TIMEOUT)
                .await?
                .unwrap_or_else(|| {
                    panic!(
                        "{}: no answer to {request:?} within {:?}",
                        self.client.name,
                        crate::client::RECV_TIMEOUT
                    )
                });
            if message.answer().is_some_and(|(got, _)| got == id) {
                return Ok(message);
            }
        }
    }

    pub(crate) fn before(&self) -> Before {
        let hand = self
            .client
            .you()
            .as_ref()
            .filter(|you| self.you_version == self.client.version() && !you.hand.is_empty())
            .map(|you| you.hand.clone());
        Before {
            version: self.client.version(),
            game: self.game,
            table: self.client.table().cloned(),
            hand,
        }
    }

    /// Says hello on a fresh socket and resumes the seat; the snapshot must still hold
    /// everything this player saw before the socket dropped.
    pub(crate) async fn resume(&mut self, before: &Before) -> Result<(), Dropped> {
        match self
            .request(Request::Hello {
                version: PROTOCOL_VERSION,
            })
            .await?
        {
            ServerMessage::Ack { .. } => {}
            other => panic!("{}: hello refused: {other:?}", self.name()),
        }
        let from = self.client.frames.len();
        let token = self.client.token().map(str::to_string);
        assert!(token.is_some(), "{}: a seat token", self.name());
        match self
            .request(Request::Resume {
                token,
                last_version: before.version,
            })
            .await?
        {
            ServerMessage::Ack { .. } => {}
            other => panic!("{}: resume refused: {other:?}", self.name()),
        }
        assert!(
            matches!(self.client.role(), Role::Seat(_)),
            "{}: seated again",
            self.name()
        );
        let snapshot = snapshot_since(&self.client, from).unwrap_or_else(|| {
            panic!(
                "{}: a resume after a restart gets a snapshot (the version jumps)",
                self.name()
            )
        });
        if check_snapshot(self.name(), before, &snapshot) {
            self.same_round += 1;
        }
        self.resumes += 1;
        Ok(())
    }

    /// Whether this player is done: the host decided on the last game and it is over.
    pub(crate) fn done(&self, plan: &RoomPlan) -> bool {
        let last = plan.last_game.load(Ordering::SeqCst);
        let room = self.client.room().expect("a room view");
        last != 0 && room.phase == RoomPhase::Finished && room.games_played >= last
    }

    /// Plays on this socket until done (`Ok`) or until the socket drops (`Err`).
    pub(crate) async fn session(
        &mut self,
        plan: &RoomPlan,
        deadline: Instant,
    ) -> Result<(), Dropped> {
        loop {
            assert!(
                Instant::now() < deadline,
                "{}: still playing at the deadline (game {}, {:?})",
                self.name(),
                self.game,
                self.client.room().map(|r| r.phase)
            );
            if self.done(plan) {
                return Ok(());
            }
            let phase = self.client.phase();
            if phase == RoomPhase::Finished && self.host {
                if plan.more_games.load(Ordering::SeqCst) {
                    let answer = self.request(Request::Start).await?;
                    if let ServerMessage::Rejected { code, message, .. } = answer {
                        self.rejected.push(format!("Start: {code:?} {message}"));
                    }
                } else {
                    let room = self.client.room().expect("a room view");
                    plan.last_game.store(room.games_played, Ordering::SeqCst);
                }
                continue;
            }
            if let Some(action) = self.client.choose(&mut self.strategy) {
                let Role::Seat(seat) = self.client.role() else {
                    panic!("{}: a move without a seat", self.name());
                };
                let game = self.game;
                match self.request(Request::Act { action }).await? {
                    ServerMessage::Ack { .. } | ServerMessage::Update(_) => self
                        .acked
                        .entry(game)
                        .or_default()
                        .push(Move::Act { seat, action }),
                    ServerMessage::Rejected { code, message, .. } => self
                        .rejected
                        .push(format!("{action:?} in game {game}: {code:?} {message}")),
                    _ => unreachable!("an answer"),
                }
                continue;
            }
            self.next(Duration::from_millis(100)).await?;
        }
    }

    /// Plays until done, across as many server deaths as come.
    async fn run(
        mut self,
        plan: Arc<RoomPlan>,
        mut servers: watch::Receiver<(u32, SocketAddr)>,
        deadline: Instant,
    ) -> Player {
        let mut epoch = servers.borrow_and_update().0;
        loop {
            let Err(_dropped) = self.session(&plan, deadline).await else {
                return self;
            };
            let before = self.before();
            // Dial each newer server until a resume goes through.
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(
                    !left.is_zero(),
                    "{}: no server to resume on before the deadline",
                    self.name()
                );
                let (latest, addr) = *servers.borrow_and_update();
                if latest == epoch {
                    let _ = tokio::time::timeout(left, servers.changed()).await;
                    continue;
                }
                epoch = latest;
                let code = self.code.clone();
                if self.client.try_redial(addr, &code).await.is_err() {
                    continue;
                }
                if self.resume(&before).await.is_ok() {
                    break;
                }
            }
        }
    }
}

/// What a snapshot after a restart must still show of what the player saw before. Returns
/// whether it was the same round (so bids, dice counts and the hand were compared).
pub(crate) fn check_snapshot(name: &str, before: &Before, snapshot: &Snapshot) -> bool {
    assert!(
        snapshot.version >= before.version + (1 << 32),
        "{name}: a restored room's version jumps past every version sent before \
         ({} then {})",
        before.version,
        snapshot.version
    );
    let game = game_of(&snapshot.room);
    assert!(
        game >= before.game,
        "{name}: saw game {} but the restored room is at game {game}",
        before.game
    );
    if game != before.game {
        return false;
    }
    let (Some(seen), Some(now)) = (&before.table, &snapshot.table) else {
        return false;
    };
    match (&seen.state, &now.state) {
        (TableState::Bidding(seen_round), TableState::Bidding(round)) => {
            assert!(
                round.round >= seen_round.round,
                "{name}: saw round {} of game {game}, the restored room is in round {}",
                seen_round.round,
                round.round
            );
            if round.round != seen_round.round {
                return false;
            }
            assert!(
                round.bids.starts_with(&seen_round.bids),
                "{name}: round {}'s bids were {:?}, the restored room has {:?}",
                round.round,
                seen_round.bids,
                round.bids
            );
            let dice = |t: &TableView| t.seats.iter().map(|s| s.dice).collect::<Vec<_>>();
            assert_eq!(
                dice(now),
                dice(seen),
                "{name}: the same round with other dice counts"
            );
            let hand = snapshot.you.as_ref().map(|you: &YouView| &you.hand);
            if let (Some(seen_hand), Some(hand)) = (&before.hand, hand)
                && !hand.is_empty()
            {
                assert_eq!(hand, seen_hand, "{name}: the same round with another hand");
            }
            true
        }
        (TableState::Bidding(_), TableState::Over { .. }) => false,
        (TableState::Over { winner }, state) => {
            assert_eq!(
                state,
                &TableState::Over { winner: *winner },
                "{name}: saw game {game} won, the restored room has it otherwise"
            );
            false
        }
    }
}

// ---- 1. crash test ----------------------------------------------------------------------

const CRASH_ROOMS: usize = 4;
const CRASH_KILLS: u32 = 15;
/// Kills stop after this long even if fewer were made.
const CRASH_KILL_BUDGET: Duration = Duration::from_secs(25);
/// Everything (play, kills, final games) must be over by then.
const CRASH_DEADLINE: Duration = Duration::from_secs(50);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_no_acknowledged_move_and_every_game_ends() {
    let dir = Scratch::new("crash");
    let db = dir.path("perudo.db");
    let flags = [
        "--restore-grace-secs",
        "60",
        "--disconnect-grace-ms",
        "60000",
    ];
    let started = Instant::now();
    let deadline = started + CRASH_DEADLINE;
    let mut server = Binary::start(&dir, &db, &flags).await;

    let mut players = Vec::new();
    let mut plans = Vec::new();
    let mut codes = Vec::new();
    for r in 0..CRASH_ROOMS {
        let bots: &[BotLevel] = if r % 2 == 0 {
            &[BotLevel::Normal]
        } else {
            &[BotLevel::Easy, BotLevel::Hard]
        };
        let host = format!("Host{r}");
        let guest = format!("Guest{r}");
        let (code, mut clients) = server.room(&host, &[&guest], bots).await;
        clients[0].ack(Request::Start).await;
        let plan = Arc::new(RoomPlan::default());
        plan.more_games.store(true, Ordering::SeqCst);
        for (i, client) in clients.into_iter().enumerate() {
            let strategy = if (r + i) % 2 == 0 {
                Strategy::Simple
            } else {
                Strategy::bot(BotLevel::ALL[(r + i) % 3], (r * 10 + i) as u64)
            };
            players.push((Player::new(client, &code, i == 0, strategy), plan.clone()));
        }
        plans.push(plan);
        codes.push(code);
    }

    let (servers, watch_servers) = watch::channel((0u32, server.addr));
    let tasks: Vec<_> = players
        .into_iter()
        .map(|(player, plan)| tokio::spawn(player.run(plan, watch_servers.clone(), deadline)))
        .collect();

    let mut rng = Rng(0x5eed_d1ce_0000_0007);
    let mut kills = 0;
    while kills < CRASH_KILLS && started.elapsed() < CRASH_KILL_BUDGET {
        tokio::time::sleep(Duration::from_millis(50 + rng.below(351))).await;
        assert!(
            tasks.iter().all(|t| !t.is_finished()),
            "a player ended (panicked?) while kills remained"
        );
        server.kill();
        kills += 1;
        server = Binary::start(&dir, &db, &flags).await;
        servers.send_replace((kills, server.addr));
    }
    for plan in &plans {
        plan.more_games.store(false, Ordering::SeqCst);
    }
    let mut players = Vec::new();
    for task in tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        let player = tokio::time::timeout(left + Duration::from_secs(1), task)
            .await
            .expect("every game ends before the deadline")
            .expect("no player panics");
        players.push(player);
    }

    // Every finished game's record holds every move a client saw acknowledged, and replays
    // to every event a client saw, in order.
    let checks = Instant::now();
    let mut games = 0;
    let mut moves = 0;
    for (r, (code, plan)) in codes.iter().zip(&plans).enumerate() {
        let last = plan.last_game.load(Ordering::SeqCst);
        assert!(last >= 1, "room {code} finished a game");
        for game in 1..=last {
            let (record, json) = server.record(code, game).await;
            assert_eq!((record.room.as_str(), record.game), (code.as_str(), game));
            let (events, over) = replay_record(&record);
            assert!(over, "game {game} of room {code} replays to its end");
            for player in players.iter().filter(|p| &p.code == code) {
                let acked = player.acked.get(&game).map_or(&[][..], Vec::as_slice);
                if let Err(i) = subsequence(acked, &record.moves) {
                    panic!(
                        "{}: the move {:?} acknowledged in game {game} of room {code} is not in \
                         the record (or out of order): {:?}",
                        player.name(),
                        acked[i],
                        record.moves
                    );
                }
                let seen = player.events.get(&game).map_or(&[][..], Vec::as_slice);
                if let Err(i) = subsequence(seen, &events) {
                    panic!(
                        "{}: was told {:?} in game {game} of room {code}, which the record does \
                         not replay to (or not in this order)",
                        player.name(),
                        seen[i]
                    );
                }
                moves += acked.len();
            }
            let (status, stdout, stderr) =
                verify_cli(&dir.path(&format!("record-{r}-{game}.json")), &json);
            assert!(
                status.success(),
                "perudo verify rejects game {game} of {code}: {stdout}{stderr}"
            );
            games += 1;
        }
    }
    for player in &players {
        assert!(
            player.rejected.is_empty(),
            "{}: requests refused: {:?}",
            player.name(),
            player.rejected
        );
    }
    let resumes: u32 = players.iter().map(|p| p.resumes).sum();
    let same_round: u32 = players.iter().map(|p| p.same_round).sum();
    assert!(kills >= 5, "only {kills} kills within the budget");
    assert!(
        resumes as usize >= kills as usize * players.len() / 2,
        "{resumes} resumes for {kills} kills: the players hardly played across restarts"
    );
    assert!(same_round > 0, "no resume came back into the round it left");
    eprintln!(
        "crash test: {kills} kills, {resumes} resumes ({same_round} into the same round), \
         {games} games, {moves} acknowledged moves checked; {:?} in all, {:?} checking",
        started.elapsed(),
        checks.elapsed()
    );
}

// ---- 2. graceful restart ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_with_service_restart_and_the_round_resumes_with_the_same_dice() {
    let dir = Scratch::new("sigterm");
    let db = dir.path("perudo.db");
    let flags = [
        "--restore-grace-secs",
        "30",
        "--disconnect-grace-ms",
        "30000",
    ];
    let mut server = Binary::start(&dir, &db, &flags).await;
    let (code, mut clients) = server.room("Ana", &["Bob"], &[BotLevel::Normal]).await;
    clients[0].ack(Request::Start).await;

    // Play a few moves, then stop while a human is on turn (the bot then waits too).
    let mut acts = 0;
    let mut polls = 0;
    let on_turn = loop {
        polls += 1;
        assert!(polls < 2000, "no human turn came");
        for client in clients.iter_mut() {
            while client.recv_within(Duration::from_millis(5)).await.is_some() {}
        }
        let Some(i) = clients.iter().position(|c| {
            c.phase() == RoomPhase::Playing && c.choose(&mut Strategy::Simple).is_some()
        }) else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        if acts >= 3 {
            break i;
        }
        let action = clients[i].choose(&mut Strategy::Simple).expect("a move");
        clients[i].act(action).await;
        acts += 1;
    };
    // Quiet: everyone has read everything.
    for client in &mut clients {
        while client
            .recv_within(Duration::from_millis(50))
            .await
            .is_some()
        {}
    }
    let round_of = |table: Option<&TableView>| match &table.expect("a table").state {
        TableState::Bidding(round) => round.round,
        TableState::Over { .. } => panic!("the game ended early"),
    };
    let before: Vec<(u32, Hand, RoomVersion)> = clients
        .iter()
        .map(|c| {
            let hand = c.you().expect("a private view").hand.clone();
            assert!(!hand.is_empty(), "{}: a hand", c.name);
            (round_of(c.table()), hand, c.version())
        })
        .collect();

    server.terminate();
    for client in &mut clients {
        let (code, _reason) = client.wait_closed().await;
        assert_eq!(
            client.closing(),
            Some(CloseReason::ServerRestart),
            "{}: told the server restarts",
            client.name
        );
        assert_eq!(
            code,
            Some(1012),
            "{}: close code service restart",
            client.name
        );
    }
    let status = server
        .wait_exit(Duration::from_secs(SHUTDOWN_GRACE_SECS + 2))
        .await;
    assert!(status.success(), "a clean exit on SIGTERM: {status}");
    let log = server.log_text();
    assert!(
        log.contains("stopped"),
        "the server logged its stop:\n{log}"
    );

    let server = Binary::start(&dir, &db, &flags).await;
    for (client, (round, hand, version)) in clients.iter_mut().zip(&before) {
        client.redial(server.addr, &code).await;
        client.hello().await;
        let from = client.frames.len();
        client
            .ack(Request::Resume {
                token: client.token().map(str::to_string),
                last_version: *version,
            })
            .await;
        let snapshot = snapshot_since(client, from).expect("a snapshot after the restart");
        assert_eq!(
            round_of(snapshot.table.as_ref()),
            *round,
            "{}: the same round",
            client.name
        );
        assert_eq!(
            &snapshot.you.as_ref().expect("a seat's view").hand,
            hand,
            "{}: the same dice",
            client.name
        );
    }
    assert!(
        clients[on_turn].choose(&mut Strategy::Simple).is_some(),
        "the same player is on turn"
    );
    let results = crate::game::play_all(clients, 1).await;
    for client in &results {
        assert_eq!(client.results.last().map(|r| r.game), Some(1));
    }
    server.record(&code, 1).await;
}

// ---- 3. disk errors ---------------------------------------------------------------------

/// What a seat can see of the room: must not change when a move fails to save.
fn view(client: &Client) -> (Option<RoomPhase>, Option<TableView>, Option<YouView>) {
    (
        client.room().map(|r| r.phase),
        client.table().cloned(),
        client.you().cloned(),
    )
}

/// Sends `request` for `clients[i]`; on a `Storage` refusal, reads the snapshot the room
/// sends after its rollback and checks that nothing changed. Returns whether it failed.
async fn act_or_storage_failure(clients: &mut [Client], i: usize, request: Request) -> bool {
    let before: Vec<_> = clients.iter().map(view).collect();
    let from: Vec<usize> = clients.iter().map(|c| c.frames.len()).collect();
    let client = &mut clients[i];
    let id = client.send(request.clone()).await;
    match client.answer(id).await {
        ServerMessage::Ack { .. } | ServerMessage::Update(_) => false,
        ServerMessage::Rejected { code, message, .. } => {
            assert_eq!(code, RejectCode::Storage, "{request:?}: {message}");
            assert!(!message.is_empty());
            for ((client, before), from) in clients.iter_mut().zip(&before).zip(from) {
                // Every member is sent a fresh snapshot of the room as stored.
                if snapshot_since(client, from).is_none() {
                    client
                        .wait_for(|m| matches!(m, ServerMessage::Snapshot(_)))
                        .await;
                }
                while client
                    .recv_within(Duration::from_millis(50))
                    .await
                    .is_some()
                {}
                assert!(
                    client.frames[from..]
                        .iter()
                        .all(|f| !matches!(f.message, ServerMessage::Update(_))),
                    "{}: no update about a move that was not saved",
                    client.name
                );
                assert_eq!(
                    &view(client),
                    before,
                    "{}: a move that was not saved changed nothing",
                    client.name
                );
            }
            true
        }
        other => unreachable!("{other:?}"),
    }
}

/// Plays the humans in `clients` (no bots) until a request fails to save, starting new
/// games as they end; at most `max_moves`. Returns the failed request's client and request.
async fn play_until_storage_fails(clients: &mut [Client], max_moves: usize) -> (usize, Request) {
    let mut strategy = Strategy::Simple;
    for _ in 0..max_moves {
        for client in clients.iter_mut() {
            while client.recv_within(Duration::from_millis(2)).await.is_some() {}
        }
        if clients[0].phase() == RoomPhase::Finished {
            if act_or_storage_failure(clients, 0, Request::Start).await {
                return (0, Request::Start);
            }
            continue;
        }
        let mover = loop {
            if let Some(i) = clients.iter().position(|c| {
                c.you().is_some_and(|y| y.legal.any()) && c.phase() == RoomPhase::Playing
            }) {
                break i;
            }
            for client in clients.iter_mut() {
                let _ = client.recv_within(Duration::from_millis(10)).await;
            }
        };
        let action = clients[mover].choose(&mut strategy).expect("a move");
        let request = Request::Act { action };
        if act_or_storage_failure(clients, mover, request.clone()).await {
            return (mover, request);
        }
    }
    panic!("{max_moves} moves and the database did not fill up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_refuses_the_move_keeps_the_room_and_reports_not_ready() {
    let dir = Scratch::new("full");
    let db = dir.path("perudo.db");
    // A fresh database's size: its schema and nothing else.
    let mut fresh = Binary::start(&dir, &db, &[]).await;
    fresh.terminate();
    assert!(fresh.wait_exit(Duration::from_secs(10)).await.success());
    let pages: i64 = rusqlite::Connection::open(&db)
        .and_then(|conn| conn.query_row("PRAGMA page_count", [], |row| row.get(0)))
        .expect("read the database's size");
    assert!(pages >= 2, "a schema of {pages} pages");
    // Capped there: every table's first page is free to fill, none may grow.
    let cap = pages.to_string();
    let server = Binary::start(&dir, &db, &["--db-max-pages", &cap]).await;
    let (code, mut clients) = server.room("Ana", &["Bob"], &[]).await;
    clients[0].ack(Request::Start).await;
    for client in &mut clients {
        while client
            .recv_within(Duration::from_millis(20))
            .await
            .is_some()
        {}
    }
    // Fill the rooms table: new rooms are refused once it cannot grow.
    let mut refused = None;
    for _ in 0..300 {
        let response = server.try_create_room("Filler").await;
        if response.status != 200 {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("the database fills up with rooms");
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.error_code(), "storage");

    let (i, request) = play_until_storage_fails(&mut clients, 2000).await;
    eprintln!("full database: {pages} pages; {request:?} was refused");
    let ready = server.get("/readyz").await;
    assert_eq!(
        ready.status, 503,
        "readiness reports the failure: {}",
        ready.body
    );
    assert_eq!(ready.error_code(), "not_ready");
    let create = server.try_create_room("Cy").await;
    assert_eq!(create.status, 503, "{}", create.body);
    assert_eq!(create.error_code(), "storage");
    // The rest of the server answers.
    assert_eq!(server.get("/healthz").await.status, 200);
    assert_eq!(server.get(&format!("/api/rooms/{code}")).await.status, 200);
    assert_eq!(server.get("/").await.status, 200);
    // Still full: the same request fails the same way and still changes nothing.
    assert!(act_or_storage_failure(&mut clients, i, request).await);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_storage_failure_refuses_the_move_and_the_game_goes_on_after() {
    let store = Arc::new(MemoryStore::new());
    let server = TestServer::start_with(ServerConfig {
        rooms: fast_settings(),
        store: Some(store.clone()),
        ..ServerConfig::default()
    })
    .await;
    let room = server.create_room("Ana", None).await;
    let ana = server.host(&room, "Ana").await;
    let bob = server.player(&room.code, "Bob").await;
    let mut clients = vec![ana, bob];
    clients[0].ack(Request::Start).await;
    // A few moves first.
    let mut strategy = Strategy::Simple;
    let mut moved = 0;
    let (mover, action) = loop {
        for client in clients.iter_mut() {
            while client
                .recv_within(Duration::from_millis(10))
                .await
                .is_some()
            {}
        }
        let Some(i) = clients.iter().position(|c| {
            c.phase() == RoomPhase::Playing && c.you().is_some_and(|y| y.legal.any())
        }) else {
            continue;
        };
        let action = clients[i].choose(&mut strategy).expect("a move");
        if moved == 3 {
            break (i, action);
        }
        clients[i].act(action).await;
        moved += 1;
    };
    let commits = store.commits();
    store.fail.store(true, Ordering::Relaxed);
    let request = Request::Act { action };
    assert!(act_or_storage_failure(&mut clients, mover, request.clone()).await);
    assert_eq!(store.commits(), commits, "nothing was stored");
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.error_code(), "not_ready");
    let create = server.post_json("/api/rooms", r#"{"name":"Cy"}"#).await;
    assert_eq!(create.status, 503, "{}", create.body);
    assert_eq!(create.error_code(), "storage");
    assert_eq!(server.get("/healthz").await.status, 200);
    server.summary(&room.code).await;

    store.fail.store(false, Ordering::Relaxed);
    assert_eq!(server.get("/readyz").await.status, 200);
    // The same move now goes through, and the game goes on to its end.
    clients[mover].ack(request).await;
    let image = store.room(&room.code).expect("the room is stored");
    let stored = image.game.expect("a stored game").moves;
    let Role::Seat(seat) = clients[mover].role() else {
        panic!("seated")
    };
    assert_eq!(stored.last(), Some(&Move::Act { seat, action }));
    let clients = crate::game::play_all(clients, 1).await;
    assert!(clients.iter().all(|c| c.results.len() == 1));
    let record = server
        .get(&format!("/api/rooms/{}/games/1", room.code))
        .await;
    assert_eq!(record.status, 200, "{}", record.body);
    server.stop().await;
}

// ---- 4. the record endpoint and the CLI ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_game_is_served_verified_and_backed_up() {
    let dir = Scratch::new("record");
    let db = dir.path("perudo.db");
    let server = Binary::start(&dir, &db, &[]).await;
    let (code, mut clients) = server
        .room("Ana", &[], &[BotLevel::Normal, BotLevel::Hard])
        .await;
    let ana = &mut clients[0];
    ana.ack(Request::Start).await;
    let results = ana
        .play_to_end(1, &mut Strategy::bot(BotLevel::Hard, 7))
        .await;

    let (record, json) = server.record(&code, 1).await;
    let value: serde_json::Value = serde_json::from_str(&json).expect("json");
    for key in ["seed", "commitment", "moves", "results", "config", "names"] {
        assert!(value.get(key).is_some(), "the record has {key}: {json}");
    }
    assert_eq!(record.seed, results.seed, "the seed the game revealed");
    assert_eq!(record.commitment, results.commitment);
    assert_eq!(record.results, results);
    let (events, over) = replay_record(&record);
    assert!(over);
    assert_eq!(
        events,
        crate::game::game_events(ana, 1),
        "the record replays to exactly what the room broadcast"
    );

    let missing = server.get(&format!("/api/rooms/{code}/games/2")).await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert_eq!(missing.error_code(), "no_such_game");
    ana.ack(Request::Start).await;
    let running = server.get(&format!("/api/rooms/{code}/games/2")).await;
    assert_eq!(running.status, 404, "a running game has no record yet");
    assert_eq!(running.error_code(), "no_such_game");

    // perudo verify: the record as served passes; a changed seed or move does not.
    let (status, stdout, stderr) = verify_cli(&dir.path("good.json"), &json);
    assert!(status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("ok:"), "{stdout}");
    let mut bad_seed = value.clone();
    let seed = record.seed.clone();
    let flipped = if seed.starts_with('0') { "1" } else { "0" };
    bad_seed["seed"] = serde_json::Value::String(format!("{flipped}{}", &seed[1..]));
    let (status, stdout, stderr) = verify_cli(&dir.path("bad-seed.json"), &bad_seed.to_string());
    assert!(!status.success(), "a changed seed passes: {stdout}");
    assert!(
        stderr.contains("commitment") && stderr.contains(&code),
        "says why: {stderr}"
    );
    let mut bad_move = record.clone();
    let Move::Act { seat, .. } = bad_move.moves[0] else {
        panic!("the first move is a player's: {:?}", bad_move.moves[0])
    };
    bad_move.moves[0] = Move::Act {
        seat,
        action: Action::Dudo,
    };
    let (status, stdout, stderr) = verify_cli(
        &dir.path("bad-move.json"),
        &serde_json::to_string(&bad_move).expect("json"),
    );
    assert!(!status.success(), "a changed move passes: {stdout}");
    assert!(
        stderr.contains("do not replay") && stderr.contains(&code),
        "says why: {stderr}"
    );
    let (status, _, stderr) = run_cli(&["verify".as_ref(), dir.path("nothing.json").as_os_str()]);
    assert!(!status.success());
    assert!(stderr.contains("cannot read"), "{stderr}");

    // perudo backup while the server runs (game 2 in progress): a server on the copy
    // restores the room and serves the record.
    let copy = dir.path("backup.db");
    let (status, stdout, stderr) = run_cli(&[
        "backup".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
        copy.as_os_str(),
    ]);
    assert!(status.success(), "{stdout}{stderr}");
    let (status, _, stderr) = run_cli(&[
        "backup".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
        copy.as_os_str(),
    ]);
    assert!(!status.success(), "a backup never overwrites");
    assert!(stderr.contains("exists"), "{stderr}");
    let restored = Binary::start(&dir, &copy, &[]).await;
    let summary = restored.get(&format!("/api/rooms/{code}")).await;
    assert_eq!(
        summary.status, 200,
        "the room is in the copy: {}",
        summary.body
    );
    let (copied, _) = restored.record(&code, 1).await;
    assert_eq!(copied, record);
    // The copy holds game 2 running: a seat resumes it there.
    let mut back = Client::connect(restored.addr, &code, "Ana").await;
    back.hello().await;
    back.ack(Request::Resume {
        token: ana.token().map(str::to_string),
        last_version: 0,
    })
    .await;
    assert_eq!(back.room().map(game_of), Some(2));
    drop(restored);
    drop(server);
}

// ---- 6. the same binary on PostgreSQL (`--database-url`) ------------------------------------

/// `perudo serve --database-url` against a throwaway cluster: a drained node (SIGTERM) hands
/// its room over at once, a killed one (SIGKILL) once its lease ran out, each time at the next
/// epoch; `/readyz` follows the database.
#[cfg(feature = "postgres-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_room_outlives_its_node_and_readyz_follows_the_database() {
    let dir = Scratch::new("postgres");
    let db = dir.path("unused.db");
    let mut cluster = Some(crate::pg::Cluster::start());
    let url = cluster.as_ref().expect("a cluster").database();
    let sql = |q: &str| {
        let cluster = cluster.as_ref().expect("a cluster");
        cluster.psql(url.rsplit("dbname=").next().expect("a dbname"), q)
    };
    // Renewed every second: a busy machine does not make a live node lose its rooms.
    let flags = ["--database-url", url.as_str(), "--lease-ms", "3000"];

    let mut first = Binary::start(&dir, &db, &flags).await;
    assert_eq!(first.get("/readyz").await.status, 200);
    let (code, mut clients) = first.room("Ana", &[], &[BotLevel::Normal]).await;
    clients[0].ack(Request::Start).await;
    assert_eq!(
        sql(&format!("SELECT count(*) FROM games WHERE code = '{code}'")),
        "1"
    );
    assert_eq!(
        sql(&format!("SELECT epoch FROM leases WHERE code = '{code}'")),
        "1"
    );

    // Drained: the lease is released, so the next node takes the room without waiting.
    first.terminate();
    assert!(first.wait_exit(Duration::from_secs(15)).await.success());
    assert_eq!(
        sql(&format!(
            "SELECT count(*) FROM leases WHERE code = '{code}' AND expires_at > now()"
        )),
        "0",
        "a drained node holds no live lease"
    );
    let mut second = Binary::start(&dir, &db, &flags).await;
    assert!(
        second
            .log_text()
            .contains("restored rooms from storage rooms=1"),
        "{}",
        second.log_text()
    );
    assert_eq!(second.get(&format!("/api/rooms/{code}")).await.status, 200);
    assert_eq!(
        sql(&format!("SELECT epoch FROM leases WHERE code = '{code}'")),
        "2"
    );

    // Killed: its lease runs out (bounded wait), then the next node restores the room.
    second.kill();
    for _ in 0..1000 {
        if sql("SELECT count(*) FROM leases WHERE expires_at > now()") == "0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let third = Binary::start(&dir, &db, &flags).await;
    assert!(
        third
            .log_text()
            .contains("restored rooms from storage rooms=1"),
        "{}",
        third.log_text()
    );
    assert_eq!(
        sql(&format!("SELECT epoch FROM leases WHERE code = '{code}'")),
        "3"
    );
    assert_eq!(third.get("/readyz").await.status, 200);

    // The database goes away: readiness says so within a few lease renewals.
    drop(cluster.take());
    let mut ready = 200;
    for _ in 0..500 {
        ready = third.get("/readyz").await.status;
        if ready != 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ready, 503, "/readyz reports the database gone");
}

/// Two nodes on one database. A room runs on node A while its players are connected through
/// node B, which passes their sockets (and the room's summary) on to A. Then A is killed:
/// its liveness session ends with it, so the room moves to B at once (the lease, a minute
/// long here, is not waited for); the players reconnect through B and resume the same round
/// with the same dice, every acknowledged move still stored, and finish the game there.
#[cfg(feature = "postgres-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_any_node_serves_a_room_and_a_killed_nodes_room_moves_at_once() {
    let dir = Scratch::new("two-nodes");
    // Unused files, but each node's admin socket is named after its own.
    let (db_a, db_b) = (dir.path("a.db"), dir.path("b.db"));
    let cluster = crate::pg::Cluster::start();
    let url = cluster.database();
    let dbname = url.rsplit("dbname=").next().expect("a dbname").to_string();
    let sql = |q: &str| cluster.psql(&dbname, q);
    let flags = [
        "--database-url",
        url.as_str(),
        "--lease-ms",
        "60000",
        "--restore-grace-secs",
        "30",
        "--disconnect-grace-ms",
        "30000",
    ];
    let mut a = Binary::start(&dir, &db_a, &flags).await;
    // B renews every second (its own leases last 3 s), so its renewal shows in its metrics.
    let mut b_flags = flags.to_vec();
    b_flags[3] = "3000";
    let b = Binary::start(&dir, &db_b, &b_flags).await;

    // The room is created on A; its players connect through B.
    let response = a.try_create_room("Ana").await;
    assert_eq!(response.status, 200, "create a room: {}", response.body);
    let created: perudo_protocol::http::RoomCreated =
        serde_json::from_str(&response.body).expect("a RoomCreated body");
    let code = created.code.to_string();
    let owner = |code: &str| {
        sql(&format!(
            "SELECT n.url || ' ' || l.epoch FROM leases l JOIN nodes n ON n.name = l.node \
             WHERE l.code = '{code}'"
        ))
    };
    assert_eq!(owner(&code), format!("http://{} 1", a.addr));
    let mut ana = Client::connect(b.addr, &code, "Ana").await;
    ana.hello().await;
    ana.claim(&created.token).await;
    let mut bob = Client::connect(b.addr, &code, "Bob").await;
    bob.hello().await;
    bob.join("Bob").await;
    ana.ack(Request::AddBot {
        level: BotLevel::Normal,
    })
    .await;
    ana.ack(Request::Start).await;
    let summary = b.get(&format!("/api/rooms/{code}")).await;
    assert_eq!(
        summary.status, 200,
        "the summary through B: {}",
        summary.body
    );
    let summary: perudo_protocol::http::RoomSummary =
        serde_json::from_str(&summary.body).expect("a RoomSummary");
    assert_eq!(summary.code.as_str(), code);
    assert_eq!(summary.seats_taken, 3, "A's room, as A runs it");
    assert_eq!(summary.phase, RoomPhase::Playing);
    assert_eq!(
        owner(&code),
        format!("http://{} 1", a.addr),
        "the room stayed on A"
    );
    assert!(
        !b.log_text().contains("room open"),
        "B runs no room:\n{}",
        b.log_text()
    );

    // A few moves through B, then stop while a human is on turn.
    let mut clients = vec![ana, bob];
    let mut acts = 0;
    let mut polls = 0;
    let on_turn = loop {
        polls += 1;
        assert!(polls < 2000, "no human turn came");
        for client in clients.iter_mut() {
            while client.recv_within(Duration::from_millis(5)).await.is_some() {}
        }
        let Some(i) = clients.iter().position(|c| {
            c.phase() == RoomPhase::Playing && c.choose(&mut Strategy::Simple).is_some()
        }) else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        if acts >= 3 {
            break i;
        }
        let action = clients[i].choose(&mut Strategy::Simple).expect("a move");
        clients[i].act(action).await;
        acts += 1;
    };
    for client in &mut clients {
        while client
            .recv_within(Duration::from_millis(50))
            .await
            .is_some()
        {}
    }
    let round_of = |table: Option<&TableView>| match &table.expect("a table").state {
        TableState::Bidding(round) => round.round,
        TableState::Over { .. } => panic!("the game ended early"),
    };
    let before: Vec<(u32, Hand, RoomVersion)> = clients
        .iter()
        .map(|c| {
            let hand = c.you().expect("a private view").hand.clone();
            (round_of(c.table()), hand, c.version())
        })
        .collect();
    let moves = |code: &str| {
        sql(&format!(
            "SELECT count(*) || ':' || coalesce(string_agg(move, '|' ORDER BY seq), '') \
             FROM moves WHERE code = '{code}' AND number = 1"
        ))
    };
    let stored = moves(&code);
    assert!(!stored.starts_with("0:"), "the moves are stored: {stored}");

    // A dies. Its sockets end, and so do the ones B passed on to it.
    a.kill();
    for client in &mut clients {
        client.wait_closed().await;
    }
    // The players reconnect through B, as a browser does (bounded retries: B may answer
    // `room_moving` until PostgreSQL has noticed A's session is gone).
    for client in clients.iter_mut() {
        let mut tries = 0;
        while let Err(why) = client.try_redial(b.addr, &code).await {
            tries += 1;
            assert!(
                tries < 200,
                "{}: cannot reconnect through B: {why}",
                client.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(
        owner(&code),
        format!("http://{} 2", b.addr),
        "B took the room over, at the next epoch, long before A's lease ran out"
    );
    for (client, (round, hand, version)) in clients.iter_mut().zip(&before) {
        client.hello().await;
        let from = client.frames.len();
        client
            .ack(Request::Resume {
                token: client.token().map(str::to_string),
                last_version: *version,
            })
            .await;
        let snapshot = snapshot_since(client, from).expect("a snapshot after the move");
        assert_eq!(
            round_of(snapshot.table.as_ref()),
            *round,
            "{}: the same round",
            client.name
        );
        assert_eq!(
            &snapshot.you.as_ref().expect("a seat's view").hand,
            hand,
            "{}: the same dice",
            client.name
        );
    }
    assert_eq!(
        moves(&code),
        stored,
        "every acknowledged move, and nothing else"
    );
    assert!(
        clients[on_turn].choose(&mut Strategy::Simple).is_some(),
        "the same player is on turn"
    );
    let results = crate::game::play_all(clients, 1).await;
    for client in &results {
        assert_eq!(client.results.last().map(|r| r.game), Some(1));
    }
    // B's metrics: the room it claimed, the lease it holds, its renewals and commits.
    // Waited for until a renewal is counted: the exporter may list the histogram (count 0)
    // before its first sample reaches it.
    let renewals = |metrics: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix("perudo_lease_renewal_seconds_count")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    };
    let mut metrics = String::new();
    for _ in 0..500 {
        metrics = b.get("/metrics").await.body;
        if renewals(&metrics) >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for line in [
        "perudo_lease_handovers_total{change=\"claimed\"} 1",
        "perudo_leases_held 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in:\n{metrics}"
        );
    }
    for series in [
        "perudo_lease_renewal_seconds_count",
        "perudo_storage_commit_seconds_count",
    ] {
        let count: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in:\n{metrics}"));
        assert!(count >= 1.0, "{series} {count}");
    }

    // `perudo check` against a node of the cluster.
    let steps = perudo_server::check::check(&perudo_server::check::CheckOptions {
        url: format!("http://{}", b.addr),
        ca_cert: None,
    })
    .await;
    for step in &steps {
        // The page is the fallback when this build has no web client (not a cluster matter).
        let page = step.name.starts_with("web client") && !perudo_server::web::CLIENT_BUILT;
        assert!(step.passed() || page, "perudo check: {step}");
    }
    assert_eq!(steps.len(), 5, "every step ran: {steps:?}");

    let (record, _) = b.record(&code, 1).await;
    let first: Vec<String> = record
        .moves
        .iter()
        .map(|m| serde_json::to_string(m).expect("json"))
        .collect();
    let (count, before_kill) = stored.split_once(':').expect("count:moves");
    let count: usize = count.parse().expect("a count");
    assert_eq!(
        first[..count].join("|"),
        before_kill,
        "the record begins with the moves acknowledged on A"
    );
}
