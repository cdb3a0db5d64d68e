// Protocol v2's event application (src/apply.ts): every room event and every game event, and
// the scripted golden game replayed from its first event against the tables Rust computed.
import { describe, expect, it } from "vitest";
import { applyRoomEvent, applyTableEvent, nextActiveAfter, startedTable } from "../src/apply";
import type {
  GameConfig, GameEvent, GameResults, Resolution, RoomEvent, RoomView, TableView,
} from "../src/protocol/generated";
import { golden, scripted } from "./fixtures";

const lobbyRoom = (): RoomView => golden("server_snapshot_lobby", "Snapshot").room;
/** Ana (human, connected), Bruno (human, not connected), Bot 1; phase Playing. */
const playingRoom = (): RoomView => golden("server_snapshot_playing", "Snapshot").room;
/** Mid-round: Ana 2 × threes, Bruno 3 × threes, Bot 1 (seat 2) on turn; 5 dice each. */
const midTable = (): TableView => golden("server_snapshot_playing", "Snapshot").table!;

const results: GameResults = {
  game: 1, winner: 2, names: ["Ana", "Bruno", "Bot 1"], placings: [2, 0, 1], rounds: 9,
  stats: [], commitment: "ab".repeat(32), seed: "cd".repeat(32),
};

function applyAll<T>(start: T, events: readonly GameEvent[], f: (t: T, e: GameEvent) => T): T {
  return events.reduce(f, start);
}
const tableAll = (t: TableView | null, evs: readonly RoomEvent[]): TableView | null =>
  applyAll(t, evs.flatMap((e) => (e.type === "Game" ? [e.event] : [])), applyTableEvent);
const roomAll = (r: RoomView, evs: readonly RoomEvent[]): RoomView => evs.reduce(applyRoomEvent, r);

