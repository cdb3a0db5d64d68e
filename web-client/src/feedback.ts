// What a player hears and feels: which cues a server message gives (pure, from the state
// before and after it), and playing them: a sound unless muted, and a vibration where the
// phone allows it (the Vibration API exists and the page has had a tap). The mute switch
// silences both and is remembered (prefs.ts).
import type { ServerMessage } from "./protocol/generated";
import { outcomeDelayMs } from "./reveal";
import type { Sound } from "./sound";
import { turnOf } from "./state";
import type { RoomState } from "./state";

export interface Cue {
  sound: Sound;
  /** A vibration pattern (ms), for the cues a phone should also buzz for. */
  vibrate?: number | number[];
  /** Played this long from now (a lost die: when the reveal's count tells it). */
  delayMs?: number;
}

export const VIBRATE_TURN = [60, 40, 60];
export const VIBRATE_LOST = 120;

/** Whether this player is seated with dice and on turn in a running round. */
export function isMyTurn(s: RoomState): boolean {
  return s.room?.phase === "Playing" && s.mySeat !== null && s.you !== null && turnOf(s.table) === s.mySeat;
}

/** The cues of one message: dice shaken at a round's start, the call at a reveal and, when
 * the die lost was yours, its sound and a buzz as the count-up tells it (at once with
 * reduced motion), your turn (with a buzz), your win. */
export function cuesFor(before: RoomState, after: RoomState, msg: ServerMessage, reducedMotion = false): Cue[] {
  const out: Cue[] = [];
  if (msg.type !== "Update") return out;
  const me = after.mySeat;
  for (const ev of msg.events) {
    if (ev.type !== "Game") continue;
    const g = ev.event;
    if (g.type === "RoundStarted" && me !== null && (g.dice[me] ?? 0) > 0) out.push({ sound: "dice" });
    if (g.type === "RoundResolved") {
      out.push({ sound: "dudo" });
      if (g.changes.some((c) => c.seat === me && c.after < c.before)) {
        const delayMs = reducedMotion ? 0 : outcomeDelayMs(g, after.room?.reveal_pause_ms ?? 0);
        out.push({ sound: "lose", vibrate: VIBRATE_LOST, delayMs });
      }
    }
  }
  if (isMyTurn(after) && !isMyTurn(before)) out.push({ sound: "turn", vibrate: VIBRATE_TURN });
  const results = after.room?.results;
  if (after.room?.phase === "Finished" && before.room?.phase !== "Finished" && results && results.winner === me) out.push({ sound: "win" });
  return out;
}

/** Where cues go: the WebAudio player and the browser's navigator. */
export interface Outputs {
  play(sound: Sound): void;
  navigator: Vibrator | undefined;
}

/** The part of `navigator` that vibrates (absent on desktops and iOS Safari). */
export interface Vibrator {
  vibrate?: (pattern: number | number[]) => boolean;
  userActivation?: { readonly hasBeenActive: boolean };
}

/** Plays cues unless muted. Vibration only where allowed: the API exists and (where the
 * browser tells) the page has had a user gesture, as Chrome requires. */
export function playCues(cues: Cue[], muted: () => boolean, out: Outputs): void {
  for (const cue of cues) {
    if (cue.delayMs) setTimeout(() => playCue(cue, muted(), out), cue.delayMs);
    else playCue(cue, muted(), out);
  }
}

function playCue(cue: Cue, muted: boolean, out: Outputs): void {
  if (muted) return;
  out.play(cue.sound);
  const nav = out.navigator;
  if (cue.vibrate !== undefined && typeof nav?.vibrate === "function" && nav.userActivation?.hasBeenActive !== false) {
    try { nav.vibrate(cue.vibrate); } catch { /* not allowed here */ }
  }
}
