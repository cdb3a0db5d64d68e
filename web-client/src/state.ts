// The client's view of a room, kept by a pure reducer (docs/PROTOCOL.md, "State").
// Rendering lives apart (views/): it reads this state and never changes it.
import { bidText, t } from "./i18n";
import type { Params } from "./i18n";
import { applyRoomEvent, applyTableEvent } from "./apply";
import type {
  Action, CloseReason, Emote, GameResults, RejectDetail, Resolution, RoomEvent, RoomView, Seat, ServerMessage,
  TableView, TurnClock, YouView,
} from "./protocol/generated";

/** An emote on show at its sender's seat; `key` is unique so a bubble is drawn once. */
export interface EmoteEntry { seat: Seat; name: string; emote: Emote; key: number; at: number }
export interface Notice { seq: number; text: string }
/** One line of the round log, as a message key and its parameters (translated when shown). */
export interface LogEntry { seq: number; key: string; params: Params; at: number }

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
  /** The last round's resolution: shown in the reveal, then kept as the "last round" summary
   * until the next one (or a new game). */
  reveal: Resolution | null;
  /** When (caller's clock) `reveal` arrived live; 0 when it came in a snapshot (no animation). */
  revealAt: number;
  /** The commitment published in the last GameStarted event (or the table's). */
  commitment: string | null;
  emotes: EmoteEntry[];
  /** What the room did that people should know about, newest last. */
  log: LogEntry[];
  /** Updates were missed: reconnect and Resume. */
  needsResync: boolean;
  error: Notice | null;
  announcement: Notice | null;
  closing: CloseReason | null;
}

export const initialState: RoomState = {
  version: null, room: null, table: null, you: null, clock: null, clockAt: 0, mySeat: null,
  seatToken: null, reveal: null, revealAt: 0, commitment: null, emotes: [], log: [], needsResync: false,
  error: null, announcement: null, closing: null,
};

const MAX_EMOTES = 8;
const MAX_LOG = 60;
/** How long an emote bubble stays at its seat. */
export const EMOTE_MS = 4000;

export function seatName(room: RoomView | null, seat: Seat | null | undefined): string {
  if (seat === null || seat === undefined) return t("nobody");
  return room?.seats[seat]?.name ?? t("seat.n", { n: seat + 1 });
}

export function turnOf(table: TableView | null): Seat | null {
  return table && table.state.phase === "Bidding" ? table.state.turn : null;
}

function notice(prev: Notice | null, text: string): Notice {
  return { seq: (prev?.seq ?? 0) + 1, text };
}

/** "bid 3 × fours" / "called dudo": what an action did, for the log. */
export function actionText(action: Action): string {
  switch (action.type) {
    case "Bid": return t("action.bid", { bid: bidText(action.quantity, action.face) });
    case "Dudo": return t("action.dudo");
    case "Calza": return t("action.calza");
    case "DeclarePalifico": return t("action.palifico");
  }
}

/** One sentence on how a round ended: who called, the count, who lost or gained dice. */
export function outcomeText(res: Resolution, name: (seat: number) => string): string {
  const bid = res.bid.bid;
  const first = res.call.type === "Dudo"
    ? t(res.call_succeeded ? "outcome.dudoRight" : "outcome.dudoWrong", {
        caller: name(res.call.challenger), bidder: name(res.bid.seat), bid: bidText(bid.quantity, bid.face), count: res.count,
      })
    : t(res.call_succeeded ? "outcome.calzaRight" : "outcome.calzaWrong", {
        caller: name(res.call.caller), bid: bidText(bid.quantity, bid.face), count: res.count,
      });
  const changes = res.changes.map((c) => {
    const d = c.after - c.before;
    const key = d < 0 ? (c.after === 0 ? "outcome.lostOut" : "outcome.lost") : "outcome.gained";
    return t(key, { name: name(c.seat), count: Math.abs(d), after: c.after });
  });
  return [first, ...changes].join(" ");
}

