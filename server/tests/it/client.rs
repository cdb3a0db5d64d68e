//! A small async test client: one WebSocket to a room, requests with auto-incrementing ids,
//! every frame decoded and kept, and the room as this connection sees it: the protocol's
//! `RoomMirror`, which the client dereferences to (`client.version()`, `client.you()`, ...).
//!
//! It checks the protocol's promises as it goes, so every test that uses it checks them too:
//! every `Violation` the mirror reports fails the test (room versions in `Update`s have no
//! gaps once synced, an answer carries the version the client has seen, a seat's view is always
//! this connection's own seat, a seat only moves down and the room shows it
//! where it is), a stale update or a private view before any snapshot fails it too, and no
//! frame is larger than `MAX_SERVER_FRAME`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use perudo_protocol::client::{Applied, Ignored, RoomMirror};
pub use perudo_protocol::client::{Refusal, Role};
use perudo_protocol::perudo_core::{
    Action, Bid, Bot, BotLevel, Face, PlayerView, Quantity, Seat, TableState, TableView,
};
use perudo_protocol::{
    GameResults, MAX_SERVER_FRAME, PROTOCOL_VERSION, RejectCode, Request, RequestId, RoomEvent,
    RoomPhase, RoomVersion, ServerMessage, Update, YouView,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest a test waits for one frame before it fails.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One frame as it arrived, and what it decoded to.
#[derive(Clone, Debug)]
pub struct Received {
    pub bytes: Vec<u8>,
    pub message: ServerMessage,
    /// What the connection was when the frame arrived (before the frame itself counted).
    pub role: Role,
}

/// What `recv` got.
// Short-lived and moved once; boxing the message would only add noise to every match.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Incoming {
    Message(ServerMessage),
    /// The socket ended: the close frame's code and reason, if the server sent one.
    Closed(Option<u16>, String),
}

/// How a seated client picks its moves.
#[derive(Debug)]
pub enum Strategy {
    /// Calls dudo once a round has two bids, else makes the smallest bid on a face that
    /// rotates with the round. Quick, and legal by construction.
    Simple,
    /// Asks the engine's bot, with a view assembled from what this socket received: the
    /// server's table and private view must be consistent for its choice to be legal.
    Bot(Box<Bot>),
}

impl Strategy {
    pub fn bot(level: BotLevel, seed: u64) -> Strategy {
        Strategy::Bot(Box::new(Bot::new(level, seed)))
    }
}

#[derive(Debug)]
pub struct Client {
    pub name: String,
    ws: Ws,
    /// The room as this connection sees it, its requests and their answers.
    mirror: RoomMirror,
    /// Every frame received, in order.
    pub frames: Vec<Received>,
    /// Every room event of the updates applied, with the update's version.
    pub events: Vec<(RoomVersion, RoomEvent)>,
    /// Every game's results seen in a `GameOver` event.
    pub results: Vec<GameResults>,
    /// Set once the socket ended.
    pub closed: Option<(Option<u16>, String)>,
    sent: BTreeMap<RequestId, Request>,
    answers: BTreeMap<RequestId, u32>,
    /// Frames sent that cannot carry an id: their rejection is answered with id 0.
    raw_sent: u32,
}

impl std::ops::Deref for Client {
    type Target = RoomMirror;

    fn deref(&self) -> &RoomMirror {
        &self.mirror
    }
}

impl Client {
    pub async fn connect(addr: SocketAddr, code: &str, name: &str) -> Client {
        let url = format!("ws://{addr}/api/rooms/{code}/ws");
        let (ws, _response) =
            tokio::time::timeout(RECV_TIMEOUT, tokio_tungstenite::connect_async(url))
                .await
                .expect("the websocket handshake finishes in time")
                .expect("the websocket handshake succeeds");
        Client {
            name: name.into(),
            ws,
            mirror: RoomMirror::new(),
            frames: Vec::new(),
            events: Vec::new(),
            results: Vec::new(),
            closed: None,
            sent: BTreeMap::new(),
            answers: BTreeMap::new(),
            raw_sent: 0,
        }
    }

