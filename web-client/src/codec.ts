// MessagePack framing of the perudo protocol (docs/PROTOCOL.md, "Encoding").
import { Decoder, Encoder } from "@msgpack/msgpack";
import { MAX_SERVER_FRAME } from "./protocol/generated";
import type { ClientMessage, Request, ServerMessage } from "./protocol/generated";

const encoder = new Encoder({ ignoreUndefined: false, forceIntegerToFloat: false });
// Size is capped before decoding (MAX_SERVER_FRAME); strings and arrays can't exceed it either.
const decoder = new Decoder({
  maxStrLength: MAX_SERVER_FRAME,
  maxBinLength: MAX_SERVER_FRAME,
  maxArrayLength: MAX_SERVER_FRAME,
  maxMapLength: MAX_SERVER_FRAME,
});

export class FrameError extends Error {}

/** Encode a request as one binary frame. Keys keep the insertion order of the object. */
export function encodeClient(msg: ClientMessage): Uint8Array {
  return encoder.encode(msg);
}

/** Build a ClientMessage with keys in the Rust declaration order (id, then request). */
export function clientMessage(id: number, request: Request): ClientMessage {
  return { id, request };
}

/** Decode one server frame; refuses frames over MAX_SERVER_FRAME and non-objects. */
export function decodeServer(frame: ArrayBuffer | Uint8Array): ServerMessage {
  const bytes = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  if (bytes.byteLength > MAX_SERVER_FRAME) {
    throw new FrameError(`frame of ${bytes.byteLength} bytes is over ${MAX_SERVER_FRAME}`);
  }
  const value = decoder.decode(bytes);
  if (typeof value !== "object" || value === null || typeof (value as { type?: unknown }).type !== "string") {
    throw new FrameError("frame is not a server message");
  }
  return value as ServerMessage;
}

/** Decode a client frame (used by tests to check the encoder against golden vectors). */
export function decodeClient(frame: Uint8Array): ClientMessage {
  return decoder.decode(frame) as ClientMessage;
}
