//! The real room task, with paused tokio time.

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::task::TaskTracker;

/// A connection to a spawned room: its outbox is a plain channel.
struct Peer {
    conn: ConnId,
    rx: mpsc::Receiver<Frame>,
    /// The room as this peer sees it, its request ids and its seat's token.
    mirror: RoomMirror,
}

struct Live {
    handle: RoomHandle,
    tracker: TaskTracker,
    closed: Arc<AtomicBool>,
    _shutdown: CancellationToken,
    next_conn: ConnId,
}

const WAIT: Duration = Duration::from_secs(3600);

impl Live {
    fn spawn(settings: RoomSettings, rules: GameConfig, options: RoomOptions) -> Live {
        let room = Room::new(
            RoomCode::parse("TASKRM222").unwrap(),
            settings,
            Rules::new(rules).expect("valid test rules"),
            options,
            Host {
                name: PlayerName::new("Host").unwrap(),
                token_hash: ids::hash_token(HOST_TOKEN),
            },
            Now::system(),
            RoomRng::from_key(TEST_KEY),
        );
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let closed = Arc::new(AtomicBool::new(false));
        let flag = closed.clone();
        let handle = room.spawn(None, &tracker, shutdown.clone(), move || {
            flag.store(true, Ordering::SeqCst);
        });
        tracker.close();
        Live {
            handle,
            tracker,
            closed,
            _shutdown: shutdown,
            next_conn: 1,
        }
    }

    async fn connect(&mut self) -> Peer {
        let (tx, rx) = mpsc::channel(1024);
        let conn = self.next_conn;
        self.next_conn += 1;
        assert!(
            self.handle
                .send(Mail::Connect {
                    conn,
                    outbox: tx.into(),
                    close: CancellationToken::new(),
                })
                .await
        );
        let mut peer = Peer {
            conn,
            rx,
            mirror: RoomMirror::new(),
        };
        self.request(
            &mut peer,
            Request::Hello {
                version: PROTOCOL_VERSION,
            },
        )
        .await;
        peer
    }

    /// Sends a request; returns the frames up to and with its answer (an ack).
    async fn request(&self, peer: &mut Peer, request: Request) -> Vec<ServerMessage> {
        let message = peer.mirror.request(request);
        let id = message.id;
        assert!(
            self.handle
                .send(Mail::Message {
                    conn: peer.conn,
                    message,
                })
                .await
        );
        let frames = peer.until(|m| answers(m, id)).await;
        assert!(
            matches!(
                frames.last(),
                Some(
                    ServerMessage::Ack { .. } | ServerMessage::Update(Update { ack: Some(_), .. })
                )
            ),
            "{frames:?}"
        );
        frames
    }

    async fn disconnect(&self, peer: &Peer) {
        assert!(self.handle.send(Mail::Disconnect { conn: peer.conn }).await);
    }
}

impl Peer {
    /// Frames until one satisfies `want` (included), within an hour of paused time.
    async fn until(&mut self, mut want: impl FnMut(&ServerMessage) -> bool) -> Vec<ServerMessage> {
        let mut out = Vec::new();
        let read = async {
            loop {
                match self.rx.recv().await {
                    Some(Frame::Data(bytes)) => {
                        let m = receive(&mut self.mirror, &bytes);
                        let done = want(&m);
                        out.push(m);
                        if done {
                            return;
                        }
                    }
                    Some(Frame::Close { .. }) => {}
                    None => panic!("the outbox closed"),
                }
            }
        };
        tokio::time::timeout(WAIT, read)
            .await
            .expect("the awaited frame arrives");
        out
    }

    /// Frames queued now, without waiting.
    fn drain(&mut self) -> Vec<ServerMessage> {
        let mut out = Vec::new();
        while let Ok(frame) = self.rx.try_recv() {
            if let Frame::Data(bytes) = frame {
                out.push(receive(&mut self.mirror, &bytes));
            }
        }
        out
    }

    async fn until_event(&mut self, mut want: impl FnMut(&RoomEvent) -> bool) -> Update {
        let frames = self
            .until(|m| matches!(m, ServerMessage::Update(u) if u.events.iter().any(&mut want)))
            .await;
        match frames.last() {
            Some(ServerMessage::Update(u)) => u.clone(),
            _ => unreachable!(),
        }
    }
}

fn settings() -> RoomSettings {
    RoomSettings {
        reveal_pause: Duration::from_millis(500),
        bot_delay: Duration::from_millis(100),
        idle_close: Duration::from_secs(60),
        disconnect_grace: Duration::from_secs(5),
        ..RoomSettings::default()
    }
}

/// A room with the host and Bob seated and a game started.
async fn two_playing(
    rules: GameConfig,
    options: RoomOptions,
) -> (Live, Peer, Peer, Vec<ServerMessage>) {
    let mut live = Live::spawn(settings(), rules, options);
    let mut host = live.connect().await;
    live.request(
        &mut host,
        Request::Claim {
            token: HOST_TOKEN.into(),
        },
    )
    .await;
    let mut bob = live.connect().await;
    live.request(&mut bob, Request::Join { name: "Bob".into() })
        .await;
    let started = live.request(&mut host, Request::Start).await;
    (live, host, bob, started)
}