    /// Drops this socket without a close frame (as a lost network would) and opens a fresh
    /// one to the same room, nothing sent yet. What the client knew of the room is kept,
    /// so a `Resume` from `self.version()` continues the same checks (no gaps in versions).
    pub async fn redial(&mut self, addr: SocketAddr, code: &str) {
        let fresh = Client::connect(addr, code, &self.name).await;
        self.ws = fresh.ws;
        self.mirror.reconnected();
        self.closed = None;
    }

    /// `redial` that reports a failed handshake instead of failing the test (the server
    /// may be gone again by the time the client dials it).
    pub async fn try_redial(&mut self, addr: SocketAddr, code: &str) -> Result<(), String> {
        let url = format!("ws://{addr}/api/rooms/{code}/ws");
        let (ws, _response) =
            tokio::time::timeout(RECV_TIMEOUT, tokio_tungstenite::connect_async(url))
                .await
                .map_err(|_| "the websocket handshake timed out".to_string())?
                .map_err(|e| e.to_string())?;
        self.ws = ws;
        self.mirror.reconnected();
        self.closed = None;
        Ok(())
    }

    pub fn phase(&self) -> RoomPhase {
        self.mirror.phase().expect("a room view")
    }

    /// A second socket of the same player carries on from the room `other` has seen.
    pub fn adopt_room(&mut self, other: &Client) {
        self.mirror.adopt_room(&other.mirror);
    }

    // ---- sending ----------------------------------------------------------------------

    /// Sends a request with the next id and returns the id.
    pub async fn send(&mut self, request: Request) -> RequestId {
        let message = self.mirror.request(request.clone());
        let id = message.id;
        let bytes = message.encode().expect("client messages encode");
        self.sent.insert(id, request);
        self.send_frame(Message::Binary(bytes.into())).await;
        id
    }

    /// `send` that reports a socket that is gone instead of failing the test.
    pub async fn try_send(&mut self, request: Request) -> Result<RequestId, String> {
        let message = self.mirror.request(request.clone());
        let id = message.id;
        let bytes = message.encode().expect("client messages encode");
        self.sent.insert(id, request);
        tokio::time::timeout(RECV_TIMEOUT, self.ws.send(Message::Binary(bytes.into())))
            .await
            .map_err(|_| format!("{}: send timed out", self.name))?
            .map_err(|e| format!("{}: send failed: {e}", self.name))?;
        Ok(id)
    }

    /// Sends a frame that is not a well-formed request (its rejection carries id 0).
    pub async fn send_raw(&mut self, frame: Message) {
        self.raw_sent += 1;
        self.send_frame(frame).await;
    }

    async fn send_frame(&mut self, frame: Message) {
        tokio::time::timeout(RECV_TIMEOUT, self.ws.send(frame))
            .await
            .unwrap_or_else(|_| panic!("{}: send timed out", self.name))
            .unwrap_or_else(|e| panic!("{}: send failed: {e}", self.name));
    }

    // ---- receiving --------------------------------------------------------------------

    /// The next frame, or a failed test after `RECV_TIMEOUT`.
    pub async fn recv(&mut self) -> Incoming {
        match self.recv_within(RECV_TIMEOUT).await {
            Some(incoming) => incoming,
            None => panic!(
                "{}: nothing received within {RECV_TIMEOUT:?}; last frames: {:#?}",
                self.name,
                self.frames
                    .iter()
                    .rev()
                    .take(5)
                    .map(|f| &f.message)
                    .collect::<Vec<_>>()
            ),
        }
    }

