// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import type { Request } from "../src/protocol/generated";
import { initialState, reduce } from "../src/state";
import type { RoomState } from "../src/state";
import { lobbyView } from "../src/views/lobby";
import { resultsView } from "../src/views/results";
import { revealView, tableView } from "../src/views/table";
import { golden } from "./fixtures";

const q = (el: Element, id: string): Element | null => el.querySelector(`[data-testid="${id}"]`);

function lobbyState(): RoomState {
  const snap = golden("server_snapshot_lobby", "Snapshot");
  const s = reduce(initialState, snap);
  return { ...s, mySeat: snap.room.host };
}

describe("views", () => {
  it("renders the lobby with host controls and escapes names", () => {
    const s = lobbyState();
    s.room!.seats[0]!.name = "<img src=x onerror=alert(1)>";
    const sent: Request[] = [];
    const el = lobbyView({
      state: s, ui: { botLevel: "Hard", rulesDraft: null, optionsDraft: null, copied: false },
      shareUrl: "http://x/r/ABCD", spectating: false, send: (r) => sent.push(r), setUi: () => {}, leave: () => {},
    });
    expect(q(el, "share-link")?.textContent).toBe("http://x/r/ABCD");
    for (const id of ["copy-link", "qr", "bot-level", "add-bot", "start-button", "save-rules", "leave-button", "rule-starting_dice", "rule-aces_wild", "rule-raise_rule", "rule-turn_time_limit_secs"]) {
      expect(q(el, id), id).not.toBeNull();
    }
    expect(q(el, "seat-name-0")?.textContent).toBe("<img src=x onerror=alert(1)>");
    expect(el.querySelector("img")).toBeNull();
    expect(["connected", "away", "bot"]).toContain(q(el, "seat-status-0")?.textContent);
    (q(el, "add-bot") as HTMLButtonElement).click();
    expect(sent).toEqual([{ type: "AddBot", level: "Hard" }]);
  });

  it("renders the table with only legal bids", () => {
    let s = reduce(initialState, golden("server_snapshot_playing", "Snapshot"));
    const sent: Request[] = [];
    const el = tableView({ state: s, ui: { bidFace: null, bidQty: null }, send: (r) => sent.push(r), setUi: () => {} });
    const room = s.room!;
    room.seats.forEach((_, i) => {
      expect(q(el, `player-${i}`)).not.toBeNull();
      expect(q(el, `dice-count-${i}`)?.textContent).toBe(String(s.table!.seats[i]!.dice));
    });
    expect(q(el, "turn-indicator")?.textContent).toBeTruthy();
    expect(el.querySelectorAll('[data-turn="true"]').length).toBe(1);
    expect(q(el, "current-bid")?.textContent).toBeTruthy();
    expect(q(el, "bid-history")).not.toBeNull();
    expect(q(el, "emote-feed")).not.toBeNull();
    if (s.you) {
      expect(q(el, "my-dice")?.querySelectorAll('[data-testid="die"]').length).toBe(s.you.hand.length);
      const faces = Array.from((q(el, "bid-face") as HTMLSelectElement | null)?.options ?? []).map((o) => Number(o.value));
      faces.forEach((f) => expect(s.you!.legal.min_bid[f - 1]).not.toBeNull());
      expect(q(el, "dudo-button") !== null).toBe(s.you.legal.dudo);
      expect(q(el, "calza-button") !== null).toBe(s.you.legal.calza);
      const qty = q(el, "bid-quantity") as HTMLSelectElement | null;
      if (qty && faces.length > 0) {
        expect(Number(qty.options[0]!.value)).toBe(s.you.legal.min_bid[faces.includes(Number((q(el, "bid-face") as HTMLSelectElement).value)) ? Number((q(el, "bid-face") as HTMLSelectElement).value) - 1 : 0]);
        (q(el, "bid-button") as HTMLButtonElement).click();
        expect(sent[0]?.type).toBe("Act");
      }
    }
    s = reduce(s, golden("server_update_round_resolved", "Update"));
    const el2 = tableView({ state: s, ui: { bidFace: null, bidQty: null }, send: () => {}, setUi: () => {} });
    expect(q(el2, "reveal")).not.toBeNull();
    expect(q(el2, "reveal-count")?.textContent).toContain(String(s.reveal!.count));
    expect(el2.querySelectorAll('[data-match="true"]').length).toBe(s.reveal!.count);
    expect(q(el2, "reveal-outcome")?.textContent).toBeTruthy();
    expect(q(el2, "bid-button")).toBeNull();
  });

  it("renders results and the verify panel", () => {
    const s = reduce(reduce(initialState, golden("server_snapshot_playing", "Snapshot")), { ...golden("server_update_game_over", "Update"), version: 13 });
    const results = s.room!.results!;
    const el = resultsView({ state: { ...s, mySeat: s.room!.host }, results, ui: { verifyOpen: true, verifyResult: "match" }, send: () => {}, verify: () => {} });
    expect(q(el, "winner")?.textContent).toBe(results.names[results.winner]);
    results.stats.forEach((_, i) => expect(q(el, `stats-row-${i}`)).not.toBeNull());
    expect(q(el, "verify-seed")?.textContent).toBe(results.seed);
    expect(q(el, "verify-result")?.textContent).toBe("match");
    expect(q(el, "rematch-button")).not.toBeNull();
    if (s.reveal) expect(q(revealView(s.reveal, s.room!, (n) => results.names[n] ?? ""), "reveal")).not.toBeNull();
  });
});
