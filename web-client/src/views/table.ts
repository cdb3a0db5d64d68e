// The table (phase Playing or Reveal) and the reveal.
import { h } from "../dom";
import { bidText, dieMatches, legalBidOptions, legalQuantities, faceName } from "../game";
import type { Emote, Face, Request, Resolution, RoomView } from "../protocol/generated";
import { seatName, turnOf } from "../state";
import type { RoomState } from "../state";
import { die } from "./parts";

export const EMOTES: readonly Emote[] = ["ThumbsUp", "Laugh", "Wow", "Thinking", "Sweat", "Clap", "Fire", "Liar"];
export const EMOTE_ICONS: Record<Emote, string> = {
  ThumbsUp: "👍", Laugh: "😂", Wow: "😮", Thinking: "🤔", Sweat: "😅", Clap: "👏", Fire: "🔥", Liar: "🤥",
};

export interface TableUi { bidFace: Face | null; bidQty: number | null }

export interface TableCtx {
  state: RoomState;
  ui: TableUi;
  send(req: Request): void;
  setUi(patch: Partial<TableUi>): void;
}

export function timerText(ms: number): string {
  return String(Math.ceil(ms / 1000));
}

export function tableView(ctx: TableCtx): HTMLElement {
  const { state } = ctx;
  const room = state.room as RoomView;
  const table = state.table;
  const you = state.you;
  const turn = turnOf(table);
  const round = table && table.state.phase === "Bidding" ? table.state : null;
  const bids = round?.bids ?? [];
  const last = bids[bids.length - 1];
  const reveal = room.phase === "Reveal";

  const turnText = reveal
    ? "Revealing the dice…"
    : turn === null ? "Waiting" : turn === state.mySeat ? "It's your turn" : `${seatName(room, turn)}'s turn`;

  const players = h("ul", { class: "players" },
    room.seats.map((seat, i) => {
      const dice = table?.seats[i]?.dice ?? 0;
      const away = seat.occupant.type === "Human" && !seat.occupant.connected;
      return h("li", {
        testid: `player-${i}`, class: `player${turn === i ? " on-turn" : ""}${dice === 0 ? " out" : ""}`,
        "data-turn": turn === i ? "true" : null,
      },
        h("span", { testid: `player-name-${i}`, class: "name" }, seat.name),
        i === state.mySeat ? h("span", { class: "tag" }, "you") : null,
        away ? h("span", { class: "tag away" }, "away") : null,
        h("span", { class: "cup", "aria-label": `${dice} dice` },
          "🎲 ", h("span", { testid: `dice-count-${i}` }, String(dice))));
    }));

  const clock = state.clock;
  const children: Array<HTMLElement | null> = [
    round && round.palifico !== null
      ? h("div", { testid: "palifico-banner", class: "banner palifico", role: "status" },
          `Palifico round for ${seatName(room, round.palifico)}: `,
          "aces are not wild", room.rules.palifico_face_locked ? " and the face is locked." : ".")
      : null,
    h("div", { class: "turn-row" },
      h("div", { testid: "turn-indicator", class: "turn-indicator" }, turnText),
      clock && !reveal
        ? h("div", { class: `timer${clock.seat === state.mySeat ? " mine" : ""}`, "aria-label": "seconds left" },
            "⏱ ", h("span", { testid: "turn-timer", "data-clock": "1" }, timerText(clock.remaining_ms)), " s")
        : null),
    players,
  ];

  if (you) {
    children.push(h("section", { class: "my-dice-wrap", "aria-label": "your dice" },
      h("h3", null, "Your dice"),
      h("div", { testid: "my-dice", class: "dice" }, you.hand.map((f) => die(f)))));
  }

  children.push(h("section", { class: "bids" },
    h("div", { class: "current" },
      h("span", { class: "label" }, "Current bid: "),
      h("strong", { testid: "current-bid" }, last ? bidText(last.bid.quantity, last.bid.face) : "no bid yet"),
      last ? h("span", { class: "by" }, ` by ${seatName(room, last.seat)}`) : null),
    h("ol", { testid: "bid-history", class: "history", "aria-label": "bids this round" },
      bids.map((b) => h("li", null, `${seatName(room, b.seat)}: ${bidText(b.bid.quantity, b.bid.face)}`)))));

  if (you && room.phase === "Playing") children.push(controls(ctx));
  if (reveal) {
    const res = state.reveal ?? table?.last_resolution ?? null;
    if (res) children.push(revealView(res, room, (s) => seatName(room, s)));
  }
  children.push(emotes(ctx));
  return h("div", { class: "table" }, children);
}

