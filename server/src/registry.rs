//! The room registry: `AppState`, shared by every request handler. It creates rooms (a
//! place under `max_rooms`, a fresh code, stored before anyone hears of it), finds them by
//! code, restores them after a restart, and says whether the server is ready for players.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::room::{Room, RoomHandle};
use crate::store::StorageError;
use crate::{ServerConfig, admin, blocklist, ids, limits, metrics, room, store};
use perudo_protocol::RoomCode;

use crate::routes::ApiFailure;

/// Shared by every request handler.
#[derive(Clone, Debug)]
pub struct AppState {
    pub(crate) inner: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    /// Room code -> handle. A std mutex: it is never held across an await.
    pub(crate) rooms: Mutex<HashMap<RoomCode, RoomHandle>>,
    /// Rooms being created (stored, not yet in `rooms`): they count against `max_rooms`.
    /// Changed only while `rooms` is locked, so the cap is checked and taken at once.
    pub(crate) reserved_rooms: AtomicUsize,
    pub(crate) next_conn: AtomicU64,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tracker: TaskTracker,
    /// The per-IP rate limiters and the open-connection counts.
    pub(crate) guards: Arc<limits::Guards>,
    /// Addresses the operator blocked (`perudo admin block`).
    pub(crate) blocklist: blocklist::Blocklist,
    /// Open WebSocket sessions and rooms' ages, for `perudo admin`.
    pub(crate) sessions: Arc<admin::Sessions>,
}

