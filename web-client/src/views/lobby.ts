// The lobby (phase Lobby, or Finished between games): share link, seats, host controls.
import qrcode from "qrcode-generator";
import { h } from "../dom";
import type { VNode } from "../dom";
import { t } from "../i18n";
import type { BotLevel, GameConfig, Request, RoomOptions, RoomView } from "../protocol/generated";
import { rulesSummary } from "../rules";
import type { RoomState } from "../state";
import { avatar } from "./parts";
import { rulesForm } from "./rulesForm";

export interface LobbyUi {
  botLevel: BotLevel;
  /** Only the host's unsaved changes (a patch over the room's rules), kept until the save
   * is acknowledged so the form always shows what the server has plus what was changed. */
  rulesEdits: Partial<GameConfig>;
  optionsEdits: Partial<RoomOptions>;
  rulesOpen: boolean;
  copied: boolean;
}

export interface LobbyCtx {
  state: RoomState;
  ui: LobbyUi;
  shareUrl: string;
  spectating: boolean;
  send(req: Request): void;
  setUi(patch: Partial<LobbyUi>): void;
  /** The merged draft rules changed (already adjusted). */
  editRules(rules: GameConfig, options: RoomOptions): void;
  saveRules(): void;
  leave(): void;
}

/** The QR code as SVG (no markup strings). */
export function qrElement(text: string): VNode {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  let d = "";
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.isDark(r, c)) d += `M${c} ${r}h1v1h-1z`;
  return h("svg", {
    viewBox: `-2 -2 ${n + 4} ${n + 4}`, width: 160, height: 160, role: "img", "aria-label": t("lobby.qr"),
    testid: "qr", class: "qr",
  },
    h("rect", { x: -2, y: -2, width: n + 4, height: n + 4, fill: "#fff" }),
    h("path", { d, fill: "#000" }));
}

function status(room: RoomView, i: number): "connected" | "away" | "bot" {
  const o = room.seats[i]?.occupant;
  if (!o || o.type === "Bot") return "bot";
  return o.connected ? "connected" : "away";
}

/** The rules as the form shows them: the room's, with the host's unsaved changes on top. */
export function draftRules(room: RoomView, ui: LobbyUi): { rules: GameConfig; options: RoomOptions; dirty: boolean } {
  const rules = { ...room.rules, ...ui.rulesEdits } as GameConfig;
  const options = { ...room.options, ...ui.optionsEdits } as RoomOptions;
  const dirty = JSON.stringify(rules) !== JSON.stringify(room.rules) || JSON.stringify(options) !== JSON.stringify(room.options);
  return { rules, options, dirty };
}

