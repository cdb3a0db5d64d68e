//! `perudo admin` against the real server: the admin socket (mode 0600), listing rooms and
//! connections, closing a room (its players told, gone for good), blocking an address and a
//! network (open connections closed, new requests refused) and lifting the block; and the
//! `perudo admin` command of the real binary, with its default socket next to the database.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use perudo_protocol::CloseReason;
use perudo_server::ServerConfig;
use perudo_server::admin::{self, Answer, Request};
use perudo_server::store::{MemoryStore, Store};

use crate::server::{Scratch, TestServer, fast_settings};

/// Asks the server at `socket`, retrying for a while until the socket is up.
async fn ask(socket: &Path, request: Request) -> Result<Answer, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match admin::request(socket, &request).await {
            Err(why) if why.starts_with("cannot reach") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            result => return result,
        }
    }
}

async fn rooms(socket: &Path) -> Vec<admin::RoomRow> {
    match ask(socket, Request::Rooms).await {
        Ok(Answer::Rooms { rooms }) => rooms,
        other => panic!("rooms: {other:?}"),
    }
}

async fn connections(socket: &Path) -> Vec<admin::ConnectionRow> {
    match ask(socket, Request::Connections).await {
        Ok(Answer::Connections { connections }) => connections,
        other => panic!("connections: {other:?}"),
    }
}

