// @vitest-environment happy-dom
import { render } from "preact";
import { describe, expect, it, vi } from "vitest";
import type { VNode } from "../src/dom";
import type { GameConfig, Request, RoomOptions } from "../src/protocol/generated";
import { initialState, outcomeText, reduce } from "../src/state";
import { bidText } from "../src/i18n";
import type { RoomState } from "../src/state";
import { lobbyView } from "../src/views/lobby";
import type { LobbyUi } from "../src/views/lobby";
import { resultsView } from "../src/views/results";
import { CUPS_MS, HOLD_MS, countStep, revealView, tableView } from "../src/views/table";
import type { TableCtx, TableUi } from "../src/views/table";
import { golden } from "./fixtures";

const q = (el: Element, id: string): HTMLElement | null => el.querySelector(`[data-testid="${id}"]`);

/** Renders into a fresh container (or `into`, to diff against what is there). */
function draw(v: VNode, into?: HTMLElement): HTMLElement {
  const el = into ?? document.createElement("div");
  if (!into) document.body.appendChild(el);
  render(v, el);
  return el;
}

function lobbyState(): RoomState {
  const snap = golden("server_snapshot_lobby", "Snapshot");
  const s = reduce(initialState, snap);
  return { ...s, mySeat: snap.room.host };
}

const lobbyUi = (): LobbyUi => ({ botLevel: "Hard", rulesEdits: {}, optionsEdits: {}, rulesOpen: true, copied: false });
const tableUi = (): TableUi => ({ bidFace: null, bidQty: null, armed: null, logOpen: false });

function lobbyCtx(s: RoomState, ui: LobbyUi, sent: Request[], edits: Array<[GameConfig, RoomOptions]> = []) {
  return {
    state: s, ui, shareUrl: "http://x/r/ABCD", spectating: false, send: (r: Request) => sent.push(r),
    setUi: (p: Partial<LobbyUi>) => Object.assign(ui, p), leave: () => {},
    editRules: (r: GameConfig, o: RoomOptions) => edits.push([r, o]), saveRules: () => {},
  };
}

