// A whole game through the UI: a host creates a room on the home page, two friends join
// through the share link, the host adds a bot and starts, everyone plays to the end using only
// the data-testid contract (TESTIDS.md), and the results verify the seed against the
// commitment. Screenshots of the lobby, table, reveal and results go to e2e/screenshots/.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  addBot,
  createRoom,
  deadline,
  finished,
  joinRoom,
  playOnce,
  screenshot,
  sleep,
  withServerAndBrowser,
  tid,
  usable,
} from "./harness.mjs";

test("three browsers and a bot play a game to the end", { timeout: 240_000 }, async () => {
  await withServerAndBrowser([], async (server, browser) => {
    const host = await browser.newPage();
    const link = await createRoom(host, server.url, "Ann");
    assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/r\/\w+$/);

    const bob = await browser.newPage();
    const cid = await browser.newPage();
    await joinRoom(bob, link, "Bob");
    await joinRoom(cid, link, "Cid");
    await tid(host, "seat-2").waitFor();
    await addBot(host, "Easy", 3);
    for (const [i, name] of ["Ann", "Bob", "Cid"].entries()) {
      await assert.doesNotReject(
        host.waitForFunction(
          ([i, name]) =>
            document
              .querySelector(`[data-testid="seat-name-${i}"]`)
              ?.textContent?.includes(name),
          [i, name],
        ),
      );
    }
    assert.equal(
      await tid(host, "seat-status-3").getAttribute("data-status"),
      "bot",
      "the added seat is a bot",
    );
    const names = [];
    for (let i = 0; i < 4; i++) names.push((await tid(host, `seat-name-${i}`).textContent()).trim());
    await screenshot(host, "lobby");

    await tid(host, "start-button").click();
    for (const page of [host, bob, cid]) await tid(page, "my-dice").waitFor();
    const dice = await tid(host, "my-dice").locator('[data-testid="die"]').count();
    assert.equal(dice, 5, "five dice each at the start");

    const players = [host, bob, cid];
    const check = deadline(180_000, "the game ends");
    let moves = 0;
    let shotTable = false;
    let shotReveal = false;
    while (!(await finished(host))) {
      check();
      for (const page of players) {
        // The table as a player sees it on turn, facing a bid: dice, bids, picker, dudo.
        if (!shotTable && (await usable(page, "dudo-button")) && (await usable(page, "bid-button"))) {
          await screenshot(page, "table");
          shotTable = true;
        }
        const did = await playOnce(page);
        if (did) moves += 1;
      }
      if (!shotReveal && (await usable(host, "reveal")) && (await tid(host, "my-dice").count()) > 0) {
        await screenshot(host, "reveal", "reveal");
        shotReveal = true;
      }
      // While a round runs, exactly one seat is on turn.
      if ((await tid(host, "reveal").count()) === 0 && (await tid(host, "results").count()) === 0) {
        const onTurn = await host.locator('[data-testid^="player-"][data-turn="true"]').count();
        assert.ok(onTurn <= 1, `at most one seat on turn (${onTurn})`);
      }
      await sleep(40);
    }
    assert.ok(moves >= 10, `the humans made moves (${moves})`);
    assert.ok(shotTable && shotReveal, "saw the table on turn and a reveal");

    for (const page of players) {
      await tid(page, "results").waitFor();
      const winner = (await tid(page, "winner").textContent()).trim();
      assert.ok(
        names.some((n) => n.length > 0 && winner.includes(n)),
        `the winner (${winner}) is one of the seats (${names})`,
      );
    }
    await screenshot(host, "results");

    await tid(cid, "verify-button").click();
    await tid(cid, "verify-panel").waitFor();
    await cid.waitForFunction(
      () => document.querySelector('[data-testid="verify-result"]')?.dataset.verdict === "fair",
      null,
      { timeout: 10_000 },
    );
    const seed = (await tid(cid, "verify-seed").textContent()).trim();
    const commitment = (await tid(cid, "verify-commitment").textContent()).trim();
    assert.match(commitment, /[0-9a-f]{64}/);
    assert.ok(seed.length > 0, "the seed is revealed");
    await screenshot(cid, "verify");

    for (const page of players) assert.deepEqual(page.errors, [], "no uncaught page errors");
  });
});
