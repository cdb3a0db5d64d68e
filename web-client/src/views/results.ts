// Results of the last game, rematch and the seed check.
import { h } from "../dom";
import type { GameResults, Request } from "../protocol/generated";
import type { RoomState } from "../state";

export interface ResultsUi { verifyOpen: boolean; verifyResult: "match" | "mismatch" | null }

export interface ResultsCtx {
  state: RoomState;
  results: GameResults;
  ui: ResultsUi;
  send(req: Request): void;
  verify(): void;
}

export function resultsView(ctx: ResultsCtx): HTMLElement {
  const { results, state } = ctx;
  const room = state.room;
  const isHost = state.mySeat !== null && room?.host === state.mySeat;
  const name = (seat: number): string => results.names[seat] ?? `seat ${seat + 1}`;
  const place = (seat: number): number => results.placings.indexOf(seat) + 1;
  const published = state.commitment ?? results.commitment;
  return h("section", { testid: "results", class: "card results", "aria-label": "results" },
    h("h2", null, "🏆 ", h("span", { testid: "winner" }, name(results.winner)), " wins!"),
    h("p", { class: "muted" }, `Game ${results.game}, ${results.rounds} rounds.`),
    h("div", { class: "scroll" },
      h("table", { class: "stats" },
        h("thead", null, h("tr", null,
          ["#", "Player", "Bids", "Dudos (won)", "Calzas (won)", "Dice lost", "Dice gained", "Rounds"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", null,
          results.stats.map((s, i) => h("tr", { testid: `stats-row-${i}` },
            h("td", null, String(place(i) || "")),
            h("th", { scope: "row" }, name(i)),
            h("td", null, String(s.bids)),
            h("td", null, `${s.dudos} (${s.dudos_won})`),
            h("td", null, `${s.calzas} (${s.calzas_won})`),
            h("td", null, String(s.dice_lost)),
            h("td", null, String(s.dice_gained)),
            h("td", null, String(s.rounds_played))))))),
    h("div", { class: "row" },
      isHost ? h("button", { type: "button", testid: "rematch-button", class: "primary", onclick: () => ctx.send({ type: "Start" }) }, "Rematch") : null,
      h("button", { type: "button", testid: "verify-button", "aria-expanded": String(ctx.ui.verifyOpen), onclick: () => ctx.verify() }, "Verify dice")),
    ctx.ui.verifyOpen
      ? h("div", { testid: "verify-panel", class: "verify" },
          h("p", null, "The dice came from a seed whose SHA-256 was published when the game started."),
          h("dl", null,
            h("dt", null, "Seed"), h("dd", null, h("code", { testid: "verify-seed" }, results.seed)),
            h("dt", null, "Published commitment"), h("dd", null, h("code", { testid: "verify-commitment" }, published)),
            h("dt", null, "SHA-256(seed)"), h("dd", null,
              h("strong", { testid: "verify-result", class: ctx.ui.verifyResult ?? "" }, ctx.ui.verifyResult ?? "checking…"))))
      : null);
}
