//! Room logic through the synchronous `handle_event`, without a runtime or sockets, by
//! feature. Every scenario written with `room_test!` runs twice, with the room in memory and
//! kept in a `MemoryStore`, so no scenario can skip the commit-then-send path.

use super::*;
use perudo_core::{Bid, Face, GameConfig, Quantity};
use perudo_protocol::PROTOCOL_VERSION;
use perudo_protocol::client::RoomMirror;
use std::time::Duration;

/// Defines a room scenario and runs it twice: with the room in memory (`in_memory`), and kept
/// in a `MemoryStore` so that every input goes through commit-then-send (`with_a_store`).
macro_rules! room_test {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn scenario() $body

            #[test]
            fn in_memory() {
                scenario();
            }

            #[test]
            fn with_a_store() {
                crate::room::tests::stored(scenario);
            }
        }
    };
}

mod actor;
mod clocks;
mod durability;
mod game;
mod lobby;
mod property;
mod resume;
mod transcripts;

/// Runs `scenario` with every harness it builds keeping its room in a fresh `MemoryStore`,
/// and checks that the room was stored.
fn stored(scenario: fn()) {
    let store = Arc::new(store::MemoryStore::new());
    with_store(store.clone(), scenario);
    assert!(store.commits() > 0, "the room was stored");
}

const HOST_TOKEN: &str = "host-token";

fn seat(i: u8) -> Seat {
    Seat::new(i).expect("a seat number below 10")
}

thread_local! {
    /// Set by `stored`: harnesses keep their room in a `MemoryStore`, so every input goes
    /// through commit-then-send.
    static STORED: std::cell::Cell<Option<Arc<store::MemoryStore>>> = const { std::cell::Cell::new(None) };
}

/// Keeps a new test room in the thread's store, if a test set one, and returns that store.
fn maybe_store(room: &mut Room) -> Option<Arc<dyn Store>> {
    let stored = STORED.with(|s| {
        let store = s.take();
        s.set(store.clone());
        store
    });
    let store = stored?;
    let batch = room.make_durable();
    futures_util::FutureExt::now_or_never(store::commit(&*store, batch))
        .expect("the memory store answers at once")
        .expect("the room is stored");
    Some(store)
}

struct Client {
    conn: ConnId,
    rx: mpsc::Receiver<Frame>,
    close: CancellationToken,
    /// The room as this client sees it, and its request ids.
    mirror: RoomMirror,
    /// Every frame received, with the client's state after it (for the golden transcripts).
    log: Vec<(Bytes, transcripts::State)>,
}

impl Client {
    fn frames(&mut self) -> Vec<ServerMessage> {
        let mut out = Vec::new();
        while let Ok(frame) = self.rx.try_recv() {
            if let Frame::Data(bytes) = frame {
                out.push(receive(&mut self.mirror, &bytes));
                self.log.push((bytes, transcripts::State::of(&self.mirror)));
            }
        }
        out
    }
}

/// Decodes a frame the room sent a test client and applies it to the client's mirror, so
/// every room test also checks the protocol's promises (no gaps, acks after what they
/// caused, private views of the client's own seat and version).
fn receive(mirror: &mut RoomMirror, bytes: &[u8]) -> ServerMessage {
    let message = ServerMessage::decode(bytes).expect("server frames decode");
    if let Err(violation) = mirror.apply(&message) {
        panic!("the room broke the protocol: {violation}: {message:?}");
    }
    message
}

struct Harness {
    room: Room,
    /// Where a durable test room is kept (`room_test!`'s `with_a_store` variant).
    store: Option<Arc<dyn Store>>,
    /// The test clients' outboxes, as the room's task keeps its connections'.
    links: crate::room::actor::Links,
    now: Instant,
    /// The harness's wall clock: `WALL_START` at the monotonic `start`, advancing with it.
    start: Instant,
    next_conn: ConnId,
}

