// @vitest-environment happy-dom
// Sound and vibration: which cues the server's messages give, that they play (and buzz where
// the phone allows), that nothing plays when muted, and that the mute switch is remembered.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { VIBRATE_LOST, VIBRATE_TURN, cuesFor, playCues } from "../src/feedback";
import type { Cue, Outputs } from "../src/feedback";
import { MUTE_KEY, loadMuted, saveMuted } from "../src/prefs";
import { CUPS_MS, outcomeDelayMs } from "../src/reveal";
import type { Sound } from "../src/sound";
import { initialState, reduce } from "../src/state";
import type { RoomState } from "../src/state";
import { golden, scripted } from "./fixtures";

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
    const bid = scripted.bid();
    const table = before.table!;
    const after: RoomState = { ...before, table: { ...table, state: { ...table.state, turn: 1 } as typeof table.state } };
    expect(cuesFor(before, after, bid)).toEqual([{ sound: "turn", vibrate: VIBRATE_TURN }]);
    expect(cuesFor(after, after, bid)).toEqual([]); // still my turn: not again
    expect(cuesFor(before, before, bid)).toEqual([]); // someone else's turn
  });

  it("a reveal: the dudo sound; losing your own die: its sound and a buzz when the count tells it", () => {
    const resolved = scripted.resolved(); // seat 2 loses a die
    const watcher = playing(1);
    expect(cuesFor(watcher, reduce(watcher, resolved, 1), resolved)).toEqual([{ sound: "dudo" }]);
    const loser = playing(2);
    const after = reduce(loser, resolved, 1);
    const ev = resolved.events[0]!;
    if (ev.type !== "Game" || ev.event.type !== "RoundResolved") throw new Error("not a resolution");
    const told = outcomeDelayMs(ev.event, after.room!.reveal_pause_ms);
    expect(told).toBeGreaterThan(CUPS_MS);
    expect(cuesFor(loser, after, resolved)).toEqual([{ sound: "dudo" }, { sound: "lose", vibrate: VIBRATE_LOST, delayMs: told }]);
    // With reduced motion the count is told at once, and so is the lost die.
    expect(cuesFor(loser, after, resolved, true)).toEqual([{ sound: "dudo" }, { sound: "lose", vibrate: VIBRATE_LOST, delayMs: 0 }]);
  });

  it("a new round shakes your dice", () => {
    const s = playing(1);
    const next = scripted.nextRound();
    expect(cuesFor(s, s, next).map((c) => c.sound)).toContain("dice");
  });
});

describe("playing cues", () => {
  const cues: Cue[] = [{ sound: "turn", vibrate: VIBRATE_TURN }, { sound: "dudo" }, { sound: "lose", vibrate: VIBRATE_LOST }];

  it("plays each sound and buzzes where allowed", () => {
    const { played, buzzed, out } = outputs();
    playCues(cues, () => false, out);
    expect(played).toEqual(["turn", "dudo", "lose"]);
    expect(buzzed).toEqual([VIBRATE_TURN, VIBRATE_LOST]);
  });

  it("does not buzz before the page has had a tap, nor where there is no Vibration API", () => {
    const idle = outputs({ active: false });
    playCues(cues, () => false, idle.out);
    expect(idle.played).toEqual(["turn", "dudo", "lose"]);
    expect(idle.buzzed).toEqual([]);
    const desktop = outputs({ vibrate: false });
    expect(() => playCues(cues, () => false, desktop.out)).not.toThrow();
    expect(desktop.played).toEqual(["turn", "dudo", "lose"]);
  });

  it("plays a delayed cue when its time comes, unless muted by then", () => {
    vi.useFakeTimers();
    try {
      const later: Cue[] = [{ sound: "dudo" }, { sound: "lose", vibrate: VIBRATE_LOST, delayMs: 1200 }];
      const { played, buzzed, out } = outputs();
      playCues(later, () => false, out);
      expect(played).toEqual(["dudo"]);
      vi.advanceTimersByTime(1199);
      expect(played).toEqual(["dudo"]);
      vi.advanceTimersByTime(1);
      expect(played).toEqual(["dudo", "lose"]);
      expect(buzzed).toEqual([VIBRATE_LOST]);
      let muted = false;
      const quiet = outputs();
      playCues(later, () => muted, quiet.out);
      muted = true; // the player mutes during the reveal
      vi.advanceTimersByTime(1200);
      expect(quiet.played).toEqual(["dudo"]);
      expect(quiet.buzzed).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("plays and buzzes nothing when muted", () => {
    const { played, buzzed, out } = outputs();
    playCues(cues, () => true, out);
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