fn clock_of(update: &Update) -> TurnClock {
    update.clock.expect("a clock")
}

#[tokio::test(start_paused = true)]
async fn the_turn_timer_fires_in_the_room_task() {
    let rules = GameConfig {
        turn_time_limit_secs: Some(10),
        ..GameConfig::default()
    };
    let (live, mut host, _bob, frames) = two_playing(rules, RoomOptions::default()).await;
    let clock = updates(&frames).pop().map(|u| clock_of(&u)).unwrap();
    assert_eq!(clock.remaining_ms, 10_000);
    let start = Instant::now();
    tokio::time::sleep(Duration::from_millis(9_900)).await;
    assert!(host.drain().is_empty(), "nothing before the deadline");
    let update = host
        .until_event(|e| matches!(e, RoomEvent::AutoPlayed { .. }))
        .await;
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert!(matches!(
        update.events[0],
        RoomEvent::AutoPlayed { seat, reason: AutoPlayReason::TimeLimit, .. } if seat == clock.seat
    ));
    let next = clock_of(&update);
    assert_ne!(next.seat, clock.seat);
    assert_eq!(next.remaining_ms, 10_000);
    // And again for the other seat, 10 s later.
    let update = host
        .until_event(|e| matches!(e, RoomEvent::AutoPlayed { .. }))
        .await;
    assert_eq!(start.elapsed(), Duration::from_secs(20));
    assert!(matches!(update.events[0], RoomEvent::AutoPlayed { seat, .. } if seat == next.seat));
    drop(live);
}

#[tokio::test(start_paused = true)]
async fn the_disconnect_grace_fires_in_the_room_task() {
    let (live, host, mut bob, frames) =
        two_playing(GameConfig::default(), RoomOptions::default()).await;
    let _ = frames;
    let turn = {
        bob.drain();
        // No limit: find the turn from the table.
        let table = bob.mirror.table().cloned().unwrap();
        match table.state {
            perudo_core::TableState::Bidding(round) => round.turn,
            perudo_core::TableState::Over { .. } => unreachable!(),
        }
    };
    let (away, mut stays) = if turn.index() == 0 {
        (host, bob)
    } else {
        (bob, host)
    };
    let start = Instant::now();
    live.disconnect(&away).await;
    let update = stays
        .until_event(|e| matches!(e, RoomEvent::Disconnected { .. }))
        .await;
    assert_eq!(clock_of(&update).reason, AutoPlayReason::Away);
    let update = stays
        .until_event(|e| matches!(e, RoomEvent::AutoPlayed { .. }))
        .await;
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert!(matches!(
        update.events[0],
        RoomEvent::AutoPlayed { seat, reason: AutoPlayReason::Away, .. } if seat == turn
    ));
}

#[tokio::test(start_paused = true)]
async fn the_forfeit_timer_fires_in_the_room_task_and_the_game_ends() {
    let (live, mut host, bob, _) = two_playing(
        GameConfig::default(),
        RoomOptions {
            forfeit_after_secs: 15,
        },
    )
    .await;
    let start = Instant::now();
    live.disconnect(&bob).await;
    let update = host
        .until_event(|e| {
            matches!(e, RoomEvent::Game { event: Event::Forfeited { seat } } if seat.index() == 1)
        })
        .await;
    assert_eq!(start.elapsed(), Duration::from_secs(15));
    let results = update
        .events
        .iter()
        .find_map(|e| match e {
            RoomEvent::GameOver { results } => Some(results.clone()),
            _ => None,
        })
        .expect("two players: the forfeit ends the game");
    assert_eq!(results.winner.index(), 0);
    assert_eq!(update.clock, None);
}

#[tokio::test(start_paused = true)]
async fn an_empty_room_task_ends_after_the_idle_time_and_runs_on_close() {
    let mut live = Live::spawn(settings(), GameConfig::default(), RoomOptions::default());
    let mut host = live.connect().await;
    live.request(
        &mut host,
        Request::Claim {
            token: HOST_TOKEN.into(),
        },
    )
    .await;
    let start = Instant::now();
    live.disconnect(&host).await;
    // Sleeping lets the room take the disconnect before time moves on.
    tokio::time::sleep(Duration::from_secs(1)).await;
    tokio::time::advance(Duration::from_secs(58)).await;
    tokio::task::yield_now().await;
    assert!(!live.closed.load(Ordering::SeqCst));
    assert!(!live.handle.is_closed());
    tokio::time::timeout(WAIT, live.tracker.wait())
        .await
        .expect("the room task ends");
    assert_eq!(start.elapsed(), Duration::from_secs(60));
    assert!(live.closed.load(Ordering::SeqCst), "on_close ran");
    assert!(live.handle.is_closed());
    assert!(!live.handle.send(Mail::Close).await);
}