impl AppState {
    pub fn new(
        mut config: ServerConfig,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> AppState {
        config.rooms.max_spectators = config.limits.max_spectators;
        AppState {
            inner: Arc::new(Shared {
                guards: limits::Guards::new(config.limits.clone()),
                config,
                rooms: Mutex::new(HashMap::new()),
                reserved_rooms: AtomicUsize::new(0),
                next_conn: AtomicU64::new(1),
                shutdown,
                tracker,
                blocklist: blocklist::Blocklist::new(),
                sessions: Arc::default(),
            }),
        }
    }

    /// The client's IP for a request from `peer` (through the trusted proxies).
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> std::net::IpAddr {
        self.inner.guards.client_ip(peer, headers)
    }

    pub fn blocklist(&self) -> &blocklist::Blocklist {
        &self.inner.blocklist
    }

    pub fn sessions(&self) -> &admin::Sessions {
        &self.inner.sessions
    }

    /// Every open room's handle, in no particular order.
    pub fn room_handles(&self) -> Vec<RoomHandle> {
        let rooms = self.inner.rooms.lock().expect("room registry lock");
        rooms.values().cloned().collect()
    }

    /// The handle of the room with this code, if it is open.
    pub fn room_handle(&self, code: &str) -> Option<RoomHandle> {
        self.room(code)
    }

    pub(crate) fn room(&self, code: &str) -> Option<RoomHandle> {
        let code = RoomCode::parse(code).ok()?;
        self.inner
            .rooms
            .lock()
            .expect("room registry lock")
            .get(&code)
            .cloned()
    }

    pub fn room_count(&self) -> usize {
        self.inner.rooms.lock().expect("room registry lock").len()
    }

    /// WebSocket connections open now.
    pub fn connection_count(&self) -> usize {
        self.inner.guards.open_connections()
    }

    /// Opens a room with `host_name` in seat 0 and returns its code and the host's token.
    /// With a store, the room is stored before anyone hears of it.
    pub(crate) async fn create_room(
        &self,
        host_name: perudo_protocol::PlayerName,
        rules: perudo_core::Rules,
        options: perudo_protocol::RoomOptions,
    ) -> Result<(RoomCode, String), ApiFailure> {
        let token = ids::new_token();
        // A place under `max_rooms` is taken before the room is stored and given back if it
        // never opens: checking the count and adding the room only after the commit let
        // concurrent creations overshoot the cap.
        let reservation = self.reserve_room()?;
        let mut attempts = 0;
        let (code, room) = loop {
            let code = self.free_code();
            let mut room = Room::new(
                code.clone(),
                self.inner.config.rooms.clone(),
                rules.clone(),
                options,
                room::Host {
                    name: host_name.clone(),
                    token_hash: ids::hash_token(&token),
                },
                room::Now::system(),
                ids::RoomRng::from_os(),
            );
            let Some(store) = &self.inner.config.store else {
                break (code, room);
            };
            let batch = room.make_durable();
            match store::commit(&**store, batch).await {
                Ok(()) => break (code, room),
                // The code was used by a room that has closed since: draw another.
                Err(StorageError::Conflict) if attempts < 3 => attempts += 1,
                Err(error) => {
                    tracing::warn!(%error, "cannot store a new room");
                    return Err(ApiFailure::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "storage",
                        format!(
                            "the server cannot save rooms right now ({error}); try again later"
                        ),
                    ));
                }
            }
        };
        let mut rooms = self.inner.rooms.lock().expect("room registry lock");
        // The reservation becomes the room (or is given back) under this lock.
        drop(reservation);
        if rooms.contains_key(&code) {
            // Drawn twice at once, against odds of 2^-43: the caller may simply try again.
            return Err(ApiFailure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "try again",
            ));
        }
        let handle = self.spawn_room(room);
        rooms.insert(code.clone(), handle);
        Ok((code, token))
    }

    /// Takes one of the `max_rooms` places for a room about to be created.
    fn reserve_room(&self) -> Result<RoomReservation<'_>, ApiFailure> {
        let rooms = self.inner.rooms.lock().expect("room registry lock");
        let reserved = &self.inner.reserved_rooms;
        if rooms.len() + reserved.load(Ordering::Relaxed) >= self.inner.config.max_rooms {
            return Err(ApiFailure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_rooms",
                "the server holds as many rooms as it may; try again later",
            ));
        }
        reserved.fetch_add(1, Ordering::Relaxed);
        Ok(RoomReservation { state: self })
    }

    /// A code no open room has.
    fn free_code(&self) -> RoomCode {
        let rooms = self.inner.rooms.lock().expect("room registry lock");
        loop {
            let code = ids::new_room_code();
            if !rooms.contains_key(&code) {
                return code;
            }
        }
    }

    fn spawn_room(&self, room: Room) -> RoomHandle {
        let state = self.clone();
        let closed_code = room.code().to_string();
        self.inner.sessions.room_opened(&closed_code);
        room.spawn(
            self.inner.config.store.clone(),
            &self.inner.tracker,
            self.inner.shutdown.clone(),
            move || {
                let mut rooms = state.inner.rooms.lock().expect("room registry lock");
                // Only this room's own handle: the room may have been claimed again (another
                // node lost it back to this one) and restored under the same code meanwhile.
                if rooms
                    .get(closed_code.as_str())
                    .is_some_and(RoomHandle::is_closed)
                {
                    rooms.remove(closed_code.as_str());
                }
                drop(rooms);
                state.inner.sessions.room_closed(&closed_code);
            },
        )
    }

    /// Reopens every room the store holds that had not closed. Returns how many.
    pub fn restore_rooms(&self) -> Result<usize, StorageError> {
        let Some(store) = self.inner.config.store.clone() else {
            return Ok(0);
        };
        let images = store.load_rooms()?;
        let restored = images
            .into_iter()
            .filter_map(|image| self.reopen(image))
            .count();
        metrics::rooms_restored(restored);
        Ok(restored)
    }

    /// Restores a room this node has just taken the lease of and opens it here. `None` if the
    /// stored room does not restore (logged).
    pub(crate) fn reopen(&self, image: store::RoomImage) -> Option<RoomHandle> {
        let now = room::Now::system();
        let grace_until = now.at + self.inner.config.rooms.restore_grace;
        let code = image.code.clone();
        match Room::restore(
            image,
            self.inner.config.rooms.clone(),
            true,
            now,
            Some(grace_until),
            ids::RoomRng::from_os(),
        ) {
            Ok(room) => {
                let handle = self.spawn_room(room);
                let replaced = self
                    .inner
                    .rooms
                    .lock()
                    .expect("room registry lock")
                    .insert(handle.code.clone(), handle.clone());
                if let Some(old) = replaced
                    && !old.is_closed()
                {
                    // Its lease was lost and is this node's again: the old task was told and
                    // writes nothing more (its epoch is not the one the store holds now).
                    tracing::warn!(room = %code, "a room taken back replaced its stopping task");
                }
                Some(handle)
            }
            Err(error) => {
                tracing::error!(room = %code, %error, "cannot restore room");
                None
            }
        }
    }

    /// The room with this code: open on this node, or taken over by it now when no live node
    /// holds it (its node died or drained), or the node that runs it. Without a shared store
    /// only this node's rooms exist.
    pub(crate) async fn find_room(&self, code: &str) -> Result<Found, ApiFailure> {
        let missing = || {
            ApiFailure::new(
                StatusCode::NOT_FOUND,
                "no_such_room",
                "no room has that code",
            )
        };
        let code = RoomCode::parse(code).map_err(|_| missing())?;
        if let Some(handle) = self.room(code.as_str())
            && !handle.is_closed()
        {
            return Ok(Found::Here(handle));
        }
        let Some(store) = self.inner.config.store.clone() else {
            return Err(missing());
        };
        if store.cluster().is_none() {
            return Err(missing());
        }
        if self.inner.shutdown.is_cancelled() {
            // Draining: its rooms are about to be released to the other nodes.
            return Err(ApiFailure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "room_moving",
                "this server is shutting down and its rooms are moving; try again in a moment",
            ));
        }
        // Taken and opened in a task of its own: a request dropped half-way (its client gave
        // up, or a hop that was waiting for it won) must not leave this node holding the
        // room's lease with no room running, which would answer "moving" for good.
        let state = self.clone();
        let wanted = code.to_string();
        let taken = tokio::spawn(async move {
            let asked = wanted.clone();
            let placement = tokio::task::spawn_blocking(move || store.take_room(&asked))
                .await
                .map_err(|e| {
                    ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
                })?
                .map_err(|e| {
                    ApiFailure::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "storage",
                        format!("the server cannot reach its database ({e}); try again shortly"),
                    )
                })?;
            Ok(match placement {
                store::Placement::Here(image) => {
                    tracing::info!(room = %wanted, "room taken over on demand");
                    Taken::Opened(state.reopen(*image))
                }
                store::Placement::Mine => Taken::Mine,
                store::Placement::Elsewhere { node, url } => Taken::Elsewhere { node, url },
                store::Placement::Missing => Taken::Missing,
            })
        })
        .await
        .map_err(|e| {
            ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?;
        match taken? {
            Taken::Opened(handle) => handle.map(Found::Here).ok_or_else(missing),
            Taken::Elsewhere { node, url } => Ok(Found::Elsewhere { node, url }),
            Taken::Missing => Err(missing()),
            // Being opened here by another request this moment (or stopping): wait for it.
            Taken::Mine => {
                for _ in 0..MINE_POLLS {
                    if let Some(handle) = self.room(code.as_str())
                        && !handle.is_closed()
                    {
                        return Ok(Found::Here(handle));
                    }
                    tokio::time::sleep(MINE_POLL_EVERY).await;
                }
                Err(ApiFailure::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "room_moving",
                    "the room is moving between servers; try again in a moment",
                ))
            }
        }
    }

    /// Why the server should not get new players now, if it should not.
    pub fn readiness(&self) -> Result<(), NotReady> {
        if self.inner.shutdown.is_cancelled() {
            return Err(NotReady::ShuttingDown);
        }
        match &self.inner.config.store {
            Some(store) => store.health().map_err(NotReady::Storage),
            None => Ok(()),
        }
    }
}