/// The wall clock (Unix ms) when a test room is created: 2026-01-01.
const WALL_START: i64 = 1_767_225_600_000;

/// The key of every test room's generator: rooms in tests are deterministic end to end.
const TEST_KEY: [u8; 32] = [42; 32];

impl Harness {
    /// The time `at` on both of the harness's clocks.
    fn clock_at(&self, at: Instant) -> Now {
        Now {
            at,
            unix_ms: WALL_START + at.duration_since(self.start).as_millis() as i64,
        }
    }

    fn clock(&self) -> Now {
        self.clock_at(self.now)
    }

    fn new(settings: RoomSettings) -> Harness {
        Harness::build(settings, GameConfig::default(), RoomOptions::default())
    }

    /// Hands an input to the room, then commits it (with a store) and sends what it caused,
    /// through the room task's own delivery path.
    fn step(&mut self, input: Input) {
        self.room.handle_event(input, self.clock());
        self.settle();
    }

    /// Commits and delivers what the inputs handled so far caused.
    fn settle(&mut self) {
        futures_util::FutureExt::now_or_never(crate::room::actor::settle(
            &mut self.room,
            self.store.as_deref(),
            &mut self.links,
        ))
        .expect("the memory store answers at once");
    }

    fn quick() -> Harness {
        Harness::new(RoomSettings {
            reveal_pause: Duration::from_millis(500),
            bot_delay: Duration::from_millis(10),
            ..RoomSettings::default()
        })
    }

    fn connect_with_capacity(&mut self, capacity: usize) -> Client {
        let (tx, rx) = mpsc::channel(capacity);
        let close = CancellationToken::new();
        let conn = self.next_conn;
        self.next_conn += 1;
        self.links.insert(conn, tx.into(), close.clone());
        self.step(Input::Connect { conn });
        Client {
            conn,
            rx,
            close,
            mirror: RoomMirror::new(),
            log: Vec::new(),
        }
    }

    fn connect(&mut self) -> Client {
        self.connect_with_capacity(1024)
    }

    /// Sends a request and returns every frame it produced; the last must be its answer.
    fn request(&mut self, client: &mut Client, request: Request) -> Vec<ServerMessage> {
        let message = client.mirror.request(request);
        let id = message.id;
        self.step(Input::Message {
            conn: client.conn,
            message,
        });
        let frames = client.frames();
        let answers: Vec<_> = frames.iter().filter(|m| answers(m, id)).collect();
        assert_eq!(
            answers.len(),
            1,
            "exactly one answer to request {id}: {frames:?}"
        );
        self.check_mirror(client);
        frames
    }

    /// The room as `client` keeps it from its frames is the room a snapshot shows now.
    #[track_caller]
    fn check_mirror(&self, client: &Client) {
        let Some(snapshot) = self.room.snapshot_of(client.conn) else {
            return;
        };
        let mirror = &client.mirror;
        if !mirror.synced() || mirror.role() == perudo_protocol::client::Role::Outsider {
            return;
        }
        assert_eq!(mirror.version(), snapshot.version, "the client's version");
        assert_eq!(mirror.room(), Some(&snapshot.room), "the client's room");
        assert_eq!(
            mirror.table(),
            snapshot.table.as_ref(),
            "the client's table"
        );
        assert_eq!(mirror.you(), snapshot.you.as_ref(), "the client's own view");
        assert_eq!(
            mirror.clock().map(|c| (c.seat, c.reason)),
            snapshot.clock.map(|c| (c.seat, c.reason)),
            "the client's clock"
        );
    }

    #[track_caller]
    fn ok(&mut self, client: &mut Client, request: Request) -> Vec<ServerMessage> {
        let frames = self.request(client, request);
        assert!(
            matches!(
                frames.last(),
                Some(
                    ServerMessage::Ack { .. } | ServerMessage::Update(Update { ack: Some(_), .. })
                )
            ),
            "expected an ack: {frames:?}"
        );
        frames
    }