describe("views", () => {
  it("renders the lobby with host controls and escapes names", () => {
    const s = lobbyState();
    s.room!.seats[0]!.name = "<img src=x onerror=alert(1)>";
    const sent: Request[] = [];
    const el = draw(lobbyView(lobbyCtx(s, lobbyUi(), sent)));
    expect(q(el, "share-link")?.textContent).toBe("http://x/r/ABCD");
    for (const id of ["copy-link", "qr", "bot-level", "add-bot", "start-button", "save-rules", "leave-button", "rule-starting_dice", "rule-aces_wild", "rule-raise_rule", "rule-turn_time_limit_secs", "preset-classic", "rules-summary"]) {
      expect(q(el, id), id).not.toBeNull();
    }
    expect(q(el, "seat-name-0")?.textContent).toBe("<img src=x onerror=alert(1)>");
    expect(el.querySelector("img")).toBeNull();
    // A right-to-left or mixed name cannot reorder the text around it.
    expect(q(el, "seat-name-0")?.getAttribute("dir")).toBe("auto");
    expect(["connected", "away", "bot"]).toContain(q(el, "seat-status-0")?.getAttribute("data-status"));
    q(el, "add-bot")!.click();
    expect(sent).toEqual([{ type: "AddBot", level: "Hard" }]);
  });

  it("shows no enum identifiers in the rules form", () => {
    const el = draw(lobbyView(lobbyCtx(lobbyState(), lobbyUi(), [])));
    const text = el.textContent ?? "";
    for (const id of ["HalfUpDoublePlusOne", "AnyExceptBidderAndCurrent", "TotalDiceInPlay", "CurrentPlayer", "AllDice", "SeededRandom"]) {
      expect(text).not.toContain(id);
    }
  });

  it("shows the room's rules with the host's edits on top, and reports changes adjusted", () => {
    const s = lobbyState();
    const ui = lobbyUi();
    ui.rulesEdits = { calza_enabled: !s.room!.rules.calza_enabled };
    const edits: Array<[GameConfig, RoomOptions]> = [];
    const el = draw(lobbyView(lobbyCtx(s, ui, [], edits)));
    expect((q(el, "rule-calza_enabled") as HTMLInputElement).checked).toBe(!s.room!.rules.calza_enabled);
    expect((q(el, "rule-starting_dice") as HTMLSelectElement).value).toBe(String(s.room!.rules.starting_dice));
    expect(q(el, "rules-unsaved")).not.toBeNull();
    const max = q(el, "rule-max_players") as HTMLSelectElement;
    max.value = "2";
    max.dispatchEvent(new Event("change"));
    expect(edits).toHaveLength(1);
    expect(edits[0]![0].max_players).toBe(2);
  });

  it("renders the table with only legal bids and a confirming second tap for dudo", () => {
    const s = reduce(initialState, golden("server_snapshot_playing", "Snapshot"));
    const sent: Request[] = [];
    const ui = tableUi();
    const ctx = { state: s, ui, now: 0, reducedMotion: true, send: (r: Request) => sent.push(r), setUi: (p: Partial<TableUi>) => Object.assign(ui, p) };
    const el = draw(tableView(ctx));
    const room = s.room!;
    room.seats.forEach((_, i) => {
      expect(q(el, `player-${i}`)).not.toBeNull();
      expect(q(el, `dice-count-${i}`)?.textContent).toBe(String(s.table!.seats[i]!.dice));
    });
    expect(q(el, "turn-indicator")?.textContent).toBeTruthy();
    expect(el.querySelectorAll('[data-turn="true"]').length).toBe(1);
    const turnSeat = el.querySelector('[data-turn="true"]')!.getAttribute("data-testid")!.replace("player-", "");
    expect(q(el, `to-play-${turnSeat}`)?.textContent).toContain("to play"); // not by colour alone
    expect(q(el, "current-bid")?.textContent).toBeTruthy();
    expect(q(el, "bid-history")).not.toBeNull();
    const you = s.you!;
    expect(q(el, "my-dice")?.querySelectorAll('[data-testid="die"]').length).toBe(you.hand.length);
    expect(el.querySelector("#my-dice-title")?.textContent).toBe("Your dice");
    const myTurn = s.table!.state.phase === "Bidding" && s.table!.state.turn === you.seat;
    for (let f = 1; f <= 6; f++) {
      const b = q(el, `bid-face-${f}`)!;
      const legal = myTurn && you.legal.min_bid[f - 1] !== null && you.legal.min_bid[f - 1]! <= you.legal.max_quantity;
      expect(b.getAttribute("aria-disabled") === "true", `face ${f}`).toBe(!legal);
    }
    const dudo = q(el, "dudo-button")!;
    expect(dudo.getAttribute("aria-disabled") === "true").toBe(!you.legal.dudo);
    if (you.legal.dudo) {
      dudo.click();
      expect(sent).toEqual([]); // the first tap only arms it
      draw(tableView(ctx), el);
      expect(q(el, "dudo-button")?.getAttribute("data-armed")).toBe("true");
      expect(q(el, "dudo-button")).toBe(dudo); // the same element: focus stays on it
      dudo.click();
      expect(sent).toEqual([{ type: "Act", action: { type: "Dudo" } }]);
    }
    if (myTurn) {
      sent.length = 0;
      q(el, "bid-button")!.click();
      expect(sent[0]?.type).toBe("Act");
    }
  });

  it("calls dudo by pressing and holding; letting go early is a tap; the keyboard keeps two steps", () => {
    vi.useFakeTimers();
    try {
      const base = reduce(initialState, golden("server_snapshot_playing", "Snapshot"));
      const table = base.table!;
      // Seat 1 on turn facing seat 0's bid... as the golden's seat 1, now allowed to call.
      const s: RoomState = {
        ...base,
        table: { ...table, state: { ...table.state, turn: 1 } as typeof table.state },
        you: { ...base.you!, legal: { ...base.you!.legal, dudo: true, calza: true } },
      };
      const sent: Request[] = [];
      const ui = tableUi();
      const el = document.createElement("div");
      document.body.appendChild(el);
      const ctx = (): TableCtx => ({ state: s, ui, now: 0, reducedMotion: false, send: (r: Request) => sent.push(r), setUi: (p: Partial<TableUi>) => { Object.assign(ui, p); draw(tableView(ctx()), el); } });
      draw(tableView(ctx()), el);
      const press = (id: string) => q(el, id)!.dispatchEvent(new PointerEvent("pointerdown", { bubbles: true, button: 0 }));
      const release = (id: string) => { q(el, id)!.dispatchEvent(new PointerEvent("pointerup", { bubbles: true, button: 0 })); q(el, id)!.click(); };

      // Let go early: no call, and the tap arms the two-step confirm as before.
      press("dudo-button");
      expect(q(el, "dudo-button")!.classList.contains("holding")).toBe(true);
      vi.advanceTimersByTime(HOLD_MS - 100);
      release("dudo-button");
      vi.advanceTimersByTime(1000);
      expect(sent).toEqual([]);
      expect(q(el, "dudo-button")?.getAttribute("data-armed")).toBe("true");
      q(el, "call-cancel")!.click();

      // Hold it: called once HOLD_MS have passed, and the click that ends the press does not arm it again.
      press("calza-button");
      vi.advanceTimersByTime(HOLD_MS);
      expect(sent).toEqual([{ type: "Act", action: { type: "Calza" } }]);
      release("calza-button");
      expect(sent).toHaveLength(1);
      expect(q(el, "calza-button")?.getAttribute("data-armed")).toBeNull();
      expect(q(el, "calza-button")!.classList.contains("holding")).toBe(false);
      vi.advanceTimersByTime(2000);

      // A hold on a bid that changed meanwhile calls nothing.
      sent.length = 0;
      press("dudo-button");
      s.table = { ...s.table!, state: { ...s.table!.state, bids: [] } as typeof table.state };
      draw(tableView(ctx()), el);
      vi.advanceTimersByTime(HOLD_MS);
      expect(sent).toEqual([]);
      s.table = table.state.phase === "Bidding" ? { ...table, state: { ...table.state, turn: 1 } } : table;
      draw(tableView(ctx()), el);

      // The keyboard (a click with no press) keeps the two steps: arm, then confirm.
      q(el, "dudo-button")!.click();
      expect(sent).toEqual([]);
      q(el, "dudo-button")!.click();
      expect(sent).toEqual([{ type: "Act", action: { type: "Dudo" } }]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("keeps the reveal's dice inside `reveal` and then a last-round summary", () => {
    let s = reduce(initialState, golden("server_snapshot_playing", "Snapshot"));
    s = reduce(s, golden("server_update_round_resolved", "Update"));
    const ui = tableUi();
    const ctx = { state: s, ui, now: 0, reducedMotion: true, send: () => {}, setUi: () => {} };
    const el = draw(tableView(ctx));
    expect(q(el, "reveal")).not.toBeNull();
    expect(q(el, "reveal-count")?.textContent).toContain(String(s.reveal!.count));
    expect(q(el, "reveal")!.querySelectorAll('[data-match="true"]').length).toBe(s.reveal!.count);
    expect(q(el, "reveal-outcome")?.textContent).toBeTruthy();
    expect(q(el, "bid-button")).toBeNull();
    // "Your dice" is never an empty heading: during the reveal, the hand just played.
    const mine = s.reveal!.hands[s.mySeat!]!;
    if (mine.length > 0) {
      expect([...q(el, "my-dice")!.querySelectorAll('[data-testid="die"]')].map((d) => Number(d.getAttribute("data-face")))).toEqual(mine);
    } else {
      expect(q(el, "my-dice-note")?.textContent).toBeTruthy();
    }
    for (const d of el.querySelectorAll('[data-testid="die"]')) {
      expect(d.closest('[data-testid="reveal"]') ?? d.closest('[data-testid="my-dice"]')).not.toBeNull();
    }
    // The next round: the reveal is gone but its summary stays.
    s = reduce(s, golden("server_update_next_round", "Update"));
    draw(tableView({ ...ctx, state: s }), el);
    expect(q(el, "reveal")).toBeNull();
    expect(q(el, "last-round-outcome")?.textContent).toMatch(/called (dudo|calza)/);
  });

  it("tells the reveal's outcome only when the count-up reaches the total (at once with reduced motion)", () => {
    let s = reduce(initialState, golden("server_snapshot_playing", "Snapshot"), 0);
    s = reduce(s, golden("server_update_round_resolved", "Update"), 1000);
    const res = s.reveal!;
    const pause = s.room!.reveal_pause_ms;
    expect(s.room!.phase).toBe("Reveal");
    expect(res.count).toBeGreaterThan(1);
    const changed = res.changes[0]!;
    const ctx = (now: number, reducedMotion = false) => ({ state: s, ui: tableUi(), now, reducedMotion, send: () => {}, setUi: () => {} });
    const doneAt = 1000 + CUPS_MS + countStep(res, pause) * (res.count - 1);
    // While the matching dice are being counted: a running count, no outcome, no lost die.
    const el = draw(tableView(ctx(1000 + CUPS_MS + 1)));
    expect(q(el, "reveal-count")?.textContent).toBe(`1 die counted against ${bidText(res.bid.bid.quantity, res.bid.bid.face)}.`);
    expect(q(el, "reveal-count")?.getAttribute("data-done")).toBe("false");
    expect(q(el, "reveal-outcome")).toBeNull();
    expect(q(el, `dice-change-${changed.seat}`)).toBeNull();
    expect(q(el, `dice-count-${changed.seat}`)?.textContent).toBe(String(changed.before));
    draw(tableView(ctx(doneAt - 1)), el);
    expect(q(el, "reveal-outcome")).toBeNull();
    expect(q(el, "reveal-count")?.textContent).toContain(`${res.count - 1} dice`);
    // The count reaches its total: now the outcome, and the die leaves its owner's cup.
    draw(tableView(ctx(doneAt)), el);
    expect(q(el, "reveal-count")?.getAttribute("data-done")).toBe("true");
    expect(q(el, "reveal-count")?.textContent).toContain(`${res.count} dice`);
    expect(q(el, "reveal-outcome")?.textContent).toBe(outcomeText(res, (seat) => s.room!.seats[seat]!.name));
    expect(q(el, `dice-change-${changed.seat}`)).not.toBeNull();
    expect(q(el, `dice-count-${changed.seat}`)?.textContent).toBe(String(changed.after));
    // With reduced motion there is no count-up: everything at once.
    const still = draw(tableView(ctx(1001, true)));
    expect(q(still, "reveal-count")?.getAttribute("data-done")).toBe("true");
    expect(q(still, "reveal-outcome")?.textContent).toBeTruthy();
    expect(q(still, `dice-change-${changed.seat}`)).not.toBeNull();
  });

  it("counts dice from the resolution during a reveal, live or after a reload", () => {
    let live = reduce(initialState, golden("server_snapshot_playing", "Snapshot"));
    live = reduce(live, golden("server_update_round_resolved", "Update"));
    const next = golden("server_update_next_round", "Update");
    // A reload during the pause: the snapshot already holds the next round's table.
    const reloaded = reduce(initialState, {
      type: "Snapshot", version: 13, room: live.room!, table: { ...next.table!, last_resolution: live.reveal }, you: null, clock: null,
    });
    const ctx = (state: RoomState) => ({ state, ui: tableUi(), now: 0, reducedMotion: true, send: () => {}, setUi: () => {} });
    const a = draw(tableView(ctx(live)));
    const b = draw(tableView(ctx(reloaded)));
    live.room!.seats.forEach((_, i) => {
      expect(q(a, `dice-count-${i}`)?.textContent, `seat ${i}`).toBe(q(b, `dice-count-${i}`)?.textContent);
    });
  });

  it("shows what the room did for an away player on the table, for a while", () => {
    let s = reduce(initialState, golden("server_snapshot_playing", "Snapshot"), 0);
    s = reduce(s, {
      type: "Update", version: 13, room: null, table: null, clock: null,
      events: [{ type: "AutoPlayed", seat: 1, action: { type: "Dudo" }, reason: "Away" }, { type: "Game", event: { type: "Forfeited", seat: 1 } }],
    }, 1000);
    const ctx = (now: number) => ({ state: s, ui: tableUi(), now, reducedMotion: true, send: () => {}, setUi: () => {} });
    const el = draw(tableView(ctx(2000)));
    const name = s.room!.seats[1]!.name;
    const news = [...el.querySelectorAll('[data-testid="news-entry"]')].map((e) => [e.getAttribute("data-key"), e.textContent]);
    expect(news).toEqual([
      // The name is bidi-isolated (FSI ... PDI) inside the sentence.
      ["log.autoAway", `\u2068${name}\u2069 is away: the room called dudo for them.`],
      ["log.forfeited", `\u2068${name}\u2069 was away too long and forfeited.`],
    ]);
    draw(tableView(ctx(20_000)), el);
    expect(q(el, "table-news")).toBeNull();
    expect(el.querySelectorAll('[data-testid="log-entry"]')).toHaveLength(2); // the round log keeps them
  });

  it("shows an emote once, as a bubble at the sender's seat", () => {
    let s = reduce(initialState, golden("server_snapshot_playing", "Snapshot"), 0);
    s = reduce(s, { type: "Update", version: 13, events: [{ type: "Emote", seat: 1, emote: "Laugh" }], room: null, table: null, clock: s.clock }, 1000);
    const ui = tableUi();
    const el = draw(tableView({ state: s, ui, now: 1100, reducedMotion: true, send: () => {}, setUi: () => {} }));
    const bubbles = el.querySelectorAll('[data-testid="emote-bubble"]');
    expect(bubbles).toHaveLength(1);
    expect(bubbles[0]!.closest('[data-testid="player-1"]')).not.toBeNull();
    // Another update: the same bubble element stays (its animation does not replay).
    const s2 = reduce(s, { type: "Update", version: 14, events: [], room: null, table: null, clock: s.clock }, 1500);
    draw(tableView({ state: s2, ui, now: 1600, reducedMotion: true, send: () => {}, setUi: () => {} }), el);
    expect(el.querySelector('[data-testid="emote-bubble"]')).toBe(bubbles[0]);
    // And it goes away after a few seconds.
    draw(tableView({ state: s2, ui, now: 9000, reducedMotion: true, send: () => {}, setUi: () => {} }), el);
    expect(el.querySelectorAll('[data-testid="emote-bubble"]')).toHaveLength(0);
  });

  it("renders results, the verify panel, and waiting-for-the-host for guests", () => {
    const s = reduce(reduce(initialState, golden("server_snapshot_playing", "Snapshot")), { ...golden("server_update_game_over", "Update"), version: 13 });
    const results = s.room!.results!;
    const report = {
      verdict: "fair" as const, source: "record" as const, recordUrl: "/api/rooms/X/games/1", seed: results.seed, commitment: results.commitment,
      seen: results.commitment, seenMatches: true, seedMatches: true, resultsMatch: true, rounds: results.rounds,
    };
    const ctx = { results, ui: { verifyOpen: true, verifyResult: report }, reducedMotion: true, send: () => {}, verify: () => {} };
    const el = draw(resultsView({ ...ctx, state: { ...s, mySeat: s.room!.host } }));
    expect(q(el, "winner")?.textContent).toBe(results.names[results.winner]);
    results.stats.forEach((_, i) => expect(q(el, `stats-row-${i}`)).not.toBeNull());
    expect(q(el, "place-1")?.textContent).toContain(results.names[results.placings[0]!]!);
    expect(q(el, "verify-seed")?.textContent).toBe(results.seed);
    expect(q(el, "verify-result")?.getAttribute("data-verdict")).toBe("fair");
    expect(q(el, "rematch-button")).not.toBeNull();
    expect(q(el, "waiting-host")).toBeNull();
    const guestSeat = s.room!.host === 0 ? 1 : 0;
    const guest = draw(resultsView({ ...ctx, state: { ...s, mySeat: guestSeat } }));
    expect(q(guest, "rematch-button")).toBeNull();
    expect(q(guest, "waiting-host")?.textContent).toMatch(/host/);
    if (s.reveal) expect(q(draw(revealView(s.reveal, s.room!, (n) => results.names[n] ?? "")), "reveal")).not.toBeNull();
  });
});
