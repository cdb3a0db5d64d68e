//! Encoding one change for every member at the cost of one: the shared bytes of an `Update`
//! are encoded once, and a member's own frame (its `you`, its request's `ack`) is those bytes
//! with the last two fields written again, not a second encoding of the whole update.
//!
//! An `Update` is a MessagePack map whose last two entries are `you` and `ack`; the shared
//! frame has both nil, so it ends with the ten bytes [`SHARED_TAIL`]. A member's frame is the
//! shared frame without them, then `you` and `ack` with their values: byte for byte what
//! `ServerMessage::Update(..).encode()` gives (the tests below check it).

use serde::Serialize;

use crate::{EncodeError, RequestId, RoomEvent, RoomVersion, ServerMessage, TurnClock, YouView};

/// How the shared frame ends: `"you": nil, "ack": nil`.
const SHARED_TAIL: [u8; 10] = [0xa3, b'y', b'o', b'u', 0xc0, 0xa3, b'a', b'c', b'k', 0xc0];

/// Room frames are small: most fit without growing the buffer.
const FRAME_CAPACITY: usize = 256;

/// The fields of `ServerMessage::Update`, borrowed: the same MessagePack as
/// `ServerMessage::Update(Update { .. })` without building (or cloning) an `Update`.
#[derive(Serialize)]
#[serde(tag = "type", rename = "Update")]
struct UpdateRef<'a> {
    version: RoomVersion,
    events: &'a [RoomEvent],
    clock: &'a Option<TurnClock>,
    you: Option<&'a YouView>,
    ack: Option<RequestId>,
}

/// Encodes any server message into a buffer sized for room frames.
pub fn encode(message: &ServerMessage) -> Result<Vec<u8>, EncodeError> {
    let mut bytes = Vec::with_capacity(FRAME_CAPACITY);
    rmp_serde::encode::write_named(&mut bytes, message)?;
    Ok(bytes)
}

/// One change, encoded once for everyone; [`SharedUpdate::personal`] makes a member's own
/// frame from it.
#[derive(Clone, Debug)]
pub struct SharedUpdate {
    /// The frame every member without a part of its own receives.
    shared: Vec<u8>,
}

impl SharedUpdate {
    pub fn new(
        version: RoomVersion,
        events: &[RoomEvent],
        clock: &Option<TurnClock>,
    ) -> Result<SharedUpdate, EncodeError> {
        let mut shared = Vec::with_capacity(FRAME_CAPACITY);
        let update = UpdateRef {
            version,
            events,
            clock,
            you: None,
            ack: None,
        };
        rmp_serde::encode::write_named(&mut shared, &update)?;
        debug_assert!(
            shared.ends_with(&SHARED_TAIL),
            "an Update ends with you and ack"
        );
        Ok(SharedUpdate { shared })
    }

    /// The frame for members without a part of their own.
    pub fn shared(&self) -> &[u8] {
        &self.shared
    }

    /// The shared frame's bytes, without a copy.
    pub fn into_shared(self) -> Vec<u8> {
        self.shared
    }

    /// The frame for a member with its own view and/or the answer to its request.
    pub fn personal(
        &self,
        you: Option<&YouView>,
        ack: Option<RequestId>,
    ) -> Result<Vec<u8>, EncodeError> {
        let head = &self.shared[..self.shared.len() - SHARED_TAIL.len()];
        let mut bytes = Vec::with_capacity(self.shared.len() + FRAME_CAPACITY / 2);
        bytes.extend_from_slice(head);
        bytes.extend_from_slice(&SHARED_TAIL[..4]);
        rmp_serde::encode::write_named(&mut bytes, &you)?;
        bytes.extend_from_slice(&SHARED_TAIL[5..9]);
        rmp_serde::encode::write_named(&mut bytes, &ack)?;
        Ok(bytes)
    }
}

/// `frame` (a member's frame of an update, shared or personal, without an answer) with the
/// answer to request `ack`: the same bytes but the last, its `ack: nil`. The member's own
/// view in it is not encoded again.
pub fn answered(frame: &[u8], ack: RequestId) -> Result<Vec<u8>, EncodeError> {
    debug_assert!(
        frame.ends_with(&SHARED_TAIL[5..]),
        "an update's frame ends with ack: nil"
    );
    let mut bytes = Vec::with_capacity(frame.len() + 4);
    bytes.extend_from_slice(&frame[..frame.len() - 1]);
    rmp_serde::encode::write_named(&mut bytes, &ack)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AutoPlayReason, Update};
    use perudo_core::{Bid, Event, Hand, LegalMoves, PlacedBid, Seat};

    fn update(you: Option<YouView>, ack: Option<RequestId>) -> Update {
        let seat = Seat::new(1).unwrap();
        Update {
            version: 4_000_000_000,
            events: vec![
                RoomEvent::Game {
                    event: Event::BidPlaced(PlacedBid {
                        seat,
                        bid: Bid::new(3, 5).unwrap(),
                    }),
                },
                RoomEvent::Disconnected { seat },
            ],
            clock: Some(TurnClock {
                seat,
                remaining_ms: 29_999,
                reason: AutoPlayReason::TimeLimit,
            }),
            you,
            ack,
        }
    }

    fn you() -> YouView {
        YouView {
            seat: Seat::new(2).unwrap(),
            hand: Hand::default(),
            legal: LegalMoves::NONE,
        }
    }

    #[test]
    fn personal_frames_are_the_whole_encoding() {
        for (you, ack) in [
            (None, None),
            (Some(you()), None),
            (None, Some(7)),
            (Some(you()), Some(u32::MAX)),
        ] {
            let whole = update(you.clone(), ack);
            let shared = SharedUpdate::new(whole.version, &whole.events, &whole.clock).unwrap();
            let expected = ServerMessage::Update(whole).encode().unwrap();
            assert_eq!(shared.personal(you.as_ref(), ack).unwrap(), expected);
            if you.is_none() && ack.is_none() {
                assert_eq!(shared.shared(), &expected[..]);
            }
            if let Some(ack) = ack {
                let unanswered = match &you {
                    Some(you) => shared.personal(Some(you), None).unwrap(),
                    None => shared.shared().to_vec(),
                };
                assert_eq!(answered(&unanswered, ack).unwrap(), expected);
            }
            assert_eq!(
                shared.into_shared(),
                ServerMessage::Update(update(None, None)).encode().unwrap()
            );
        }
    }

    #[test]
    fn shared_frame_is_the_update_without_a_part() {
        let whole = update(None, None);
        let shared = SharedUpdate::new(whole.version, &whole.events, &whole.clock).unwrap();
        let decoded = ServerMessage::decode(shared.shared()).unwrap();
        assert_eq!(decoded, ServerMessage::Update(whole));
    }

    #[test]
    fn encode_matches_to_vec_named() {
        let message = ServerMessage::Update(update(Some(you()), Some(3)));
        assert_eq!(encode(&message).unwrap(), message.encode().unwrap());
    }
}
