// The reveal's timing, shared by the view (the count-up) and the cues (the lost-die sound):
// the cups lift, then the matching dice are counted one by one; the outcome is told when the
// count reaches its total.
import type { Resolution } from "./protocol/generated";

/** The cups lift for this long before the first matching die is counted. */
export const CUPS_MS = 400;

/** Milliseconds between two counted dice in the reveal's count-up. */
export function countStep(res: Resolution, pauseMs: number): number {
  return Math.max(80, Math.min(400, (pauseMs * 0.5) / Math.max(1, res.count)));
}

/** When, after the resolution arrived, the count reaches its total and the outcome is told. */
export function outcomeDelayMs(res: Resolution, pauseMs: number): number {
  return CUPS_MS + countStep(res, pauseMs) * Math.max(0, res.count - 1);
}
