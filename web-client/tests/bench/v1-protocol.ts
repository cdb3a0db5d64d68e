// The protocol version 1 server messages, for the benchmark's copy of the version-1 client
// state (v1-state.ts): an Update carried the whole room (when it changed) and table, a seat's
// hand came in a Private frame of its own. Every other type is as in version 2.
import type {
  RoomEvent, RoomView, ServerMessage as V2ServerMessage, TableView, TurnClock, YouView,
} from "../../src/protocol/generated";

export type * from "../../src/protocol/generated";

export type ServerMessage =
  | Exclude<V2ServerMessage, { type: "Update" }>
  | { type: "Update"; version: number; events: RoomEvent[]; room: RoomView | null; table: TableView | null; clock: TurnClock | null }
  | { type: "Private"; version: number; you: YouView };