describe("applyRoomEvent", () => {
  it("Game: a RoundStarted ends the reveal; other game events and other phases change nothing", () => {
    const round: RoomEvent = { type: "Game", event: { type: "RoundStarted", round: 1, opener: 2, palifico: null, wilds: "AllDice", dice: [5, 5, 4] } };
    const reveal = { ...playingRoom(), phase: "Reveal" as const };
    expect(applyRoomEvent(reveal, round)).toEqual({ ...reveal, phase: "Playing" });
    const playing = playingRoom();
    expect(applyRoomEvent(playing, round)).toBe(playing);
    const bid: RoomEvent = { type: "Game", event: { type: "BidPlaced", seat: 0, bid: { quantity: 2, face: 3 } } };
    expect(applyRoomEvent(reveal, bid)).toBe(reveal);
    const finished = { ...playingRoom(), phase: "Finished" as const };
    expect(applyRoomEvent(finished, round)).toBe(finished);
  });

  it("SeatTaken: the seat goes in at its index (the end); a seat past the end is ignored", () => {
    const room = playingRoom();
    const next = applyRoomEvent(room, { type: "SeatTaken", seat: 3, name: "Dara", occupant: { type: "Bot", level: "Hard" } });
    expect(next.seats.map((s) => s.name)).toEqual(["Ana", "Bruno", "Bot 1", "Dara"]);
    expect(next.seats[3]!.occupant).toEqual({ type: "Bot", level: "Hard" });
    expect(room.seats).toHaveLength(3); // not changed in place
    expect(applyRoomEvent(room, { type: "SeatTaken", seat: 5, name: "Eve", occupant: { type: "Human", connected: true } })).toBe(room);
  });

  it("SeatFreed: removes the seat, later seats move down; a seat the room lacks is ignored", () => {
    const room = playingRoom();
    const next = applyRoomEvent(room, { type: "SeatFreed", seat: 0, name: "Ana" });
    expect(next.seats.map((s) => s.name)).toEqual(["Bruno", "Bot 1"]);
    expect(room.seats).toHaveLength(3);
    expect(applyRoomEvent(room, { type: "SeatFreed", seat: 3, name: "Nobody" })).toBe(room);
  });

  it("HostChanged: the host is the seat, or nobody", () => {
    expect(applyRoomEvent(playingRoom(), { type: "HostChanged", seat: 2 }).host).toBe(2);
    expect(applyRoomEvent(playingRoom(), { type: "HostChanged", seat: null }).host).toBeNull();
  });

  it("RulesChanged and OptionsChanged: replaced whole", () => {
    const rules: GameConfig = { ...lobbyRoom().rules, starting_dice: 3, calza_enabled: false };
    expect(applyRoomEvent(lobbyRoom(), { type: "RulesChanged", rules }).rules).toEqual(rules);
    expect(applyRoomEvent(lobbyRoom(), { type: "OptionsChanged", options: { forfeit_after_secs: 300 } }).options)
      .toEqual({ forfeit_after_secs: 300 });
  });

  it("Spectators: the count", () => {
    expect(applyRoomEvent(playingRoom(), { type: "Spectators", count: 4 }).spectators).toBe(4);
    expect(applyRoomEvent(playingRoom(), { type: "Spectators", count: 0 }).spectators).toBe(0);
  });

  it("GameStarted: phase Playing", () => {
    const room = { ...lobbyRoom(), phase: "Finished" as const };
    expect(applyRoomEvent(room, { type: "GameStarted", game: 2 })).toEqual({ ...room, phase: "Playing" });
  });

  it("Arrived and Reconnected: a human seat is connected; bots and missing seats unchanged", () => {
    for (const type of ["Arrived", "Reconnected"] as const) {
      const room = playingRoom();
      const next = applyRoomEvent(room, { type, seat: 1 });
      expect(next.seats[1]!.occupant).toEqual({ type: "Human", connected: true });
      expect(room.seats[1]!.occupant).toEqual({ type: "Human", connected: false });
      expect(next.seats[0]).toBe(room.seats[0]);
      expect(applyRoomEvent(room, { type, seat: 2 })).toBe(room); // a bot
      expect(applyRoomEvent(room, { type, seat: 7 })).toBe(room);
    }
  });

  it("Disconnected and Left: a human seat is not connected", () => {
    for (const type of ["Disconnected", "Left"] as const) {
      const room = playingRoom();
      expect(applyRoomEvent(room, { type, seat: 0 }).seats[0]!.occupant).toEqual({ type: "Human", connected: false });
      expect(applyRoomEvent(room, { type, seat: 2 })).toBe(room);
      expect(applyRoomEvent(room, { type, seat: 9 })).toBe(room);
    }
  });

  it("AutoPlayed and Emote: nothing", () => {
    const room = playingRoom();
    expect(applyRoomEvent(room, { type: "AutoPlayed", seat: 0, action: { type: "Dudo" }, reason: "Away" })).toBe(room);
    expect(applyRoomEvent(room, { type: "Emote", seat: 0, emote: "Fire" })).toBe(room);
  });

  it("NextRoundIn: phase Reveal", () => {
    expect(applyRoomEvent(playingRoom(), { type: "NextRoundIn", ms: 4000 }).phase).toBe("Reveal");
  });

  it("GameOver: phase Finished, one more game played, its results", () => {
    const room = playingRoom();
    const next = applyRoomEvent(room, { type: "GameOver", results });
    expect(next.phase).toBe("Finished");
    expect(next.games_played).toBe(room.games_played + 1);
    expect(next.results).toEqual(results);
    expect(room.results).toBeNull();
  });
});

