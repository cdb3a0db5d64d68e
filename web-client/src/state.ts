// The client's view of a room, kept by a pure reducer (docs/PROTOCOL.md, "State").
import type {
  CloseReason, Emote, GameResults, Resolution, RoomView, Seat, ServerMessage, TableView,
  TurnClock, YouView,
} from "./protocol/generated";

export interface EmoteEntry { seat: Seat; name: string; emote: Emote; key: number }
export interface Notice { seq: number; text: string }

export interface RoomState {
  /** Version of the last applied Snapshot/Update; null until the first Snapshot. */
  version: number | null;
  room: RoomView | null;
  table: TableView | null;
  you: YouView | null;
  clock: TurnClock | null;
  /** When (ms, caller's clock) the clock above was received. */
  clockAt: number;
  /** This connection's seat (from Seated / Moved / you.seat). */
  mySeat: Seat | null;
  /** The token from the last Seated, for the caller to persist. */
  seatToken: string | null;
  /** The resolution to show in the reveal (the last round's). */
  reveal: Resolution | null;
  /** The commitment published in the last GameStarted event (or the table's). */
  commitment: string | null;
  emotes: EmoteEntry[];
  /** Updates were missed: reconnect and Resume. */
  needsResync: boolean;
  error: Notice | null;
  announcement: Notice | null;
  closing: CloseReason | null;
}

export const initialState: RoomState = {
  version: null, room: null, table: null, you: null, clock: null, clockAt: 0, mySeat: null,
  seatToken: null, reveal: null, commitment: null, emotes: [], needsResync: false, error: null,
  announcement: null, closing: null,
};

const MAX_EMOTES = 8;

export function seatName(room: RoomView | null, seat: Seat | null | undefined): string {
  if (seat === null || seat === undefined) return "nobody";
  return room?.seats[seat]?.name ?? `seat ${seat + 1}`;
}

export function turnOf(table: TableView | null): Seat | null {
  return table && table.state.phase === "Bidding" ? table.state.turn : null;
}

function notice(prev: Notice | null, text: string): Notice {
  return { seq: (prev?.seq ?? 0) + 1, text };
}

/** Announce turn changes and results by comparing before and after. */
function announce(before: RoomState, after: RoomState): RoomState {
  const results: GameResults | null = after.room?.results ?? null;
  if (after.room?.phase === "Finished" && before.room?.phase !== "Finished" && results) {
    const winner = results.names[results.winner] ?? seatName(after.room, results.winner);
    const text = after.mySeat === results.winner && before.room !== null ? "You win the game!" : `${winner} wins the game`;
    return { ...after, announcement: notice(after.announcement, text) };
  }
  const turn = turnOf(after.table);
  const playing = after.room?.phase === "Playing";
  if (playing && turn !== null && (turn !== turnOf(before.table) || before.room?.phase !== "Playing")) {
    const text = turn === after.mySeat ? "Your turn" : `${seatName(after.room, turn)}'s turn`;
    return { ...after, announcement: notice(after.announcement, text) };
  }
  return after;
}

export function reduce(state: RoomState, msg: ServerMessage, now = 0): RoomState {
  switch (msg.type) {
    case "Snapshot": {
      const next: RoomState = {
        ...state,
        version: msg.version,
        room: msg.room,
        table: msg.table,
        you: msg.you,
        clock: msg.clock,
        clockAt: now,
        mySeat: msg.you ? msg.you.seat : state.mySeat,
        reveal: msg.table?.last_resolution ?? null,
        commitment: msg.table?.commitment ?? msg.room.results?.commitment ?? null,
        needsResync: false,
        closing: null,
      };
      return announce(state, next);
    }
    case "Update": {
      if (state.version === null || msg.version <= state.version) return state; // before snapshot / stale
      if (msg.version !== state.version + 1) return { ...state, needsResync: true };
      let next: RoomState = {
        ...state,
        version: msg.version,
        room: msg.room ?? state.room,
        table: msg.table ?? state.table,
        clock: msg.clock,
        clockAt: now,
      };
      for (const ev of msg.events) next = applyEvent(next, ev, msg.room !== null);
      return announce(state, next);
    }
    case "Private": {
      if (state.version === null || msg.version < state.version) return state;
      if (msg.version > state.version) return { ...state, needsResync: true };
      return { ...state, you: msg.you, mySeat: msg.you.seat };
    }
    case "Seated":
      return { ...state, mySeat: msg.seat, seatToken: msg.token };
    case "Moved":
      return { ...state, mySeat: msg.seat, you: state.you ? { ...state.you, seat: msg.seat } : null };
    case "Rejected":
      return { ...state, error: notice(state.error, msg.message) };
    case "Ack":
      return state;
    case "Closing":
      return { ...state, closing: msg.reason };
  }
}

type RoomEventT = Extract<ServerMessage, { type: "Update" }>["events"][number];

function applyEvent(s: RoomState, ev: RoomEventT, roomSent: boolean): RoomState {
  switch (ev.type) {
    case "GameStarted":
      // The update of a game's start carries no room: the phase is now Playing.
      return {
        ...s,
        room: s.room && !roomSent ? { ...s.room, phase: "Playing" } : s.room,
        reveal: null,
        emotes: s.emotes,
      };
    case "HostChanged":
      return { ...s, room: s.room && !roomSent ? { ...s.room, host: ev.seat } : s.room };
    case "Emote": {
      const last = s.emotes[s.emotes.length - 1];
      const entry: EmoteEntry = { seat: ev.seat, emote: ev.emote, name: seatName(s.room, ev.seat), key: (last?.key ?? 0) + 1 };
      return { ...s, emotes: [...s.emotes, entry].slice(-MAX_EMOTES) };
    }
    case "Game": {
      const g = ev.event;
      if (g.type === "GameStarted") return { ...s, commitment: g.commitment, reveal: null };
      if (g.type === "RoundResolved") {
        const { type: _t, ...resolution } = g;
        return { ...s, reveal: resolution };
      }
      return s;
    }
    default:
      return s;
  }
}

/** Milliseconds left on the clock at `now`. */
export function clockRemaining(state: RoomState, now: number): number | null {
  if (!state.clock) return null;
  return Math.max(0, state.clock.remaining_ms - (now - state.clockAt));
}
