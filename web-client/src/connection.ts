// One room's WebSocket: Hello, request ids, automatic reconnect with backoff.
import { clientMessage, decodeServer, encodeClient } from "./codec";
import { PROTOCOL_VERSION } from "./protocol/generated";
import type { Request, ServerMessage } from "./protocol/generated";

export type ConnState = "connecting" | "connected" | "reconnecting" | "offline";

export interface ConnectionHooks {
  /** A server message; when it answers one of this socket's requests (an Ack, a Rejected, or
   * an Update whose `ack` names it), `answers` is that request (if known). */
  onMessage(msg: ServerMessage, answers: Request | undefined): void;
  onState(state: ConnState): void;
  /** The request that enters the room on a new socket (after Hello), or null to stay outside.
   * `first` is true for the first socket of this page load. */
  enterRequest(first: boolean): Request | null;
  /** A socket failed before it opened (the server is down, or answered the upgrade with an
   * HTTP error such as 404 for a room that no longer exists; browsers report both alike).
   * `failures` counts such failures in a row. A reconnect is scheduled regardless; call
   * `stop()` to give up. */
  onOpenFailed?(failures: number): void;
}

/** Delay before reconnect attempt `attempt` (0-based): 0.5 s doubling to 10 s, with jitter. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(10_000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.5 + random() * 0.5));
}

/** The id of the request a message answers: an `Ack` or `Rejected`, or the `ack` of an
 * `Update` (protocol v2: the mover's answer rides in its update). Null for anything else. */
export function answerId(msg: ServerMessage): number | null {
  switch (msg.type) {
    case "Ack":
    case "Rejected":
      return msg.id;
    case "Update":
      return msg.ack;
    default:
      return null;
  }
}

/** Whether a message accepts the request it answers: an `Ack`, or an `Update` carrying its
 * `ack` (whatever a client did on an `Ack`, it does on such an update). */
export function isAccepted(msg: ServerMessage): boolean {
  return msg.type === "Ack" || (msg.type === "Update" && msg.ack !== null);
}

export function roomSocketUrl(loc: { protocol: string; host: string }, code: string): string {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/api/rooms/${encodeURIComponent(code)}/ws`;
}

export class Connection {
  private ws: WebSocket | null = null;
  private nextId = 1;
  private pending = new Map<number, Request>();
  private attempt = 0;
  private openFailures = 0;
  private first = true;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly url: string, private readonly hooks: ConnectionHooks) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  /** Close for good (no reconnect). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close();
    this.hooks.onState("offline");
  }

  /** Drop this socket and come back (Resume) at once. */
  resync(): void {
    const ws = this.ws;
    this.ws = null;
    ws?.close();
    this.scheduleReconnect(0);
  }

  get isOpen(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send a request; returns its id, or null when not connected. */
  send(request: Request): number | null {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return null;
    const id = this.nextId++;
    this.pending.set(id, request);
    this.ws.send(encodeClient(clientMessage(id, request)));
    return id;
  }

  private open(): void {
    this.hooks.onState(this.first ? "connecting" : "reconnecting");
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.nextId = 1;
    this.pending.clear();
    let opened = false;
    ws.onopen = () => {
      opened = true;
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.openFailures = 0;
      this.hooks.onState("connected");
      this.send({ type: "Hello", version: PROTOCOL_VERSION });
      const enter = this.hooks.enterRequest(this.first);
      this.first = false;
      if (enter) this.send(enter);
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (this.ws !== ws || !(ev.data instanceof ArrayBuffer)) return;
      let msg: ServerMessage;
      try {
        msg = decodeServer(ev.data);
      } catch {
        return; // an unreadable frame: ignore it
      }
      let answers: Request | undefined;
      const id = answerId(msg);
      if (id !== null) {
        answers = this.pending.get(id);
        this.pending.delete(id);
      }
      this.hooks.onMessage(msg, answers);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      this.scheduleReconnect(this.attempt++);
      if (!opened) this.hooks.onOpenFailed?.(++this.openFailures);
    };
  }

  private scheduleReconnect(attempt: number): void {
    if (this.stopped) return;
    if (this.first) this.first = false;
    this.hooks.onState("reconnecting");
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) this.open();
    }, attempt === 0 && this.attempt === 0 ? 50 : backoffDelay(attempt));
  }
}
