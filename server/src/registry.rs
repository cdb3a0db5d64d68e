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
    pub(crate) rooms: Mutex<HashMap<String, RoomHandle>>,
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
        let code = ids::normalize_code(code)?;
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
        host_name: String,
        rules: perudo_core::Rules,
        options: perudo_protocol::RoomOptions,
    ) -> Result<(String, String), ApiFailure> {
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
    fn free_code(&self) -> String {
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
                state
                    .inner
                    .rooms
                    .lock()
                    .expect("room registry lock")
                    .remove(&closed_code);
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
        let now = room::Now::system();
        let grace_until = now.at + self.inner.config.rooms.restore_grace;
        let mut restored = 0;
        for image in images {
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
                    self.inner
                        .rooms
                        .lock()
                        .expect("room registry lock")
                        .insert(code, handle);
                    restored += 1;
                }
                Err(error) => tracing::error!(room = %code, %error, "cannot restore room"),
            }
        }
        metrics::rooms_restored(restored);
        Ok(restored)
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
