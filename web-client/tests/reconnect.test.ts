// @vitest-environment happy-dom
// Reconnecting to a room that is gone (404) and a seat that is gone (BadToken), with a fake
// WebSocket and a mocked fetch.
import { encode } from "@msgpack/msgpack";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { decodeClient } from "../src/codec";
import { Connection } from "../src/connection";
import type { ConnState } from "../src/connection";
import type { Request, ServerMessage } from "../src/protocol/generated";
import { render } from "preact";
import type { Shell } from "../src/views/room";
import { tokenKey } from "../src/views/home";
import { RoomPage } from "../src/views/room";
import { golden, update } from "./fixtures";

class FakeSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  static all: FakeSocket[] = [];
  readyState = FakeSocket.CONNECTING;
  binaryType = "blob";
  onopen: ((ev: Event) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  sent: Request[] = [];
  constructor(readonly url: string) { FakeSocket.all.push(this); }
  send(frame: Uint8Array): void { this.sent.push(decodeClient(frame).request); }
  close(): void { this.readyState = FakeSocket.CLOSED; }
  /** The server accepted the upgrade. */
  accept(): void { this.readyState = FakeSocket.OPEN; this.onopen?.(new Event("open")); }
  /** The upgrade failed (server down, or HTTP 404): error then close, never open. */
  fail(): void { this.readyState = FakeSocket.CLOSED; this.onerror?.(new Event("error")); this.onclose?.({ code: 1006 }); }
  /** The open socket dropped. */
  drop(): void { this.readyState = FakeSocket.CLOSED; this.onclose?.({ code: 1006 }); }
  receive(msg: ServerMessage): void {
    const bytes = encode(msg);
    this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
  }
}

const last = (): FakeSocket => FakeSocket.all[FakeSocket.all.length - 1]!;
const q = (el: Element, id: string): Element | null => el.querySelector(`[data-testid="${id}"]`);
const CODE = "ABCD";
const ROOM_URL = `/api/rooms/${CODE}`;
const status = (s: number): Response =>
  new Response(s === 404 ? JSON.stringify({ code: "no_such_room", message: "no such room" }) : "{}", { status: s });

let fetchMock: ReturnType<typeof vi.fn<(url: string) => Promise<Response>>>;
let shell: Shell & { states: ConnState[]; toasts: string[] };
let page: RoomPage | null = null;
/** Where the page is drawn: synchronously on every rerender, as main.ts does per frame. */
let el: HTMLElement;

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
  vi.stubGlobal("WebSocket", FakeSocket);
  fetchMock = vi.fn<(url: string) => Promise<Response>>(async () => status(200));
  vi.stubGlobal("fetch", fetchMock);
  localStorage.clear();
  el = document.createElement("div");
  shell = {
    states: [], toasts: [],
    setConnection(s) { this.states.push(s); }, toast(m) { this.toasts.push(m); }, announce() {}, navigate() {},
    rerender() { if (page) render(page.view(), el); }, cues() {}, setMyTurn() {}, reducedMotion: () => true,
  };
});

