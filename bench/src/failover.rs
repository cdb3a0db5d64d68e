//! `perudo-bench failover`: how long a cluster of `perudo serve` nodes on one PostgreSQL
//! database takes to make a killed node's rooms playable again.
//!
//! It starts `--nodes` nodes on fixed loopback ports (as a proxy's upstreams), opens
//! `--rooms` rooms spread over them, each with a game running (a host and two bots; the host
//! then leaves, so the stand-in plays for it), then, `--kills` times, kills one node with
//! SIGKILL and measures, from the kill:
//!
//! - **with clients** (even kills): every room the node ran is asked for by a client
//!   through a surviving node (chosen at random, every `--poll-ms`) until the room answers a
//!   `Spectate`: the time until every room is playable again, as a browser reconnecting at
//!   once would see it.
//! - **without clients** (odd kills): nobody asks; the time until the survivors' lease loop
//!   has claimed every room (polled in the `leases` table).
//!
//! The killed node is started again on the same port before the next kill.
//!
//! With `--pause`, the node is stopped with SIGSTOP instead (a frozen VM, a process stuck in
//! swap): it keeps its database session, so it still counts as live, and its rooms move only
//! once their leases have run out. It is resumed (SIGCONT) after the measurement; it must
//! then drop the rooms it lost and be ready again before the next pause.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use perudo_protocol::client::{Answer, RoomMirror};
use perudo_protocol::http::{CreateRoom, RoomCreated};
use perudo_protocol::{PROTOCOL_VERSION, Request, ServerMessage};
use rand::RngExt;
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Args, Debug)]
pub struct FailoverArgs {
    /// The `perudo` binary to run as the nodes.
    #[arg(long, default_value = "target/release/perudo")]
    pub perudo: PathBuf,
    /// The PostgreSQL database the nodes share (an empty one: the rooms are made here).
    /// Unset: a throwaway cluster is started for the run (`perudo-bench postgres`, Debian's
    /// `postgresql` package) and stopped after it.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Nodes to run.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Rooms to open, spread over the nodes.
    #[arg(long, default_value_t = 30)]
    pub rooms: usize,
    /// Nodes to kill, one after the other (round robin).
    #[arg(long, default_value_t = 20)]
    pub kills: usize,
    /// The first node's port on 127.0.0.1; the others follow.
    #[arg(long, default_value_t = 28_470)]
    pub base_port: u16,
    /// The nodes' `--lease-ms` (their default if unset).
    #[arg(long)]
    pub lease_ms: Option<u64>,
    /// Milliseconds between a client's attempts to reach a room.
    #[arg(long, default_value_t = 20)]
    pub poll_ms: u64,
    /// Where the nodes' logs and files go.
    #[arg(long, default_value = "/tmp/perudo-failover")]
    pub dir: PathBuf,
    /// Pause the node (SIGSTOP, then SIGCONT once measured) instead of killing it.
    #[arg(long)]
    pub pause: bool,
}

/// Sends `signal` (`-STOP`, `-CONT`) to a node's process.
fn signal(child: &Child, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .context("run kill")?;
    if !status.success() {
        bail!("kill {signal} {} failed", child.id());
    }
    Ok(())
}

/// How long one attempt to reach a room may take: a paused node accepts connections (its
/// kernel does) but answers nothing, and a survivor that passes a socket on to it waits too.
const ATTEMPT: Duration = Duration::from_secs(2);

struct Node {
    port: u16,
    child: Option<Child>,
    starts: u32,
}

/// A node still running when the run ends (or fails) is killed with it.
impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Node {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn start(args: &FailoverArgs, url: &str, index: usize, node: &mut Node) -> anyhow::Result<()> {
    let log = args.dir.join(format!("node-{index}-{}.log", node.starts));
    node.starts += 1;
    let mut command = Command::new(&args.perudo);
    command
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{}", node.port)])
        .args(["--database-url", url])
        .arg("--db")
        .arg(args.dir.join(format!("node-{index}.db")))
        .args(["--messages-per-sec", "0", "--connects-per-ip-per-min", "0"])
        .args([
            "--rooms-per-ip-per-min",
            "0",
            "--max-connections-per-ip",
            "0",
        ])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).context("a node's log file")?);
    if let Some(lease) = args.lease_ms {
        command.args(["--lease-ms", &lease.to_string()]);
    }
    node.child = Some(command.spawn().context("start a perudo node")?);
    Ok(())
}

