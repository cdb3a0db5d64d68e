// Entry point: the page shell (connection state, toast, announcer) and routing.
import { h } from "./dom";
import type { ConnState } from "./connection";
import { homeView, normalizeCode } from "./views/home";
import { RoomPage } from "./views/room";
import "./style.css";

const connEl = h("span", { testid: "connection-state", class: "conn offline", role: "status" }, "offline");
const toastEl = h("div", { testid: "error-toast", class: "toast", role: "alert", hidden: true });
const announcerEl = h("div", { testid: "announcer", class: "sr-only", "aria-live": "polite", "aria-atomic": "true" });
const mainEl = h("main", { id: "main" });
let toastTimer: ReturnType<typeof setTimeout> | null = null;
let page: RoomPage | null = null;

function setConnection(state: ConnState): void {
  connEl.textContent = state;
  connEl.className = `conn ${state}`;
}

function toast(message: string): void {
  toastEl.textContent = message;
  toastEl.hidden = false;
  if (toastTimer) clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { toastEl.hidden = true; toastEl.textContent = ""; }, 6000);
}

function announce(message: string): void {
  // Clear first so repeating the same text is announced again.
  announcerEl.textContent = "";
  setTimeout(() => { announcerEl.textContent = message; }, 30);
}

function navigate(path: string): void {
  history.pushState(null, "", path);
  route();
}

function route(): void {
  page?.destroy();
  page = null;
  const m = /^\/r\/([^/]+)\/?$/.exec(location.pathname);
  if (m?.[1]) {
    const code = normalizeCode(decodeURIComponent(m[1]));
    document.title = `perudo · ${code}`;
    page = new RoomPage(code, { setConnection, toast, announce, navigate });
    mainEl.replaceChildren(page.el);
  } else {
    document.title = "perudo";
    setConnection("offline");
    mainEl.replaceChildren(homeView({ navigate, toast }));
  }
}

const root = document.getElementById("app") ?? document.body;
root.replaceChildren(
  h("header", { class: "top" },
    h("a", { href: "/", class: "brand", onclick: (e: Event) => { e.preventDefault(); navigate("/"); } }, "🎲 perudo"),
    connEl),
  toastEl,
  mainEl,
  announcerEl,
);
window.addEventListener("popstate", route);
route();