describe("applyTableEvent", () => {
  it("GameStarted: a new table, whatever came before", () => {
    const fresh = startedTable(4, 5, "cc".repeat(32));
    expect(fresh.seats).toEqual(Array.from({ length: 4 }, () => ({ dice: 5, palifico_used: false, calza_used: false })));
    expect(fresh.total_dice).toBe(20);
    expect(fresh.starting_dice).toBe(5);
    expect(fresh.last_resolution).toBeNull();
    const ev: GameEvent = { type: "GameStarted", seats: 4, starting_dice: 5, commitment: "cc".repeat(32) };
    expect(applyTableEvent(null, ev)).toEqual(fresh);
    expect(applyTableEvent(midTable(), ev)).toEqual(fresh);
  });

  it("any other event without a table: still no table", () => {
    expect(applyTableEvent(null, { type: "BidPlaced", seat: 0, bid: { quantity: 1, face: 2 } })).toBeNull();
    expect(applyTableEvent(null, { type: "GameWon", winner: 0 })).toBeNull();
  });

  it("RoundStarted: dice per seat, the round with its opener on turn, wilds, no bids", () => {
    const table = { ...midTable(), last_resolution: null };
    const next = applyTableEvent(table, { type: "RoundStarted", round: 3, opener: 1, palifico: null, wilds: "BidderOnly", dice: [0, 2, 4] })!;
    expect(next.seats.map((s) => s.dice)).toEqual([0, 2, 4]);
    expect(next.total_dice).toBe(6);
    expect(next.state).toEqual({ phase: "Bidding", round: 3, opener: 1, turn: 1, palifico: null, wilds: "BidderOnly", bids: [] });
    expect(next.seats.every((s) => !s.palifico_used)).toBe(true);
    expect(table.state.phase === "Bidding" && table.state.bids).toHaveLength(2); // not changed in place
  });

  it("RoundStarted with a palifico: that seat has used it", () => {
    const next = applyTableEvent(midTable(), { type: "RoundStarted", round: 4, opener: 2, palifico: 2, wilds: "None", dice: [3, 2, 1] })!;
    expect(next.seats.map((s) => s.palifico_used)).toEqual([false, false, true]);
    expect(next.state).toMatchObject({ palifico: 2, opener: 2, turn: 2, wilds: "None" });
  });

  it("PalificoDeclared: used, and in bidding the round is that seat's palifico with no wilds", () => {
    const table = applyTableEvent(midTable(), { type: "RoundStarted", round: 2, opener: 0, palifico: null, wilds: "AllDice", dice: [1, 4, 3] })!;
    const next = applyTableEvent(table, { type: "PalificoDeclared", seat: 0 })!;
    expect(next.seats[0]!.palifico_used).toBe(true);
    expect(next.state).toEqual({ phase: "Bidding", round: 2, opener: 0, turn: 0, palifico: 0, wilds: "None", bids: [] });
    const over = { ...table, state: { phase: "Over" as const, winner: 1 } };
    const after = applyTableEvent(over, { type: "PalificoDeclared", seat: 0 })!;
    expect(after.state).toEqual({ phase: "Over", winner: 1 });
    expect(after.seats[0]!.palifico_used).toBe(true);
  });

  it("BidPlaced: the bid is added, the turn passes to the next seat with dice", () => {
    const table = midTable(); // Bot 1 (seat 2) on turn
    const next = applyTableEvent(table, { type: "BidPlaced", seat: 2, bid: { quantity: 4, face: 3 } })!;
    expect(next.state.phase === "Bidding" && next.state.bids.at(-1)).toEqual({ seat: 2, bid: { quantity: 4, face: 3 } });
    expect(next.state.phase === "Bidding" && next.state.turn).toBe(0); // wraps
    expect(table.state.phase === "Bidding" && table.state.bids).toHaveLength(2);
    // Seats without dice are skipped.
    const out = { ...table, seats: table.seats.map((s, i) => (i === 0 ? { ...s, dice: 0 } : s)) };
    const skip = applyTableEvent(out, { type: "BidPlaced", seat: 2, bid: { quantity: 4, face: 3 } })!;
    expect(skip.state.phase === "Bidding" && skip.state.turn).toBe(1);
  });

  it("RoundResolved: dice after, calza used by its caller, the resolution kept; the round stays", () => {
    const table = midTable();
    const calza: Resolution = {
      round: 0, call: { type: "Calza", caller: 0 }, bid: { seat: 1, bid: { quantity: 3, face: 3 } },
      hands: [[1, 2, 2, 2, 5], [1, 2, 3, 6, 6], [1, 2, 3, 3, 6]], wilds: "AllDice", count: 6, call_succeeded: false,
      changes: [{ seat: 0, before: 5, after: 4 }],
    };
    const next = applyTableEvent(table, { type: "RoundResolved", ...calza })!;
    expect(next.seats.map((s) => s.dice)).toEqual([4, 5, 5]);
    expect(next.seats.map((s) => s.calza_used)).toEqual([true, false, false]);
    expect(next.total_dice).toBe(14);
    expect(next.last_resolution).toEqual(calza);
    expect(next.last_resolution).not.toHaveProperty("type");
    expect(next.state).toBe(table.state);
    const dudo = { ...calza, call: { type: "Dudo" as const, challenger: 2 }, changes: [{ seat: 2, before: 5, after: 4 }] };
    const d = applyTableEvent(table, { type: "RoundResolved", ...dudo })!;
    expect(d.seats.map((s) => [s.dice, s.calza_used])).toEqual([[5, false], [5, false], [4, false]]);
  });

  it("Forfeited: no dice left", () => {
    const next = applyTableEvent(midTable(), { type: "Forfeited", seat: 1 })!;
    expect(next.seats[1]!.dice).toBe(0);
    expect(next.total_dice).toBe(10);
  });

  it("Eliminated: nothing", () => {
    const table = midTable();
    expect(applyTableEvent(table, { type: "Eliminated", seat: 1 })).toEqual(table);
  });

  it("GameWon: the game is over", () => {
    const next = applyTableEvent(midTable(), { type: "GameWon", winner: 2 })!;
    expect(next.state).toEqual({ phase: "Over", winner: 2 });
  });

  it("events about seats the table does not have change nothing of them", () => {
    const table = midTable();
    expect(applyTableEvent(table, { type: "Forfeited", seat: 7 })).toEqual(table);
    expect(applyTableEvent(table, { type: "PalificoDeclared", seat: 7 })!.seats).toEqual(table.seats);
  });

  it("nextActiveAfter: wraps, skips empty seats, null when nobody has dice", () => {
    const seats = [0, 3, 0, 2].map((dice) => ({ dice, palifico_used: false, calza_used: false }));
    expect(nextActiveAfter(seats, 1)).toBe(3);
    expect(nextActiveAfter(seats, 3)).toBe(1);
    expect(nextActiveAfter(seats, 0)).toBe(1);
    expect(nextActiveAfter(seats.map((s) => ({ ...s, dice: 0 })), 1)).toBeNull();
  });
});