/** Announce turn changes and results by comparing before and after. */
function announce(before: RoomState, after: RoomState, extra: string[]): RoomState {
  const parts = [...extra];
  const results: GameResults | null = after.room?.results ?? null;
  if (after.room?.phase === "Finished" && before.room?.phase !== "Finished" && results) {
    const winner = results.names[results.winner] ?? seatName(after.room, results.winner);
    parts.push(after.mySeat === results.winner && before.room !== null ? t("announce.youWin") : t("announce.wins", { name: winner }));
  } else {
    const turn = turnOf(after.table);
    const playing = after.room?.phase === "Playing";
    if (playing && turn !== null && (turn !== turnOf(before.table) || before.room?.phase !== "Playing")) {
      parts.push(turn === after.mySeat ? t("announce.yourTurn") : t("announce.turnOf", { name: seatName(after.room, turn) }));
    }
  }
  if (parts.length === 0) return after;
  return { ...after, announcement: notice(after.announcement, parts.join(" ")) };
}

/** The plain-language text of a rejection (never the server's developer wording). */
export function rejectionText(code: string, detail: RejectDetail | null, fallback: string): string {
  if (detail?.type === "Rule") {
    const { code: rule, ...rest } = detail.error;
    const params: Params = {};
    for (const [k, v] of Object.entries(rest)) {
      if (typeof v === "number" || typeof v === "string") params[k] = v;
      else if (v && typeof v === "object" && "quantity" in v && "face" in v) params[k] = bidText(v.quantity, v.face);
    }
    if ("face" in params) params.face = t(`face.${params.face}`, { count: 2 });
    const text = t(`ruleError.${rule}`, params);
    if (text !== `ruleError.${rule}`) return text;
  }
  const text = t(`reject.${code}`);
  return text === `reject.${code}` ? fallback : text;
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
        revealAt: 0,
        commitment: msg.table?.commitment ?? msg.room.results?.commitment ?? null,
        needsResync: false,
        closing: null,
      };
      return announce(state, next, []);
    }
    case "Update": {
      if (state.version === null || msg.version <= state.version) return state; // before snapshot / stale
      if (msg.version !== state.version + 1) return { ...state, needsResync: true };
      let next: RoomState = {
        ...state,
        version: msg.version,
        // This seat's own view travels in its own frame, only when it changed.
        you: msg.you ?? state.you,
        mySeat: msg.you ? msg.you.seat : state.mySeat,
        clock: msg.clock,
        clockAt: now,
      };
      const said: string[] = [];
      // Names as they were before this update (a leaving seat's name is still known).
      const nameOf = (seat: Seat): string => seatName(state.room ?? next.room, seat);
      for (const ev of msg.events) {
        const applied = applyEvent(next, ev, now, nameOf, said);
        // Events that do not fit this state (a game event with no game): start over from a
        // snapshot rather than show a table that is not the room's.
        if (applied === null) return { ...state, needsResync: true };
        next = applied;
      }
      return announce(state, next, said);
    }
    case "Seated":
      return { ...state, mySeat: msg.seat, seatToken: msg.token };
    case "Moved":
      return { ...state, mySeat: msg.seat, you: state.you ? { ...state.you, seat: msg.seat } : null };
    case "Rejected":
      return { ...state, error: notice(state.error, rejectionText(msg.code, msg.detail, msg.message)) };
    case "Ack":
      return state;
    case "Closing":
      return { ...state, closing: msg.reason };
  }
}

function logged(s: RoomState, key: string, params: Params, now: number): RoomState {
  const last = s.log[s.log.length - 1];
  const entry: LogEntry = { seq: (last?.seq ?? 0) + 1, key, params, at: now };
  return { ...s, log: [...s.log, entry].slice(-MAX_LOG) };
}

/** One event: the room and table follow it (apply.ts), then what people should know of it
 * (the log, the reveal, emotes, what is read out). Null when it does not fit the state. */
function applyEvent(
  before: RoomState, ev: RoomEvent, now: number, name: (seat: Seat) => string, said: string[],
): RoomState | null {
  let s = before;
  if (s.room) {
    const room = applyRoomEvent(s.room, ev);
    if (room !== s.room) s = { ...s, room };
  }
  if (ev.type === "Game") {
    const table = applyTableEvent(s.table, ev.event);
    if (table === null) return null;
    if (table !== s.table) s = { ...s, table };
  }
  return followEvent(s, ev, now, name, said);
}