    #[track_caller]
    fn rejected(&mut self, client: &mut Client, request: Request) -> RejectCode {
        let before = self.room.version();
        let frames = self.request(client, request);
        assert_eq!(self.room.version(), before, "a rejection changes nothing");
        match frames.last() {
            Some(ServerMessage::Rejected { code, .. }) => *code,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    fn hello(&mut self, client: &mut Client) {
        self.ok(
            client,
            Request::Hello {
                version: PROTOCOL_VERSION,
            },
        );
    }

    /// Advances the clock to the room's next deadline and fires it.
    fn fire_timer(&mut self) -> bool {
        let Some(at) = self.room.next_deadline() else {
            return false;
        };
        self.now = self.now.max(at);
        self.step(Input::Tick);
        true
    }

    fn host(&mut self) -> Client {
        let mut host = self.connect();
        self.hello(&mut host);
        self.ok(
            &mut host,
            Request::Claim {
                token: HOST_TOKEN.into(),
            },
        );
        host
    }

    fn player(&mut self, name: &str) -> Client {
        let mut client = self.connect();
        self.hello(&mut client);
        self.ok(&mut client, Request::Join { name: name.into() });
        client
    }
}

/// Whether `message` is the answer to request `id`: a standalone one, or an update's `ack`.
fn answers(message: &ServerMessage, id: u32) -> bool {
    match message {
        ServerMessage::Ack { id: i, .. } | ServerMessage::Rejected { id: i, .. } => *i == id,
        ServerMessage::Update(update) => update.ack == Some(id),
        _ => false,
    }
}

fn latest_you(frames: &[ServerMessage]) -> Option<YouView> {
    frames.iter().rev().find_map(|m| match m {
        ServerMessage::Update(u) => u.you.clone(),
        ServerMessage::Snapshot(s) => s.you.clone(),
        _ => None,
    })
}

fn game_events(frames: &[ServerMessage]) -> Vec<Event> {
    frames
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Update(u) => Some(u.events.clone()),
            _ => None,
        })
        .flatten()
        .filter_map(|e| match e {
            RoomEvent::Game { event } => Some(event),
            _ => None,
        })
        .collect()
}

/// The simplest legal move: dudo if possible, else the smallest bid on the highest face.
fn simple_move(legal: &LegalMoves) -> Option<Action> {
    if legal.dudo {
        return Some(Action::Dudo);
    }
    Face::ALL.into_iter().rev().find_map(|face| {
        legal.min_bid[face.index()].map(|quantity| Action::Bid(Bid { quantity, face }))
    })
}

impl Harness {
    fn build(settings: RoomSettings, rules: GameConfig, options: RoomOptions) -> Harness {
        let now = Instant::now();
        let room = Room::new(
            RoomCode::parse("TESTRM222").unwrap(),
            settings,
            Rules::new(rules).expect("valid test rules"),
            options,
            Host {
                name: PlayerName::new("Host").unwrap(),
                token_hash: ids::hash_token(HOST_TOKEN),
            },
            Now {
                at: now,
                unix_ms: WALL_START,
            },
            RoomRng::from_key(TEST_KEY),
        );
        let mut room = room;
        let store = maybe_store(&mut room);
        Harness {
            room,
            store,
            links: crate::room::actor::Links::default(),
            now,
            start: now,
            next_conn: 1,
        }
    }

