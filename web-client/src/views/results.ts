// End of a game: the winner, places, stats that fit a phone, rematch and the seed check.
import { h } from "../dom";
import type { VNode } from "../dom";
import { t, tParts } from "../i18n";
import type { GameResults, Request } from "../protocol/generated";
import type { RoomState } from "../state";
import type { VerifyReport } from "../fairplay";
import { avatar } from "./parts";

export interface ResultsUi { verifyOpen: boolean; verifyResult: VerifyReport | null }

export interface ResultsCtx {
  state: RoomState;
  results: GameResults;
  ui: ResultsUi;
  reducedMotion: boolean;
  send(req: Request): void;
  verify(): void;
}

const COLUMNS = ["bids", "dudos", "calzas", "lost", "gained", "rounds"] as const;

export function resultsView(ctx: ResultsCtx): VNode {
  const { results, state } = ctx;
  const room = state.room;
  const isHost = state.mySeat !== null && room?.host === state.mySeat;
  const name = (seat: number): string => results.names[seat] ?? t("seat.n", { n: seat + 1 });
  const iWon = state.mySeat === results.winner && room?.seats[results.winner]?.name === results.names[results.winner];
  return h("section", { testid: "results", class: "card results", "aria-labelledby": "results-title" },
    h("div", { class: `winner-moment${ctx.reducedMotion ? "" : " celebrate"}` },
      h("span", { class: "trophy", "aria-hidden": "true" }, "🏆"),
      h("h2", { id: "results-title" },
        tParts("results.wins", { name: h("span", { testid: "winner" }, name(results.winner)) })),
      iWon ? h("p", { class: "you-won" }, t("results.youWin")) : null),
    h("p", { class: "muted" }, t("results.summary", { game: results.game, count: results.rounds })),
    h("ol", { class: "places", testid: "places" },
      results.placings.map((seat, i) => h("li", { key: seat, testid: `place-${i + 1}` },
        h("span", { class: "place-n" }, t("results.place", { n: i + 1 })),
        avatar(seat, name(seat)),
        h("span", { class: "name" }, name(seat))))),
    h("div", { class: "stats-wrap", role: "region", "aria-label": t("results.stats"), tabindex: 0 },
      h("table", { class: "stats" },
        h("caption", { class: "sr-only" }, t("results.stats")),
        h("thead", null, h("tr", null,
          h("th", { scope: "col" }, t("results.player")),
          COLUMNS.map((c) => h("th", { scope: "col", key: c }, t(`stats.${c}`))))),
        h("tbody", null,
          results.stats.map((s, i) => h("tr", { key: i, testid: `stats-row-${i}` },
            h("th", { scope: "row" }, name(i)),
            h("td", { "data-label": t("stats.bids") }, String(s.bids)),
            h("td", { "data-label": t("stats.dudos") }, `${s.dudos_won}/${s.dudos}`),
            h("td", { "data-label": t("stats.calzas") }, `${s.calzas_won}/${s.calzas}`),
            h("td", { "data-label": t("stats.lost") }, String(s.dice_lost)),
            h("td", { "data-label": t("stats.gained") }, String(s.dice_gained)),
            h("td", { "data-label": t("stats.rounds") }, String(s.rounds_played))))))),
    h("p", { class: "muted small" }, t("results.statsNote")),
    h("div", { class: "row" },
      isHost
        ? h("button", { type: "button", testid: "rematch-button", class: "primary big", onclick: () => ctx.send({ type: "Start" }) }, t("results.rematch"))
        : h("p", { testid: "waiting-host", class: "waiting" }, t("results.waitingHost")),
      h("button", { type: "button", testid: "verify-button", "aria-expanded": String(ctx.ui.verifyOpen), onclick: () => ctx.verify() }, t("results.verify"))),
    ctx.ui.verifyOpen ? verifyPanel(results, ctx.ui.verifyResult) : null);
}

/** One check's line: ✓, ✗ or ?, and what it means. */
function check(testid: string, ok: boolean | null, key: string): VNode {
  const mark = ok === null ? "?" : ok ? "✓" : "✗";
  const cls = ok === null ? "unseen" : ok ? "fair" : "mismatch";
  return h("li", { testid, class: cls, "data-ok": ok === null ? "unknown" : String(ok) },
    h("span", { class: "mark", "aria-hidden": "true" }, mark), " ", t(key));
}

/** The seed check: what this browser saw at the start against the game's record. */
function verifyPanel(results: GameResults, report: VerifyReport | null): VNode {
  if (!report) {
    return h("div", { testid: "verify-panel", class: "verify", "aria-busy": "true" },
      h("p", null, t("results.verifyHelp")),
      h("p", null, h("strong", { testid: "verify-result" }, t("results.checking"))));
  }
  const seenKey = report.seenMatches === null ? "results.check.seenUnknown" : report.seenMatches ? "results.check.seenYes" : "results.check.seenNo";
  return h("div", { testid: "verify-panel", class: "verify" },
    h("p", { role: "status", class: "verdict" },
      h("strong", { testid: "verify-result", class: report.verdict, "data-verdict": report.verdict }, t(`results.verdict.${report.verdict}`))),
    h("ul", { class: "checks" },
      check("verify-seen-check", report.seenMatches, seenKey),
      check("verify-seed-check", report.seedMatches, report.seedMatches ? "results.check.seedYes" : "results.check.seedNo"),
      report.resultsMatch ? null : check("verify-results-check", false, "results.check.resultsNo")),
    h("dl", null,
      h("dt", null, t("results.seenCommitment")),
      h("dd", null, report.seen ? h("code", { testid: "verify-seen" }, report.seen) : h("span", { testid: "verify-seen", class: "muted" }, t("results.notSeen"))),
      h("dt", null, t(report.source === "record" ? "results.commitment" : "results.commitmentResults")),
      h("dd", null, h("code", { testid: "verify-commitment" }, report.commitment)),
      h("dt", null, t("results.seed")), h("dd", null, h("code", { testid: "verify-seed" }, report.seed))),
    h("p", { class: "muted small" }, t("results.verifyHelp")),
    report.source === "record"
      ? h("p", { class: "muted small" },
          h("a", { href: report.recordUrl, target: "_blank", rel: "noopener", testid: "verify-record-link" },
            t("results.record", { count: report.rounds ?? results.rounds })),
          " ", t("results.recordHow"))
      : h("p", { class: "muted small", testid: "verify-no-record" }, t("results.noRecord")));
}
