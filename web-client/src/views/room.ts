// The room page: connection, state, and which view to show. It owns the connection and the
// reducer's state; the views only read them and call back.
import { Connection, roomSocketUrl } from "../connection";
import type { ConnState } from "../connection";
import { h } from "../dom";
import type { VNode } from "../dom";
import { checkGame, noteLiveCommitment, seenCommitment } from "../fairplay";
import { t } from "../i18n";
import type { GameConfig, Request, RoomOptions, RoomSummary, ServerMessage } from "../protocol/generated";
import { adjustRules, rulesProblem, rulesSummary } from "../rules";
import { initialState, reduce } from "../state";
import type { RoomState } from "../state";
import { NAME_KEY, QUICK_KEY, tokenKey } from "./home";
import { draftRules, lobbyView } from "./lobby";
import type { LobbyUi } from "./lobby";
import { avatar } from "./parts";
import { resultsView } from "./results";
import type { ResultsUi } from "./results";
import { CUPS_MS, countStep, revealView, tableView } from "./table";
import type { TableUi } from "./table";
import { cuesFor, isMyTurn } from "../feedback";
import type { Cue } from "../feedback";

export interface Shell {
  setConnection(state: ConnState): void;
  toast(message: string): void;
  announce(message: string): void;
  navigate(path: string): void;
  rerender(): void;
  /** Sounds and vibration (the shell knows whether they are muted). */
  cues(cues: Cue[]): void;
  /** Whether it is this player's turn (title and favicon follow it). */
  setMyTurn(mine: boolean): void;
  reducedMotion(): boolean;
}

type Ui = LobbyUi & TableUi & ResultsUi & { joinName: string; notice: string | null };

export class RoomPage {
  state: RoomState = initialState;
  private ui: Ui = {
    botLevel: "Normal", rulesEdits: {}, optionsEdits: {}, rulesOpen: false, copied: false,
    bidFace: null, bidQty: null, armed: null, logOpen: false,
    verifyOpen: false, verifyResult: null, joinName: localStorage.getItem(NAME_KEY) ?? "", notice: null,
  };
  private conn: Connection;
  private spectating = false;
  private connState: ConnState = "connecting";
  private tick: ReturnType<typeof setInterval>;
  private lastAnnouncement = 0;
  private lastError = 0;
  private summary: RoomSummary | null = null;
  /** The rules and options of the save in flight, cleared from the edits when acknowledged. */
  private saving: { rules: GameConfig; options: RoomOptions | null } | null = null;
  /** The room answered 404 (it never existed or has closed): no reconnecting, no room views. */
  private gone = false;
  private checking = false;
  private destroyed = false;
  private quickDone = false;

  constructor(readonly code: string, private readonly shell: Shell) {
    this.conn = new Connection(roomSocketUrl(location, code), {
      onMessage: (m, answers) => this.onMessage(m, answers),
      onState: (s) => { this.connState = s; shell.setConnection(s); this.shell.rerender(); },
      enterRequest: (first) => this.enterRequest(first),
      onOpenFailed: () => void this.checkExists(),
    });
    this.tick = setInterval(() => this.onTick(), 250);
    this.conn.start();
    void this.checkExists();
  }

  /** A mistyped or closed room answers 404: say so instead of reconnecting forever. Run at
   * page load and again whenever a socket fails before opening. The answer also fills the join
   * page's summary (host, players, rules, whether a game runs). */
  private async checkExists(): Promise<void> {
    if (this.checking || this.gone || this.destroyed) return;
    this.checking = true;
    try {
      const res = await fetch(`/api/rooms/${encodeURIComponent(this.code)}`);
      if (res.ok) {
        const body = (await res.json().catch(() => null)) as RoomSummary | null;
        // Only a whole summary (an older server sends no seats) feeds the join page.
        if (body && Array.isArray(body.seats) && body.rules) {
          this.summary = body;
          this.shell.rerender();
        }
      }
      if (res.status !== 404) return;
    } catch {
      return; // Offline: the connection's own retries cover it.
    } finally {
      this.checking = false;
    }
    if (this.destroyed) return;
    this.roomGone();
  }

  private roomGone(): void {
    this.gone = true;
    this.conn.stop();
    this.spectating = false;
    this.state = { ...initialState, error: this.state.error, announcement: this.state.announcement };
    this.ui.notice = t("room.notFound", { code: this.code });
    this.shell.rerender();
  }

