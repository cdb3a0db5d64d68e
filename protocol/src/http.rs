//! The JSON bodies of the HTTP API.

use perudo_core::{GameConfig, Seat};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{RoomPhase, SeatInfo};

/// `POST /api/rooms`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// The host's display name; the host takes seat 0.
    pub name: String,
    /// House rules; defaults where absent.
    #[serde(default)]
    #[ts(as = "Option<GameConfig>", optional)]
    pub rules: GameConfig,
    /// Room options; defaults where absent.
    #[serde(default)]
    #[ts(as = "Option<crate::RoomOptions>", optional)]
    pub options: crate::RoomOptions,
}

/// Answer to `POST /api/rooms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RoomCreated {
    pub code: crate::RoomCode,
    /// The link to share.
    pub url: String,
    /// The host's seat token: `Claim` it over the WebSocket. Shown once; the server keeps
    /// only its hash.
    pub token: String,
}

/// Answer to `GET /api/rooms/{code}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct RoomSummary {
    pub code: crate::RoomCode,
    pub phase: RoomPhase,
    pub seats_taken: u8,
    pub max_seats: u8,
    pub spectators: u32,
    pub rules: GameConfig,
    /// The host's seat, if the room has a host.
    pub host: Option<Seat>,
    /// Who sits at the table, in seat order: what the share link's join page shows.
    pub seats: Vec<SeatInfo>,
    /// The room's share link at the operator's public URL (`--public-url`), when one is set;
    /// absent, the web client builds the link from the page's own origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub share_url: Option<String>,
}

/// A JSON error body: a stable code and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}