    /// No reveal pause and no bot delay, a 5 s grace; turn limit and forfeit time as given.
    fn timed(turn_limit: Option<u16>, forfeit_after_secs: u16) -> Harness {
        Harness::build(
            RoomSettings {
                reveal_pause: Duration::ZERO,
                bot_delay: Duration::ZERO,
                disconnect_grace: Duration::from_secs(5),
                ..RoomSettings::default()
            },
            GameConfig {
                turn_time_limit_secs: turn_limit,
                ..GameConfig::default()
            },
            RoomOptions { forfeit_after_secs },
        )
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn tick(&mut self) {
        self.step(Input::Tick);
    }

    fn disconnect(&mut self, client: &Client) {
        self.step(Input::Disconnect { conn: client.conn });
        self.links.remove(client.conn);
    }

    fn turn(&self) -> Option<Seat> {
        match &self.room.phase {
            Phase::Playing(play) => play.game.turn(),
            Phase::Lobby | Phase::Finished(_) => None,
        }
    }

    /// The seat's view must offer a move; plays the simplest one.
    fn play_simple(&mut self, client: &mut Client) -> Vec<ServerMessage> {
        let Role::Seat(seat) = self.room.role(client.conn) else {
            panic!("not seated");
        };
        let you = self.room.you_view(seat).expect("a view");
        let action = simple_move(&you.legal).expect("a move");
        self.ok(client, Request::Act { action })
    }
}

fn updates(frames: &[ServerMessage]) -> Vec<Update> {
    frames
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Update(u) => Some(u.clone()),
            _ => None,
        })
        .collect()
}

fn room_events(frames: &[ServerMessage]) -> Vec<RoomEvent> {
    updates(frames).into_iter().flat_map(|u| u.events).collect()
}

/// The events that follow each `AutoPlayed`, which must be the move's own events.
fn auto_played(frames: &[ServerMessage]) -> Vec<(Seat, Action, AutoPlayReason)> {
    let mut out = Vec::new();
    for update in updates(frames) {
        for (i, event) in update.events.iter().enumerate() {
            if let RoomEvent::AutoPlayed {
                seat,
                action,
                reason,
            } = event
            {
                match update.events.get(i + 1) {
                    Some(RoomEvent::Game {
                        event: Event::BidPlaced(placed),
                    }) => {
                        assert_eq!(placed.seat, *seat);
                        assert_eq!(Action::Bid(placed.bid), *action);
                    }
                    Some(RoomEvent::Game {
                        event: Event::RoundResolved(_),
                    }) => assert!(matches!(action, Action::Dudo | Action::Calza)),
                    other => panic!("after AutoPlayed came {other:?}"),
                }
                out.push((*seat, *action, *reason));
            }
        }
    }
    out
}

fn seat_of(h: &Harness, client: &Client) -> usize {
    match h.room.role(client.conn) {
        Role::Seat(seat) => seat.index(),
        other => panic!("not seated: {other:?}"),
    }
}

/// Joins Bob and returns his client and token.
fn join_with_token(h: &mut Harness, name: &str) -> (Client, String) {
    let mut client = h.connect();
    h.hello(&mut client);
    let frames = h.ok(&mut client, Request::Join { name: name.into() });
    let token = frames
        .iter()
        .find_map(|m| match m {
            ServerMessage::Seated { token, .. } => Some(token.clone()),
            _ => None,
        })
        .unwrap();
    (client, token)
}

/// Sends `n` emotes, from the host, advancing past the rate limit as needed.
fn emotes(h: &mut Harness, host: &mut Client, n: usize) {
    for i in 0..n {
        if i % EMOTE_BURST == 0 {
            h.advance(EMOTE_WINDOW);
        }
        h.ok(host, Request::Emote { emote: Emote::Wow });
    }
}

/// Runs `f` with every harness it builds keeping its room in `store`.
fn with_store<T>(store: Arc<store::MemoryStore>, f: impl FnOnce() -> T) -> T {
    STORED.with(|s| s.set(Some(store)));
    let out = f();
    STORED.with(|s| s.set(None));
    out
}

/// The player on turn among `clients`.
fn on_turn<'a>(h: &Harness, clients: &'a mut [Client]) -> &'a mut Client {
    let turn = h.turn().expect("a turn").index();
    clients
        .iter_mut()
        .find(|c| seat_of(h, c) == turn)
        .expect("a client on turn")
}
