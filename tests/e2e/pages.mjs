// Page helpers shared by the tests that restart the server under an open page
// (restart.test.mjs, deploy.test.mjs): a probe of the page's WebSockets, and moves that wait
// until the page shows them.

import { playOnce, tid, usable } from "./harness.mjs";

/** Runs in the page before its scripts: records every WebSocket it opens (URL, open, close code, frames, Snapshots). */
export function wsProbe() {
  const Native = window.WebSocket;
  const sockets = [];
  window.__sockets = sockets;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      const rec = { url: String(this.url), opened: false, closeCode: null, frames: 0, snapshots: 0 };
      sockets.push(rec);
      this.addEventListener("open", () => { rec.opened = true; });
      this.addEventListener("close", (e) => { rec.closeCode = e.code; });
      this.addEventListener("message", (e) => {
        rec.frames += 1;
        if (e.data instanceof ArrayBuffer) {
          // A MessagePack map with `type: "Snapshot"`: the tag's bytes are in the frame.
          const bytes = new Uint8Array(e.data);
          let text = "";
          for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
          if (text.includes("Snapshot")) rec.snapshots += 1;
        }
      });
    }
  };
}

export const sockets = (page) => page.evaluate(() => window.__sockets.map((s) => ({ ...s })));
export const text = async (page, id) => ((await tid(page, id).first().textContent({ timeout: 2_000 })) ?? "").trim();

/** Awaits `promise`; a failure names `what` and what the page showed. */
export async function within(page, what, promise) {
  try {
    return await promise;
  } catch (e) {
    const state = await tid(page, "connection-state").textContent({ timeout: 1_000 }).catch(() => "?");
    const socks = await sockets(page).catch(() => "?");
    throw new Error(`${what}: ${e.message}\n(connection-state: ${state}; sockets: ${JSON.stringify(socks)})`);
  }
}

/** Whether it is this page's turn in a running round, with its bid picker ready. */
export async function myTurn(page) {
  const turn = await tid(page, "turn-indicator").textContent({ timeout: 1_000 }).catch(() => "");
  return /your turn/i.test(turn ?? "") && (await usable(page, "bid-button"));
}

/** Makes one move for `page` if it can, then waits until the page shows the round moved on. */
export async function move(page) {
  const before = await tid(page, "bid-history").textContent({ timeout: 1_000 }).catch(() => null);
  const did = await playOnce(page);
  if (!did) return null;
  // A bid adds to the history; a dudo ends the round (reveal, then a new round's empty list).
  await within(page, `the page's ${did} is taken`, page.waitForFunction(
    (before) => document.querySelector('[data-testid="bid-history"]')?.textContent !== before ||
      document.querySelector('[data-testid="results"]') !== null,
    before,
    { timeout: 15_000 },
  ));
  return did;
}

/** The results screen shows a winner among `names` and, where offered, the seed check says match. */
export async function expectResults(page, names) {
  await tid(page, "results").waitFor({ timeout: 15_000 });
  const winner = await text(page, "winner");
  if (!names.some((n) => n && winner.includes(n))) {
    throw new Error(`the winner (${winner}) is not a seat (${names})`);
  }
  if ((await tid(page, "verify-button").count()) > 0) {
    await tid(page, "verify-button").click();
    await tid(page, "verify-panel").waitFor({ timeout: 10_000 });
    await page.waitForFunction(
      () => document.querySelector('[data-testid="verify-result"]')?.dataset.verdict === "fair",
      null,
      { timeout: 10_000 },
    );
  }
}
