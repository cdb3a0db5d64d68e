// The table (phase Playing or Reveal): seats around a felt, the current bid in the middle,
// your dice and your move below; the reveal (and then the "last round" summary) on the felt.
import { h } from "../dom";
import type { VNode } from "../dom";
import { dieMatches, legalBidOptions, legalQuantities, minimumRaise } from "../game";
import { bidText, faceWord, t } from "../i18n";
import type { Emote, Face, Request, Resolution, RoomView, Seat } from "../protocol/generated";
import { clockRemaining, diceCounts, liveEmotes, outcomeText, seatName, turnOf } from "../state";
import type { RoomState } from "../state";
import { CUPS_MS, countStep, outcomeDelayMs } from "../reveal";
import { avatar, cupIcon, die, faceIcon } from "./parts";

export { CUPS_MS, countStep };

export const EMOTES: readonly Emote[] = ["ThumbsUp", "Laugh", "Wow", "Thinking", "Sweat", "Clap", "Fire", "Liar"];
export const EMOTE_ICONS: Record<Emote, string> = {
  ThumbsUp: "👍", Laugh: "😂", Wow: "😮", Thinking: "🤔", Sweat: "😅", Clap: "👏", Fire: "🔥", Liar: "🤥",
};

export type Call = "Dudo" | "Calza";

export interface TableUi {
  bidFace: Face | null;
  bidQty: number | null;
  /** A call waiting for its confirming second tap, valid only for the bid it was armed on. */
  armed: { call: Call; bids: number; round: number; at: number } | null;
  /** A call being pressed and held (the other way to confirm it), since `at`. */
  holding?: { call: Call; at: number } | null;
  logOpen: boolean;
}

export interface TableCtx {
  state: RoomState;
  ui: TableUi;
  now: number;
  reducedMotion: boolean;
  send(req: Request): void;
  setUi(patch: Partial<TableUi>): void;
}

/** A confirmation waits this long for its second tap. */
export const ARM_MS = 5000;
/** Pressing and holding dudo or calza this long calls it (instead of a second tap). */
export const HOLD_MS = 700;

/** The running hold: its timer, and the bid it was started on. Only pointers start one
 * (a tap, a click held down); the keyboard keeps the two-step confirm. */
let hold: { timer: ReturnType<typeof setTimeout>; call: Call; bids: number; round: number } | null = null;
/** When (Date.now()) a hold last called: the click that ends that press must not arm the
 * call again. */
let heldAt = 0;
const HELD_CLICK_MS = 1500;
/** The latest table context, so a hold that completes acts on the table as it is then. */
let latest: TableCtx | null = null;

function stopHold(ctx: TableCtx): void {
  if (!hold) return;
  clearTimeout(hold.timer);
  hold = null;
  ctx.setUi({ holding: null });
}

export function timerText(ms: number): string {
  return String(Math.ceil(ms / 1000));
}

/** Where seat `i` of `n` sits on the oval, with `me` at the bottom: left/top in percent. */
export function seatPosition(i: number, n: number, me: Seat | null): { x: number; y: number } {
  const offset = me ?? 0;
  const k = (((i - offset) % n) + n) % n;
  const angle = Math.PI / 2 + (2 * Math.PI * k) / n; // clockwise from the bottom
  return { x: 50 + 44 * Math.cos(angle), y: 50 + 40 * Math.sin(angle) };
}

function round(ctx: TableCtx) {
  const table = ctx.state.table;
  return table && table.state.phase === "Bidding" ? table.state : null;
}

export function tableView(ctx: TableCtx): VNode {
  const { state } = ctx;
  const room = state.room as RoomView;
  const reveal = room.phase === "Reveal";
  const turn = reveal ? null : turnOf(state.table);
  const r = round(ctx);
  const res = state.reveal;
  const name = (s: number): string => seatName(room, s);

  return h("div", { class: `table${reveal ? " revealing" : ""}` },
    r && r.palifico !== null && !reveal
      ? h("div", { testid: "palifico-banner", class: "banner palifico", role: "status" },
          t(room.rules.palifico_face_locked ? "table.palificoLocked" : "table.palifico", { name: name(r.palifico) }))
      : null,
    turnLine(ctx, turn),
    news(ctx),
    h("div", { class: "felt-wrap" },
      h("div", { class: "felt" },
        seatsRing(ctx, turn),
        h("div", { class: "centre" }, reveal && res ? revealHeadline(res, ctx, room) : currentBid(ctx))),
    ),
    reveal && res ? revealView(res, room, name, { ctx }) : null,
    state.you ? myArea(ctx) : null,
    !reveal && res ? lastRound(res, name) : null,
    roundLog(ctx),
  );
}

