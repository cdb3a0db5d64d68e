// A spectator never sees a hidden die: while a game runs, the spectator's DOM has no
// `my-dice`, and `die` elements appear only inside `reveal` (the revealed hands of a round
// that ended). A MutationObserver checks the DOM after every change, not only when sampled.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  addBot,
  createRoom,
  deadline,
  finished,
  playOnce,
  screenshot,
  sleep,
  withServerAndBrowser,
  tid,
} from "./harness.mjs";

/** Installed in the spectator's page before any script: records every violation. */
function watchForHiddenDice() {
  window.__violations = [];
  window.__checks = 0;
  const check = () => {
    window.__checks += 1;
    if (document.querySelector('[data-testid="my-dice"]')) {
      window.__violations.push("my-dice is in the DOM");
    }
    for (const die of document.querySelectorAll('[data-testid="die"]')) {
      if (!die.closest('[data-testid="reveal"]')) {
        window.__violations.push(`a die outside reveal: ${die.outerHTML.slice(0, 200)}`);
      }
    }
  };
  const start = () => {
    new MutationObserver(check).observe(document.documentElement, {
      subtree: true,
      childList: true,
      attributes: true,
    });
    check();
  };
  if (document.documentElement) start();
  else document.addEventListener("DOMContentLoaded", start);
}

test("a spectator never sees a hidden die", { timeout: 240_000 }, async () => {
  await withServerAndBrowser([], async (server, browser) => {
    const host = await browser.newPage();
    const link = await createRoom(host, server.url, "Ann");
    await addBot(host, "Easy", 1);
    await addBot(host, "Normal", 2);

    const watcher = await browser.newPage({ init: watchForHiddenDice });
    await watcher.goto(link);
    await tid(watcher, "spectate-button").click();
    await tid(watcher, "seat-0").waitFor();

    await tid(host, "start-button").click();
    await tid(host, "my-dice").waitFor();
    await tid(watcher, "player-0").waitFor();

    const check = deadline(180_000, "the game ends");
    let samples = 0;
    let sawReveal = false;
    let shot = false;
    while (!(await finished(host))) {
      check();
      await playOnce(host);
      // Sampled too, in case the observer missed a case.
      const seen = await watcher.evaluate(() => ({
        myDice: document.querySelectorAll('[data-testid="my-dice"]').length,
        outside: [...document.querySelectorAll('[data-testid="die"]')].filter(
          (d) => !d.closest('[data-testid="reveal"]'),
        ).length,
        reveal: document.querySelectorAll('[data-testid="reveal"] [data-testid="die"]').length,
      }));
      assert.equal(seen.myDice, 0, "no my-dice for a spectator");
      assert.equal(seen.outside, 0, "no die outside reveal");
      if (seen.reveal > 0) sawReveal = true;
      if (!shot && (await tid(watcher, "current-bid").count()) > 0) {
        await screenshot(watcher, "spectator");
        shot = true;
      }
      samples += 1;
      await sleep(40);
    }
    await tid(watcher, "results").waitFor();
    const { violations, checks } = await watcher.evaluate(() => ({
      violations: window.__violations,
      checks: window.__checks,
    }));
    assert.deepEqual(violations, [], "the observer saw no hidden die");
    assert.ok(checks > 10, `the observer ran (${checks} checks)`);
    assert.ok(samples > 10, `sampled while playing (${samples})`);
    assert.ok(sawReveal, "the spectator saw at least one reveal");
    assert.deepEqual(watcher.errors, [], "no uncaught page errors");
  });
});
