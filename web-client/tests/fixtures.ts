import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeServer } from "../src/codec";
import type {
  GameEvent, GameResults, RoomEvent, RoomView, ServerMessage, TableView, TurnClock, Update, Wilds, YouView,
} from "../src/protocol/generated";

const dir = join(__dirname, "..", "..", "protocol", "tests", "golden");
const v1dir = join(__dirname, "fixtures", "v1");

/** A golden server message, decoded from its .msgpack file. */
export function golden<T extends ServerMessage["type"]>(name: string, type: T): Extract<ServerMessage, { type: T }> {
  const msg = decodeServer(new Uint8Array(readFileSync(join(dir, `${name}.msgpack`))));
  if (msg.type !== type) throw new Error(`${name} is a ${msg.type}, not ${type}`);
  return structuredClone(msg) as Extract<ServerMessage, { type: T }>;
}

// ---- protocol version 1 ---------------------------------------------------------------------
// tests/fixtures/v1/ keeps the version-1 golden frames of the scripted game (copied from
// main's protocol/tests/golden/, before version 2): each update carried the whole table (and
// the room when it changed), a seat's hand came in a separate Private frame. The tables Rust
// wrote into them are what applying version 2's events must reach, and the benchmark measures
// the old client's cost with them.

/** A version-1 Update: version 2 dropped `room` and `table` and added `you` and `ack`. */
export interface V1Update {
  type: "Update";
  version: number;
  events: RoomEvent[];
  room: RoomView | null;
  table: TableView | null;
  clock: TurnClock | null;
}
/** A version-1 Private: this seat's hand and moves, a frame of its own. */
export interface V1Private { type: "Private"; version: number; you: YouView }

export function v1Bytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(v1dir, `${name}.msgpack`)));
}

export function v1Update(name: string): V1Update {
  const msg = decodeServer(v1Bytes(name)) as unknown as V1Update;
  if (msg.type !== "Update") throw new Error(`${name} is not an update`);
  return msg;
}

export function v1Private(): V1Private {
  return decodeServer(v1Bytes("server_private")) as unknown as V1Private;
}

type UpdateMsg = Extract<ServerMessage, { type: "Update" }>;

/** A version-2 update of `version` with these events (no clock, no view, no answer unless given). */
export function update(version: number, events: RoomEvent[], extra: Partial<Update> = {}): UpdateMsg {
  return { type: "Update", version, events, clock: null, you: null, ack: null, ...extra };
}

/** A version-1 update's events as version 2 sends them: a RoundStarted says its wilds (in
 * version 1 only the table did; `wilds` is taken from the table the update carried). */
function v2Events(u: V1Update): RoomEvent[] {
  return u.events.map((ev): RoomEvent => {
    if (ev.type !== "Game" || ev.event.type !== "RoundStarted" || "wilds" in ev.event) return ev;
    const state = u.table?.state;
    const wilds: Wilds = state && state.phase === "Bidding" ? state.wilds : "None";
    return { type: "Game", event: { ...(ev.event as Omit<Extract<GameEvent, { type: "RoundStarted" }>, "wilds">), wilds } };
  });
}

/** The scripted game of the golden files (three seats, default rules, seed 7: 2 × threes by
 * the room for Ana, 3 × threes by Bruno, Bot 1 calls dudo and loses a die, round 2), frame by
 * frame as protocol version 2 sends it, with the table Rust computed at each step. */
export const scripted = {
  /** Version 10: the game starts (room GameStarted, the engine's GameStarted and RoundStarted). */
  started: () => asV2(v1Update("server_update_game_started")),
  /** Version 11: the turn time ran out, the room bid 2 × threes for Ana. */
  autoPlayed: () => asV2(v1Update("server_update_auto_played")),
  /** Version 12: Bruno bids 3 × threes. */
  bid: () => asV2(v1Update("server_update_bid_placed")),
  /** Version 13: Bot 1 calls dudo and loses a die; the reveal pause. */
  resolved: () => asV2(v1Update("server_update_round_resolved")),
  /** Version 14: the next round, with seat 2's new hand in its own frame. */
  nextRound: () => asV2(v1Update("server_update_next_round"), v1Private().you),
  /** The table Rust sent at a version-1 update (null when that update carried none). */
  table: (name: string): TableView | null => v1Update(name).table,
  /** The room Rust sent at a version-1 update (null when it carried none). */
  room: (name: string): RoomView | null => v1Update(name).room,
};

function asV2(u: V1Update, you: YouView | null = null): UpdateMsg {
  return update(u.version, v2Events(u), { clock: u.clock, you });
}

/** The golden game-over update (another game: version 90, four seats) as version 2 sends it. */
export function gameOver(version: number): { msg: UpdateMsg; results: GameResults } {
  const u = v1Update("server_update_game_over");
  return { msg: update(version, u.events), results: u.room!.results! };
}
