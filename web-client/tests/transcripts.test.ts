// The golden transcripts (protocol/tests/golden/transcripts/*.json, written by the Rust side):
// recorded games as the frames one connection received, each with the state expected after
// it. Rust's RoomMirror replays them in its tests; here every frame goes through the web
// client's own decoder and reducer, and after each one the client's version, room, table and
// seat view must be exactly the expected ones.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeServer } from "../src/codec";
import { PROTOCOL_VERSION } from "../src/protocol/generated";
import type { RoomView, TableView, YouView } from "../src/protocol/generated";
import { initialState, reduce } from "../src/state";
import type { RoomState } from "../src/state";
import { Encoder } from "@msgpack/msgpack";
import { golden, scripted } from "./fixtures";

const dir = join(__dirname, "..", "..", "protocol", "tests", "golden", "transcripts");

/** What a transcript says the state is after a frame. */
interface Expected { version: number; room: RoomView | null; table: TableView | null; you: YouView | null }
interface Step { frame: Uint8Array; expected: Expected }

/** A frame's bytes as the transcript writes them: hex or base64. */
function bytesOf(text: string): Uint8Array {
  if (/^([0-9a-f]{2})*$/i.test(text)) return new Uint8Array(Buffer.from(text, "hex"));
  return new Uint8Array(Buffer.from(text, "base64"));
}

/** A transcript file: `frames`, each a frame's MessagePack bytes in hex and the `state`
 * after it (written by server/src/room/tests/transcripts.rs). */
interface Transcript { about: string; protocol_version: number; connection: string; frames: Array<{ frame: string; state: Expected }> }

function readTranscript(file: string): Step[] {
  const json = JSON.parse(readFileSync(join(dir, file), "utf8")) as Transcript;
  expect(json.protocol_version).toBe(PROTOCOL_VERSION);
  return json.frames.map((f) => {
    if (typeof f.frame !== "string" || !f.state) throw new Error(`${file}: a frame without bytes or state`);
    return { frame: bytesOf(f.frame), expected: f.state };
  });
}

const files = (() => {
  try {
    return readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
  } catch {
    return [];
  }
})();

/** The client's state as a transcript writes it: version 0 before the first snapshot. */
const seen = (s: RoomState): Expected => ({ version: s.version ?? 0, room: s.room, table: s.table, you: s.you });

/** Replays `steps` through the client's decoder and reducer, comparing after each frame. */
function replay(name: string, steps: Step[]): void {
  expect(steps.length).toBeGreaterThan(0);
  let state = initialState;
  steps.forEach((step, i) => {
    const msg = decodeServer(step.frame);
    state = reduce(state, msg, i);
    expect(state.needsResync, `${name} frame ${i} (${msg.type}): a gap`).toBe(false);
    expect(seen(state), `${name} after frame ${i} (${msg.type})`).toEqual(step.expected);
  });
}

describe("golden transcripts", () => {
  it("are there: the host's, a player's and a spectator's", () => {
    expect(files).toEqual(expect.arrayContaining(["host.json", "player.json", "spectator.json"]));
  });
  for (const file of files) {
    it(`replays ${file} frame by frame`, () => replay(file, readTranscript(file)));

    it(`${file}: from a snapshot taken after any frame, the later frames reach the same states`, () => {
      const steps = readTranscript(file);
      let starts = 0;
      steps.forEach((at, i) => {
        const { version, room, table, you } = at.expected;
        if (room === null) return; // not in the room yet: nothing to snapshot
        starts++;
        let state = reduce(initialState, { type: "Snapshot", version, room, table, you, clock: null }, 0);
        steps.slice(i + 1).forEach((step, j) => {
          const msg = decodeServer(step.frame);
          state = reduce(state, msg, j);
          expect(seen(state), `${file}: from frame ${i}, after frame ${i + 1 + j} (${msg.type})`).toEqual(step.expected);
        });
      });
      expect(starts).toBeGreaterThan(steps.length / 2);
    });
  }
});

describe("the replay", () => {
  // The scripted golden game as seat 2 (Bot 1's seat, for the view in the next round's frame)
  // would receive it from version 11, with the tables and rooms Rust sent whole in version 1.
  const encoder = new Encoder();
  const hex = (msg: unknown) => Buffer.from(encoder.encode(msg)).toString("hex");
  const snap = golden("server_snapshot_playing", "Snapshot");
  const start = { ...snap, version: 11, table: scripted.table("server_update_auto_played"), you: null };
  const next = scripted.nextRound();
  const transcript = {
    frames: [
      { hex: hex(start), expected: { version: 11, room: snap.room, table: start.table, you: null } },
      { hex: hex(scripted.bid()), expected: { version: 12, room: snap.room, table: snap.table, you: null } },
      {
        hex: hex(scripted.resolved()),
        expected: { version: 13, room: scripted.room("server_update_round_resolved"), table: expect.anything(), you: null },
      },
      {
        base64: Buffer.from(encoder.encode(next)).toString("base64"),
        expected: { version: 14, room: scripted.room("server_update_next_round"), table: scripted.table("server_update_next_round"), you: next.you },
      },
    ],
  };

  it("reads hex and base64 frames and follows them to the expected states", () => {
    const file = "scripted.json";
    const steps = transcript.frames.map((f) => ({ frame: bytesOf(f.hex ?? f.base64 ?? ""), expected: f.expected as Expected }));
    replay(file, steps);
  });

  it("fails on a frame whose state differs", () => {
    const steps = transcript.frames.map((f) => ({ frame: bytesOf(f.hex ?? f.base64 ?? ""), expected: f.expected as Expected }));
    steps[1] = { ...steps[1]!, expected: { ...steps[1]!.expected, table: start.table } };
    expect(() => replay("tampered", steps)).toThrow(/after frame 1/);
  });
});
