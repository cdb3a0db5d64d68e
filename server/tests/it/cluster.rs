//! The cluster test: three real `perudo` nodes on 127.0.0.1 sharing one throwaway
//! PostgreSQL database, with Debian's Caddy in front running the shipped
//! deploy/Caddyfile.cluster (only the addresses changed). Games are played by protocol
//! clients through Caddy while nodes are
//!
//! 1. killed with SIGKILL, repeatedly, mid-round (and started again on the same address);
//! 2. paused with SIGSTOP past their lease and resumed with SIGCONT;
//! 3. restarted one by one with SIGTERM (a rolling upgrade).
//!
//! Every game must finish, every move a client saw acknowledged must be in the game's record
//! (read back from PostgreSQL), and no room may ever have two owners: a watcher reads the
//! leases table all along and checks that each room's epoch only grows and that one epoch
//! belongs to one node; the paused node's writes must be refused and it must drop its rooms.
//!
//! Every process (nodes, Caddy, PostgreSQL) is owned by a guard that stops it when dropped;
//! every loop is bounded in count and time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use perudo_protocol::perudo_core::{BotLevel, TableState};
use perudo_protocol::{PROTOCOL_VERSION, Request, RoomPhase, RoomVersion, ServerMessage};

use crate::client::{Client, Incoming, Role, Strategy};
use crate::durability::{
    Before, Binary, Player, Rng, RoomPlan, check_snapshot, replay_record, snapshot_since,
    subsequence, verify_cli,
};
use crate::server::{Scratch, exchange_at};

/// How many nodes the cluster has.
const NODES: usize = 3;
/// The nodes' lease: renewed every second, so a busy machine does not make a live node lose
/// its rooms, and a paused node loses them after 3 s.
const LEASE_MS: &str = "3000";

// ---- harness ----------------------------------------------------------------------------

/// A TCP port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    // Below the kernel's ephemeral range (32768-60999 by default): a port from that range,
    // freed again, can be handed to any process binding port 0 before the node binds it
    // (tests/e2e/harness.mjs `freePort` does the same).
    use rand::RngExt;
    let mut rng = rand::rng();
    for _ in 0..100 {
        let port = rng.random_range(20_000..32_000u16);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000-31999 after 100 tries");
}

/// The shipped deploy/Caddyfile.cluster made runnable here: its global options and site
/// directives as shipped, plus options that keep Caddy on loopback with its admin API off and
/// its state in `storage`; the site address becomes http://127.0.0.1:<port> and the three
/// upstreams the nodes' addresses.
fn local_caddyfile(port: u16, upstreams: &[String], storage: &std::path::Path) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/Caddyfile.cluster");
    let shipped = std::fs::read_to_string(&path).expect("deploy/Caddyfile.cluster");
    let upstream = "reverse_proxy 10.0.0.11:8080 10.0.0.12:8080 10.0.0.13:8080 {";
    assert_eq!(
        shipped.matches(upstream).count(),
        1,
        "deploy/Caddyfile.cluster proxies to the three example nodes once"
    );
    assert_eq!(
        shipped.matches("\nperudo.example.org {\n").count(),
        1,
        "deploy/Caddyfile.cluster has the site block `perudo.example.org {{`"
    );
    assert!(
        shipped.starts_with('#') && shipped.contains("\n{\n\tservers {\n"),
        "deploy/Caddyfile.cluster has a global options block with servers options"
    );
    for directive in [
        "lb_policy ",
        "lb_try_duration ",
        "health_uri /readyz",
        "health_interval ",
    ] {
        assert!(
            shipped.contains(directive),
            "deploy/Caddyfile.cluster sets {directive}"
        );
    }
    shipped
        .replacen(
            "\n{\n\tservers {\n",
            &format!(
                "\n{{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n\thttp_port {port}\n\
                 \tstorage file_system {}\n\tservers {{\n",
                storage.display()
            ),
            1,
        )
        .replacen(
            "\nperudo.example.org {\n",
            &format!("\nhttp://127.0.0.1:{port} {{\n"),
            1,
        )
        .replacen(
            upstream,
            &format!("reverse_proxy {} {{", upstreams.join(" ")),
            1,
        )
}

