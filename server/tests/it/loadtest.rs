//! The load tester (`perudo loadtest`) against the real server: a short run of real games.

use std::time::Duration;

use perudo_server::loadtest::{Config, Think, run};

use crate::server::{TestServer, fast_settings};

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
        idle: false,
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
