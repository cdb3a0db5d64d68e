// The room page: connection, state, and which view to show.
import { Connection, roomSocketUrl } from "../connection";
import type { ConnState } from "../connection";
import { h } from "../dom";
import { verifySeed } from "../game";
import type { Request, ServerMessage } from "../protocol/generated";
import { clockRemaining, initialState, reduce } from "../state";
import type { RoomState } from "../state";
import { NAME_KEY, tokenKey } from "./home";
import { lobbyView } from "./lobby";
import type { LobbyUi } from "./lobby";
import { resultsView } from "./results";
import type { ResultsUi } from "./results";
import { revealView as revealSection, tableView, timerText } from "./table";
import type { TableUi } from "./table";

export interface Shell {
  setConnection(state: ConnState): void;
  toast(message: string): void;
  announce(message: string): void;
  navigate(path: string): void;
}

type Ui = LobbyUi & TableUi & ResultsUi & { joinName: string; notice: string | null };

export class RoomPage {
  readonly el = h("div", { class: "room" });
  private state: RoomState = initialState;
  private ui: Ui = {
    botLevel: "Normal", rulesDraft: null, optionsDraft: null, copied: false, bidFace: null, bidQty: null,
    verifyOpen: false, verifyResult: null, joinName: localStorage.getItem(NAME_KEY) ?? "", notice: null,
  };
  private conn: Connection;
  private spectating = false;
  private connState: ConnState = "connecting";
  private tick: ReturnType<typeof setInterval>;
  private lastAnnouncement = 0;
  private lastError = 0;
  /** The room answered 404 (it never existed or has closed): no reconnecting, no room views. */
  private gone = false;
  private checking = false;
  private destroyed = false;

  constructor(private readonly code: string, private readonly shell: Shell) {
    this.conn = new Connection(roomSocketUrl(location, code), {
      onMessage: (m, answers) => this.onMessage(m, answers),
      onState: (s) => { this.connState = s; shell.setConnection(s); this.render(); },
      enterRequest: (first) => this.enterRequest(first),
      onOpenFailed: () => void this.checkExists(),
    });
    this.tick = setInterval(() => this.updateTimer(), 250);
    this.render();
    this.conn.start();
    void this.checkExists();
  }

  /** A mistyped or closed room answers 404: say so instead of reconnecting forever. Run at
   * page load and again whenever a socket fails before opening (the upgrade of an unknown room
   * answers 404, which the browser reports as a plain failed socket). Network errors and other
   * statuses (5xx while the server restarts) leave the connection's backoff to carry on. */
  private async checkExists(): Promise<void> {
    if (this.checking || this.gone || this.destroyed) return;
    this.checking = true;
    try {
      const res = await fetch(`/api/rooms/${encodeURIComponent(this.code)}`);
      if (res.status !== 404) return;
    } catch {
      return; // Offline: the connection's own retries cover it.
    } finally {
      this.checking = false;
    }
    if (this.destroyed) return;
    this.roomGone();
  }

  /** The room does not exist (any more): stop reconnecting and show the not-found view. */
  private roomGone(): void {
    this.gone = true;
    this.conn.stop();
    this.spectating = false;
    this.state = { ...initialState, error: this.state.error, announcement: this.state.announcement };
    this.ui.notice = `There is no room with the code ${this.code}. It may have closed; check the code or create a new room.`;
    this.render();
  }

  destroy(): void {
    this.destroyed = true;
    clearInterval(this.tick);
    this.conn.stop();
  }

  private get token(): string | null {
    return localStorage.getItem(tokenKey(this.code));
  }

  private enterRequest(first: boolean): Request | null {
    const token = this.token;
    const v = this.state.version;
    if (token) return first || v === null ? { type: "Claim", token } : { type: "Resume", token, last_version: v };
    if (this.spectating) return v === null ? { type: "Spectate" } : { type: "Resume", token: null, last_version: v };
    return null;
  }

  private onMessage(msg: ServerMessage, answers: Request | undefined): void {
    if (msg.type === "Rejected" && answers && (answers.type === "Claim" || answers.type === "Resume") && msg.code === "BadToken") {
      localStorage.removeItem(tokenKey(this.code));
      this.state = { ...initialState, error: this.state.error };
    }
    if (msg.type === "Rejected" && answers?.type === "Spectate") this.spectating = false;
    if (msg.type === "Ack" && answers?.type === "Leave") {
      localStorage.removeItem(tokenKey(this.code));
      this.spectating = false;
      this.state = { ...initialState, error: this.state.error, announcement: this.state.announcement };
      this.render();
      return;
    }
    this.state = reduce(this.state, msg, performance.now());
    if (msg.type === "Seated") localStorage.setItem(tokenKey(this.code), msg.token);
    if (msg.type === "Snapshot" && (msg.room.phase === "Playing" || msg.room.phase === "Lobby")) {
      this.ui.verifyOpen = false; this.ui.verifyResult = null;
    }
    if (msg.type === "Update" && msg.events.some((e) => e.type === "GameStarted")) {
      this.ui.verifyOpen = false; this.ui.verifyResult = null; this.ui.bidFace = null; this.ui.bidQty = null;
    }
    if (msg.type === "Closing") {
      if (msg.reason === "Replaced") {
        this.ui.notice = "This seat was taken over by another tab or device. Reload the page to take it back.";
        this.conn.stop();
      } else if (msg.reason === "Kicked") {
        localStorage.removeItem(tokenKey(this.code));
        this.state = { ...initialState, error: this.state.error };
        this.ui.notice = "The host removed you from the room.";
      } else {
        this.ui.notice = null;
      }
    }
    if (this.state.needsResync) {
      this.state = { ...this.state, needsResync: false };
      this.conn.resync();
    }
    const ann = this.state.announcement;
    if (ann && ann.seq !== this.lastAnnouncement) { this.lastAnnouncement = ann.seq; this.shell.announce(ann.text); }
    const err = this.state.error;
    if (err && err.seq !== this.lastError) { this.lastError = err.seq; this.shell.toast(err.text); }
    this.render();
  }

