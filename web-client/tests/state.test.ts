import { describe, expect, it } from "vitest";
import { clockRemaining, initialState, reduce, turnOf } from "../src/state";
import type { RoomState } from "../src/state";
import { gameOver, golden, scripted, update } from "./fixtures";

const playing = (): RoomState => reduce(initialState, golden("server_snapshot_playing", "Snapshot"), 1000);

describe("reducer", () => {
  it("ignores updates before the first snapshot", () => {
    expect(reduce(initialState, scripted.bid())).toBe(initialState);
    expect(reduce(initialState, scripted.nextRound())).toBe(initialState);
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

  it("applies the next update's events and ignores stale ones", () => {
    const s = playing();
    const u = scripted.resolved();
    expect(u.version).toBe(13);
    const s2 = reduce(s, u, 2000);
    expect(s2.version).toBe(13);
    expect(s2.room).toEqual(scripted.room("server_update_round_resolved"));
    expect(s2.room?.phase).toBe("Reveal");
    // The called round stays on the table, with the new dice counts and the resolution.
    expect(s2.table?.state).toEqual(s.table?.state);
    expect(s2.table?.seats.map((x) => x.dice)).toEqual([5, 5, 4]);
    expect(s2.table?.last_resolution).toEqual(s2.reveal);
    expect(s2.reveal).not.toBeNull();
    expect(s2.clock).toEqual(u.clock);
    expect(s2.you).toBe(s.you); // no view in the update: the old one stays
    expect(reduce(s2, u)).toBe(s2); // stale now
    expect(reduce(s2, scripted.bid())).toBe(s2);
  });

  it("flags a version gap for resync without applying it", () => {
    const s = playing();
    const u = scripted.nextRound(); // version 14 after 12
    const s2 = reduce(s, u);
    expect(s2.needsResync).toBe(true);
    expect(s2.version).toBe(12);
    expect(s2.table).toEqual(s.table);
  });

  it("plays a round: reveal, next round with this seat's new hand in its frame", () => {
    let s = playing();
    s = reduce(s, scripted.resolved());
    const res = s.reveal;
    const resolvedEvent = scripted.resolved().events.find((e) => e.type === "Game");
    expect(resolvedEvent?.type === "Game" && resolvedEvent.event.type).toBe("RoundResolved");
    expect(res?.count).toBeTypeOf("number");
    const next = scripted.nextRound();
    s = reduce(s, next);
    expect(s.version).toBe(14);
    expect(s.room?.phase).toBe("Playing");
    expect(s.table).toEqual(scripted.table("server_update_next_round"));
    expect(s.you).toEqual(next.you);
    expect(s.mySeat).toBe(next.you!.seat);
  });

  it("takes the view from the update when there is one, keeps the old one otherwise", () => {
    const s = playing();
    const you = { ...s.you!, hand: [2, 2, 6] };
    expect(reduce(s, update(13, [], { you })).you).toEqual(you);
    expect(reduce(s, update(13, [])).you).toBe(s.you);
  });

  it("an update's ack is no state of its own (the page treats it as the request's answer)", () => {
    const s = playing();
    const plain = reduce(s, update(13, [{ type: "Emote", seat: 0, emote: "Laugh" }]), 5);
    const acked = reduce(s, update(13, [{ type: "Emote", seat: 0, emote: "Laugh" }], { ack: 4 }), 5);
    expect(acked).toEqual(plain);
  });

  it("starts a game from the lobby: the new table, phase and commitment from the events", () => {
    const lobby = reduce(initialState, golden("server_snapshot_lobby", "Snapshot"));
    const start = scripted.started();
    const s = reduce(lobby, { ...start, version: lobby.version! + 1 });
    expect(s.room?.phase).toBe("Playing");
    const ev = start.events.find((e) => e.type === "Game" && e.event.type === "GameStarted");
    expect(ev?.type === "Game" && ev.event.type === "GameStarted" && s.commitment === ev.event.commitment).toBe(true);
    expect(s.table).toEqual(scripted.table("server_update_game_started"));
    expect(s.log.map((e) => e.key)).toEqual(["log.gameStarted"]);
  });

  it("a new game replaces the last one's table and its reveal", () => {
    let s = reduce(playing(), scripted.resolved());
    expect(s.reveal).not.toBeNull();
    s = reduce(s, { ...scripted.started(), version: 14 });
    expect(s.reveal).toBeNull();
    expect(s.table).toEqual(scripted.table("server_update_game_started"));
  });

  it("resyncs instead of applying a game event when there is no game", () => {
    const lobby = reduce(initialState, golden("server_snapshot_lobby", "Snapshot"));
    const s = reduce(lobby, { ...scripted.bid(), version: lobby.version! + 1 });
    expect(s.needsResync).toBe(true);
    expect(s.version).toBe(lobby.version);
    expect(s.table).toBeNull();
  });

  it("applies HostChanged, seats taken and freed, rules, options, spectators and presence", () => {
    const s = playing();
    expect(reduce(s, update(13, [{ type: "HostChanged", seat: 1 }])).room?.host).toBe(1);
    const lobby = reduce(initialState, golden("server_snapshot_lobby", "Snapshot"));
    const v = lobby.version! + 1;
    const rules = { ...lobby.room!.rules, starting_dice: 4 };
    const s2 = reduce(lobby, update(v, [
      { type: "SeatTaken", seat: lobby.room!.seats.length, name: "Zoë", occupant: { type: "Human", connected: true } },
      { type: "RulesChanged", rules },
      { type: "OptionsChanged", options: { forfeit_after_secs: 60 } },
      { type: "Spectators", count: 2 },
    ]));
    expect(s2.room?.seats.at(-1)?.name).toBe("Zoë");
    expect(s2.room?.rules).toEqual(rules);
    expect(s2.room?.options.forfeit_after_secs).toBe(60);
    expect(s2.room?.spectators).toBe(2);
    expect(s2.log.map((e) => e.key)).toEqual(["log.joined", "log.rulesChanged"]);
    const s3 = reduce(s2, update(v + 1, [{ type: "SeatFreed", seat: 0, name: lobby.room!.seats[0]!.name }]));
    expect(s3.room?.seats.map((x) => x.name)).toEqual(s2.room?.seats.slice(1).map((x) => x.name));
    const away = reduce(s, update(13, [{ type: "Disconnected", seat: 0 }]));
    expect(away.room?.seats[0]?.occupant).toEqual({ type: "Human", connected: false });
    expect(reduce(away, update(14, [{ type: "Reconnected", seat: 0 }])).room?.seats[0]?.occupant).toEqual({ type: "Human", connected: true });
  });

  it("logs auto-played turns and forfeits and reads them out", () => {
    const s = playing();
    const u = update(13, [
      { type: "AutoPlayed", seat: 1, action: { type: "Bid", quantity: 2, face: 5 }, reason: "TimeLimit" },
      { type: "Game", event: { type: "Forfeited", seat: 1 } },
    ]);
    const s2 = reduce(s, u, 5000);
    const name = `\u2068${s.room!.seats[1]!.name}\u2069`; // bidi-isolated in sentences
    expect(s2.log.map((e) => e.key)).toEqual(["log.autoTime", "log.forfeited"]);
    expect(s2.announcement?.text).toContain(`the room bid 2 × fives for ${name}`);
    expect(s2.announcement?.text).toContain(`${name} was away too long and forfeited`);
    expect(s2.table?.seats[1]?.dice).toBe(0);
  });

  it("says a player left the game, not that they were away, when they leave", () => {
    const s = playing();
    const u = update(13, [
      { type: "Left", seat: 1 },
      { type: "Game", event: { type: "Forfeited", seat: 1 } },
    ]);
    const s2 = reduce(s, u, 5000);
    const name = `\u2068${s.room!.seats[1]!.name}\u2069`;
    expect(s2.log.map((e) => e.key)).toEqual(["log.leftGame"]);
    expect(s2.announcement?.text).toContain(`${name} left the game and forfeited`);
    expect(s2.announcement?.text).not.toContain("away too long");
    expect(s2.room?.seats[1]?.occupant).toEqual({ type: "Human", connected: false });
    expect(s2.table?.seats[1]?.dice).toBe(0);
  });

  it("reads the round's result out and keeps it until the next", () => {
    const s = reduce(playing(), scripted.resolved(), 2000);
    expect(s.announcement?.text).toMatch(/called (dudo|calza)/);
    expect(s.revealAt).toBe(2000);
    const next = reduce(s, scripted.nextRound());
    expect(next.reveal).toEqual(s.reveal);
  });

  it("records emotes in the feed", () => {
    const s = playing();
    const u = update(13, [{ type: "Emote", seat: 0, emote: "Laugh" }], { clock: s.clock });
    const s2 = reduce(s, u);
    expect(s2.emotes).toHaveLength(1);
    expect(s2.emotes[0]?.emote).toBe("Laugh");
    expect(s2.emotes[0]?.name).toBe(s.room?.seats[0]?.name);
  });

  it("ends a game with results and announces the winner", () => {
    const s = playing();
    const { msg, results } = gameOver(13);
    const s2 = reduce(s, msg);
    expect(s2.room?.phase).toBe("Finished");
    expect(s2.room?.games_played).toBe(s.room!.games_played + 1);
    expect(s2.room?.results).toEqual(results);
    expect(s2.table?.state).toEqual({ phase: "Over", winner: results.winner });
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