#[tokio::test(start_paused = true)]
async fn a_return_in_time_stops_the_timers_in_the_room_task() {
    let (mut live, mut host, bob, _) = two_playing(
        GameConfig::default(),
        RoomOptions {
            forfeit_after_secs: 15,
        },
    )
    .await;
    let token = bob.mirror.token().map(str::to_string).unwrap();
    live.disconnect(&bob).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut back = live.connect().await;
    let frames = live
        .request(
            &mut back,
            Request::Resume {
                token: Some(token),
                last_version: 0,
            },
        )
        .await;
    // Everything since version 0 is still in the history: no snapshot needed.
    assert!(
        !frames
            .iter()
            .any(|m| matches!(m, ServerMessage::Snapshot(_)))
    );
    // Bob's own view rides in the last update he missed.
    assert!(updates(&frames).last().is_some_and(|u| u.you.is_some()));
    host.until_event(|e| matches!(e, RoomEvent::Reconnected { .. }))
        .await;
    // A long wait: if the room acted for Bob, the host would hear of it.
    tokio::time::sleep(Duration::from_secs(600)).await;
    let events = room_events(&host.drain());
    assert!(
        !events.iter().any(|e| matches!(
            e,
            RoomEvent::AutoPlayed { seat, .. } | RoomEvent::Game { event: Event::Forfeited { seat } }
                if seat.index() == 1
        )),
        "{events:?}"
    );
}

/// `perudo admin close`: every connection is told why, gets close code 1001 and is ended, and
/// the room's task ends.
#[tokio::test(start_paused = true)]
async fn the_operator_closes_a_room_mid_game() {
    let (live, mut host, mut bob, _) =
        two_playing(GameConfig::default(), RoomOptions::default()).await;
    // A third socket that never said hello is closed all the same.
    let (tx, mut silent) = mpsc::channel(16);
    let silent_close = CancellationToken::new();
    assert!(
        live.handle
            .send(Mail::Connect {
                conn: 99,
                outbox: tx.into(),
                close: silent_close.clone(),
            })
            .await
    );
    assert!(live.handle.send(Mail::Close).await);
    for peer in [&mut host, &mut bob] {
        let frames = peer
            .until(|m| matches!(m, ServerMessage::Closing { .. }))
            .await;
        assert_eq!(
            frames.last(),
            Some(&ServerMessage::Closing {
                reason: CloseReason::RoomClosed
            })
        );
        assert!(
            matches!(
                peer.rx.recv().await,
                Some(Frame::Close {
                    code: close_code::GOING_AWAY,
                    reason: "room closed"
                })
            ),
            "the close frame follows the reason"
        );
    }
    let mut silent_frames = Vec::new();
    while let Some(frame) = silent.recv().await {
        silent_frames.push(frame);
    }
    assert!(
        matches!(
            silent_frames.as_slice(),
            [
                Frame::Data(_),
                Frame::Close {
                    code: close_code::GOING_AWAY,
                    ..
                }
            ]
        ),
        "{silent_frames:?}"
    );
    assert!(silent_close.is_cancelled(), "the connection is ended");
    tokio::time::timeout(WAIT, live.tracker.wait())
        .await
        .expect("the room's task ends");
    assert!(live.closed.load(Ordering::SeqCst));
    assert!(
        !live.handle.send(Mail::Close).await,
        "a closed room takes no input"
    );
}

/// `try_send` takes mail while the inbox has space, gives it back when the inbox is full
/// (untouched, to wait with `send_boxed`), does not overtake a sender already waiting for
/// space, and says when the room has closed.
#[tokio::test]
async fn mail_is_tried_then_waited_for_in_order() {
    let (tx, mut rx) = mpsc::channel(1);
    let handle = RoomHandle {
        code: RoomCode::parse("TASKRM222").unwrap(),
        tx,
    };
    assert_eq!(
        handle.try_send(Mail::Disconnect { conn: 1 }).ok(),
        Some(true)
    );
    let back = match handle.try_send(Mail::Disconnect { conn: 2 }) {
        Err(mail) => mail,
        Ok(open) => panic!("a full inbox took the mail (open: {open})"),
    };
    assert!(matches!(*back, Mail::Disconnect { conn: 2 }));
    // The mail given back waits for space; meanwhile the slot freed goes to it, not to mail
    // tried after it.
    let waiting = tokio::spawn({
        let handle = handle.clone();
        async move { handle.send_boxed(back).await }
    });
    tokio::task::yield_now().await;
    assert!(matches!(
        *rx.recv().await.unwrap(),
        Mail::Disconnect { conn: 1 }
    ));
    tokio::task::yield_now().await;
    assert!(
        handle.try_send(Mail::Disconnect { conn: 3 }).is_err(),
        "a freed slot went to the waiting mail"
    );
    assert!(waiting.await.unwrap());
    assert!(matches!(
        *rx.recv().await.unwrap(),
        Mail::Disconnect { conn: 2 }
    ));
    drop(rx);
    assert_eq!(
        handle.try_send(Mail::Disconnect { conn: 4 }).ok(),
        Some(false)
    );
    assert!(!handle.send(Mail::Disconnect { conn: 5 }).await);
}
