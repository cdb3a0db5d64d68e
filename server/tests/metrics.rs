//! `GET /metrics` against the real server: a short game, a rejection, a storage failure, a
//! restart and SQLite's group commits, each read back from the exposition.
//!
//! The metrics recorder is global to the process, so this file is its own test binary with
//! a single test: nothing else runs in the process to move the gauges, and the test can
//! require them to return exactly to zero. It borrows the `it` binary's harness and client.

#[path = "it/client.rs"]
#[allow(dead_code)]
mod client;
#[path = "it/server.rs"]
#[allow(dead_code)]
mod server;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use perudo_protocol::{RejectCode, Request, ServerMessage};
use perudo_server::ServerConfig;
use perudo_server::store::{MemoryStore, SqliteOptions, SqliteStore, SyncMode};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Client, Strategy};
use crate::server::{TestServer, fast_settings};

/// The value of one series (`name{labels}` exactly as exposed), if the page has it.
fn value(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().expect("a number"))
        })
}

/// `value`, 0 when the series is absent (a counter never incremented is not exposed).
fn count(page: &str, series: &str) -> f64 {
    value(page, series).unwrap_or(0.0)
}

async fn scrape(server: &TestServer) -> String {
    let response = server.get("/metrics").await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        response
            .headers
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{}",
        response.headers
    );
    response.body
}

/// Scrapes until `ok` holds (gauges follow sockets that close asynchronously), at most 10 s.
async fn scrape_until(server: &TestServer, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = scrape(server).await;
        if ok(&page) {
            return page;
        }
        assert!(Instant::now() < deadline, "never {what}:\n{page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Plays both seats to the end of game `game`, concurrently.
async fn play(clients: Vec<Client>, game: u32) -> Vec<Client> {
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                client.play_to_end(game, &mut Strategy::Simple).await;
                client
            })
        })
        .collect();
    let mut clients = Vec::new();
    for task in tasks {
        let client = tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the game ends in time")
            .expect("no client panics");
        clients.push(client);
    }
    clients
}

const PHASES: [&str; 4] = ["lobby", "playing", "reveal", "finished"];

fn rooms(page: &str, phase: &str) -> f64 {
    count(page, &format!("perudo_rooms{{phase=\"{phase}\"}}"))
}