  private send(req: Request): void {
    if (this.conn.send(req) === null) this.shell.toast("not connected, try again in a moment");
  }

  private updateTimer(): void {
    const el = this.el.querySelector('[data-testid="turn-timer"]');
    const ms = clockRemaining(this.state, performance.now());
    if (el && ms !== null) el.textContent = timerText(ms);
  }

  private setUi = (patch: Partial<Ui>, rerender = true): void => {
    Object.assign(this.ui, patch); // in place: views' closures hold this object
    if (rerender) this.render();
  };

  private verify(): void {
    const results = this.state.room?.results;
    if (!results) return;
    if (this.ui.verifyOpen) { this.setUi({ verifyOpen: false }); return; }
    this.setUi({ verifyOpen: true, verifyResult: null });
    const commitment = this.state.commitment ?? results.commitment;
    void verifySeed(results.seed, commitment).then((ok) => this.setUi({ verifyResult: ok ? "match" : "mismatch" }));
  }

  render(): void {
    const active = document.activeElement;
    const focusId = active && this.el.contains(active) ? active.getAttribute("data-testid") ?? active.id : null;
    this.el.replaceChildren(this.view());
    if (focusId) {
      const next = this.el.querySelector<HTMLElement>(`[data-testid="${CSS.escape(focusId)}"]`) ?? document.getElementById(focusId);
      next?.focus();
    }
  }

  private view(): HTMLElement {
    const s = this.state;
    const room = s.room;
    const title = h("h2", { class: "room-title" }, "Room ", h("span", { class: "code" }, this.code));
    if (this.gone) {
      return h("div", null, title,
        h("p", { class: "notice", role: "status", testid: "room-not-found" }, this.ui.notice),
        h("p", null, h("a", {
          href: "/", testid: "home-link",
          onclick: (e: Event) => { e.preventDefault(); this.shell.navigate("/"); },
        }, "Create or join another room")));
    }
    const parts: Array<HTMLElement | null> = [
      title,
      this.ui.notice ? h("p", { class: "notice", role: "status" }, this.ui.notice) : null,
    ];
    const inside = s.version !== null && room !== null;
    const seated = s.mySeat !== null && this.token !== null;
    if (!inside && !this.token && !this.spectating) {
      parts.push(this.joinForm());
    } else if (!inside) {
      parts.push(h("p", { class: "muted" }, this.connState === "connected" ? "Entering the room…" : "Connecting…"));
    } else if (room) {
      if (!seated && !this.spectating && room.phase !== "Playing" && room.phase !== "Reveal") parts.push(this.joinForm());
      if (!seated && this.spectating) parts.push(h("p", { class: "muted" }, "You are watching."));
      if (room.phase === "Playing" || room.phase === "Reveal") {
        parts.push(tableView({ state: s, ui: this.ui, send: (r) => this.send(r), setUi: this.setUi }));
      } else {
        if (room.phase === "Finished" && room.results) {
          const last = s.reveal ?? s.table?.last_resolution ?? null;
          parts.push(resultsView({ state: s, results: room.results, ui: this.ui, send: (r) => this.send(r), verify: () => this.verify() }));
          if (last) {
            const names = room.results.names;
            parts.push(revealSection(last, room, (seat) => names[seat] ?? `seat ${seat + 1}`));
          }
        }
        parts.push(lobbyView({
          state: s, ui: this.ui, shareUrl: `${location.origin}/r/${this.code}`, spectating: this.spectating,
          send: (r) => this.send(r), setUi: this.setUi, leave: () => this.send({ type: "Leave" }),
        }));
      }
      if ((room.phase === "Playing" || room.phase === "Reveal") && (seated || this.spectating)) {
        parts.push(h("div", { class: "row" }, h("button", {
          type: "button", testid: "leave-button",
          onclick: () => { if (!seated || confirm("Leave the game? You forfeit your dice.")) this.send({ type: "Leave" }); },
        }, seated ? "Leave game" : "Stop watching")));
      }
    }
    return h("div", null, parts);
  }

  private joinForm(): HTMLElement {
    return h("section", { class: "card join" },
      h("h3", null, "Take a seat"),
      h("form", {
        class: "row",
        onsubmit: (e: Event) => {
          e.preventDefault();
          const name = this.ui.joinName.trim();
          if (!name) { this.shell.toast("enter your name"); return; }
          localStorage.setItem(NAME_KEY, name);
          this.send({ type: "Join", name });
        },
      },
        h("label", { for: "join-name" }, "Your name"),
        h("input", {
          id: "join-name", testid: "join-name", type: "text", maxlength: 24, autocomplete: "nickname", value: this.ui.joinName,
          oninput: (e: Event) => this.setUi({ joinName: (e.target as HTMLInputElement).value }, false),
        }),
        h("button", { type: "submit", testid: "join-seat-button", class: "primary" }, "Join")),
      h("div", { class: "row" },
        h("button", {
          type: "button", testid: "spectate-button",
          onclick: () => { this.spectating = true; this.send({ type: "Spectate" }); this.render(); },
        }, "Just watch")));
  }
}