/** What the room did that everyone should see now (auto-played turns, forfeits, host changes,
 * people leaving or coming back), on the table for NEWS_MS, then in the round log. */
export const NEWS_KEYS = new Set(["log.autoTime", "log.autoAway", "log.forfeited", "log.hostChanged", "log.youHost", "log.disconnected", "log.reconnected", "log.left", "log.eliminated", "log.palifico"]);
export const NEWS_MS = 12_000;

function news(ctx: TableCtx): VNode | null {
  const recent = ctx.state.log.filter((e) => NEWS_KEYS.has(e.key) && ctx.now - e.at < NEWS_MS).slice(-3);
  if (recent.length === 0) return null;
  return h("ul", { class: "news", testid: "table-news" },
    recent.map((e) => h("li", { key: e.seq, testid: "news-entry", "data-key": e.key, class: e.key.replace("log.", "news-") }, t(e.key, e.params))));
}

function turnLine(ctx: TableCtx, turn: Seat | null): VNode {
  const { state } = ctx;
  const room = state.room as RoomView;
  const mine = turn !== null && turn === state.mySeat;
  const text = room.phase === "Reveal"
    ? t("table.revealing")
    : turn === null ? t("table.waiting") : mine ? t("table.yourTurn") : t("table.turnOf", { name: seatName(room, turn) });
  const ms = clockRemaining(state, ctx.now);
  const showClock = state.clock !== null && room.phase === "Playing" && ms !== null;
  const warn = showClock && ms <= 5000;
  return h("div", { class: `turn-row${mine ? " mine" : ""}` },
    h("p", { testid: "turn-indicator", class: "turn-indicator", "aria-live": "off" },
      mine ? h("span", { class: "arrow", "aria-hidden": "true" }, "▶ ") : null, text),
    showClock
      ? h("p", { class: `timer${warn ? " warn" : ""}${state.clock?.seat === state.mySeat ? " mine" : ""}` },
          h("span", { class: "sr-only" }, t("table.secondsLeft")),
          "⏱ ", h("span", { testid: "turn-timer", "data-clock": "1" }, timerText(ms)), " s")
      : null);
}

function clockRing(ctx: TableCtx, seat: Seat): VNode | null {
  const { state } = ctx;
  const clock = state.clock;
  if (!clock || clock.seat !== seat || state.room?.phase !== "Playing") return null;
  const ms = clockRemaining(state, ctx.now) ?? 0;
  const limit = state.room.rules.turn_time_limit_secs;
  const total = clock.reason === "TimeLimit" && limit ? limit * 1000 : Math.max(clock.remaining_ms, 1);
  const frac = Math.max(0, Math.min(1, ms / total));
  const c = 2 * Math.PI * 46;
  return h("svg", { class: `clock-ring${ms <= 5000 ? " warn" : ""}`, viewBox: "0 0 100 100", "aria-hidden": "true" },
    h("circle", { cx: 50, cy: 50, r: 46, class: "ring-track" }),
    h("circle", { cx: 50, cy: 50, r: 46, class: "ring-left", "stroke-dasharray": `${(c * frac).toFixed(1)} ${c.toFixed(1)}` }));
}