export function lobbyView(ctx: LobbyCtx): VNode {
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
      if (sel && el) sel.selectAllChildren(el);
    }
  };

  const seats = h("ul", { class: "seats" },
    room.seats.map((seat, i) => {
      const st = status(room, i);
      const other = i !== state.mySeat;
      return h("li", { key: i, testid: `seat-${i}`, class: "seat" },
        avatar(i, seat.name),
        h("span", { testid: `seat-name-${i}`, class: "name" }, seat.name),
        room.host === i ? h("span", { class: "tag host" }, t("seat.host")) : null,
        i === state.mySeat ? h("span", { class: "tag you" }, t("seat.you")) : null,
        h("span", { class: `status ${st}`, testid: `seat-status-${i}`, "data-status": st }, t(`status.${st}`)),
        seat.occupant.type === "Bot" ? h("span", { class: "muted" }, t(`bot.${seat.occupant.level}`)) : null,
        isHost && other
          ? h("span", { class: "seat-actions" },
              seat.occupant.type === "Human"
                ? h("button", { type: "button", testid: `make-host-${i}`, onclick: () => ctx.send({ type: "TransferHost", seat: i }) }, t("lobby.makeHost"))
                : null,
              h("button", { type: "button", testid: `kick-${i}`, class: "danger", "aria-label": t("lobby.kickName", { name: seat.name }), onclick: () => ctx.send({ type: "Kick", seat: i }) }, t("lobby.kick")))
          : null);
    }));

  const draft = draftRules(room, ui);
  const host = isHost
    ? h("section", { class: "card host-controls", "aria-labelledby": "host-title" },
        h("h2", { id: "host-title", class: "h3" }, t("lobby.host")),
        h("div", { class: "row" },
          h("button", {
            type: "button", testid: "start-button", class: "primary big",
            onclick: () => ctx.send({ type: "Start" }),
          }, room.phase === "Finished" ? t("lobby.startNext") : t("lobby.start")),
          h("label", { for: "bot-level" }, t("lobby.botLevel")),
          h("select", {
            id: "bot-level", testid: "bot-level", value: ui.botLevel,
            onchange: (e: Event) => ctx.setUi({ botLevel: (e.target as HTMLSelectElement).value as BotLevel }),
          }, (["Easy", "Normal", "Hard"] as const).map((l) => h("option", { key: l, value: l }, t(`bot.${l}`)))),
          h("button", { type: "button", testid: "add-bot", onclick: () => ctx.send({ type: "AddBot", level: ui.botLevel }) }, t("lobby.addBot"))),
        h("p", { class: "muted", testid: "rules-summary" }, rulesSummary(room.rules)),
        h("details", {
          class: "rules-details", open: ui.rulesOpen || draft.dirty || null,
          ontoggle: (e: Event) => { ui.rulesOpen = (e.currentTarget as HTMLDetailsElement).open; },
        },
          h("summary", { testid: "rules-toggle" }, t("rules.customise")),
          h("form", {
            class: "rules-form",
            onsubmit: (e: Event) => { e.preventDefault(); ctx.saveRules(); },
          },
            rulesForm({
              rules: draft.rules, options: draft.options,
              onRules: (rules) => ctx.editRules(rules, draft.options),
              onOptions: (options) => ctx.editRules(draft.rules, options),
            }),
            h("div", { class: "row" },
              h("button", { type: "submit", testid: "save-rules", class: "primary" }, t("rules.save")),
              draft.dirty
                ? h("span", { class: "muted", testid: "rules-unsaved" }, t("rules.unsaved"))
                : h("span", { class: "muted", testid: "rules-saved" }, t("rules.saved"))))))
    : h("section", { class: "card", "aria-labelledby": "rules-title" },
        h("h2", { id: "rules-title", class: "h3" }, t("lobby.rules")),
        h("p", { class: "muted", testid: "rules-summary" }, rulesSummary(room.rules)),
        h("p", { class: "muted" }, t("lobby.waitHost")));

  return h("div", { class: "lobby" },
    h("section", { class: "card share", "aria-labelledby": "share-title" },
      h("h2", { id: "share-title", class: "h3" }, t("lobby.invite")),
      h("div", { class: "share-row" },
        h("code", { testid: "share-link", class: "link" }, ctx.shareUrl),
        h("button", { type: "button", testid: "copy-link", onclick: () => void copy() }, ui.copied ? t("lobby.copied") : t("lobby.copy"))),
      qrElement(ctx.shareUrl)),
    h("section", { class: "card", "aria-labelledby": "seats-title" },
      h("h2", { id: "seats-title", class: "h3" }, t("lobby.seats", { n: room.seats.length, max: room.rules.max_players }),
        room.spectators > 0 ? ` · ${t("lobby.watching", { count: room.spectators })}` : ""),
      seats),
    host,
    state.mySeat !== null || ctx.spectating
      ? h("div", { class: "row" }, h("button", { type: "button", testid: "leave-button", onclick: () => ctx.leave() },
          ctx.spectating && state.mySeat === null ? t("room.stopWatching") : t("lobby.leaveSeat")))
      : null,
  );
}
