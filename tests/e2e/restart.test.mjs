// A graceful server restart in the middle of a game: the server is stopped with SIGTERM
// (every socket gets `Closing { ServerRestart }` and close code 1012), started again on the
// same port with the same database, and both browsers come back to the same round with the
// same dice on their own (reconnect with backoff, `Resume`, a `Snapshot` of the restored
// room), without the test clicking anything but game moves. The game is then played to the end.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  addBot,
  createRoom,
  deadline,
  ensureServerBuilt,
  finished,
  joinRoom,
  launchBrowser,
  myDice,
  playOnce,
  sleep,
  startServer,
  tempDb,
  tid,
  usable,
} from "./harness.mjs";
import { expectResults, move, myTurn, sockets, text, within, wsProbe } from "./pages.mjs";

// Build the server before the test's clock starts (a no-op when it is up to date).
ensureServerBuilt();

// Long graces: the restored room must not play anyone's turn while the pages find their way
// back (their backoff reaches 10 s), so the round is still the one we left.
const ARGS = ["--disconnect-grace-ms", "60000", "--restore-grace-secs", "60"];

/**
 * Runs in each page before its scripts: records every WebSocket the page opens (whether it
 * opened, its close code, and whether a `Snapshot` frame came in on it) without changing what
 * the page's own code sees.
 */

/** What a page shows of the round: own dice, whose turn, the bids, every seat's dice count. */
async function tableOf(page) {
  return page.evaluate(() => {
    const q = (id) => document.querySelector(`[data-testid="${id}"]`);
    const seats = [...document.querySelectorAll('[data-testid^="player-name-"]')].length;
    const counts = [];
    let turn = -1;
    for (let i = 0; i < seats; i++) {
      counts.push(Number(q(`dice-count-${i}`)?.textContent?.trim()));
      if (q(`player-${i}`)?.getAttribute("data-turn") === "true") turn = i;
    }
    const dice = [...(q("my-dice")?.querySelectorAll('[data-testid="die"]') ?? [])].map((d) =>
      Number(d.getAttribute("data-face")),
    );
    return {
      dice,
      turn,
      counts,
      bids: [...(q("bid-history")?.querySelectorAll("li") ?? [])].map((li) => li.textContent),
      currentBid: q("current-bid")?.textContent ?? null,
    };
  });
}

