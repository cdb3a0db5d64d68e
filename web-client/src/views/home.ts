// Home page: create a room, or join one by code.
import { h } from "../dom";
import type { ApiError, CreateRoom, GameConfig, RoomCreated, RoomOptions } from "../protocol/generated";
import { DEFAULT_OPTIONS, DEFAULT_RULES } from "../rules";
import { rulesForm } from "./rulesForm";

export interface HomeDeps {
  navigate(path: string): void;
  toast(message: string): void;
}

export const tokenKey = (code: string): string => `perudo:token:${code}`;
export const NAME_KEY = "perudo:name";

export function normalizeCode(raw: string): string {
  const trimmed = raw.trim();
  const fromUrl = /\/r\/([^/?#\s]+)/.exec(trimmed);
  return (fromUrl?.[1] ?? trimmed).toUpperCase().replace(/[^A-Z0-9-]/g, "");
}

export function homeView(deps: HomeDeps): HTMLElement {
  const rules: GameConfig = structuredClone(DEFAULT_RULES);
  const options: RoomOptions = { ...DEFAULT_OPTIONS };
  const nameInput = h("input", {
    id: "create-name", testid: "create-name", type: "text", maxlength: 24, autocomplete: "nickname",
    required: true, value: localStorage.getItem(NAME_KEY) ?? "",
  });
  const createButton = h("button", { type: "submit", testid: "create-button", class: "primary" }, "Create room");
  const rulesHost = h("div", null, rulesForm(rules, options, () => {}));

  const create = async (e: Event): Promise<void> => {
    e.preventDefault();
    const name = nameInput.value.trim();
    if (!name) { deps.toast("enter your name"); nameInput.focus(); return; }
    createButton.disabled = true;
    try {
      const body: CreateRoom = { name, rules, options };
      const res = await fetch("/api/rooms", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      });
      if (!res.ok) {
        const err = (await res.json().catch(() => null)) as ApiError | null;
        deps.toast(err?.message ?? `could not create the room (${res.status})`);
        return;
      }
      const created = (await res.json()) as RoomCreated;
      localStorage.setItem(tokenKey(created.code), created.token);
      localStorage.setItem(NAME_KEY, name);
      deps.navigate(`/r/${created.code}`);
    } catch {
      deps.toast("could not reach the server");
    } finally {
      createButton.disabled = false;
    }
  };

  const codeInput = h("input", {
    id: "join-code", testid: "join-code", type: "text", autocomplete: "off", autocapitalize: "characters",
    placeholder: "ABCD", required: true,
  });
  const join = (e: Event): void => {
    e.preventDefault();
    const code = normalizeCode(codeInput.value);
    if (!code) { deps.toast("enter a room code"); codeInput.focus(); return; }
    deps.navigate(`/r/${code}`);
  };

  return h("div", { class: "home" },
    h("section", { class: "card" },
      h("h2", null, "Join a room"),
      h("form", { class: "row", onsubmit: join },
        h("label", { for: "join-code", class: "sr-only" }, "Room code"),
        codeInput,
        h("button", { type: "submit", testid: "join-button", class: "primary" }, "Join"))),
    h("section", { class: "card" },
      h("h2", null, "Create a room"),
      h("form", { onsubmit: (e: Event) => void create(e) },
        h("div", { class: "row" },
          h("label", { for: "create-name" }, "Your name"),
          nameInput),
        h("details", { open: true },
          h("summary", null, "House rules"),
          rulesHost),
        h("div", { class: "row" }, createButton))),
  );
}
