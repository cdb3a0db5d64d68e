import { describe, expect, it } from "vitest";
import { clockRemaining, initialState, reduce, turnOf } from "../src/state";
import type { RoomState } from "../src/state";
import { golden } from "./fixtures";

const playing = (): RoomState => reduce(initialState, golden("server_snapshot_playing", "Snapshot"), 1000);

describe("reducer", () => {
  it("ignores updates and privates before the first snapshot", () => {
    const u = golden("server_update_bid_placed", "Update");
    expect(reduce(initialState, u)).toBe(initialState);
    expect(reduce(initialState, golden("server_private", "Private"))).toBe(initialState);
  });

  it("takes everything from a snapshot", () => {
    const snap = golden("server_snapshot_playing", "Snapshot");
    const s = playing();
    expect(s.version).toBe(snap.version);
    expect(s.room).toEqual(snap.room);
    expect(s.table).toEqual(snap.table);
    expect(s.you).toEqual(snap.you);
    expect(s.clock).toEqual(snap.clock);
    expect(s.commitment).toBe(snap.table?.commitment);
    expect(s.needsResync).toBe(false);
  });

  it("applies the next update and ignores stale ones", () => {
    const s = playing();
    const u = golden("server_update_round_resolved", "Update");
    expect(u.version).toBe(13);
    const s2 = reduce(s, u, 2000);
    expect(s2.version).toBe(13);
    expect(s2.room?.phase).toBe("Reveal");
    expect(s2.table).toEqual(s.table); // table: null keeps the old one
    expect(s2.reveal).not.toBeNull();
    expect(s2.clock).toEqual(u.clock);
    expect(reduce(s2, u)).toBe(s2); // stale now
    const stale = { ...golden("server_update_bid_placed", "Update"), version: 12 };
    expect(reduce(s2, stale)).toBe(s2);
  });

  it("flags a version gap for resync without applying it", () => {
    const s = playing();
    const u = { ...golden("server_update_next_round", "Update"), version: 14 };
    const s2 = reduce(s, u);
    expect(s2.needsResync).toBe(true);
    expect(s2.version).toBe(12);
    expect(s2.table).toEqual(s.table);
  });

  it("plays a round: reveal, next round, private", () => {
    let s = playing();
    s = reduce(s, golden("server_update_round_resolved", "Update"));
    const res = s.reveal;
    const resolvedEvent = golden("server_update_round_resolved", "Update").events.find((e) => e.type === "Game");
    expect(resolvedEvent?.type === "Game" && resolvedEvent.event.type).toBe("RoundResolved");
    expect(res?.count).toBeTypeOf("number");
    const next = golden("server_update_next_round", "Update");
    s = reduce(s, next);
    expect(s.version).toBe(14);
    expect(s.room?.phase).toBe("Playing");
    expect(s.table).toEqual(next.table);
    const priv = golden("server_private", "Private");
    s = reduce(s, priv);
    expect(s.you).toEqual(priv.you);
    expect(s.mySeat).toBe(priv.you.seat);
  });

  it("ignores a stale private and resyncs on a future one", () => {
    const s = playing();
    const priv = golden("server_private", "Private");
    expect(reduce(s, { ...priv, version: 11 })).toBe(s);
    expect(reduce(s, { ...priv, version: 13 }).needsResync).toBe(true);
    expect(reduce(s, { ...priv, version: 12 }).you).toEqual(priv.you);
  });

  it("starts a game without a room: phase and commitment from the events", () => {
    const lobby = reduce(initialState, golden("server_snapshot_lobby", "Snapshot"));
    const start = golden("server_update_game_started", "Update");
    const s = reduce(lobby, { ...start, version: lobby.version! + 1, room: null });
    expect(s.room?.phase).toBe("Playing");
    const ev = start.events.find((e) => e.type === "Game" && e.event.type === "GameStarted");
    expect(ev?.type === "Game" && ev.event.type === "GameStarted" && s.commitment === ev.event.commitment).toBe(true);
    expect(s.table).toEqual(start.table);
  });

  it("applies HostChanged without a room", () => {
    const s = playing();
    const u = { type: "Update" as const, version: 13, events: [{ type: "HostChanged" as const, seat: 1 }], room: null, table: null, clock: null };
    expect(reduce(s, u).room?.host).toBe(1);
  });

  it("logs auto-played turns and forfeits and reads them out", () => {
    const s = playing();
    const u = {
      type: "Update" as const, version: 13, room: null, table: null, clock: null,
      events: [
        { type: "AutoPlayed" as const, seat: 1, action: { type: "Bid" as const, quantity: 2, face: 5 }, reason: "TimeLimit" as const },
        { type: "Game" as const, event: { type: "Forfeited" as const, seat: 1 } },
      ],
    };
    const s2 = reduce(s, u, 5000);
    const name = `\u2068${s.room!.seats[1]!.name}\u2069`; // bidi-isolated in sentences
    expect(s2.log.map((e) => e.key)).toEqual(["log.autoTime", "log.forfeited"]);
    expect(s2.announcement?.text).toContain(`the room bid 2 × fives for ${name}`);
    expect(s2.announcement?.text).toContain(`${name} was away too long and forfeited`);
  });

  it("reads the round's result out and keeps it until the next", () => {
    const s = reduce(playing(), golden("server_update_round_resolved", "Update"), 2000);
    expect(s.announcement?.text).toMatch(/called (dudo|calza)/);
    expect(s.revealAt).toBe(2000);
    const next = reduce(s, golden("server_update_next_round", "Update"));
    expect(next.reveal).toEqual(s.reveal);
  });

  it("records emotes in the feed", () => {
    const s = playing();
    const u = { type: "Update" as const, version: 13, events: [{ type: "Emote" as const, seat: 0, emote: "Laugh" as const }], room: null, table: null, clock: s.clock };
    const s2 = reduce(s, u);
    expect(s2.emotes).toHaveLength(1);
    expect(s2.emotes[0]?.emote).toBe("Laugh");
    expect(s2.emotes[0]?.name).toBe(s.room?.seats[0]?.name);
  });

  it("ends a game with results and announces the winner", () => {
    const s = playing();
    const over = golden("server_update_game_over", "Update");
    const s2 = reduce(s, { ...over, version: 13 });
    expect(s2.room?.phase).toBe("Finished");
    expect(s2.room?.results).toEqual(over.room?.results);
    const results = over.room!.results!;
    expect(s2.announcement?.text).toContain(results.names[results.winner]!);
  });

  it("announces turn changes", () => {
    const s = playing();
    const turn = turnOf(s.table);
    expect(turn).not.toBeNull();
    expect(s.announcement?.text).toMatch(/turn/i);
  });

  it("handles Seated, Moved, Rejected and Closing", () => {
    let s = reduce(initialState, golden("server_seated", "Seated"));
    const seated = golden("server_seated", "Seated");
    expect(s.mySeat).toBe(seated.seat);
    expect(s.seatToken).toBe(seated.token);
    const moved = golden("server_moved", "Moved");
    s = reduce(s, moved);
    expect(s.mySeat).toBe(moved.seat);
    const rej = golden("server_rejected_bid_too_low", "Rejected");
    s = reduce(s, rej);
    expect(s.error?.text).toMatch(/higher than/); // plain words from the rule error, not the server's text
    const again = reduce(s, rej);
    expect(again.error?.seq).toBe((s.error?.seq ?? 0) + 1);
    const closing = golden("server_closing", "Closing");
    expect(reduce(s, closing).closing).toBe(closing.reason);
    expect(reduce(s, golden("server_ack", "Ack"))).toBe(s);
  });

  it("counts the clock down from when it arrived", () => {
    const s = playing();
    if (!s.clock) {
      expect(clockRemaining(s, 5000)).toBeNull();
      return;
    }
    expect(clockRemaining(s, 1000)).toBe(s.clock.remaining_ms);
    expect(clockRemaining(s, 1500)).toBe(Math.max(0, s.clock.remaining_ms - 500));
    expect(clockRemaining(s, 1e9)).toBe(0);
  });
});