describe("the scripted golden game, replayed from its first event", () => {
  // Each step's table must be the one Rust computed and sent whole in protocol version 1.
  it("reaches every table Rust sent", () => {
    let table: TableView | null = null;
    table = tableAll(table, scripted.started().events);
    expect(table).toEqual(scripted.table("server_update_game_started"));
    table = tableAll(table, scripted.autoPlayed().events);
    expect(table).toEqual(scripted.table("server_update_auto_played"));
    table = tableAll(table, scripted.bid().events);
    expect(table).toEqual(scripted.table("server_update_bid_placed"));
    expect(table).toEqual(midTable());
    table = tableAll(table, scripted.resolved().events);
    table = tableAll(table, scripted.nextRound().events);
    expect(table).toEqual(scripted.table("server_update_next_round"));
  });

  it("reaches every room Rust sent", () => {
    let room: RoomView = { ...playingRoom(), phase: "Lobby" };
    room = roomAll(room, scripted.started().events);
    expect(room).toEqual(scripted.room("server_update_game_started"));
    room = roomAll(roomAll(room, scripted.autoPlayed().events), scripted.bid().events);
    expect(room).toEqual(playingRoom());
    room = roomAll(room, scripted.resolved().events);
    expect(room).toEqual(scripted.room("server_update_round_resolved"));
    room = roomAll(room, scripted.nextRound().events);
    expect(room).toEqual(scripted.room("server_update_next_round"));
  });
});
