// Shared small pieces: SVG dice with pips, player colours and avatars.
import { h } from "../dom";
import type { VNode } from "../dom";
import { faceWord, t } from "../i18n";

/** Pip centres per face on a 100×100 die. */
const PIPS: Record<number, Array<[number, number]>> = {
  1: [[50, 50]],
  2: [[28, 28], [72, 72]],
  3: [[28, 28], [50, 50], [72, 72]],
  4: [[28, 28], [72, 28], [28, 72], [72, 72]],
  5: [[28, 28], [72, 28], [50, 50], [28, 72], [72, 72]],
  6: [[28, 25], [72, 25], [28, 50], [72, 50], [28, 75], [72, 75]],
};

/** The die's face as SVG: a rounded square with pips; the ace has one big red pip and a star. */
export function dieSvg(face: number): VNode {
  const pips = PIPS[face] ?? [];
  return h("svg", { viewBox: "0 0 100 100", class: "die-svg", "aria-hidden": "true", focusable: "false" },
    h("rect", { x: 4, y: 4, width: 92, height: 92, rx: 18, class: "die-body" }),
    face === 1
      ? [h("circle", { cx: 50, cy: 50, r: 17, class: "pip ace-pip" }),
         h("path", { d: "M50 12l4 9 10 1-7.5 6.5 2.5 9.5-9-5.5-9 5.5 2.5-9.5-7.5-6.5 10-1z", class: "ace-star", transform: "translate(26 -2) scale(0.5)" })]
      : pips.map(([cx, cy]) => h("circle", { cx, cy, r: 9, class: "pip" })));
}

/** A die in a hand: `data-testid="die"` with `data-face` (and `data-match` in a reveal). */
export function die(face: number, opts: { match?: boolean; delayMs?: number; key?: string | number } = {}): VNode {
  const { match } = opts;
  const label = match ? t("die.counted", { face: faceWord(face, 1) }) : faceWord(face, 1);
  return h("span", {
    key: opts.key,
    class: `die${face === 1 ? " ace" : ""}${match ? " match" : ""}${match === false ? " nomatch" : ""}`,
    testid: "die", "data-face": face,
    "data-match": match === undefined ? null : String(match),
    role: "img", "aria-label": label,
    style: opts.delayMs ? { animationDelay: `${opts.delayMs}ms` } : undefined,
  }, dieSvg(face));
}

/** A die drawn only as a picture (bid faces, the current bid): never `data-testid="die"`. */
export function faceIcon(face: number, cls = "face-icon"): VNode {
  return h("span", { class: `${cls}${face === 1 ? " ace" : ""}`, "aria-hidden": "true" }, dieSvg(face));
}

/** Ten colours that keep white initials readable (contrast ≥ 4.5:1). */
export const SEAT_COLOURS = ["#b3261e", "#1f5fa8", "#1e7a3c", "#7a3fa0", "#a34d00", "#00707a", "#8a3366", "#4f5b12", "#5b4a9e", "#6d4c41"];

export function seatColour(seat: number): string {
  return SEAT_COLOURS[seat % SEAT_COLOURS.length] ?? "#555";
}

export function initial(name: string): string {
  const first = [...name.trim()][0] ?? "?";
  return first.toLocaleUpperCase();
}

export function avatar(seat: number, name: string, extra?: VNode | null): VNode {
  return h("span", { class: "avatar", style: { backgroundColor: seatColour(seat) }, "aria-hidden": "true" },
    h("span", { class: "initial" }, initial(name)), extra ?? null);
}

/** A dice cup, drawn (no emoji font needed). */
export function cupIcon(): VNode {
  return h("svg", { class: "cup", viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false" },
    h("path", { d: "M5 4h14l-2 16H7z", fill: "#8a5a2b", stroke: "#fff", "stroke-width": 1.5, "stroke-linejoin": "round" }),
    h("path", { d: "M6 8h12", stroke: "#fff", "stroke-width": 1.2 }));
}

/** A speaker, with sound waves when on. */
export function speakerIcon(on: boolean): VNode {
  return h("svg", { class: "icon", viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false" },
    h("path", { d: "M4 9h4l5-4v14l-5-4H4z", fill: "currentColor" }),
    on
      ? h("path", { d: "M16 8.5a5 5 0 0 1 0 7M18.5 6a8.5 8.5 0 0 1 0 12", fill: "none", stroke: "currentColor", "stroke-width": 2, "stroke-linecap": "round" })
      : h("path", { d: "M16 9l5 6M21 9l-5 6", stroke: "currentColor", "stroke-width": 2, "stroke-linecap": "round" }));
}
