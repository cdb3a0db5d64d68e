// What one move costs the web client: decoding its frame(s) and applying them to the client
// state, protocol version 2 against version 1. `npm run bench` (vitest bench);
// the numbers are in docs/BENCHMARKS.md, "Web client: decoding and applying one move".
//
// The move: Bruno bids 3 × threes in the golden scripted game (three seats, mid-round, two
// bids on the table). Version 2 sends every member one Update with the BidPlaced event; the
// mover's own frame also carries its new view and the answer to its request. Version 1 sent
// every member an Update with the whole table (the golden bytes Rust wrote, kept in
// tests/fixtures/v1/), and each seat whose view changed a Private frame of its own; the old
// client (bench/v1-state.ts, main's state.ts before version 2) decoded both and swapped the
// table in.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Encoder } from "@msgpack/msgpack";
import { bench, describe } from "vitest";
import { decodeServer } from "../src/codec";
import { initialState, reduce } from "../src/state";
import type { Snapshot } from "../src/protocol/generated";
import * as v1 from "./bench/v1-state";
import type { ServerMessage as V1ServerMessage } from "./bench/v1-protocol";
import { golden, scripted, v1Bytes, v1Private, v1Update } from "./fixtures";

// Keys in insertion order, as rmp_serde writes them (the type tag, then declaration order).
const encoder = new Encoder({ ignoreUndefined: false, forceIntegerToFloat: false });
const frame = (msg: unknown): Uint8Array => encoder.encode(msg);

// The room as everyone saw it just before the bid: version 11, Ana's bid on the table.
const playing = golden("server_snapshot_playing", "Snapshot");
const before: Snapshot = { ...playing, version: 11, table: scripted.table("server_update_auto_played") };
const snapshot = { type: "Snapshot" as const, ...before };
const v2Before = reduce(initialState, snapshot, 0);
const v1Before = v1.reduce(v1.initialState, snapshot as V1ServerMessage, 0);

// Version 2: the mover's frame as Rust writes it (the golden vector: the event, the mover's
// view, the answer), and another member's (the same without them; re-encoded here, which gives
// rmp_serde's bytes exactly: the golden vector re-encodes byte for byte).
const v2Mover = readFileSync(join(__dirname, "..", "..", "protocol", "tests", "golden", "server_update_bid_placed.msgpack"));
const bid = golden("server_update_bid_placed", "Update");
if (JSON.stringify(bid.events) !== JSON.stringify(scripted.bid().events)) throw new Error("not the scripted bid");
if (Buffer.compare(Buffer.from(frame(bid)), v2Mover) !== 0) throw new Error("the re-encoding differs from Rust's bytes");
const you = bid.you!;
const v2Other = frame({ ...bid, you: null, ack: null });

// Version 1: the Update with the whole table (Rust's bytes), the Private frame for the same
// version, and for comparison an Update that carried the room too.
const v1Table = v1Bytes("server_update_bid_placed");
const v1PrivateFrame = frame({ ...v1Private(), version: 12, you });
const v1Both = frame({ ...v1Update("server_update_bid_placed"), room: playing.room });

function v2Apply(bytes: Uint8Array) {
  const s = reduce(v2Before, decodeServer(bytes), 1);
  if (s.version !== 12) throw new Error("not applied");
  return s;
}

function v1Apply(update: Uint8Array, priv: Uint8Array | null) {
  let s = v1.reduce(v1Before, decodeServer(update) as unknown as V1ServerMessage, 1);
  if (priv) s = v1.reduce(s, decodeServer(priv) as unknown as V1ServerMessage, 1);
  if (s.version !== 12) throw new Error("not applied");
  return s;
}

// The two clients reach the same table and view (checked once, before measuring).
const a = v2Apply(v2Mover);
const b = v1Apply(v1Table, v1PrivateFrame);
if (JSON.stringify([a.table, a.you, a.room]) !== JSON.stringify([b.table, b.you, b.room])) {
  throw new Error("version 1 and version 2 disagree on the state after the bid");
}

// Long runs: the machine is shared, a short one is noisy.
const opts = { time: 3000, warmupTime: 500 };
const sizes = (...frames: Uint8Array[]) => frames.map((f) => f.byteLength).join(" + ");
describe("one bid: decode and apply", () => {
  bench(`v2 Update, another member's frame (${sizes(v2Other)} B)`, () => { v2Apply(v2Other); }, opts);
  bench(`v2 Update, the mover's frame with its view and ack (${sizes(v2Mover)} B)`, () => { v2Apply(v2Mover); }, opts);
  bench(`v1 Update with the table (${sizes(v1Table)} B), no Private`, () => { v1Apply(v1Table, null); }, opts);
  bench(`v1 Update with the table + Private (${sizes(v1Table, v1PrivateFrame)} B)`, () => { v1Apply(v1Table, v1PrivateFrame); }, opts);
  bench(`v1 Update with room and table + Private (${sizes(v1Both, v1PrivateFrame)} B)`, () => { v1Apply(v1Both, v1PrivateFrame); }, opts);
});