#[tokio::test]
async fn metrics_follow_games_failures_restarts_and_commits() {
    let store = Arc::new(MemoryStore::new());
    let config = ServerConfig {
        rooms: fast_settings(),
        store: Some(store.clone()),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config.clone()).await;

    // A short game between two humans, with a refused request and an undecodable frame.
    let room = server.create_room("Ana", None).await;
    let mut ana = server.host(&room, "Ana").await;
    ana.reject_raw(Message::Binary(vec![0xc1].into())).await;
    let mut bob = server.player(&room.code, "Bob").await;
    let page = scrape(&server).await;
    assert_eq!(value(&page, "perudo_connections"), Some(2.0), "{page}");
    assert_eq!(rooms(&page, "lobby"), 1.0, "{page}");
    // The caps the alerts compare to are the configured ones, and the build is named.
    assert_eq!(
        value(&page, "perudo_connections_max"),
        Some(config.limits.max_connections as f64),
        "{page}"
    );
    assert_eq!(
        value(&page, "perudo_rooms_max"),
        Some(config.max_rooms as f64),
        "{page}"
    );
    let build_info = format!(
        "perudo_build_info{{version=\"{}\",revision=\"{}\"}}",
        perudo_server::version::VERSION,
        perudo_server::version::REVISION
    );
    assert_eq!(value(&page, &build_info), Some(1.0), "{page}");
    bob.expect_reject(Request::Start, RejectCode::NotHost).await;
    ana.ack(Request::Start).await;
    let clients = play(vec![ana, bob], 1).await;
    let acts: usize = clients
        .iter()
        .map(|c| {
            c.frames
                .iter()
                .filter(|f| f.message.answer().is_some_and(|(_, done)| done))
                .count()
        })
        .sum::<usize>()
        - 5; // two hellos, a claim, a join, a start
    assert!(acts > 0);

    let page = scrape(&server).await;
    let at_least = |series: &str, n: f64| {
        assert!(count(&page, series) >= n, "{series} >= {n}:\n{page}");
    };
    at_least("perudo_messages_in_total{kind=\"Hello\"}", 2.0);
    at_least("perudo_messages_in_total{kind=\"Start\"}", 2.0);
    at_least("perudo_messages_in_total{kind=\"Act\"}", acts as f64);
    at_least("perudo_messages_in_total{kind=\"invalid\"}", 1.0);
    // Hellos, the claim and the join get an `Ack`; a move's answer rides in its update.
    at_least("perudo_messages_out_total{kind=\"Ack\"}", 4.0);
    at_least("perudo_messages_out_total{kind=\"Rejected\"}", 2.0);
    at_least("perudo_messages_out_total{kind=\"Snapshot\"}", 2.0);
    at_least(
        "perudo_messages_out_total{kind=\"Update\"}",
        (2 * acts) as f64,
    );
    at_least("perudo_rejections_total{code=\"NotHost\"}", 1.0);
    at_least("perudo_rejections_total{code=\"Malformed\"}", 1.0);
    // Every Act was timed, and the histogram has buckets (not a summary).
    at_least("perudo_action_broadcast_seconds_count", acts as f64);
    at_least(
        "perudo_action_broadcast_seconds_bucket{le=\"+Inf\"}",
        acts as f64,
    );
    assert!(count(&page, "perudo_action_broadcast_seconds_sum") > 0.0);
    assert!(page.contains("# TYPE perudo_action_broadcast_seconds histogram"));
    assert_eq!(value(&page, "perudo_connections"), Some(2.0), "{page}");
    assert_eq!(rooms(&page, "finished"), 1.0, "{page}");
    for phase in ["lobby", "playing", "reveal"] {
        assert_eq!(rooms(&page, phase), 0.0, "{phase}:\n{page}");
    }

    // Storage fails: the host's next start is refused, counted, and readiness drops.
    let mut clients = clients;
    store.fail.store(true, Ordering::Relaxed);
    // (The room rolls back first: everyone gets a snapshot, then the request its answer.)
    let id = clients[0].send(Request::Start).await;
    let answer = clients[0].answer(id).await;
    assert!(
        matches!(
            answer,
            ServerMessage::Rejected {
                code: RejectCode::Storage,
                ..
            }
        ),
        "{answer:?}"
    );
    let page = scrape(&server).await;
    assert!(
        count(&page, "perudo_storage_failures_total") >= 1.0,
        "{page}"
    );
    assert!(
        count(&page, "perudo_rejections_total{code=\"Storage\"}") >= 1.0,
        "{page}"
    );
    assert_eq!(server.get("/readyz").await.status, 503);
    store.fail.store(false, Ordering::Relaxed);
    assert_eq!(server.get("/readyz").await.status, 200);

    // The sockets go: the gauge returns to zero.
    drop(clients);
    scrape_until(&server, "zero connections", |page| {
        value(page, "perudo_connections") == Some(0.0)
    })
    .await;
    server.stop().await;
    let page = perudo_server::metrics::render();
    for phase in PHASES {
        assert_eq!(rooms(&page, phase), 0.0, "after stop, {phase}:\n{page}");
    }
    let restored = count(&page, "perudo_rooms_restored_total");

    // A restart reopens the room from the store and counts it.
    let server = TestServer::start_with(config).await;
    let page = scrape_until(&server, "the restored room counted", |page| {
        rooms(page, "finished") == 1.0
    })
    .await;
    assert_eq!(
        count(&page, "perudo_rooms_restored_total"),
        restored + 1.0,
        "{page}"
    );
    server.stop().await;

    // SQLite's writer times its group commits and counts their batches.
    let dir = std::env::temp_dir().join(format!(
        "perudo-metrics-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let sqlite = SqliteStore::open(SqliteOptions {
        path: dir.join("perudo.db"),
        sync: SyncMode::Normal,
        retention: Duration::from_secs(86_400),
        max_pages: None,
    })
    .expect("open the database");
    let server = TestServer::start_with(ServerConfig {
        rooms: fast_settings(),
        store: Some(Arc::new(sqlite)),
        ..ServerConfig::default()
    })
    .await;
    server.create_room("Cy", None).await;
    let page = scrape(&server).await;
    assert!(
        count(&page, "perudo_storage_commit_seconds_count") >= 1.0,
        "{page}"
    );
    assert!(
        count(&page, "perudo_storage_commit_batches_bucket{le=\"1\"}") >= 1.0,
        "{page}"
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
