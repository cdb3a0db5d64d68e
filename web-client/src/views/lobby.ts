// The lobby (phase Lobby, or Finished between games): share link, seats, host controls.
import qrcode from "qrcode-generator";
import { h } from "../dom";
import type { BotLevel, GameConfig, Request, RoomOptions, RoomView } from "../protocol/generated";
import type { RoomState } from "../state";
import { rulesForm } from "./rulesForm";

export interface LobbyUi {
  botLevel: BotLevel;
  rulesDraft: GameConfig | null;
  optionsDraft: RoomOptions | null;
  copied: boolean;
}

export interface LobbyCtx {
  state: RoomState;
  ui: LobbyUi;
  shareUrl: string;
  spectating: boolean;
  send(req: Request): void;
  setUi(patch: Partial<LobbyUi>, rerender?: boolean): void;
  leave(): void;
}

const SVG = "http://www.w3.org/2000/svg";

/** The QR code as an SVG built with DOM calls (no markup strings). */
export function qrElement(text: string): Element {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `-2 -2 ${n + 4} ${n + 4}`);
  svg.setAttribute("width", "160");
  svg.setAttribute("height", "160");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "QR code of the room link");
  svg.setAttribute("data-testid", "qr");
  svg.setAttribute("class", "qr");
  const bg = document.createElementNS(SVG, "rect");
  bg.setAttribute("x", "-2"); bg.setAttribute("y", "-2");
  bg.setAttribute("width", String(n + 4)); bg.setAttribute("height", String(n + 4));
  bg.setAttribute("fill", "#fff");
  svg.appendChild(bg);
  let d = "";
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.isDark(r, c)) d += `M${c} ${r}h1v1h-1z`;
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "#000");
  svg.appendChild(path);
  return svg;
}

function status(room: RoomView, i: number): "connected" | "away" | "bot" {
  const o = room.seats[i]?.occupant;
  if (!o || o.type === "Bot") return "bot";
  return o.connected ? "connected" : "away";
}

export function lobbyView(ctx: LobbyCtx): HTMLElement {
  const { state, ui } = ctx;
  const room = state.room as RoomView;
  const isHost = state.mySeat !== null && room.host === state.mySeat;
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(ctx.shareUrl);
      ctx.setUi({ copied: true });
    } catch {
      const sel = window.getSelection();
      const el = document.querySelector('[data-testid="share-link"]');
      if (sel && el) { sel.selectAllChildren(el); }
    }
  };

  const seats = h("ul", { class: "seats" },
    room.seats.map((seat, i) => {
      const st = status(room, i);
      const other = i !== state.mySeat;
      return h("li", { testid: `seat-${i}`, class: "seat" },
        h("span", { testid: `seat-name-${i}`, class: "name" }, seat.name),
        room.host === i ? h("span", { class: "tag host" }, "host") : null,
        i === state.mySeat ? h("span", { class: "tag" }, "you") : null,
        h("span", { testid: `seat-status-${i}`, class: `status ${st}` },
          st === "bot" && seat.occupant.type === "Bot" ? `bot` : st),
        seat.occupant.type === "Bot" ? h("span", { class: "muted" }, ` (${seat.occupant.level})`) : null,
        isHost && other
          ? h("span", { class: "seat-actions" },
              seat.occupant.type === "Human"
                ? h("button", { type: "button", testid: `make-host-${i}`, onclick: () => ctx.send({ type: "TransferHost", seat: i }) }, "Make host")
                : null,
              h("button", { type: "button", testid: `kick-${i}`, class: "danger", onclick: () => ctx.send({ type: "Kick", seat: i }) }, "Kick"))
          : null);
    }));

  // The host's edits go into drafts (mutated in place); a save sends them and drops them.
  const rules = (ui.rulesDraft ??= structuredClone(room.rules));
  const options = (ui.optionsDraft ??= { ...room.options });
  const host = isHost
    ? h("section", { class: "card host-controls", "aria-label": "host controls" },
        h("h3", null, "Host"),
        h("div", { class: "row" },
          h("label", { for: "bot-level" }, "Bot level"),
          h("select", {
            id: "bot-level", testid: "bot-level",
            onchange: (e: Event) => { ui.botLevel = (e.target as HTMLSelectElement).value as BotLevel; },
          }, (["Easy", "Normal", "Hard"] as const).map((l) => h("option", { value: l, selected: l === ui.botLevel }, l))),
          h("button", { type: "button", testid: "add-bot", onclick: () => ctx.send({ type: "AddBot", level: ui.botLevel }) }, "Add bot"),
          h("button", { type: "button", testid: "start-button", class: "primary", onclick: () => ctx.send({ type: "Start" }) },
            room.phase === "Finished" ? "Start next game" : "Start game")),
        h("form", {
          class: "rules-form",
          onsubmit: (e: Event) => {
            e.preventDefault();
            ctx.send({ type: "SetRules", rules });
            if (options.forfeit_after_secs !== room.options.forfeit_after_secs) ctx.send({ type: "SetOptions", options });
            ctx.setUi({ rulesDraft: null, optionsDraft: null });
          },
        },
          h("h4", null, "House rules"),
          rulesForm(rules, options, () => {}),
          h("button", { type: "submit", testid: "save-rules" }, "Save rules")))
    : h("section", { class: "card" },
        h("h3", null, "House rules"),
        h("p", { class: "muted" },
          `${room.rules.starting_dice} dice each, ${room.rules.min_players}–${room.rules.max_players} players, aces ${room.rules.aces_wild ? "wild" : "not wild"}, `,
          `calza ${room.rules.calza_enabled ? "on" : "off"}, palifico ${room.rules.palifico_enabled ? "on" : "off"}, `,
          room.rules.turn_time_limit_secs === null ? "no turn limit" : `${room.rules.turn_time_limit_secs} s per turn`,
          "."));

  return h("div", { class: "lobby" },
    h("section", { class: "card share" },
      h("h3", null, "Invite players"),
      h("div", { class: "share-row" },
        h("code", { testid: "share-link", class: "link" }, ctx.shareUrl),
        h("button", { type: "button", testid: "copy-link", onclick: () => void copy() }, ui.copied ? "Copied!" : "Copy link")),
      qrElement(ctx.shareUrl)),
    h("section", { class: "card" },
      h("h3", null, `Seats (${room.seats.length}/${room.rules.max_players})`, room.spectators > 0 ? ` · ${room.spectators} watching` : ""),
      seats),
    host,
    state.mySeat !== null || ctx.spectating
      ? h("div", { class: "row" }, h("button", { type: "button", testid: "leave-button", onclick: () => ctx.leave() }, ctx.spectating && state.mySeat === null ? "Stop watching" : "Leave seat"))
      : null,
  );
}
