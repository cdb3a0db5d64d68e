// Home page: your name and a big "Create room" first; rules behind "Customise rules"; one
// click to play against bots; join a room by code.
import { h } from "../dom";
import type { VNode } from "../dom";
import { t } from "../i18n";
import type { ApiError, CreateRoom, GameConfig, RoomCreated, RoomOptions } from "../protocol/generated";
import { DEFAULT_OPTIONS, DEFAULT_RULES, rulesProblem, rulesSummary } from "../rules";
import { rulesForm } from "./rulesForm";

export interface HomeDeps {
  navigate(path: string): void;
  toast(message: string): void;
  rerender(): void;
}

export const tokenKey = (code: string): string => `perudo:token:${code}`;
export const NAME_KEY = "perudo:name";
/** Set by "Play against bots now": the room page adds bots and starts at once. */
export const QUICK_KEY = (code: string): string => `perudo:quick:${code}`;

export function normalizeCode(raw: string): string {
  const trimmed = raw.trim();
  const fromUrl = /\/r\/([^/?#\s]+)/.exec(trimmed);
  return (fromUrl?.[1] ?? trimmed).toUpperCase().replace(/[^A-Z0-9-]/g, "");
}

export interface HomeModel {
  name: string;
  code: string;
  rules: GameConfig;
  options: RoomOptions;
  rulesOpen: boolean;
  busy: boolean;
}

export function newHomeModel(): HomeModel {
  return {
    name: localStorage.getItem(NAME_KEY) ?? "", code: "", rules: structuredClone(DEFAULT_RULES),
    options: { ...DEFAULT_OPTIONS }, rulesOpen: false, busy: false,
  };
}

async function create(m: HomeModel, deps: HomeDeps, quick: boolean): Promise<void> {
  let name = m.name.trim();
  if (!name && quick) name = t("home.defaultName");
  if (!name) { deps.toast(t("home.needName")); document.getElementById("create-name")?.focus(); return; }
  const problem = rulesProblem(m.rules, m.options);
  if (problem && !quick) { deps.toast(problem); return; }
  m.busy = true;
  deps.rerender();
  try {
    const body: CreateRoom = quick ? { name } : { name, rules: m.rules, options: m.options };
    const res = await fetch("/api/rooms", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    if (!res.ok) {
      const err = (await res.json().catch(() => null)) as ApiError | null;
      const known = ["storage", "busy", "too_many_rooms", "rate_limited", "name_invalid", "invalid_rules", "invalid_options"];
      deps.toast(err && known.includes(err.code) ? t(`api.${err.code}`) : t("home.createFailed", { status: res.status }));
      return;
    }
    const created = (await res.json()) as RoomCreated;
    localStorage.setItem(tokenKey(created.code), created.token);
    localStorage.setItem(NAME_KEY, name);
    if (quick) sessionStorage.setItem(QUICK_KEY(created.code), "1");
    deps.navigate(`/r/${created.code}`);
  } catch {
    deps.toast(t("error.unreachable"));
  } finally {
    m.busy = false;
    deps.rerender();
  }
}

export function homeView(m: HomeModel, deps: HomeDeps): VNode {
  const join = (e: Event): void => {
    e.preventDefault();
    const code = normalizeCode(m.code);
    if (!code) { deps.toast(t("home.needCode")); document.getElementById("join-code")?.focus(); return; }
    deps.navigate(`/r/${code}`);
  };
  return h("div", { class: "home" },
    h("section", { class: "card hero", "aria-labelledby": "create-title" },
      h("h1", { id: "create-title" }, t("home.title")),
      h("p", { class: "lead" }, t("home.lead")),
      h("form", { onsubmit: (e: Event) => { e.preventDefault(); void create(m, deps, false); } },
        h("div", { class: "field" },
          h("label", { for: "create-name" }, t("home.yourName")),
          h("input", {
            id: "create-name", testid: "create-name", type: "text", maxlength: 24, autocomplete: "nickname",
            value: m.name, oninput: (e: Event) => { m.name = (e.target as HTMLInputElement).value; },
          })),
        h("div", { class: "row" },
          h("button", { type: "submit", testid: "create-button", class: "primary big", disabled: m.busy }, t("home.create")),
          h("button", {
            type: "button", testid: "quick-bots-button", class: "big", disabled: m.busy,
            onclick: () => void create(m, deps, true),
          }, t("home.quick"))),
        h("p", { class: "muted", testid: "home-rules-summary" }, rulesSummary(m.rules)),
        h("details", {
          class: "rules-details", open: m.rulesOpen || null,
          ontoggle: (e: Event) => { m.rulesOpen = (e.currentTarget as HTMLDetailsElement).open; },
        },
          h("summary", { testid: "rules-toggle" }, t("rules.customise")),
          rulesForm({
            rules: m.rules, options: m.options,
            onRules: (rules) => { m.rules = rules; deps.rerender(); },
            onOptions: (options) => { m.options = options; deps.rerender(); },
          })))),
    h("section", { class: "card", "aria-labelledby": "join-title" },
      h("h2", { id: "join-title", class: "h3" }, t("home.joinTitle")),
      h("form", { class: "row", onsubmit: join },
        h("label", { for: "join-code" }, t("home.code")),
        h("input", {
          id: "join-code", testid: "join-code", type: "text", autocomplete: "off", autocapitalize: "characters",
          placeholder: "ABCD", value: m.code, oninput: (e: Event) => { m.code = (e.target as HTMLInputElement).value; },
        }),
        h("button", { type: "submit", testid: "join-button" }, t("home.join")))),
  );
}