    /// The next frame if one arrives within `wait`.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Incoming> {
        if let Some((code, reason)) = &self.closed {
            return Some(Incoming::Closed(*code, reason.clone()));
        }
        // One deadline for the whole wait: pings and pongs do not restart it.
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()?;
            let incoming = match next {
                Some(Ok(Message::Binary(bytes))) => {
                    assert!(
                        bytes.len() <= MAX_SERVER_FRAME,
                        "{}: a {} byte frame",
                        self.name,
                        bytes.len()
                    );
                    let message = ServerMessage::decode(&bytes).unwrap_or_else(|e| {
                        panic!("{}: the server sent an undecodable frame: {e}", self.name)
                    });
                    self.frames.push(Received {
                        bytes: bytes.to_vec(),
                        message: message.clone(),
                        role: self.mirror.role(),
                    });
                    self.apply(&message);
                    Incoming::Message(message)
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = match frame {
                        Some(frame) => (Some(u16::from(frame.code)), frame.reason.to_string()),
                        None => (None, String::new()),
                    };
                    self.closed = Some((code, reason.clone()));
                    // tungstenite queued the reply to the close frame; it goes out on the next
                    // write or flush, as a browser answers at once. Without it the server
                    // waits CLOSE_DRAIN (10 s) for it before the connection ends.
                    let _ = self.ws.flush().await;
                    Incoming::Closed(code, reason)
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Text(text))) => {
                    panic!("{}: the server sent a text frame: {text}", self.name)
                }
                Some(Err(error)) => {
                    self.closed = Some((None, error.to_string()));
                    Incoming::Closed(None, error.to_string())
                }
                None => {
                    self.closed = Some((None, "end of stream".into()));
                    Incoming::Closed(None, "end of stream".into())
                }
            };
            return Some(incoming);
        }
    }

    /// Keeps the client's picture of the room current, checking the protocol's promises.
    fn apply(&mut self, message: &ServerMessage) {
        let name = &self.name;
        match self.mirror.apply(message) {
            Ok(Applied::Answered(answer)) => *self.answers.entry(answer.id).or_default() += 1,
            Ok(Applied::Updated {
                version, answer, ..
            }) => {
                if let Some(answer) = answer {
                    *self.answers.entry(answer.id).or_default() += 1;
                }
                let ServerMessage::Update(update) = message else {
                    unreachable!("only an update updates")
                };
                for event in &update.events {
                    if let RoomEvent::GameOver { results } = event {
                        self.results.push(results.clone());
                    }
                    self.events.push((version, event.clone()));
                }
            }
            Ok(Applied::Ignored(Ignored::Stale { version, got })) => {
                panic!("{name}: an update out of order (a gap): {got} after {version}")
            }
            Ok(Applied::Ignored(Ignored::BeforeSnapshot)) => assert!(
                !matches!(message, ServerMessage::Update(Update { you: Some(_), .. })),
                "{name}: a private view before any snapshot"
            ),
            Ok(
                Applied::Seated { .. }
                | Applied::Moved { .. }
                | Applied::Synced { .. }
                | Applied::Closing { .. },
            ) => {}
            Err(violation) => panic!("{name}: {violation}"),
        }
    }

    /// Receives until the answer to request `id` arrives.
    pub async fn answer(&mut self, id: RequestId) -> ServerMessage {
        loop {
            match self.recv().await {
                Incoming::Message(
                    message @ (ServerMessage::Ack { id: got, .. }
                    | ServerMessage::Rejected { id: got, .. }
                    | ServerMessage::Update(Update { ack: Some(got), .. })),
                ) if got == id => return message,
                Incoming::Message(_) => {}
                Incoming::Closed(code, reason) => panic!(
                    "{}: socket closed ({code:?} {reason}) before request #{id} was answered",
                    self.name
                ),
            }
        }
    }

    /// Sends `request`, which must be carried out; returns the room version after it.
    pub async fn ack(&mut self, request: Request) -> RoomVersion {
        let id = self.send(request.clone()).await;
        match self.answer(id).await {
            ServerMessage::Ack { version, .. } | ServerMessage::Update(Update { version, .. }) => {
                version
            }
            other => panic!("{}: {request:?} was refused: {other:?}", self.name),
        }
    }

    /// Sends `request`, which must be refused, and checks that nothing about the room
    /// reached this connection before the refusal. Use it while the room is otherwise quiet
    /// and after `catch_up` to the room's latest version.
    pub async fn reject(&mut self, request: Request) -> Refusal {
        let (before, seen) = (self.frames.len(), self.version());
        let id = self.send(request.clone()).await;
        let answer = self.answer(id).await;
        self.refusal(before, seen, answer, &format!("{request:?}"))
    }

    /// Reads until this connection has seen room version `version` (call it before
    /// `reject`, so that earlier broadcasts are not taken for the refusal's).
    pub async fn catch_up(&mut self, version: RoomVersion) {
        assert!(
            self.synced(),
            "{}: catching up needs a snapshot first",
            self.name
        );
        while self.version() < version {
            if let Incoming::Closed(code, reason) = self.recv().await {
                panic!(
                    "{}: closed ({code:?} {reason}) while catching up",
                    self.name
                );
            }
        }
    }

    /// `reject`, and the code must be `code`.
    pub async fn expect_reject(&mut self, request: Request, code: RejectCode) -> Refusal {
        let refusal = self.reject(request.clone()).await;
        assert_eq!(
            refusal.code, code,
            "{}: {request:?} -> {refusal:?}",
            self.name
        );
        assert!(!refusal.message.is_empty());
        refusal
    }

    /// Sends a frame that cannot be read as a request; the refusal carries id 0.
    pub async fn reject_raw(&mut self, frame: Message) -> Refusal {
        let (before, seen) = (self.frames.len(), self.version());
        let what = format!("{frame:?}");
        self.send_raw(frame).await;
        let answer = self.answer(0).await;
        self.refusal(before, seen, answer, &what)
    }

    fn refusal(
        &self,
        before: usize,
        seen: RoomVersion,
        answer: ServerMessage,
        what: &str,
    ) -> Refusal {
        // Anything before the answer came from the request.
        let _ = seen;
        let between: Vec<&Received> = self.frames[before..self.frames.len() - 1].iter().collect();
        assert!(
            between.is_empty(),
            "{}: a refused request must change nothing, but before its answer came {:?}",
            self.name,
            between.iter().map(|f| &f.message).collect::<Vec<_>>()
        );
        match answer {
            ServerMessage::Rejected {
                code,
                message,
                detail,
                ..
            } => {
                assert_eq!(message, message.trim_end_matches('.'), "no trailing period");
                Refusal {
                    code,
                    message,
                    detail,
                }
            }
            other => panic!("{}: {what} was carried out: {other:?}", self.name),
        }
    }

    /// Receives until a message satisfies `want`, and returns it.
    pub async fn wait_for(
        &mut self,
        mut want: impl FnMut(&ServerMessage) -> bool,
    ) -> ServerMessage {
        loop {
            match self.recv().await {
                Incoming::Message(message) if want(&message) => return message,
                Incoming::Message(_) => {}
                Incoming::Closed(code, reason) => {
                    panic!(
                        "{}: socket closed ({code:?} {reason}) while waiting",
                        self.name
                    )
                }
            }
        }
    }

    /// Receives until an update carries an event satisfying `want`, and returns the event.
    pub async fn wait_event(&mut self, mut want: impl FnMut(&RoomEvent) -> bool) -> RoomEvent {
        let message = self
            .wait_for(|m| matches!(m, ServerMessage::Update(u) if u.events.iter().any(&mut want)))
            .await;
        let ServerMessage::Update(update) = message else {
            unreachable!("matched an update")
        };
        update
            .events
            .into_iter()
            .find(want)
            .expect("the update has the event")
    }

    /// Receives until the socket closes; returns the close code and reason.
    pub async fn wait_closed(&mut self) -> (Option<u16>, String) {
        loop {
            if let Incoming::Closed(code, reason) = self.recv().await {
                return (code, reason);
            }
        }
    }

    /// Fails if any frame arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(incoming) = self.recv_within(wait).await {
            panic!("{}: expected no frame, got {incoming:?}", self.name);
        }
    }

    /// Every request sent got exactly one answer, and no answer came for anything else.
    pub async fn assert_answered_once(&mut self) {
        let ids: Vec<RequestId> = self.sent.keys().copied().collect();
        for id in ids {
            while self.answers.get(&id).copied().unwrap_or(0) == 0 {
                if let Incoming::Closed(..) = self.recv().await {
                    break;
                }
            }
        }
        // Anything still in flight (a second answer would be) arrives within this wait.
        let _ = self.recv_within(Duration::from_millis(50)).await;
        for &id in self.sent.keys() {
            assert_eq!(
                self.answers.get(&id).copied().unwrap_or(0),
                1,
                "{}: request #{id} ({:?}) must get exactly one answer",
                self.name,
                self.sent[&id]
            );
        }
        for (&id, &count) in &self.answers {
            if id == 0 {
                assert_eq!(
                    count, self.raw_sent,
                    "{}: answers to unreadable frames",
                    self.name
                );
            } else {
                assert!(
                    self.sent.contains_key(&id),
                    "{}: an answer to #{id}, never sent",
                    self.name
                );
            }
        }
    }

    // ---- shorthands ---------------------------------------------------------------------

    pub async fn hello(&mut self) -> RoomVersion {
        self.ack(Request::Hello {
            version: PROTOCOL_VERSION,
        })
        .await
    }

    pub async fn join(&mut self, name: &str) -> RoomVersion {
        let version = self.ack(Request::Join { name: name.into() }).await;
        assert!(
            matches!(self.role(), Role::Seat(_)),
            "{}: seated",
            self.name
        );
        version
    }

    pub async fn claim(&mut self, token: &str) -> RoomVersion {
        let version = self
            .ack(Request::Claim {
                token: token.into(),
            })
            .await;
        assert!(
            matches!(self.role(), Role::Seat(_)),
            "{}: seated",
            self.name
        );
        version
    }

    pub async fn spectate(&mut self) -> RoomVersion {
        let version = self.ack(Request::Spectate).await;
        assert_eq!(self.role(), Role::Spectator);
        version
    }

    pub async fn act(&mut self, action: Action) -> RoomVersion {
        self.ack(Request::Act { action }).await
    }

    /// Receives until this seat has a move (the reveal pause over, its turn come).
    pub async fn wait_turn(&mut self) {
        while !self.my_turn() {
            if let Incoming::Closed(code, reason) = self.recv().await {
                panic!(
                    "{}: closed ({code:?} {reason}) while waiting for a turn",
                    self.name
                );
            }
        }
    }

    // ---- playing ------------------------------------------------------------------------

    /// Plays this seat until game `game` is over, and returns its results.
    pub async fn play_to_end(&mut self, game: u32, strategy: &mut Strategy) -> GameResults {
        loop {
            if let Some(results) = self.results.iter().find(|r| r.game == game) {
                return results.clone();
            }
            if let Some(action) = self.choose(strategy) {
                self.act(action).await;
                continue;
            }
            if let Incoming::Closed(code, reason) = self.recv().await {
                panic!(
                    "{}: closed ({code:?} {reason}) during game {game}",
                    self.name
                );
            }
        }
    }

    /// A move for this seat now, if it has one.
    pub fn choose(&self, strategy: &mut Strategy) -> Option<Action> {
        let you = self.mirror.you()?;
        if !you.legal.any() {
            return None;
        }
        let table = self.mirror.table().expect("a table while playing");
        let action = match strategy {
            Strategy::Simple => simple_move(you, table),
            Strategy::Bot(bot) => bot
                .decide(&PlayerView {
                    seat: you.seat,
                    hand: you.hand.clone(),
                    table: table.clone(),
                    legal: you.legal,
                })
                .unwrap_or_else(|| panic!("{}: the bot finds no move in {you:?}", self.name)),
        };
        assert!(
            you.legal.allows(&action),
            "{}: {action:?} is not among the legal moves the server sent: {:?} (table {table:?})",
            self.name,
            you.legal
        );
        Some(action)
    }
}

/// Dudo once two bids stand, else the smallest bid on a face that rotates with the round.
fn simple_move(you: &YouView, table: &TableView) -> Action {
    let legal = &you.legal;
    let (round, bids) = match &table.state {
        TableState::Bidding(round) => (round.round, round.bids.len()),
        TableState::Over { .. } => (0, 0),
    };
    if legal.dudo && bids >= 2 {
        return Action::Dudo;
    }
    let start = round as usize % 6;
    let bid = (0..6).map(|i| Face::ALL[(start + i) % 6]).find_map(|face| {
        legal.min_bid[face.index()]
            .filter(|&min| min <= legal.max_quantity)
            .map(|quantity| Bid { quantity, face })
    });
    match bid {
        Some(bid) => Action::Bid(bid),
        None if legal.dudo => Action::Dudo,
        None if legal.calza => Action::Calza,
        None => Action::DeclarePalifico,
    }
}

/// A bid, for scripts.
pub fn bid(quantity: u8, face: u8) -> Action {
    Action::Bid(Bid {
        quantity: Quantity::new(quantity).expect("a quantity"),
        face: Face::new(face).expect("a face"),
    })
}

pub fn seat(index: u8) -> Seat {
    Seat::new(index).expect("a seat")
}
