// Protocol v2: an Update carries events, not tables. These two pure functions follow one event
// each, so that the room and table of version N-1 plus the events of version N give exactly
// what a Snapshot at version N would show. They mirror Rust's `RoomView::apply`
// (protocol/src/lib.rs) and `TableView::started` / `TableView::apply` (game-core/src/view.rs),
// and are replayed against the golden transcripts in tests (tests/transcripts.test.ts).
//
// Nothing is changed in place: a changed room or table is a new object (unchanged parts are
// shared), an event that changes nothing returns its input, so the views and the cues can tell
// what changed by identity.
import type {
  GameEvent, Occupant, RoomEvent, RoomView, Seat, SeatInfo, SeatView, TableState, TableView,
} from "./protocol/generated";

/** The room after one room event (docs/PROTOCOL.md; Rust `RoomView::apply`). */
export function applyRoomEvent(room: RoomView, ev: RoomEvent): RoomView {
  switch (ev.type) {
    case "Game":
      // The pause after a reveal ends with the next round.
      return ev.event.type === "RoundStarted" && room.phase === "Reveal" ? { ...room, phase: "Playing" } : room;
    case "SeatTaken": {
      // Always at the end; a seat past it does not fit this room and is ignored.
      if (ev.seat > room.seats.length) return room;
      const seats = room.seats.slice();
      seats.splice(ev.seat, 0, { name: ev.name, occupant: ev.occupant });
      return { ...room, seats };
    }
    case "SeatFreed": {
      if (ev.seat >= room.seats.length) return room;
      const seats = room.seats.slice();
      seats.splice(ev.seat, 1); // later seats move down
      return { ...room, seats };
    }
    case "HostChanged":
      return { ...room, host: ev.seat };
    case "RulesChanged":
      return { ...room, rules: ev.rules };
    case "OptionsChanged":
      return { ...room, options: ev.options };
    case "Spectators":
      return { ...room, spectators: ev.count };
    case "GameStarted":
      return { ...room, phase: "Playing" };
    case "Arrived":
    case "Reconnected":
      return setConnected(room, ev.seat, true);
    case "Disconnected":
    case "Left":
      return setConnected(room, ev.seat, false);
    case "AutoPlayed":
    case "Emote":
      return room;
    case "NextRoundIn":
      return { ...room, phase: "Reveal" };
    case "GameOver":
      return { ...room, phase: "Finished", games_played: room.games_played + 1, results: ev.results };
  }
}

/** A human seat's `connected`; bots and seats the room does not have are left alone. */
function setConnected(room: RoomView, seat: Seat, connected: boolean): RoomView {
  const info = room.seats[seat];
  if (!info || info.occupant.type !== "Human") return room;
  const occupant: Occupant = { type: "Human", connected };
  const seats: SeatInfo[] = room.seats.slice();
  seats[seat] = { ...info, occupant };
  return { ...room, seats };
}

/** The table a game's `GameStarted` opens: every seat with its starting dice, no round yet
 * (the `RoundStarted` that always follows starts one). Rust `TableView::started`. */
export function startedTable(seats: number, startingDice: number, commitment: string): TableView {
  return {
    seats: Array.from({ length: seats }, (): SeatView => ({ dice: startingDice, palifico_used: false, calza_used: false })),
    starting_dice: startingDice,
    total_dice: seats * startingDice,
    commitment,
    state: { phase: "Bidding", round: 0, opener: 0, turn: 0, palifico: null, wilds: "None", bids: [] },
    last_resolution: null,
  };
}

/** The table after one game event (Rust `TableView::apply`, with `GameStarted` opening a new
 * table as `TableView::started` does). `table` is null before any game: only `GameStarted`
 * makes one then, and any other event leaves it null (the caller treats that as a table that
 * does not fit, see `reduce`). Events about a seat the table does not have change nothing of
 * that seat. */
export function applyTableEvent(table: TableView | null, ev: GameEvent): TableView | null {
  if (ev.type === "GameStarted") return startedTable(ev.seats, ev.starting_dice, ev.commitment);
  if (table === null) return null;
  let seats = table.seats;
  let state = table.state;
  let lastResolution = table.last_resolution;
  /** Copy-on-write of one seat. */
  const setSeat = (seat: Seat, patch: Partial<SeatView>): void => {
    const old = seats[seat];
    if (!old) return;
    if (seats === table.seats) seats = seats.slice();
    seats[seat] = { ...old, ...patch };
  };
  switch (ev.type) {
    case "Eliminated":
      return table;
    case "RoundStarted": {
      // Dice per seat; a list longer or shorter than the table only sets the seats both have.
      seats = table.seats.map((s, i) => (i < ev.dice.length ? { ...s, dice: ev.dice[i]! } : s));
      if (ev.palifico !== null) setSeat(ev.palifico, { palifico_used: true });
      state = {
        phase: "Bidding", round: ev.round, opener: ev.opener, turn: ev.opener, palifico: ev.palifico,
        wilds: ev.wilds, bids: [],
      };
      break;
    }
    case "PalificoDeclared":
      setSeat(ev.seat, { palifico_used: true });
      if (state.phase === "Bidding") {
        // Aces are never wild in a palifico round.
        state = { ...state, palifico: ev.seat, opener: ev.seat, turn: ev.seat, wilds: "None" };
      }
      break;
    case "BidPlaced":
      if (state.phase === "Bidding") {
        const next = nextActiveAfter(seats, ev.seat);
        state = { ...state, bids: [...state.bids, { seat: ev.seat, bid: ev.bid }], turn: next ?? state.turn };
      }
      break;
    case "RoundResolved": {
      const { type: _type, ...resolution } = ev;
      for (const change of resolution.changes) setSeat(change.seat, { dice: change.after });
      if (resolution.call.type === "Calza") setSeat(resolution.call.caller, { calza_used: true });
      // The called round (its bids, whose turn it was) stays until the RoundStarted or
      // GameWon that follows.
      lastResolution = resolution;
      break;
    }
    case "Forfeited":
      setSeat(ev.seat, { dice: 0 });
      break;
    case "GameWon":
      state = { phase: "Over", winner: ev.winner } satisfies TableState;
      break;
  }
  return {
    ...table, seats, state, last_resolution: lastResolution,
    total_dice: seats.reduce((sum, s) => sum + s.dice, 0),
  };
}

/** The next seat after `seat`, in play order (wrapping), that still has dice; null when none
 * has (Rust `TableView::next_active_after`). */
export function nextActiveAfter(seats: readonly SeatView[], seat: Seat): Seat | null {
  const n = seats.length;
  for (let step = 1; step <= n; step++) {
    const i = (seat + step) % n;
    if (seats[i]!.dice > 0) return i;
  }
  return null;
}
