// Entry point: the page shell (header, connection state, toast, announcer, "How to play") and
// routing. One Preact render of the whole app after every change; Preact touches only the DOM
// that differs, so focus and running animations are kept.
import { render } from "preact";
import { h } from "./dom";
import type { VNode } from "./dom";
import type { ConnState } from "./connection";
import { LANGS, LANG_KEY, detectLang, getLang, setLang, t } from "./i18n";
import type { Lang } from "./i18n";
import { loadMuted, prefersReducedMotion, saveMuted } from "./prefs";
import { DEFAULT_RULES } from "./rules";
import { play, unlock } from "./sound";
import { playCues } from "./feedback";
import type { Cue } from "./feedback";
import { tabSignal } from "./tab";
import { homeView, newHomeModel, normalizeCode } from "./views/home";
import type { HomeModel } from "./views/home";
import { howToView } from "./views/howto";
import { speakerIcon } from "./views/parts";
import { RoomPage } from "./views/room";
import "./style.css";

setLang(detectLang(safeGet(LANG_KEY), navigator.languages ?? [navigator.language]));

function safeGet(key: string): string | null {
  try { return localStorage.getItem(key); } catch { return null; }
}

/** The room socket's state; null on pages without one (home): nothing is shown. */
let conn: ConnState | null = null;
let toastText: string | null = null;
let toastTimer: ReturnType<typeof setTimeout> | null = null;
let announceText = "";
let page: RoomPage | null = null;
let home: HomeModel | null = null;
let howOpen = false;
let muted = loadMuted();
let myTurn = false;
let scheduled = false;

function toast(message: string): void {
  toastText = message;
  if (toastTimer) clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { toastText = null; rerender(); }, 6000);
  rerender();
}

function announce(message: string): void {
  // Clear first so repeating the same text is announced again.
  announceText = "";
  rerender();
  setTimeout(() => { announceText = message; rerender(); }, 30);
}

function navigate(path: string): void {
  history.pushState(null, "", path);
  route();
}

function baseTitle(): string {
  return page ? `perudo · ${page.code}` : "perudo";
}

/** The tab's title and favicon say it is your turn, but only while the tab is hidden (seen
 * from another tab or app); they clear when the tab is visible again. */
function setMyTurn(mine: boolean): void {
  myTurn = mine;
  showTurnSignal();
}

function showTurnSignal(): void {
  const { title, icon: href } = tabSignal(myTurn, document.visibilityState === "hidden", baseTitle());
  if (document.title !== title) document.title = title;
  const icon = document.getElementById("favicon");
  if (icon && icon.getAttribute("href") !== href) icon.setAttribute("href", href);
}

function route(): void {
  page?.destroy();
  page = null;
  home = null;
  howOpen = false;
  const m = /^\/r\/([^/]+)\/?$/.exec(location.pathname);
  if (m?.[1]) {
    const code = normalizeCode(decodeURIComponent(m[1]));
    page = new RoomPage(code, {
      setConnection: (s) => { conn = s; }, toast, announce, navigate, rerender,
      cues: (cues: Cue[]) => playCues(cues, () => muted, { play, navigator }),
      setMyTurn, reducedMotion: prefersReducedMotion,
    });
  } else {
    conn = null;
    home = newHomeModel();
  }
  setMyTurn(false);
  rerender();
}

/** Coalesces renders into one per frame (a burst of messages draws once). */
export function rerender(): void {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => { scheduled = false; draw(); });
}

function header(): VNode {
  return h("header", { class: "top" },
    h("a", { href: "/", class: "brand", "aria-label": "perudo", onclick: (e: Event) => { e.preventDefault(); navigate("/"); } },
      h("img", { src: "/favicon.svg", alt: "", width: 24, height: 24 }), h("span", { class: "brand-name" }, "perudo")),
    h("nav", { class: "tools", "aria-label": t("nav.label") },
      h("button", {
        type: "button", testid: "how-button", "aria-expanded": String(howOpen),
        onclick: () => { howOpen = !howOpen; rerender(); if (howOpen) setTimeout(() => document.getElementById("how-title")?.focus(), 0); },
      }, t("nav.how")),
      h("button", {
        type: "button", testid: "mute-button", "aria-pressed": String(!muted),
        "aria-label": muted ? t("nav.soundOff") : t("nav.soundOn"), title: muted ? t("nav.soundOff") : t("nav.soundOn"),
        onclick: () => { muted = !muted; saveMuted(muted); if (!muted) { unlock(); play("turn"); } rerender(); },
      }, speakerIcon(!muted)),
      h("label", { class: "sr-only", for: "lang-select" }, t("nav.language")),
      h("select", {
        id: "lang-select", testid: "lang-select", value: getLang(),
        onchange: (e: Event) => {
          const next = (e.target as HTMLSelectElement).value as Lang;
          setLang(next);
          try { localStorage.setItem(LANG_KEY, next); } catch { /* not kept */ }
          showTurnSignal();
          rerender();
        },
      }, LANGS.map((l) => h("option", { key: l, value: l, lang: l, title: t(`lang.${l}`) }, l.toUpperCase()))),
      conn === null ? null : h("span", { testid: "connection-state", class: `conn ${conn}`, role: "status", "data-state": conn }, t(`conn.${conn}`))));
}

function draw(): void {
  const rules = page?.rules ?? home?.rules ?? DEFAULT_RULES;
  const content = page ? page.view() : home ? homeView(home, { navigate, toast, rerender }) : null;
  render([
    header(),
    h("div", { testid: "error-toast", class: "toast", role: "alert", hidden: toastText === null || null }, toastText ?? ""),
    h("main", { id: "main" },
      howOpen ? howToView(rules, () => { howOpen = false; rerender(); document.querySelector<HTMLElement>('[data-testid="how-button"]')?.focus(); }, page !== null) : null,
      content),
    h("div", { testid: "announcer", class: "sr-only", "aria-live": "polite", "aria-atomic": "true" }, announceText),
  ], document.getElementById("app") ?? document.body);
}

// The first tap anywhere unlocks audio (browsers start it suspended).
document.addEventListener("pointerdown", () => { if (!muted) unlock(); }, { once: true });
window.addEventListener("popstate", route);
document.addEventListener("visibilitychange", showTurnSignal);
route();
