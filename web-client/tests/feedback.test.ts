// @vitest-environment happy-dom
// Sound and vibration: which cues the server's messages give, that they play (and buzz where
// the phone allows), that nothing plays when muted, and that the mute switch is remembered.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { VIBRATE_LOST, VIBRATE_TURN, cuesFor, playCues } from "../src/feedback";
import type { Cue, Outputs } from "../src/feedback";
import { MUTE_KEY, loadMuted, saveMuted } from "../src/prefs";
import type { Sound } from "../src/sound";
import { initialState, reduce } from "../src/state";
import type { RoomState } from "../src/state";
import { golden } from "./fixtures";

/** The playing snapshot (seat 2 on turn), seen from `seat`. */
function playing(seat: number): RoomState {
  const s = reduce(initialState, golden("server_snapshot_playing", "Snapshot"));
  return { ...s, mySeat: seat, you: { ...s.you!, seat } };
}

function outputs(opts: { vibrate?: boolean; active?: boolean } = {}) {
  const played: Sound[] = [];
  const buzzed: Array<number | number[]> = [];
  const nav: Outputs["navigator"] = opts.vibrate === false
    ? {} as Outputs["navigator"]
    : { vibrate: (p: number | number[]) => { buzzed.push(p); return true; }, userActivation: { hasBeenActive: opts.active ?? true } };
  return { played, buzzed, out: { play: (s: Sound) => played.push(s), navigator: nav } satisfies Outputs };
}

describe("cues", () => {
  it("your turn: a sound and a buzz, once, when the turn arrives", () => {
    const before = playing(1); // seat 2 on turn
    const bid = golden("server_update_bid_placed", "Update");
    const table = before.table!;
    const after: RoomState = { ...before, table: { ...table, state: { ...table.state, turn: 1 } as typeof table.state } };
    expect(cuesFor(before, after, bid)).toEqual([{ sound: "turn", vibrate: VIBRATE_TURN }]);
    expect(cuesFor(after, after, bid)).toEqual([]); // still my turn: not again
    expect(cuesFor(before, before, bid)).toEqual([]); // someone else's turn
  });

  it("a reveal: the dudo sound; losing your own die: its sound and a buzz", () => {
    const resolved = golden("server_update_round_resolved", "Update"); // seat 2 loses a die
    const watcher = playing(1);
    expect(cuesFor(watcher, reduce(watcher, resolved, 1), resolved)).toEqual([{ sound: "dudo" }]);
    const loser = playing(2);
    expect(cuesFor(loser, reduce(loser, resolved, 1), resolved)).toEqual([{ sound: "lose", vibrate: VIBRATE_LOST }]);
  });

  it("a new round shakes your dice", () => {
    const s = playing(1);
    const next = golden("server_update_next_round", "Update");
    expect(cuesFor(s, s, next).map((c) => c.sound)).toContain("dice");
  });
});

describe("playing cues", () => {
  const cues: Cue[] = [{ sound: "turn", vibrate: VIBRATE_TURN }, { sound: "dudo" }, { sound: "lose", vibrate: VIBRATE_LOST }];

  it("plays each sound and buzzes where allowed", () => {
    const { played, buzzed, out } = outputs();
    playCues(cues, false, out);
    expect(played).toEqual(["turn", "dudo", "lose"]);
    expect(buzzed).toEqual([VIBRATE_TURN, VIBRATE_LOST]);
  });

  it("does not buzz before the page has had a tap, nor where there is no Vibration API", () => {
    const idle = outputs({ active: false });
    playCues(cues, false, idle.out);
    expect(idle.played).toEqual(["turn", "dudo", "lose"]);
    expect(idle.buzzed).toEqual([]);
    const desktop = outputs({ vibrate: false });
    expect(() => playCues(cues, false, desktop.out)).not.toThrow();
    expect(desktop.played).toEqual(["turn", "dudo", "lose"]);
  });

  it("plays and buzzes nothing when muted", () => {
    const { played, buzzed, out } = outputs();
    playCues(cues, true, out);
    expect(played).toEqual([]);
    expect(buzzed).toEqual([]);
  });
});

describe("the mute switch", () => {
  beforeEach(() => localStorage.clear());

  it("is off by default and remembered across loads", () => {
    expect(loadMuted()).toBe(false);
    saveMuted(true);
    expect(localStorage.getItem(MUTE_KEY)).toBe("1");
    expect(loadMuted()).toBe(true);
    saveMuted(false);
    expect(loadMuted()).toBe(false);
  });

  it("survives storage that refuses (private mode): not kept, no error", () => {
    const spy = vi.spyOn(Storage.prototype, "setItem").mockImplementation(() => { throw new Error("quota"); });
    expect(() => saveMuted(true)).not.toThrow();
    spy.mockRestore();
  });
});