function seatsRing(ctx: TableCtx, turn: Seat | null): VNode {
  const { state } = ctx;
  const room = state.room as RoomView;
  const counts = diceCounts(state);
  const res = room.phase === "Reveal" ? state.reveal : null;
  // Who lost or gained a die is part of the outcome: shown once the count-up is done.
  const told = res === null || revealProgress(res, ctx, room.reveal_pause_ms).done;
  const bubbles = liveEmotes(state, ctx.now);
  const n = room.seats.length;
  return h("ul", { class: "seat-ring", "aria-label": t("table.players") },
    room.seats.map((seat, i) => {
      const pending = told ? undefined : res?.changes.find((c) => c.seat === i);
      const dice = pending ? pending.before : counts[i] ?? 0;
      const out = dice === 0;
      const away = seat.occupant.type === "Human" && !seat.occupant.connected;
      const change = told ? res?.changes.find((c) => c.seat === i) : undefined;
      const onTurn = turn === i;
      const pos = seatPosition(i, n, state.mySeat);
      const status = out ? t("seat.out") : seat.occupant.type === "Bot" ? t("seat.bot") : away ? t("seat.away") : null;
      return h("li", {
        key: i, testid: `player-${i}`,
        class: `seat-tile${onTurn ? " on-turn" : ""}${out ? " out" : ""}${away ? " away" : ""}${i === state.mySeat ? " me" : ""}`,
        "data-turn": onTurn ? "true" : null,
        style: { "--x": `${pos.x.toFixed(1)}%`, "--y": `${pos.y.toFixed(1)}%` },
      },
        h("span", { class: "avatar-wrap" }, avatar(i, seat.name), clockRing(ctx, i)),
        h("span", { class: "seat-text" },
          h("span", { testid: `player-name-${i}`, class: "name", dir: "auto" }, seat.name),
          i === state.mySeat ? h("span", { class: "tag you" }, t("seat.you")) : null,
          room.host === i ? h("span", { class: "tag" }, t("seat.host")) : null,
          h("span", { class: "cup-line" },
            cupIcon(),
            h("span", { class: "sr-only" }, t("seat.diceLabel")),
            h("span", { testid: `dice-count-${i}`, class: "count" }, String(dice)),
            change ? h("span", { class: `change ${change.after < change.before ? "lost" : "gained"}`, testid: `dice-change-${i}` },
              change.after < change.before ? `−${change.before - change.after}` : `+${change.after - change.before}`) : null),
          status ? h("span", { class: `status${away ? " away" : ""}`, testid: `player-status-${i}` }, status) : null,
          onTurn ? h("span", { class: "to-play", testid: `to-play-${i}` }, h("span", { "aria-hidden": "true" }, "▲ "), t("seat.toPlay")) : null),
        bubbles.filter((b) => b.seat === i).map((b) =>
          h("span", {
            key: `e${b.key}`, class: "bubble", testid: "emote-bubble", "data-seat": i, "data-emote": b.emote,
            role: "img", "aria-label": t("emote.from", { name: b.name, emote: t(`emote.${b.emote}`) }),
          }, EMOTE_ICONS[b.emote])));
    }));
}

function currentBid(ctx: TableCtx): VNode {
  const { state } = ctx;
  const room = state.room as RoomView;
  const r = round(ctx);
  const bids = r?.bids ?? [];
  const last = bids[bids.length - 1];
  return h("section", { class: "bids", "aria-label": t("table.bids") },
    h("p", { class: "label" }, t("table.currentBid")),
    h("p", { class: "current" },
      last ? faceIcon(last.bid.face, "face-icon big") : null,
      h("strong", { testid: "current-bid" }, last ? bidText(last.bid.quantity, last.bid.face) : t("table.noBid"))),
    last ? h("p", { class: "by" }, t("table.bidBy", { name: seatName(room, last.seat) })) : null,
    h("p", { class: "total muted" }, t("table.total", { count: state.table?.total_dice ?? 0 })),
    h("ol", { testid: "bid-history", class: "history", "aria-label": t("table.history") },
      bids.map((b, i) => h("li", { key: i }, `${seatName(room, b.seat)}: ${bidText(b.bid.quantity, b.bid.face)}`))));
}

function myArea(ctx: TableCtx): VNode {
  const { state } = ctx;
  const you = state.you!;
  const room = state.room as RoomView;
  const r = round(ctx);
  const myCount = state.mySeat !== null ? diceCounts(state)[state.mySeat] ?? 0 : 0;
  const hand = you.hand;
  let body: VNode;
  if (hand.length > 0 && room.phase === "Playing") {
    body = h("div", {
      key: `round-${r?.round ?? 0}`, testid: "my-dice", class: `dice${ctx.reducedMotion ? "" : " shake"}`,
    }, hand.map((f, i) => die(f, { key: i })));
  } else if (room.phase === "Reveal" && state.reveal && state.mySeat !== null && (state.reveal.hands[state.mySeat]?.length ?? 0) > 0) {
    // During the reveal your dice are the ones you just played, now public.
    const res = state.reveal;
    const seat = state.mySeat;
    body = h("div", { key: "revealed", testid: "my-dice", class: "dice" },
      res.hands[seat]!.map((f, i) => die(f, { key: i, match: dieMatches(res, seat, f) })));
  } else if (myCount === 0) {
    body = h("p", { class: "muted", testid: "my-dice-note" }, t("table.youAreOut"));
  } else {
    body = h("p", { class: "muted", testid: "my-dice-note" }, t("table.diceInReveal"));
  }
  return h("section", { class: "my-area", "aria-labelledby": "my-dice-title" },
    h("h2", { id: "my-dice-title", class: "h3" }, t("table.yourDice")),
    body,
    room.phase === "Playing" && myCount > 0 ? controls(ctx) : null,
    emoteButtons(ctx));
}