function controls(ctx: TableCtx): HTMLElement {
  const legal = ctx.state.you?.legal;
  const options = legalBidOptions(legal);
  const round = ctx.state.table?.state.phase === "Bidding" ? ctx.state.table.state : null;
  const lastBid = round?.bids[round.bids.length - 1];
  let face = ctx.ui.bidFace;
  if (face === null || !options.some((o) => o.face === face)) {
    face = options.find((o) => o.face === lastBid?.bid.face)?.face ?? options[0]?.face ?? null;
  }
  const qs = face === null ? [] : legalQuantities(legal, face);
  const qty = ctx.ui.bidQty !== null && qs.includes(ctx.ui.bidQty) ? ctx.ui.bidQty : (qs[0] ?? null);

  const parts: Array<HTMLElement | null> = [];
  if (options.length > 0 && face !== null && qty !== null) {
    const chosenFace = face;
    parts.push(h("form", {
      class: "bid-picker",
      onsubmit: (e: Event) => {
        e.preventDefault();
        ctx.send({ type: "Act", action: { type: "Bid", quantity: qty, face: chosenFace } });
        ctx.setUi({ bidQty: null });
      },
    },
      h("label", { for: "bid-quantity" }, "Bid"),
      h("select", {
        id: "bid-quantity", testid: "bid-quantity", "aria-label": "quantity",
        onchange: (e: Event) => ctx.setUi({ bidQty: parseInt((e.target as HTMLSelectElement).value, 10) }),
      }, qs.map((q) => h("option", { value: q, selected: q === qty }, String(q)))),
      h("span", { "aria-hidden": "true" }, "×"),
      h("select", {
        id: "bid-face", testid: "bid-face", "aria-label": "face",
        onchange: (e: Event) => ctx.setUi({ bidFace: parseInt((e.target as HTMLSelectElement).value, 10), bidQty: null }),
      }, options.map((o) => h("option", { value: o.face, selected: o.face === face }, `${faceName(o.face, 2)} (${o.face})`))),
      h("button", { type: "submit", testid: "bid-button", class: "primary" }, "Bid")));
  }
  const calls = h("div", { class: "calls" },
    legal?.dudo ? h("button", { type: "button", testid: "dudo-button", class: "danger", onclick: () => ctx.send({ type: "Act", action: { type: "Dudo" } }) }, "Dudo!") : null,
    legal?.calza ? h("button", { type: "button", testid: "calza-button", onclick: () => ctx.send({ type: "Act", action: { type: "Calza" } }) }, "Calza!") : null,
    legal?.declare_palifico ? h("button", { type: "button", testid: "palifico-button", onclick: () => ctx.send({ type: "Act", action: { type: "DeclarePalifico" } }) }, "Declare palifico") : null);
  parts.push(calls);
  return h("section", { class: "controls", "aria-label": "your move" }, parts);
}

function emotes(ctx: TableCtx): HTMLElement {
  return h("section", { class: "emotes", "aria-label": "emotes" },
    ctx.state.mySeat !== null
      ? h("div", { class: "emote-buttons" },
          EMOTES.map((e) => h("button", {
            type: "button", testid: `emote-${e}`, "aria-label": e, title: e,
            onclick: () => ctx.send({ type: "Emote", emote: e }),
          }, EMOTE_ICONS[e])))
      : null,
    h("ul", { testid: "emote-feed", class: "emote-feed", "aria-label": "reactions" },
      ctx.state.emotes.map((e) => h("li", { "data-emote": e.emote }, `${e.name} ${EMOTE_ICONS[e.emote]} ${e.emote}`))));
}

export function outcomeText(res: Resolution, name: (seat: number) => string): string {
  const caller = res.call.type === "Dudo" ? res.call.challenger : res.call.caller;
  const what = res.call.type === "Dudo"
    ? `${name(caller)} called dudo: the bid was ${res.call_succeeded ? "false" : "right"}.`
    : `${name(caller)} called calza: ${res.call_succeeded ? "exactly right" : "wrong"}.`;
  const changes = res.changes.map((c) => {
    const d = c.after - c.before;
    const verb = d < 0 ? `lost ${-d === 1 ? "a die" : `${-d} dice`}` : `gained ${d === 1 ? "a die" : `${d} dice`}`;
    return `${name(c.seat)} ${verb} (${c.before} → ${c.after})${c.after === 0 ? ", out of the game" : ""}.`;
  });
  return [what, ...changes].join(" ");
}

export function revealView(res: Resolution, room: RoomView, name: (seat: number) => string): HTMLElement {
  const bid = res.bid.bid;
  return h("section", { testid: "reveal", class: "reveal", "aria-label": "reveal" },
    h("h3", null, `Round ${res.round + 1}: the dice`),
    h("ul", { class: "hands" },
      res.hands.map((hand, seat) =>
        h("li", { class: "hand" },
          h("span", { class: "name" }, name(seat)),
          h("span", { testid: `reveal-hand-${seat}`, class: "dice" },
            hand.length === 0 ? h("span", { class: "muted" }, "out") : hand.map((f) => die(f, dieMatches(res, seat, f))))))),
    h("p", { testid: "reveal-count", class: "count" },
      `${res.count} counted against ${name(res.bid.seat)}'s bid of ${bidText(bid.quantity, bid.face)}`,
      res.wilds === "None" || bid.face === 1 ? " (aces not wild)" : res.wilds === "BidderOnly" ? " (only the bidder's aces wild)" : " (aces wild)"),
    h("p", { testid: "reveal-outcome", class: "outcome" }, outcomeText(res, name)),
    room.phase === "Reveal" ? h("p", { class: "muted" }, "The next round starts in a moment…") : null);
}