test("a game survives a graceful server restart without any user action", { timeout: 240_000 }, async (t) => {
  const db = tempDb();
  let server = null;
  let browser = null;
  try {
    server = await startServer(ARGS, { db: db.path });
    const { port, url } = server;
    browser = await launchBrowser();

    // Host and a friend through the share link, plus a bot; start.
    const host = await browser.newPage({ init: wsProbe });
    const link = await createRoom(host, url, "Ann");
    const code = new URL(link).pathname.split("/").pop();
    const bob = await browser.newPage({ init: wsProbe });
    await joinRoom(bob, link, "Bob");
    await tid(host, "seat-1").waitFor();
    await addBot(host, "Easy", 2);
    const names = [];
    for (let i = 0; i < 3; i++) names.push(await text(host, `seat-name-${i}`));
    await tid(host, "start-button").click();
    for (const page of [host, bob]) await tid(page, "my-dice").locator('[data-testid="die"]').first().waitFor();
    const pages = [host, bob];

    // Play until a page has moved and a human is on turn: then nothing moves until they do.
    let moves = 0;
    let onTurn = null;
    const check = deadline(60_000, "a move, then a human on turn");
    while (!onTurn) {
      check();
      if (moves > 0) {
        for (const page of pages) if (!onTurn && (await myTurn(page))) onTurn = page;
        if (onTurn) break;
      }
      for (const page of pages) if (await move(page)) moves += 1;
      assert.ok(!(await finished(host)), "the game did not end before the restart");
      await sleep(40);
    }
    // Both pages agree on the table (the other has had the latest update too).
    let before;
    await (async () => {
      const agree = deadline(10_000, "both pages show the same round");
      for (;;) {
        agree();
        const [a, b] = [await tableOf(host), await tableOf(bob)];
        if (a.turn >= 0 && a.turn === b.turn && JSON.stringify(a.bids) === JSON.stringify(b.bids) &&
            JSON.stringify(a.counts) === JSON.stringify(b.counts)) {
          before = [a, b];
          return;
        }
        await sleep(100);
      }
    })();
    for (const t of before) assert.ok(t.dice.length > 0 && t.dice.every((f) => f >= 1 && f <= 6), `own dice: ${t.dice}`);
    const socketsBefore = await Promise.all(pages.map(sockets));

    // SIGTERM: the server says goodbye (close code 1012) and exits by itself.
    const exit = await server.stop();
    server = null;
    assert.deepEqual(exit, { code: 0, signal: null }, "the server exited cleanly on SIGTERM");
    for (const [i, page] of pages.entries()) {
      await within(page, "the page shows it lost the server", page.waitForFunction(
        () => /^(reconnecting|offline)$/.test(
          document.querySelector('[data-testid="connection-state"]')?.textContent?.trim() ?? ""),
        null,
        { timeout: 10_000 },
      ));
      const socks = await sockets(page);
      const last = socks[socketsBefore[i].length - 1];
      assert.equal(last.closeCode, 1012, "the page's socket was closed as a service restart");
      // While the server is down the page keeps its table.
      assert.deepEqual(await myDice(page), before[i].dice, "the dice stay on show while offline");
    }
    // Let the pages fail at least one reconnect attempt each, as during a real restart.
    await Promise.all(pages.map((page, i) => within(page, "a reconnect attempt fails", page.waitForFunction(
      (n) => window.__sockets.length > n && window.__sockets.slice(n).some((s) => s.closeCode !== null && !s.opened),
      socketsBefore[i].length,
      { timeout: 15_000 },
    ))));
    for (const page of pages) assert.equal(await text(page, "connection-state"), "reconnecting");

    // The same port, the same database.
    server = await startServer(ARGS, { db: db.path, port });
    assert.equal(server.url, url, "the server is back at the same address");
    const summary = await (await fetch(`${url}/api/rooms/${code}`)).json();
    assert.equal(summary.phase, "Playing", "the room was restored mid-game");

    // No clicks: each page reconnects, resumes and gets a Snapshot of the restored room.
    const restartedAt = Date.now();
    for (const [i, page] of pages.entries()) {
      await within(page, `page ${i} reconnects and gets a Snapshot`, page.waitForFunction(
        (n) => document.querySelector('[data-testid="connection-state"]')?.textContent?.trim() === "connected" &&
          window.__sockets.slice(n).some((s) => s.opened && s.closeCode === null && s.snapshots > 0),
        socketsBefore[i].length,
        { timeout: 40_000, polling: 100 },
      ));
    }
    const backAfter = Date.now() - restartedAt;
    for (const [i, page] of pages.entries()) {
      assert.equal(await tid(page, "join-name").count(), 0, "not asked to join again");
      const after = await tableOf(page);
      assert.deepEqual(after.dice, before[i].dice, "the same own dice as before the restart");
      assert.deepEqual(after.bids, before[i].bids, "the same round: the same bids");
      assert.equal(after.currentBid, before[i].currentBid, "the same current bid");
      assert.deepEqual(after.counts, before[i].counts, "the same dice counts");
      assert.equal(after.turn, before[i].turn, "the same seat on turn");
    }
    assert.ok(await myTurn(onTurn), "the player on turn can still act");

    // The game goes on: the move of the player on turn reaches the other page.
    const other = onTurn === host ? bob : host;
    const otherBids = (await tableOf(other)).bids.length;
    assert.ok(await move(onTurn), "the player on turn moved after the restart");
    await within(other, "the move after the restart reaches the other page", other.waitForFunction(
      (n) => {
        const list = document.querySelector('[data-testid="bid-history"]');
        return list === null || list.querySelectorAll("li").length !== n;
      },
      otherBids,
      { timeout: 15_000 },
    ));

    // And on to its end.
    const end = deadline(150_000, "the game ends after the restart");
    while (!(await finished(host))) {
      end();
      for (const page of pages) if (await move(page)) moves += 1;
      await sleep(40);
    }
    for (const page of pages) {
      await expectResults(page, names);
      assert.deepEqual(page.errors, [], "no uncaught page errors");
    }
    t.diagnostic(`${moves} moves by the pages; both back ${backAfter} ms after the server restarted`);
  } finally {
    await browser?.close();
    await server?.stop();
    db.remove();
  }
});