afterEach(() => {
  page?.destroy();
  page = null;
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

/** A page that holds a seat, is connected and has applied the lobby snapshot. */
async function seatedPage(): Promise<FakeSocket> {
  localStorage.setItem(tokenKey(CODE), "tok-1");
  page = new RoomPage(CODE, shell);
  await vi.advanceTimersByTimeAsync(0); // the page-load check: 200
  expect(fetchMock).toHaveBeenCalledTimes(1);
  const ws = last();
  ws.accept();
  expect(ws.sent).toEqual([expect.objectContaining({ type: "Hello" }), { type: "Claim", token: "tok-1" }]);
  ws.receive({ type: "Seated", seat: 0, token: "tok-1" });
  ws.receive(golden("server_snapshot_lobby", "Snapshot"));
  expect(q(el, "seat-0")).not.toBeNull();
  return ws;
}

describe("Connection.onOpenFailed", () => {
  it("reports only sockets that fail before opening, counting them in a row", async () => {
    const failures: number[] = [];
    const conn = new Connection("ws://x/api/rooms/ABCD/ws", {
      onMessage() {}, onState() {}, enterRequest: () => null, onOpenFailed: (n) => failures.push(n),
    });
    conn.start();
    last().accept();
    last().drop(); // was open: not a failed attempt
    expect(failures).toEqual([]);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(FakeSocket.all).toHaveLength(2);
    last().fail();
    await vi.advanceTimersByTimeAsync(20_000);
    last().fail();
    expect(failures).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(20_000);
    last().accept(); // resets the count
    last().drop();
    await vi.advanceTimersByTimeAsync(20_000);
    last().fail();
    expect(failures).toEqual([1, 2, 1]);
    conn.stop();
  });
});

describe("room page reconnecting", () => {
  it("shows the not-found view and stops reconnecting when the room is gone after a drop", async () => {
    const ws = await seatedPage();
    fetchMock.mockImplementation(async () => status(404));
    ws.drop();
    expect(fetchMock).toHaveBeenCalledTimes(1); // a drop of an open socket alone does not check
    expect(shell.states.at(-1)).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(20_000);
    expect(FakeSocket.all).toHaveLength(2);
    last().fail(); // the upgrade answered 404
    await vi.advanceTimersByTimeAsync(0);
    expect(fetchMock).toHaveBeenCalledTimes(2);
    expect(fetchMock).toHaveBeenLastCalledWith(ROOM_URL);
    expect(q(el, "room-not-found")?.textContent).toContain(CODE);
    expect(q(el, "home-link")).not.toBeNull();
    expect(q(el, "seat-0")).toBeNull(); // the stale lobby is gone
    expect(q(el, "join-name")).toBeNull();
    expect(shell.states.at(-1)).toBe("offline");
    await vi.advanceTimersByTimeAsync(120_000);
    expect(FakeSocket.all).toHaveLength(2); // no more reconnects
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });

  it("keeps the backoff going on network errors and 5xx, and recovers when the server is back", async () => {
    const ws = await seatedPage();
    fetchMock.mockImplementationOnce(async () => { throw new TypeError("Failed to fetch"); });
    fetchMock.mockImplementationOnce(async () => status(503));
    fetchMock.mockImplementationOnce(async () => status(502));
    ws.drop();
    for (let i = 0; i < 3; i++) {
      await vi.advanceTimersByTimeAsync(20_000);
      last().fail();
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(fetchMock).toHaveBeenCalledTimes(4);
    expect(q(el, "room-not-found")).toBeNull();
    expect(shell.states.at(-1)).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(20_000);
    expect(FakeSocket.all).toHaveLength(5); // still trying
    last().accept();
    expect(last().sent.at(-1)).toMatchObject({ type: "Resume", token: "tok-1" });
    expect(shell.states.at(-1)).toBe("connected");
  });

  it("does not run two checks at once", async () => {
    const ws = await seatedPage();
    let answer: (r: Response) => void = () => {};
    fetchMock.mockImplementation(() => new Promise<Response>((resolve) => { answer = resolve; }));
    ws.drop();
    await vi.advanceTimersByTimeAsync(20_000);
    last().fail();
    await vi.advanceTimersByTimeAsync(20_000);
    last().fail();
    expect(fetchMock).toHaveBeenCalledTimes(2); // page load + one pending check
    answer(status(404));
    await vi.advanceTimersByTimeAsync(0);
    expect(q(el, "room-not-found")).not.toBeNull();
  });

  it("shows the same view when the room does not exist at page load", async () => {
    fetchMock.mockImplementation(async () => status(404));
    page = new RoomPage(CODE, shell);
    last().fail();
    await vi.advanceTimersByTimeAsync(0);
    expect(q(el, "room-not-found")?.textContent).toContain(CODE);
    expect(shell.states.at(-1)).toBe("offline");
    const sockets = FakeSocket.all.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(sockets);
  });

  it("drops the token and shows the join form when Resume is rejected with BadToken", async () => {
    const ws = await seatedPage();
    ws.drop();
    await vi.advanceTimersByTimeAsync(20_000);
    const ws2 = last();
    ws2.accept();
    const resume = ws2.sent.at(-1);
    expect(resume).toMatchObject({ type: "Resume", token: "tok-1" });
    ws2.receive({ type: "Rejected", id: ws2.sent.length, code: "BadToken", message: "no seat has this token", detail: null });
    expect(localStorage.getItem(tokenKey(CODE))).toBeNull();
    expect(q(el, "join-name")).not.toBeNull();
    expect(q(el, "join-seat-button")).not.toBeNull();
    expect(q(el, "seat-0")).toBeNull();
    expect(shell.toasts).toContain("Your seat is no longer yours; join again."); // plain words, not the server's
    expect(shell.states.at(-1)).toBe("connected"); // the socket stays, to join again
  });
});

describe("answers riding in an update (protocol v2)", () => {
  it("Leave answered by the update that frees the seat: the token goes, the join page shows", async () => {
    const ws = await seatedPage();
    q(el, "leave-button")!.dispatchEvent(new Event("click"));
    expect(ws.sent.at(-1)).toEqual({ type: "Leave" });
    const id = ws.sent.length; // Hello is 1, Claim 2, Leave 3
    ws.receive(update(4, [{ type: "SeatFreed", seat: 0, name: "Ana" }, { type: "HostChanged", seat: 1 }], { ack: id }));
    expect(localStorage.getItem(tokenKey(CODE))).toBeNull();
    expect(q(el, "join-page")).not.toBeNull();
    expect(q(el, "seat-0")).toBeNull();
  });

  it("an update answering another request keeps the seat", async () => {
    const ws = await seatedPage();
    q(el, "leave-button")!.dispatchEvent(new Event("click"));
    ws.receive(update(4, [{ type: "Emote", seat: 0, emote: "Laugh" }], { ack: 99 }));
    expect(localStorage.getItem(tokenKey(CODE))).toBe("tok-1");
    expect(q(el, "seat-0")).not.toBeNull();
  });

  it("SetRules answered by the RulesChanged update: the saved edits are no longer unsaved", async () => {
    const ws = await seatedPage(); // seat 0 hosts the lobby
    const select = q(el, "rule-starting_dice") as HTMLSelectElement;
    select.value = "3";
    select.dispatchEvent(new Event("change"));
    expect(q(el, "rules-unsaved")).not.toBeNull();
    q(el, "save-rules")!.closest("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    const sent = ws.sent.at(-1);
    expect(sent).toMatchObject({ type: "SetRules", rules: { starting_dice: 3 } });
    if (sent?.type !== "SetRules") throw new Error("no SetRules");
    ws.receive(update(4, [{ type: "RulesChanged", rules: sent.rules }], { ack: ws.sent.length }));
    expect(q(el, "rules-unsaved")).toBeNull();
    expect(q(el, "rules-saved")).not.toBeNull();
    expect(q(el, "rules-summary")?.textContent).toContain("3");
    // The answered edits are dropped: a later change (the host's other tab) shows as it is.
    ws.receive(update(5, [{ type: "RulesChanged", rules: { ...sent.rules, starting_dice: 4 } }]));
    expect((q(el, "rule-starting_dice") as HTMLSelectElement).value).toBe("4");
    expect(q(el, "rules-saved")).not.toBeNull();
  });
});

describe("the share link", () => {
  /** The summary answer for the room, with `share_url` when the server names a public URL. */
  const summary = (share_url?: string): Response => {
    const snap = golden("server_snapshot_lobby", "Snapshot");
    const body = {
      code: CODE, phase: "Lobby", seats_taken: 1, max_seats: snap.room.rules.max_players, spectators: 0,
      rules: snap.room.rules, host: 0, seats: snap.room.seats, ...(share_url ? { share_url } : {}),
    };
    return new Response(JSON.stringify(body), { status: 200 });
  };

  it("is at the server's public URL when the operator set one", async () => {
    fetchMock.mockImplementation(async () => summary(`https://perudo.example.org/r/${CODE}`));
    await seatedPage();
    expect(q(el, "share-link")?.textContent).toBe(`https://perudo.example.org/r/${CODE}`);
  });

  it("is at the page's own origin otherwise", async () => {
    fetchMock.mockImplementation(async () => summary());
    await seatedPage();
    expect(q(el, "share-link")?.textContent).toBe(`${location.origin}/r/${CODE}`);
  });
});