function controls(ctx: TableCtx): VNode {
  const { state, ui } = ctx;
  const legal = state.you?.legal;
  const r = round(ctx);
  const myTurn = r !== null && r.turn === state.mySeat;
  const options = legalBidOptions(legal);
  const lastBid = r?.bids[r.bids.length - 1];
  const min = minimumRaise(legal, lastBid?.bid.face ?? null);
  let face = ui.bidFace;
  if (face === null || !options.some((o) => o.face === face)) face = min?.face ?? null;
  const qs = face === null ? [] : legalQuantities(legal, face);
  const qty = ui.bidQty !== null && qs.includes(ui.bidQty) ? ui.bidQty : (qs[0] ?? null);
  const canBid = myTurn && face !== null && qty !== null;
  const bids = r?.bids.length ?? 0;
  const armed = ui.armed && ui.armed.bids === bids && ui.armed.round === (r?.round ?? -1) && ctx.now - ui.armed.at < ARM_MS
    ? ui.armed.call : null;

  const place = (quantity: number, f: Face): void => {
    ctx.send({ type: "Act", action: { type: "Bid", quantity, face: f } });
    ctx.setUi({ bidQty: null, bidFace: null, armed: null });
  };
  latest = ctx;
  const call = (c: Call, allowed: boolean | undefined): void => {
    if (Date.now() - heldAt < HELD_CLICK_MS) return; // the end of a press that already called
    if (!allowed) return;
    if (armed === c) {
      ctx.send({ type: "Act", action: { type: c } });
      ctx.setUi({ armed: null });
    } else {
      ctx.setUi({ armed: { call: c, bids, round: r?.round ?? -1, at: ctx.now } });
    }
  };
  const step = (d: number): void => {
    if (qty === null) return;
    const i = qs.indexOf(qty) + d;
    const next = qs[Math.max(0, Math.min(qs.length - 1, i))];
    if (next !== undefined) ctx.setUi({ bidQty: next, bidFace: face });
  };
  const off = (b: boolean): Record<string, unknown> => (b ? {} : { "aria-disabled": "true" });
  /** Press and hold: HOLD_MS on the button calls it; letting go earlier is a plain tap. */
  const holdable = (c: Call, allowed: boolean | undefined): Record<string, unknown> => ({
    onpointerdown: (e: PointerEvent) => {
      if (!allowed || e.button !== 0) return;
      if (hold) clearTimeout(hold.timer);
      const roundNo = r?.round ?? -1;
      hold = {
        call: c, bids, round: roundNo,
        timer: setTimeout(() => {
          const now = latest;
          const rr = now ? round(now) : null;
          hold = null;
          if (!now) return;
          now.setUi({ holding: null, armed: null });
          // Only on the bid it was started on (a new bid meanwhile would change its meaning).
          if (!rr || rr.round !== roundNo || rr.bids.length !== bids) return;
          heldAt = Date.now();
          now.send({ type: "Act", action: { type: c } });
        }, HOLD_MS),
      };
      ctx.setUi({ holding: { call: c, at: ctx.now } });
    },
    onpointerup: () => stopHold(ctx),
    onpointerleave: () => stopHold(ctx),
    onpointercancel: () => stopHold(ctx),
    // A long press on a phone would open the context menu instead.
    oncontextmenu: (e: Event) => e.preventDefault(),
  });
  const holding = ui.holding?.call ?? null;

  return h("section", { class: `controls${myTurn ? " active" : ""}`, "aria-label": t("table.yourMove") },
    h("div", { class: "bid-picker", role: "group", "aria-label": t("table.chooseBid") },
      h("div", { class: "faces", role: "group", "aria-label": t("table.face") },
        [1, 2, 3, 4, 5, 6].map((f) => {
          const ok = myTurn && options.some((o) => o.face === f);
          return h("button", {
            key: f, type: "button", testid: `bid-face-${f}`, class: `face-btn${f === face && myTurn ? " chosen" : ""}`,
            "aria-pressed": String(f === face && myTurn), "aria-label": faceWord(f, 2), ...off(ok),
            onclick: () => { if (ok) ctx.setUi({ bidFace: f, bidQty: null }); },
          }, faceIcon(f));
        })),
      h("div", { class: "stepper", role: "group", "aria-label": t("table.quantity") },
        h("button", { type: "button", testid: "bid-qty-minus", "aria-label": t("table.less"), ...off(canBid && qs.indexOf(qty!) > 0), onclick: () => step(-1) }, "−"),
        h("output", { testid: "bid-quantity", class: "qty", "aria-live": "off" }, myTurn && qty !== null ? String(qty) : "–"),
        h("button", { type: "button", testid: "bid-qty-plus", "aria-label": t("table.more"), ...off(canBid && qs.indexOf(qty!) < qs.length - 1), onclick: () => step(1) }, "+")),
      h("button", {
        type: "button", testid: "bid-button", class: "primary bid-go", ...off(canBid),
        onclick: () => { if (canBid) place(qty!, face!); },
      }, canBid ? t("table.bidThis", { bid: bidText(qty!, face!) }) : t("table.bid")),
      min && myTurn && !(min.face === face && min.quantity === qty)
        ? h("button", { type: "button", testid: "bid-min", class: "bid-min", onclick: () => place(min.quantity, min.face) },
            t("table.minRaise", { bid: bidText(min.quantity, min.face) }))
        : null),
    h("div", { class: "calls" },
      h("button", {
        type: "button", testid: "dudo-button", class: `danger${armed === "Dudo" ? " armed" : ""}${holding === "Dudo" ? " holding" : ""}`, "data-armed": armed === "Dudo" ? "true" : null,
        ...off(!!legal?.dudo), ...holdable("Dudo", legal?.dudo), onclick: () => call("Dudo", legal?.dudo),
      }, armed === "Dudo" ? t("table.confirmDudo") : t("table.dudo")),
      state.room?.rules.calza_enabled
        ? h("button", {
            type: "button", testid: "calza-button", class: `calza${armed === "Calza" ? " armed" : ""}${holding === "Calza" ? " holding" : ""}`, "data-armed": armed === "Calza" ? "true" : null,
            ...off(!!legal?.calza), ...holdable("Calza", legal?.calza), onclick: () => call("Calza", legal?.calza),
          }, armed === "Calza" ? t("table.confirmCalza") : t("table.calza"))
        : null,
      armed ? h("button", { type: "button", testid: "call-cancel", onclick: () => ctx.setUi({ armed: null }) }, t("table.cancel")) : null,
      legal?.declare_palifico
        ? h("button", { type: "button", testid: "palifico-button", onclick: () => ctx.send({ type: "Act", action: { type: "DeclarePalifico" } }) }, t("table.declarePalifico"))
        : null),
    armed ? h("p", { class: "hint", role: "status" }, t(armed === "Dudo" ? "table.armedDudo" : "table.armedCalza"))
      : legal?.dudo || legal?.calza ? h("p", { class: "hint muted" }, t("table.holdHint")) : null);
}