/// Polls `check` until it holds, at most 10 s.
async fn eventually<T: std::fmt::Debug>(
    what: &str,
    mut probe: impl AsyncFnMut() -> T,
    check: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let value = probe().await;
        if check(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: still {value:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_operator_lists_closes_and_blocks_over_the_admin_socket() {
    let scratch = Scratch::new("socket");
    let socket = scratch.path("admin.sock");
    let store = Arc::new(MemoryStore::new());
    let server = TestServer::start_with(ServerConfig {
        rooms: fast_settings(),
        store: Some(store.clone()),
        limits: perudo_server::Limits::unlimited(),
        admin_socket: Some(socket.clone()),
        ..ServerConfig::default()
    })
    .await;
    assert!(
        rooms(&socket).await.is_empty(),
        "a fresh server has no rooms"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&socket)
            .expect("the socket file")
            .permissions(),
    );
    assert_eq!(
        mode & 0o777,
        0o600,
        "the admin socket is the server user's only"
    );

    // Two rooms: one with two players, one with its host.
    let first = server.create_room("Ann", None).await;
    let mut ann = server.host(&first, "Ann").await;
    let mut bob = server.player(&first.code, "Bob").await;
    let second = server.create_room("Cy", None).await;
    let mut cy = server.host(&second, "Cy").await;

    let listed = rooms(&socket).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let row = listed
        .iter()
        .find(|r| r.code == first.code.as_str())
        .expect("the first room is listed");
    assert_eq!(
        (
            row.phase.as_str(),
            row.seats,
            row.spectators,
            row.connections
        ),
        ("lobby", 2, 0, 2),
        "{row:?}"
    );
    let listed_conns = connections(&socket).await;
    assert_eq!(listed_conns.len(), 3, "{listed_conns:?}");
    assert!(
        listed_conns.iter().all(|c| c.ip.to_string() == "127.0.0.1"),
        "{listed_conns:?}"
    );
    assert_eq!(
        listed_conns
            .iter()
            .filter(|c| c.room == first.code.as_str())
            .count(),
        2
    );

    // Closing the second room tells its player why, and the room is gone for good: not
    // found, and not among the rooms a restart would restore.
    let closed = ask(
        &socket,
        Request::Close {
            room: second.code.to_lowercase(),
        },
    )
    .await;
    assert_eq!(
        closed,
        Ok(Answer::Closed {
            room: second.code.to_string(),
            connections: 1
        })
    );
    let (code, _) = cy.wait_closed().await;
    assert_eq!(code, Some(1001));
    assert_eq!(cy.closing(), Some(CloseReason::RoomClosed));
    eventually(
        "the closed room is forgotten",
        async || {
            server
                .get(&format!("/api/rooms/{}", second.code))
                .await
                .status
        },
        |status| *status == 404,
    )
    .await;
    let stored = eventually(
        "the closed room is marked closed in storage",
        async || {
            store
                .load_rooms()
                .expect("load rooms")
                .into_iter()
                .map(|image| image.code)
                .collect::<Vec<_>>()
        },
        |codes| !codes.contains(&second.code.to_string()),
    )
    .await;
    assert!(stored.contains(&first.code.to_string()), "{stored:?}");
    let error = ask(
        &socket,
        Request::Close {
            room: second.code.to_string(),
        },
    )
    .await
    .expect_err("a closed room cannot be closed again");
    assert!(error.contains("no open room has the code"), "{error}");

    eventually(
        "the closed room's connection is gone",
        async || connections(&socket).await.len(),
        |n| *n == 2,
    )
    .await;

    // Blocking the players' address closes their connections and refuses their requests,
    // the page, a new room and a WebSocket alike, until the block is lifted.
    let blocked = ask(
        &socket,
        Request::Block {
            target: "127.0.0.0/8".into(),
            seconds: 600,
            reason: "test".into(),
        },
    )
    .await;
    assert_eq!(
        blocked,
        Ok(Answer::Blocked {
            target: "127.0.0.0/8".into(),
            seconds: 600,
            closed_connections: 2
        })
    );
    ann.wait_closed().await;
    bob.wait_closed().await;
    eventually(
        "the blocked connections are gone",
        async || connections(&socket).await.len(),
        |n| *n == 0,
    )
    .await;
    let refused = server.post_json("/api/rooms", r#"{"name":"Dee"}"#).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.error_code(), "blocked");
    assert_eq!(
        server
            .get(&format!("/api/rooms/{}/ws", first.code))
            .await
            .status,
        403
    );
    match ask(&socket, Request::Blocks).await {
        Ok(Answer::Blocks { blocks }) => {
            assert_eq!(blocks.len(), 1, "{blocks:?}");
            assert_eq!(blocks[0].target, "127.0.0.0/8");
            assert_eq!(blocks[0].reason, "test");
            assert!(
                (590..=600).contains(&blocks[0].remaining_secs),
                "{blocks:?}"
            );
        }
        other => panic!("blocks: {other:?}"),
    }
    // Another network is not blocked by it; lifting needs the exact network.
    let error = ask(
        &socket,
        Request::Unblock {
            target: "127.0.0.1".into(),
        },
    )
    .await
    .expect_err("127.0.0.1 alone is not blocked");
    assert!(error.contains("is not blocked"), "{error}");
    assert_eq!(
        ask(
            &socket,
            Request::Unblock {
                target: "127.0.0.0/8".into()
            }
        )
        .await,
        Ok(Answer::Unblocked {
            target: "127.0.0.0/8".into()
        })
    );
    let created = server.post_json("/api/rooms", r#"{"name":"Dee"}"#).await;
    assert_eq!(created.status, 200, "{}", created.body);
    // The blocked players come back: their seats were kept.
    let mut ann = server.connect(&first.code, "Ann").await;
    ann.hello().await;
    ann.claim(&first.token).await;

    // Bad requests are refused with a reason and change nothing.
    for (request, why) in [
        (
            Request::Block {
                target: "perudo.example.org".into(),
                seconds: 60,
                reason: String::new(),
            },
            "is not an IP address",
        ),
        (
            Request::Block {
                target: "2001:db8::/64".into(),
                seconds: 0,
                reason: String::new(),
            },
            "from 1 second to 365 days",
        ),
        (
            Request::Close {
                room: "NOPE".into(),
            },
            "no open room",
        ),
    ] {
        let error = ask(&socket, request.clone())
            .await
            .expect_err("a bad request");
        assert!(error.contains(why), "{request:?}: {error}");
    }
    match ask(&socket, Request::Blocks).await {
        Ok(Answer::Blocks { blocks }) => assert!(blocks.is_empty(), "{blocks:?}"),
        other => panic!("blocks: {other:?}"),
    }
    // Not JSON at all: an error line, and the server goes on.
    let raw = raw_exchange(&socket, "rooms please\n").await;
    assert!(
        raw.starts_with(r#"{"error":"not an admin request"#),
        "{raw}"
    );
    assert_eq!(rooms(&socket).await.len(), 2);

    server.stop().await;
    assert!(!socket.exists(), "the socket file is removed on shutdown");
}

async fn raw_exchange(socket: &Path, text: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::UnixStream::connect(socket)
        .await
        .expect("connect to the admin socket");
    stream.write_all(text.as_bytes()).await.expect("write");
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut reply))
        .await
        .expect("an answer in time")
        .expect("read");
    reply
}

/// Kills the child when dropped, so a failing test leaves no server behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `perudo serve` with a database at `db`, once it listens.
fn serve(db: &Path) -> (Child, std::net::SocketAddr) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_perudo"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--db")
        .arg(db)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PERUDO_") {
            command.env_remove(name);
        }
    }
    let mut child = Child(command.spawn().expect("start perudo"));
    let stderr = child.0.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("perudo logs that it listens")
            .expect("a log line");
        let json: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
        if json["fields"]["message"] == "listening" {
            break json["fields"]["addr"]
                .as_str()
                .expect("the address")
                .parse()
                .expect("a socket address");
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

/// `perudo admin --db <db> <args>`: its exit status, standard output and standard error.
fn admin_command(db: &Path, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_perudo"));
    command.arg("admin").arg("--db").arg(db).args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PERUDO_") {
            command.env_remove(name);
        }
    }
    let output = command.output().expect("run perudo admin");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn perudo_admin_finds_the_socket_next_to_the_database_also_after_a_crash() {
    let scratch = Scratch::new("binary");
    let db = scratch.path("perudo.db");
    let socket = scratch.path("perudo.db.admin.sock");

    let (ok, _, stderr) = admin_command(&db, &["rooms"]);
    assert!(!ok);
    assert!(
        stderr.contains("cannot reach the admin socket")
            && stderr.contains("is perudo serve running"),
        "{stderr}"
    );

    let (mut server, addr) = serve(&db);
    let created = crate::server::create_room_at(addr).await;
    let (ok, stdout, stderr) = admin_command(&db, &["rooms"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(created.code.as_str())
            && stdout.contains("lobby")
            && stdout.ends_with("1 rooms\n"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = admin_command(
        &db,
        &[
            "block",
            "2001:db8:1:2::7/64",
            "--for",
            "1h",
            "--reason",
            "spam",
        ],
    );
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout,
        "blocked 2001:db8:1:2::/64 for 1h00m; 0 open connections closed\n"
    );
    let (ok, stdout, stderr) = admin_command(&db, &["--json", "blocks"]);
    assert!(ok, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json["blocks"][0]["target"], "2001:db8:1:2::/64", "{json}");
    let (ok, _, stderr) = admin_command(&db, &["block", "2001:db8::1", "--for", "1w"]);
    assert!(!ok);
    assert!(stderr.contains("the unit must be s, m, h or d"), "{stderr}");

    // A killed server leaves its socket file behind; the next start replaces it.
    server.0.kill().expect("kill perudo");
    server.0.wait().expect("reap perudo");
    assert!(socket.exists(), "SIGKILL leaves the socket file");
    let (_server, _addr) = serve(&db);
    let (ok, stdout, stderr) = admin_command(&db, &["rooms"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(created.code.as_str()),
        "the room was restored: {stdout}"
    );
}