  destroy(): void {
    this.destroyed = true;
    clearInterval(this.tick);
    this.conn.stop();
    this.shell.setMyTurn(false);
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

  private onTick(): void {
    const room = this.state.room;
    // The clock ring, emote bubbles, the reveal's count-up and a call's confirmation expire
    // with time; Preact redraws only what changed.
    if (room && (room.phase === "Playing" || room.phase === "Reveal" || this.state.emotes.length > 0)) this.shell.rerender();
  }

  private onMessage(msg: ServerMessage, answers: Request | undefined): void {
    if (msg.type === "Rejected" && answers && (answers.type === "Claim" || answers.type === "Resume") && msg.code === "BadToken") {
      localStorage.removeItem(tokenKey(this.code));
      this.state = { ...initialState, error: this.state.error };
    }
    if (msg.type === "Rejected" && answers?.type === "Spectate") this.spectating = false;
    if (msg.type === "Rejected" && (answers?.type === "SetRules" || answers?.type === "SetOptions")) this.saving = null;
    if (msg.type === "Ack" && answers?.type === "SetRules" && this.saving) {
      // Saved: drop the edits the server now has; keep any made since the save.
      const sent = this.saving.rules as Record<string, unknown>;
      const edits = { ...this.ui.rulesEdits } as Record<string, unknown>;
      for (const k of Object.keys(edits)) if (JSON.stringify(edits[k]) === JSON.stringify(sent[k])) delete edits[k];
      this.ui.rulesEdits = edits as Partial<GameConfig>;
    }
    if (msg.type === "Ack" && answers?.type === "SetOptions" && this.saving?.options) {
      if (this.ui.optionsEdits.forfeit_after_secs === this.saving.options.forfeit_after_secs) this.ui.optionsEdits = {};
    }
    if (msg.type === "Ack" && (answers?.type === "SetRules" || answers?.type === "SetOptions")) {
      if (answers.type === "SetOptions" || !this.saving?.options) this.saving = null;
    }
    if (msg.type === "Ack" && answers?.type === "Leave") {
      localStorage.removeItem(tokenKey(this.code));
      this.spectating = false;
      this.state = { ...initialState, error: this.state.error, announcement: this.state.announcement };
      this.shell.rerender();
      return;
    }
    const before = this.state;
    this.state = reduce(this.state, msg, performance.now());
    if (msg.type === "Seated") localStorage.setItem(tokenKey(this.code), msg.token);
    noteLiveCommitment(this.code, this.state);
    if (msg.type === "Snapshot" && (msg.room.phase === "Playing" || msg.room.phase === "Lobby")) {
      this.ui.verifyOpen = false; this.ui.verifyResult = null;
    }
    if (msg.type === "Update" && msg.events.some((e) => e.type === "GameStarted")) {
      Object.assign(this.ui, { verifyOpen: false, verifyResult: null, bidFace: null, bidQty: null, armed: null });
    }
    if (msg.type === "Closing") {
      if (msg.reason === "Replaced") {
        this.ui.notice = t("room.replaced");
        this.conn.stop();
      } else if (msg.reason === "Kicked") {
        localStorage.removeItem(tokenKey(this.code));
        this.state = { ...initialState, error: this.state.error };
        this.ui.notice = t("room.kicked");
      } else if (msg.reason === "ServerRestart") {
        this.ui.notice = t("room.restarting");
      } else {
        this.ui.notice = null;
      }
    }
    if (msg.type === "Snapshot" && this.ui.notice === t("room.restarting")) this.ui.notice = null;
    if (this.state.needsResync) {
      this.state = { ...this.state, needsResync: false };
      this.conn.resync();
    }
    this.feedback(before, msg);
    this.followCountUp(before);
    this.quickStart();
    const ann = this.state.announcement;
    if (ann && ann.seq !== this.lastAnnouncement) { this.lastAnnouncement = ann.seq; this.shell.announce(ann.text); }
    const err = this.state.error;
    if (err && err.seq !== this.lastError) { this.lastError = err.seq; this.shell.toast(err.text); }
    this.shell.rerender();
  }

  /** Sounds, vibration, and the tab's title and favicon on this player's turn. */
  private feedback(before: RoomState, msg: ServerMessage): void {
    this.shell.setMyTurn(isMyTurn(this.state));
    this.shell.cues(cuesFor(before, this.state, msg, this.shell.reducedMotion()));
  }

  /** A live reveal counts its matching dice one by one: redraw at each step (and when the
   * total is reached and the outcome told) rather than at the next 250 ms tick. */
  private followCountUp(before: RoomState): void {
    const s = this.state;
    const res = s.reveal;
    if (!res || res === before.reveal || s.revealAt === 0 || !s.room || this.shell.reducedMotion()) return;
    const step = countStep(res, s.room.reveal_pause_ms);
    const elapsed = performance.now() - s.revealAt;
    for (let i = 0; i < Math.max(1, res.count); i++) {
      const at = CUPS_MS + step * i + 1 - elapsed;
      if (at >= 0) setTimeout(() => { if (!this.destroyed) this.shell.rerender(); }, at);
    }
  }

  /** "Play against bots now": once seated as host in the lobby, add two bots and start. */
  private quickStart(): void {
    const s = this.state;
    if (this.quickDone || s.room?.phase !== "Lobby" || s.mySeat === null || s.room.host !== s.mySeat) return;
    if (sessionStorage.getItem(QUICK_KEY(this.code)) !== "1") return;
    this.quickDone = true;
    sessionStorage.removeItem(QUICK_KEY(this.code));
    this.send({ type: "AddBot", level: "Normal" });
    this.send({ type: "AddBot", level: "Easy" });
    this.send({ type: "Start" });
  }

  private send(req: Request): void {
    if (this.conn.send(req) === null) this.shell.toast(t("error.notConnected"));
  }

  private setUi = (patch: Partial<Ui>): void => {
    Object.assign(this.ui, patch);
    this.shell.rerender();
  };

  private editRules(rules: GameConfig, options: RoomOptions): void {
    const room = this.state.room;
    if (!room) return;
    const changed = (Object.keys(rules) as Array<keyof GameConfig>).find(
      (k) => JSON.stringify(rules[k]) !== JSON.stringify(draftRules(room, this.ui).rules[k]),
    ) ?? null;
    const adjusted = adjustRules(rules, changed);
    const edits: Record<string, unknown> = {};
    for (const k of Object.keys(adjusted) as Array<keyof GameConfig>) {
      if (JSON.stringify(adjusted[k]) !== JSON.stringify(room.rules[k])) edits[k] = adjusted[k];
    }
    this.ui.rulesEdits = edits as Partial<GameConfig>;
    this.ui.optionsEdits = options.forfeit_after_secs !== room.options.forfeit_after_secs ? { forfeit_after_secs: options.forfeit_after_secs } : {};
    this.shell.rerender();
  }

  private saveRules(): void {
    const room = this.state.room;
    if (!room) return;
    const { rules, options } = draftRules(room, this.ui);
    const problem = rulesProblem(rules, options);
    if (problem) { this.shell.toast(problem); return; }
    const optionsChanged = options.forfeit_after_secs !== room.options.forfeit_after_secs;
    this.saving = { rules, options: optionsChanged ? options : null };
    this.send({ type: "SetRules", rules });
    if (optionsChanged) this.send({ type: "SetOptions", options });
  }

  private verify(): void {
    const results = this.state.room?.results;
    if (!results) return;
    if (this.ui.verifyOpen) { this.setUi({ verifyOpen: false }); return; }
    this.setUi({ verifyOpen: true, verifyResult: null });
    void checkGame(this.code, results, seenCommitment(this.code, results.game)).then((report) => {
      // A rematch may have started meanwhile; its panel starts closed.
      if (this.ui.verifyOpen && this.state.room?.results?.game === results.game) this.setUi({ verifyResult: report });
    });
  }

  /** The link to share: at the operator's public URL when the server names one, else at this
   * page's own origin. */
  shareUrl(): string {
    return this.summary?.share_url ?? `${location.origin}/r/${this.code}`;
  }

  /** The rules the "How to play" page should explain. */
  get rules(): GameConfig | null {
    return this.state.room?.rules ?? this.summary?.rules ?? null;
  }

  view(): VNode {
    const s = this.state;
    const room = s.room;
    const title = h("h1", { class: "room-title" }, t("room.title"), " ", h("span", { class: "code" }, this.code));
    if (this.gone) {
      return h("div", { class: "room" }, title,
        h("p", { class: "notice", role: "status", testid: "room-not-found" }, this.ui.notice),
        h("p", null, h("a", {
          href: "/", testid: "home-link",
          onclick: (e: Event) => { e.preventDefault(); this.shell.navigate("/"); },
        }, t("room.home"))));
    }
    const parts: Array<VNode | null> = [
      title,
      this.ui.notice ? h("p", { class: "notice", role: "status", testid: "room-notice" }, this.ui.notice) : null,
    ];
    const inside = s.version !== null && room !== null;
    const seated = s.mySeat !== null && this.token !== null;
    const now = performance.now();
    const reducedMotion = this.shell.reducedMotion();
    if (!inside && !this.token && !this.spectating) {
      parts.push(this.joinPage());
    } else if (!inside) {
      parts.push(h("p", { class: "muted" }, this.connState === "connected" ? t("room.entering") : t("room.connecting")));
    } else if (room) {
      if (!seated && !this.spectating && room.phase !== "Playing" && room.phase !== "Reveal") parts.push(this.joinPage());
      if (!seated && this.spectating) parts.push(h("p", { class: "muted", testid: "watching-note" }, t("room.watching")));
      if (room.phase === "Playing" || room.phase === "Reveal") {
        parts.push(tableView({ state: s, ui: this.ui, now, reducedMotion, send: (r) => this.send(r), setUi: this.setUi }));
      } else {
        if (room.phase === "Finished" && room.results) {
          const last = s.reveal ?? s.table?.last_resolution ?? null;
          parts.push(resultsView({ state: s, results: room.results, ui: this.ui, reducedMotion, send: (r) => this.send(r), verify: () => this.verify() }));
          if (last) {
            const names = room.results.names;
            parts.push(h("div", { class: "card" }, revealView(last, room, (seat) => names[seat] ?? t("seat.n", { n: seat + 1 }))));
          }
        }
        parts.push(lobbyView({
          state: s, ui: this.ui, shareUrl: this.shareUrl(), spectating: this.spectating,
          send: (r) => this.send(r), setUi: this.setUi, leave: () => this.send({ type: "Leave" }),
          editRules: (r, o) => this.editRules(r, o), saveRules: () => this.saveRules(),
        }));
      }
      if ((room.phase === "Playing" || room.phase === "Reveal") && (seated || this.spectating)) {
        parts.push(h("div", { class: "row" }, h("button", {
          type: "button", testid: "leave-button",
          onclick: () => { if (!seated || confirm(t("room.leaveConfirm"))) this.send({ type: "Leave" }); },
        }, seated ? t("room.leaveGame") : t("room.stopWatching"))));
      }
    }
    return h("div", { class: "room" }, parts);
  }

  /** The share link's page for a visitor: who hosts, who plays, the rules, whether a game
   * runs; then take a seat or watch. */
  private joinPage(): VNode {
    const sum = this.summary;
    const running = sum !== null && (sum.phase === "Playing" || sum.phase === "Reveal");
    const host = sum && sum.host !== null ? sum.seats[sum.host]?.name ?? null : null;
    const full = sum !== null && sum.seats_taken >= sum.max_seats;
    return h("section", { class: "card join", testid: "join-page", "aria-labelledby": "join-heading" },
      h("h2", { id: "join-heading" }, host ? t("join.invited", { name: host }) : t("join.title")),
      sum
        ? h("div", { class: "join-summary", testid: "join-summary" },
            h("p", { testid: "join-status", class: `join-status${running ? " running" : ""}` },
              running ? t("join.running") : sum.phase === "Finished" ? t("join.finished") : t("join.lobby")),
            h("p", { testid: "join-host" }, host ? t("join.host", { name: host }) : t("join.noHost")),
            h("p", null, t("join.players", { n: sum.seats_taken, max: sum.max_seats })),
            h("ul", { class: "join-players", testid: "join-players" },
              sum.seats.map((seat, i) => h("li", { key: i },
                avatar(i, seat.name), h("span", { dir: "auto" }, seat.name),
                seat.occupant.type === "Bot" ? h("span", { class: "muted" }, ` · ${t("seat.bot")}`) : null))),
            h("p", { testid: "join-rules", class: "muted" }, rulesSummary(sum.rules)))
        : h("p", { class: "muted" }, t("join.loading")),
      running ? h("p", { class: "muted" }, t("join.runningHelp")) : null,
      h("form", {
        class: "row",
        onsubmit: (e: Event) => {
          e.preventDefault();
          const name = this.ui.joinName.trim();
          if (!name) { this.shell.toast(t("home.needName")); return; }
          localStorage.setItem(NAME_KEY, name);
          this.send({ type: "Join", name });
        },
      },
        h("label", { for: "join-name" }, t("home.yourName")),
        h("input", {
          id: "join-name", testid: "join-name", type: "text", maxlength: 24, autocomplete: "nickname", value: this.ui.joinName,
          oninput: (e: Event) => { this.ui.joinName = (e.target as HTMLInputElement).value; },
        }),
        h("button", { type: "submit", testid: "join-seat-button", class: running ? "" : "primary big", disabled: full || null },
          full ? t("join.full") : t("join.join"))),
      h("div", { class: "row" },
        h("button", {
          type: "button", testid: "spectate-button", class: running ? "primary big" : "",
          onclick: () => { this.spectating = true; this.send({ type: "Spectate" }); this.shell.rerender(); },
        }, t("join.watch"))));
  }
}