async fn wait_ready(http: &reqwest::Client, node: &Node) -> anyhow::Result<()> {
    for _ in 0..600 {
        if let Ok(response) = http.get(format!("{}/readyz", node.url())).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("node {} never became ready", node.url())
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ask(socket: &mut Socket, mirror: &mut RoomMirror, request: Request) -> anyhow::Result<()> {
    let message = mirror.request(request);
    let id = message.id;
    socket
        .send(Message::Binary(message.encode()?.into()))
        .await?;
    loop {
        let Some(frame) = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .context("no answer within 5 s")?
        else {
            bail!("the socket ended");
        };
        let Message::Binary(bytes) = frame? else {
            continue;
        };
        let message = ServerMessage::decode(&bytes)?;
        // A standalone answer, or the `ack` of the update the request made.
        if let Ok(applied) = mirror.apply(&message)
            && let Some(Answer {
                id: answered,
                result,
                ..
            }) = applied.answer()
            && *answered == id
        {
            return result
                .clone()
                .map(|_| ())
                .map_err(|r| anyhow::anyhow!("{:?}: {}", r.code, r.message));
        }
    }
}

async fn connect(base: &str, code: &str) -> anyhow::Result<(Socket, RoomMirror)> {
    let url = format!(
        "{}/api/rooms/{code}/ws",
        base.replacen("http://", "ws://", 1)
    );
    let (mut socket, _) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(url),
    )
    .await
    .context("the handshake timed out")??;
    let mut mirror = RoomMirror::new();
    ask(
        &mut socket,
        &mut mirror,
        Request::Hello {
            version: PROTOCOL_VERSION,
        },
    )
    .await?;
    Ok((socket, mirror))
}

/// A room with a game running: a host, two bots, started; the host leaves.
async fn open_room(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let created: RoomCreated = http
        .post(format!("{base}/api/rooms"))
        .json(&CreateRoom {
            name: "Host".into(),
            rules: Default::default(),
            options: Default::default(),
        })
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let code = created.code.to_string();
    let (mut socket, mut mirror) = connect(base, &code).await?;
    ask(
        &mut socket,
        &mut mirror,
        Request::Claim {
            token: created.token,
        },
    )
    .await?;
    for _ in 0..2 {
        ask(
            &mut socket,
            &mut mirror,
            Request::AddBot {
                level: perudo_core::BotLevel::Normal,
            },
        )
        .await?;
    }
    ask(&mut socket, &mut mirror, Request::Start).await?;
    let _ = socket.close(None).await;
    Ok(code)
}

/// Until `code` answers a spectator through one of `survivors`: the time from `since`.
async fn playable(
    survivors: Vec<String>,
    code: String,
    since: Instant,
    poll: Duration,
) -> Duration {
    loop {
        let base = {
            let mut rng = rand::rng();
            survivors[rng.random_range(0..survivors.len())].clone()
        };
        let attempt = async {
            let (mut socket, mut mirror) = connect(&base, &code).await?;
            ask(&mut socket, &mut mirror, Request::Spectate).await?;
            anyhow::Ok(socket)
        };
        if let Ok(Ok(mut socket)) = tokio::time::timeout(ATTEMPT, attempt).await {
            let at = since.elapsed();
            let _ = socket.close(None).await;
            return at;
        }
        tokio::time::sleep(poll).await;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub async fn run(args: FailoverArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir).context("the work directory")?;
    // Declared first, so dropped last: after the nodes.
    let mut throwaway = None;
    let database_url = match &args.database_url {
        Some(url) => url.clone(),
        None => {
            let cluster = tokio::task::spawn_blocking(crate::pgcluster::Cluster::start)
                .await
                .context("the throwaway PostgreSQL cluster did not start")?;
            let url = cluster.database();
            eprintln!("a throwaway PostgreSQL cluster: {url}");
            throwaway = Some(cluster);
            url
        }
    };
    let (db, connection) = tokio_postgres::connect(&database_url, tokio_postgres::NoTls)
        .await
        .context("connect to the database")?;
    tokio::spawn(connection);
    let http = reqwest::Client::new();
    let mut nodes: Vec<Node> = (0..args.nodes)
        .map(|i| Node {
            port: args.base_port + i as u16,
            child: None,
            starts: 0,
        })
        .collect();
    for (i, node) in nodes.iter_mut().enumerate() {
        start(&args, &database_url, i, node)?;
    }
    for node in &nodes {
        wait_ready(&http, node).await?;
    }
    for k in 0..args.rooms {
        open_room(&http, &nodes[k % nodes.len()].url()).await?;
    }
    let (verb, noun) = if args.pause {
        ("pausing", "pause")
    } else {
        ("killing", "kill")
    };
    eprintln!(
        "{} nodes, {} rooms with games running; {verb} {} times",
        args.nodes, args.rooms, args.kills
    );
    let poll = Duration::from_millis(args.poll_ms);
    let mut with_clients = Vec::new();
    let mut without_clients = Vec::new();
    for kill in 0..args.kills {
        let victim = kill % nodes.len();
        let url = nodes[victim].url();
        let name: String = db
            .query_one("SELECT name FROM live_nodes WHERE url = $1", &[&url])
            .await
            .context("the victim is live")?
            .get(0);
        let owned: Vec<String> = db
            .query("SELECT code FROM leases WHERE node = $1", &[&name])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let survivors: Vec<String> = nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != victim)
            .map(|(_, n)| n.url())
            .collect();
        let mut child = nodes[victim].child.take().context("a running node")?;
        let killed = Instant::now();
        if args.pause {
            signal(&child, "-STOP")?;
        } else {
            child.kill().context("kill -9")?;
            let _ = child.wait();
        }
        let clients = kill % 2 == 0;
        let all = if owned.is_empty() {
            Duration::ZERO
        } else if clients {
            let tasks: Vec<_> = owned
                .iter()
                .map(|code| tokio::spawn(playable(survivors.clone(), code.clone(), killed, poll)))
                .collect();
            let mut worst = Duration::ZERO;
            for task in tasks {
                worst = worst.max(task.await?);
            }
            worst
        } else {
            loop {
                let left: i64 = db
                    .query_one(
                        "SELECT count(*) FROM leases WHERE node = $1 AND code = ANY($2)",
                        &[&name, &owned],
                    )
                    .await?
                    .get(0);
                if left == 0 {
                    break killed.elapsed();
                }
                tokio::time::sleep(poll).await;
            }
        };
        let mode = if clients {
            "every room playable through a survivor"
        } else {
            "every room claimed, no client asking"
        };
        println!(
            "{noun} {:>2}: node {victim}, {:>3} rooms: {mode} after {:.0} ms",
            kill + 1,
            owned.len(),
            ms(all)
        );
        if clients {
            with_clients.push(all);
        } else {
            without_clients.push(all);
        }
        if args.pause {
            // Resumed: it finds its leases gone, drops those rooms and is ready again.
            signal(&child, "-CONT")?;
            nodes[victim].child = Some(child);
        } else {
            start(&args, &database_url, victim, &mut nodes[victim])?;
        }
        wait_ready(&http, &nodes[victim]).await?;
    }
    for (what, mut times) in [
        ("with clients reconnecting", with_clients),
        ("without clients (the lease loop)", without_clients),
    ] {
        if times.is_empty() {
            continue;
        }
        times.sort();
        let median = times[times.len() / 2];
        let worst = times[times.len() - 1];
        println!(
            "{what}: {} {noun}s, {noun} -> all rooms: median {:.0} ms, worst {:.0} ms",
            times.len(),
            ms(median),
            ms(worst)
        );
    }
    for node in &mut nodes {
        if let Some(mut child) = node.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
    drop(nodes);
    drop(db);
    drop(throwaway);
    Ok(())
}
