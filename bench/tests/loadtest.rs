//! The load tester (`perudo-bench loadtest`) against the real server (the perudo-server
//! library on a loopback port): a short run of real games; and against the fan-out reference.

use std::net::SocketAddr;
use std::time::Duration;

use perudo_bench::loadtest::{Config, Think, run};
use perudo_server::{RoomSettings, ServerConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Settings that keep games quick.
fn fast_settings() -> RoomSettings {
    RoomSettings {
        reveal_pause: Duration::from_millis(5),
        bot_delay: Duration::ZERO,
        idle_close: Duration::from_secs(120),
        public_url: "http://perudo.test".into(),
        ..RoomSettings::default()
    }
}

/// The real server on an ephemeral loopback port, rooms in a `MemoryStore`, no client limits
/// (the simulated players all come from one address at machine speed).
struct TestServer {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    async fn start(rooms: RoomSettings) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shutdown = CancellationToken::new();
        let config = ServerConfig {
            rooms,
            store: Some(std::sync::Arc::new(perudo_server::store::MemoryStore::new())),
            limits: perudo_server::Limits::unlimited(),
            ..ServerConfig::default()
        };
        let task = tokio::spawn(perudo_server::run(
            listener,
            config,
            shutdown.clone(),
            Duration::from_secs(5),
        ));
        TestServer {
            addr,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops")
            .expect("no panic")
            .expect("Ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_load_test_plays_games_without_errors() {
    let server = TestServer::start(perudo_server::RoomSettings {
        reveal_pause: Duration::ZERO,
        ..fast_settings()
    })
    .await;
    let report = run(Config {
        url: format!("http://{}", server.addr),
        rooms: 2,
        players: 3,
        bots: 1,
        duration: Duration::from_secs(3),
        think: Think {
            min_ms: 0,
            max_ms: 0,
        },
        ramp: Duration::ZERO,
        seed: 7,
        allow_remote: false,
        progress: false,
        ..Config::default()
    })
    .await
    .expect("the load test runs");
    eprintln!("{}", report.summary());
    assert_eq!(report.rooms_ready, 2, "{}", report.summary());
    assert!(report.actions > 0, "{}", report.summary());
    assert_eq!(report.errors_total, 0, "{}", report.summary());
    assert_eq!(report.latency.count, report.actions, "{}", report.summary());
    assert_eq!(report.incomplete, 0, "{}", report.summary());
    assert!(report.games_started >= 2, "{}", report.summary());
    // Thousands of moves fit in 3 s even on a slow machine; a game takes about a hundred.
    assert!(report.games_finished >= 1, "{}", report.summary());
    assert!(report.connections_peak >= 6, "{}", report.summary());
    assert_eq!(report.reconnects, 0, "{}", report.summary());
    assert!(report.bytes_received > report.bytes_sent);
    server.stop().await;
}

/// Several URLs (`--url a,b`): room i goes to the (i mod n)-th. The second here has nothing
/// listening, so exactly every second room fails its setup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_spread_over_several_urls() {
    let server = TestServer::start(fast_settings()).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.local_addr().expect("local address")
    };
    let report = run(Config {
        url: format!("http://{}, http://{closed}", server.addr),
        rooms: 4,
        players: 2,
        duration: Duration::from_millis(1500),
        idle: true,
        ..Config::default()
    })
    .await
    .expect("the load test runs");
    eprintln!("{}", report.summary());
    assert_eq!(report.rooms_ready, 2, "{}", report.summary());
    assert_eq!(report.connections_peak, 4, "{}", report.summary());
    assert_eq!(report.errors.get("setup"), Some(&2), "{}", report.summary());
    server.stop().await;
}

#[tokio::test]
async fn a_remote_url_is_refused_without_allow_remote() {
    let error = run(Config {
        url: "http://192.0.2.1:8080".into(),
        ..Config::default()
    })
    .await
    .expect_err("a non-loopback URL is refused");
    assert!(error.to_string().contains("--allow-remote"), "{error}");
}

/// The fan-out reference (`perudo-bench fanout-server`) and `loadtest --fanout` against it,
/// in process, with the sockets spread over two loopback source addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fanout_reference_takes_turns_without_errors() {
    use perudo_bench::fanout::{ACK_BYTES, FanoutConfig};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let frame_bytes = 500;
    let server = tokio::spawn(perudo_bench::fanout::run(
        listener,
        FanoutConfig {
            frame_bytes,
            max_rooms: 10,
            ..FanoutConfig::default()
        },
        shutdown.clone(),
        Duration::from_secs(5),
    ));
    let report = run(Config {
        url: format!("http://{addr}"),
        rooms: 2,
        players: 3,
        duration: Duration::from_millis(1500),
        warmup: Duration::from_millis(300),
        fanout: true,
        source_ips: 2,
        seed: 7,
        ..Config::default()
    })
    .await
    .expect("the fan-out load test runs");
    eprintln!("{}", report.summary());
    assert_eq!(report.mode, "fanout");
    assert_eq!(report.rooms_ready, 2, "{}", report.summary());
    assert!(report.actions > 0, "{}", report.summary());
    assert_eq!(report.errors_total, 0, "{}", report.summary());
    assert_eq!(report.latency.count, report.actions, "{}", report.summary());
    assert_eq!(report.incomplete, 0, "{}", report.summary());
    assert_eq!(report.connections_peak, 6, "{}", report.summary());
    // Per action: one frame to each of the 3 players and the sender's ack (the counts of
    // the window's first and last actions may differ by a frame or two).
    let expected = (3 * frame_bytes + ACK_BYTES) as f64;
    assert!(
        (report.bytes_received_per_action - expected).abs() < expected * 0.05,
        "{}",
        report.summary()
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the fan-out server stops")
        .expect("no panic")
        .expect("Ok");
}