/// `caddy run` (Debian's package; `$CADDY` overrides the path). Killed when dropped.
struct Caddy {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Caddy {
    async fn start(dir: &Scratch, upstreams: &[String]) -> Caddy {
        let port = free_port();
        let config = dir.path("Caddyfile");
        std::fs::write(
            &config,
            local_caddyfile(port, upstreams, &dir.path("caddy-storage")),
        )
        .expect("write the Caddyfile");
        let log = dir.path("caddy.log");
        let caddy = std::env::var("CADDY").unwrap_or_else(|_| "caddy".into());
        let child = Command::new(&caddy)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&config)
            .env("HOME", dir.path("caddy-home"))
            .env("XDG_DATA_HOME", dir.path("caddy-data"))
            .env("XDG_CONFIG_HOME", dir.path("caddy-config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("caddy's log"))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `{caddy}` ({e}): install Debian's caddy (scripts/test.sh does)")
            });
        let mut caddy = Caddy {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        };
        // Ready once it passes /healthz on to a node.
        for _ in 0..300 {
            if let Ok(Some(status)) = caddy.child.try_wait() {
                panic!("caddy exited ({status}):\n{}", caddy.log_text());
            }
            // (exchange_at fails the test on a refused connection: dial first.)
            if tokio::net::TcpStream::connect(caddy.addr).await.is_ok()
                && tokio::time::timeout(
                    Duration::from_secs(2),
                    exchange_at(caddy.addr, "GET", "/healthz", &[], None),
                )
                .await
                .is_ok_and(|r| r.status == 200)
            {
                return caddy;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("caddy did not pass /healthz on:\n{}", caddy.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three nodes on fixed loopback addresses (kept across restarts), one database, Caddy.
struct Nodes {
    dir: Scratch,
    listens: Vec<String>,
    flags: Vec<String>,
    nodes: Vec<Option<Binary>>,
    caddy: Option<Caddy>,
}

impl Nodes {
    async fn start(name: &str, database: &str) -> Nodes {
        let dir = Scratch::new(name);
        let listens: Vec<String> = (0..NODES)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        let flags: Vec<String> = [
            "--database-url",
            database,
            "--lease-ms",
            LEASE_MS,
            "--restore-grace-secs",
            "60",
            "--disconnect-grace-ms",
            "60000",
        ]
        .map(String::from)
        .to_vec();
        let mut nodes = Nodes {
            dir,
            listens,
            flags,
            nodes: Vec::new(),
            caddy: None,
        };
        for i in 0..NODES {
            let node = nodes.start_node(i).await;
            nodes.nodes.push(Some(node));
        }
        nodes.caddy = Some(Caddy::start(&nodes.dir, &nodes.listens).await);
        nodes
    }

    /// Starts node `i` on its address (its unused SQLite path only names its admin socket).
    async fn start_node(&self, i: usize) -> Binary {
        let flags: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        let db = self.dir.path(&format!("node{i}.db"));
        Binary::start_on(&self.dir, &db, &self.listens[i], &flags).await
    }

    fn proxy(&self) -> SocketAddr {
        self.caddy.as_ref().expect("caddy").addr
    }

    fn node(&self, i: usize) -> &Binary {
        self.nodes[i].as_ref().expect("a running node")
    }

    /// The node whose address is `url` (`http://127.0.0.1:port`).
    fn index_of(&self, url: &str) -> Option<usize> {
        self.listens
            .iter()
            .position(|l| url.trim_end_matches('/') == format!("http://{l}"))
    }

    /// Waits until node `i` answers /readyz with 200 (bounded).
    async fn wait_ready(&self, i: usize) {
        for _ in 0..500 {
            if self.node(i).get("/readyz").await.status == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("node {i} is not ready:\n{}", self.node(i).log_text());
    }
}

/// Reads the leases table from its own connection every 50 ms until stopped, and checks
/// that no room ever had two owners: a room's epoch never goes down, and one epoch of a room
/// is always the same node's.
struct OwnerWatch {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<OwnerReport>,
}

#[derive(Debug, Default)]
struct OwnerReport {
    samples: u32,
    /// (room, epoch) -> node.
    owners: BTreeMap<(String, i64), String>,
    /// Room -> the highest epoch seen.
    latest: BTreeMap<String, i64>,
    violations: Vec<String>,
}

impl OwnerReport {
    /// Ownership changes seen (epochs above 1).
    fn handovers(&self) -> usize {
        self.owners.keys().filter(|(_, epoch)| *epoch > 1).count()
    }
}

impl OwnerWatch {
    async fn start(database: &str) -> OwnerWatch {
        let (client, connection) = tokio_postgres::connect(database, tokio_postgres::NoTls)
            .await
            .expect("the watcher connects to PostgreSQL");
        tokio::spawn(connection);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let task = tokio::spawn(async move {
            let mut report = OwnerReport::default();
            // Bounded: 10 minutes of samples at most.
            for _ in 0..12_000 {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let rows = client
                    .query("SELECT code, node, epoch FROM leases", &[])
                    .await
                    .expect("read the leases");
                report.samples += 1;
                for row in rows {
                    let (code, node, epoch): (String, String, i64) =
                        (row.get(0), row.get(1), row.get(2));
                    let latest = report.latest.entry(code.clone()).or_insert(epoch);
                    if epoch < *latest {
                        report
                            .violations
                            .push(format!("room {code}: epoch {epoch} after epoch {latest}"));
                    }
                    *latest = (*latest).max(epoch);
                    let owner = report
                        .owners
                        .entry((code.clone(), epoch))
                        .or_insert_with(|| node.clone());
                    if *owner != node {
                        report.violations.push(format!(
                            "room {code}: epoch {epoch} held by {owner} and by {node}"
                        ));
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            report
        });
        OwnerWatch { stop, task }
    }

    async fn finish(self) -> OwnerReport {
        self.stop.store(true, Ordering::SeqCst);
        let report = self.task.await.expect("the watcher does not panic");
        assert!(
            report.violations.is_empty(),
            "a room had two owners: {:#?}",
            report.violations
        );
        report
    }
}

/// A room created through `addr` with `host` seated, `guest` joined and `bots` added; the
/// game started.
async fn open_room(
    addr: SocketAddr,
    host: &str,
    guest: &str,
    bots: &[BotLevel],
) -> (String, Vec<Client>) {
    let response = exchange_at(
        addr,
        "POST",
        "/api/rooms",
        &[],
        Some((
            "application/json",
            &serde_json::json!({ "name": host }).to_string(),
        )),
    )
    .await;
    assert_eq!(response.status, 200, "create a room: {}", response.body);
    let created: perudo_protocol::http::RoomCreated =
        serde_json::from_str(&response.body).expect("a RoomCreated body");
    let code = created.code.to_string();
    let mut first = Client::connect(addr, &code, host).await;
    first.hello().await;
    first.claim(&created.token).await;
    let mut second = Client::connect(addr, &code, guest).await;
    second.hello().await;
    second.join(guest).await;
    for &level in bots {
        first.ack(Request::AddBot { level }).await;
    }
    first.ack(Request::Start).await;
    (code, vec![first, second])
}

/// Resumes `player`'s seat on its fresh socket. When the room moved to another node the
/// snapshot is checked against what the player saw (as after a restart); when only the
/// socket's path was cut (a node that passed it on died, the room's own node did not), the
/// room catches the player up from its version.
async fn resume_anywhere(player: &mut Player, before: &Before) -> Result<(), String> {
    match player
        .request(Request::Hello {
            version: PROTOCOL_VERSION,
        })
        .await?
    {
        ServerMessage::Ack { .. } => {}
        other => return Err(format!("hello refused: {other:?}")),
    }
    let from = player.client.frames.len();
    let token = player.client.token().map(str::to_string);
    assert!(token.is_some(), "{}: a seat token", player.name());
    match player
        .request(Request::Resume {
            token,
            last_version: before.version,
        })
        .await?
    {
        ServerMessage::Ack { .. } => {}
        // A room still being restored on its new node may refuse for a moment.
        other => return Err(format!("resume refused: {other:?}")),
    }
    assert!(
        matches!(player.client.role(), Role::Seat(_)),
        "{}: seated again",
        player.name()
    );
    if let Some(snapshot) = snapshot_since(&player.client, from)
        && snapshot.version >= before.version + (1 << 32)
        && check_snapshot(player.name(), before, &snapshot)
    {
        player.same_round += 1;
    }
    player.resumes += 1;
    Ok(())
}

/// Plays until done, reconnecting through the proxy (bounded retries) whenever the socket
/// drops.
async fn play_through(
    mut player: Player,
    plan: Arc<RoomPlan>,
    proxy: SocketAddr,
    deadline: Instant,
) -> Player {
    loop {
        let Err(_dropped) = player.session(&plan, deadline).await else {
            return player;
        };
        let before = player.before();
        let code = player.code.clone();
        let mut last = String::new();
        for tries in 0.. {
            assert!(
                tries < 600 && Instant::now() < deadline,
                "{}: cannot resume through the proxy ({tries} tries): {last}",
                player.name()
            );
            match player.client.try_redial(proxy, &code).await {
                Ok(()) => match resume_anywhere(&mut player, &before).await {
                    Ok(()) => break,
                    Err(why) => last = why,
                },
                Err(why) => last = why,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The rooms of the play tests and the games they play.
const ROOMS: usize = 6;

/// What the nodes go through while the games run.
#[derive(Clone, Copy, Debug)]
enum Trouble {
    /// SIGKILL a node running rooms, `kills` times, restarting it on its address each time.
    Kill { kills: u32 },
    /// SIGTERM each node in turn, wait for it to exit, start it again (a rolling upgrade).
    Rolling,
}

/// Rooms played through Caddy by protocol clients while the nodes go through `trouble`;
/// then every game's record is checked against what the players were told.
async fn games_survive(name: &str, trouble: Trouble) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(150);
    let pg = crate::pg::Cluster::start();
    let database = pg.database();
    let dbname = database
        .rsplit("dbname=")
        .next()
        .expect("a dbname")
        .to_string();
    let sql = |q: &str| pg.psql(&dbname, q);
    let mut nodes = Nodes::start(name, &database).await;
    let proxy = nodes.proxy();
    let watch = OwnerWatch::start(&database).await;

    let mut players = Vec::new();
    let mut plans = Vec::new();
    let mut codes = Vec::new();
    for r in 0..ROOMS {
        let bots: &[BotLevel] = if r % 2 == 0 {
            &[BotLevel::Normal]
        } else {
            &[BotLevel::Easy, BotLevel::Hard]
        };
        let (code, clients) =
            open_room(proxy, &format!("Host{r}"), &format!("Guest{r}"), bots).await;
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
    let placed = sql("SELECT count(DISTINCT node) FROM leases");
    eprintln!("{name}: {ROOMS} rooms on {placed} nodes");
    let tasks: Vec<_> = players
        .into_iter()
        .map(|(player, plan)| tokio::spawn(play_through(player, plan, proxy, deadline)))
        .collect();
    let alive = |tasks: &[tokio::task::JoinHandle<Player>]| {
        assert!(
            tasks.iter().all(|t| !t.is_finished()),
            "a player ended (panicked?) while the trouble went on"
        );
    };

    let mut rng = Rng(0x5eed_c1a5_7e57_0017);
    let mut troubles = 0;
    match trouble {
        Trouble::Kill { kills } => {
            while troubles < kills && started.elapsed() < Duration::from_secs(60) {
                tokio::time::sleep(Duration::from_millis(300 + rng.below(700))).await;
                alive(&tasks);
                // The node running the most rooms.
                let busiest = sql(
                    "SELECT n.url FROM leases l JOIN nodes n ON n.name = l.node \
                     GROUP BY n.url ORDER BY count(*) DESC, n.url LIMIT 1",
                );
                let i = nodes
                    .index_of(&busiest)
                    .unwrap_or_else(|| (rng.below(NODES as u64)) as usize);
                nodes.nodes[i].take().expect("a running node").kill();
                troubles += 1;
                // Down for a moment (its rooms move meanwhile), then back on its address.
                tokio::time::sleep(Duration::from_millis(200 + rng.below(800))).await;
                nodes.nodes[i] = Some(nodes.start_node(i).await);
            }
        }
        Trouble::Rolling => {
            for i in 0..NODES {
                tokio::time::sleep(Duration::from_millis(1000 + rng.below(1000))).await;
                alive(&tasks);
                let mut node = nodes.nodes[i].take().expect("a running node");
                node.terminate();
                let status = node.wait_exit(Duration::from_secs(20)).await;
                assert!(status.success(), "node {i} drained and exited: {status}");
                nodes.nodes[i] = Some(nodes.start_node(i).await);
                // As an operator does: the next node only once this one is ready.
                nodes.wait_ready(i).await;
                troubles += 1;
            }
        }
    }
    for plan in &plans {
        plan.more_games.store(false, Ordering::SeqCst);
    }
    let mut finished = Vec::new();
    for task in tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        let player = tokio::time::timeout(left + Duration::from_secs(1), task)
            .await
            .expect("every game ends before the deadline")
            .expect("no player panics");
        finished.push(player);
    }
    let owners = watch.finish().await;

    // Every game's record, read through the proxy from PostgreSQL, holds every move a client
    // saw acknowledged and replays to every event a client saw, in order.
    let mut games = 0;
    let mut moves = 0;
    for (code, plan) in codes.iter().zip(&plans) {
        let last = plan.last_game.load(Ordering::SeqCst);
        assert!(last >= 1, "room {code} finished a game");
        for game in 1..=last {
            let response = exchange_at(
                proxy,
                "GET",
                &format!("/api/rooms/{code}/games/{game}"),
                &[],
                None,
            )
            .await;
            assert_eq!(
                response.status, 200,
                "the record of game {game} of {code}: {}",
                response.body
            );
            let record: perudo_server::record::GameRecord =
                serde_json::from_str(&response.body).expect("a game record");
            assert_eq!(
                sql(&format!(
                    "SELECT count(*) FROM moves WHERE code = '{code}' AND number = {game}"
                )),
                record.moves.len().to_string(),
                "the record of game {game} of {code} is the moves table's"
            );
            let (events, over) = replay_record(&record);
            assert!(over, "game {game} of room {code} replays to its end");
            for player in finished.iter().filter(|p| &p.code == code) {
                let acked = player.acked.get(&game).map_or(&[][..], Vec::as_slice);
                if let Err(i) = subsequence(acked, &record.moves) {
                    panic!(
                        "{}: the move {:?} acknowledged in game {game} of room {code} is not \
                         in the record (or out of order): {:?}",
                        player.name(),
                        acked[i],
                        record.moves
                    );
                }
                let seen = player.events.get(&game).map_or(&[][..], Vec::as_slice);
                if let Err(i) = subsequence(seen, &events) {
                    panic!(
                        "{}: was told {:?} in game {game} of room {code}, which the record \
                         does not replay to",
                        player.name(),
                        seen[i]
                    );
                }
                moves += acked.len();
            }
            let (status, stdout, stderr) = verify_cli(
                &nodes.dir.path(&format!("record-{code}-{game}.json")),
                &response.body,
            );
            assert!(
                status.success(),
                "perudo verify rejects game {game} of {code}: {stdout}{stderr}"
            );
            games += 1;
        }
    }
    for player in &finished {
        assert!(
            player.rejected.is_empty(),
            "{}: requests refused: {:?}",
            player.name(),
            player.rejected
        );
    }
    let resumes: u32 = finished.iter().map(|p| p.resumes).sum();
    let same_round: u32 = finished.iter().map(|p| p.same_round).sum();
    assert!(
        owners.handovers() >= 1,
        "no room changed owner: the trouble missed every room"
    );
    if let Trouble::Kill { kills } = trouble {
        assert_eq!(troubles, kills, "every kill was made within the budget");
        assert!(resumes >= kills, "{resumes} resumes for {kills} kills");
    }
    eprintln!(
        "{name}: {troubles} troubles ({trouble:?}), {} handovers seen in {} samples of the \
         leases, {resumes} resumes ({same_round} into the same round), {games} games, {moves} \
         acknowledged moves checked; {:?} in all",
        owners.handovers(),
        owners.samples,
        started.elapsed()
    );
    drop(nodes);
}

// ---- 1. kill -9, repeatedly -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_nodes_killed_mid_round_lose_no_acknowledged_move_and_every_game_ends() {
    games_survive("cluster-kill", Trouble::Kill { kills: 6 }).await;
}

// ---- 3. rolling restart -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_rolling_restart_during_play_loses_nothing() {
    games_survive("cluster-rolling", Trouble::Rolling).await;
}

// ---- 2. SIGSTOP past the lease ----------------------------------------------------------

fn signal(node: &Binary, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &node.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig} failed: {status}");
}

/// A node paused (SIGSTOP) past its lease loses its room to another node; once resumed
/// (SIGCONT) the move it was sent while paused is refused, nothing it does reaches the
/// database, and it drops the room; the players resume on the new owner and finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_node_paused_past_its_lease_is_fenced_and_drops_its_rooms() {
    let pg = crate::pg::Cluster::start();
    let database = pg.database();
    let dbname = database
        .rsplit("dbname=")
        .next()
        .expect("a dbname")
        .to_string();
    let sql = |q: &str| pg.psql(&dbname, q);
    let nodes = Nodes::start("cluster-pause", &database).await;
    let watch = OwnerWatch::start(&database).await;
    let owner = |code: &str| {
        sql(&format!(
            "SELECT n.url || ' ' || l.epoch FROM leases l JOIN nodes n ON n.name = l.node \
             WHERE l.code = '{code}'"
        ))
    };
    let moves = |code: &str| {
        sql(&format!(
            "SELECT count(*) || ':' || coalesce(string_agg(move, '|' ORDER BY seq), '') \
             FROM moves WHERE code = '{code}' AND number = 1"
        ))
    };

    // The room is created on a node (the one that will be paused); its players then come
    // in through another node, which passes their sockets on to it.
    let (code, mut clients) =
        open_room(nodes.node(0).addr, "Ana", "Bob", &[BotLevel::Normal]).await;
    let first_owner = owner(&code);
    let paused = nodes
        .index_of(first_owner.split(' ').next().expect("a url"))
        .expect("the owner is a node");
    let via = (paused + 1) % NODES;
    for client in clients.iter_mut() {
        client
            .try_redial(nodes.node(via).addr, &code)
            .await
            .expect("redial through another node");
        client.hello().await;
        let version = client.version();
        client
            .ack(Request::Resume {
                token: client.token().map(str::to_string),
                last_version: version,
            })
            .await;
    }
    assert!(
        first_owner.ends_with(" 1"),
        "the room starts at epoch 1: {first_owner}"
    );

    // Play until a human is on turn.
    let mut acts = 0;
    let on_turn = 'turn: {
        for _ in 0..2000 {
            for client in clients.iter_mut() {
                while client.recv_within(Duration::from_millis(5)).await.is_some() {}
            }
            if let Some(i) = clients.iter().position(|c| {
                c.phase() == RoomPhase::Playing && c.choose(&mut Strategy::Simple).is_some()
            }) {
                if acts >= 2 {
                    break 'turn i;
                }
                let action = clients[i].choose(&mut Strategy::Simple).expect("a move");
                clients[i].act(action).await;
                acts += 1;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("no human turn came");
    };
    for client in &mut clients {
        while client
            .recv_within(Duration::from_millis(50))
            .await
            .is_some()
        {}
    }
    let stored = moves(&code);
    assert!(!stored.starts_with("0:"), "moves are stored: {stored}");

    // Paused. The player on turn moves: the move waits in the paused node's socket.
    signal(nodes.node(paused), "-STOP");
    let action = clients[on_turn]
        .choose(&mut Strategy::Simple)
        .expect("a move");
    let sent_while_paused = clients[on_turn]
        .try_send(Request::Act { action })
        .await
        .expect("the move is sent");
    // A browser dialling a survivor now is passed on to the paused owner, which accepts the
    // connection and answers nothing. Its one attempt is answered once the lease has run
    // out (the survivor follows the room), not refused when the hop gives up after 5 s.
    let survivor = nodes.node((paused + 2) % NODES).addr;
    let dialled_room = code.clone();
    let dial = tokio::spawn(async move {
        let url = format!("ws://{survivor}/api/rooms/{dialled_room}/ws");
        tokio_tungstenite::connect_async(url)
            .await
            .map(|(_, response)| response.status().as_u16())
            .map_err(|e| e.to_string())
    });
    // Another node takes the room once the lease has run out (bounded wait: 30 s).
    let mut taken = String::new();
    for _ in 0..1500 {
        taken = owner(&code);
        if !taken.ends_with(" 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let new_owner = nodes
        .index_of(taken.split(' ').next().expect("a url"))
        .expect("a node owns the room");
    assert!(
        new_owner != paused && taken.ends_with(" 2"),
        "another node took the room at epoch 2: {taken}; locks on the leases: {}; sessions: {}",
        sql(
            "SELECT string_agg(l.mode || ' ' || l.granted || ' pid ' || l.pid, ', ') \
             FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'leases'"
        ),
        sql(
            "SELECT string_agg(pid || ' ' || state || ' ' || left(query, 60), ' | ') \
             FROM pg_stat_activity WHERE datname = current_database()"
        )
    );

    let dialled = tokio::time::timeout(Duration::from_secs(30), dial)
        .await
        .expect("the survivor answers within 30 s")
        .expect("the dial task");
    assert_eq!(
        dialled,
        Ok(101),
        "a socket dialled through a survivor while the owner was paused reaches the room"
    );

    // Resumed: its writes are refused and it drops the room.
    signal(nodes.node(paused), "-CONT");
    let player = &mut clients[on_turn];
    let mut closed = None;
    for _ in 0..200 {
        match player.recv_within(Duration::from_millis(100)).await {
            Some(Incoming::Closed(code, reason)) => {
                closed = Some((code, reason));
                break;
            }
            Some(Incoming::Message(message)) => {
                if let Some((id, _)) = message.answer() {
                    assert!(
                        id != sent_while_paused
                            || matches!(message, ServerMessage::Rejected { .. }),
                        "the paused node acknowledged a move after losing the room: \
                         {message:?}\nleases: {}\npaused node's log:\n{}\nnew owner's log:\n{}",
                        owner(&code),
                        nodes.node(paused).log_text(),
                        nodes.node(new_owner).log_text()
                    );
                }
            }
            None => {}
        }
    }
    let (close_code, _) = closed.expect("the paused node closes the room's sockets");
    assert_eq!(
        close_code,
        Some(1012),
        "closed as a server restart, so clients come back"
    );
    assert_eq!(
        moves(&code),
        stored,
        "nothing the paused node did after losing the room reached the database"
    );
    let paused_log = nodes.node(paused).log_text();
    assert!(
        paused_log.contains("lost the room's lease")
            || paused_log.contains("another node owns the room now"),
        "the paused node says it dropped the room:\n{paused_log}"
    );
    // It is alive and well otherwise, and runs the room no more.
    nodes.wait_ready(paused).await;
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = nodes.node(paused).get("/metrics").await.body;
        if metrics.lines().any(|l| l == "perudo_leases_held 0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        metrics.lines().any(|l| l == "perudo_leases_held 0"),
        "the paused node holds no lease after it resumed:\n{metrics}"
    );

    // The players come back through the proxy and finish the game on the new owner, in the
    // same round, the move sent while paused not made.
    let round_of = |c: &Client| match &c.table().expect("a table").state {
        TableState::Bidding(round) => round.round,
        TableState::Over { .. } => panic!("the game ended early"),
    };
    let before: Vec<(u32, RoomVersion)> =
        clients.iter().map(|c| (round_of(c), c.version())).collect();
    for (client, (round, version)) in clients.iter_mut().zip(&before) {
        let mut tries = 0;
        loop {
            let _ = client.recv_within(Duration::from_millis(1)).await;
            if client.try_redial(nodes.proxy(), &code).await.is_ok() {
                break;
            }
            tries += 1;
            assert!(
                tries < 200,
                "{}: cannot reconnect through the proxy",
                client.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        client.hello().await;
        let from = client.frames.len();
        client
            .ack(Request::Resume {
                token: client.token().map(str::to_string),
                last_version: *version,
            })
            .await;
        let snapshot = snapshot_since(client, from).expect("a snapshot from the new owner");
        match &snapshot.table.as_ref().expect("a table").state {
            TableState::Bidding(r) => assert_eq!(r.round, *round, "{}: same round", client.name),
            TableState::Over { .. } => panic!("the game ended while paused"),
        }
    }
    assert!(
        clients[on_turn].choose(&mut Strategy::Simple).is_some(),
        "the player whose move was refused is still on turn"
    );
    let results = crate::game::play_all(clients, 1).await;
    for client in &results {
        assert_eq!(client.results.last().map(|r| r.game), Some(1));
    }
    let owners = watch.finish().await;
    let response = exchange_at(
        nodes.proxy(),
        "GET",
        &format!("/api/rooms/{code}/games/1"),
        &[],
        None,
    )
    .await;
    assert_eq!(response.status, 200, "the record: {}", response.body);
    let record: perudo_server::record::GameRecord =
        serde_json::from_str(&response.body).expect("a game record");
    let (count, before_pause) = stored.split_once(':').expect("count:moves");
    let count: usize = count.parse().expect("a count");
    let first: Vec<String> = record.moves[..count]
        .iter()
        .map(|m| serde_json::to_string(m).expect("json"))
        .collect();
    assert_eq!(
        first.join("|"),
        before_pause,
        "the record begins with the moves made before"
    );
    let (_, over) = replay_record(&record);
    assert!(over, "the game replays to its end");
    eprintln!(
        "cluster-pause: room {code} moved from node {paused} to node {new_owner} ({taken}), \
         {} lease samples, {} handovers",
        owners.samples,
        owners.handovers()
    );
}

// ---- 4. a node's own expired lease ------------------------------------------------------

/// A node whose lease ran out without another node taking the room (the database was away
/// longer than the lease, or its renewals were late) drops the room, as it must, and then
/// takes it back at the next epoch: the room does not stay "moving" for ever. Alone in its
/// cluster, no other node would ever take it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_takes_back_a_room_whose_lease_expired_while_nobody_else_took_it() {
    let pg = crate::pg::Cluster::start();
    let database = pg.database();
    let dbname = database
        .rsplit("dbname=")
        .next()
        .expect("a dbname")
        .to_string();
    let sql = |q: &str| pg.psql(&dbname, q);
    let dir = Scratch::new("cluster-own-expired");
    let flags = ["--database-url", database.as_str(), "--lease-ms", LEASE_MS];
    let node = Binary::start(&dir, &dir.path("node.db"), &flags).await;
    let (code, mut clients) = open_room(node.addr, "Ana", "Bob", &[BotLevel::Normal]).await;
    let epoch = || sql(&format!("SELECT epoch FROM leases WHERE code = '{code}'"));
    assert_eq!(epoch(), "1");

    // As if the renewals had stopped for longer than the lease.
    sql(&format!(
        "UPDATE leases SET expires_at = now() - interval '1 second' WHERE code = '{code}'"
    ));
    let mut now = epoch();
    for _ in 0..1000 {
        if now != "1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        now = epoch();
    }
    assert_eq!(now, "2", "the node took its room back at the next epoch");
    for client in &mut clients {
        client.wait_closed().await;
    }
    // The players come back and finish the game.
    for client in clients.iter_mut() {
        let version = client.version();
        let mut tries = 0;
        while client.try_redial(node.addr, &code).await.is_err() {
            tries += 1;
            assert!(tries < 100, "{}: cannot reconnect", client.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        client.hello().await;
        client
            .ack(Request::Resume {
                token: client.token().map(str::to_string),
                last_version: version,
            })
            .await;
    }
    let results = crate::game::play_all(clients, 1).await;
    for client in &results {
        assert_eq!(client.results.last().map(|r| r.game), Some(1));
    }
}