/// Where a room runs, for a request that needs it.
#[derive(Debug)]
pub(crate) enum Found {
    Here(RoomHandle),
    /// Another live node runs it; `url` is where the nodes reach it (`--node-url`).
    Elsewhere {
        node: String,
        url: Option<String>,
    },
}

/// What taking a room on demand came to: [`store::Placement`] with the room opened here
/// (`None`: it did not restore).
enum Taken {
    Opened(Option<RoomHandle>),
    Mine,
    Elsewhere { node: String, url: Option<String> },
    Missing,
}

/// How long a request waits for a room this node is opening at the same moment.
const MINE_POLLS: u32 = 20;
const MINE_POLL_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Why the server is not ready for new players (`/readyz`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum NotReady {
    #[error("shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Storage(StorageError),
}

/// A place under `max_rooms` held while a room is created.
struct RoomReservation<'a> {
    state: &'a AppState,
}

impl Drop for RoomReservation<'_> {
    fn drop(&mut self) {
        // Taken under the registry lock; given back either under it, in the same critical
        // section that adds the room (so a check never sees the room missing from both), or
        // after a failed creation, when counting one too many for a moment only refuses a
        // creation that could have been let in.
        self.state
            .inner
            .reserved_rooms
            .fetch_sub(1, Ordering::Relaxed);
    }
}