function followEvent(
  s: RoomState, ev: RoomEvent, now: number, name: (seat: Seat) => string, said: string[],
): RoomState {
  switch (ev.type) {
    case "GameStarted":
      return logged({ ...s, reveal: null, revealAt: 0 }, "log.gameStarted", { game: ev.game }, now);
    case "HostChanged":
      if (ev.seat === null) return s;
      return logged(s, ev.seat === s.mySeat ? "log.youHost" : "log.hostChanged", { name: name(ev.seat) }, now);
    case "Emote": {
      const last = s.emotes[s.emotes.length - 1];
      const entry: EmoteEntry = { seat: ev.seat, emote: ev.emote, name: name(ev.seat), key: (last?.key ?? 0) + 1, at: now };
      return { ...s, emotes: [...s.emotes.filter((e) => now - e.at < EMOTE_MS), entry].slice(-MAX_EMOTES) };
    }
    case "AutoPlayed": {
      const params = { name: name(ev.seat), action: actionText(ev.action) };
      const key = ev.reason === "TimeLimit" ? "log.autoTime" : "log.autoAway";
      said.push(t(key, params));
      return logged(s, key, params, now);
    }
    case "SeatTaken":
      return logged(s, "log.joined", { name: ev.name }, now);
    case "SeatFreed":
      return logged(s, "log.left", { name: ev.name }, now);
    case "Disconnected":
      return logged(s, "log.disconnected", { name: name(ev.seat) }, now);
    case "Reconnected":
      return logged(s, "log.reconnected", { name: name(ev.seat) }, now);
    case "Game": {
      const g = ev.event;
      switch (g.type) {
        case "GameStarted":
          return { ...s, commitment: g.commitment, reveal: null, revealAt: 0 };
        case "RoundResolved": {
          const { type: _t, ...resolution } = g;
          const text = outcomeText(resolution, name);
          said.push(text);
          return logged({ ...s, reveal: resolution, revealAt: now }, "log.round", { round: resolution.round + 1, text }, now);
        }
        case "Forfeited": {
          const params = { name: name(g.seat) };
          // A player who left (the `Left` just before) was not away: that line is logged.
          const last = s.log[s.log.length - 1];
          if (last?.key === "log.leftGame" && last.params.name === params.name) return s;
          said.push(t("log.forfeited", params));
          return logged(s, "log.forfeited", params, now);
        }
        case "Eliminated":
          return logged(s, "log.eliminated", { name: name(g.seat) }, now);
        case "PalificoDeclared":
          return logged(s, "log.palifico", { name: name(g.seat) }, now);
        case "RoundStarted":
        case "BidPlaced":
        case "GameWon":
          return s;
      }
      return s;
    }
    case "RulesChanged":
      return logged(s, "log.rulesChanged", {}, now);
    // A player who leaves a running game forfeits: said here, not as being away too long.
    case "Left": {
      const params = { name: name(ev.seat) };
      said.push(t("log.leftGame", params));
      return logged(s, "log.leftGame", params, now);
    }
    case "Arrived":
    case "OptionsChanged":
    case "Spectators":
    case "NextRoundIn":
    case "GameOver":
      return s;
  }
}

/** Milliseconds left on the clock at `now`. */
export function clockRemaining(state: RoomState, now: number): number | null {
  if (!state.clock) return null;
  return Math.max(0, state.clock.remaining_ms - (now - state.clockAt));
}

/** Emotes still on show at `now`. */
export function liveEmotes(state: RoomState, now: number): EmoteEntry[] {
  return state.emotes.filter((e) => now - e.at < EMOTE_MS);
}

/** Each seat's dice count as shown. During a reveal the table holds the called round with
 * the new counts (the RoundResolved event applied), while a room restarted during the pause
 * comes back already in the next round: counting from the resolution (its hands, then its
 * changes) shows the same either way. */
export function diceCounts(state: RoomState): number[] {
  const room = state.room;
  const table = state.table;
  const n = room?.seats.length ?? table?.seats.length ?? 0;
  const counts = Array.from({ length: n }, (_, i) => table?.seats[i]?.dice ?? 0);
  const res = state.reveal;
  if (room?.phase === "Reveal" && res) {
    res.hands.forEach((hand, i) => { if (i < n && hand.length > 0) counts[i] = hand.length; });
    for (const c of res.changes) if (c.seat < n) counts[c.seat] = c.after;
  }
  return counts;
}
