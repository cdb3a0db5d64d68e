// Reloading the page in the middle of a round gives back the same seat and the same dice.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  addBot,
  createRoom,
  deadline,
  myDice,
  sleep,
  withServerAndBrowser,
  tid,
} from "./harness.mjs";

/** The seat whose row names `name`. */
async function seatOf(page, name) {
  return page.evaluate((name) => {
    for (const el of document.querySelectorAll('[data-testid^="player-name-"]')) {
      if (el.textContent?.includes(name)) return Number(el.dataset.testid.slice("player-name-".length));
    }
    return -1;
  }, name);
}

async function waitForMyTurn(page, ms) {
  const check = deadline(ms, "my turn comes");
  for (;;) {
    check();
    const turn = (await tid(page, "turn-indicator").textContent().catch(() => "")) ?? "";
    if (/your turn/i.test(turn) && (await tid(page, "bid-button").count()) > 0) return;
    await sleep(50);
  }
}

test("a reload mid-round keeps the seat and the dice", { timeout: 120_000 }, async () => {
  // A long disconnect grace: the room must not play the turn for us while we reload.
  await withServerAndBrowser(["--disconnect-grace-ms", "60000"], async (server, browser) => {
    const page = await browser.newPage();
    await createRoom(page, server.url, "Ann");
    await addBot(page, "Easy", 1);
    await addBot(page, "Easy", 2);
    await tid(page, "start-button").click();
    await tid(page, "my-dice").waitFor();

    // On our turn nothing moves until we do (no turn clock), so the round cannot change.
    await waitForMyTurn(page, 20_000);
    const seat = await seatOf(page, "Ann");
    assert.ok(seat >= 0, "my seat is on the table");
    const before = await myDice(page);
    assert.ok(before.length > 0 && before.every((f) => f >= 1 && f <= 6), `dice: ${before}`);
    const bidsBefore = await tid(page, "bid-history").textContent().catch(() => null);

    await page.reload();
    await tid(page, "my-dice").locator('[data-testid="die"]').first().waitFor();
    await waitForMyTurn(page, 10_000);
    assert.equal(await tid(page, "join-name").count(), 0, "not asked to join again");
    assert.equal(await seatOf(page, "Ann"), seat, "the same seat");
    assert.deepEqual(await myDice(page), before, "the same dice");
    assert.equal(
      Number((await tid(page, `dice-count-${seat}`).textContent()).trim()),
      before.length,
      "my dice count matches my hand",
    );
    if (bidsBefore !== null) {
      assert.equal(await tid(page, "bid-history").textContent(), bidsBefore, "the same round");
    }

    // And the seat still plays: our bid is taken and the turn moves on.
    await tid(page, "bid-button").click();
    await page.waitForFunction(
      (seat) =>
        document.querySelector(`[data-testid="player-${seat}"]`)?.getAttribute("data-turn") !== "true",
      seat,
      { timeout: 10_000 },
    );
    assert.deepEqual(page.errors, [], "no uncaught page errors");
  });
});
