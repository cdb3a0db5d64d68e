// Shared small pieces: dice, names.
import { h } from "../dom";
import type { Face } from "../protocol/generated";

const PIPS = ["", "⚀", "⚁", "⚂", "⚃", "⚄", "⚅"];

export function die(face: Face, match?: boolean): HTMLElement {
  return h("span", {
    class: match ? "die match" : "die", testid: "die", "data-face": face,
    "data-match": match === undefined ? null : String(match),
    role: "img", "aria-label": match ? `${face} (counted)` : String(face),
  }, h("span", { "aria-hidden": "true" }, face === 1 ? "★" : String(face)), h("span", { class: "pip", "aria-hidden": "true" }, PIPS[face] ?? ""));
}