function emoteButtons(ctx: TableCtx): VNode | null {
  if (ctx.state.mySeat === null) return null;
  return h("div", { class: "emote-buttons", role: "group", "aria-label": t("table.emotes") },
    EMOTES.map((e) => h("button", {
      key: e, type: "button", testid: `emote-${e}`, "aria-label": t(`emote.${e}`), title: t(`emote.${e}`),
      onclick: () => ctx.send({ type: "Emote", emote: e }),
    }, EMOTE_ICONS[e])));
}

/** Where the reveal's count-up is at `now`: how many matching dice it has reached, and whether
 * it is done (the total reached, so the outcome may be told). Without animation (reduced
 * motion, or a reveal that came in a snapshot) it is done at once. */
export function revealProgress(res: Resolution, ctx: TableCtx | undefined, pauseMs: number): { shown: number; animate: boolean; done: boolean } {
  const at = ctx?.state.revealAt ?? 0;
  const animate = !!ctx && !ctx.reducedMotion && at > 0;
  if (!animate) return { shown: res.count, animate, done: true };
  const step = countStep(res, pauseMs);
  const elapsed = ctx!.now - at;
  const shown = Math.min(res.count, Math.max(0, Math.floor((elapsed - CUPS_MS) / step) + 1));
  // With none to count, the total (zero) is known once the cups are up.
  const done = elapsed >= outcomeDelayMs(res, pauseMs);
  return { shown, animate, done };
}


