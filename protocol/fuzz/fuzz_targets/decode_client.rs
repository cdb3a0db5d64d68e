//! Arbitrary bytes into the client-frame decoder, the one function every socket feeds with
//! whatever a client sends. It must never panic, never recurse without bound, and whatever it
//! accepts must survive a round trip: encode it again, decode that, and get the same message
//! (so the server never acts on something it could not have been sent on purpose).
#![no_main]

use libfuzzer_sys::fuzz_target;
use perudo_protocol::{ClientMessage, DecodeError, MAX_CLIENT_FRAME};

fuzz_target!(|bytes: &[u8]| {
    match ClientMessage::decode(bytes) {
        Ok(message) => {
            let again = message.encode().expect("a decoded message encodes");
            assert!(
                again.len() <= MAX_CLIENT_FRAME,
                "re-encoded larger than the cap"
            );
            let back = ClientMessage::decode(&again).expect("a re-encoded message decodes");
            assert_eq!(back, message, "the round trip changed the message");
            // Encoding is deterministic: the canonical form is a fixed point.
            assert_eq!(back.encode().expect("encodes"), again);
        }
        Err(DecodeError::TooLarge { len, max }) => {
            assert!(len > max && bytes.len() == len && max == MAX_CLIENT_FRAME);
        }
        Err(DecodeError::Invalid(_)) => {}
    }
});