/** The felt's centre during a reveal: the call, the bid, the count against it. */
function revealHeadline(res: Resolution, ctx: TableCtx, room: RoomView): VNode {
  const bid = res.bid.bid;
  const { shown, done } = revealProgress(res, ctx, room.reveal_pause_ms);
  return h("section", { class: "bids", "aria-hidden": "true" },
    h("p", { class: "label" }, t(res.call.type === "Dudo" ? "table.dudo" : "table.calza")),
    h("p", { class: "current" }, faceIcon(bid.face, "face-icon big"), h("strong", null, bidText(bid.quantity, bid.face))),
    h("p", { class: `tally${done ? " done" : ""}` }, t("reveal.tally", { count: shown })),
    done ? h("p", { class: "verdict" }, t(res.call_succeeded ? "reveal.callRight" : "reveal.callWrong")) : null);
}

function wildsNote(res: Resolution): string {
  const bid = res.bid.bid;
  if (res.wilds === "None" || bid.face === 1) return t("reveal.acesNotWild");
  return res.wilds === "BidderOnly" ? t("reveal.acesBidder") : t("reveal.acesWild");
}


/** The reveal: every hand out of its cup, matching dice lit and counted up to the total. */
export function revealView(
  res: Resolution, room: RoomView, name: (seat: number) => string,
  opts: { ctx?: TableCtx } = {},
): VNode {
  const bid = res.bid.bid;
  const { shown, animate, done } = revealProgress(res, opts.ctx, room.reveal_pause_ms);
  const step = countStep(res, room.reveal_pause_ms);
  let k = 0;
  return h("section", { testid: "reveal", class: `reveal${animate ? " animate" : ""}`, "aria-label": t("reveal.title", { round: res.round + 1 }) },
    h("h3", { class: "h3" }, t("reveal.title", { round: res.round + 1 })),
    h("p", { class: "called" },
      t("reveal.bidWas", { name: name(res.bid.seat), bid: bidText(bid.quantity, bid.face) }), " ",
      h("span", { class: "muted" }, wildsNote(res))),
    // The count climbs with the lit dice; the outcome is told only when it reaches the total.
    h("p", { class: `count${done ? " done" : " counting"}` },
      h("span", { testid: "reveal-count", "data-done": String(done) }, t("reveal.count", { count: shown, bid: bidText(bid.quantity, bid.face) }))),
    done ? h("p", { testid: "reveal-outcome", class: "outcome" }, outcomeText(res, name)) : null,
    h("ul", { class: "hands" },
      res.hands.map((hand, seat) => {
        if (hand.length === 0) return null;
        return h("li", { key: seat, class: "hand" },
          h("span", { class: "name" }, name(seat)),
          h("span", { testid: `reveal-hand-${seat}`, class: "dice" },
            h("span", { class: "cup-lift", "aria-hidden": "true" }),
            hand.map((f, i) => {
              const match = dieMatches(res, seat, f);
              const delay = animate && match ? CUPS_MS + step * k++ : undefined;
              return die(f, { match, key: i, delayMs: delay });
            })));
      })),
    room.phase === "Reveal" ? h("p", { class: "muted" }, t("reveal.next")) : null);
}

/** The last round, kept on the table until the next reveal: who called, the count, who lost
 * or gained a die (text only: dice are drawn only inside the reveal). */
function lastRound(res: Resolution, name: (seat: number) => string): VNode {
  const bid = res.bid.bid;
  return h("section", { class: "last-round", testid: "last-round", "aria-label": t("reveal.lastRound", { round: res.round + 1 }) },
    h("h3", { class: "h3" }, t("reveal.lastRound", { round: res.round + 1 })),
    h("p", null, t("reveal.bidWas", { name: name(res.bid.seat), bid: bidText(bid.quantity, bid.face) }), " ",
      t("reveal.count", { count: res.count, bid: bidText(bid.quantity, bid.face) })),
    h("p", { testid: "last-round-outcome", class: "outcome" }, outcomeText(res, name)));
}

function roundLog(ctx: TableCtx): VNode {
  const log = ctx.state.log;
  return h("details", { class: "card log", testid: "round-log", open: ctx.ui.logOpen || null,
    ontoggle: (e: Event) => { ctx.ui.logOpen = (e.currentTarget as HTMLDetailsElement).open; } },
    h("summary", null, t("log.title")),
    log.length === 0 ? h("p", { class: "muted" }, t("log.empty"))
      : h("ol", { class: "log-list" }, log.slice().reverse().map((e) => h("li", { key: e.seq, testid: "log-entry", "data-key": e.key }, t(e.key, e.params)))));
}
